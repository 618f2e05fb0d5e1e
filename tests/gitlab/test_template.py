"""Static checks of gitlab/container-scan.gitlab-ci.yml, the repository's .gitlab-ci.yml and the
GitLab docs: GitLab's CI schema (check-jsonschema's vendored `vendor.gitlab-ci`), inputs that
reach shells only through variables, the rules that keep push and deploy off merge requests
(evaluated by gitlab-ci-local itself), pinned images, shellcheck of every script, and the README
blocks generated from the template.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitlab import glci
from tools.gendocs import gitlab as gendocs_gitlab

CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
README = glci.REPO_ROOT / "README.md"
DOCS = glci.REPO_ROOT / "docs" / "gitlab.md"
DOGFOOD = glci.REPO_ROOT / ".gitlab-ci.yml"

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
JOBS = ("build", "scan", "report", "enforce", "push", "deploy")
# What the jobs read from the dotenv reports of build and push, and the ID token.
DOTENV_AND_TOKENS = {
    "SCANGATE_IMAGE_ID", "SCANGATE_IMAGE_ARCHIVE_SHA256", "SCANGATE_IMAGE_LOCAL_REF",
    "SCANGATE_IMAGE_URI", "SCANGATE_IMAGE_DIGEST", "SCANGATE_ID_TOKEN",
}

# The inputs the gitlab-ci-local end-to-end tests use (tests/gitlab/test_pipeline.py).
SHELL_RUNNER_INPUTS: dict[str, Any] = {
    "image-name": "scangate-test/user-authenticator",
    "context": "examples/user-authenticator",
    "build-args": "BASE_IMAGE=scangate.local/python-base:bookworm PIP_INDEX_URL=http://127.0.0.1:1/simple/",
    "build-network": "host",
    "docker-mode": "host",
    "trivy-version": "0.76.0",
    "trivy-sha256": "",
    "trivy-skip-db-update": True,
    "policy": ".scangate/policy.yaml",
    "scangate-source": "",
    "push": True,
    "registry": "127.0.0.1:5000",
    "ecr-repository": "scangate-tests/gitlab",
    "deploy": True,
    "eks-cluster": "never-reached",
    "aws-region": "eu-west-1",
    "deploy-role-arn": "arn:aws:iam::000000000000:role/never-assumed",
}
EVERYTHING_ON: dict[str, Any] = {
    "push": True,
    "deploy": True,
    "aws-region": "eu-west-1",
    "push-role-arn": "arn:aws:iam::123456789012:role/push",
    "deploy-role-arn": "arn:aws:iam::123456789012:role/deploy",
    "eks-cluster": "prod",
    "eks-namespace": "user-authenticator",
    "manifests": "deploy/k8s",
    "ignore-unfixed": True,
    "fail-on": "HIGH",
    "max-medium": "10",
}


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci",
         "--data-transform", "gitlab-ci", *map(str, paths)],
        capture_output=True, text=True, timeout=300,
    )


def assert_valid(*paths: Path) -> None:
    result = check_jsonschema(*paths)
    assert result.returncode == 0, result.stdout + result.stderr


def write_yaml(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def jobs_by_suffix(jobs: dict[str, Any], prefix: str = "scangate") -> dict[str, dict[str, Any]]:
    return {suffix: jobs[f"{prefix}-{suffix}"] for suffix in JOBS}


def yaml_blocks(markdown: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", markdown, re.DOTALL)


def gitlab_quick_start(readme: str) -> str:
    """README's GitLab quick start: from its heading to the next `## ` heading."""
    match = re.search(r"^## Quick start: GitLab\n(.*?)(?=^## )", readme, re.DOTALL | re.MULTILINE)
    assert match, "README.md has no `## Quick start: GitLab` section"
    return match.group(1)


# --- GitLab's CI schema --------------------------------------------------------------------


def test_check_jsonschema_is_installed() -> None:
    assert CHECK_JSONSCHEMA.exists(), (
        "check-jsonschema is missing: run `make setup` (requirements/lint.txt)")


