"""`push-target`: what the push job hands `scangate push` for ECR, a plain registry and GitLab's.

The push job's shell runs here as the runner runs it (POSIX sh, the job's variables), around a
scangate test double that records its arguments (tests/gitlab/test_gitlab_rules.py's); the
recorded call is then expanded by the real `--inputs-from-env=gitlab`, parsed by the real
parser, and its target resolved by the real `scangate push` (push.target_repository). The real
push to a registry with GitLab's token auth runs in tests/gitlab/test_pipeline.py, and
`--registry-password-env` in tests/steps/test_push.py.
"""

from __future__ import annotations

import argparse
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from scangate.commands import push
from scangate.errors import UsageError
from scangate.registry.reference import parse_repository

from tests.gitlab import glci
from tests.gitlab.test_gitlab_rules import jobs_of, run_job_script, write_fake_scangate
from tests.steps.images import one_layer_archive, read_members, sha256_hex
from tests.support import loopback

JOB_TOKEN = "glcbt-not-a-real-token-0123"
GITLAB_JOB = {"CI_REGISTRY": "registry.gitlab.example.com",
              "CI_REGISTRY_IMAGE": "registry.gitlab.example.com/group/project",
              "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": JOB_TOKEN,
              "CI_PROJECT_NAME": "Project", "CI_COMMIT_SHA": "0" * 40, "CI_PIPELINE_ID": "7",
              "CI_JOB_ID": "9", "CI_COMMIT_BRANCH": "main",
              "SCANGATE_IMAGE_ARCHIVE_SHA256": "a" * 64, "SCANGATE_IMAGE_ID": "sha256:" + "b" * 64}


def run_push(tmp_path: Path, inputs: dict[str, Any], env: dict[str, str] | None = None
             ) -> tuple[int, str, list[list[str]]]:
    """(exit code, stderr, every scangate call's argv) of the push job's script."""
    job = glci.merged_job(jobs_of({"push": True, **inputs}), "scangate-push")
    job["variables"]["SCANGATE_SOURCE"] = ""  # the double on PATH
    (tmp_path / "scangate-out" / "scangate").mkdir(parents=True)
    write_fake_scangate(tmp_path / "bin", 0, False)
    result = run_job_script(job, tmp_path, tmp_path / "bin", {**GITLAB_JOB, **(env or {})})
    argv_file = tmp_path / "args.argv"
    calls = []
    if argv_file.exists():
        for line in argv_file.read_text(encoding="utf-8").splitlines():
            calls.append(line.split("\037")[:-1])
    return result.returncode, result.stderr, calls


def option(call: list[str], name: str) -> list[str]:
    return [call[i + 1] for i, arg in enumerate(call[:-1]) if arg == name]


def push_args(tmp_path: Path, inputs: dict[str, Any], env: dict[str, str] | None = None,
              ) -> tuple[argparse.Namespace, dict[str, str], list[list[str]]]:
    """The push job's `scangate push` as scangate sees it, and the job's environment."""
    from scangate import env_inputs
    from scangate._cli import build_parser

    code, err, calls = run_push(tmp_path, inputs, env)
    assert code == 0, err
    [call] = [c for c in calls if c[:2] == ["--inputs-from-env=gitlab", "push"]]
    job = glci.merged_job(jobs_of({"push": True, **inputs}), "scangate-push")
    environ = {**job["variables"], **GITLAB_JOB, **(env or {})}
    parser = build_parser(call[1:])
    argv = env_inputs.argv_with_env_inputs(parser, call[1:], environ, "gitlab")
    return parser.parse_args(argv), environ, calls


