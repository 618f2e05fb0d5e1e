"""How the gate and deploy jobs get scangate (`scangate-source`), run for real on this machine.

The before_script comes from the rendered template. The source archive is this commit
(`git archive HEAD`), served over loopback HTTP; pip installs the archive's own
requirements/runtime.lock with --require-hashes from the package index this machine uses.
Only the runner is left out: the script runs in `sh` here, not in the python-image.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import scangate

from tests.gitlab import glci
from tests.support.lock import locked_pins, normalized

REPO = Path(__file__).resolve().parents[2]


def _install_script() -> str:
    job = glci.rendered_jobs({})[".scangate-python"]
    return "\n".join(job["before_script"])


@pytest.fixture(scope="module")
def archive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(URL, sha256) of a source archive of HEAD, served on loopback."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: no archive of HEAD to serve")
    root = tmp_path_factory.mktemp("archive")
    archive = root / "scangate-head.tar.gz"
    subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar.gz",
                    "--prefix=scangate-head/", "-o", str(archive), "HEAD"], check=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{archive.name}"
        yield url, hashlib.sha256(archive.read_bytes()).hexdigest()
    finally:
        server.shutdown()


def _run(source: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCANGATE_", "VIRTUAL_ENV", "PYTHON"))}
    # The job's python3 is the image's; here, the interpreter this virtualenv was made from,
    # and this virtualenv's scangate off PATH, so only the installed one can answer.
    bin_dir = workdir / ".python-bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(Path(sys._base_executable).resolve())
    env["PATH"] = os.pathsep.join([str(bin_dir)] + [
        p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != REPO / ".venv" / "bin"])
    env["SCANGATE_SOURCE"] = source
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(["sh", "-c", _install_script()], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_pinned_archive_installs_scangate_with_every_dependency_from_the_lock(
    archive_server: tuple[str, str], tmp_path: Path
) -> None:
    url, digest = archive_server
    # The pip-requirement form of earlier releases is still understood.
    proc = _run(f"scangate @ {url}#sha256={digest}", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"scangate {scangate.__version__}" in proc.stdout
    venv_python = tmp_path / ".scangate-venv" / "bin" / "python"
    frozen = subprocess.run([str(venv_python), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout
    installed = {}
    for line in frozen.splitlines():
        name, _, version = line.partition("==")
        installed[normalized(name)] = version
    assert installed.pop("scangate") == scangate.__version__
    pins = locked_pins()
    for name, version in installed.items():
        if name in ("pip",):
            continue
        assert pins.get(name) == version, f"{name} {version} is not what the lock pins"


def test_a_wrong_hash_installs_nothing(archive_server: tuple[str, str], tmp_path: Path) -> None:
    url, digest = archive_server
    proc = _run(f"{url}#sha256={'0' * 64}", tmp_path)
    assert proc.returncode != 0
    assert f"sha256 is {digest}" in proc.stderr and "not the pinned source" in proc.stderr
    assert not (tmp_path / ".scangate-venv").exists()
    assert not (tmp_path / ".scangate-src").exists()


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("scangate==0.1.0", "not a directory, nor the http(s) URL of a .tar.gz"),
        ("https://example.invalid/scangate.zip", "not a directory, nor the http(s) URL"),
        ("http://127.0.0.1:9/scangate.tar.gz", "the archive is not pinned: append #sha256="),
        ("https://127.0.0.1:9/scangate.tar.gz", "the archive is not pinned: append #sha256="),
        ("https://127.0.0.1:9/scangate.tar.gz#sha256=abc", "the archive is not pinned"),
    ],
)
def test_sources_that_cannot_be_pinned_are_refused(tmp_path: Path, source: str,
                                                    needle: str) -> None:
    proc = _run(source, tmp_path)
    assert proc.returncode != 0
    assert needle in proc.stderr, proc.stderr
    assert not (tmp_path / ".scangate-venv").exists()


def test_no_source_and_no_scangate_says_how_to_pin(tmp_path: Path) -> None:
    """The default (empty) with a python-image that has no scangate: one line saying how."""
    proc = _run("", tmp_path)
    assert proc.returncode != 0
    assert "set the scangate-source input" in proc.stderr
    assert "#sha256=<sha256sum of it>" in proc.stderr


def test_a_directory_without_a_lock_is_refused(tmp_path: Path) -> None:
    tree = tmp_path / "not-scangate"
    (tree / "scripts" / "scangate").mkdir(parents=True)
    proc = _run(str(tree), tmp_path)
    assert proc.returncode != 0
    assert "is not a scangate source tree with requirements/runtime.lock" in proc.stderr
    assert not (tmp_path / ".scangate-venv").exists()


def test_an_archive_that_writes_outside_its_tree_is_refused(tmp_path: Path) -> None:
    """The pinned archive is unpacked with tarfile's data filter: a member that would land
    outside .scangate-src (here `../escaped`) stops the job, even when the hash is right."""
    import io
    import tarfile

    served = tmp_path / "served"
    served.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("scangate-x/requirements/runtime.lock", "../escaped"):
            member = tarfile.TarInfo(name)
            member.size = 2
            tar.addfile(member, io.BytesIO(b"x\n"))
    (served / "evil.tar.gz").write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    work = tmp_path / "work"
    work.mkdir()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/evil.tar.gz#sha256={digest}"
        proc = _run(url, work)
    finally:
        server.shutdown()
    assert proc.returncode != 0
    assert not (tmp_path / "escaped").exists() and not (work / "escaped").exists()
    assert not (work / ".scangate-venv").exists()
    assert "not unpacked: a member would land outside .scangate-src" in proc.stderr
    assert "Traceback" not in proc.stderr
