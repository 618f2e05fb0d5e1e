"""actions/gate (baseline-branch) and actions/comment end to end with act: a base without the
CVE, then a pull request adding it, which FAILS on the new finding only while a MEDIUM finding
the base already had is not counted (new_only); the pull request's comment is created, and
updated in place by a second run.

What is real: act running a caller workflow's jobs (`needs`, `if`, permissions, env), scangate's
own composite actions from a snapshot of this repository (installed by actions/setup's
install.sh: with pip in the base run's job, the one act run of the suite that installs it for
real; the pull request's runs reuse the virtualenv that install.sh built once for every act test,
tests/github/actrun.shared_venv), `scangate fetch-baseline`, `gate`, `comment`. Test doubles:
the third-party actions (tests/github/standins/) and GitHub's REST API, the loopback stand-in of
tests/gate/review_standin.py (runs, artifacts, issue comments, as documented). The base run's
reports artifact, kept by the upload-artifact stand-in, is what the API stand-in serves as the
base branch's last successful run.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gate.review_standin import StandIn, serve
from tests.github.actrun import (
    ACT,
    ActRun,
    host_python,
    install_lines,
    run_act,
    shared_root,
    shared_venv,
    snapshot_repository,
)
from tests.support.reports import image_report, vuln, write

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REF = "review-e2e"  # act maps scangate/scangate@REF to the snapshot
CALLER = f"""\
name: review
on: [push, pull_request]
permissions: {{}}
jobs:
  gate:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      actions: read # Needed to read the base branch's run and its artifact.
    outputs:
      reports: ${{{{ steps.gate.outputs.artifact-id }}}}
    steps:
      - id: gate
        uses: scangate/scangate/actions/gate@{REF}
        with:
          reports: ${{{{ env.SCANGATE_TEST_REPORT }}}}
          policy: ${{{{ env.SCANGATE_TEST_POLICY }}}}
          baseline-branch: ${{{{ github.base_ref }}}}
          baseline-image: api
          upload-sarif: "false"
          artifact-name: scangate-reports-api-0a1b2c3d-${{{{ github.run_attempt }}}}
  comment:
    needs: gate
    if: ${{{{ !cancelled() && github.event_name == 'pull_request' }}}}
    runs-on: ubuntu-latest
    permissions:
      pull-requests: write # Needed to write the comment.
    steps:
      - uses: scangate/scangate/actions/comment@{REF}
        with:
          image: api
          artifact-id: ${{{{ needs.gate.outputs.reports }}}}
"""
# What GitHub sets for a pull request's run of .github/workflows/review.yml.
WORKFLOW_REF = "scangate/scangate/.github/workflows/review.yml@refs/pull/7/merge"
POLICY = "version: 1\nthresholds: {critical: 0, medium: 0}\nnew_only: [medium]\n"
PR = {"number": 7, "pull_request": {
    "number": 7, "head": {"ref": "feature", "sha": "1" * 40,
                          "repo": {"full_name": "scangate/scangate"}},
    "base": {"ref": "main", "sha": "2" * 40, "repo": {"full_name": "scangate/scangate"}}}}


@pytest.fixture
def api() -> Iterator[StandIn]:
    if not ACT.exists():
        pytest.skip(f"{ACT} is missing: act is installed by make setup")
    with serve(StandIn(github_tokens={"bot": "github-actions[bot]"})) as state:
        yield state


def act(tmp_path: Path, repo: Path, name: str, api: StandIn, report: str, event: str,
        payload: dict[str, Any], policy: str, venv: Path | None = None) -> ActRun:
    """One act run; with venv, every job's install.sh must reuse it, else one must run pip."""
    (tmp_path / f"{name}-policy.yaml").write_text(policy, encoding="utf-8")
    env = {"SCANGATE_TEST_REPORT": report,
           "SCANGATE_TEST_POLICY": str(tmp_path / f"{name}-policy.yaml"),
           "GITHUB_API_URL": api.url,
           "GITHUB_WORKFLOW_REF": WORKFLOW_REF,
           "SCANGATE_STANDIN_VENV_PYTHON": sys.executable,
           "SCANGATE_STANDIN_PYTHON": host_python(),  # setup-python's stand-in
           **({"SCANGATE_VENV": str(venv)} if venv else {})}
    run = run_act(repo, "review.yml", tmp_path / name, env, {"GITHUB_TOKEN": "bot"},
                  timeout=900, event=event, payload=payload,
                  extra_local={f"scangate/scangate@{REF}": repo})
    print(f"act {name}: exit {run.returncode} in {run.seconds:.0f}s; log {run.state / 'act.log'}")
    installs, reused = install_lines(run)
    assert installs and (len(reused) == len(installs) if venv else len(reused) < len(installs)), (
        installs + reused)
    return run


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def test_pull_request_fails_on_the_new_finding_only_and_comments_once(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, api: StandIn) -> None:
    repo = tmp_path / "repo"
    snapshot_repository(repo, served_only=True)
    (repo / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (repo / ".github" / "workflows" / "review.yml").write_text(CALLER, encoding="utf-8")
    venv = shared_venv(repo, shared_root(tmp_path_factory), host_python())
    base = write(tmp_path / "base.json", image_report([vuln("CVE-OLD", severity="MEDIUM")]))
    head = write(tmp_path / "head.json", image_report([
        vuln("CVE-OLD", severity="MEDIUM"), vuln("CVE-2026-0001", pkg="curl",
                                                 severity="MEDIUM")]))

    # The base branch allows MEDIUM findings; its run passes and keeps its reports artifact.
    on_main = act(tmp_path, repo, "base", api, base, "push",
                  {"ref": "refs/heads/main", "after": "2" * 40},
                  "version: 1\nthresholds: {critical: 0}\n")
    assert on_main.returncode == 0, on_main.output[-4000:]
    artifact = on_main.artifact("scangate-reports-api-0a1b2c3d-1")
    assert json.loads((artifact / "summary.json").read_text())["decision"] == "pass"
    api.github_runs.append({"id": 1, "workflow": "review.yml", "branch": "main",
                            "event": "push", "conclusion": "success",
                            "html_url": "https://github.example/runs/1",
                            "artifacts": [{"id": 11, "name": artifact.name, "expired": False,
                                           "zip": zipped(artifact)}]})

    # The pull request runs under a stricter policy: no MEDIUM, but only new ones count.
    pull = act(tmp_path, repo, "pr", api, head, "pull_request", PR, POLICY, venv)
    assert pull.returncode != 0, "the pull request adds a MEDIUM finding: its gate must fail"
    summary = json.loads((pull.artifact("scangate-reports-api-0a1b2c3d-1")
                          / "summary.json").read_text())
    assert summary["baseline"]["used"] is True, pull.output[-4000:]
    assert summary["violations"] == [{"severity": "medium", "count": 1, "limit": 0}]
    assert {f["id"]: f["disposition"] for f in summary["findings"]} == {
        "CVE-OLD": "not_new", "CVE-2026-0001": "counted"}
    comments = api.comments("scangate/scangate", 7)
    assert len(comments) == 1, pull.output[-4000:]
    assert "FAILED" in comments[0]["body"] and "`CVE-2026-0001`" in comments[0]["body"]

    again = act(tmp_path, repo, "pr-again", api, head, "pull_request", PR, POLICY, venv)
    assert again.returncode != 0
    assert len(api.comments("scangate/scangate", 7)) == 1, "updated in place, never a second"
    assert [r.method for r in api.requests if "/issues/" in r.path] == [
        "GET", "POST", "GET", "PATCH"]
