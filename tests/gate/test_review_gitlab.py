"""The GitLab template's review feedback: the report job compares a merge request with its
target branch's latest gate summary (fetch-baseline, then gate --baseline), and the comment
job writes one merge-request note per include, updated in place.

The jobs' scripts run as the runner runs them (tests/gitlab's harness: before_script + script
under sh, with the job's variables) with the real scangate CLI; GitLab's API is the loopback
stand-in of tests/gate/review_standin.py (a test double following GitLab's "Job artifacts" and
"Notes" REST docs). Rules are judged with the port of GitLab's expression evaluator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gate.review_standin import StandIn, serve
from tests.gitlab import glci
from tests.gitlab.test_gitlab_rules import (
    BRANCH_PIPELINE,
    MR_PIPELINE,
    jobs_of,
    pipeline_jobs,
    run_job_script,
)
from tests.support.reports import image_report, vuln, write

MR_INPUTS = {"merge-request-pipelines": True}
POLICY = "version: 1\nthresholds: {critical: 0, medium: 0}\nnew_only: [medium]\n"


@pytest.fixture
def api() -> Iterator[StandIn]:
    with serve(StandIn(gitlab_tokens={"glpat-reporter": 31},
                       gitlab_job_tokens={"job-token"})) as state:
        yield state


def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    if not (folder / "scangate").exists():
        glci.checkout_scangate(folder)  # this checkout's CLI (the job drops PYTHONPATH)
    return folder


def mr_env(api: StandIn, **more: str) -> dict[str, str]:
    return {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "3",
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_PROJECT_ID": "42",
            "CI_API_V4_URL": api.url + "/api/v4", "CI_JOB_TOKEN": "job-token",
            "CI_PROJECT_NAME": "service", **more}


@pytest.mark.parametrize(("inputs", "pipeline", "token", "expected"), [
    (MR_INPUTS, MR_PIPELINE, "glpat-x", "on_success"),
    (MR_INPUTS, MR_PIPELINE, "", "never"),
    ({}, MR_PIPELINE, "glpat-x", "never"),
    (MR_INPUTS, BRANCH_PIPELINE, "glpat-x", "never"),
])
def test_the_comment_job_runs_in_merge_request_pipelines_with_a_token_only(
        inputs: dict[str, Any], pipeline: dict[str, str], token: str, expected: str) -> None:
    overrides = {"SCANGATE_GITLAB_TOKEN": token} if token else {}
    assert pipeline_jobs(inputs, pipeline, overrides)["scangate-comment"] == expected


def test_the_comment_job_never_gates() -> None:
    """The decision is enforce's: nothing that pushes or deploys needs the comment."""
    jobs = jobs_of({**MR_INPUTS, "push": True, "deploy": True})
    for name in jobs:
        if name.startswith(".") or name == "scangate-comment":
            continue
        needs = [n["job"] if isinstance(n, dict) else n
                 for n in glci.merged_job(jobs, name).get("needs") or []]
        assert "scangate-comment" not in needs, name


def report_job(tmp_path: Path, api: StandIn, head: dict[str, Any],
               env: dict[str, str]) -> tuple[int, str, dict[str, Any]]:
    job = glci.merged_job(jobs_of(MR_INPUTS), "scangate-report")
    job["variables"]["SCANGATE_SOURCE"] = ""  # the real CLI on PATH
    job["variables"]["SCANGATE_POLICY_FILE"] = str(tmp_path / "policy.yaml")
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True, exist_ok=True)
    write(out / "trivy-image.json", head)
    result = run_job_script(job, tmp_path, bin_dir(tmp_path),
                            {"CI_JOB_NAME": "scangate-report", **env})
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8")) \
        if (out / "summary.json").exists() else {}
    return result.returncode, result.stderr, summary


def test_a_merge_request_fails_on_the_new_finding_only(tmp_path: Path, api: StandIn) -> None:
    base_dir = tmp_path / "base"
    code, _, base = report_job(base_dir, api, image_report([vuln("CVE-OLD", severity="MEDIUM")]),
                               {"CI_PIPELINE_SOURCE": "push"})
    assert code == 0 and base["baseline"] is None and base["decision"] == "fail"
    api.gitlab_artifacts[("main", "scangate-report", "scangate-out/scangate/summary.json")] = (
        base_dir / "scangate-out" / "scangate" / "summary.json").read_bytes()
    head = image_report([vuln("CVE-OLD", severity="MEDIUM"),
                         vuln("CVE-2026-0001", pkg="curl", severity="MEDIUM")])
    code, stderr, summary = report_job(tmp_path / "mr", api, head, mr_env(api))
    assert code == 0, stderr  # the report job publishes; enforce fails on the decision
    assert summary["baseline"]["used"] is True
    assert summary["violations"] == [{"severity": "medium", "count": 1, "limit": 0}]
    assert {f["id"]: f["disposition"] for f in summary["findings"]} == {
        "CVE-OLD": "not_new", "CVE-2026-0001": "counted"}
    fetched = [r for r in api.requests if "/jobs/artifacts/" in r.path]
    assert fetched[0].headers["JOB-TOKEN"] == "job-token"
    assert fetched[0].query == {"job": ["scangate-report"]}


def test_without_a_target_branch_artifact_every_finding_counts(tmp_path: Path,
                                                               api: StandIn) -> None:
    code, stderr, summary = report_job(tmp_path, api, image_report([vuln(severity="MEDIUM")]),
                                       mr_env(api))
    assert code == 0 and "HTTP 404" in stderr
    assert summary["baseline"]["used"] is False and summary["counts"]["medium"] == 1


def test_the_note_is_written_once_and_updated(tmp_path: Path, api: StandIn) -> None:
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    from scangate._cli import main

    assert main(["gate", "--quiet", "--report", write(tmp_path / "r.json", image_report(
        [vuln("CVE-1", severity="CRITICAL")])), "--json-summary", str(out / "summary.json")]) == 1
    job = glci.merged_job(jobs_of(MR_INPUTS), "scangate-comment")
    job["variables"]["SCANGATE_SOURCE"] = ""
    env = mr_env(api, SCANGATE_GITLAB_TOKEN="glpat-reporter")
    for _ in range(2):
        result = run_job_script(job, tmp_path, bin_dir(tmp_path), env)
        assert result.returncode == 0, result.stderr
    notes = api.notes("42", 3)
    assert len(notes) == 1 and "FAILED" in notes[0]["body"]
    assert "for `scangate / service`" in notes[0]["body"]
    assert [r.method for r in api.requests if "/notes" in r.path] == ["GET", "POST", "GET", "PUT"]
    denied = run_job_script(job, tmp_path, bin_dir(tmp_path),
                            mr_env(api, SCANGATE_GITLAB_TOKEN="revoked"))
    assert denied.returncode == 2 and "HTTP 401" in denied.stderr
