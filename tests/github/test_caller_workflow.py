"""The documented callers are workflows GitHub would start, input by input and grant by grant.

Three caller shapes are documented, each a YAML block after a marker: scan only
(`<!-- caller-workflow-scan-only -->`, README.md), the full release (`<!-- caller-workflow -->`,
README.md) and scan + push (`<!-- caller-workflow-scan-push -->`, docs/github-reference.md).

GitHub's start-up rule, encoded here: before any job runs and before any `if:` is evaluated,
every nested job's permissions (its own `permissions:`, else the called workflow's top-level
one, else the calling job's grants) must be within what the calling job grants, or the whole
run fails ("The nested job 'X' is requesting 'id-token: write', but is only allowed 'id-token:
none'"). Sources: GitHub docs, "Reusing workflow configurations" (access and permissions: the
GITHUB_TOKEN permissions passed from the caller can only be downgraded by the called workflow);
grafana/loki#22151; stepbrobd/atelier#13 (a reusable workflow whose OIDC job only some callers
use makes `id-token: write` "always required"); hyperpolymath/standards#451 (callers granting
`contents: read` fail at start-up when a nested job asks for more). actionlint does not check it,
so this test does. ../shared/notes/platform-rules.md lists the rule.

Each shape is also checked input by input against the called workflow's `workflow_call`, run
through actionlint with its `uses:` pointed at the local workflows, and (tests/github/
test_act_pipeline.py) run under act verbatim.
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
REFERENCE = REPO_ROOT / "docs" / "github-reference.md"
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "container-scan.yml"
RELEASE = WORKFLOWS / "container-release.yml"
MARKER = "<!-- caller-workflow -->"
SCAN_ONLY = "<!-- caller-workflow-scan-only -->"
SCAN_PUSH = "<!-- caller-workflow-scan-push -->"
# Where each shape is documented.
SHAPES = {SCAN_ONLY: README, MARKER: README, SCAN_PUSH: REFERENCE}
CALLERS = pytest.mark.parametrize(
    "marker", [SCAN_ONLY, SCAN_PUSH, MARKER], ids=["scan-only", "scan-push", "full"]
)
LEVEL = {"none": 0, "read": 1, "write": 2}
EXPRESSION = re.compile(r"^\$\{\{.*\}\}$", re.DOTALL)
# The GITHUB_TOKEN scopes a `permissions:` mapping can name (GitHub docs, "Workflow syntax",
# jobs.<job_id>.permissions).
SCOPES = ("actions", "attestations", "checks", "contents", "deployments", "discussions",
          "id-token", "issues", "models", "packages", "pages", "pull-requests",
          "repository-projects", "security-events", "statuses")  # fmt: skip


def _load(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    if True in doc:  # YAML 1.1 reads `on` as a boolean
        doc["on"] = doc.pop(True)
    return doc


def caller_text(marker: str = MARKER) -> str:
    path = SHAPES[marker]
    text = path.read_text(encoding="utf-8")
    assert text.count(marker) == 1, f"{path.name} must hold {marker} once"
    at = text.index(marker)
    match = re.search(r"```yaml\n(.*?)```", text[at:], re.DOTALL)
    assert match, f"no ```yaml block after {marker}"
    return match.group(1)


def _called(job: dict[str, Any]) -> Path | None:
    """The local file of the reusable workflow a calling job uses (ours only)."""
    uses = str(job.get("uses", ""))
    for path in (WORKFLOW, RELEASE):
        if f".github/workflows/{path.name}" in uses:
            return path
    return None


def _calling_jobs(doc: dict[str, Any], path: Path = WORKFLOW) -> list[dict[str, Any]]:
    return [j for j in doc["jobs"].values() if _called(j) == path]


def _call(path: Path = WORKFLOW) -> dict[str, Any]:
    spec = _load(path.read_text(encoding="utf-8"))["on"]["workflow_call"]
    assert isinstance(spec, dict)
    return spec


def _grants(permissions: Any) -> dict[str, int]:
    """A `permissions:` value as scope -> level; `read-all`/`write-all` name every scope."""
    if permissions in ("read-all", "write-all"):
        return dict.fromkeys(SCOPES, LEVEL[permissions.split("-")[0]])
    return {scope: LEVEL[level] for scope, level in (permissions or {}).items()}


def start_up_violations(calling_job: dict[str, Any], called: dict[str, Any]) -> list[str]:
    """What GitHub refuses at start-up: each nested job's permissions beyond the caller's grant.

    A calling job without `permissions:` grants the repository's default token (which can be
    read-only): the documented callers always state theirs, so that is a violation too."""
    if "permissions" not in calling_job:
        return ["the calling job states no permissions (the repository default then applies)"]
    granted = _grants(calling_job["permissions"])
    top = called.get("permissions")
    problems = []
    for job_id, job in called["jobs"].items():
        if "permissions" in job:
            asked = _grants(job["permissions"])
        elif top is not None:
            asked = _grants(top)
        else:
            continue  # inherits exactly the calling job's grant: never more
        for scope, level in asked.items():
            if granted.get(scope, 0) < level:
                problems.append(
                    f"nested job '{job_id}' is requesting '{scope}: {_name(level)}', but is "
                    f"only allowed '{scope}: {_name(granted.get(scope, 0))}'"
                )
    return problems


def _name(level: int) -> str:
    return {v: k for k, v in LEVEL.items()}[level]


def _violations(doc: dict[str, Any]) -> list[str]:
    problems = []
    for job_id, job in doc["jobs"].items():
        path = _called(job)
        if path is not None:
            called = _load(path.read_text(encoding="utf-8"))
            problems += [f"{job_id}: {p}" for p in start_up_violations(job, called)]
    return problems


@CALLERS
def test_github_would_start_the_caller(marker: str) -> None:
    doc = _load(caller_text(marker))
    assert _called_any(doc), f"{marker}: calls none of our workflows"
    assert not _violations(doc), _violations(doc)


def _called_any(doc: dict[str, Any]) -> bool:
    return any(_called(j) for j in doc["jobs"].values())


def test_the_rule_refuses_what_github_refuses() -> None:
    """The check is not vacuous: yesterday's single workflow (a plan job asking for id-token)
    called by a scan-only caller is the start-up failure of grafana/loki#22151."""
    called = {"jobs": {"plan": {"permissions": {"id-token": "write"}},
                       "gate": {"permissions": {"contents": "read"}}}}  # fmt: skip
    problems = start_up_violations({"permissions": {"contents": "read"}}, called)
    assert problems == [
        "nested job 'plan' is requesting 'id-token: write', but is only allowed 'id-token: none'"
    ]
    # A workflow-level `permissions:` binds the jobs that name none.
    called = {"permissions": {"security-events": "write"}, "jobs": {"gate": {}}}
    assert start_up_violations({"permissions": {"contents": "read"}}, called)
    # A job that names none in a workflow that names none inherits the grant: never refused.
    assert not start_up_violations({"permissions": {"contents": "read"}}, {"jobs": {"gate": {}}})
    assert start_up_violations({}, {"jobs": {"gate": {}}})


