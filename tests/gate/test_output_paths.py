"""Outputs never destroy inputs: an output path that is an input, a link, a device or a FIFO is
exit 2 before anything is written, and nothing but a regular file is ever replaced."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from scangate._cli import main

from tests.support.reports import image_report, vuln, write

POLICY = "version: 1\nthresholds: {critical: 0}\n"
DOCKERFILE = "FROM debian:12\nUSER 1000\n"


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    report = Path(write(tmp_path / "report.json", image_report([vuln(severity="CRITICAL")])))
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(DOCKERFILE, encoding="utf-8")
    return {"report": report, "policy": policy, "dockerfile": dockerfile}


def gate(inputs: dict[str, Path], *outputs: str) -> int:
    return main(["gate", "--quiet", "--report", str(inputs["report"]),
                 "--policy", str(inputs["policy"]), "--dockerfile", str(inputs["dockerfile"]),
                 *outputs])


def unchanged(inputs: dict[str, Path], report_text: str) -> None:
    assert inputs["policy"].read_text(encoding="utf-8") == POLICY
    assert inputs["dockerfile"].read_text(encoding="utf-8") == DOCKERFILE
    assert inputs["report"].read_text(encoding="utf-8") == report_text


@pytest.mark.parametrize("flag", ["--json-summary", "--sarif", "--gitlab-report", "--summary-md"])
@pytest.mark.parametrize("which", ["policy", "dockerfile", "report"])
def test_an_input_is_never_an_output(inputs: dict[str, Path], tmp_path: Path, flag: str,
                                     which: str, capsys: pytest.CaptureFixture[str]) -> None:
    report_text = inputs["report"].read_text(encoding="utf-8")
    summary = tmp_path / "summary.json"
    extra = [] if flag == "--json-summary" else ["--json-summary", str(summary)]
    assert gate(inputs, flag, str(inputs[which]), *extra) == 2
    err = capsys.readouterr().err
    assert "would overwrite" in err and err.count("\n") == 1
    unchanged(inputs, report_text)
    assert not summary.exists()  # nothing of the run was written


@pytest.mark.parametrize("which", ["policy", "dockerfile", "report"])
def test_another_name_for_an_input_is_caught(inputs: dict[str, Path], tmp_path: Path,
                                             which: str) -> None:
    """A hard link is the same file under another name; a path with '..' another spelling."""
    report_text = inputs["report"].read_text(encoding="utf-8")
    hard = tmp_path / f"hard-{which}"
    os.link(inputs[which], hard)
    assert gate(inputs, "--sarif", str(hard)) == 2
    (tmp_path / "sub").mkdir()
    spelled = tmp_path / "sub" / ".." / inputs[which].name
    assert gate(inputs, "--summary-md", str(spelled)) == 2
    unchanged(inputs, report_text)


@pytest.mark.parametrize("which", ["policy", "dockerfile", "report", "nowhere"])
def test_a_symlink_is_refused_whatever_it_points_at(inputs: dict[str, Path], tmp_path: Path,
                                                    which: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    report_text = inputs["report"].read_text(encoding="utf-8")
    link = tmp_path / "out.sarif"
    link.symlink_to(inputs[which] if which != "nowhere" else tmp_path / "new.sarif")
    assert gate(inputs, "--sarif", str(link)) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err or "would overwrite" in err
    assert link.is_symlink()
    assert not (tmp_path / "new.sarif").exists()
    unchanged(inputs, report_text)


def test_a_fifo_is_refused_without_blocking(inputs: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    assert gate(inputs, "--gitlab-report", str(fifo)) == 2
    assert "a FIFO" in capsys.readouterr().err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_device_node_is_never_replaced(inputs: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """``--sarif /dev/null`` as root once turned /dev/null into a regular file. The test makes
    its own null device in tmp_path (so a regression cannot break the machine's /dev/null)."""
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here ({exc}); needs root with CAP_MKNOD")
    assert gate(inputs, "--sarif", str(device)) == 2
    assert "a character device" in capsys.readouterr().err
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_a_directory_is_refused(inputs: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    assert gate(inputs, "--json-summary", str(tmp_path / "d")) == 2


def test_regular_outputs_are_still_replaced(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.sarif"
    out.write_text("old", encoding="utf-8")
    assert gate(inputs, "--sarif", str(out)) == 1  # one CRITICAL against critical: 0
    assert out.read_text(encoding="utf-8").startswith('{"$schema"')
    assert stat.S_ISREG(os.lstat(out).st_mode)
