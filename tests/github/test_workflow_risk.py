"""The workflows' SBOM, risk-feed and OpenVEX steps (issue 23): thin calls of scangate, where
their outputs are kept. What the steps run is tested where scangate is (tests/gate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCAN = REPO_ROOT / ".github" / "workflows" / "container-scan.yml"
RELEASE = REPO_ROOT / ".github" / "workflows" / "container-release.yml"


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def step(workflow: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    for item in workflow["jobs"][job]["steps"]:
        if item.get("name") == name:
            return dict(item)
    raise KeyError(f"{job}: no step {name!r}")


def test_the_scan_writes_the_sbom_into_the_uploaded_scan_directory() -> None:
    workflow = load(SCAN)
    scan = step(workflow, "scan", "Scan the tarball with Trivy")["run"]
    assert '--sbom "$RUNNER_TEMP/scangate-scan/sbom.cdx.json"' in scan
    assert scan.count('"$SCANGATE" --inputs-from-env scan ') == 1  # the SBOM is its output


def test_the_scan_is_bound_to_the_recorded_tarball_and_image() -> None:
    """As GitLab's scan job: `scangate scan` refuses another tarball before Trivy reads it and
    writes no report of another image, from the record the tarball check read."""
    workflow = load(SCAN)
    check = step(workflow, "scan", "Check the tarball is the one built")
    assert check["id"] == "image" and '--outputs "$GITHUB_OUTPUT"' in check["run"]
    env = step(workflow, "scan", "Scan the tarball with Trivy")["env"]
    assert env["INPUT_INPUT_SHA256"] == "${{ steps.image.outputs.tarball-sha256 }}"
    assert env["INPUT_IMAGE_ID"] == "${{ steps.image.outputs.image-id }}"
    upload = step(workflow, "scan", "Upload the Trivy report")
    assert upload["with"]["path"] == "${{ runner.temp }}/scangate-scan/"


def test_risk_feeds_are_opt_in_and_reach_the_gate_action() -> None:
    workflow = load(SCAN)
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as true
    spec = triggers["workflow_call"]["inputs"]["risk-feeds"]
    # Off by default: no download a caller did not ask for; a policy with kev:/epss: rules
    # and no feeds stops the gate with an error (tests/gate/test_risk_policy.py).
    assert (spec["type"], spec["default"]) == ("boolean", False)
    gate = step(workflow, "gate", "Gate")
    assert gate["uses"].startswith("scangate/scangate/actions/gate@")
    assert gate["with"]["fetch-feeds"] == "${{ inputs.risk-feeds }}"


def test_the_release_writes_openvex_for_the_pushed_digest_into_the_push_artifact() -> None:
    workflow = load(RELEASE)
    jobs = [name for name, job in workflow["jobs"].items()
            if any(s.get("name") == "Push the scanned tarball" for s in job["steps"])]
    [job] = jobs
    run = step(workflow, job, "Push the scanned tarball")["run"]
    # scangate push --openvex writes it after the push, from --decision and its own record.
    assert '--openvex "$RUNNER_TEMP/scangate-push/scangate.openvex.json"' in run
    assert run.count('"$SCANGATE" push ') == 1 and '"$SCANGATE" openvex ' not in run
    upload = step(workflow, job, "Upload the push record")
    assert upload["with"]["path"] == "${{ runner.temp }}/scangate-push/"