def test_the_scan_workflow_never_asks_for_id_token() -> None:
    """No caller of container-scan.yml has to grant id-token: nothing in it can mint a token an
    AWS role trusts, on any branch."""
    doc = _load(WORKFLOW.read_text(encoding="utf-8"))
    assert "permissions" not in doc, (
        "no workflow-level permissions: the gate inherits the caller's grant (see the file's top)"
    )
    inheriting = [j for j, job in doc["jobs"].items() if "permissions" not in job]
    assert inheriting == ["gate"], inheriting
    for job_id, job in doc["jobs"].items():
        asked = _grants(job.get("permissions"))
        assert "id-token" not in asked, job_id
        assert set(asked) <= {"contents"}, (job_id, asked)


def test_every_aws_job_is_in_the_release_workflow() -> None:
    doc = _load(RELEASE.read_text(encoding="utf-8"))
    assert doc["permissions"] == {}
    for job_id in ("limits", "push", "security-hub", "deploy", "results"):
        assert doc["jobs"][job_id]["permissions"]["id-token"] == "write", job_id
    assert doc["jobs"]["plan"]["permissions"] == {}


@CALLERS
def test_only_the_release_job_is_granted_id_token(marker: str) -> None:
    doc = _load(caller_text(marker))
    assert doc["permissions"] == {}
    for job in doc["jobs"].values():
        if "id-token" in (job.get("permissions") or {}):
            assert _called(job) == RELEASE, job
            assert job.get("needs"), "the release job runs after the scan job"
    if marker == SCAN_ONLY:
        (job,) = doc["jobs"].values()
        assert job["permissions"] == {"contents": "read"}
        assert job["with"].get("upload-sarif") is False, "without security-events, do not upload"


