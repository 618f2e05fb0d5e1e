"""No CI/CD variable can change what the GitLab template builds, scans, gates, pushes or
deploys (issue 18, section 2).

Pipeline, schedule, trigger, project, group and instance CI/CD variables take precedence over
the template's job `variables:` and reach every job's environment (GitLab docs, "CI/CD variable
precedence"); on self-managed GitLab a Developer may set pipeline variables unless the project
raises "Minimum role to use pipeline variables" (`ci_pipeline_variables_minimum_override_role`).
Each class of variable is therefore either

- refused: `<prefix>-overridden-inputs` is added to the pipeline (its `rules:` see CI/CD
  variables, not the runner's environment) and fails, and enforce, push and deploy need it:
  Docker and buildx endpoints, PATH and the loader/shell start-up variables, proxies and CA
  bundles, the AWS endpoint, CA and config file;
- dropped in the job: every job that runs Python first unsets AWS_*, PIP_* and PYTHON* (from
  any source, the runner's too) and points pip at no configuration file;
- dropped by scangate: `scangate scan` runs Trivy without TRIVY_* variables
  (tests/gate/test_scan.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitlab import gitlab_expression as gx
from tests.gitlab import glci
from tests.gitlab.test_gitlab_rules import (
    BRANCH_PIPELINE,
    jobs_of,
    pipeline_jobs,
    rule_ifs,
    run_job_script,
    write_fake_scangate,
)

# The classes the issue names, one variable each that must be refused at pipeline creation.
REFUSED_EXAMPLES = {
    "engine": ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "BUILDX_BUILDER",
               "CONTAINERS_REGISTRIES_CONF", "CONTAINERS_STORAGE_CONF", "STORAGE_DRIVER"],
    "program": ["PATH", "LD_PRELOAD", "BASH_ENV"],
    "network": ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "HTTP_PROXY", "ALL_PROXY"],
    "trust": ["SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
              "AWS_CA_BUNDLE"],
    "aws": ["AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"],
}
# Prefix classes no `rules:if` can enumerate: dropped in every job that runs Python.
DROPPED_EXAMPLES = {"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9", "AWS_ENDPOINT_URL_SSM": "x",
                    "AWS_PROFILE": "attacker", "AWS_DATA_PATH": "/tmp",
                    "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_TRUSTED_HOST": "x",
                    "PYTHONPATH": "/tmp", "PYTHONSTARTUP": "/tmp/x.py",
                    "PYTHONHOME": "/nonexistent"}
# A violation as `scangate gate --json-summary` records it (what `scangate enforce` reads).
FAILED_SUMMARY = (
    '{"decision": "fail", "violations": [{"severity": "critical", "count": 1, "limit": 0}],'
    ' "counts": {"critical": 1, "high": 0, "medium": 0, "low": 0, "unknown": 0}}')
INPUTS = {"push": True, "deploy": True, "securityhub": True, "registry": "r.example",
          "aws-region": "eu-west-1", "eks-cluster": "prod",
          "sns-topic-arn": "arn:aws:sns:eu-west-1:123456789012:t"}


def refused_names(jobs: dict[str, Any]) -> set[str]:
    """The variables `<prefix>-overridden-inputs` refuses by name (`$X != null`)."""
    names = set()
    for expression in rule_ifs(jobs["scangate-overridden-inputs"]):
        tokens = gx.tokens(expression)
        for index, token in enumerate(tokens[:-2]):
            if (token.lexeme == "variable" and tokens[index + 1].lexeme == "not_equals"
                    and tokens[index + 2].lexeme == "null"):
                names.add(token.value)
    return names


def test_every_class_of_the_issue_is_refused_by_name() -> None:
    names = refused_names(jobs_of(INPUTS))
    for examples in REFUSED_EXAMPLES.values():
        assert set(examples) <= names


@pytest.mark.parametrize("value", ["tcp://attacker.example:2376", ""])
def test_each_refused_variable_adds_the_failing_check_even_when_empty(value: str) -> None:
    """Evaluated with the port of GitLab's expression grammar: set as a pipeline variable (even
    to an empty string, which `$X != null` sees as defined), each refused name adds the check,
    which push, deploy and enforce need; nothing set, no check."""
    clean = pipeline_jobs(INPUTS, BRANCH_PIPELINE)
    assert clean["scangate-overridden-inputs"] == "never"
    for name in sorted(refused_names(jobs_of(INPUTS))):
        with_variable = pipeline_jobs(INPUTS, BRANCH_PIPELINE, {name: value})
        assert with_variable["scangate-overridden-inputs"] == "always", name
        assert with_variable["scangate-push"] == "on_success", name


def test_no_job_of_the_template_defines_a_refused_variable_itself() -> None:
    """The check job's rules see only CI/CD variables because the check job itself defines none
    of these (the dind job's DOCKER_* are its own, not the check's)."""
    jobs = jobs_of(INPUTS)
    check = glci.merged_job(jobs, "scangate-overridden-inputs")
    assert not refused_names(jobs) & set(check.get("variables") or {})


def python_jobs(jobs: dict[str, Any]) -> list[str]:
    return [name for name in jobs if not name.startswith(".") and any(
        "python3" in line or "scangate " in line
        for line in glci.script_lines(glci.merged_job(jobs, name)))]


def test_every_job_that_runs_python_starts_by_dropping_the_variables() -> None:
    jobs = jobs_of(INPUTS)
    names = python_jobs(jobs)
    assert {"scangate-scan", "scangate-report", "scangate-enforce", "scangate-push",
            "scangate-deploy", "scangate-notify", "scangate-securityhub"} <= set(names)
    for name in names:
        job = glci.merged_job(jobs, name)
        first = job["before_script"][0]
        assert "unset" in first and "PIP_CONFIG_FILE=/dev/null" in first, name
        assert not any(key.startswith(("PIP_", "PYTHON", "AWS_"))
                       for key in job.get("variables") or {}), name


def sitecustomize_attack(directory: Path) -> Path:
    """A `sitecustomize` module that Python imports at start-up from PYTHONPATH: it makes any
    Python program exit 0 at once, the way a variable would turn enforce into a pass."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(
        "import os\nopen(os.path.join(os.path.dirname(__file__), 'ran'), 'w').close()\n"
        "os._exit(0)\n", encoding="utf-8")
    return directory


