"""scangate fetch-baseline: the base branch's last successful gate summary, then gate on it.

The APIs are the recording loopback stand-in of tests/gate/review_standin.py (a test double
that follows GitHub's "Workflow runs"/"Artifacts" and GitLab's "Job artifacts" REST docs).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scangate import ci_api
from scangate._cli import main

from tests.gate.review_standin import StandIn, serve
from tests.support.reports import image_report, vuln, write

CI_VARIABLES = ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_REPOSITORY", "GITHUB_WORKFLOW_REF",
                "CI_API_V4_URL", "CI_PROJECT_ID", "CI_JOB_TOKEN")
WORKFLOW_REF = "o/r/.github/workflows/ci.yml@refs/pull/7/merge"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(ci_api, "_sleep", lambda _seconds: None)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    with serve(StandIn(github_tokens={"actions-read": "github-actions[bot]"},
                       gitlab_job_tokens={"job-token"})) as state:
        monkeypatch.setenv("GITHUB_TOKEN", "actions-read")
        monkeypatch.setenv("GITHUB_API_URL", state.url)
        monkeypatch.setenv("GITHUB_REPOSITORY", "o/r")
        monkeypatch.setenv("GITHUB_WORKFLOW_REF", WORKFLOW_REF)
        yield state


def summary_of(tmp_path: Path, vulns: list[dict[str, Any]], name: str) -> bytes:
    out = tmp_path / f"{name}.summary.json"
    main(["gate", "--quiet", "--report", write(tmp_path / f"{name}.json", image_report(vulns)),
          "--json-summary", str(out)])
    return out.read_bytes()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def run(number: int, artifacts: list[tuple[str, bytes]], branch: str = "main",
        event: str = "push", conclusion: str = "success") -> dict[str, Any]:
    return {"id": number, "workflow": "ci.yml", "branch": branch, "event": event,
            "conclusion": conclusion, "html_url": f"https://github.example/o/r/actions/runs/"
                                                  f"{number}",
            "artifacts": [{"id": number * 10 + n, "name": name, "expired": False, "zip": data}
                          for n, (name, data) in enumerate(artifacts)]}


def fetch(tmp_path: Path, *args: str) -> tuple[int, Path]:
    out = tmp_path / "base-summary.json"
    code = main(["fetch-baseline", "--platform", "github", "--branch", "main", "--image",
                 "app", "--output", str(out), *args])
    return code, out


def test_github_fetches_the_newest_attempt_of_the_last_successful_push_run(
        tmp_path: Path, api: StandIn) -> None:
    base = summary_of(tmp_path, [vuln("CVE-OLD", severity="MEDIUM")], "base")
    stale = summary_of(tmp_path, [], "stale")
    api.github_runs += [
        run(1, [("scangate-reports-app-0a1b2c3d-1", zipped({"summary.json": stale}))]),
        run(2, [("scangate-reports-app-1a2b3c4d-1", zipped({"summary.json": stale})),
                ("scangate-reports-app-1a2b3c4d-2", zipped({"summary.json": base})),
                ("scangate-reports-application-1a2b3c4d-3", zipped({"summary.json": stale}))]),
        run(3, [], conclusion="failure"),
        run(4, [], event="pull_request"),
        run(5, [], branch="feature"),
    ]
    code, out = fetch(tmp_path)
    assert code == 0 and out.read_bytes() == base
    storage = [r for r in api.requests if r.path.startswith("/storage/")]
    assert [r.path for r in storage] == ["/storage/21.zip"]
    assert "Authorization" not in storage[0].headers, "the token must not follow the redirect"
    listed = next(r for r in api.requests if r.path.endswith("/runs"))
    assert listed.query == {"branch": ["main"], "event": ["push"], "status": ["success"],
                            "per_page": ["1"]}

    # The change adds a MEDIUM finding to the base's: with new_only it fails on that one only.
    (tmp_path / "policy.yaml").write_text("version: 1\nthresholds: {critical: 0, medium: 0}\n"
                                          "new_only: [medium]\n", encoding="utf-8")
    head = image_report([vuln("CVE-OLD", severity="MEDIUM"),
                         vuln("CVE-NEW", pkg="curl", severity="MEDIUM")])
    result = tmp_path / "head-summary.json"
    code = main(["gate", "--quiet", "--report", write(tmp_path / "head.json", head),
                 "--policy", str(tmp_path / "policy.yaml"), "--baseline", str(out),
                 "--json-summary", str(result)])
    doc = json.loads(result.read_text(encoding="utf-8"))
    assert code == 1
    assert doc["violations"] == [{"severity": "medium", "count": 1, "limit": 0}]
    assert {f["id"]: f["disposition"] for f in doc["findings"]} == {
        "CVE-OLD": "not_new", "CVE-NEW": "counted"}


@pytest.mark.parametrize(("runs", "why"), [
    ([], "no successful push run"),
    ([run(1, [("scangate-reports-app-0a1b2c3d-1", zipped({"x": b"{}"})),
              ("scangate-reports-app-9a1b2c3d-1", zipped({"x": b"{}"}))])], "ambiguous"),
    ([run(1, [("scangate-reports-app-0a1b2c3d-1", zipped({"reports/summary.json": b"{}"}))])],
     "no summary.json"),
    ([run(1, [("scangate-reports-app-0a1b2c3d-1", b"not a zip")])], "not a zip"),
    ([run(1, [("scangate-reports-other-0a1b2c3d-1", zipped({"summary.json": b"{}"}))])],
     "no reports artifact of app"),
])
def test_github_without_a_baseline_says_why_and_writes_nothing(
        tmp_path: Path, api: StandIn, runs: list[dict[str, Any]], why: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    api.github_runs += runs
    code, out = fetch(tmp_path)
    assert code == 0 and not out.exists()
    err = capsys.readouterr().err
    assert why in err and "every finding will count" in err


def test_github_deployed_takes_the_newest_run_that_deployed_not_the_newest_run(
        tmp_path: Path, api: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22 §1, "or the deployed digest's summary": the baseline is what runs. The run
    that deployed holds container-release.yml's scangate-deployed-* artifact (its deploy
    records); newer runs on the branch that did not deploy (a deploy waiting for an
    environment's reviewers, a failed rollout, or none asked for) are passed over. The marker
    is the proof: it counts in a run a later job failed, and when it has expired."""
    deployed = summary_of(tmp_path, [vuln("CVE-DEPLOYED", severity="MEDIUM")], "deployed")
    newer = summary_of(tmp_path, [], "newer")
    api.github_runs += [
        run(1, [("scangate-reports-app-0a1b2c3d-1", zipped({"summary.json": newer})),
                ("scangate-deployed-5e6f7a8b-1", zipped({"deploy-1.json": b"{}"}))]),
        run(2, [("scangate-reports-app-1a2b3c4d-1", zipped({"summary.json": deployed})),
                ("scangate-deployed-6e6f7a8b-1", zipped({"deploy-1.json": b"{}"}))],
            conclusion="failure"),
        run(3, [("scangate-reports-app-2a2b3c4d-1", zipped({"summary.json": newer}))]),
        run(4, [("scangate-reports-app-3a2b3c4d-1", zipped({"summary.json": newer}))],
            conclusion="failure"),
        run(5, [("scangate-reports-app-4a2b3c4d-1", zipped({"summary.json": newer})),
                ("scangate-deployed-8e6f7a8b-1", zipped({"deploy-1.json": b"{}"}))],
            branch="feature"),
    ]
    api.github_runs[1]["artifacts"][1]["expired"] = True
    code, out = fetch(tmp_path, "--from-run", "deployed")
    assert code == 0 and out.read_bytes() == deployed
    assert "the deployed run https://github.example/o/r/actions/runs/2" in capsys.readouterr().out
    listed = next(r for r in api.requests if r.path.endswith("/runs"))
    assert listed.query == {"branch": ["main"], "event": ["push"], "per_page": ["100"]}
    # Without --deployed: the branch's newest successful run.
    out.unlink()
    code, out = fetch(tmp_path)
    assert code == 0 and out.read_bytes() == newer


