"""summary.json has one reader (scangate.gate_summary) for `notify` and `push --decision`.

What the gate writes today reads back as the same decision, counts and image id; a file one step
refuses, the other refuses too, so an alert can never announce a release that push would refuse
(or the reverse). push's own checks (image id, pass) are in tests/steps/test_push.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scangate import gate_summary
from scangate._cli import main
from scangate.errors import SummaryError
from scangate.registry.decision import check_decision
from scangate.registry.errors import DecisionError, NotPassedError

from tests.support import reports

IMAGE_ID = "sha256:" + "ab" * 32
COUNTS = {"critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0}
PASS: dict[str, Any] = {"decision": "pass", "counts": COUNTS, "violations": [],
                        "reports": [{"path": "r.json", "image_id": IMAGE_ID}]}


def _gate(tmp_path: Path, vulns: list[dict[str, Any]]) -> tuple[int, Path]:
    report = reports.image_report(vulns)
    report["Metadata"]["ImageID"] = IMAGE_ID
    path = reports.write(tmp_path / "report.json", report)
    fs = reports.write(tmp_path / "fs.json", reports.fs_report([]))
    summary = tmp_path / "summary.json"
    code = main(["gate", "--report", path, "--report", fs, "--json-summary", str(summary),
                 "--quiet"])
    return code, summary


@pytest.mark.parametrize("severity, code, decision", [("LOW", 0, "pass"),
                                                       ("CRITICAL", 1, "fail")])
def test_what_the_gate_writes_reads_back(tmp_path: Path, severity: str, code: int,
                                         decision: str) -> None:
    exit_code, path = _gate(tmp_path, [reports.vuln(severity=severity)])
    assert exit_code == code
    summary = gate_summary.read(path)
    assert summary.decision == decision and summary.passed is (code == 0)
    assert summary.counts[severity.lower()] == 1 and sum(summary.counts.values()) == 1
    assert summary.image_ids == [IMAGE_ID]  # the filesystem report records none
    assert bool(summary.violations) is (code == 1)
    if code == 0:
        check_decision(path, IMAGE_ID)
    else:
        with pytest.raises(NotPassedError):
            check_decision(path, IMAGE_ID)


BROKEN: list[tuple[Any, str]] = [
    ([], "top level is list"),
    ({k: v for k, v in PASS.items() if k != "counts"}, "counts is missing"),
    ({**PASS, "counts": {**COUNTS, "high": -1}}, "counts.high is -1"),
    ({**PASS, "counts": {**COUNTS, "low": True}}, "counts.low is True"),
    ({**PASS, "violations": "none"}, "violations is missing or not a list"),
    ({**PASS, "violations": [{"severity": "critical", "count": 1, "limit": 0}]},
     "'pass' but it lists violations"),
    ({**PASS, "reports": {"image_id": IMAGE_ID}}, "reports is not a list"),
    ({**PASS, "reports": [{"image_id": "latest"}]}, "is not sha256"),
]


@pytest.mark.parametrize("doc, problem", BROKEN, ids=[p for _, p in BROKEN])
def test_notify_and_push_refuse_the_same_broken_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: Any, problem: str,
) -> None:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SummaryError, match=problem):
        gate_summary.read(path)
    with pytest.raises(DecisionError, match=problem):
        check_decision(path, IMAGE_ID)
    assert main(["notify", "--summary", str(path), "--sns-topic-arn",
                 "arn:aws:sns:us-east-1:123456789012:alerts"]) == 2
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1


UNDECIDED: list[tuple[Any, str]] = [
    ({**PASS, "decision": "maybe"}, "'maybe'"),
    ({**PASS, "decision": "PASS"}, "'PASS'"),
    ({**PASS, "decision": None}, "None"),
    ({**PASS, "exit_code": 1}, "exit code 1"),
    ({**PASS, "exit_code": "0"}, "exit code '0'"),
    ({**PASS, "exit_code": False}, "exit code False"),
]


@pytest.mark.parametrize("doc, problem", UNDECIDED, ids=[p for _, p in UNDECIDED])
def test_a_summary_without_a_clear_pass_is_refused_by_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: Any, problem: str,
) -> None:
    """Well formed, but not a plain pass: push refuses as a policy stop (exit 1), notify cannot
    say what the gate decided (exit 2); neither reads it as a pass."""
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert not gate_summary.read(path).passed
    with pytest.raises(NotPassedError, match="did not pass"):
        check_decision(path, IMAGE_ID)
    with pytest.raises(SummaryError, match=problem):
        gate_summary.read_decided(path)
    assert main(["notify", "--summary", str(path), "--sns-topic-arn",
                 "arn:aws:sns:us-east-1:123456789012:alerts"]) == 2
    assert problem in capsys.readouterr().err


def test_a_fail_with_its_exit_code_is_decided(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    doc = {**PASS, "decision": "fail", "exit_code": 1,
           "violations": [{"severity": "critical", "count": 1, "limit": 0}]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    summary = gate_summary.read_decided(path)
    assert summary.decision == "fail" and not summary.passed


def test_missing_truncated_and_oversized_files(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SummaryError, match="summary not found"):
        gate_summary.read(tmp_path / "none.json")
    (tmp_path / "cut.json").write_text('{"decision": "pass", "cou', encoding="utf-8")
    with pytest.raises(SummaryError, match="not valid JSON"):
        gate_summary.read(tmp_path / "cut.json")
    (tmp_path / "big.json").write_text(json.dumps(PASS), encoding="utf-8")
    monkeypatch.setattr(gate_summary, "MAX_SUMMARY_BYTES", 10)
    with pytest.raises(SummaryError, match="larger than 10 bytes"):
        gate_summary.read(tmp_path / "big.json")


def test_a_fifo_named_as_the_summary_is_refused_not_waited_on_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The summary is read by the shared bounded reader (input_files), like policies and
    reports: a FIFO nobody writes to is one SummaryError line after the bounded wait."""
    from scangate import input_files

    monkeypatch.setattr(input_files, "FIFO_WRITER_WAIT_SECONDS", 0.2)
    fifo = tmp_path / "summary.json"
    os.mkfifo(fifo)
    with pytest.raises(SummaryError, match="cannot read summary: is a FIFO"):
        gate_summary.read(fifo)