@CALLERS
def test_the_caller_is_complete(marker: str) -> None:
    doc = _load(caller_text(marker))
    assert set(doc["on"]) >= {"push", "pull_request", "merge_group"}, doc["on"]
    (job,) = _calling_jobs(doc)
    uses = job["uses"]
    assert uses.startswith(f"{SELF_REPOSITORY}/.github/workflows/container-scan.yml@")
    for any_job in doc["jobs"].values():
        pin = str(any_job["uses"]).split("#")[0].strip().rsplit("@", 1)[1]
        assert re.fullmatch(r"[0-9a-f]{40}", pin), "pin by full commit SHA"
        assert pin == uses.rsplit("@", 1)[1], "both workflows at one release"
    releases = _calling_jobs(doc, RELEASE)
    if marker == SCAN_ONLY:
        assert not releases
    else:
        (release,) = releases
        (scan_id,) = [k for k, v in doc["jobs"].items() if v is job]
        assert release["needs"] == scan_id
        assert release["with"]["scan"] == f"${{{{ needs.{scan_id}.outputs.handoff }}}}"


def test_the_quick_starts_are_short() -> None:
    assert len(caller_text(SCAN_ONLY).splitlines()) <= 15
    assert len(caller_text(MARKER).splitlines()) <= 35


def test_the_full_release_quick_start_says_which_environments_to_protect() -> None:
    """Issue 19 §5: the environments the full release's jobs run in (the push job's
    `push-environment`, the deploy job's `environment`, its default when the caller names
    none) are named in the quick start, restricted to `main`, with reviewers on the deploy's:
    an environment's protection rules are what stop another branch's run from using the
    roles that trust it (GitHub docs, "Managing environments for deployment")."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Quick start: GitHub, full release")
    advice = " ".join(text[start:text.index(MARKER)].split())
    given = _load(caller_text(MARKER))["jobs"]["release"]["with"]
    inputs = _load(RELEASE.read_text(encoding="utf-8"))["on"]["workflow_call"]["inputs"]
    push_env = given["push-environment"]
    deploy_env = given.get("environment", inputs["environment"]["default"])
    assert given.get("push") is True and given.get("deploy") is True
    assert f"`{push_env}`" in advice and f"`{deploy_env}`" in advice, advice
    assert "restricted to `main`" in advice
    assert f"required reviewers on `{deploy_env}`" in advice


@CALLERS
def test_every_with_key_is_an_input_of_the_right_type(marker: str) -> None:
    doc = _load(caller_text(marker))
    problems = []
    for path in (WORKFLOW, RELEASE):
        inputs = _call(path)["inputs"]
        for job in _calling_jobs(doc, path):
            for key, value in job["with"].items():
                spec = inputs.get(key)
                if spec is None:
                    problems.append(f"{key}: not an input of {path.name}")
                    continue
                if isinstance(value, str) and EXPRESSION.match(value):
                    continue  # evaluated by GitHub; actionlint below checks its type
                wanted = {"string": str, "boolean": bool, "number": (int, float)}[spec["type"]]
                if not isinstance(value, wanted) or (
                    spec["type"] == "number" and isinstance(value, bool)
                ):
                    problems.append(f"{key}: {value!r} is not a {spec['type']}")
            for key, spec in inputs.items():
                if spec.get("required") and key not in job["with"]:
                    problems.append(f"{key}: required by {path.name} and missing")
    assert not problems, problems


def test_secrets_are_passed_by_name() -> None:
    declared = _call()["secrets"]
    for marker in SHAPES:
        for job in _calling_jobs(_load(caller_text(marker))):
            for key, value in (job.get("secrets") or {}).items():
                assert key in declared, key
                # Repository secret names are letters, digits and underscores (GitHub docs,
                # "Using secrets in GitHub Actions"): `secrets: inherit` could never match the
                # hyphenated name, so it must be mapped by name.
                assert re.fullmatch(r"\$\{\{ secrets\.[A-Z0-9_]+ \}\}", value), value


def test_repository_ci_would_start() -> None:
    ci = _load((WORKFLOWS / "ci.yml").read_text(encoding="utf-8"))
    assert _calling_jobs(ci) and _calling_jobs(ci, RELEASE)
    assert not _violations(ci), _violations(ci)


def _actionlint() -> Path:
    actionlint = Path(sys.executable).with_name("actionlint")
    if not actionlint.exists():
        found = shutil.which("actionlint")
        if not found:
            pytest.fail("actionlint not found: run `make setup` (requirements/lint.txt)")
        actionlint = Path(found)
    return actionlint


def local_caller(text: str) -> str:
    """The caller with its `uses:` pointed at the local workflows."""
    return re.sub(
        rf"uses: {re.escape(SELF_REPOSITORY)}/\.github/workflows/(container-[a-z]+\.yml)@\S+.*",
        r"uses: ./.github/workflows/\1",
        text,
    )


@CALLERS
def test_actionlint_accepts_the_caller_against_the_local_workflow(
    tmp_path: Path, marker: str,
) -> None:
    actionlint = _actionlint()
    # actionlint resolves `./.github/workflows/...` from the project root, found by its .git.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy(WORKFLOW, workflows / WORKFLOW.name)
    shutil.copy(RELEASE, workflows / RELEASE.name)
    local = local_caller(caller_text(marker))
    assert local != caller_text(marker)
    (workflows / "caller.yml").write_text(local, encoding="utf-8")
    proc = subprocess.run(
        [str(actionlint), "-no-color", "-shellcheck=", str(workflows / "caller.yml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # actionlint does check inputs against the local workflow: an unknown one is refused.
    (workflows / "caller.yml").write_text(local.replace("policy:", "polcy:"), "utf-8")
    proc = subprocess.run(
        [str(actionlint), "-no-color", "-shellcheck=", str(workflows / "caller.yml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0 and "polcy" in proc.stdout


@CALLERS
def test_the_pinned_workflow_takes_every_input_the_caller_passes(marker: str) -> None:
    """The docs pin a commit: that commit's workflows (not only these) must declare every
    input and secret the caller passes, or GitHub refuses the run."""
    doc = _load(caller_text(marker))
    for job in doc["jobs"].values():
        path = _called(job)
        assert path is not None
        commit = job["uses"].split("#")[0].strip().rsplit("@", 1)[1]
        proc = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "show",
             f"{commit}:{path.relative_to(REPO_ROOT).as_posix()}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0 and "does not exist" not in proc.stderr:
            pytest.skip(f"{commit} is not in this clone (shallow?)")
        assert proc.returncode == 0, f"{commit} has no {path.name}: cut a release"
        call = _load(proc.stdout)["on"]["workflow_call"]
        assert not set(job["with"]) - set(call["inputs"]), set(job["with"]) - set(call["inputs"])
        assert not set(job.get("secrets") or {}) - set(call.get("secrets") or {})
        pinned = _load(proc.stdout)
        assert not start_up_violations(job, pinned), start_up_violations(job, pinned)
