"""`scangate install-tool`: the real Trivy and kubectl binaries of this machine, served over
loopback HTTP as their releases are (Trivy in its .tar.gz, kubectl bare), installed only when
the pinned SHA-256 matches and the binary reports the pinned version."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import shutil
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from scangate import tool_install
from scangate._cli import main

from tests.support import loopback

REPO = Path(__file__).resolve().parents[2]
TRIVY = Path(sys.executable).with_name("trivy")
KUBECTL = REPO / ".tools" / "kubectl" / "kubectl"
TRIVY_VERSION = "0.76.0"  # tools/setup's Trivy (tests/test_trivydb.py checks the same binary)
KUBECTL_VERSION = "v1.33.9"  # tools/setup/45-kubectl.sh


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, directory) of a loopback server holding the tools' release files."""
    for binary in (TRIVY, KUBECTL):
        if not binary.is_file():
            pytest.fail(f"{binary} is missing: run `make setup`")
    root = tmp_path_factory.mktemp("releases")
    shutil.copy(KUBECTL, root / "kubectl")
    class Files(http.server.SimpleHTTPRequestHandler):
        log_message = loopback.QuietHandler.log_message  # stderr is what the tests read

    with loopback.serve(functools.partial(Files, directory=str(root))) as server:
        yield server.url, root


