"""scangate's own code runs at the workflow's own release: every self-reference names one release.

A called workflow cannot read its own ref without an OIDC token, and fork and Dependabot pull
requests get none (GitHub docs, "Automatic token authentication" and "OpenID Connect
reference"), so the workflow pins `scangate/scangate/actions/<name>@<commit> # v<version>`
itself; tools/release.py writes those pins. These tests prove the pins agree with each other,
with the workflow's `SCANGATE_*` env and with README.md, and (where git has the commit) that the
pinned commit holds every action the workflow uses at that version; and they run the release
script on a copy of this repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.github.actrun import REPO_ROOT, SELF_REPOSITORY, remote_uses, snapshot_repository
from tools import release

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((REPO_ROOT / "actions").glob("*/action.yml"))
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "container-scan.yml"
RELEASE = REPO_ROOT / ".github" / "workflows" / "container-release.yml"
README = REPO_ROOT / "README.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))


def _env() -> tuple[str, str, str]:
    return release.current_self(WORKFLOW.read_text(encoding="utf-8"))


def _self_refs(paths: list[Path]) -> list[tuple[str, str, str, str]]:
    """(where, path, commit, comment) of every `uses: scangate/scangate/...`."""
    found = []
    for path in paths:
        for match in release.self_uses(SELF_REPOSITORY).finditer(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(REPO_ROOT)), match["path"], match["ref"],
                          match["comment"] or ""))
    return found


def test_the_workflow_env_names_this_repository() -> None:
    repository, commit, version = _env()
    assert repository == SELF_REPOSITORY
    assert re.fullmatch(r"[0-9a-f]{40}", commit), commit
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version


def test_every_self_reference_in_the_workflows_names_the_same_release() -> None:
    repository, commit, version = _env()
    refs = _self_refs([*WORKFLOWS, *ACTIONS])
    assert len(refs) >= 8, refs  # setup, trivy, gate in several jobs
    wrong = [r for r in refs if (r[2], r[3]) != (commit, f"v{version}")]
    assert not wrong, f"pins that are not {repository}@{commit} # v{version}: {wrong}"
    # every self-reference is caught by the pin rule as well (never a moving ref)
    assert {m["ref"] for _, _, m in remote_uses(WORKFLOWS) if m["repo"] == SELF_REPOSITORY} == {
        commit
    }


def test_the_workflow_never_checks_out_scangate() -> None:
    """A caller's GITHUB_TOKEN cannot read another private repository (actions/checkout README,
    `token`): no job checks out scangate's repository; the runner fetches the pinned actions."""
    jobs = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]
    for job_id, job in jobs.items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert "repository" not in (step.get("with") or {}), (job_id, step["name"])
            assert ".scangate-action" not in str(step.get("uses", "")), (job_id, step["name"])


def test_readme_and_docs_pins_name_the_same_version() -> None:
    _, _, version = _env()
    refs = _self_refs([README, *DOCS])
    assert "/.github/workflows/container-scan.yml" in {r[1] for r in _self_refs([README])}
    assert "/actions/gate" in {r[1] for r in refs}
    assert {r[3] for r in refs} == {f"v{version}"}, refs
    assert len({r[2] for r in refs}) == 1, f"README and docs pin several commits: {refs}"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True)


def test_the_pinned_commit_holds_the_actions_at_that_version() -> None:
    _, commit, version = _env()
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(f"{commit} is not in this clone (shallow?); the release script checks it")
    init = _git("show", f"{commit}:scripts/scangate/__init__.py").stdout
    assert f'__version__ = "{version}"' in init
    missing = sorted(
        {p for _, p, _, _ in _self_refs(WORKFLOWS)
         if _git("cat-file", "-e", f"{commit}:{p.lstrip('/')}/action.yml").returncode != 0}
    )  # fmt: skip
    assert not missing, f"{commit} has no {missing}: re-pin with tools/release.py"
    # actions/setup installs the dependencies from that commit's hash-pinned lock.
    assert _git("cat-file", "-e", f"{commit}:requirements/runtime.lock").returncode == 0
    assert "--hash=sha256:" in _git("show", f"{commit}:requirements/runtime.lock").stdout


