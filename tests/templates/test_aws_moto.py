"""templates/aws/scangate-pipeline.yaml deployed into a real moto server with IAM enforcement on.

What moto 5.1.4 evaluates here, and what it does not (each test says which part it relies on):

- Identity policies of assumed roles: evaluated by moto (Action and, with the ARNs supplied by
  moto_resource_arns/sitecustomize.py, Resource). The push/publish/deploy allow and deny
  results below are moto's decisions.
- Web-identity trust policies: NOT evaluated. moto's AssumeRoleWithWebIdentity validates no
  token and checks no trust policy (it checks trust only for sts:AssumeRole, and conditions only
  on sts:ExternalId). test_moto_does_not_evaluate_web_identity_trust pins that gap; the trust
  documents are checked statically instead (exact StringEquals on aud and sub, the subject
  patterns), and by checkov's CKV_AWS_358 on the Terraform (test_scanners.py).
- Resource-based policies (the repository's Deny of non-TLS requests): NOT evaluated.
- CloudFormation: moto has no model for AWS::IAM::OIDCProvider,
  AWS::EKS::AccessEntry (it skips them), and its
  AWS::ECR::Repository model keeps only the name and ImageTagMutability: it passes
  ImageScanningConfiguration/EncryptionConfiguration in CloudFormation's casing to a model that
  reads the API's, and ignores LifecyclePolicy and RepositoryPolicyText. Those properties are
  checked in the template and by the linters (cfn-lint schema, checkov CKV_AWS_51/136/163).
  moto also keeps a CloudFormation KeyPolicy as an object, after which every KMS call on that
  key fails with IAM enforcement on; the key's rotation is checked in the template and by
  checkov CKV_AWS_7. Its AWS::SNS::Topic model drops KmsMasterKeyId (checked in the template,
  and by checkov CKV_AWS_26); SNS Publish makes no KMS call in moto, so the gate role's
  kms:GenerateDataKey/Decrypt statement is checked against the standalone JSON only.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import os
import re
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cfnlint.decode import decode

from tests.templates.conftest import (
    ACCOUNT_ID,
    CFN_TEMPLATE,
    GITHUB_ISSUER,
    POLICIES,
    REGION,
    TERRAFORM,
    Aws,
    render,
)

# The push role trusts only the reusable workflow at a pinned tag, run for main in an environment
# of its own (GitHub custom subject claim: repo, context, job_workflow_ref).
PIPELINE = "example-org/scangate/.github/workflows/scangate.yml@refs/tags/v1.2.0"
PUSH_SUBJECT = (
    f"repo:example-org/user-authenticator:environment:scangate-push:job_workflow_ref:{PIPELINE}"
)
PUBLISH_SUBJECT = "repo:example-org@1234567/user-authenticator@7654321:ref:refs/heads/main"
GATE_SUBJECT = (
    f"repo:example-org/user-authenticator:environment:scangate-gate:job_workflow_ref:{PIPELINE}"
)
DEPLOY_SUBJECT = "repo:example-org/user-authenticator:environment:production"
# GitLab: protected release tags v*, one environment per job (custom sub claim components).
# GitLab gives every job of a pipeline the same sub (project_path, ref_type and ref are the only
# sub claim components: ProjectCiCdSetting::ALLOWED_SUB_CLAIM_COMPONENTS), so the roles share
# it and tell the jobs apart by audience (the GitLab template's <role>-role-audience inputs).
GITLAB_SUBJECT = "project_path:example-group/user-authenticator:ref_type:tag:ref:v*"
GITLAB_SUBJECTS = {job: GITLAB_SUBJECT for job in ("push", "publish", "gate", "deploy")}
GITLAB_AUDIENCES = {job: f"scangate-{job}" for job in ("push", "publish", "gate", "deploy")}
THRESHOLDS = "/container-security/vulnerability-thresholds"
CLUSTER = "scangate-demo"
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + "c" * 64,
        },
        "layers": [],
    }
)
UNSUPPORTED_BY_MOTO = {
    "AWS::IAM::OIDCProvider",
    "AWS::EKS::AccessEntry",
}


def _template() -> dict[str, Any]:
    template, matches = decode(str(CFN_TEMPLATE))
    assert not matches, matches
    assert template is not None
    return dict(template)


def _deploy(aws: Aws, name: str, parameters: dict[str, str]) -> dict[str, Any]:
    cfn: Any = aws.client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=CFN_TEMPLATE.read_text(encoding="utf-8"),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    resources = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]},
        "resources": {r["LogicalResourceId"]: r for r in resources if r.get("PhysicalResourceId")},
    }


def _provider(aws: Aws, host: str) -> str:
    iam: Any = aws.client("iam")
    arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"
    try:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    except ClientError:
        # The test creates the provider through the IAM API: moto's CloudFormation cannot.
        arn = iam.create_open_id_connect_provider(
            Url=f"https://{host}", ClientIDList=["sts.amazonaws.com"]
        )["OpenIDConnectProviderArn"]
    return str(arn)


@pytest.fixture(scope="module")
def github_stack(aws: Aws) -> dict[str, Any]:
    """The stack with its defaults (GitHub, access entry on, basic scanning)."""
    stack = _deploy(
        aws,
        "scangate",
        {
            "OidcProviderArn": _provider(aws, GITHUB_ISSUER),
            "PushSubject": PUSH_SUBJECT,
            "PublishSubject": PUBLISH_SUBJECT,
            "GateSubject": GATE_SUBJECT,
            "DeploySubject": DEPLOY_SUBJECT,
            "EksClusterName": CLUSTER,
        },
    )
    ecr: Any = aws.client("ecr")
    ecr.create_repository(repositoryName="another-team/app")
    eks: Any = aws.client("eks")
    for name in (CLUSTER, "another-cluster"):
        eks.create_cluster(
            name=name,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": []},
        )
    return stack


def _web_identity_token(subject: str, audience: str = "sts.amazonaws.com") -> str:
    """A JWT-shaped token with the given claims (unsigned: moto validates no token anyway)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"iss": f"https://{GITHUB_ISSUER}", "aud": audience, "sub": subject}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def _assume(aws: Aws, role_arn: str, subject: str) -> boto3.Session:
    """AssumeRoleWithWebIdentity as a CI job does it: an unsigned STS call with the token."""
    sts: Any = boto3.client(
        "sts",
        endpoint_url=aws.server.url,
        region_name=REGION,
        config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
    )
    credentials = sts.assume_role_with_web_identity(
        RoleArn=role_arn,
        RoleSessionName="ci-job",
        WebIdentityToken=_web_identity_token(subject),
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _denied(call: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403, error
    assert "AccessDenied" in json.dumps(error), error


def _authorized_but_not_implemented(call: Any, **kwargs: Any) -> None:
    """moto has no ECR layer upload: an authorized call gets past IAM and fails with a 500."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 500, error
    assert "AccessDenied" not in json.dumps(error), error


def test_moto_has_no_model_for_exactly_two_resource_types() -> None:
    """The deploys below are partial in exactly these types (moto skips them with a warning)."""
    from moto.cloudformation.parsing import get_model_map

    types = {r["Type"] for r in _template()["Resources"].values()}
    assert types - set(get_model_map()) == UNSUPPORTED_BY_MOTO


def test_default_stack_deploys_and_outputs_what_the_workflows_consume(
    aws: Aws, github_stack: dict[str, Any]
) -> None:
    resources = github_stack["resources"]
    template = _template()
    expected = {
        logical
        for logical, resource in template["Resources"].items()
        if resource["Type"] not in UNSUPPORTED_BY_MOTO
    }
    # LowThreshold is empty by default: no parameter, no limit (the seed's critical/high/medium);
    # MonitoringEventBus too: the deploy role gets no events permission.
    assert set(resources) == expected - {"LowThresholdParameter", "DeployMonitoringPolicy"}
    ssm: Any = aws.client("ssm")
    stored = ssm.get_parameters_by_path(Path=THRESHOLDS)["Parameters"]
    assert {p["Name"]: (p["Type"], p["Value"]) for p in stored} == {
        f"{THRESHOLDS}/critical": ("String", "0"),
        f"{THRESHOLDS}/high": ("String", "5"),
        f"{THRESHOLDS}/medium": ("String", "20"),
    }
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources.values())

    outputs = github_stack["outputs"]
    assert outputs == {
        "PushRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/scangate-push",
        "PublishRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/scangate-publish",
        "GateRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/scangate-gate",
        "DeployRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/scangate-deploy",
        "ThresholdsParameterPrefix": THRESHOLDS,
        "AlertsTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:scangate-alerts",
        "AlertsKmsKeyArn": outputs["AlertsKmsKeyArn"],
        "RepositoryName": "user-authenticator",
        "RepositoryArn": f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/user-authenticator",
        "RepositoryUri": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/user-authenticator",
        "RepositoryKmsKeyArn": outputs["RepositoryKmsKeyArn"],
        "SecurityHubProductArn": (
            f"arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default"
        ),
        "EksClusterName": CLUSTER,
        "DeployKubernetesGroup": "scangate-deployers",
        "OidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{GITHUB_ISSUER}",
    }
    # The key exists (its ARN names the stack's key); its settings are not read back: moto
    # keeps a CloudFormation KeyPolicy as an object, and with enforcement on every KMS call on
    # that key fails (json.loads of a dict in moto/kms/policy_validator.py).
    key_id = resources["RepositoryKey"]["PhysicalResourceId"]
    assert outputs["RepositoryKmsKeyArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
    alerts_key = resources["AlertsKey"]["PhysicalResourceId"]
    assert outputs["AlertsKmsKeyArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{alerts_key}"
    # The topic exists; moto's CloudFormation drops KmsMasterKeyId (checked in the template).
    assert aws.client("sns").get_topic_attributes(  # type: ignore[attr-defined]
        TopicArn=outputs["AlertsTopicArn"]
    )["Attributes"]["TopicArn"] == outputs["AlertsTopicArn"]

    repository = aws.client("ecr").describe_repositories(  # type: ignore[attr-defined]
        repositoryNames=["user-authenticator"]
    )["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE"


@pytest.fixture(scope="module")
def gitlab_stack(aws: Aws) -> dict[str, Any]:
    provider = _provider(aws, "gitlab.com")
    return _deploy(
        aws,
        "scangate-gitlab",
        {
            "CiProvider": "gitlab",
            "OidcProviderArn": provider,
            "PushSubject": GITLAB_SUBJECTS["push"],
            "PublishSubject": GITLAB_SUBJECTS["publish"],
            "GateSubject": GITLAB_SUBJECTS["gate"],
            "DeploySubject": GITLAB_SUBJECTS["deploy"],
            "ThresholdsParameterPrefix": "/gitlab/thresholds",
            "LowThreshold": "100",
            "RepositoryName": "gitlab/user-authenticator",
            "CreateEksAccessEntry": "true",
            "EksClusterName": CLUSTER,
            "RoleNamePrefix": "gl",
            "MonitoringEventBus": "default",
        },
    )


def test_gitlab_stack_with_every_option_deploys(aws: Aws, gitlab_stack: dict[str, Any]) -> None:
    stack = gitlab_stack
    assert stack["outputs"]["PushRoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/gl-push"
    iam: Any = aws.client("iam")
    for job in ("push", "publish", "gate", "deploy"):
        trust = iam.get_role(RoleName=f"gl-{job}")["Role"]["AssumeRolePolicyDocument"]
        assert trust == render(
            POLICIES / "trust-policy-gitlab.json",
            {
                "PARTITION": "aws",
                "ACCOUNT_ID": ACCOUNT_ID,
                "AUDIENCE": GITLAB_AUDIENCES[job],
                "SUBJECT": GITLAB_SUBJECTS[job],
            },
        )
    ssm: Any = aws.client("ssm")
    stored = ssm.get_parameters_by_path(Path="/gitlab/thresholds")["Parameters"]
    assert {p["Name"]: p["Value"] for p in stored} == {
        "/gitlab/thresholds/critical": "0",
        "/gitlab/thresholds/high": "5",
        "/gitlab/thresholds/medium": "20",
        "/gitlab/thresholds/low": "100",
    }


def _attached_document(aws: Aws, role: str) -> Any:
    iam: Any = aws.client("iam")
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert len(attached) == 1, attached
    assert not iam.list_role_policies(RoleName=role)["PolicyNames"]
    arn = attached[0]["PolicyArn"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]


@pytest.mark.parametrize("job", ["push", "publish", "gate", "deploy"])
def test_deployed_policies_equal_the_standalone_json(
    aws: Aws, github_stack: dict[str, Any], job: str
) -> None:
    key_arn = github_stack["outputs"]["AlertsKmsKeyArn"]
    values = {
        "PARTITION": "aws",
        "REGION": REGION,
        "ACCOUNT_ID": ACCOUNT_ID,
        "REPOSITORY_NAME": "user-authenticator",
        "EKS_CLUSTER_NAME": CLUSTER,
        "THRESHOLDS_PREFIX": THRESHOLDS,
        "ALERTS_TOPIC_NAME": "scangate-alerts",
        "ALERTS_KEY_ID": key_arn.rsplit("/", 1)[1],
    }
    assert _attached_document(aws, f"scangate-{job}") == render(
        POLICIES / f"{job}-policy.json", values
    )


def test_the_deploy_role_may_mark_deployed_on_the_monitoring_bus_only(
    aws: Aws, github_stack: dict[str, Any], gitlab_stack: dict[str, Any]
) -> None:
    """MonitoringEventBus set (the GitLab stack): the deploy role gets, besides the standalone
    deploy policy, a policy of its own with events:PutEvents on that one bus and the tagging of
    deployed digests in the stack's repository, for the pipelines' `scangate mark-deployed`
    step; unset (the GitHub stack): one policy, the standalone document (test above), no events
    or ECR permission at all."""
    iam: Any = aws.client("iam")
    documents = {}
    for attached in iam.list_attached_role_policies(RoleName="gl-deploy")["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        documents[attached["PolicyName"]] = iam.get_policy_version(
            PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
    assert set(documents) == {"gl-deploy", "gl-deploy-monitoring"}
    values = {"PARTITION": "aws", "REGION": REGION, "ACCOUNT_ID": ACCOUNT_ID,
              "EKS_CLUSTER_NAME": CLUSTER}
    assert documents["gl-deploy"] == render(POLICIES / "deploy-policy.json", values)
    assert documents["gl-deploy-monitoring"] == {"Version": "2012-10-17", "Statement": [{
        "Sid": "MarkDeployedOnOneBus",
        "Effect": "Allow",
        "Action": "events:PutEvents",
        "Resource": f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/default",
    }, {
        "Sid": "TagDeployedDigests",
        "Effect": "Allow",
        "Action": ["ecr:BatchGetImage", "ecr:PutImage"],
        "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/gitlab/user-authenticator",
    }]}
    github_deploy = json.dumps(_attached_document(aws, "scangate-deploy"))
    assert "events:" not in github_deploy and "ecr:" not in github_deploy


@pytest.mark.parametrize(
    ("job", "subject"),
    [
        ("push", PUSH_SUBJECT),
        ("publish", PUBLISH_SUBJECT),
        ("gate", GATE_SUBJECT),
        ("deploy", DEPLOY_SUBJECT),
    ],
)
def test_deployed_trust_pins_aud_and_one_exact_subject(
    aws: Aws, github_stack: dict[str, Any], job: str, subject: str
) -> None:
    """Static check of what moto stored (moto does not evaluate it, see module docstring)."""
    iam: Any = aws.client("iam")
    trust = iam.get_role(RoleName=f"scangate-{job}")["Role"]["AssumeRolePolicyDocument"]
    values = {
        "PARTITION": "aws",
        "ACCOUNT_ID": ACCOUNT_ID,
        "AUDIENCE": "sts.amazonaws.com",
        "SUBJECT": subject,
    }
    assert trust == render(POLICIES / "trust-policy-github.json", values)
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Principal"]) == {"Federated"}
    assert set(statement["Condition"]) == {"StringEquals"}  # exact match, no StringLike
    assert statement["Condition"]["StringEquals"] == {
        f"{GITHUB_ISSUER}:aud": "sts.amazonaws.com",
        f"{GITHUB_ISSUER}:sub": subject,
    }


def test_push_role_pushes_to_its_repository_only(aws: Aws, github_stack: dict[str, Any]) -> None:
    """moto's IAM decisions for the push role's credentials (resource ARNs: sitecustomize)."""
    session = _assume(aws, github_stack["outputs"]["PushRoleArn"], PUSH_SUBJECT)
    ecr: Any = aws.client("ecr", session)
    assert ecr.get_authorization_token()["authorizationData"]
    pushed = ecr.put_image(
        repositoryName="user-authenticator", imageManifest=MANIFEST, imageTag="prod-1a2b3c"
    )["image"]
    digest = pushed["imageId"]["imageDigest"]
    # The push reads its image back through the registry API (BatchGetImage), never through
    # DescribeImages, which it is therefore not granted (tests/aws/test_least_privilege.py).
    _denied(ecr.describe_images, repositoryName="user-authenticator",
            imageIds=[{"imageDigest": digest}])
    assert ecr.batch_get_image(
        repositoryName="user-authenticator", imageIds=[{"imageDigest": digest}]
    )["images"]
    _authorized_but_not_implemented(ecr.initiate_layer_upload, repositoryName="user-authenticator")

    _denied(ecr.put_image, repositoryName="another-team/app", imageManifest=MANIFEST, imageTag="x")
    _denied(ecr.initiate_layer_upload, repositoryName="another-team/app")
    _denied(ecr.describe_images, repositoryName="another-team/app")
    _denied(ecr.delete_repository, repositoryName="user-authenticator", force=True)
    _denied(
        ecr.batch_delete_image,
        repositoryName="user-authenticator",
        imageIds=[{"imageDigest": digest}],
    )
    _denied(ecr.set_repository_policy, repositoryName="user-authenticator", policyText="{}")
    _denied(aws.client("eks", session).describe_cluster, name=CLUSTER)  # type: ignore[attr-defined]


def _finding(product_arn: str) -> dict[str, Any]:
    return {
        "SchemaVersion": "2018-10-08",
        "Id": "user-authenticator/CVE-2024-0001/openssl",
        "ProductArn": product_arn,
        "GeneratorId": "scangate",
        "AwsAccountId": ACCOUNT_ID,
        "Types": ["Software and Configuration Checks/Vulnerabilities/CVE"],
        "CreatedAt": "2026-01-01T00:00:00Z",
        "UpdatedAt": "2026-01-01T00:00:00Z",
        "Severity": {"Label": "HIGH"},
        "Title": "CVE-2024-0001 openssl",
        "Description": "test finding",
        "Resources": [{"Type": "AwsEcrContainerImage", "Id": "user-authenticator"}],
    }


def test_publish_role_imports_findings_and_cannot_push(
    aws: Aws, github_stack: dict[str, Any]
) -> None:
    session = _assume(aws, github_stack["outputs"]["PublishRoleArn"], PUBLISH_SUBJECT)
    hub: Any = aws.client("securityhub", session)
    own = github_stack["outputs"]["SecurityHubProductArn"]
    result = hub.batch_import_findings(Findings=[_finding(own)])
    assert result["FailedCount"] == 0
    archived = dict(_finding(own), RecordState="ARCHIVED", UpdatedAt="2026-01-02T00:00:00Z")
    assert hub.batch_import_findings(Findings=[archived])["FailedCount"] == 0
    assert "Findings" in hub.get_findings()

    other = f"arn:aws:securityhub:{REGION}::product/aquasecurity/aquasecurity"
    _denied(hub.batch_import_findings, Findings=[_finding(other)])
    ecr: Any = aws.client("ecr", session)
    _denied(ecr.get_authorization_token)
    _denied(
        ecr.put_image, repositoryName="user-authenticator", imageManifest=MANIFEST, imageTag="y"
    )
    _denied(ecr.describe_images, repositoryName="user-authenticator")


def test_deploy_role_describes_one_cluster_and_cannot_push(
    aws: Aws, github_stack: dict[str, Any]
) -> None:
    session = _assume(aws, github_stack["outputs"]["DeployRoleArn"], DEPLOY_SUBJECT)
    eks: Any = aws.client("eks", session)
    assert eks.describe_cluster(name=CLUSTER)["cluster"]["name"] == CLUSTER
    _denied(eks.describe_cluster, name="another-cluster")
    _denied(eks.list_clusters)
    ecr: Any = aws.client("ecr", session)
    _denied(
        ecr.put_image, repositoryName="user-authenticator", imageManifest=MANIFEST, imageTag="z"
    )
    _denied(aws.client("securityhub", session).get_findings)  # type: ignore[attr-defined]


def test_moto_does_not_evaluate_web_identity_trust(aws: Aws, github_stack: dict[str, Any]) -> None:
    """The limit of this emulation, pinned: moto hands out credentials for a token whose sub
    names another repository (AWS refuses it: the trust policy's StringEquals on sub does not
    match). If this test fails, moto started evaluating web-identity trust: turn it into the
    refusal test for every role."""
    intruder = "repo:someone-else/fork:ref:refs/heads/main"
    for output in ("PushRoleArn", "PublishRoleArn", "GateRoleArn", "DeployRoleArn"):
        session = _assume(aws, github_stack["outputs"][output], intruder)
        assert session.get_credentials() is not None


def _subject_patterns() -> dict[str, str]:
    parameters = _template()["Parameters"]
    return {
        name: parameters[name]["AllowedPattern"]
        for name in ("PushSubject", "PublishSubject", "GateSubject", "DeploySubject")
    }


@pytest.mark.parametrize(
    "subject",
    [
        PUSH_SUBJECT,
        PUBLISH_SUBJECT,
        GATE_SUBJECT,
        DEPLOY_SUBJECT,
        *GITLAB_SUBJECTS.values(),
        "repo:org/repo:ref:refs/heads/release/v1",
        "project_path:group/subgroup/project:ref_type:branch:ref:main",
        # GitHub custom subject with the reusable workflow pinned by tag, branch or commit SHA.
        "repo:org/app:ref:refs/heads/main:job_workflow_ref:org/scangate/.github/workflows/"
        "scangate.yml@refs/tags/v1.2.0",
        "repo:org@1/app@2:environment:prod:job_workflow_ref:org/scangate/.github/workflows/"
        "scangate.yaml@" + "0123456789abcdef" * 2 + "01234567",
        "repo:org/app:ref:refs/heads/main:job_workflow_ref:org/app/.github/workflows/"
        "release.yml@refs/heads/main",
        # GitLab protected tags: one tag, or a protected-tag pattern (a trailing *).
        "project_path:group/project:ref_type:tag:ref:v1.0.0",
        "project_path:group/project:ref_type:tag:ref:release-*",
    ],
)
def test_subject_parameters_accept_one_job(subject: str) -> None:
    """Subject forms of GitHub's OIDC reference ("Customizing the subject claims": repo, context
    and job_workflow_ref, e.g. repo:ORG/REPO:environment:ENV:job_workflow_ref:ORG/REPO/.github/
    workflows/FILE.yml@REF) and of GitLab's ID token docs (sub is project_path:GROUP/PROJECT:
    ref_type:branch|tag:ref:NAME; ci_id_token_sub_claim_components may append environment)."""
    for pattern in _subject_patterns().values():
        assert re.fullmatch(pattern, subject), (pattern, subject)


@pytest.mark.parametrize(
    "subject",
    [
        "repo:org/repo:*",
        "repo:org/*:ref:refs/heads/main",
        "repo:org/repo:ref:refs/heads/*",
        "repo:org/repo:pull_request",
        "repo:org/repo:ref:refs/tags/v1.0.0",
        "repo:org/repo",
        "repo:*",
        "*",
        "project_path:group/project:ref_type:branch:ref:*",
        "project_path:group/project:ref_type:tag:ref:*",
        "project_path:group/project:ref_type:tag:ref:v*1",
        "project_path:group/*:ref_type:branch:ref:main",
        "project_path:group/project:ref_type:branch:ref:main*",
        "repo:org/repo:ref:refs/heads/main,repo:org/other:ref:refs/heads/main",
        # The workflow must be pinned and named: no wildcard ref, no other path, no bare claim.
        "repo:org/app:ref:refs/heads/main:job_workflow_ref:org/scangate/.github/workflows/"
        "scangate.yml@*",
        "repo:org/app:ref:refs/heads/main:job_workflow_ref:org/scangate/.github/workflows/*",
        "repo:org/app:ref:refs/heads/main:job_workflow_ref:org/scangate/scripts/x.yml@v1",
        "repo:org/app:ref:refs/heads/main:job_workflow_ref:org/scangate/.github/workflows/"
        "scangate.yml@abc123",
        "job_workflow_ref:org/scangate/.github/workflows/scangate.yml@refs/tags/v1.2.0",
    ],
)
def test_subject_parameters_refuse_wildcards_and_other_events(subject: str) -> None:
    for pattern in _subject_patterns().values():
        assert not re.fullmatch(pattern, subject), (pattern, subject)


def test_terraform_uses_the_same_subject_pattern() -> None:
    variables = (TERRAFORM / "variables.tf").read_text(encoding="utf-8")
    match = re.search(r'subject_pattern = "(.*)"', variables)
    assert match
    unescaped = match.group(1).replace("\\\\", "\\")  # an HCL string escapes backslashes
    assert {unescaped} == set(_subject_patterns().values())


def test_every_subject_must_differ_from_the_push_subject() -> None:
    """The CloudFormation Rule and the Terraform precondition: on GitHub a job that publishes,
    gates or deploys cannot assume the push role by sharing its subject. GitLab gives every
    job of a pipeline the same sub, so there the rule does not apply and each role requires
    its own audience instead (every pair differs)."""
    rules = _template()["Rules"]
    rule = rules["OneSubjectPerJob"]

    def pairs(assertions: list[dict[str, Any]]) -> set[tuple[str, ...]]:
        return {tuple(sorted(r["Ref"] for r in a["Assert"]["Fn::Not"][0]["Fn::Equals"]))
                for a in assertions}

    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "CiProvider"}, "github"]}
    assert pairs(rule["Assertions"]) == {("PublishSubject", "PushSubject"),
                                         ("GateSubject", "PushSubject"),
                                         ("DeploySubject", "PushSubject")}
    audiences = rules["OneAudiencePerRole"]
    assert audiences["RuleCondition"] == {"Fn::Equals": [{"Ref": "CiProvider"}, "gitlab"]}
    roles = ("Push", "Publish", "Gate", "Deploy")
    assert pairs(audiences["Assertions"]) == {
        tuple(sorted((f"{a}Audience", f"{b}Audience")))
        for i, a in enumerate(roles) for b in roles[i + 1:]}
    main = (TERRAFORM / "main.tf").read_text(encoding="utf-8")
    assert ('condition     = !local.is_github || each.key == "push" || '
            'each.value != var.push_subject') in main
    assert ("condition     = local.is_github || "
            "length(distinct(values(local.role_audiences))) == 4") in main


def test_repository_settings_in_the_template() -> None:
    """What moto's CloudFormation drops (module docstring), checked in the template."""
    resources = _template()["Resources"]
    properties = resources["Repository"]["Properties"]
    assert properties["ImageTagMutability"] == "IMMUTABLE"
    assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert properties["EncryptionConfiguration"] == {
        "EncryptionType": "KMS",
        "KmsKey": {"Fn::GetAtt": ["RepositoryKey", "Arn"]},
    }
    assert resources["RepositoryKey"]["Properties"]["EnableKeyRotation"] is True
    policy = copy.deepcopy(properties["RepositoryPolicyText"])
    uploaders = policy["Statement"][1]["Condition"]["ArnNotEquals"]
    putters = policy["Statement"][2]["Condition"]["ArnNotEquals"]
    no_value = {"Ref": "AWS::NoValue"}
    push_and_codebuild = [
        {"Fn::GetAtt": ["PushRole", "Arn"]},
        {"Fn::If": ["HasCodeBuildWriter", {"Ref": "CodeBuildRoleArn"}, no_value]}]
    assert uploaders["aws:PrincipalArn"] == push_and_codebuild
    assert putters["aws:PrincipalArn"] == [*push_and_codebuild, {"Fn::If": [
        "HasMonitoringBus", {"Fn::GetAtt": ["DeployRole", "Arn"]}, no_value]}]
    uploaders["aws:PrincipalArn"] = ["PUSH-ROLE", "CODEBUILD-ROLE"]
    putters["aws:PrincipalArn"] = ["PUSH-ROLE", "CODEBUILD-ROLE", "DEPLOY-ROLE"]
    assert policy == render(POLICIES / "ecr-repository-policy.json",
                            {"PUSH_ROLE_ARN": "PUSH-ROLE", "CODEBUILD_ROLE_ARN": "CODEBUILD-ROLE",
                             "DEPLOY_ROLE_ARN": "DEPLOY-ROLE"})
    assert _lifecycle_text_with_defaults() == json.loads(
        (POLICIES / "ecr-lifecycle-policy.json").read_text(encoding="utf-8")
    )
    topic = resources["AlertsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlertsKey", "Arn"]}
    assert resources["AlertsKey"]["Properties"]["EnableKeyRotation"] is True
    # The registry's scanning configuration belongs to the monitoring stack alone.
    assert "RegistryScanning" not in resources


