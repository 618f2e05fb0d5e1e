"""How the reusable workflow wires review feedback, read from its YAML.

- The gate step of a pull request fetches its baseline: `baseline-branch` is the pull request's
  base (`github.base_ref`, empty on a push: no baseline) and `baseline-image` the matrix image.
  Reading the base run needs `actions: read`: a gate job that declares its permissions
  declares it; one that takes the caller's grant fetches nothing without it (a warning, and
  every finding counts).
- No job of the reusable workflow asks for `pull-requests: write`: a called workflow's job may
  not ask for more than the caller grants, and the check fails the whole call at start-up for
  every caller that does not grant it, before any `if:` (GitHub docs, "Reusing workflow
  configurations", access and permissions; ../shared/notes/platform-rules.md). The comment is a
  job of the caller's own (actions/comment).
- Inputs reach the comment step's shell through `env:`, never `${{ }}` inside `run:`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def gate_steps() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path in WORKFLOWS:
        for name, job in (load(path).get("jobs") or {}).items():
            for step in job.get("steps") or []:
                if re.search(r"/actions/gate@", str(step.get("uses", ""))):
                    found.append((f"{path.name}:{name}", job, step))
    return found


def test_the_gate_step_of_a_pull_request_fetches_its_baseline() -> None:
    """container-scan.yml is what pull requests run (container-release.yml's jobs act on
    pushes, where there is no base to compare with)."""
    steps = [s for s in gate_steps() if s[0].startswith("container-scan.yml:")]
    assert steps, "no job of container-scan.yml uses actions/gate"
    for where, job, step in steps:
        given = step.get("with") or {}
        assert given.get("baseline-branch") == "${{ github.base_ref }}", where
        assert given.get("baseline-image") == "${{ matrix.image.name }}", where
        if "permissions" in job:
            assert (job["permissions"] or {}).get("actions") == "read", where


def test_no_called_job_asks_for_pull_requests_write() -> None:
    for path in WORKFLOWS:
        doc = load(path)
        if "workflow_call" not in (doc.get(True) or doc.get("on") or {}):
            continue
        for name, job in (doc.get("jobs") or {}).items():
            permissions = job.get("permissions") or {}
            if isinstance(permissions, dict):
                assert permissions.get("pull-requests") in (None, "none", "read"), (path, name)


def test_the_comment_action_passes_inputs_through_env_only() -> None:
    action = load(REPO / "actions" / "comment" / "action.yml")
    for step in action["runs"]["steps"]:
        assert "${{" not in str(step.get("run", "")), step.get("name")
