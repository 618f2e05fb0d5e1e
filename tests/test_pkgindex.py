"""tools.pkgindex: the local index `docker build` reads where containers cannot reach PyPI.

The end-to-end proof is the image build (examples/user-authenticator/tests/test_image.py,
tests/test_demo.py); here, a real pip against the served index with every other source of
packages switched off, and the parts that decide what is served.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tools.pkgindex import (
    LEGACY_BUILD_REQUIRES,
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