def test_pythonpath_cannot_turn_a_failed_enforce_into_a_pass(tmp_path: Path) -> None:
    """The real enforce script with the real python3: a PYTHONPATH whose sitecustomize exits 0
    would make a violation pass; the job drops PYTHON* first, so it still fails (exit 1)."""
    attack = sitecustomize_attack(tmp_path / "attack")
    out = tmp_path / "work" / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    (out / "summary.json").write_text(FAILED_SUMMARY, encoding="utf-8")
    glci.checkout_scangate(tmp_path / "bin")  # the real `scangate enforce` the job runs
    job = glci.merged_job(jobs_of({}), "scangate-enforce")
    result = run_job_script(job, tmp_path / "work", tmp_path / "bin",
                            {"PYTHONPATH": str(attack)})
    assert result.returncode == 1, result.stderr
    assert not (attack / "ran").exists()
    # The attack is real: without the job's first step, the same variable passes the gate.
    unscrubbed = {**job, "before_script": []}
    result = run_job_script(unscrubbed, tmp_path / "work", tmp_path / "bin",
                            {"PYTHONPATH": str(attack)})
    assert result.returncode == 0 and (attack / "ran").exists()


def write_env_recording_scangate(bin_dir: Path) -> None:
    """A stand-in for the scangate CLI that records the environment it was started with (a
    test double: what is tested is the job's shell before scangate starts)."""
    write_fake_scangate(bin_dir, 0, writes_summary=True)
    script = bin_dir / "scangate"
    text = script.read_text(encoding="utf-8")
    script.write_text(text.replace("#!/bin/sh\n", '#!/bin/sh\nenv > "$SCANGATE_TEST_ARGS.env"\n',
                                   1), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("job_name", ["report", "notify", "push", "securityhub"])
def test_scangate_starts_without_aws_pip_or_python_variables(
    tmp_path: Path, job_name: str,
) -> None:
    inputs = {**INPUTS, "gate-role-arn": "arn:aws:iam::123456789012:role/g",
              "securityhub-role-arn": "arn:aws:iam::123456789012:role/p"}
    job = glci.merged_job(jobs_of(inputs), f"scangate-{job_name}")
    job["variables"]["SCANGATE_SOURCE"] = ""
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    write_env_recording_scangate(tmp_path / "bin")
    env = {**DROPPED_EXAMPLES, "SCANGATE_ID_TOKEN": "a.b.c", "CI_COMMIT_SHA": "0" * 40,
           "CI_PIPELINE_ID": "1", "CI_JOB_ID": "2", "CI_PROJECT_NAME": "app",
           "SCANGATE_IMAGE_ID": "sha256:" + "1" * 64,
           "SCANGATE_IMAGE_ARCHIVE_SHA256": "2" * 64}
    result = run_job_script(job, tmp_path, tmp_path / "bin", env)
    assert result.returncode == 0, result.stderr
    seen = dict(line.split("=", 1) for line in
                (tmp_path / "args.env").read_text(encoding="utf-8").splitlines() if "=" in line)
    leaked = sorted(k for k in seen if k.startswith(("AWS_", "PYTHON")) or (
        k.startswith("PIP_") and k not in ("PIP_CONFIG_FILE", "PIP_DISABLE_PIP_VERSION_CHECK",
                                           "PIP_NO_INPUT")))
    assert leaked == []
    assert seen["PIP_CONFIG_FILE"] == "/dev/null"


# --- the same, with gitlab-ci-local pipeline variables ----------------------------------------


@pytest.fixture(scope="module")
def variables_project(tmp_path_factory: pytest.TempPathFactory, gitlab_ci_local: Path) -> Path:
    project = tmp_path_factory.mktemp("gitlab-variables") / "project"
    ci = yaml.safe_dump({
        "stages": ["build", "test", "deploy"],
        "include": [{"local": glci.TEMPLATE_REL, "inputs": {**INPUTS, "scangate-source": ""}}],
    }, sort_keys=False)
    summary = project.parent / "summary.json"
    summary.write_text(FAILED_SUMMARY, encoding="utf-8")
    return glci.make_project(project, ci, {glci.TEMPLATE_REL: glci.TEMPLATE,
                                           "scangate-out/scangate/summary.json": summary})


@pytest.mark.parametrize("klass", sorted(REFUSED_EXAMPLES))
def test_gitlab_ci_local_refuses_each_class(variables_project: Path, klass: str) -> None:
    """`--variable` is a pipeline variable in gitlab-ci-local, as on GitLab: one of each class
    adds the failing check, which enforce, push and deploy need."""
    name = REFUSED_EXAMPLES[klass][0]
    jobs = glci.list_jobs(variables_project, {"CI_COMMIT_REF_PROTECTED": "true",
                                              name: "https://attacker.example"})
    assert jobs["scangate-overridden-inputs"]["when"] == "always", klass
    for suffix in ("enforce", "push", "deploy"):
        assert "scangate-overridden-inputs" in [n["job"] for n in jobs[f"scangate-{suffix}"]
                                                ["needs"]]


def test_gitlab_ci_local_runs_enforce_with_a_pythonpath_attack(
    variables_project: Path, tmp_path: Path,
) -> None:
    """The enforce job run by gitlab-ci-local (shell executor) with the PYTHONPATH attack and
    the other dropped classes as pipeline variables: it still fails on the recorded violation,
    and the attacker's module never ran."""
    attack = sitecustomize_attack(tmp_path / "attack")
    args = ["--force-shell-executor", "--shell-isolation", "scangate-enforce",
            "--variable", f"PYTHONPATH={attack}"]
    for name, value in DROPPED_EXAMPLES.items():
        if name != "PYTHONPATH":
            args += ["--variable", f"{name}={value}"]
    run = glci.run_gitlab_ci_local(variables_project, args, timeout=600)
    assert "scangate-enforce" in run.failed, run.describe()
    assert "the gate failed: the policy is violated" in run.output, run.describe()
    assert not (attack / "ran").exists()


def test_the_docs_name_the_prerequisites() -> None:
    """GitLab's own controls the docs must point to: who may set pipeline variables, and how
    to protect .gitlab-ci.yml itself."""
    docs = " ".join((glci.REPO_ROOT / "docs" / "gitlab.md").read_text(encoding="utf-8").split())
    for phrase in ("Minimum role to use pipeline variables", "CODEOWNERS",
                   "pipeline execution policies", "protected branches"):
        assert phrase in docs, phrase


def test_a_failed_override_check_still_notifies(tmp_path: Path) -> None:
    """The check job fails the pipeline; notify (on_failure) needs it, so it runs, and its
    marker (a fixed file name, which no variable can move) turns the alert into an ERROR
    even when the gate itself passed."""
    inputs = {"sns-topic-arn": "arn:aws:sns:eu-west-1:123456789012:alerts"}
    jobs = jobs_of(inputs)
    needs = {n["job"]: n for n in jobs["scangate-notify"]["needs"]}
    assert needs["scangate-overridden-inputs"] == {"job": "scangate-overridden-inputs",
                                                   "artifacts": True, "optional": True}
    assert jobs["scangate-overridden-inputs"]["artifacts"]["when"] == "always"
    assert ".scangate-overridden-inputs" in jobs["scangate-overridden-inputs"]["artifacts"][
        "paths"]
    check = glci.merged_job(jobs, "scangate-overridden-inputs")
    result = run_job_script(check, tmp_path, tmp_path / "bin")
    assert result.returncode == 1
    assert (tmp_path / ".scangate-overridden-inputs").exists()
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    (out / "gate-exit-code").write_text("0\n", encoding="utf-8")
    (out / "summary.json").write_text('{"decision": "pass"}', encoding="utf-8")
    write_fake_scangate(tmp_path / "bin", 0, writes_summary=False)
    notify = glci.merged_job(jobs, "scangate-notify")
    notify["variables"]["SCANGATE_SOURCE"] = ""
    result = run_job_script(notify, tmp_path, tmp_path / "bin", {"CI_PROJECT_NAME": "app"})
    assert result.returncode == 0, result.stderr
    [line] = (tmp_path / "args.argv").read_text(encoding="utf-8").splitlines()
    argv = line.split("\037")[:-1][1:]  # after --inputs-from-env=gitlab
    from scangate._cli import build_parser
    from scangate.commands.notify import gate_exit_code

    args = build_parser(argv).parse_args(argv)
    assert args.error_if_exists == [".scangate-overridden-inputs"]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert gate_exit_code(args) == 2  # the real notify's reading: an ERROR alert
    finally:
        os.chdir(cwd)
