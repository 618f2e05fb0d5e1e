"""`scangate install-trivy` (actions/trivy): a Trivy tarball runs only when its sha256 is pinned,
whether a cache restored it or it was downloaded. The tarball holds a small executable that
answers `--version` (what it holds does not matter to the installer, only its sha256 does; the
act runs install the real Trivy tarball, tests/github/test_act_pipeline.py); the release server
is a loopback HTTP server (a test double: no release host can be reached from here)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from scangate._cli import main
from scangate.trivy_install import asset_name

VERSION = "0.70.0"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """<root>/v0.70.0/<asset> as a release server serves it, and its sha256."""
    root = tmp_path_factory.mktemp("release")
    asset = root / f"v{VERSION}" / asset_name(VERSION)
    asset.parent.mkdir()
    binary = root / "trivy"
    binary.write_text("#!/bin/sh\necho 'Version: 0.70.0'\n", encoding="utf-8")
    binary.chmod(0o755)
    with tarfile.open(asset, "w:gz") as tar:
        tar.add(binary, arcname="trivy")
    return root, hashlib.sha256(asset.read_bytes()).hexdigest()


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    handler = type("Quiet", (http.server.SimpleHTTPRequestHandler,),
                   {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def install(tmp_path: Path, url: str, sha256: str = "", checksums: str = "") -> tuple[int, Path]:
    pins = tmp_path / "checksums.txt"
    pins.write_text(checksums, encoding="utf-8")
    out = tmp_path / "github_output"
    code = main(["install-trivy", "--version", VERSION, "--sha256", sha256, "--checksums",
                 str(pins), "--download-url", url, "--dir", str(tmp_path / "cache"),
                 "--outputs", str(out)])
    return code, out


def test_a_pinned_download_is_installed_and_a_cached_copy_reverified(
    tmp_path: Path, release: tuple[Path, str]
) -> None:
    root, sha = release
    with serve(root) as url:
        code, out = install(tmp_path, url, checksums=f"{VERSION} {asset_name(VERSION)} {sha}\n")
    assert code == 0
    binary = tmp_path / "cache" / "bin" / "trivy"
    assert out.read_text() == f"trivy={binary}\n" and binary.is_file()
    # The cached tarball is used again without a download (no server now), verified again.
    code, _ = install(tmp_path, "http://127.0.0.1:1", sha256=sha)
    assert code == 0


def test_a_poisoned_cache_never_runs(tmp_path: Path, release: tuple[Path, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    root, sha = release
    cached = tmp_path / "cache" / asset_name(VERSION)
    cached.parent.mkdir()
    cached.write_bytes((root / f"v{VERSION}" / asset_name(VERSION)).read_bytes() + b"\0")
    assert install(tmp_path, "http://127.0.0.1:1", sha256=sha)[0] == 2
    assert "the cache is corrupted or poisoned" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "bin" / "trivy").exists()


def test_a_download_with_another_checksum_is_refused(
    tmp_path: Path, release: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(release[0]) as url:
        assert install(tmp_path, url, sha256="0" * 64)[0] == 2
    assert "refusing to run it" in capsys.readouterr().err
    assert not list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize(("version", "message"), [
    ("latest", "never 'latest'"), ("0.70", "never 'latest'"), ("0.69.0", "no pinned sha256")])
def test_versions_and_pins(tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str,
                           message: str) -> None:
    code = main(["install-trivy", "--version", version, "--dir", str(tmp_path)])
    assert code == 2 and message in capsys.readouterr().err


def test_the_pins_are_the_actions_table() -> None:
    table = Path(__file__).resolve().parents[2] / "actions" / "trivy" / "checksums.txt"
    rows = [line.split() for line in table.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert [VERSION, asset_name(VERSION, "Linux", "x86_64")] in [r[:2] for r in rows]