def _install(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["install-tool", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow  # a 170 MB binary packed, served, hashed and unpacked: about 30 s here
def test_trivy_from_its_release_archive(releases: tuple[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    base, root = releases
    archive = root / f"trivy_{TRIVY_VERSION}_Linux-64bit.tar.gz"
    # Level 0 (gzip's stored blocks): a real .tar.gz, which install-tool unpacks like any
    # other; compressing 170 MB that only this test reads cost 2 s of CPU at level 1.
    with tarfile.open(archive, "w:gz", compresslevel=0) as packed:
        packed.add(TRIVY, arcname="trivy")
        info = tarfile.TarInfo("README.md")
        info.size = 5
        packed.addfile(info, io.BytesIO(b"trivy"))
    code, out, err = _install(capsys, "trivy", "--version", TRIVY_VERSION,
                              "--sha256", _sha256(archive), "--url", base + "/{asset}",
                              "--dest", str(tmp_path / "bin"))
    assert code == 0, err
    assert out.strip() == str(tmp_path / "bin" / "trivy")
    assert _sha256(tmp_path / "bin" / "trivy") == _sha256(TRIVY)
    assert (tmp_path / "bin" / "trivy").stat().st_mode & 0o777 == 0o755


def test_kubectl_as_a_bare_binary(releases: tuple[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    base, root = releases
    code, out, err = _install(capsys, "kubectl", "--version", KUBECTL_VERSION,
                              "--sha256", _sha256(root / "kubectl"),
                              "--url", base + "/kubectl", "--dest", str(tmp_path))
    assert code == 0, err
    assert out.strip() == str(tmp_path / "kubectl")


def test_a_wrong_hash_writes_and_runs_nothing(releases: tuple[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    base, root = releases
    code, out, err = _install(capsys, "kubectl", "--version", KUBECTL_VERSION,
                              "--sha256", "0" * 64, "--url", base + "/kubectl",
                              "--dest", str(tmp_path / "bin"))
    assert code == 2 and out == ""
    assert f"has sha256 {_sha256(root / 'kubectl')}, not the pinned {'0' * 64}" in err
    assert not (tmp_path / "bin").exists()


def test_another_version_is_refused_after_the_hash(releases: tuple[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The right file under another release's name (a mirror's mix-up, a wrong pin)."""
    base, root = releases
    code, _, err = _install(capsys, "kubectl", "--version", "v1.33.8",
                            "--sha256", _sha256(root / "kubectl"),
                            "--url", base + "/kubectl", "--dest", str(tmp_path))
    assert code == 2
    assert f"reports kubectl {KUBECTL_VERSION}, not the pinned v1.33.8" in err


def test_a_poisoned_cache_is_refused_and_a_good_one_reused(
    releases: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    base, root = releases
    wanted = _sha256(root / "kubectl")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "kubectl").write_bytes(b"#!/bin/sh\necho 'Client Version: v1.33.9'\n")
    code, _, err = _install(capsys, "kubectl", "--version", KUBECTL_VERSION, "--sha256", wanted,
                            "--url", base + "/kubectl", "--dest", str(tmp_path / "bin"),
                            "--cache-dir", str(cache))
    assert code == 2
    assert "the cached" in err and "a cache other pipelines can write" in err
    assert not (tmp_path / "bin").exists()
    # A good cached file is used without a download (the URL answers nothing).
    shutil.copy(root / "kubectl", cache / "kubectl")
    code, out, err = _install(capsys, "kubectl", "--version", KUBECTL_VERSION, "--sha256", wanted,
                              "--url", "http://127.0.0.1:9/nothing", "--dest",
                              str(tmp_path / "bin"), "--cache-dir", str(cache))
    assert code == 0, err


def test_a_download_is_written_to_the_cache(releases: tuple[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    base, root = releases
    code, _, err = _install(capsys, "kubectl", "--version", KUBECTL_VERSION,
                            "--sha256", _sha256(root / "kubectl"), "--url", base + "/kubectl",
                            "--dest", str(tmp_path / "bin"), "--cache-dir", str(tmp_path / "c"))
    assert code == 0, err
    assert _sha256(tmp_path / "c" / "kubectl") == _sha256(root / "kubectl")


def test_an_archive_without_the_binary_is_refused(
    releases: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    base, root = releases
    bad = root / "empty.tar.gz"
    with tarfile.open(bad, "w:gz") as archive:
        info = tarfile.TarInfo("README.md")
        archive.addfile(info, io.BytesIO(b""))
    code, _, err = _install(capsys, "trivy", "--version", TRIVY_VERSION, "--sha256", _sha256(bad),
                            "--url", base + "/empty.tar.gz", "--dest", str(tmp_path))
    assert code == 2
    assert "is not a trivy release archive" in err
    assert not (tmp_path / "trivy").exists()


def _fake_trivy(version: str) -> bytes:
    """A stand-in for the binary where only the archive's layout is under test."""
    return f"#!/bin/sh\necho 'Version: {version}'\n".encode()


def _packed(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> str:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size, info.mode = len(member[1]), 0o755
                archive.addfile(info, io.BytesIO(member[1]))
    return _sha256(path)


def test_the_last_trivy_in_the_archive_is_the_one_installed(
    releases: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Read in one pass (tool_install._binary), the archive still gives what `tar -x` leaves:
    a name's last occurrence. The earlier one reports another version, so taking it fails."""
    base, root = releases
    sha = _packed(root / "twice.tar.gz", [("trivy", _fake_trivy("0.1.0")),
                                          ("README.md", b"trivy"),
                                          ("trivy", _fake_trivy(TRIVY_VERSION))])
    code, out, err = _install(capsys, "trivy", "--version", TRIVY_VERSION, "--sha256", sha,
                              "--url", base + "/twice.tar.gz", "--dest", str(tmp_path))
    assert code == 0, err
    assert Path(out.strip()).read_bytes() == _fake_trivy(TRIVY_VERSION)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.DIRTYPE], ids=["symlink", "directory"])
def test_a_trivy_that_is_not_a_regular_file_is_refused(
    kind: bytes, releases: tuple[str, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Even after a regular file of that name: the last occurrence is what `tar -x` leaves."""
    base, root = releases
    link = tarfile.TarInfo("trivy")
    link.type, link.linkname = kind, "/bin/sh"
    sha = _packed(root / "link.tar.gz", [("trivy", _fake_trivy(TRIVY_VERSION)), link])
    code, _, err = _install(capsys, "trivy", "--version", TRIVY_VERSION, "--sha256", sha,
                            "--url", base + "/link.tar.gz", "--dest", str(tmp_path / "bin"))
    assert code == 2 and "its trivy is not a file" in err, err
    assert not (tmp_path / "bin" / "trivy").exists()


def test_an_empty_pin_takes_the_tool_on_path_and_still_checks_its_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(KUBECTL.parent))
    code, out, err = _install(capsys, "kubectl", "--version", KUBECTL_VERSION, "--sha256", "",
                              "--dest", str(tmp_path))
    assert code == 0, err
    assert out.strip() == str(KUBECTL)
    code, _, err = _install(capsys, "kubectl", "--version", "v1.30.0", "--sha256", "",
                            "--dest", str(tmp_path))
    assert code == 2 and "not the pinned v1.30.0" in err
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, _, err = _install(capsys, "trivy", "--version", TRIVY_VERSION, "--sha256", "",
                            "--dest", str(tmp_path))
    assert code == 2 and "there is no trivy on PATH" in err


@pytest.mark.parametrize(("args", "message"), [
    (["trivy", "--version", "latest", "--sha256", "0" * 64], "not a release version"),
    (["kubectl", "--version", "1.33.9", "--sha256", "0" * 64], "not a release version"),
    (["trivy", "--version", "0.76.0", "--sha256", "abc"], "is not 64 hex digits"),
    (["trivy", "--version", "0.76.0", "--sha256", "0" * 64, "--url", "file:///etc/passwd"],
     "not an http(s) URL"),
])
def test_what_cannot_be_pinned_is_refused(args: list[str], message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _install(capsys, *args, "--dest", str(tmp_path))
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_the_download_is_bounded(releases: tuple[str, Path], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An endless answer is cut off (the real bound is far above any release so far)."""
    base, root = releases
    assert tool_install.MAX_DOWNLOAD_BYTES > 2 * TRIVY.stat().st_size
    monkeypatch.setattr(tool_install, "MAX_DOWNLOAD_BYTES", 1024 * 1024)
    code, _, err = _install(capsys, "kubectl", "--version", KUBECTL_VERSION,
                            "--sha256", _sha256(root / "kubectl"), "--url", base + "/kubectl",
                            "--dest", str(tmp_path))
    assert code == 2 and "larger than 1048576 bytes" in err


def test_a_pins_file_gives_the_sha256_and_the_path_is_a_step_output(
        releases: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """actions/trivy's use: an empty --sha256 with --checksums is the file's pin for this
    version and asset (never the tool on PATH); --outputs gets TOOL=<path>."""
    base, root = releases
    pins = tmp_path / "checksums.txt"
    pins.write_text(f"# version asset sha256\n{KUBECTL_VERSION}  kubectl  "
                    f"{_sha256(root / 'kubectl')}\n", encoding="utf-8")
    out = tmp_path / "github_output"
    code, _, err = _install(capsys, "kubectl", "--version", KUBECTL_VERSION, "--sha256", "",
                            "--checksums", str(pins), "--url", base + "/kubectl",
                            "--dest", str(tmp_path / "bin"), "--outputs", str(out))
    assert code == 0, err
    assert out.read_text() == f"kubectl={tmp_path / 'bin' / 'kubectl'}\n"
    code, _, err = _install(capsys, "kubectl", "--version", "v1.99.0", "--sha256", "",
                            "--checksums", str(pins), "--dest", str(tmp_path / "other"))
    assert code == 2 and "no pinned sha256 for kubectl" in err


def test_actions_trivy_pins_every_version_it_names() -> None:
    """actions/trivy's default version has a pin for each platform it supports."""
    pins = REPO / "actions" / "trivy" / "checksums.txt"
    action = (REPO / "actions" / "trivy" / "action.yml").read_text(encoding="utf-8")
    import yaml

    version = yaml.safe_load(action)["inputs"]["version"]["default"]
    for machine in ("x86_64", "aarch64"):
        assert tool_install.SHA256.match(tool_install.pinned_sha256("trivy", version, pins,
                                                                    machine))


def test_a_destination_that_cannot_be_written_is_one_line(releases: tuple[str, Path],
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """No traceback when --dest is no directory (a file is in the way): exit 2, one line."""
    base, _ = releases
    blocker = tmp_path / "bin"
    blocker.write_text("a file, not a directory", encoding="utf-8")
    code, _, err = _install(capsys, "kubectl", "--version", KUBECTL_VERSION,
                            "--sha256", _sha256(KUBECTL), "--url", base + "/kubectl",
                            "--dest", str(blocker / "tools"))
    assert code == 2 and "Traceback" not in err
    [line] = err.strip().splitlines()
    assert "cannot create" in line and str(blocker) in line
    assert blocker.read_text(encoding="utf-8") == "a file, not a directory"