# --- the release script on a copy of this repository ---------------------------------------------


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("release") / "repo"
    snapshot_repository(repo)
    return repo


def _run(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_release_pins_its_own_code_and_tags(copy: Path) -> None:
    made = release.release(copy, "9.8.7")
    assert made.tag == "v9.8.7"
    assert _run(copy, "rev-parse", "v9.8.7^{commit}") == made.pins_commit
    assert _run(copy, "rev-parse", "HEAD") == made.docs_commit
    # the tag's workflow pins the code commit, which is the tag's parent and the same code
    workflow = _run(copy, "show", f"{made.pins_commit}:.github/workflows/container-scan.yml")
    assert release.current_self(workflow) == (SELF_REPOSITORY, made.code_commit, "9.8.7")
    pins = {m["ref"] + " " + (m["comment"] or "")
            for m in release.self_uses(SELF_REPOSITORY).finditer(workflow)}
    assert pins == {f"{made.code_commit} v9.8.7"}
    assert _run(copy, "rev-parse", f"{made.pins_commit}^") == made.code_commit
    assert _run(copy, "diff", "--name-only", made.code_commit, made.pins_commit).split() == [
        ".github/workflows/container-release.yml", ".github/workflows/container-scan.yml"
    ]
    second = _run(copy, "show", f"{made.pins_commit}:.github/workflows/container-release.yml")
    assert release.current_self(second) == (SELF_REPOSITORY, made.code_commit, "9.8.7")
    assert {m["ref"] for m in release.self_uses(SELF_REPOSITORY).finditer(second)} == {
        made.code_commit
    }
    assert '__version__ = "9.8.7"' in _run(copy, "show",
                                           f"{made.code_commit}:scripts/scangate/__init__.py")
    # README and docs pin the tagged commit
    for page in [copy / "README.md", *sorted((copy / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        refs = {(m["ref"], m["comment"]) for m in release.self_uses(SELF_REPOSITORY).finditer(text)}
        assert refs <= {(made.pins_commit, "v9.8.7")}, page
        if page.name in ("README.md", "github-reference.md"):
            assert refs, f"{page.name} lost its pins"
    assert _run(copy, "status", "--porcelain") == ""
    # a release is immutable
    with pytest.raises(release.ReleaseError, match="exists already"):
        release.release(copy, "9.8.7")


def test_release_refuses_uncommitted_release_files(copy: Path) -> None:
    readme = copy / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nlocal edit\n", encoding="utf-8")
    try:
        with pytest.raises(release.ReleaseError, match="uncommitted"):
            release.release(copy, "9.9.0")
    finally:
        _run(copy, "checkout", "--", "README.md")


def test_a_mirror_re_pins_to_its_own_repository(copy: Path) -> None:
    made = release.release(copy, "9.9.1", repository="acme/scangate-mirror", tag=False)
    assert made.tag is None
    workflow = (copy / ".github" / "workflows" / "container-scan.yml").read_text(encoding="utf-8")
    assert release.current_self(workflow) == ("acme/scangate-mirror", made.code_commit, "9.9.1")
    assert not list(release.self_uses(SELF_REPOSITORY).finditer(workflow))
    assert len(list(release.self_uses("acme/scangate-mirror").finditer(workflow))) >= 5
    second = (copy / ".github" / "workflows" / "container-release.yml").read_text("utf-8")
    assert release.current_self(second) == ("acme/scangate-mirror", made.code_commit, "9.9.1")
    assert not list(release.self_uses(SELF_REPOSITORY).finditer(second))


@pytest.mark.parametrize("version", ["1.2", "v1.2.3", "1.2.3-rc1", ""])
def test_release_refuses_a_version_that_is_not_semver(copy: Path, version: str) -> None:
    assert release.main([version, "--root", str(copy)]) == 2


def test_the_pinned_commit_has_every_subcommand_the_workflow_runs() -> None:
    """The workflow runs the scangate of its pinned commit: each subcommand it calls must exist
    there (a re-pin to an older commit would otherwise fail only on GitHub)."""
    _, commit, _ = _env()
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(f"{commit} is not in this clone (shallow?); the release script checks it")
    text = WORKFLOW.read_text(encoding="utf-8") + RELEASE.read_text(encoding="utf-8")
    called = set(re.findall(r'"\$SCANGATE" (?:--inputs-from-env )?([a-z][a-z-]+)', text))
    called |= set(re.findall(r"\bargs=\(([a-z][a-z-]+) ", text))
    # Run in-process by gate-job, deploy-job and results, the same pinned commit's.
    called |= {"gate", "fetch-baseline", "feeds", "deploy", "mark-deployed", "notify"}
    assert {"scan", "push", "deploy-job", "image-tag", "securityhub", "results"} <= called, called
    missing = sorted(
        name for name in called
        if _git("cat-file", "-e",
                f"{commit}:scripts/scangate/commands/{name.replace('-', '_')}.py").returncode
    )  # fmt: skip
    assert not missing, f"{commit} has no scangate {missing}: re-pin with tools/release.py"


def test_every_input_the_workflows_pass_is_an_input_of_the_pinned_action() -> None:
    """GitHub runs the pinned commit's actions, not this checkout's: a `with:` key the pinned
    action.yml does not declare is only a warning there ("Unexpected input(s)"), and the value
    is lost (an input renamed since the pin). act maps the pins to the repository under test, so
    only this test sees it: re-pin with tools/release.py."""
    _, commit, _ = _env()
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(f"{commit} is not in this clone (shallow?); the release script checks it")
    unknown = []
    for path in WORKFLOWS:
        for job_id, job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].items():
            for step in job.get("steps", []):
                match = re.match(rf"{re.escape(SELF_REPOSITORY)}/(\S+)@", str(step.get("uses")))
                if not match:
                    continue
                action = yaml.safe_load(_git("show", f"{commit}:{match[1]}/action.yml").stdout)
                missing = set(step.get("with") or {}) - set(action.get("inputs") or {})
                unknown += [f"{path.name} {job_id}: {match[1]} {key}" for key in sorted(missing)]
                outputs = set(action.get("outputs") or {})
                used = re.findall(rf"steps\.{re.escape(str(step.get('id')))}\.outputs\.([\w-]+)",
                                  path.read_text(encoding="utf-8")) if step.get("id") else []
                unknown += [f"{path.name} {job_id}: {match[1]} output {name}"
                            for name in sorted(set(used) - outputs)]
    assert not unknown, f"not in the actions pinned at {commit}: {unknown}; re-pin"


def test_readme_pins_the_commit_that_pins_this_code() -> None:
    """README and docs pin the release's pins commit, whose workflow names the code commit the
    workflow here names: a pins commit rebased after the release would leave README pinning a
    commit that no branch holds."""
    _, commit, _ = _env()
    [pin] = {r[2] for r in _self_refs([README, *DOCS])}
    if _git("rev-parse", "--is-shallow-repository").stdout.strip() != "false":
        pytest.skip("a shallow clone: the release script checks it")
    if _git("cat-file", "-e", f"{pin}^{{commit}}").returncode != 0:
        pytest.fail(f"README pins {pin}, which this repository does not hold: re-pin")
    if _git("merge-base", "--is-ancestor", pin, "HEAD").returncode != 0:
        pytest.fail(f"README pins {pin}, which is not in this branch's history: re-pin")
    pinned = _git("show", f"{pin}:.github/workflows/container-scan.yml").stdout
    assert release.current_self(pinned)[1] == commit


# Run with the pinned commit's scripts/ first on sys.path: for each (argv, env option names) of
# a workflow's scangate call, the options and subcommands that commit's own parser does not know.
_PINNED_PARSER_CHECK = r"""
import argparse, json, sys
from scangate import _cli

def known(argv, env_options):
    parser, unknown = _cli.build_parser(argv), []
    options = set(parser._option_string_actions)
    words = [a for a in argv if not a.startswith("-")]
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            break
        word = next((w for w in words if w in subs[0].choices), None)
        if word is None:
            unknown.append("subcommand " + " ".join(words[:1]))
            break
        words = words[words.index(word) + 1:]
        parser = subs[0].choices[word]
        options |= set(parser._option_string_actions)
    for arg in argv:
        if arg.startswith("--") and arg.split("=", 1)[0] not in options:
            unknown.append(arg.split("=", 1)[0])
    unknown += [o + " (from env)" for o in env_options if o not in options]
    return unknown

calls = json.load(sys.stdin)
print(json.dumps([[where, known(argv, env)] for where, argv, env in calls]))
"""


def _scangate_calls() -> list[tuple[str, list[str], list[str]]]:
    """(where, argv, options given through INPUT_* env) of every scangate call in the workflows'
    `run:` steps: `"$SCANGATE" ...` up to the first shell operator, or the words of the step's
    `args=(...)`/`args+=(...)` arrays where it runs `"$SCANGATE" "${args[@]}"`."""
    import shlex

    calls = []
    for path in (WORKFLOW, RELEASE):  # the workflows that run the pinned actions/setup
        for job_id, job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].items():
            for n, step in enumerate(job.get("steps", [])):
                run = step.get("run")
                if not isinstance(run, str) or "$SCANGATE" not in run:
                    continue
                where = f"{path.name} {job_id} step {n + 1}"
                env = [f"--{k[len('INPUT_'):].lower().replace('_', '-')}"
                       for k in (step.get("env") or {}) if k.startswith("INPUT_")]
                text = run.replace("\\\n", " ")
                # INPUT_* reach a call's options only through --inputs-from-env.
                if '"${args[@]}"' in text:
                    argv = [w for group in re.findall(r"\bargs\+?=\(([^)]*)\)", text)
                            for w in shlex.split(group, comments=True)]
                    calls.append((where, argv, []))
                for match in re.finditer(r'"\$SCANGATE"(?! "\$\{args)', text):
                    line = text[match.end():].split("\n", 1)[0]  # continuations joined above
                    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
                    lexer.whitespace_split = True
                    argv = []
                    for word in lexer:
                        if set(word) <= set("|&;<>()"):  # a shell operator ends the call
                            break
                        argv.append(word)
                    calls.append((where, argv, env if argv[:1] == ["--inputs-from-env"] else []))
    return calls


def test_the_scangate_calls_list_is_complete() -> None:
    """The extraction the next test relies on: it finds the workflows' known calls, whole."""
    calls = {where: argv for where, argv, _ in _scangate_calls()}
    flat = [" ".join(argv) for argv in calls.values()]
    assert len(calls) >= 15, calls
    assert any(a.startswith("--inputs-from-env scan --input ") and "--sbom" in a for a in flat)
    assert any(a.startswith("securityhub --report") and "--archive-missing" in a for a in flat)
    assert any(a.startswith("push --archive") and "--openvex" in a for a in flat), flat
    with_env = [env for _, argv, env in _scangate_calls() if argv[:2] == ["--inputs-from-env",
                                                                         "scan"]]
    assert with_env and {"--db-digest", "--input-sha256"} <= set(with_env[0]), with_env


def test_the_pinned_commits_parser_takes_every_option_the_workflows_pass(
        tmp_path: Path) -> None:
    """GitHub runs the pinned commit's scangate (actions/setup installs its own commit), not this
    checkout's, and act maps the pins to the tree under test: an option or subcommand added to
    scangate and used by the workflow before a re-pin fails only on GitHub, at the first call
    (`unrecognized arguments`), or, given through INPUT_*, is silently not read. So the pinned
    commit's own argparse parser reads every call's options: re-pin with tools/release.py."""
    _, commit, _ = _env()
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(f"{commit} is not in this clone (shallow?); the release script checks it")
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", commit, "scripts"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    import json
    import sys

    result = subprocess.run(
        [sys.executable, "-I", "-c",
         f"import sys; sys.path.insert(0, {str(tmp_path / 'scripts')!r}); "
         + _PINNED_PARSER_CHECK],
        input=json.dumps(_scangate_calls()), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    unknown = [(where, names) for where, names in json.loads(result.stdout) if names]
    assert not unknown, f"not in scangate at the pinned {commit}: {unknown}; re-pin"