def _lifecycle_text_with_defaults() -> Any:
    template = _template()
    text = template["Resources"]["Repository"]["Properties"]["LifecyclePolicy"][
        "LifecyclePolicyText"
    ]["Fn::Sub"]
    for name, parameter in template["Parameters"].items():
        if "Default" in parameter:
            text = text.replace("${" + name + "}", parameter["Default"])
    assert "${" not in text
    return json.loads(text)


def test_lifecycle_rules_match_the_retention_contract() -> None:
    rules = {r["rulePriority"]: r for r in _lifecycle_text_with_defaults()["rules"]}
    # Rule 1 keeps deployed digests (tests/aws/test_lifecycle.py).
    assert rules[1]["selection"]["tagPrefixList"] == ["scangate-deployed-"]
    assert rules[2]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 1,
    }
    assert rules[3]["selection"]["tagPrefixList"] == ["prod-"]
    assert (rules[3]["selection"]["countType"], rules[3]["selection"]["countNumber"]) == (
        "imageCountMoreThan",
        10,
    )
    assert rules[4]["selection"]["tagPrefixList"] == ["staging-"]
    assert (rules[4]["selection"]["countType"], rules[4]["selection"]["countNumber"]) == (
        "imageCountMoreThan",
        5,
    )
    assert rules[5]["selection"]["tagPrefixList"] == ["dev-"]
    assert (rules[5]["selection"]["countType"], rules[5]["selection"]["countNumber"]) == (
        "sinceImagePushed",
        7,
    )
    assert all(r["action"] == {"type": "expire"} for r in rules.values())


