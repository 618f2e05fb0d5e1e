"""actions/gate's baseline inputs: its Gate step (`scangate gate-job run`) runs
`scangate fetch-baseline` for `baseline-branch`
(against the loopback stand-in of GitHub's Actions API, tests/gate/review_standin.py, a test
double) and passes `--baseline` to the gate."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gate.review_standin import StandIn, serve
from tests.github.test_workflow_steps import (
    GATE_ACTION,
    SCANGATE,
    Step,
    action_script,
    run_script,
)
from tests.support.reports import image_report, vuln, write

POLICY = "version: 1\nthresholds: {critical: 0, medium: 0}\nnew_only: [medium]\n"


@pytest.fixture
def api() -> Iterator[StandIn]:
    with serve(StandIn(github_tokens={"actions-read": "github-actions[bot]"})) as state:
        yield state


def gate_step(tmp_path: Path, api: StandIn | None = None, **inputs: str) -> Step:
    env = {"SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
           **{f"INPUT_{k.upper()}": v for k, v in inputs.items()}}
    if api is not None:
        env.update(GITHUB_API_URL=api.url, SCANGATE_FETCH_TOKEN="actions-read",
                   GITHUB_WORKFLOW_REF="acme/my-service/.github/workflows/ci.yml@refs/pull/7/merge")
    return run_script(action_script(GATE_ACTION, "Gate"), env, tmp_path)


def reports(tmp_path: Path) -> tuple[str, str, str]:
    base = write(tmp_path / "base.json", image_report([vuln("CVE-OLD", severity="MEDIUM")]))
    head = write(tmp_path / "head.json", image_report([
        vuln("CVE-OLD", severity="MEDIUM"), vuln("CVE-NEW", pkg="curl", severity="MEDIUM")]))
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    return base, head, str(tmp_path / "policy.yaml")


def test_a_given_baseline_reaches_the_gate(tmp_path: Path) -> None:
    base, head, policy = reports(tmp_path)
    step = gate_step(tmp_path / "run", reports=head, policy=policy, baseline=base)
    assert step.outputs["decision"] == "fail", step.output
    summary = json.loads(Path(step.outputs["summary-json"]).read_text(encoding="utf-8"))
    assert summary["baseline"]["used"] is True and summary["baseline"]["new"] == 1
    assert summary["counts"]["medium"] == 1 and summary["not_new"] == 1


def test_baseline_branch_fetches_the_base_runs_summary(tmp_path: Path, api: StandIn) -> None:
    base, head, policy = reports(tmp_path)
    base_out = tmp_path / "base-run"
    base_step = gate_step(base_out, reports=base)
    base_summary = Path(base_step.outputs["summary-json"]).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("summary.json", base_summary)
    api.github_runs.append({"id": 9, "workflow": "ci.yml", "branch": "main", "event": "push",
                            "conclusion": "success", "html_url": "https://github.example/r/9",
                            "artifacts": [{"id": 91, "name": "scangate-reports-api-0a1b2c3d-1",
                                           "expired": False, "zip": buffer.getvalue()}]})
    step = gate_step(tmp_path / "pr-run", api, reports=head, policy=policy,
                     baseline_branch="main", baseline_image="api")
    assert step.outputs["decision"] == "fail", step.output
    out = Path(step.outputs["output-dir"])
    assert (out / "baseline-summary.json").read_bytes() == base_summary
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["violations"] == [{"severity": "medium", "count": 1, "limit": 0}]
    assert {f["id"]: f["change"] for f in summary["findings"]} == {"CVE-OLD": "unchanged",
                                                                  "CVE-NEW": "new"}
    step_summary = (tmp_path / "pr-run" / "step_summary.md").read_text(encoding="utf-8")
    assert "**1 new**" in step_summary


def _zip_summary(summary: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("summary.json", summary)
    return buffer.getvalue()


def test_baseline_source_deployed_compares_with_the_run_that_deployed(tmp_path: Path,
                                                                      api: StandIn) -> None:
    """`baseline-source: deployed`: the baseline is the summary of the newest push run that
    deployed (its `scangate-deployed-*` artifact), not of a newer run that did not. Here the
    newer run already gated the change's image, which against it would add nothing."""
    base, head, policy = reports(tmp_path)
    deployed = Path(gate_step(tmp_path / "deployed-run", reports=base)
                    .outputs["summary-json"]).read_bytes()
    newer = Path(gate_step(tmp_path / "newer-run", reports=head)
                 .outputs["summary-json"]).read_bytes()
    api.github_runs += [
        {"id": 9, "workflow": "ci.yml", "branch": "main", "event": "push",
         "conclusion": "success", "html_url": "https://github.example/r/9",
         "artifacts": [{"id": 91, "name": "scangate-reports-api-0a1b2c3d-1", "expired": False,
                        "zip": _zip_summary(deployed)},
                       {"id": 92, "name": "scangate-deployed-1a1b2c3d-1", "expired": False,
                        "zip": _zip_summary(b"{}")}]},
        {"id": 10, "workflow": "ci.yml", "branch": "main", "event": "push",
         "conclusion": "success", "html_url": "https://github.example/r/10",
         "artifacts": [{"id": 101, "name": "scangate-reports-api-2a1b2c3d-1", "expired": False,
                        "zip": _zip_summary(newer)}]},
    ]
    step = gate_step(tmp_path / "pr-run", api, reports=head, policy=policy,
                     baseline_branch="main", baseline_image="api", baseline_source="deployed")
    assert step.outputs["decision"] == "fail", step.output
    assert "the deployed run https://github.example/r/9" in step.output
    summary = json.loads(Path(step.outputs["summary-json"]).read_text(encoding="utf-8"))
    assert {f["id"]: f["change"] for f in summary["findings"]} == {"CVE-OLD": "unchanged",
                                                                  "CVE-NEW": "new"}
    # The default, the newest successful run: nothing is new against it.
    step = gate_step(tmp_path / "pr-run-newest", api, reports=head, policy=policy,
                     baseline_branch="main", baseline_image="api")
    assert step.outputs["decision"] == "pass", step.output