@pytest.mark.parametrize(("sub_path", "repository"), [
    ("", "registry.gitlab.example.com/group/project"),
    ("api", "registry.gitlab.example.com/group/project/api"),
])
def test_gitlab_target_pushes_to_the_project_registry_with_the_job_token(
    tmp_path: Path, sub_path: str, repository: str,
) -> None:
    args, environ, calls = push_args(tmp_path, {"push-target": "gitlab",
                                                "ecr-repository": sub_path})
    assert push.target_repository(args, environ) == repository
    assert args.registry_username == "gitlab-ci-token"
    # The token is read by name from the environment: never an argument.
    assert args.registry_password_env == "CI_REGISTRY_PASSWORD"
    assert not any(JOB_TOKEN in arg for c in calls for arg in c)
    assert args.role_arn is None and args.aws_region is None
    # The same scanned-image checks as every other target.
    assert str(args.decision) == "scangate-out/scangate/summary.json"
    assert args.image_id == GITLAB_JOB["SCANGATE_IMAGE_ID"]
    assert args.archive_sha256 == GITLAB_JOB["SCANGATE_IMAGE_ARCHIVE_SHA256"]


def test_a_project_without_a_registry_gets_an_empty_user_refused(tmp_path: Path) -> None:
    """GitLab defines CI_REGISTRY_USER only with the container registry on: scangate then
    refuses the empty user with one line, never pushes anonymously."""
    env = {"CI_REGISTRY_USER": ""}
    args, environ, _ = push_args(tmp_path, {"push-target": "gitlab"}, env)
    del environ["CI_REGISTRY_USER"]
    repository = push.target_repository(args, environ)
    assert args.registry_username == ""
    with pytest.raises(UsageError, match="--registry-username is empty"):
        push._client(args, parse_repository(repository))


def test_a_project_without_a_registry_fails_naming_the_variable(tmp_path: Path) -> None:
    """No container registry, no CI_REGISTRY_IMAGE: scangate stops naming it, before any
    push."""
    args, environ, _ = push_args(tmp_path, {"push-target": "gitlab"})
    del environ["CI_REGISTRY_IMAGE"]
    with pytest.raises(UsageError, match="CI_REGISTRY_IMAGE is not set"):
        push.target_repository(args, environ)


@pytest.mark.parametrize("inputs", [
    {"push-target": "gitlab", "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"},
    {"push-target": "gitlab", "push-role-arn": "arn:aws:iam::123456789012:role/push"},
    {"push-target": "registry", "registry": ""},
])
def test_a_target_without_its_inputs_or_with_the_other_targets_fails_before_any_push(
    tmp_path: Path, inputs: dict[str, Any], capsys: pytest.CaptureFixture[str],
) -> None:
    args, environ, _ = push_args(tmp_path, inputs)
    with pytest.raises(UsageError) as refused:
        push.target_repository(args, environ)
    message = refused.value.message
    assert message.startswith(f"push-target {inputs['push-target']}:") and "\n" not in message


def test_registry_target_keeps_the_ecr_login_and_the_image_name(tmp_path: Path) -> None:
    host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    args, environ, _ = push_args(tmp_path, {
        "registry": host, "push-role-arn": "arn:aws:iam::123456789012:role/push"})
    # image-name empty: the project's name, lowercased.
    assert push.target_repository(args, environ) == f"{host}/project"
    assert args.role_arn == "arn:aws:iam::123456789012:role/push"
    # aws-region empty: scangate takes the region from the ECR host.
    assert args.aws_region is None
    assert args.registry_username is None
    # The job's own tag, and no other (the image-tag input is empty).
    assert args.pipeline_tag and args.tag == []
    # With image-name set, it names the repository (in the alert too: tests/gitlab notify).
    args, environ, _ = push_args(tmp_path / "named", {"registry": host, "image-name": "team/app"})
    assert push.target_repository(args, environ) == f"{host}/team/app"


@pytest.mark.parametrize(("inputs", "env", "environment"), [
    ({}, {}, "staging"),
    ({}, {"CI_COMMIT_TAG": "v1.2.3", "CI_COMMIT_BRANCH": ""}, "prod"),
    ({"tag-environment": "dev"}, {"CI_COMMIT_TAG": "v1.2.3"}, "dev"),
    ({"image-tag": "release-1"}, {}, "staging"),
])
def test_the_tags(tmp_path: Path, inputs: dict[str, Any], env: dict[str, str],
                  environment: str) -> None:
    """prod on tags, staging on the default branch, or tag-environment; the commit, pipeline ID
    and job ID of GitLab's predefined variables (the job ID keeps a re-run's tag new); then
    image-tag, if set."""
    args, environ, _ = push_args(tmp_path, {"push-target": "gitlab", **inputs}, env)
    assert args.pipeline_tag
    assert push.pipeline_tag(args.tag_environment, environ) == f"{environment}-{'0' * 40}-7-9"
    assert args.tag == ([inputs["image-tag"]] if "image-tag" in inputs else [])