def test_template_documents_validate_against_the_gitlab_ci_schema(tmp_path: Path) -> None:
    """Both documents as written (the spec header, and the jobs with `$[[ ]]` blocks in them)."""
    header, jobs = glci.split_documents(glci.TEMPLATE.read_text(encoding="utf-8"))
    (tmp_path / "header.yml").write_text(header, encoding="utf-8")
    (tmp_path / "jobs.yml").write_text(jobs, encoding="utf-8")
    assert_valid(tmp_path / "header.yml", tmp_path / "jobs.yml")


@pytest.mark.parametrize("name, inputs", [
    ("defaults", {}),
    ("shell-runner", SHELL_RUNNER_INPUTS),
    ("everything-on", EVERYTHING_ON),
    ("second-include", {"job-prefix": "api", "stage-scan": "security", "docker-mode": "host"}),
])
def test_interpolated_jobs_validate_against_the_gitlab_ci_schema(
    tmp_path: Path, name: str, inputs: dict[str, Any],
) -> None:
    """The jobs as GitLab sees them after interpolation (typed values, job names, images)."""
    rendered = glci.rendered_jobs(inputs)
    text = json.dumps(rendered)
    assert "$[[" not in text
    assert_valid(write_yaml(tmp_path / f"{name}.yml", rendered))


def test_the_schema_check_is_not_vacuous(tmp_path: Path) -> None:
    """A broken job (unknown `artifacts:when`, a number as `stage`) must fail the same check."""
    rendered = glci.rendered_jobs({})
    rendered["scangate-report"]["artifacts"]["when"] = "sometimes"
    rendered["scangate-scan"]["stage"] = 5
    result = check_jsonschema(write_yaml(tmp_path / "broken.yml", rendered))
    assert result.returncode != 0, result.stdout
    header = yaml.safe_load(glci.split_documents(glci.TEMPLATE.read_text(encoding="utf-8"))[0])
    header["spec"]["inputs"]["push"]["type"] = "yes-please"
    result = check_jsonschema(write_yaml(tmp_path / "broken-header.yml", header))
    assert result.returncode != 0, result.stdout


def test_including_pipelines_validate(tmp_path: Path) -> None:
    """The repository's own .gitlab-ci.yml and every `include:` example in the docs."""
    paths = [DOGFOOD]
    docs = (gitlab_quick_start(README.read_text(encoding="utf-8"))
            + DOCS.read_text(encoding="utf-8"))
    examples = [block for block in yaml_blocks(docs) if "include:" in block]
    assert len(examples) >= 3, "expected remote, project and README include examples"
    spec, _ = glci.load_template()
    for index, block in enumerate(examples):
        paths.append(tmp_path / f"example-{index}.yml")
        paths[-1].write_text(block, encoding="utf-8")
        for include in yaml.safe_load(block)["include"]:
            unknown = set(include.get("inputs") or {}) - set(spec)
            assert not unknown, f"docs example {index} uses unknown inputs {sorted(unknown)}"
    assert_valid(*paths)


# --- inputs --------------------------------------------------------------------------------


def test_every_input_is_documented_typed_and_defaulted() -> None:
    spec, _ = glci.load_template()
    assert len(spec) >= 30
    for name, definition in spec.items():
        assert re.fullmatch(r"[a-z][a-z0-9-]*", name), name
        assert str(definition.get("description", "")).strip(), f"{name}: no description"
        assert "default" in definition, f"{name}: no default (every input is optional)"
        kind = definition.get("type", "string")
        assert kind in ("string", "boolean"), f"{name}: type {kind}"
        default = definition["default"]
        assert isinstance(default, bool if kind == "boolean" else str), f"{name}: {default!r}"
    for switch in ("push", "deploy", "ignore-unfixed"):
        assert spec[switch]["type"] == "boolean"
        assert spec[switch]["default"] is False, f"{switch} must be opt-in"


