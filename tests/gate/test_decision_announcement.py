"""Nothing announces a decision before it is final (issue 21 §4).

A run that exits 2 must leave no "PASSED" behind: not in GITHUB_STEP_SUMMARY (appended to, so
it cannot be renamed into place like the files), not in summary.json, the Markdown, SARIF or the
GitLab report, not on stdout. The files are committed first (all or none), then the step summary
is appended, then stdout is written; a failure after the commit takes back the files and what
this run appended to the step summary.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from scangate._cli import main

from tests.support.reports import image_report, vuln, write

EARLIER = "## an earlier step\n"


def _outputs(tmp_path: Path) -> dict[str, Path]:
    return {flag: tmp_path / name for flag, name in (
        ("--json-summary", "summary.json"), ("--summary-md", "summary.md"),
        ("--sarif", "o.sarif"), ("--gitlab-report", "gl.json"))}


def _argv(tmp_path: Path, outputs: dict[str, Path]) -> list[str]:
    report = write(tmp_path / "r.json", image_report([vuln(severity="HIGH")]))
    argv = ["gate", "--report", report]
    for flag, path in outputs.items():
        argv += [flag, str(path)]
    return argv


@pytest.fixture()
def step_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    step = tmp_path / "step-summary.md"
    step.write_text(EARLIER, encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    return step


def test_a_pass_is_announced_everywhere_once_committed(
    tmp_path: Path, step_summary: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = _outputs(tmp_path)
    assert main(_argv(tmp_path, outputs)) == 0
    assert all(path.exists() for path in outputs.values())
    assert "Security gate PASSED" in step_summary.read_text(encoding="utf-8")
    assert step_summary.read_text(encoding="utf-8").startswith(EARLIER)
    assert "gate PASS" in capsys.readouterr().out


def test_a_failed_commit_announces_nothing(
    tmp_path: Path, step_summary: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The third rename fails (EIO from the file system, injected: no real disk fails on
    cue). The step summary, stdout and the two outputs already renamed say nothing."""
    outputs = _outputs(tmp_path)
    real_replace = os.replace
    calls: list[str] = []

    def failing_replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr("scangate.outputs.atomic.os.replace", failing_replace)
    assert main(_argv(tmp_path, outputs)) == 2
    captured = capsys.readouterr()
    assert "PASS" not in captured.out and "cannot write" in captured.err
    assert step_summary.read_text(encoding="utf-8") == EARLIER
    assert not [path for path in outputs.values() if path.exists()]
    assert len(calls) == 3


def test_a_stdout_that_fails_after_the_commit_takes_everything_back(
    tmp_path: Path, step_summary: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    outputs = _outputs(tmp_path)
    closed = io.TextIOWrapper(io.BytesIO())
    closed.close()
    monkeypatch.setattr("sys.stdout", closed)
    assert main(_argv(tmp_path, outputs)) == 2
    assert step_summary.read_text(encoding="utf-8") == EARLIER
    assert not [path for path in outputs.values() if path.exists()]


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_step_summary_that_cannot_be_written_is_refused_before_any_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    step = tmp_path / "step"
    if kind == "directory":
        step.mkdir()
    else:
        os.mkfifo(step)  # no reader: opening it must not hang
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    outputs = _outputs(tmp_path)
    assert main(_argv(tmp_path, outputs)) == 2
    captured = capsys.readouterr()
    assert "GITHUB_STEP_SUMMARY" in captured.err and "PASS" not in captured.out
    assert not [path for path in outputs.values() if path.exists()]


def test_a_stdout_that_cannot_encode_a_character_prints_what_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ASCII locale (LANG=C on an old runner) is not a closed stream: the summary is
    printed with escapes and every output is kept (issue 21 §3)."""
    buffer = io.BytesIO()
    ascii_out = io.TextIOWrapper(buffer, encoding="ascii", write_through=True)
    monkeypatch.setattr("sys.stdout", ascii_out)
    outputs = _outputs(tmp_path)
    report = write(tmp_path / "r.json", image_report([vuln(pkg="l\u00efbssl\u2603",
                                                          severity="CRITICAL")]))
    argv = ["gate", "--report", report]
    for flag, path in outputs.items():
        argv += [flag, str(path)]
    assert main(argv) == 1
    printed = buffer.getvalue().decode("ascii")
    assert "gate FAIL" in printed and "l\\xefbssl\\u2603" in printed
    assert all(path.exists() for path in outputs.values())