def test_the_deploy_job_marks_its_run_after_every_rollout() -> None:
    """container-release.yml's deploy job uploads the deploy records as the marker
    fetch-baseline looks for, after the deploy step (no `if:`: only when every step before
    succeeded), under a name unique per call and attempt (artifact names are unique per run,
    actions/upload-artifact v4+)."""
    import re

    import yaml
    from scangate.baseline_fetch import DEPLOYED_ARTIFACT

    root = Path(__file__).resolve().parents[2]
    release = yaml.safe_load((root / ".github" / "workflows" / "container-release.yml")
                             .read_text(encoding="utf-8"))
    steps = release["jobs"]["deploy"]["steps"]
    names = [step.get("name") for step in steps]
    deploy = names.index("Deploy by digest and wait for the rollouts")
    mark = names.index("Mark this run as the deployed one")
    assert mark > deploy and "if" not in steps[mark]
    assert steps[mark]["uses"].startswith("actions/upload-artifact@")
    # deploy-job writes each deploy's record (deploy-N.json) into --records-dir.
    assert '--records-dir "$RUNNER_TEMP/scangate-deploy"' in steps[deploy]["run"]
    assert steps[mark]["with"]["path"] == "${{ runner.temp }}/scangate-deploy/"
    assert steps[mark]["with"]["if-no-files-found"] == "error"
    name = steps[mark]["with"]["name"]
    assert name == ("scangate-deployed-${{ needs.plan.outputs.call }}-"
                    "${{ github.run_attempt }}")
    assert DEPLOYED_ARTIFACT.fullmatch(re.sub(r"\$\{\{ needs\.plan\.outputs\.call \}\}",
                                              "0a1b2c3d", name).replace(
        "${{ github.run_attempt }}", "2"))
    scan = yaml.safe_load((root / ".github" / "workflows" / "container-scan.yml")
                          .read_text(encoding="utf-8"))
    (gate,) = [s for s in scan["jobs"]["gate"]["steps"] if s.get("id") == "gate"]
    assert gate["with"]["baseline-source"] == "${{ inputs.baseline-source }}"


def test_no_base_run_gates_on_everything_and_says_so(tmp_path: Path, api: StandIn) -> None:
    _, head, policy = reports(tmp_path)
    step = gate_step(tmp_path / "run", api, reports=head, policy=policy,
                     baseline_branch="main", baseline_image="api")
    assert step.outputs["decision"] == "fail", step.output
    assert "no successful push run" in step.output
    summary = json.loads(Path(step.outputs["summary-json"]).read_text(encoding="utf-8"))
    assert summary["baseline"]["used"] is False and summary["counts"]["medium"] == 2
    assert "Baseline" in (tmp_path / "run" / "step_summary.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("inputs", [{"baseline": "x.json", "baseline_branch": "main",
                                     "baseline_image": "api"},
                                    {"baseline_branch": "main"},
                                    {"baseline_branch": "main", "baseline_image": "api",
                                     "baseline_source": "deploy"}])
def test_contradictory_baseline_inputs_are_an_error(tmp_path: Path,
                                                    inputs: dict[str, str]) -> None:
    _, head, _ = reports(tmp_path)
    step = gate_step(tmp_path / "run", reports=head, **inputs)
    assert step.outputs["decision"] == "error"
    assert "baseline-branch" in step.output