@pytest.mark.parametrize(("unset", "value", "expected"), [
    ("CI_JOB_ID", "", "CI_JOB_ID not set (not a GitLab job?)"),
    ("CI_COMMIT_SHA", "main", "is not a commit id"),
    ("CI_PIPELINE_ID", "7; rm -rf /", "is not a run number"),
])
def test_a_pipeline_tag_without_gitlabs_variables_is_refused(
    unset: str, value: str, expected: str,
) -> None:
    environ = {**GITLAB_JOB, unset: value}
    with pytest.raises(UsageError, match=re.escape(expected)) as refused:
        push.pipeline_tag(None, environ)
    assert refused.value.message.startswith("--pipeline-tag")


@pytest.mark.docker
def test_the_push_job_pushes_under_its_tag_and_writes_openvex_for_the_digest(
    tmp_path: Path, registry: str,
) -> None:
    """The push job's script as the runner runs it, with this checkout's real scangate, to the
    real registry: the pipeline tag, the repository from image-name, and the gate's waiver as
    an OpenVEX statement about the pushed digest (`push --openvex`: `scangate openvex`'s code)."""
    out = tmp_path / "scangate-out" / "scangate"
    out.mkdir(parents=True)
    archive = one_layer_archive(out / "image.tar", {"app/run": b"#!/bin/sh\n"})
    members = read_members(archive)
    [config] = [name for name in members if name.endswith(".json") and name != "manifest.json"]
    image_id = "sha256:" + sha256_hex(members[config])
    waiver = {"id": "CVE-2024-0001", "kind": "vulnerability", "reason": "not reachable",
              "expires": "2099-01-01", "report": "trivy-image.json", "waiver": "w1",
              "purl": "pkg:pypi/app@1.0", "justification": "vulnerable_code_not_in_execute_path"}
    (out / "summary.json").write_text(json.dumps({
        "decision": "pass", "violations": [],
        "counts": dict.fromkeys(("critical", "high", "medium", "low", "unknown"), 0),
        "reports": [{"path": "trivy-image.json", "artifact_type": "container_image",
                     "image_id": image_id, "findings": 0}],
        "waived_findings": [waiver]}), encoding="utf-8")
    name = f"scangate-tests/gitlab-push-{uuid.uuid4().hex[:10]}"
    job = glci.merged_job(jobs_of({"push": True, "registry": registry, "image-name": name}),
                          "scangate-push")
    job["variables"]["SCANGATE_SOURCE"] = ""
    glci.checkout_scangate(tmp_path / "bin")
    result = run_job_script(job, tmp_path, tmp_path / "bin", {
        **GITLAB_JOB, "SCANGATE_IMAGE_ID": image_id,
        "SCANGATE_IMAGE_ARCHIVE_SHA256": sha256_hex(archive.read_bytes())})
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "push.json").read_text(encoding="utf-8"))
    assert record["repository"] == f"{registry}/{name}"
    assert record["tags"] == [f"staging-{'0' * 40}-7-9"]
    status, headers, _ = loopback.get(
        f"http://{registry}/v2/{name}/manifests/{record['tags'][0]}",
        {"Accept": "application/vnd.oci.image.manifest.v1+json, "
                   "application/vnd.docker.distribution.manifest.v2+json"})
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["docker-content-digest"] == \
        record["image-digest"]
    vex = json.loads((out / "scangate.openvex.json").read_text(encoding="utf-8"))
    [statement] = vex["statements"]
    assert statement["vulnerability"]["name"] == "CVE-2024-0001"
    assert statement["status"] == "not_affected"
    [product] = statement["products"]
    assert record["image-digest"].replace(":", "%3A") in product["@id"]
