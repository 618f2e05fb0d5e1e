"""actions/comment's step (scangate comment-job) against the loopback stand-in of GitHub's
comments API (tests/gate/review_standin.py, a test double): the newest attempt's summary (never
one named above this attempt), one comment per key updated in place, nothing for a fork's pull
request or outside pull requests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from scangate._cli import main

from tests.gate.review_standin import StandIn, serve
from tests.github.test_workflow_steps import SCANGATE, Step, action_script, run_script
from tests.support.reports import image_report, vuln, write

COMMENT = Path(__file__).resolve().parents[2] / "actions" / "comment" / "action.yml"
REPO = "acme/my-service"  # run_script's GITHUB_REPOSITORY


@pytest.fixture
def api() -> Iterator[StandIn]:
    with serve(StandIn(github_tokens={"bot": "github-actions[bot]"})) as state:
        yield state


def artifact(root: Path, name: str, vulns: list[dict[str, object]]) -> None:
    folder = root / "artifacts" / name
    folder.mkdir(parents=True)
    assert main(["gate", "--quiet", "--report", write(root / f"{name}.json", image_report(vulns)),
                 "--json-summary", str(folder / "summary.json")]) in (0, 1)


def step(tmp_path: Path, api: StandIn, **env: str) -> Step:
    values = {"SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
              "GITHUB_TOKEN": "bot", "GITHUB_API_URL": api.url, "INPUT_IMAGE": "api",
              "INPUT_WORKFLOW_NAME": "ci", "INPUT_NUMBER": "7", "INPUT_HEAD_REPOSITORY": REPO,
              "INPUT_ARTIFACTS": str(tmp_path / "artifacts"), "INPUT_ATTEMPT": "2", **env}
    return run_script(action_script(COMMENT, "Comment"), values, tmp_path / "step")


def test_the_newest_attempt_is_commented_once_and_updated(tmp_path: Path, api: StandIn) -> None:
    artifact(tmp_path, "scangate-reports-api-0a1b2c3d-1", [vuln("CVE-OLD", severity="CRITICAL")])
    artifact(tmp_path, "scangate-reports-api-0a1b2c3d-2", [vuln("CVE-NEW", severity="CRITICAL")])
    artifact(tmp_path, "scangate-reports-api2-0a1b2c3d-3", [vuln("CVE-X", severity="CRITICAL")])
    # Named for an attempt above this one (2): not this run's, never read.
    artifact(tmp_path, "scangate-reports-api-0a1b2c3d-3", [vuln("CVE-LATER", severity="LOW")])
    first = step(tmp_path, api)
    assert first.returncode == 0, first.output
    comments = api.comments(REPO, 7)
    assert len(comments) == 1 and "`CVE-NEW`" in comments[0]["body"]
    assert "CVE-OLD" not in comments[0]["body"] and "CVE-X" not in comments[0]["body"]
    assert "CVE-LATER" not in comments[0]["body"]
    assert "`ci / api`" in comments[0]["body"]
    assert first.outputs["comment-id"] == str(comments[0]["id"])
    shutil.rmtree(tmp_path / "artifacts" / "scangate-reports-api-0a1b2c3d-2")
    second = step(tmp_path, api)
    assert second.returncode == 0, second.output
    assert len(api.comments(REPO, 7)) == 1 and "`CVE-OLD`" in comments[0]["body"]


@pytest.mark.parametrize(("env", "said"), [
    ({"INPUT_HEAD_REPOSITORY": "someone/fork"}, "from a fork"),
    ({"INPUT_NUMBER": ""}, "not a pull request"),
])
def test_no_comment_where_none_can_be_written(tmp_path: Path, api: StandIn,
                                              env: dict[str, str], said: str) -> None:
    artifact(tmp_path, "scangate-reports-api-0a1b2c3d-1", [vuln()])
    result = step(tmp_path, api, **env)
    assert result.returncode == 0 and said in result.output
    assert api.requests == [] and "comment-id" not in result.outputs


def test_two_calls_gating_one_image_name_are_an_error(tmp_path: Path, api: StandIn) -> None:
    artifact(tmp_path, "scangate-reports-api-0a1b2c3d-1", [vuln()])
    artifact(tmp_path, "scangate-reports-api-9a1b2c3d-1", [vuln()])
    result = step(tmp_path, api)
    assert result.returncode == 2 and "2 workflow calls" in result.output
    assert api.requests == []


def test_a_gate_that_wrote_no_summary_gets_no_comment(tmp_path: Path, api: StandIn) -> None:
    (tmp_path / "artifacts" / "scangate-reports-api-0a1b2c3d-1").mkdir(parents=True)
    result = step(tmp_path, api)
    assert result.returncode == 0 and "no gate summary" in result.output
    assert api.requests == []