def test_ecr_api_accepts_the_lifecycle_and_repository_policies(
    aws: Aws, github_stack: dict[str, Any]
) -> None:
    """The two documents moto's CloudFormation ignores, applied through moto's ECR API (which
    validates the lifecycle rules) and read back unchanged."""
    ecr: Any = aws.client("ecr")
    lifecycle = (POLICIES / "ecr-lifecycle-policy.json").read_text(encoding="utf-8")
    ecr.put_lifecycle_policy(repositoryName="user-authenticator", lifecyclePolicyText=lifecycle)
    stored = ecr.get_lifecycle_policy(repositoryName="user-authenticator")
    assert json.loads(stored["lifecyclePolicyText"]) == json.loads(lifecycle)
    policy = json.dumps(render(POLICIES / "ecr-repository-policy.json",
                               {"PUSH_ROLE_ARN": github_stack["outputs"]["PushRoleArn"],
                                "CODEBUILD_ROLE_ARN": f"arn:aws:iam::{ACCOUNT_ID}:role/cb",
                                "DEPLOY_ROLE_ARN": github_stack["outputs"]["DeployRoleArn"]}))
    ecr.set_repository_policy(repositoryName="user-authenticator", policyText=policy)
    stored = ecr.get_repository_policy(repositoryName="user-authenticator")
    assert json.loads(stored["policyText"]) == json.loads(policy)


