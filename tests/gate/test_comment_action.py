"""actions/comment's step (scangate comment-job) against the loopback stand-in of GitHub's
comments API (tests/gate/review_standin.py, a test double): the summary of the reports artifact
downloaded by id, one comment per key updated in place, nothing for a fork's pull request or
outside pull requests."""

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


def artifact(root: Path, vulns: list[dict[str, object]]) -> None:
    """The reports artifact as download-artifact leaves one downloaded by id: its files at
    the root of `path`."""
    folder = root / "artifact"
    folder.mkdir(parents=True, exist_ok=True)
    assert main(["gate", "--quiet", "--report", write(root / "report.json", image_report(vulns)),
                 "--json-summary", str(folder / "summary.json")]) in (0, 1)


def step(tmp_path: Path, api: StandIn, **env: str) -> Step:
    values = {"SCANGATE": SCANGATE, "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
              "GITHUB_TOKEN": "bot", "GITHUB_API_URL": api.url, "INPUT_IMAGE": "api",
              "INPUT_WORKFLOW_NAME": "ci", "INPUT_NUMBER": "7", "INPUT_HEAD_REPOSITORY": REPO,
              "INPUT_ARTIFACTS": str(tmp_path / "artifact"), **env}
    return run_script(action_script(COMMENT, "Comment"), values, tmp_path / "step")


def test_the_downloaded_summary_is_commented_once_and_updated(tmp_path: Path,
                                                              api: StandIn) -> None:
    artifact(tmp_path, [vuln("CVE-NEW", severity="CRITICAL")])
    first = step(tmp_path, api)
    assert first.returncode == 0, first.output
    comments = api.comments(REPO, 7)
    assert len(comments) == 1 and "`CVE-NEW`" in comments[0]["body"]
    assert "`ci / api`" in comments[0]["body"]
    assert first.outputs["comment-id"] == str(comments[0]["id"])
    shutil.rmtree(tmp_path / "artifact")
    artifact(tmp_path, [vuln("CVE-OLD", severity="CRITICAL")])
    second = step(tmp_path, api)
    assert second.returncode == 0, second.output
    comments = api.comments(REPO, 7)
    assert len(comments) == 1 and "`CVE-OLD`" in comments[0]["body"]


def test_the_reports_are_downloaded_by_id_only() -> None:
    """Never by name or pattern: another job of the run could upload a `scangate-reports-*`
    artifact; and no download at all for an empty id, which would fetch every artifact."""
    import yaml

    steps = yaml.safe_load(COMMENT.read_text(encoding="utf-8"))["runs"]["steps"]
    [download] = [s for s in steps if str(s.get("uses", "")).startswith(
        "actions/download-artifact@")]
    assert download["with"] == {"artifact-ids": "${{ inputs.artifact-id }}",
                                "path": "${{ runner.temp }}/scangate-comment"}
    assert download["if"] == "inputs.artifact-id != ''"


@pytest.mark.parametrize(("env", "said"), [
    ({"INPUT_HEAD_REPOSITORY": "someone/fork"}, "from a fork"),
    ({"INPUT_NUMBER": ""}, "not a pull request"),
])
def test_no_comment_where_none_can_be_written(tmp_path: Path, api: StandIn,
                                              env: dict[str, str], said: str) -> None:
    artifact(tmp_path, [vuln()])
    result = step(tmp_path, api, **env)
    assert result.returncode == 0 and said in result.output
    assert api.requests == [] and "comment-id" not in result.outputs


def test_a_gate_that_wrote_no_summary_gets_no_comment(tmp_path: Path, api: StandIn) -> None:
    (tmp_path / "artifact").mkdir(parents=True)
    result = step(tmp_path, api)
    assert result.returncode == 0 and "no gate summary" in result.output
    assert api.requests == []