@pytest.mark.parametrize("values", [{}, SHELL_RUNNER_INPUTS, EVERYTHING_ON])
def test_input_values_match_their_regex_and_options(values: dict[str, Any]) -> None:
    """gitlab-ci-local ignores `regex:` (it warns); GitLab enforces it, so check here."""
    spec, _ = glci.load_template()
    for name, value in glci.input_values(spec, values).items():
        definition = spec[name]
        if "options" in definition:
            assert value in definition["options"], f"{name}={value!r}"
        if "regex" in definition:
            assert re.search(definition["regex"], str(value)), f"{name}={value!r}"


def test_the_issue_inputs_exist() -> None:
    spec, _ = glci.load_template()
    wanted = {
        "stage-build", "stage-scan", "stage-push", "stage-deploy", "job-prefix", "image-name",
        "context", "dockerfile", "policy", "fail-on", "max-critical", "max-high", "max-medium",
        "max-low", "max-unknown", "ignore-unfixed", "trivy-version", "aws-region",
        "push-role-arn", "deploy-role-arn", "ecr-repository", "eks-cluster", "eks-namespace",
        "manifests", "push", "deploy", "environment", "scangate-source",
    }
    assert wanted <= set(spec), sorted(wanted - set(spec))


def test_every_input_is_used() -> None:
    spec, _ = glci.load_template()
    jobs_text = glci.split_documents(glci.TEMPLATE.read_text(encoding="utf-8"))[1]
    used = set(re.findall(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]", jobs_text))
    assert used == set(spec), {"unused": set(spec) - used, "unknown": used - set(spec)}


def test_no_input_is_interpolated_into_a_shell() -> None:
    _, jobs = glci.load_template()
    for name, job in jobs.items():
        for line in glci.script_lines(job):
            assert "$[[" not in line, f"{name}: input interpolated into a script: {line.strip()}"


def test_inputs_reach_scripts_through_quoted_job_variables() -> None:
    """Each input a script needs is a job variable; scripts use only variables they define."""
    _, jobs = glci.load_template()
    for name, job in jobs.items():
        for key, value in (job.get("variables") or {}).items():
            if isinstance(value, str) and "$[[" in value:
                assert key.startswith("SCANGATE_"), f"{name}: {key}"
    for mode in ("dind", "host", "buildah"):
        rendered = glci.rendered_jobs({"docker-mode": mode})
        for job_name in rendered:
            if not job_name.startswith("."):
                check_job_variables(job_name, glci.merged_job(rendered, job_name))


def check_job_variables(job_name: str, job: dict[str, Any]) -> None:
    """Scripts use only SCANGATE_* variables the job defines, always inside double quotes
    (the one exception: the build arguments, split on purpose with globbing off)."""
    defined = set(job.get("variables") or {}) | DOTENV_AND_TOKENS
    for line in glci.script_lines(job):
        for variable in re.findall(r"\$\{?(SCANGATE_[A-Z0-9_]+)", line):
            assert variable in defined, f"{job_name}: {variable} is not defined"
        for match in re.finditer(r"\$\{?SCANGATE_[A-Z0-9_]+", line):
            quoted = line[: match.start()].count('"') % 2 == 1
            split_on_purpose = line.strip() == "for build_arg in $SCANGATE_BUILD_ARGS; do"
            # `${X:+--opt "$X"}`: nothing when X is empty, else the option and X quoted.
            optional = re.match(rf'\$\{{({match.group(0)[2:]}):\+--[a-z-]+ "\$\1"\}}',
                                line[match.start():])
            assert quoted or split_on_purpose or optional, (
                f"{job_name}: unquoted {match.group(0)} in: {line.strip()}")


def test_scangate_source_default_is_empty_and_no_scangate_is_refused() -> None:
    """No unpinned default: empty means "the scangate on the image's PATH", and without one the
    jobs fail saying how to pin a source (tests/gitlab/test_source_install.py runs it)."""
    spec, _ = glci.load_template()
    assert spec["scangate-source"]["default"] == ""
    before = "\n".join(glci.script_lines(glci.rendered_jobs({})[".scangate-python"]))
    assert "#sha256=<sha256sum of it>" in before


# --- jobs ----------------------------------------------------------------------------------


def test_images_and_trivy_are_pinned() -> None:
    spec, jobs = glci.load_template()
    for name in ("docker-image", "docker-service-image", "python-image"):
        assert DIGEST.search(spec[name]["default"]), f"{name}: {spec[name]['default']}"
    assert re.fullmatch(r"[0-9a-f]{64}", spec["trivy-sha256"]["default"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", spec["trivy-version"]["default"])
    scan = "\n".join(glci.script_lines(glci.rendered_jobs({})["scangate-scan"]))
    # The download is refused unless its sha256 is the pin (tests/steps/test_install_tool.py).
    scan = scan.replace("\\\n", " ")
    assert re.search(r'scangate install-tool trivy --version "\$SCANGATE_TRIVY_VERSION"\s+'
                     r'--sha256 "\$SCANGATE_TRIVY_SHA256"', scan), scan
    dogfood = yaml.safe_load(DOGFOOD.read_text(encoding="utf-8"))
    assert DIGEST.search(dogfood["verify"]["image"])


def test_artifacts_on_every_run_with_expiry_and_the_container_scanning_report() -> None:
    jobs = jobs_by_suffix(glci.rendered_jobs({"artifacts-expire-in": "7 days"}))
    for suffix, job in jobs.items():
        if suffix not in ("enforce", "deploy"):
            assert job["artifacts"]["expire_in"] == "7 days", suffix
    for suffix in ("scan", "report"):
        assert jobs[suffix]["artifacts"]["when"] == "always", suffix
    report_job = jobs["report"]["artifacts"]
    report = "scangate-out/scangate/gl-container-scanning-report.json"
    assert report_job["reports"]["container_scanning"] == report
    assert set(report_job["paths"]) == {report, "scangate-out/scangate/scangate.sarif",
                                        "scangate-out/scangate/summary.json",
                                        "scangate-out/scangate/summary.md",
                                        "scangate-out/scangate/gate-exit-code",
                                        "scangate-out/scangate/baseline-summary.json"}
    assert jobs["build"]["artifacts"]["reports"]["dotenv"] == "scangate-out/scangate/build.env"
    assert jobs["push"]["artifacts"]["reports"]["dotenv"] == "scangate-out/scangate/push.env"
    assert jobs["scan"]["cache"]["paths"] == [".trivy-cache/db/"]
    assert jobs["scan"]["cache"]["key"] == "scangate-trivy-0.75.0-$CI_COMMIT_REF_SLUG"
    assert '--cache-dir "$PWD/.trivy-cache"' in "\n".join(glci.script_lines(jobs["scan"]))


def _takes_a_token_file(command: str) -> bool:
    import argparse

    from scangate._cli import build_parser

    if command.startswith("-"):
        return False
    parser = build_parser([command])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return any("--web-identity-token-file" in a.option_strings
               for a in sub.choices[command]._actions)


def test_id_tokens_only_where_aws_is_used_and_never_on_a_command_line() -> None:
    """The ID token is read by `scangate --inputs-from-env=gitlab` itself, which hands it to
    scangate's one role-assumption helper (boto3 from the hash-pinned lock) as a private file
    (tests/gitlab/test_gitlab_rules.py::test_the_id_token_reaches_scangate_as_a_private_file_only):
    no line of shell names it; nothing is installed at run time but the source's own
    hash-pinned lock."""
    audiences = {"gate": "https://gitlab.example/gate", "push": "https://gitlab.example/push",
                 "securityhub": "https://gitlab.example/publish",
                 "deploy": "https://gitlab.example/deploy"}
    rendered = glci.rendered_jobs({f"{role}-role-audience": value
                                   for role, value in audiences.items()})
    holders = {name for name, job in rendered.items() if "id_tokens" in job}
    role_of = {"report": "gate", "notify": "gate", "push": "push", "securityhub": "securityhub",
               "deploy": "deploy"}
    assert holders == {f"scangate-{s}" for s in role_of}
    for name in holders:
        job = glci.merged_job(rendered, name)
        audience = audiences[role_of[name.removeprefix("scangate-")]]
        assert job["id_tokens"] == {"SCANGATE_ID_TOKEN": {"aud": audience}}
        lines = glci.script_lines(job)
        shell = [line.strip() for line in lines if not line.strip().startswith("#")]
        assert not [line for line in shell if "ID_TOKEN" in line or "token-file" in line], name
        script = "\n".join(lines)
        # Every scangate command of the job that can assume a role reads the job's variables.
        calls = re.findall(r"(?m)^\s*scangate (--inputs-from-env=gitlab )?([a-z-]+)", script)
        assert any(gitlab for gitlab, _ in calls), name
        for gitlab, command in calls:
            assert gitlab or not _takes_a_token_file(command), (name, command)
        for forbidden in ("apk add", "pip install --quiet awscli", "aws sts", "curl ",
                          "wget ", "--web-identity-token \""):
            assert forbidden not in script, f"{name}: {forbidden}"
        installs = [line.strip() for line in lines if "pip install" in line]
        assert all("--require-hashes" in line or "--no-deps" in line for line in installs), name
    jobs = jobs_by_suffix(rendered)
    assert jobs["deploy"]["environment"] == {"name": "production", "action": "start"}
    assert jobs["deploy"]["resource_group"] == "scangate-production"


def test_dind_and_host_modes() -> None:
    dind = glci.rendered_jobs({})
    build = glci.merged_job(dind, "scangate-build")
    assert build["services"][0]["alias"] == "docker"
    assert DIGEST.search(build["services"][0]["name"])
    assert build["variables"]["DOCKER_HOST"] == "tcp://docker:2376"
    host = glci.merged_job(glci.rendered_jobs({"docker-mode": "host"}), "scangate-build")
    assert "services" not in host
    assert "DOCKER_HOST" not in host["variables"]


@pytest.mark.parametrize("mode", ["dind", "host", "buildah"])
def test_the_build_pulls_its_base_images_fresh(mode: str) -> None:
    """An engine the runner shares (`host`) can hold a base image another branch tagged; the
    build pulls from the registry instead (issue 18 §5; end to end in test_pipeline.py,
    test_host_mode_builds_from_the_registry_base_not_the_engine_tag). Buildah's `--pull` only
    pulls a newer image; `--pull-always` always does (buildah-bud(1))."""
    build = glci.merged_job(glci.rendered_jobs({"docker-mode": mode}), "scangate-build")
    lines = glci.script_lines(build)
    builds = [line.split() for line in lines if re.search(r"\b(docker build|bah bud)\b", line)]
    assert len(builds) == 2, lines
    for words in builds:
        assert ("--pull" if words[0] == "docker" else "--pull-always") in words, words


def test_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """Every script block, as the POSIX sh the Alpine and Debian images run it with."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is missing: run `make setup` (tools/setup/10-apt.sh)")
    jobs = glci.rendered_jobs({})
    # Each job as the runner runs it: its parents' before_script and its script, one shell.
    documents = {name: glci.merged_job(jobs, name) for name in jobs if not name.startswith(".")}
    documents.update({"verify": yaml.safe_load(DOGFOOD.read_text(encoding="utf-8"))["verify"]})
    files = []
    for name, job in documents.items():
        lines = glci.script_lines(job)
        if not lines:
            continue
        path = tmp_path / (name.strip(".") + ".sh")
        path.write_text("#!/bin/sh\n" + "\n".join(lines) + "\n", encoding="utf-8")
        files.append(str(path))
    assert len(files) >= 6
    result = subprocess.run([shellcheck, "--shell=sh", "--severity=style", *files],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yaml_passes_yamllint() -> None:
    yamllint = Path(sys.executable).with_name("yamllint")
    result = subprocess.run(
        [str(yamllint), "--strict", "-c", str(glci.REPO_ROOT / ".yamllint.yaml"),
         str(glci.TEMPLATE), str(DOGFOOD)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- rules, as gitlab-ci-local evaluates them -------------------------------------------------


@pytest.fixture(scope="module")
def rules_project(tmp_path_factory: pytest.TempPathFactory, gitlab_ci_local: Path) -> Path:
    project = tmp_path_factory.mktemp("gitlab-rules") / "project"
    inputs = {"push": True, "deploy": True, "eks-cluster": "prod", "aws-region": "eu-west-1"}
    ci = yaml.safe_dump({
        "stages": ["build", "test", "deploy"],
        "include": [{"local": glci.TEMPLATE_REL, "inputs": inputs}],
    }, sort_keys=False)
    return glci.make_project(project, ci, {glci.TEMPLATE_REL: glci.TEMPLATE})


@pytest.mark.parametrize("case, variables, unset, publishes", [
    ("default branch", {"CI_COMMIT_REF_PROTECTED": "true"}, [], True),
    ("merge request", {"CI_PIPELINE_SOURCE": "merge_request_event",
                       "CI_MERGE_REQUEST_IID": "7"}, ["CI_COMMIT_BRANCH"], False),
    ("feature branch", {"CI_COMMIT_BRANCH": "feature/x", "CI_COMMIT_REF_NAME": "feature/x"},
     [], False),
    ("unprotected default branch", {"CI_COMMIT_REF_PROTECTED": "false"}, [], False),
    ("tag", {"CI_COMMIT_TAG": "v1.2.3", "CI_COMMIT_REF_NAME": "v1.2.3",
             "CI_COMMIT_REF_PROTECTED": "true"},
     ["CI_COMMIT_BRANCH"], True),
])
def test_scan_runs_everywhere_and_publishing_only_on_the_default_branch_and_tags(
    rules_project: Path, case: str, variables: dict[str, str], unset: list[str],
    publishes: bool,
) -> None:
    args = ["--list-json", glci.NO_SCHEMA]
    for key, value in variables.items():
        args += ["--variable", f"{key}={value}"]
    for key in unset:
        args += ["--unset-variable", key]
    run = glci.run_gitlab_ci_local(rules_project, args, timeout=300)
    assert run.returncode == 0, run.describe()
    start = re.search(r"^\[", run.stdout, re.MULTILINE)
    assert start, run.describe()
    listed = json.JSONDecoder().raw_decode(run.stdout[start.start():])[0]
    jobs = {job["name"]: job["when"] for job in listed}
    scans = case != "merge request"  # merge-request pipelines are opt-in
    for suffix in ("build", "scan", "report", "enforce"):
        assert jobs[f"scangate-{suffix}"] == ("on_success" if scans else "never"), (case, jobs)
    for suffix in ("push", "deploy"):
        assert jobs[f"scangate-{suffix}"] == ("on_success" if publishes else "never"), (case, jobs)


def test_gitlab_ci_local_adds_the_override_check_only_when_a_variable_overrides(
    rules_project: Path,
) -> None:
    """The same rule as tests/gitlab/test_gitlab_rules.py, evaluated by gitlab-ci-local, where
    `--variable` plays a pipeline variable (it takes precedence over job variables, as on
    GitLab)."""
    protected = {"CI_COMMIT_REF_PROTECTED": "true"}
    clean = glci.list_jobs(rules_project, protected)
    assert clean.get("scangate-overridden-inputs", {"when": "never"})["when"] == "never"
    overridden = glci.list_jobs(rules_project, {**protected, "SCANGATE_MAX_CRITICAL": "999"})
    assert overridden["scangate-overridden-inputs"]["when"] == "always"
    enforce_needs = [n["job"] for n in overridden["scangate-enforce"]["needs"]]
    assert "scangate-overridden-inputs" in enforce_needs


def test_switches_off_remove_push_and_deploy(tmp_path: Path, gitlab_ci_local: Path) -> None:
    ci = yaml.safe_dump({"include": [{"local": glci.TEMPLATE_REL}]}, sort_keys=False)
    project = glci.make_project(tmp_path / "project", ci, {glci.TEMPLATE_REL: glci.TEMPLATE})
    jobs = glci.list_jobs(project)
    assert jobs["scangate-report"]["when"] == "on_success"
    assert jobs["scangate-enforce"]["when"] == "on_success"
    assert jobs["scangate-push"]["when"] == "never"
    assert jobs["scangate-deploy"]["when"] == "never"


def test_the_repository_pipeline_includes_the_template_twice(
    tmp_path: Path, gitlab_ci_local: Path,
) -> None:
    """.gitlab-ci.yml (dogfood) as gitlab-ci-local resolves it: both includes, the verify job."""
    files = {".gitlab-ci.yml": DOGFOOD, glci.TEMPLATE_REL: glci.TEMPLATE,
             ".scangate/policy.yaml": glci.REPO_ROOT / ".scangate" / "policy.yaml"}
    project = glci.make_project(tmp_path / "project", DOGFOOD.read_text(encoding="utf-8"), files)
    jobs = glci.list_jobs(project, validate=True)  # and gitlab-ci-local's schema accepts it
    for prefix in ("example", "example-vulnerable"):
        for suffix in ("build", "scan", "report", "enforce"):
            assert jobs[f"{prefix}-{suffix}"]["when"] == "on_success", jobs
        for suffix in ("push", "deploy"):
            assert jobs[f"{prefix}-{suffix}"]["when"] == "never", jobs
    assert jobs["example-vulnerable-enforce"]["allow_failure"] == {"exit_codes": [1]}
    assert "allow_failure" not in jobs["example-vulnerable-report"] or (
        jobs["example-vulnerable-report"]["allow_failure"] is False)
    assert [n["job"] for n in jobs["verify"]["needs"]] == ["example-report",
                                                           "example-vulnerable-report"]
    # The CI/CD Catalog release is a tag's job (tests/gitlab/test_catalog.py).
    assert jobs["release"]["when"] == "never", jobs["release"]


# --- docs ----------------------------------------------------------------------------------


def test_doc_blocks_are_generated_from_the_template() -> None:
    """The include to copy is in README's quick start, the inputs table in docs/gitlab.md."""
    quick_start = gitlab_quick_start(README.read_text(encoding="utf-8"))
    where = {"gitlab-include": quick_start, "gitlab-include-gitlab-registry": quick_start,
             "gitlab-inputs": DOCS.read_text(encoding="utf-8")}
    blocks = gendocs_gitlab.render()
    assert set(blocks) == set(where)
    for name, content in blocks.items():
        match = re.search(rf"<!-- BEGIN GENERATED: {name} -->\n(.*?)<!-- END GENERATED: {name} -->",
                          where[name], re.DOTALL)
        assert match, f"no block {name} where it belongs"
        assert match.group(1) == content, f"block {name} is stale: run `make docs`"


def test_readme_integrity_is_the_template_hash() -> None:
    section = gitlab_quick_start(README.read_text(encoding="utf-8"))
    integrity = re.search(r"integrity: (sha256-[A-Za-z0-9+/]{43}=)", section)
    assert integrity and integrity.group(1) == gendocs_gitlab.integrity()


def test_inputs_table_lists_every_input() -> None:
    spec, _ = glci.load_template()
    table = gendocs_gitlab.inputs_table()
    for name in spec:
        assert f"| `{name}` |" in table
    assert "| `docker-mode` | string | `dind` |" in table
    assert "One of: `dind`, `host`, `buildah`." in table
    assert "| `push` | boolean | `false` |" in table


def test_docs_show_the_aws_trust_policy_for_the_gitlab_sub() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert "project_path:GROUP/PROJECT:ref_type:branch:ref:main" in text
    policies = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]
    statement = policies[0]["Statement"][0]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    condition = statement["Condition"]["StringEquals"]
    assert condition["gitlab.com:sub"] == "project_path:GROUP/PROJECT:ref_type:branch:ref:main"
    # The push role's own audience, the template's push-role-audience default.
    spec, _ = glci.load_template()
    assert condition["gitlab.com:aud"] == spec["push-role-audience"]["default"]
