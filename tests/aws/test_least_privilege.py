"""Each role allows every action its job's code makes, and grants no action no path uses.

Every documented path is run for real (scangate's commands in-process, the monitor's handler,
a push to the real local registry) with every AWS operation recorded through botocore's event
hooks on moto (tests/aws/recorder.py) and mapped to its IAM action and resource. For each role
of templates/aws (CloudFormation, resolved as tests/aws/iam.py documents) and
templates/aws/policies/*.json:

- every recorded (action, resource) is allowed (AWS policy evaluation, tests/aws/iam.py);
- every action the role allows was recorded, or is one of EXCEPTIONS below, each with the
  reason it is granted although our code never calls it (a service acting with the role's
  permissions).

Terraform grants the same: tests/templates/test_terraform.py keeps its four job policies equal
to policies/*.json, tests/monitor/test_templates.py keeps the monitor's and the CodeBuild
role's statements equal to the CloudFormation ones.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.aws.iam import ACCOUNT, REGION, Role, Stack, decide
from tests.aws.recorder import Call, RegistryRequest, aws_calls, ecr_actions, resource_of
from tests.aws.test_permissions import (
    ENHANCED_SCANNING_NEEDS,
    MONITORING,
    REPOSITORY,
    REPOSITORY_ARN,
    _documented_policy,
    _json_role,
    codebuild_stack,
    pipeline_stack,
    pushed_requests,  # noqa: F401 - the module fixture, shared
)
from tests.support.moto_server import MotoServer

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
PREFIX = "/container-security/vulnerability-thresholds"
Needed = set[tuple[str, str]]

# (role, action): why it is granted though no recorded call makes it.
SNS_KMS = ("SNS asks KMS for a data key with the publisher's permissions when the topic has a "
           "customer-managed key (SNS developer guide, 'Encryption at rest': key management)")
EXCEPTIONS: dict[str, dict[str, str]] = {
    "gate": {"kms:GenerateDataKey": SNS_KMS, "kms:Decrypt": SNS_KMS},
    "codebuild": {
        "kms:GenerateDataKey": SNS_KMS + "; CodeBuild encrypts logs and artifacts with the "
                               "project's EncryptionKey using the service role",
        "kms:Decrypt": SNS_KMS + "; CodeBuild decrypts with the project's key likewise",
        "logs:CreateLogStream": "CodeBuild writes the build's CloudWatch log stream with the "
                                "service role (CodeBuild user guide, 'Create a service role')",
        "logs:PutLogEvents": "the same: the build's log lines",
    },
    "monitor": {
        "sqs:ReceiveMessage": "the SQS event source mapping polls the queue with the function's "
                              "execution role (Lambda developer guide, SQS: execution role "
                              "permissions)",
        "sqs:DeleteMessage": "the same: the mapping deletes what the function processed",
        "sqs:GetQueueAttributes": "the same: the mapping reads the queue's attributes",
        "kms:Decrypt": "SQS, DynamoDB and Lambda's environment are encrypted with the stack's "
                       "key: the services decrypt with the caller's permissions",
        "kms:GenerateDataKey": "the same: SNS and SQS encrypt with the caller's permissions",
        "logs:CreateLogStream": "the Lambda runtime writes the function's logs with its role",
        "logs:PutLogEvents": "the same",
        "xray:PutTraceSegments": "active tracing: the Lambda runtime sends trace segments with "
                                 "the function's role",
        "xray:PutTelemetryRecords": "the same",
    },
}


def _needed(calls: list[Call], *, enhanced: bool = False) -> Needed:
    found = {(c.action, resource_of(c)) for c in calls}
    if enhanced:
        for action, _ in list(found):
            found |= {(extra, "*") for extra in ENHANCED_SCANNING_NEEDS.get(action, ())}
    return found


def _check(job: str, role: Role, needed: Needed) -> None:
    missing = sorted((a, r) for a, r in needed if decide(role.statements, a, r) != "allow")
    assert missing == [], f"{role.name} lacks {missing}"
    granted = {a for s in role.statements if s.effect == "Allow" for a in s.actions}
    used = {a for a, _ in needed} | set(EXCEPTIONS.get(job, {}))
    assert granted - used == set(), f"{role.name} grants what no path uses: {granted - used}"
    assert all("*" not in a for a in granted), role.name


@pytest.fixture
def main() -> Callable[[list[str]], int]:
    from scangate import _cli

    return _cli.main


def _report(tmp_path: Path, highs: int) -> str:
    vulns = [{"VulnerabilityID": f"CVE-2026-{i:04d}", "PkgName": "openssl",
              "InstalledVersion": "3.0.0", "Severity": "HIGH", "Title": "t"}
             for i in range(highs)]
    doc = {"SchemaVersion": 2, "ArtifactName": "image.tar", "ArtifactType": "container_image",
           "Metadata": {"ImageID": "sha256:" + "cd" * 32,
                        "RepoTags": [f"{REPOSITORY}:local"]},
           "Results": [{"Target": "image.tar (debian 12.5)", "Class": "os-pkgs",
                        "Type": "debian", "Vulnerabilities": vulns}]}
    path = tmp_path / f"trivy-{highs}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


# --- the four CI jobs of scangate-pipeline.yaml --------------------------------------------------


def test_push_role(pushed_requests: list[RegistryRequest]) -> None:  # noqa: F811
    needed: Needed = set()
    for request in pushed_requests:
        name, actions = ecr_actions(request)
        needed |= {(a, REPOSITORY_ARN if name else "*") for a in actions}
    for role in (pipeline_stack().roles()["PushRole"], _json_role("push-policy.json")):
        _check("push", role, needed)


def test_publish_role_import_and_archive(moto: MotoServer, tmp_path: Path,
                                         main: Callable[[list[str]], int]) -> None:
    pushed = tmp_path / "push.json"
    digest = "sha256:" + "ab" * 32
    uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"
    pushed.write_text(json.dumps({"image-uri": f"{uri}@{digest}", "image-digest": digest,
                                  "tags": ["prod-1"], "image-id": "sha256:" + "cd" * 32}))
    with aws_calls() as calls:
        for highs in (2, 1):  # the second run archives the fixed finding
            assert main(["securityhub", "--report", _report(tmp_path, highs), "--push-result",
                         str(pushed), "--account-id", ACCOUNT, "--archive-missing"]) == 0
    needed = _needed(calls)
    assert {a for a, _ in needed} == {"securityhub:BatchImportFindings",
                                      "securityhub:GetFindings"}
    for role in (pipeline_stack().roles()["PublishRole"], _json_role("publish-policy.json")):
        _check("publish", role, needed)


def _gate_job(main: Callable[[list[str]], int], tmp_path: Path, topic: str) -> None:
    summary = str(tmp_path / "summary.json")
    assert main(["gate", "--report", _report(tmp_path, 6), "--thresholds-from-ssm", PREFIX,
                 "--quiet", "--json-summary", summary]) == 1
    # The workflows' policy input may name an SSM parameter (`ssm:/...`) under the prefix.
    assert main(["gate", "--report", _report(tmp_path, 1), "--policy", f"ssm:{PREFIX}/policy",
                 "--quiet"]) == 1
    assert main(["notify", "--summary", summary, "--gate-exit-code", "1",
                 "--sns-topic-arn", topic]) == 0


def test_gate_role_limits_policy_and_alerts(moto: MotoServer, tmp_path: Path,
                                            main: Callable[[list[str]], int]) -> None:
    stack = pipeline_stack()
    topic = stack.attribute("AlertsTopic", "Ref")
    boto3.client("sns").create_topic(Name=topic.rsplit(":", 1)[-1])
    ssm = boto3.client("ssm")
    for severity, value in (("critical", "0"), ("high", "5")):
        ssm.put_parameter(Name=f"{PREFIX}/{severity}", Value=value, Type="String")
    ssm.put_parameter(Name=f"{PREFIX}/policy", Value="version: 1\nthresholds:\n  high: 0\n",
                      Type="String")
    with aws_calls() as calls:
        _gate_job(main, tmp_path, topic)
    needed = _needed(calls)
    assert {a for a, _ in needed} == {"ssm:GetParameters", "ssm:GetParameter", "sns:Publish"}
    alerts_key = stack.attribute("AlertsKey", "Arn").rsplit("/", 1)[-1]
    for role in (stack.roles()["GateRole"], _json_role(
            "gate-policy.json", THRESHOLDS_PREFIX=PREFIX, ALERTS_TOPIC_NAME="scangate-alerts",
            ALERTS_KEY_ID=alerts_key)):
        _check("gate", role, needed)


def test_deploy_role_cluster_and_mark_deployed(moto: MotoServer, tmp_path: Path,
                                               main: Callable[[list[str]], int]) -> None:
    from scangate.deploy.eks_auth import describe_cluster, eks_token

    boto3.client("eks").create_cluster(name="demo", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
                                       resourcesVpcConfig={})
    boto3.client("events").create_event_bus(Name="scangate-monitoring")
    from tests.monitor.world import World

    digest = World.create(moto).push(REPOSITORY, 1, "prod-1")
    session = boto3.session.Session(region_name=REGION)
    with aws_calls() as calls:
        describe_cluster(session, "demo", REGION)
        eks_token(session, "demo", REGION)  # a presigned GetCallerIdentity: no permission
        # Deployed: the event, then the digest tagged for the lifecycle rules to keep;
        # withdrawn: the event only.
        for withdrawn in ([], ["--withdrawn"]):
            assert main(["mark-deployed", "--repository", REPOSITORY, "--digest", digest,
                         "--event-bus", "scangate-monitoring", *withdrawn]) == 0
    # STS: GetCallerIdentity needs no permission ("GetCallerIdentity" in the STS API
    # reference: no IAM permission is required, even when explicitly denied).
    needed = {n for n in _needed(calls) if n[0] != "sts:GetCallerIdentity"}
    assert {a for a, _ in needed} == {"eks:DescribeCluster", "events:PutEvents",
                                      "ecr:BatchGetImage", "ecr:PutImage"}
    assert ("ecr:PutImage", REPOSITORY_ARN) in needed
    stack = pipeline_stack(MonitoringEventBus="scangate-monitoring")
    role = stack.roles()["DeployRole"]
    _check("deploy", role, needed)
    standalone = _json_role("deploy-policy.json", EKS_CLUSTER_NAME="demo")
    _check("deploy", standalone, {n for n in needed if n[0] == "eks:DescribeCluster"})


# --- CodeBuild -----------------------------------------------------------------------------------


def test_codebuild_role(moto: MotoServer, tmp_path: Path, main: Callable[[list[str]], int],
                        pushed_requests: list[RegistryRequest]) -> None:  # noqa: F811
    """The buildspec's AWS steps: the policy from SSM, push (registry), ecr-findings on a basic
    registry (starting the scan) and on an enhanced one, notify."""
    from tests.monitor.world import World

    needed: Needed = set()
    for request in pushed_requests:
        name, actions = ecr_actions(request)
        needed |= {(a, REPOSITORY_ARN if name else "*") for a in actions}
    world = World.create(moto)
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/scangate/policy", Value="version: 1\nthresholds:\n  high: 0\n",
                      Type="String")
    topic = boto3.client("sns").create_topic(Name="scangate-alerts")["TopicArn"]
    basic = world.push(REPOSITORY, 1, "prod-1")
    with aws_calls() as calls:
        assert main(["gate", "--report", _report(tmp_path, 0), "--policy", "ssm:/scangate/policy",
                     "--quiet"]) == 0
        # No scan yet on a BASIC registry: ecr-findings starts one (moto completes it at once).
        code = main(["ecr-findings", "--repository", REPOSITORY, "--digest", basic,
                     "--output", str(tmp_path / "basic.json")])
        assert main(["notify", "--gate-exit-code", "2", "--sns-topic-arn", topic]) == 0
    assert code in (0, 2)
    needed |= _needed(calls)
    assert ("ecr:StartImageScan", REPOSITORY_ARN) in needed
    enhanced = world.push(REPOSITORY, 2, "prod-2")
    boto3.client("ecr").put_registry_scanning_configuration(scanType="ENHANCED", rules=[
        {"scanFrequency": "CONTINUOUS_SCAN",
         "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}])
    world.scan(enhanced, [], T0, enhanced=[])
    with aws_calls() as calls:
        assert main(["ecr-findings", "--repository", REPOSITORY, "--digest", enhanced,
                     "--output", str(tmp_path / "enhanced.json")]) == 0
    needed |= _needed(calls, enhanced=True)
    role = codebuild_stack().roles()["Role"]
    # Its role reads the SSM policy and publishes to the topic the stack is given.
    _check("codebuild", role, needed)
    documented = _documented_policy("`scangate ecr-findings`:")
    reads = {n for n in needed if n[0].startswith(("ecr:Describe", "ecr:Start", "ecr:GetReg",
                                                   "inspector2:"))}
    _check("ecr-findings", documented, reads)


# --- the registry monitor ------------------------------------------------------------------------


def test_monitor_role(moto: MotoServer) -> None:
    """Every path of the monitor: a basic and an enhanced scan, an image turning FAIL (alert),
    a deployment mark, the sweep of deployed images, a malformed event (dead letter)."""
    from scangate.monitor import handler

    from tests.monitor import samples
    from tests.monitor.world import World, basic_finding, sqs_event

    world = World.create(moto)
    failing = world.push(REPOSITORY, 1, "prod-1")
    world.scan(failing, [basic_finding("CVE-2026-1", "CRITICAL", "openssl")], T0)

    def event(sample: dict[str, Any], digest: str, event_id: str) -> str:
        return json.dumps(samples.retarget(sample, repository=REPOSITORY, digest=digest,
                                           event_id=event_id))

    deployed = {"version": "0", "id": "d1", "detail-type": "Scangate Image Deployed",
                "source": "scangate.monitor", "account": ACCOUNT, "region": REGION,
                "time": "2026-01-05T10:00:00Z", "resources": [],
                "detail": {"repository-name": REPOSITORY, "image-digest": failing,
                           "deployed": True}}
    sweep = {"version": "0", "id": "s1", "detail-type": "Scheduled Event",
             "source": "aws.events", "account": ACCOUNT, "region": REGION,
             "time": "2026-01-06T10:00:00Z", "resources": [], "detail": {}}
    with aws_calls() as calls:
        proc = world.processor()
        for body in (event(samples.ECR_IMAGE_SCAN, failing, "e1"), json.dumps(deployed),
                     json.dumps(sweep), "{not json"):
            handler.handle(proc, sqs_event([body]))
    enhanced = world.push(REPOSITORY, 2, "prod-2")
    boto3.client("ecr").put_registry_scanning_configuration(scanType="ENHANCED", rules=[
        {"scanFrequency": "CONTINUOUS_SCAN",
         "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}])
    world.scan(enhanced, [], T0, enhanced=[])
    with aws_calls() as more:
        proc = world.processor()
        handler.handle(proc, sqs_event([event(samples.INSPECTOR2_FINDING, enhanced, "i1")]))
    calls += more
    needed = _needed(calls, enhanced=True)
    actions = {a for a, _ in needed}
    assert {"sns:Publish", "sqs:SendMessage", "dynamodb:Query"} <= actions, actions
    from tests.monitor.world import POLICY_NAME

    role = Stack(MONITORING, {"CodeBucket": "code", "PolicyParameterName": POLICY_NAME}).roles()
    _check("monitor", role["Role"], needed)
