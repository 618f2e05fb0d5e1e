"""`scangate gate-job`: the gate as a CI step (actions/gate runs it), through main([...]).

The step that gates never fails (the reports must still be uploaded); the recorded decision is
what `scangate enforce` fails the job on (tests/gate/test_enforce.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scangate._cli import main

from tests.support.reports import image_report, vuln, write


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines())


def test_a_violation_is_recorded_and_the_inputs_kept(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    report = write(tmp_path / "in" / "trivy.json",
                   image_report([vuln(severity="CRITICAL"), vuln("CVE-2", severity="LOW")]))
    out = tmp_path / "github_output"
    code = main(["gate-job", "run", "--report", report, "--outputs", str(out),
                 "--output-dir", str(tmp_path / "reports"), "--sarif-category", "api"])
    assert code == 0
    got = outputs(out)
    assert (got["exit-code"], got["decision"]) == ("1", "fail")
    assert json.loads(got["counts"])["critical"] == 1 and got["low"] == "1"
    assert got["sarif"] == str(tmp_path / "reports" / "scangate.sarif")
    kept = tmp_path / "reports" / "reports" / "1-trivy.json"
    assert kept.read_bytes() == Path(report).read_bytes()


@pytest.mark.parametrize(("extra", "message"), [
    ([], "the reports input names no file"),
    (["--report", "r.json", "--baseline", "b.json", "--baseline-branch", "main",
      "--baseline-image", "x"], "not both"),
    (["--report", "r.json", "--baseline-branch", "main"], "not both"),
])
def test_inputs_no_gate_can_run_with_are_an_error_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = tmp_path / "github_output"
    assert main(["gate-job", "run", "--outputs", str(out), "--output-dir", str(tmp_path),
                 *extra]) == 0
    assert outputs(out) == {"exit-code": "2", "decision": "error"}
    assert message in capsys.readouterr().out


def test_a_bad_value_is_the_gates_error_with_no_counts(tmp_path: Path) -> None:
    report = write(tmp_path / "r.json", image_report([vuln(severity="HIGH")]))
    out = tmp_path / "github_output"
    assert main(["gate-job", "run", "--report", report, "--fail-on", "SEVERE",
                 "--outputs", str(out), "--output-dir", str(tmp_path / "o")]) == 0
    got = outputs(out)
    assert got["decision"] == "error" and "counts" not in got and "sarif" not in got


def test_without_runner_temp_or_output_dir_nothing_is_guessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNNER_TEMP", raising=False)
    assert main(["gate-job", "run", "--report", "r.json", "--outputs",
                 str(tmp_path / "o")]) == 2


def test_a_refused_sarif_upload_is_a_warning(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    summary = tmp_path / "summary.md"
    assert main(["gate-job", "sarif-status", "--upload-outcome", "failure", "--sarif", "x",
                 "--artifact-name", "scangate-reports-x", "--step-summary", str(summary)]) == 0
    assert "::warning title=scangate code scanning::" in capsys.readouterr().out
    assert "scangate-reports-x" in summary.read_text(encoding="utf-8")
    assert main(["gate-job", "sarif-status", "--upload-outcome", "success"]) == 0
