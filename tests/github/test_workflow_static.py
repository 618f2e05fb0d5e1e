"""Static rules for the workflows and composite actions (see docs/github-actions.md, "Hygiene").

Read from the YAML and the raw text, no GitHub needed: SHA pins with version comments, one SHA
per action, `permissions: {}` at the top, a reasoned permission set and a timeout per job, no
expressions inside `run:`, strict bash, no persisted credentials, documented inputs, stand-ins
that accept what the workflows pass, Dependabot covering every action folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.github.actrun import REPO_ROOT, SELF_REPOSITORY, STANDINS, remote_uses, workflow_files

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((REPO_ROOT / "actions").glob("*/action.yml"))
STANDIN_FILES = sorted(STANDINS.rglob("action.yml"))
SHARED_PINS = REPO_ROOT.parent / "shared" / "action-pins.md"
SHA = re.compile(r"^[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+$")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), path
    if True in doc:  # YAML 1.1 reads the key `on` as a boolean
        doc["on"] = doc.pop(True)
    return doc


def rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def all_steps() -> list[tuple[str, dict[str, Any]]]:
    """(where, step) for every step of every workflow job and composite action."""
    found = []
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            for index, step in enumerate(job.get("steps", [])):
                found.append((f"{rel(path)} {job_id} step {index + 1}", step))
    for path in [*ACTIONS, *STANDIN_FILES]:
        for index, step in enumerate(load(path)["runs"].get("steps", [])):
            found.append((f"{rel(path)} step {index + 1}", step))
    return found


def test_there_is_something_to_check() -> None:
    assert {p.name for p in WORKFLOWS} >= {"container-scan.yml", "ci.yml"}
    assert {p.parent.name for p in ACTIONS} >= {"gate", "securityhub", "setup"}


def test_every_remote_uses_is_pinned_by_sha_with_a_version_comment() -> None:
    uses = remote_uses(workflow_files())
    assert uses, "no remote action found: the pattern is broken"
    bad = [
        f"{rel(path)}:{line}: {m.group(0).strip()}"
        for path, line, m in uses
        if not SHA.match(m["ref"]) or not VERSION_COMMENT.match((m["comment"] or "").strip())
    ]
    assert not bad, "pin by full commit SHA with a `# vX.Y.Z` comment:\n" + "\n".join(bad)


def test_every_uses_line_is_either_remote_or_local() -> None:
    """A `uses:` the pin rule above did not see would escape it."""
    unseen = []
    for path in workflow_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip().removeprefix("- ").strip()
            if stripped.startswith("uses:"):
                target = stripped.split(":", 1)[1].strip()
                if not target.startswith("./") and not any(
                    p == path and n == number for p, n, _ in remote_uses([path])
                ):
                    unseen.append(f"{rel(path)}:{number}: {line.strip()}")
    assert not unseen, unseen


def test_each_action_has_one_sha_everywhere() -> None:
    shas: dict[str, set[str]] = {}
    for _, _, m in remote_uses(workflow_files()):
        shas.setdefault(m["repo"].lower(), set()).add(f"{m['ref']} # {m['comment']}")
    split = {repo: refs for repo, refs in shas.items() if len(refs) > 1}
    assert not split, f"one action, several pins: {split}"


@pytest.mark.skipif(
    not SHARED_PINS.exists(), reason="../shared/action-pins.md is absent (a user's clone)"
)
def test_pins_match_the_recorded_release_commits() -> None:
    """Cross-check with the SHAs read from each action's release tags (../shared)."""
    recorded: dict[tuple[str, str], str] = {}
    for row in SHARED_PINS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`[0-9a-f]{40}`", cells[2]):
            repo = cells[0].split(" ")[0].lower()
            recorded[(repo, cells[1])] = cells[2].strip("`")
    wrong = []
    for path, line, m in remote_uses(workflow_files()):
        if m["repo"] == SELF_REPOSITORY:  # scangate's own: tests/github/test_release_pins.py
            continue
        key = (m["repo"].lower(), (m["comment"] or "").strip())
        if recorded.get(key) != m["ref"]:
            wrong.append(
                f"{rel(path)}:{line}: {m['repo']}@{m['ref']} # {key[1]} "
                f"(recorded: {recorded.get(key)})"
            )
    assert not wrong, "\n".join(wrong)


