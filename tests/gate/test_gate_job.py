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


def test_gitlab_publishes_a_violation_and_fails_on_an_error(tmp_path: Path) -> None:
    """--platform gitlab (the template's report job): exit 0 with the reports on a pass or a
    violation, the gate's code on an error; the code is also in --exit-code-file."""
    out, code_file = tmp_path / "out", tmp_path / "code"
    report = write(tmp_path / "r.json", image_report([vuln(severity="CRITICAL")]))
    gitlab = ["gate-job", "run", "--platform", "gitlab", "--output-dir", str(out),
              "--exit-code-file", str(code_file), "--gitlab-report", str(out / "gl.json")]
    assert main([*gitlab, "--report", report]) == 0
    assert code_file.read_text() == "1\n" and (out / "gl.json").is_file()
    assert main([*gitlab, "--report", report, "--max-critical", "1"]) == 0
    assert code_file.read_text() == "0\n"
    assert main([*gitlab, "--report", report, "--fail-on", "SEVERE"]) == 2
    assert code_file.read_text() == "2\n" and not (out / "gl.json").exists()
    assert main([*gitlab]) == 2  # no report: an input no gate can run with
    assert main(["gate-job", "run", "--platform", "gitlab", "--report", report]) == 2


def test_a_decision_without_its_summary_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gate that says 0 or 1 but wrote no summary.json (a double of the gate: the real one
    always writes it) decided nothing the enforce job could read: GitLab fails the job."""
    from scangate.commands import gate_job

    monkeypatch.setattr(gate_job, "run_scangate", lambda argv: 1 if argv[0] == "gate" else 0)
    code_file = tmp_path / "code"
    assert main(["gate-job", "run", "--platform", "gitlab", "--report", "r.json",
                 "--output-dir", str(tmp_path), "--exit-code-file", str(code_file)]) == 2
    assert code_file.read_text() == "2\n"
    assert "without writing" in capsys.readouterr().err


def test_gitlab_fetches_the_feeds_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GitLab shares a cache key among all unprotected branches: the feeds go to a new, empty
    directory each run, with no cache age to reuse, and the gate reads that directory."""
    from scangate.commands import gate_job

    calls: list[list[str]] = []
    monkeypatch.setattr(gate_job, "run_scangate", lambda argv: calls.append(argv) or 2)
    for _ in range(2):
        main(["gate-job", "run", "--platform", "gitlab", "--fetch-feeds", "--report", "r.json",
              "--output-dir", str(tmp_path)])
    fetches = [c for c in calls if c[:2] == ["feeds", "fetch"]]
    gates = [c for c in calls if c[0] == "gate"]
    dirs = [c[2].removeprefix("--dir=") for c in fetches]
    assert len(set(dirs)) == 2 and all(c == ["feeds", "fetch", c[2]] for c in fetches)
    assert [f"--feeds-dir={d}" in g for d, g in zip(dirs, gates, strict=True)] == [True, True]