def test_cfn_outputs_are_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text(
        encoding="utf-8"
    )
    for name in list(_template()["Outputs"]) + list(_template()["Parameters"]):
        assert f"`{name}`" in docs, name


# --- the repository only the push role writes to ------------------------------------------------

WRITE_ACTIONS = {"ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                 "ecr:CompleteLayerUpload"}


def _repository_policy_denies(policy: dict[str, Any], principal_arn: str, action: str) -> bool:
    """The repository policy's explicit Deny for one request, read statically: moto does not
    evaluate resource-based policies (module docstring). Only the condition operator the
    template uses is understood; anything else fails the test rather than guess."""
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]]
        if statement["Effect"] != "Deny" or statement["Principal"] != "*":
            continue
        if action not in actions and "ecr:*" not in actions:
            continue
        (operator, values), = statement["Condition"].items()
        if operator == "Bool":  # aws:SecureTransport false: these requests use TLS
            continue
        assert operator == "ArnNotEquals", operator
        exempt = values["aws:PrincipalArn"]
        if principal_arn not in (exempt if isinstance(exempt, list) else [exempt]):
            return True
    return False


def test_only_the_push_role_may_write_images_to_the_repository(
    aws: Aws, github_stack: dict[str, Any]
) -> None:
    """Identity policies (moto, IAM enforcement on): the publish, gate and deploy roles are
    denied every write; the repository policy (static) denies writes to every principal but the
    push role, an administrator with ecr:* included; its Deny covers each write action the push
    policy allows."""
    outputs = github_stack["outputs"]
    for output, subject in (("PublishRoleArn", PUBLISH_SUBJECT), ("GateRoleArn", GATE_SUBJECT),
                            ("DeployRoleArn", DEPLOY_SUBJECT)):
        ecr: Any = aws.client("ecr", _assume(aws, outputs[output], subject))
        _denied(ecr.put_image, repositoryName="user-authenticator", imageManifest=MANIFEST,
                imageTag="prod-x")
        _denied(ecr.initiate_layer_upload, repositoryName="user-authenticator")
    codebuild_role = f"arn:aws:iam::{ACCOUNT_ID}:role/scangate-codebuild"
    # The JSON as filled for a deploy job that runs mark-deployed (it tags deployed digests;
    # its identity policy allows PutImage only then: tests/aws/test_permissions.py).
    policy = render(POLICIES / "ecr-repository-policy.json",
                    {"PUSH_ROLE_ARN": outputs["PushRoleArn"],
                     "CODEBUILD_ROLE_ARN": codebuild_role,
                     "DEPLOY_ROLE_ARN": outputs["DeployRoleArn"]})
    push_writes = {a for a in render(POLICIES / "push-policy.json", {
        "PARTITION": "aws", "REGION": REGION, "ACCOUNT_ID": ACCOUNT_ID,
        "REPOSITORY_NAME": "user-authenticator"})["Statement"][1]["Action"]  # type: ignore[index]
        if a not in ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                     "ecr:GetDownloadUrlForLayer", "ecr:DescribeImages")}
    assert push_writes == WRITE_ACTIONS
    others = [outputs["PublishRoleArn"], outputs["GateRoleArn"],
              f"arn:aws:iam::{ACCOUNT_ID}:user/platform-admin",
              f"arn:aws:iam::{ACCOUNT_ID}:role/another-pipeline-push"]
    for action in WRITE_ACTIONS:
        assert not _repository_policy_denies(policy, outputs["PushRoleArn"], action)
        assert not _repository_policy_denies(policy, codebuild_role, action)
        # mark-deployed's deploy role may tag (PutImage), never upload a layer.
        assert _repository_policy_denies(policy, outputs["DeployRoleArn"], action) is (
            action != "ecr:PutImage")
        for principal in others:
            assert _repository_policy_denies(policy, principal, action), (principal, action)
    # Reading stays possible for everyone the identity policies allow (pull for deploys).
    assert not _repository_policy_denies(policy, others[0], "ecr:BatchGetImage")


