"""Every permission the templates grant, derived from the calls the code really makes.

The calls are recorded (tests/aws/recorder.py: botocore event hooks on moto, a response hook on
the registry client against the real local registry) and mapped to IAM actions and resource
ARNs; each role of the templates that runs the step must allow every one of them
(tests/aws/iam.py evaluates the policies as AWS does). The rules AWS applies beyond what
moto enforces are cited where they are used.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from scangate.registry.client import RegistryClient
from scangate.registry.push import push_and_verify, read_archive
from scangate.registry.reference import parse_repository

from tests.aws.iam import (
    ACCOUNT,
    PARTITION,
    REGION,
    Role,
    Stack,
    decide,
    render_json,
    statements,
)
from tests.aws.recorder import RegistryRequest, aws_calls, ecr_actions, resource_of
from tests.support.moto_server import MotoServer

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "templates"
POLICIES = TEMPLATES / "aws" / "policies"
PIPELINE = TEMPLATES / "aws" / "scangate-pipeline.yaml"
MONITORING = TEMPLATES / "aws" / "scangate-monitoring.yaml"
CODEBUILD = TEMPLATES / "codebuild" / "project.yaml"
REPOSITORY = "user-authenticator"
REPOSITORY_ARN = f"arn:{PARTITION}:ecr:{REGION}:{ACCOUNT}:repository/{REPOSITORY}"
SUBJECT = "repo:example-org/user-authenticator:environment:{}"
CODEBUILD_ROLE = "scangate-codebuild"

# Amazon ECR, "IAM permissions required for enhanced scanning" (AmazonECR/latest/userguide/
# image-scanning-enhanced-iam.html): the principal that retrieves enhanced scan findings needs
# inspector2:ListFindings and inspector2:ListCoverage (Resource "*"): ECR reads Inspector with the
# caller's permissions, so without them DescribeImageScanFindings and the scan status of
# DescribeImages are AccessDenied on every enhanced registry, although moto answers them.
ENHANCED_SCANNING_NEEDS = {
    "ecr:DescribeImageScanFindings": ("inspector2:ListFindings", "inspector2:ListCoverage"),
    "ecr:DescribeImages": ("inspector2:ListCoverage",),
}


def pipeline_stack(**parameters: str) -> Stack:
    values = {"OidcProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/"
                                 "token.actions.githubusercontent.com",
              "PushSubject": SUBJECT.format("push"), "PublishSubject": SUBJECT.format("publish"),
              "GateSubject": SUBJECT.format("gate"), "DeploySubject": SUBJECT.format("deploy"),
              "EksClusterName": "demo", "RepositoryName": REPOSITORY}
    values.update(parameters)
    return Stack(PIPELINE, values)


def codebuild_stack() -> Stack:
    return Stack(CODEBUILD, {
        "SourceLocation": "https://example.test/app.git",
        "ScangateSourceLocation": "https://example.test/scangate.git",
        "ScangateSourceVersion": "0" * 40, "RepositoryName": REPOSITORY,
        "AlertsTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:scangate-alerts",
        "TrivySha256": "0" * 64})


def monitoring_stack() -> Stack:
    return Stack(MONITORING, {"CodeBucket": "scangate-code"})


def _json_role(name: str, **values: str) -> Role:
    defaults = {"PARTITION": PARTITION, "REGION": REGION, "ACCOUNT_ID": ACCOUNT,
                "REPOSITORY_NAME": REPOSITORY}
    document = render_json(POLICIES / name, {**defaults, **values})
    return Role(f"policies/{name}", f"arn:aws:iam::{ACCOUNT}:role/{name}", statements(document))


def _documented_policy(heading: str) -> Role:
    """The JSON policy docs/aws.md gives under a heading such as `scangate ecr-findings`:."""
    text = (REPO_ROOT / "docs" / "aws.md").read_text(encoding="utf-8")
    block = re.search(re.escape(heading) + r"\n\n```json\n(.*?)\n```", text, re.S)
    assert block, f"docs/aws.md: no policy under {heading}"
    document = json.loads(block.group(1).replace("REGION", REGION).replace("ACCOUNT", ACCOUNT)
                          .replace("arn:aws:ecr:us-east-1:123456789012:repository/NAME",
                                   REPOSITORY_ARN))
    return Role(f"docs/aws.md {heading}", "documented", statements(document))


def _missing(role: Role, needed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(action, resource) for action, resource in needed
            if decide(role.statements, action, resource) != "allow"]


# --- 1. push: the registry requests of a real push with read-back ------------------------------


@pytest.fixture(scope="module")
def pushed_requests(registry: str, tmp_path_factory: pytest.TempPathFactory
                    ) -> list[RegistryRequest]:
    """A real `scangate push` (push_and_verify: upload, tag, read back) to the local registry,
    every HTTP request recorded."""
    from tests.steps import images

    workdir = tmp_path_factory.mktemp("push-permissions")
    built = images.build_scratch_image(workdir, "permissions", uuid.uuid4().hex)
    image, blobs, sha = read_archive(built.archive, built.image_id, workdir, None)
    client = RegistryClient(parse_repository(f"{registry}/scangate-tests/permissions"))
    seen: list[RegistryRequest] = []

    def record(response: Any, *args: Any, **kwargs: Any) -> None:
        for hop in (*response.history, response):
            seen.append(RegistryRequest(hop.request.method, hop.request.url))

    client.http.hooks["response"].append(record)
    push_and_verify(client, image, blobs, ["t1"], sha, lambda _: None)
    return seen


def _push_needs(requests: list[RegistryRequest]) -> list[tuple[str, str]]:
    needed = set()
    for request in requests:
        name, actions = ecr_actions(request)
        for action in actions:
            # Same path, other repository name: the ECR repository the templates create.
            needed.add((action, "*" if not name else REPOSITORY_ARN))
    return sorted(needed)


def test_the_push_reads_its_config_blob_back(pushed_requests: list[RegistryRequest]) -> None:
    """The read-back GETs the config blob: on ECR that is ecr:GetDownloadUrlForLayer."""
    needed = _push_needs(pushed_requests)
    assert ("ecr:GetDownloadUrlForLayer", REPOSITORY_ARN) in needed
    assert ("ecr:PutImage", REPOSITORY_ARN) in needed


def _pushers() -> list[Role]:
    return [pipeline_stack().roles()["PushRole"], _json_role("push-policy.json"),
            codebuild_stack().roles()["Role"]]


def test_every_role_that_pushes_allows_every_request_of_the_push(
        pushed_requests: list[RegistryRequest]) -> None:
    needed = _push_needs(pushed_requests)
    for role in _pushers():
        assert _missing(role, needed) == [], role.name


# --- 2. the repository policy lets every writer the templates create write ---------------------

WRITES = ("ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
          "ecr:CompleteLayerUpload")


def _writers(roles: list[Role]) -> list[Role]:
    """Roles whose identity policy allows an image write to the repository."""
    return [r for r in roles
            if any(decide(r.statements, a, REPOSITORY_ARN) == "allow" for a in WRITES)]


@pytest.mark.parametrize("monitoring", [True, False], ids=["mark-deployed", "no-monitoring"])
def test_the_repository_policy_exempts_every_writer_the_templates_create(
        monitoring: bool) -> None:
    codebuild_role = codebuild_stack().roles()["Role"]
    # The CodeBuild stack's role ARN, as its RoleArn output gives it to the pipeline stack.
    # With MonitoringEventBus the deploy role tags deployed digests (scangate mark-deployed).
    stack = pipeline_stack(CodeBuildRoleArn=codebuild_role.arn,
                           **({"MonitoringEventBus": "scangate-monitoring"} if monitoring else {}))
    roles = [*stack.roles().values(), codebuild_role]
    writers = _writers(roles)
    assert {r.name for r in writers} == {"scangate-pipeline.yaml PushRole",
                                         "project.yaml Role"} | (
        {"scangate-pipeline.yaml DeployRole"} if monitoring else set())
    policies = {
        "CloudFormation": statements(stack.resolve(
            stack.resources["Repository"]["Properties"]["RepositoryPolicyText"])),
    }
    if monitoring:  # the JSON as filled for a deploy job that runs mark-deployed
        policies["policies/ecr-repository-policy.json"] = statements(render_json(
            POLICIES / "ecr-repository-policy.json",
            {"PUSH_ROLE_ARN": stack.roles()["PushRole"].arn,
             "CODEBUILD_ROLE_ARN": codebuild_role.arn,
             "DEPLOY_ROLE_ARN": stack.roles()["DeployRole"].arn}))
    strangers = [f"arn:aws:iam::{ACCOUNT}:user/platform-admin",
                 f"arn:aws:iam::{ACCOUNT}:role/another-pipeline-push"]
    for where, policy in policies.items():
        # Per action: exactly the roles whose own policy allows it pass the Deny (the deploy
        # role PutImage alone: it may tag, never upload a layer).
        for action in WRITES:
            allowed = [r for r in roles
                       if decide(r.statements, action, REPOSITORY_ARN) == "allow"]
            for writer in allowed:
                context = {"aws:PrincipalArn": writer.arn, "aws:SecureTransport": "true"}
                assert decide(policy, action, REPOSITORY_ARN, context) != "deny", (
                    where, writer.name, action)
            for arn in [r.arn for r in roles if r not in allowed] + strangers:
                context = {"aws:PrincipalArn": arn, "aws:SecureTransport": "true"}
                assert decide(policy, action, REPOSITORY_ARN, context) == "deny", (
                    where, arn, action)
    # Without the parameter, only the push role writes (the CodeBuild role is denied).
    alone = pipeline_stack()
    policy = statements(alone.resolve(
        alone.resources["Repository"]["Properties"]["RepositoryPolicyText"]))
    assert decide(policy, "ecr:PutImage", REPOSITORY_ARN,
                  {"aws:PrincipalArn": codebuild_role.arn}) == "deny"


def test_terraform_repository_policy_exempts_the_codebuild_and_deploy_roles() -> None:
    from tests.support.hcl import load_terraform

    main = load_terraform(TEMPLATES / "terraform" / "main.tf")
    [document] = [block["aws_iam_policy_document"]["repository"] for block in main["data"]
                  if "repository" in block.get("aws_iam_policy_document", {})]
    denies = {s["sid"]: s for s in document["statement"] if s["effect"] == "Deny"}
    uploads, puts = (denies["OnlyThePipelineWritersUploadLayers"],
                     denies["OnlyThePipelineWritersPutImages"])
    assert sorted(uploads["actions"] + puts["actions"]) == sorted(WRITES)
    assert puts["actions"] == ["ecr:PutImage"]
    [upload_condition], [put_condition] = uploads["condition"], puts["condition"]
    assert upload_condition["test"] == put_condition["test"] == "ArnNotEquals"
    # The push role and, when set, the CodeBuild role (compact() drops an empty variable); for
    # PutImage also the deploy role when the monitoring bus is set (mark-deployed's tag).
    assert upload_condition["values"] == (
        '${compact([aws_iam_role.ci["push"].arn, var.codebuild_role_arn])}')
    assert put_condition["values"] == (
        '${compact([aws_iam_role.ci["push"].arn, var.codebuild_role_arn, '
        'var.monitoring_event_bus == "" ? "" : aws_iam_role.ci["deploy"].arn])}')


# --- 3. ecr-findings and the monitor with enhanced scanning -------------------------------------

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)


def _with_enhanced_scanning(calls: list[Any]) -> list[tuple[str, str]]:
    needed = {(c.action, resource_of(c)) for c in calls}
    for action, _ in list(needed):
        for extra in ENHANCED_SCANNING_NEEDS.get(action, ()):
            needed.add((extra, "*"))
    return sorted(needed)


def _enhanced_image(moto: MotoServer) -> tuple[Any, str]:
    """An image of an ENHANCED registry with an ACTIVE Inspector scan, on moto (the monitor's
    world: queues, table, topic, policy)."""
    from tests.monitor.world import World

    world = World.create(moto)
    digest = world.push(REPOSITORY, 1, "prod-1")
    boto3.client("ecr").put_registry_scanning_configuration(scanType="ENHANCED", rules=[
        {"scanFrequency": "CONTINUOUS_SCAN",
         "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}])
    world.scan(digest, [], T0, enhanced=[])
    return world, digest


def test_ecr_findings_on_an_enhanced_registry(
        moto: MotoServer, tmp_path: Path, cli: Callable[[list[str]], int]) -> None:
    _, digest = _enhanced_image(moto)
    with aws_calls() as calls:
        code = cli(["ecr-findings", "--repository", REPOSITORY, "--digest", digest,
                    "--output", str(tmp_path / "ecr.json")])
    assert code == 0
    needed = _with_enhanced_scanning(calls)
    assert ("ecr:DescribeImageScanFindings", REPOSITORY_ARN) in needed
    assert ("inspector2:ListFindings", "*") in needed
    for role in (codebuild_stack().roles()["Role"], _documented_policy("`scangate ecr-findings`:")):
        # The CodeBuild project has scan on push: it may start a scan but need not read the
        # registry's scanning configuration (ecr-findings then tries a basic scan).
        optional = {("ecr:GetRegistryScanningConfiguration", "*")} if role.arn != "documented" \
            else set()
        assert [m for m in _missing(role, needed) if m not in optional] == [], role.name


def test_the_monitor_role_reads_enhanced_findings(moto: MotoServer) -> None:
    from scangate.monitor import handler

    from tests.monitor import samples
    from tests.monitor.world import sqs_event

    world, digest = _enhanced_image(moto)
    with aws_calls() as calls:
        proc = world.processor()
        body = json.dumps(samples.retarget(samples.INSPECTOR2_FINDING, repository=REPOSITORY,
                                           digest=digest, event_id="e1"))
        assert handler.handle(proc, sqs_event([body])) == {"batchItemFailures": []}
    needed = _with_enhanced_scanning(calls)
    assert ("ecr:DescribeImageScanFindings", REPOSITORY_ARN) in needed
    role = monitoring_stack().roles()["Role"]
    reads = [n for n in needed if n[0].startswith(("ecr:", "inspector2:"))]
    assert _missing(role, reads) == [], role.name