@pytest.mark.parametrize(("runs", "why"), [
    ([run(1, [("scangate-reports-app-0a1b2c3d-1", zipped({"summary.json": b"{}"}))]),
      run(2, [("scangate-deployed-0a1b2c3d", zipped({"x": b"{}"}))])],
     "none of the last 2 push runs of this workflow on main deployed"),
    ([run(1, [("scangate-reports-app-0a1b2c3d-1", zipped({"summary.json": b"{}"})),
              ("scangate-deployed-0a1b2c3d-1", zipped({"x": b"{}"}))])],
     "no reports artifact of app"),
])
def test_github_deployed_without_a_deployed_run_says_why(
        tmp_path: Path, api: StandIn, runs: list[dict[str, Any]], why: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    api.github_runs += runs
    if why.startswith("no reports"):
        runs[0]["artifacts"][0]["expired"] = True
    code, out = fetch(tmp_path, "--from-run", "deployed")
    assert code == 0 and not out.exists()
    err = capsys.readouterr().err
    assert why in err and "every finding will count" in err


def test_deployed_is_for_github_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fetch-baseline", "--platform", "gitlab", "--branch", "main", "--job", "j",
                 "--artifact-path", "s.json", "--output", str(tmp_path / "o"),
                 "--from-run", "deployed"])
    assert code == 2 and "--from-run is for --platform github" in capsys.readouterr().err


def test_github_token_without_actions_read_is_no_baseline(
        tmp_path: Path, api: StandIn, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "unknown")
    code, out = fetch(tmp_path)
    assert code == 0 and not out.exists()
    assert "HTTP 401" in capsys.readouterr().err


def test_gitlab_reads_the_default_branchs_latest_artifact_with_the_job_token(
        tmp_path: Path, api: StandIn, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    base = summary_of(tmp_path, [vuln()], "base")
    api.gitlab_artifacts[("main", "container-scanning", "scangate/summary.json")] = base
    monkeypatch.setenv("CI_API_V4_URL", api.url + "/api/v4")
    monkeypatch.setenv("CI_PROJECT_ID", "42")
    monkeypatch.setenv("CI_JOB_TOKEN", "job-token")
    out = tmp_path / "base.json"
    argv = ["fetch-baseline", "--platform", "gitlab", "--branch", "main", "--job",
            "container-scanning", "--artifact-path", "scangate/summary.json", "--output",
            str(out)]
    assert main(argv) == 0 and out.read_bytes() == base
    request = api.requests[-1]
    assert request.path == "/api/v4/projects/42/jobs/artifacts/main/raw/scangate/summary.json"
    assert request.query == {"job": ["container-scanning"]}
    out.unlink()
    monkeypatch.setenv("CI_JOB_TOKEN", "revoked")
    assert main(argv) == 0 and not out.exists()
    assert "HTTP 401" in capsys.readouterr().err
    monkeypatch.setenv("CI_JOB_TOKEN", "job-token")
    assert main([*argv[:6], "other", *argv[7:]]) == 0 and not out.exists()
    assert "HTTP 404" in capsys.readouterr().err


def test_a_bad_workflow_ref_is_no_baseline(tmp_path: Path, api: StandIn,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out = fetch(tmp_path, "--workflow-ref", "o/r/ci.yml@main")
    assert code == 0 and not out.exists()
    assert "workflow ref" in capsys.readouterr().err
    assert api.requests == []