# --- thresholds and alerts through the gate role ------------------------------------------------


def _token_file(tmp_path: Path, subject: str) -> Path:
    path = tmp_path / "id-token"
    path.write_text(_web_identity_token(subject), encoding="ascii")
    return path


def _ci_environment(monkeypatch: pytest.MonkeyPatch, aws: Aws, tmp_path: Path) -> None:
    """A CI job's environment: no ambient credentials, only the endpoint and region."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.server.url)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def _trivy_report(tmp_path: Path, highs: int) -> str:
    vulns = [{"VulnerabilityID": f"CVE-2024-{n:05d}", "PkgName": f"lib{n}",
              "InstalledVersion": "1.0", "FixedVersion": "1.1", "Severity": "HIGH",
              "Title": "a flaw"} for n in range(highs)]
    doc = {"SchemaVersion": 2, "CreatedAt": "2026-01-01T00:00:00Z",
           "ArtifactName": "image.tar", "ArtifactType": "container_image",
           "Metadata": {"ImageID": "sha256:" + "cd" * 32,
                        "RepoTags": [f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/"
                                     "user-authenticator:local"]},
           "Results": [{"Target": "image.tar (debian 12.5)", "Class": "os-pkgs",
                        "Type": "debian", "Vulnerabilities": vulns}]}
    path = tmp_path / f"trivy-{highs}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def test_gate_reads_its_limits_from_ssm_through_the_gate_role(
    aws: Aws, github_stack: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A gate run in a CI job: the role comes from the job's ID token through boto3's default
    chain (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, an unsigned AssumeRoleWithWebIdentity),
    and GetParameters is authorized by moto against the gate policy. The stack's seed: high 5."""
    from scangate._cli import main

    _ci_environment(monkeypatch, aws, tmp_path)
    monkeypatch.setenv("AWS_ROLE_ARN", github_stack["outputs"]["GateRoleArn"])
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(_token_file(tmp_path, GATE_SUBJECT)))
    summary = tmp_path / "summary.json"
    args = ["gate", "--thresholds-from-ssm", THRESHOLDS, "--quiet", "--json-summary",
            str(summary)]
    assert main([*args, "--report", _trivy_report(tmp_path, 5)]) == 0
    assert json.loads(summary.read_text())["policy"]["thresholds"]["high"] == 5
    assert main([*args, "--report", _trivy_report(tmp_path, 6)]) == 1
    # The same through gate's own flags (scangate.aws.identity), no AWS_ROLE_ARN in the way.
    token, role = os.environ["AWS_WEB_IDENTITY_TOKEN_FILE"], os.environ["AWS_ROLE_ARN"]
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE")
    monkeypatch.delenv("AWS_ROLE_ARN")
    assert main([*args, "--report", _trivy_report(tmp_path, 6), "--role-arn", role,
                 "--web-identity-token-file", token]) == 1

    # The publish role may not read the limits; the gate role may not change them.
    monkeypatch.setenv("AWS_ROLE_ARN", github_stack["outputs"]["PublishRoleArn"])
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE",
                       str(_token_file(tmp_path, PUBLISH_SUBJECT)))
    capsys.readouterr()
    assert main([*args, "--report", _trivy_report(tmp_path, 0)]) == 2
    assert "AccessDenied" in capsys.readouterr().err
    gate = _assume(aws, github_stack["outputs"]["GateRoleArn"], GATE_SUBJECT)
    ssm: Any = aws.client("ssm", gate)
    _denied(ssm.put_parameter, Name=f"{THRESHOLDS}/high", Value="500", Type="String",
            Overwrite=True)
    _denied(ssm.get_parameters, Names=[f"{THRESHOLDS}/high", "/other-team/secret"])


