"""tools.pkgindex: the local index `docker build` reads where containers cannot reach PyPI.

The end-to-end proof is the image build (examples/user-authenticator/tests/test_image.py,
tests/test_demo.py); here, a real pip against the served index with every other source of
packages switched off, and the parts that decide what is served.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tools.pkgindex import (
    LEGACY_BUILD_REQUIRES,
    SHARED_PORT,
    IndexServer,
    PackageIndexError,
    build_requires,
    project_of,
    serve_index,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "examples" / "user-authenticator" / "requirements.txt"


@pytest.mark.parametrize(
    ("filename", "project"),
    [
        ("Flask-2.2.5-py3-none-any.whl", "flask"),
        ("argon2_cffi_bindings-26.2.0-cp310-abi3-manylinux_2_28_x86_64.whl",
         "argon2-cffi-bindings"),
        ("PyYAML-5.3.1.tar.gz", "pyyaml"),
        ("argon2-cffi-25.1.0.tar.gz", "argon2-cffi"),
        ("zope.interface-6.0.zip", "zope-interface"),
    ],
)
def test_project_names_follow_pep_503(filename: str, project: str) -> None:
    assert project_of(filename) == project


def _sdist(path: Path, pyproject: str | None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        files = {"pkg-1.0/setup.py": "from setuptools import setup; setup()\n"}
        if pyproject is not None:
            files["pkg-1.0/pyproject.toml"] = pyproject
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_build_requirements_come_from_the_sdist_or_pips_fallback(tmp_path: Path) -> None:
    declared = _sdist(tmp_path / "a-1.0.tar.gz",
                      '[build-system]\nrequires = ["hatchling>=1.20"]\n')
    assert build_requires(declared) == ["hatchling>=1.20"]
    legacy = _sdist(tmp_path / "b-1.0.tar.gz", None)  # like PyYAML 5.3.1: setup.py only
    assert build_requires(legacy) == list(LEGACY_BUILD_REQUIRES)
    broken = tmp_path / "c-1.0.tar.gz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(PackageIndexError, match="unreadable sdist"):
        build_requires(broken)


def test_only_catalogued_files_are_served(tmp_path: Path) -> None:
    (tmp_path / "demo_pkg-1.0-py3-none-any.whl").write_bytes(b"wheel bytes")
    (tmp_path / "secret.txt").write_text("not a distribution")
    server = IndexServer(tmp_path)
    server.start()
    try:
        base = server.url.removesuffix("/simple/")
        with urllib.request.urlopen(f"{base}/simple/demo-pkg/", timeout=10) as resp:
            page = resp.read().decode()
        assert "demo_pkg-1.0-py3-none-any.whl#sha256=" in page
        with urllib.request.urlopen(f"{base}/files/demo_pkg-1.0-py3-none-any.whl",
                                    timeout=10) as resp:
            assert resp.read() == b"wheel bytes"
        for path in ("/files/secret.txt", "/files/..%2Fsecret.txt", "/secret.txt",
                     "/simple/unknown/"):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(base + path, timeout=10)
            assert caught.value.code == 404, path
    finally:
        server.stop()


def test_an_empty_wheelhouse_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PackageIndexError, match="no distributions"):
        IndexServer(tmp_path)


def test_pip_installs_the_pinned_requirements_from_the_served_index(tmp_path: Path) -> None:
    """pip with no configuration, no cache and no other index: every file comes from ours,
    hash-checked against the requirements file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # this machine's pip config names other sources
    dest = tmp_path / "dest"
    with serve_index([REQUIREMENTS]) as url:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-cache-dir", "--index-url", url,
             "--no-deps", "--require-hashes", "-r", str(REQUIREMENTS), "--dest", str(dest)],
            capture_output=True, text=True, timeout=600, env=env,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {project_of(p.name) for p in dest.iterdir()}
    assert {"flask", "werkzeug", "pyjwt", "gunicorn", "argon2-cffi"} <= names


def test_a_missing_requirements_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PackageIndexError, match="not found"):
        with serve_index([tmp_path / "nope.txt"], wheelhouse=tmp_path / "wh"):
            pass


def _free_port() -> int:
    """A port no one listens on (not SHARED_PORT: real builds read the wheelhouse served there)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def test_shared_servers_listen_together_and_outlive_each_other(tmp_path: Path) -> None:
    """Two processes' shared servers on one port (what parallel workers do): both start, and
    the index still answers once the first has stopped. A server that does not share the port
    cannot take it."""
    (tmp_path / "demo_pkg-1.0-py3-none-any.whl").write_bytes(b"wheel bytes")
    port = _free_port()
    first = IndexServer(tmp_path, port=port, shared=True)
    second = IndexServer(tmp_path, port=port, shared=True)
    assert first.url == second.url == f"http://127.0.0.1:{port}/simple/"
    first.start()
    second.start()
    stopped = False
    try:
        assert "demo_pkg-1.0" in _page(first.url + "demo-pkg/")
        with pytest.raises(PackageIndexError, match=f"cannot listen on 127.0.0.1:{port}"):
            IndexServer(tmp_path, port=port)
        first.stop()
        stopped = True
        for _ in range(20):  # whichever listener the kernel picks, it is the one left
            assert "demo_pkg-1.0" in _page(second.url + "demo-pkg/")
    finally:
        if not stopped:
            first.stop()
        second.stop()


def test_a_shared_server_serves_the_wheelhouse_as_it_is_now(tmp_path: Path) -> None:
    """A file another process adds after the server started is listed, with its own hash, so
    every process sharing the port answers alike; while a download holds the wheelhouse's lock
    (files may be half-written) the last complete listing stands."""
    (tmp_path / "demo_pkg-1.0-py3-none-any.whl").write_bytes(b"wheel bytes")
    server = IndexServer(tmp_path, port=_free_port(), shared=True)
    server.start()
    try:
        assert "demo_pkg-2.0" not in _page(server.url + "demo-pkg/")
        with (tmp_path / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            (tmp_path / "demo_pkg-2.0-py3-none-any.whl").write_bytes(b"half")
            assert "demo_pkg-2.0" not in _page(server.url + "demo-pkg/")
            (tmp_path / "demo_pkg-2.0-py3-none-any.whl").write_bytes(b"newer wheel")
            fcntl.flock(lock, fcntl.LOCK_UN)
        page = _page(server.url + "demo-pkg/")
        digest = hashlib.sha256(b"newer wheel").hexdigest()
        assert f"demo_pkg-2.0-py3-none-any.whl#sha256={digest}" in page, page
        assert "demo_pkg-1.0-py3-none-any.whl#sha256=" in page
    finally:
        server.stop()


def test_the_shared_index_has_one_url_for_every_process() -> None:
    """The fixed URL is what keeps Docker's layer cache for the example's builds: the same
    PIP_INDEX_URL in every worker and every run."""
    with serve_index([REQUIREMENTS], shared=True) as url:
        assert url == f"http://127.0.0.1:{SHARED_PORT}/simple/"
        assert "flask" in _page(url)


def test_a_shared_index_whose_port_is_held_serves_on_another(tmp_path: Path) -> None:
    """A program that does not share the port (not an index of ours) holds it: the index still
    serves, on a free port (the builds only miss Docker's cache)."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with serve_index([REQUIREMENTS], port=port, shared=True) as url:
            assert url != f"http://127.0.0.1:{port}/simple/"
            assert "flask" in _page(url)