# The one job that inherits the calling job's grant on purpose: container-scan.yml's gate uploads
# SARIF only when the caller grants security-events (tests/github/test_caller_workflow.py).
INHERITS = {("container-scan.yml", "gate")}


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_workflow_starts_with_no_permissions(path: Path) -> None:
    if any(name == path.name for name, _ in INHERITS):
        # A workflow-level `permissions: {}` would bind the inheriting job to none.
        assert "permissions" not in load(path), f"{rel(path)}: its gate inherits the caller's"
        return
    assert load(path).get("permissions") == {}, f"{rel(path)}: add `permissions: {{}}` at the top"


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_every_job_states_its_permissions_and_timeout(path: Path) -> None:
    problems = []
    text = path.read_text(encoding="utf-8")
    for job_id, job in load(path)["jobs"].items():
        if (path.name, job_id) in INHERITS:
            # It says why, in a comment where its `permissions:` would be.
            block = text.split(f"\n  {job_id}:\n", 1)[1].split("\n    steps:", 1)[0]
            if "permissions" in job or "# No `permissions:` on purpose" not in block:
                problems.append(f"{job_id}: must inherit, and say why")
        elif "permissions" not in job:
            problems.append(f"{job_id}: no permissions")
        if "uses" not in job and "timeout-minutes" not in job:
            problems.append(f"{job_id}: no timeout-minutes")
    assert not problems, f"{rel(path)}: {problems}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_every_granted_permission_says_why(path: Path) -> None:
    """Each `scope: read|write` under a job's `permissions:` carries a `# Needed ...` comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    missing = []
    for index, line in enumerate(lines):
        match = re.match(r"^(\s+)permissions:\s*$", line)
        if not match:
            continue
        indent = len(match.group(1))
        for follow in lines[index + 1 :]:
            if follow.strip() and len(follow) - len(follow.lstrip()) <= indent:
                break
            scope = re.match(r"^\s+([a-z-]+):\s*(read|write)\s*(#\s*(.*))?$", follow)
            if scope and not (scope.group(4) or "").startswith("Needed"):
                missing.append(follow.strip())
    assert not missing, f"{rel(path)}: permissions without a `# Needed ...` reason: {missing}"


def test_no_expression_inside_run() -> None:
    offenders = [where for where, step in all_steps() if "${{" in str(step.get("run", ""))]
    assert not offenders, "pass values through env:, never ${{ }} in run: " + ", ".join(offenders)


def _keys(node: Any) -> list[str]:
    """Every mapping key anywhere under `node`."""
    if isinstance(node, dict):
        return [str(k) for k in node] + [k for v in node.values() for k in _keys(v)]
    if isinstance(node, list):
        return [k for item in node for k in _keys(item)]
    return []


def test_no_key_but_run_ends_in_run() -> None:
    """An expression inside a `run:` script is substituted into the script before the shell
    reads it, which is how a title or branch name becomes code (GitHub docs, "Security hardening
    for GitHub Actions", "Understanding the risk of script injections"). Reviewers and the
    project's check find such lines by their key: the gate's `baseline-source` input, when
    its name still ended in "-run", was flagged as one though no shell ever saw it. So no key
    but `run` itself ends in "run" (inputs, `with:`, `env:`, outputs), in any case: a real
    finding is never lost among look-alikes."""
    offenders = [f"{rel(path)}: {key}"
                 for path in [*WORKFLOWS, *ACTIONS, *STANDIN_FILES]
                 for key in _keys(load(path)) if key.lower().endswith("run") and key != "run"]
    assert not offenders, "rename (say what the key holds): " + ", ".join(offenders)


# GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`, without `-u`; a custom
# shell is any command with `{0}` for the script file (GitHub docs, "Workflow syntax for GitHub
# Actions", jobs.<job_id>.steps[*].shell, "Custom shell"). This one adds -u: every step strict,
# whether or not its script remembers to say so.
STRICT_SHELL = "bash --noprofile --norc -euo pipefail {0}"


def _shells() -> list[tuple[str, str | None, dict[str, Any]]]:
    """(where, effective shell, step) of every run step: the step's, else the job's or the
    workflow's default."""
    found = []
    for path in WORKFLOWS:
        doc = load(path)
        default = ((doc.get("defaults") or {}).get("run") or {}).get("shell")
        for job_id, job in doc["jobs"].items():
            job_default = ((job.get("defaults") or {}).get("run") or {}).get("shell", default)
            for index, step in enumerate(job.get("steps", [])):
                if "run" in step:
                    found.append((f"{rel(path)} {job_id} step {index + 1}",
                                  step.get("shell", job_default), step))
    for path in [*ACTIONS, *STANDIN_FILES]:
        for index, step in enumerate(load(path)["runs"].get("steps", [])):
            if "run" in step:
                found.append((f"{rel(path)} step {index + 1}", step.get("shell"), step))
    return found


def test_every_bash_step_is_strict() -> None:
    """Every step runs under STRICT_SHELL, or its script starts with `set -euo pipefail` (a step
    that runs a script file needs the file to do so)."""
    problems = []
    for where, shell, step in _shells():
        if shell == STRICT_SHELL:
            continue
        first = step["run"].strip().splitlines()[0]
        script = re.fullmatch(r'bash "\$GITHUB_ACTION_PATH/([^"]+)"', first)
        if script:
            base = where.split(" ")[0]
            target = (REPO_ROOT / base).parent / script.group(1)
            if "set -euo pipefail" not in target.read_text(encoding="utf-8"):
                problems.append(f"{target}: no `set -euo pipefail`")
        elif first != "set -euo pipefail":
            problems.append(f"{where}: starts with {first!r}")
    assert not problems, problems


def test_the_strict_shell_is_strict(tmp_path: Path) -> None:
    """What STRICT_SHELL does with an unset variable and a failed pipe, run as GitHub runs it."""
    import subprocess

    for script in ('echo "$SCANGATE_UNSET_VARIABLE"', "false | true", "false\ntrue"):
        file = tmp_path / "step.sh"
        file.write_text(script, encoding="utf-8")
        argv = STRICT_SHELL.replace("{0}", str(file)).split()
        assert subprocess.run(argv, capture_output=True).returncode != 0, script


def test_composite_steps_name_their_shell() -> None:
    missing = [
        f"{rel(path)} step {index + 1}"
        for path in [*ACTIONS, *STANDIN_FILES]
        for index, step in enumerate(load(path)["runs"]["steps"])
        if "run" in step and step.get("shell") not in ("bash", STRICT_SHELL)
    ]
    assert not missing, missing


def test_checkouts_do_not_persist_credentials() -> None:
    persisted = [
        where
        for where, step in all_steps()
        if str(step.get("uses", "")).startswith("actions/checkout@")
        and str((step.get("with") or {}).get("persist-credentials")).lower() != "false"
    ]
    assert not persisted, persisted


@pytest.mark.parametrize("name", ["container-scan.yml", "container-release.yml"])
def test_reusable_workflow_inputs_are_typed_documented_and_defaulted(name: str) -> None:
    call = load(REPO_ROOT / ".github" / "workflows" / name)["on"]["workflow_call"]
    problems = []
    for key, spec in call["inputs"].items():
        if not spec.get("description"):
            problems.append(f"{key}: no description")
        if spec.get("type") not in {"string", "boolean", "number"}:
            problems.append(f"{key}: no type")
        if "default" not in spec and not spec.get("required"):
            problems.append(f"{key}: no default")
    for key, spec in {**call["outputs"], **call.get("secrets", {})}.items():
        if not spec.get("description"):
            problems.append(f"{key}: no description")
    assert not problems, problems
    required = {
        "container-scan.yml": {
            "image-name", "context", "dockerfile", "build-args", "images", "policy", "fail-on",
            "max-critical", "max-high", "max-medium", "max-low", "max-unknown", "ignore-unfixed",
            "sarif-category", "upload-sarif", "trivy-version",
        },
        "container-release.yml": {
            "scan", "aws-region", "publish-role-arn", "push-role-arn", "deploy-role-arn",
            "ecr-repository", "eks-cluster", "eks-namespace", "manifests", "security-hub", "push",
            "deploy", "environment", "limits-ssm-prefix", "sns-topic-arn",
        },
    }[name]  # fmt: skip
    assert required <= set(call["inputs"]), required - set(call["inputs"])
    if name == "container-scan.yml":
        assert {"decision", "counts", "handoff"} <= set(call["outputs"])
        assert set(call["secrets"]) == {"slack-webhook-url"}
    else:
        assert {"image-digest", "image-uri"} <= set(call["outputs"])
        assert call["inputs"]["scan"]["required"] is True


@pytest.mark.parametrize("path", ACTIONS, ids=rel)
def test_action_inputs_are_documented_and_defaulted(path: Path) -> None:
    action = load(path)
    assert action["runs"]["using"] == "composite"
    for name, spec in action.get("inputs", {}).items():
        assert spec.get("description"), f"{name}: no description"
        assert "default" in spec or spec.get("required"), f"{name}: no default"
    for name, spec in action.get("outputs", {}).items():
        assert spec.get("description"), f"{name}: no description"


def test_reusable_workflow_job_order_and_gates() -> None:
    scan = load(REPO_ROOT / ".github" / "workflows" / "container-scan.yml")["jobs"]
    release = load(REPO_ROOT / ".github" / "workflows" / "container-release.yml")["jobs"]
    assert list(scan) == ["plan", "build", "scan", "gate", "results"]
    assert list(release) == ["plan", "limits", "push", "security-hub", "deploy", "results"]
    assert "limits" in release["push"]["needs"], "push must wait for the SSM limits"
    assert "needs.plan.outputs.decision == 'pass'" in release["push"]["if"], "only a pass ships"
    assert "push" in release["deploy"]["needs"], "deploy must wait for the push"
    assert release["deploy"]["environment"] == "${{ inputs.environment }}"
    assert release["deploy"]["concurrency"]["cancel-in-progress"] is False
    for jobs, job_id in ((scan, "build"), (scan, "scan"), (scan, "gate"), (release, "limits"),
                         (release, "push"), (release, "security-hub")):  # fmt: skip
        assert "matrix" in jobs[job_id]["strategy"], job_id
        assert jobs[job_id]["strategy"]["fail-fast"] is False, job_id
    # The scan reads the build's tarball: no job after build builds again.
    for job_id, job in [*scan.items(), *(("release " + k, v) for k, v in release.items())]:
        if job_id != "build":
            assert not any(
                "build-push-action" in str(s.get("uses", "")) for s in job.get("steps", [])
            )


def test_stand_ins_accept_every_input_the_workflows_pass() -> None:
    """A stand-in that silently ignored an input would let the act test pass for the wrong
    reason; every `with:` key must be a declared input of the stand-in."""
    problems = []
    for where, step in all_steps():
        if where.startswith("tests/"):
            continue
        uses = str(step.get("uses", ""))
        match = re.match(r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(/[^@]*)?@", uses)
        if not match or match.group(1) == SELF_REPOSITORY:  # act runs scangate's own actions
            continue
        standin = STANDINS / match.group(1) / (match.group(2) or "/").lstrip("/") / "action.yml"
        if not standin.exists():
            problems.append(f"{where}: no stand-in {rel(standin)}")
            continue
        declared = set(load(standin).get("inputs") or {})
        extra = set(step.get("with") or {}) - declared
        if extra:
            problems.append(f"{where}: {rel(standin)} lacks inputs {sorted(extra)}")
    assert not problems, "\n".join(problems)


def test_dependabot_covers_actions_and_pip_with_a_cooldown() -> None:
    config = load(REPO_ROOT / ".github" / "dependabot.yml")
    by_ecosystem = {u["package-ecosystem"]: u for u in config["updates"]}
    actions = by_ecosystem["github-actions"]
    expected = {"/"} | {f"/actions/{p.parent.name}" for p in ACTIONS}
    assert set(actions["directories"]) == expected
    assert actions["cooldown"]["default-days"] >= 3
    assert by_ecosystem["pip"]["cooldown"]["default-days"] >= 3