def _alerts_queue(aws: Aws, topic: str) -> str:
    sqs: Any = aws.client("sqs")
    queue = sqs.create_queue(QueueName="scangate-alerts-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    aws.client("sns").subscribe(  # type: ignore[attr-defined]
        TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return str(queue)


def test_notify_publishes_to_the_topic_on_fail_and_on_error_through_the_gate_role(
    aws: Aws, github_stack: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """scangate notify --role-arn/--web-identity-token-file (scangate.aws.identity): sns:Publish
    authorized by moto against the gate policy; a pass is not sent with --skip-pass."""
    from scangate._cli import main

    _ci_environment(monkeypatch, aws, tmp_path)
    outputs = github_stack["outputs"]
    topic = outputs["AlertsTopicArn"]
    queue = _alerts_queue(aws, topic)
    token = _token_file(tmp_path, GATE_SUBJECT)
    summary = tmp_path / "summary.json"
    assert main(["gate", "--report", _trivy_report(tmp_path, 3), "--max-high", "2", "--quiet",
                 "--json-summary", str(summary)]) == 1
    role = ["--role-arn", outputs["GateRoleArn"], "--web-identity-token-file", str(token)]
    assert main(["notify", "--summary", str(summary), "--gate-exit-code", "1", "--skip-pass",
                 "--sns-topic-arn", topic, *role]) == 0
    assert main(["notify", "--gate-exit-code", "2", "--skip-pass", "--sns-topic-arn", topic,
                 *role]) == 0
    sqs: Any = aws.client("sqs")
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    decisions = sorted(json.loads(m["Body"])["MessageAttributes"]["decision"]["Value"]
                       for m in received)
    assert decisions == ["error", "fail"]

    # The push role cannot publish alerts (nor drown them).
    push_token = _token_file(tmp_path, PUSH_SUBJECT)
    capsys.readouterr()
    assert main(["notify", "--gate-exit-code", "2", "--sns-topic-arn", topic, "--role-arn",
                 outputs["PushRoleArn"], "--web-identity-token-file", str(push_token)]) == 2
    assert "(needs IAM permission sns:Publish" in capsys.readouterr().err
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)


def test_publish_role_imports_the_pushed_image_findings_with_scangate(
    aws: Aws, github_stack: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """scangate securityhub through the publish role into the stack's product ARN, the resource
    being the pushed image; the gate role cannot import."""
    from scangate._cli import main

    _ci_environment(monkeypatch, aws, tmp_path)
    outputs = github_stack["outputs"]
    pushed = tmp_path / "push.json"
    digest = "sha256:" + "ab" * 32
    pushed.write_text(json.dumps({
        "image-uri": f"{outputs['RepositoryUri']}@{digest}", "image-digest": digest,
        "tags": ["prod-0123abc-7-1"], "image-id": "sha256:" + "cd" * 32}))
    base = ["securityhub", "--report", _trivy_report(tmp_path, 2), "--push-result", str(pushed),
            "--product-arn", outputs["SecurityHubProductArn"], "--account-id", ACCOUNT_ID,
            "--archive-missing"]
    token = _token_file(tmp_path, PUBLISH_SUBJECT)
    assert main([*base, "--role-arn", outputs["PublishRoleArn"],
                 "--web-identity-token-file", str(token)]) == 0
    hub: Any = aws.client("securityhub")
    resources = {f["Resources"][0]["Id"] for f in hub.get_findings()["Findings"]
                 if f["Id"].startswith("scangate/")}
    assert f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/user-authenticator/{digest}" in (
        resources)
    gate_token = _token_file(tmp_path, GATE_SUBJECT)
    assert main([*base, "--role-arn", outputs["GateRoleArn"],
                 "--web-identity-token-file", str(gate_token)]) == 2


# --- lifecycle rules act on the tags the pipelines write ----------------------------------------


def _matching_rule(rules: list[dict[str, Any]], tags: list[str]) -> int | None:
    """The rule that owns an image (the highest-priority rule whose tag selection matches it),
    as ECR evaluates lifecycle policies (tests/aws/ecr_lifecycle.py, the documented semantics:
    moto stores lifecycle policies but does not run them)."""
    from datetime import UTC, datetime

    from tests.aws.ecr_lifecycle import Image, parse

    image = Image("sha256:any", tuple(tags), datetime(2026, 1, 1, tzinfo=UTC))
    return next((r.priority for r in parse({"rules": rules}) if r.selects(image)), None)


def test_each_lifecycle_rule_selects_the_tags_the_pipelines_write(
    aws: Aws, github_stack: dict[str, Any]
) -> None:
    """Images pushed to moto under tags from scangate image-tag (the pipelines' one tag format),
    read back with DescribeImages, and the stack's lifecycle policy (applied through moto's
    ECR API, which validates it) selects each with the rule of its environment."""
    from scangate.aws.tags import ENVIRONMENTS, environment_of, image_tag

    ecr: Any = aws.client("ecr")
    ecr.create_repository(repositoryName="lifecycle-check")
    lifecycle = _lifecycle_text_with_defaults()
    ecr.put_lifecycle_policy(repositoryName="lifecycle-check",
                             lifecyclePolicyText=json.dumps(lifecycle))
    expected_rule = {"prod": 3, "staging": 4, "dev": 5}
    assert set(expected_rule) == set(ENVIRONMENTS)
    pushed: dict[str, str] = {}
    for number, environment in enumerate(ENVIRONMENTS):
        tag = image_tag(environment, "0123456789abcdef0123456789abcdef01234567", "4242",
                        str(number + 1))
        manifest = json.loads(MANIFEST)
        manifest["config"]["digest"] = "sha256:" + f"{number:02d}" * 32
        ecr.put_image(repositoryName="lifecycle-check", imageManifest=json.dumps(manifest),
                      imageTag=tag)
        pushed[tag] = environment
    stored = ecr.get_lifecycle_policy(repositoryName="lifecycle-check")
    rules = json.loads(stored["lifecyclePolicyText"])["rules"]
    images = ecr.describe_images(repositoryName="lifecycle-check")["imageDetails"]
    assert len(images) == len(ENVIRONMENTS)
    for image in images:
        (tag,) = image["imageTags"]
        assert environment_of(tag) == pushed[tag]
        assert _matching_rule(rules, image["imageTags"]) == expected_rule[pushed[tag]], tag
    # The tags of the old format (<sha>-<run>-<attempt>) matched no rule: never expired.
    assert _matching_rule(rules, ["0123456789abcdef-42-1"]) is None
    assert _matching_rule(rules, []) == 2


# --- trust, evaluated statically as IAM documents it --------------------------------------------


def _trusts(trust: dict[str, Any], issuer: str, claims: dict[str, str]) -> bool:
    """Whether the (one-statement) trust policy lets a web identity with these claims assume the
    role, by IAM's documented condition operators: StringEquals exact, StringLike with * (any
    run) and ? (one character); every key of every operator must match. moto does not evaluate
    this (test_moto_does_not_evaluate_web_identity_trust)."""
    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(f":oidc-provider/{issuer}")
    for operator, keys in statement["Condition"].items():
        for key, expected in keys.items():
            claim_name = key.removeprefix(f"{issuer}:")
            assert claim_name in ("aud", "sub"), key
            value = claims[claim_name]
            if operator == "StringEquals":
                ok = value == expected
            else:
                assert operator == "StringLike", operator
                ok = fnmatch.fnmatchcase(value, expected)
            if not ok:
                return False
    return True


def _github_sub(repository: str, context: str, workflow: str | None = None) -> str:
    """The sub GitHub issues with the custom claim keys repo, context, job_workflow_ref (GitHub
    docs, OpenID Connect reference, "Customizing the subject claims")."""
    sub = f"repo:{repository}:{context}"
    return f"{sub}:job_workflow_ref:{workflow}" if workflow else sub


@pytest.mark.parametrize(("sub", "allowed"), [
    # The reusable workflow at the pinned tag, in the push job's environment.
    (_github_sub("example-org/user-authenticator", "environment:scangate-push", PIPELINE), True),
    # The same workflow at another ref (a branch, an unreleased tag, a fork's copy).
    (_github_sub("example-org/user-authenticator", "environment:scangate-push",
                 "example-org/scangate/.github/workflows/scangate.yml@refs/heads/main"), False),
    (_github_sub("example-org/user-authenticator", "environment:scangate-push",
                 "example-org/scangate/.github/workflows/scangate.yml@refs/tags/v1.2.0-rc"),
     False),
    # Another workflow of the same repository on main: workflow_run, schedule, a copy.
    (_github_sub("example-org/user-authenticator", "ref:refs/heads/main",
                 "example-org/user-authenticator/.github/workflows/nightly.yml@refs/heads/main"),
     False),
    (_github_sub("example-org/user-authenticator", "environment:scangate-push",
                 "example-org/user-authenticator/.github/workflows/scangate.yml@refs/heads/main"),
     False),
    # The default subject (no job_workflow_ref), or another job of the same workflow.
    (_github_sub("example-org/user-authenticator", "environment:scangate-push"), False),
    (_github_sub("example-org/user-authenticator", "environment:scangate-publish", PIPELINE),
     False),
    (_github_sub("example-org/other-app", "environment:scangate-push", PIPELINE), False),
])
def test_github_push_role_trusts_only_the_reusable_workflow_at_its_pinned_ref(
    aws: Aws, github_stack: dict[str, Any], sub: str, allowed: bool
) -> None:
    trust = aws.client("iam").get_role(  # type: ignore[attr-defined]
        RoleName="scangate-push")["Role"]["AssumeRolePolicyDocument"]
    claims = {"aud": "sts.amazonaws.com", "sub": sub}
    assert _trusts(trust, GITHUB_ISSUER, claims) is allowed
    assert not _trusts(trust, GITHUB_ISSUER, dict(claims, aud="https://github.com/example-org"))


def _gitlab_sub(ref_type: str, ref: str, project: str = "user-authenticator") -> str:
    """GitLab's sub: project_path:GROUP/PROJECT:ref_type:TYPE:ref:NAME (GitLab docs, "OpenID
    Connect (OIDC) Authentication Using ID Tokens"), the same for every job of a pipeline."""
    return f"project_path:example-group/{project}:ref_type:{ref_type}:ref:{ref}"


@pytest.mark.parametrize(("sub", "aud", "allowed"), [
    (_gitlab_sub("tag", "v1.2.0"), "scangate-push", True),
    (_gitlab_sub("tag", "v2"), "scangate-push", True),
    (_gitlab_sub("branch", "v1.2.0"), "scangate-push", False),  # a branch named like a tag
    (_gitlab_sub("branch", "main"), "scangate-push", False),
    (_gitlab_sub("tag", "release-1"), "scangate-push", False),
    # Another job of the same pipeline: same sub, its own audience.
    (_gitlab_sub("tag", "v1.2.0"), "scangate-publish", False),
    (_gitlab_sub("tag", "v1.2.0"), "scangate-gate", False),
    (_gitlab_sub("tag", "v1.2.0"), "sts.amazonaws.com", False),
    (_gitlab_sub("tag", "v1", "user-authenticator-fork"), "scangate-push", False),
])
def test_gitlab_push_role_trusts_protected_release_tags_of_its_job(
    aws: Aws, gitlab_stack: dict[str, Any], sub: str, aud: str, allowed: bool
) -> None:
    trust = aws.client("iam").get_role(  # type: ignore[attr-defined]
        RoleName="gl-push")["Role"]["AssumeRolePolicyDocument"]
    assert _trusts(trust, "gitlab.com", {"aud": aud, "sub": sub}) is allowed
