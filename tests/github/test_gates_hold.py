"""Nothing ships without a pass, and the gate's decision is the only thing that fails the gate.

Fast (no docker): these read the YAML and run the enforce step with bash, so a mutation such as
`if: always()` on push or deploy, or an enforce step that exits 0 on a violation, fails here and
not only in the slow act runs.

GitHub's rules relied on (GitHub docs, "Workflow syntax: jobs.<job_id>.if" and "Expressions:
status check functions"): a job or step `if:` without a status check function (`success()`,
`always()`, `failure()`, `cancelled()`) gets an implicit `success() &&`, so the job runs only
when every job in `needs` succeeded; a matrix job succeeds only when every leg succeeded. A step
with `continue-on-error: true` that fails leaves the job's result successful.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.github.actrun import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "container-scan.yml"
RELEASE = REPO_ROOT / ".github" / "workflows" / "container-release.yml"
GATE_ACTION = REPO_ROOT / "actions" / "gate" / "action.yml"
SCANGATE = str(Path(sys.executable).with_name("scangate"))
PYTHONPATH = os.environ.get("PYTHONPATH", "")
STATUS_FUNCTION = re.compile(r"\b(always|failure|cancelled|success)\s*\(")


def _jobs(path: Path = WORKFLOW) -> dict[str, Any]:
    jobs = yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]
    assert isinstance(jobs, dict)
    return jobs


@pytest.mark.parametrize(("job", "must_need"), [("push", {"plan", "limits"}), ("deploy", {"push"})])
def test_push_and_deploy_run_only_after_every_pass(job: str, must_need: set[str]) -> None:
    """In container-release.yml: push needs the scan's recorded pass (the plan job's decision,
    from the hand-off) and every image's SSM limits; deploy needs the push."""
    spec = _jobs(RELEASE)[job]
    needs = spec["needs"] if isinstance(spec["needs"], list) else [spec["needs"]]
    assert must_need <= set(needs), f"{job} must need {must_need}"
    condition = str(spec.get("if", ""))
    assert not STATUS_FUNCTION.search(condition), (
        f"{job}: `if: {condition}` has a status function, so it could run after a failed gate"
    )
    assert "||" not in condition, f"{job}: `if: {condition}` could be true whatever the gate said"
    assert not spec.get("continue-on-error"), job
    for step in spec["steps"]:
        assert not step.get("continue-on-error"), f"{job}: {step.get('name')} may fail silently"


def test_the_gate_job_cannot_be_skipped_into_a_pass() -> None:
    """gate runs for every image even when another leg's scan failed (`!cancelled()`), and push
    needs it: a skipped gate is not a success, so push cannot run either."""
    jobs = _jobs()
    gate = jobs["gate"]
    assert "!cancelled()" in str(gate["if"]) and "always()" not in str(gate["if"])
    assert not gate.get("continue-on-error")
    assert gate["strategy"]["fail-fast"] is False
    gate_steps = [s for s in gate["steps"] if str(s.get("uses", "")).endswith(
        tuple(f"/actions/gate@{ref}" for ref in [_pinned_commit()]))]
    assert len(gate_steps) == 1 and not gate_steps[0].get("continue-on-error")


def _pinned_commit() -> str:
    return str(yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["env"]["SCANGATE_COMMIT"])


def _gate_steps() -> list[dict[str, Any]]:
    steps = yaml.safe_load(GATE_ACTION.read_text(encoding="utf-8"))["runs"]["steps"]
    assert isinstance(steps, list)
    return steps


def test_only_the_enforce_step_can_fail_the_gate_action_on_a_decision() -> None:
    steps = _gate_steps()
    enforce = steps[-1]
    assert enforce["name"] == "Enforce the decision"
    assert enforce["if"] == "always()" and not enforce.get("continue-on-error")
    by_id = {s.get("id"): s for s in steps}
    # Code scanning is optional by capability: a refused upload never fails the job.
    assert by_id["upload-sarif"]["continue-on-error"] is True
    assert by_id["upload-reports"]["continue-on-error"] is True
    # The SARIF is kept whether or not it is uploaded: the artifact holds the output directory.
    assert by_id["upload-reports"]["with"]["path"] == "${{ steps.gate.outputs.output-dir }}"
    assert "inputs.upload-sarif == 'true'" in by_id["upload-sarif"]["if"]


COUNTS = {"critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0}
FAILED = {"severity": "CRITICAL", "count": 1, "limit": 0}


def _enforce(tmp_path: Path, summary: dict[str, Any] | str | None) -> int:
    """The action's last step as it is, given the Gate step's summary-json output: a summary
    file, a file that is not a summary (str), or no output at all (None)."""
    script = tmp_path / "enforce.sh"
    script.write_text(str(_gate_steps()[-1]["run"]), encoding="utf-8")
    path = ""
    if summary is not None:
        path = str(tmp_path / "summary.json")
        Path(path).write_text(summary if isinstance(summary, str) else json.dumps(summary))
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        env={"PATH": "/usr/bin:/bin", "SCANGATE": SCANGATE, "PYTHONPATH": PYTHONPATH,
             "SUMMARY": path},
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"decision": "pass", "counts": COUNTS, "violations": []}, 0),
        ({"decision": "fail", "counts": COUNTS, "violations": [FAILED]}, 1),
        (None, 2),  # the gate errored or never ran: no summary
        ("{", 2),
        ({"decision": "error", "counts": COUNTS, "violations": []}, 2),
        ({"decision": "pass", "counts": COUNTS, "violations": [], "exit_code": 1}, 2),
        ({"decision": "pass", "counts": COUNTS, "violations": [FAILED]}, 2),
    ],
)
def test_enforce_passes_only_a_pass(
    tmp_path: Path, summary: dict[str, Any] | str | None, expected: int
) -> None:
    assert _enforce(tmp_path, summary) == expected


def test_sarif_refusal_is_a_warning_in_the_step_summary(tmp_path: Path) -> None:
    """What a repository without Code Security sees: a warning, exit 0."""
    summary = tmp_path / "summary.md"
    step = next(s for s in _gate_steps() if s.get("name") == "Say what happened to the SARIF")
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={"PATH": "/usr/bin:/bin", "SCANGATE": SCANGATE, "PYTHONPATH": PYTHONPATH,
             "INPUT_UPLOAD_OUTCOME": "failure", "INPUT_SARIF": "x.sarif",
             "INPUT_ARTIFACT_NAME": "scangate-reports-x", "GITHUB_STEP_SUMMARY": str(summary)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "::warning title=scangate code scanning::" in proc.stdout
    text = summary.read_text(encoding="utf-8")
    assert "Code Security" in text and "scangate-reports-x" in text


def test_push_and_publish_can_have_subjects_of_their_own() -> None:
    """Role trust is per OIDC subject, and a job in an environment gets
    `repo:OWNER/REPO:environment:NAME` (GitHub docs, "OpenID Connect reference", subject
    claims): the push and Security Hub jobs take their environment from inputs, so their roles
    can trust one job each."""
    jobs = _jobs(RELEASE)
    assert jobs["push"]["environment"] == "${{ inputs.push-environment }}"
    assert jobs["security-hub"]["environment"] == "${{ inputs.publish-environment }}"
    assert jobs["deploy"]["environment"] == "${{ inputs.environment }}"
