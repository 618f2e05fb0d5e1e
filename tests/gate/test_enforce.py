"""`scangate enforce`: the GitLab enforce job's decision, read by the one summary reader.

The summaries are the ones the real `scangate gate` writes; anything but a stated decision is
exit 2, never a pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main

from tests.support import reports


def _gate(tmp_path: Path, severity: str) -> Path:
    report = reports.write(tmp_path / "report.json",
                           reports.image_report([reports.vuln(severity=severity)]))
    summary = tmp_path / "summary.json"
    main(["gate", "--report", report, "--json-summary", str(summary), "--quiet"])
    return summary


def _enforce(summary: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["enforce", "--summary", str(summary)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_recorded_pass_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _enforce(_gate(tmp_path, "LOW"), capsys)
    assert (code, err) == (0, "")
    assert "the gate passed" in out


def test_a_recorded_fail_fails_naming_the_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _enforce(_gate(tmp_path, "CRITICAL"), capsys)
    assert code == 1
    assert "scangate: CRITICAL: 1 findings, at most 0 allowed" in err
    assert "the gate failed: the policy is violated" in err


@pytest.mark.parametrize(("edit", "message"), [
    (lambda doc: doc.update(decision="passed"), "decision"),
    (lambda doc: doc.update(exit_code=1), "exit"),
    (lambda doc: doc.pop("decision"), "decision"),
    (lambda doc: doc.update(violations="none"), "violations"),
])
def test_a_summary_that_states_no_clear_pass_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any, message: str,
) -> None:
    path = _gate(tmp_path, "LOW")
    doc = json.loads(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = _enforce(path, capsys)
    assert code == 2 and "passed" not in out
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("content", [None, "", "{", "[]"])
def test_a_missing_or_broken_summary_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None,
) -> None:
    path = tmp_path / "summary.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, _, err = _enforce(path, capsys)
    assert code == 2
    assert err.startswith("scangate: error: ") and str(path) in err
