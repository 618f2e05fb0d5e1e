"""README's caller workflows are workflows GitHub would run, input by input.

The test extracts the YAML blocks under `<!-- caller-workflow -->` (the full release) and
`<!-- caller-workflow-scan-only -->` in README.md, checks each key
against container-scan.yml's `workflow_call` (names, types, secrets), checks the permissions it
grants cover every job's (GitHub docs, "Reusing workflows": a called workflow's jobs cannot
have more permissions than the caller grants, and asking for more fails the run at start-up),
and runs actionlint on it with the uses: pointed at the local workflow (actionlint then checks
inputs and secrets of a local reusable workflow). The same permission rule is checked for the
repository's own caller (ci.yml).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.github.actrun import REPO_ROOT, SELF_REPOSITORY

README = REPO_ROOT / "README.md"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "container-scan.yml"
MARKER = "<!-- caller-workflow -->"
SCAN_ONLY = "<!-- caller-workflow-scan-only -->"
CALLERS = pytest.mark.parametrize("marker", [MARKER, SCAN_ONLY], ids=["full", "scan-only"])
LEVEL = {"none": 0, "read": 1, "write": 2}
EXPRESSION = re.compile(r"^\$\{\{.*\}\}$", re.DOTALL)


def _load(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    if True in doc:  # YAML 1.1 reads `on` as a boolean
        doc["on"] = doc.pop(True)
    return doc


def caller_text(marker: str = MARKER) -> str:
    text = README.read_text(encoding="utf-8")
    assert text.count(marker) == 1, f"README.md must hold {marker} once"
    at = text.index(marker)
    match = re.search(r"```yaml\n(.*?)```", text[at:], re.DOTALL)
    assert match, f"no ```yaml block after {marker}"
    return match.group(1)


def _call() -> dict[str, Any]:
    spec = _load(WORKFLOW.read_text(encoding="utf-8"))["on"]["workflow_call"]
    assert isinstance(spec, dict)
    return spec


def _calling_jobs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [j for j in doc["jobs"].values() if "container-scan.yml" in str(j.get("uses", ""))]


@CALLERS
def test_the_caller_is_complete(marker: str) -> None:
    doc = _load(caller_text(marker))
    assert set(doc["on"]) >= {"push", "pull_request"}, "a caller needs on: push and pull_request"
    assert doc["permissions"] == {}
    (job,) = _calling_jobs(doc)
    uses = job["uses"]
    assert uses.startswith(f"{SELF_REPOSITORY}/.github/workflows/container-scan.yml@")
    assert re.fullmatch(r"[0-9a-f]{40}", uses.rsplit("@", 1)[1]), "pin by full commit SHA"
    if marker == MARKER:
        assert job["secrets"] == {"slack-webhook-url": "${{ secrets.SLACK_WEBHOOK_URL }}"}


def test_the_scan_only_caller_sends_nothing_anywhere() -> None:
    """Scan only: no AWS role, no push, deploy or Security Hub; the same pinned workflow."""
    (job,) = _calling_jobs(_load(caller_text(SCAN_ONLY)))
    (full,) = _calling_jobs(_load(caller_text(MARKER)))
    assert job["uses"] == full["uses"]
    switched_on = {k for k in ("push", "deploy", "security-hub") if job["with"].get(k)}
    assert not switched_on, switched_on
    assert not [k for k in job["with"] if k.endswith("role-arn")]


@CALLERS
def test_every_with_key_is_an_input_of_the_right_type(marker: str) -> None:
    inputs = _call()["inputs"]
    (job,) = _calling_jobs(_load(caller_text(marker)))
    problems = []
    for key, value in job["with"].items():
        spec = inputs.get(key)
        if spec is None:
            problems.append(f"{key}: not an input of container-scan.yml")
            continue
        if isinstance(value, str) and EXPRESSION.match(value):
            continue  # evaluated by GitHub; actionlint below checks its type
        wanted = {"string": str, "boolean": bool, "number": (int, float)}[spec["type"]]
        if not isinstance(value, wanted) or (spec["type"] == "number" and isinstance(value, bool)):
            problems.append(f"{key}: {value!r} is not a {spec['type']}")
    for key, spec in inputs.items():
        if spec.get("required") and key not in job["with"]:
            problems.append(f"{key}: required and missing")
    assert not problems, problems


def test_secrets_are_passed_by_name() -> None:
    declared = _call()["secrets"]
    (job,) = _calling_jobs(_load(caller_text()))
    for key, value in job["secrets"].items():
        assert key in declared, key
        # Repository secret names are letters, digits and underscores (GitHub docs, "Using
        # secrets in GitHub Actions", naming your secrets): `secrets: inherit` could never
        # match the hyphenated name, so it must be mapped by name.
        assert re.fullmatch(r"\$\{\{ secrets\.[A-Z0-9_]+ \}\}", value), value


def _required_permissions() -> dict[str, int]:
    needed: dict[str, int] = {}
    for job in _load(WORKFLOW.read_text(encoding="utf-8"))["jobs"].values():
        for scope, level in (job.get("permissions") or {}).items():
            needed[scope] = max(needed.get(scope, 0), LEVEL[level])
    return needed


def _short(granted: dict[str, str]) -> list[str]:
    return [
        f"{scope}: {level}"
        for scope, level in _required_permissions().items()
        if LEVEL.get(granted.get(scope, "none"), 0) < level
    ]


@CALLERS
def test_readme_caller_grants_what_every_job_asks(marker: str) -> None:
    (job,) = _calling_jobs(_load(caller_text(marker)))
    assert not _short(job["permissions"]), _short(job["permissions"])


def test_repository_ci_grants_what_every_job_asks() -> None:
    ci = _load((REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    for job in _calling_jobs(ci):
        assert not _short(job["permissions"]), _short(job["permissions"])


@CALLERS
def test_actionlint_accepts_the_caller_against_the_local_workflow(
    tmp_path: Path, marker: str,
) -> None:
    actionlint = Path(sys.executable).with_name("actionlint")
    if not actionlint.exists():
        found = shutil.which("actionlint")
        if not found:
            pytest.fail("actionlint not found: run `make setup` (requirements/lint.txt)")
        actionlint = Path(found)
    # actionlint resolves `./.github/workflows/...` from the project root, found by its .git.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy(WORKFLOW, workflows / "container-scan.yml")
    local = re.sub(
        rf"uses: {re.escape(SELF_REPOSITORY)}/\.github/workflows/container-scan\.yml@\S+.*",
        "uses: ./.github/workflows/container-scan.yml",
        caller_text(marker),
    )
    assert local != caller_text(marker)
    (workflows / "caller.yml").write_text(local, encoding="utf-8")
    proc = subprocess.run(
        [str(actionlint), "-no-color", "-shellcheck=", str(workflows / "caller.yml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # actionlint does check inputs against the local workflow: an unknown one is refused.
    (workflows / "caller.yml").write_text(local.replace("image-name:", "image-nam:"), "utf-8")
    proc = subprocess.run(
        [str(actionlint), "-no-color", "-shellcheck=", str(workflows / "caller.yml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0 and "image-nam" in proc.stdout


@CALLERS
def test_the_pinned_workflow_takes_every_input_the_caller_passes(marker: str) -> None:
    """README pins a commit: that commit's workflow (not only this one) must declare every
    input and secret the caller passes, or GitHub refuses the run."""
    (job,) = _calling_jobs(_load(caller_text(marker)))
    commit = job["uses"].rsplit("@", 1)[1]
    proc = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "show", f"{commit}:.github/workflows/container-scan.yml"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"{commit} is not in this clone (shallow?)")
    call = _load(proc.stdout)["on"]["workflow_call"]
    assert not set(job["with"]) - set(call["inputs"]), set(job["with"]) - set(call["inputs"])
    assert not set(job.get("secrets") or {}) - set(call["secrets"])
