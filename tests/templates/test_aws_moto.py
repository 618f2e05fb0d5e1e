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
  AWS::ECR::RegistryScanningConfiguration and AWS::EKS::AccessEntry (it skips them), and its
  AWS::ECR::Repository model keeps only the name and ImageTagMutability: it passes
  ImageScanningConfiguration/EncryptionConfiguration in CloudFormation's casing to a model that
  reads the API's, and ignores LifecyclePolicy and RepositoryPolicyText. Those properties are
  checked in the template and by the linters (cfn-lint schema, checkov CKV_AWS_51/136/163).
  moto also keeps a CloudFormation KeyPolicy as an object, after which every KMS call on that
  key fails with IAM enforcement on; the key's rotation is checked in the template and by
  checkov CKV_AWS_7.
"""

from __future__ import annotations

import base64
import json
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

PUSH_SUBJECT = "repo:example-org/user-authenticator:ref:refs/heads/main"
PUBLISH_SUBJECT = "repo:example-org@1234567/user-authenticator@7654321:ref:refs/heads/main"
DEPLOY_SUBJECT = "repo:example-org/user-authenticator:environment:production"
GITLAB_SUBJECT = "project_path:example-group/user-authenticator:ref_type:branch:ref:main"
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
    "AWS::ECR::RegistryScanningConfiguration",
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


def test_moto_has_no_model_for_exactly_three_resource_types() -> None:
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
    assert set(resources) == expected
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources.values())

    outputs = github_stack["outputs"]
    assert outputs == {
        "PushRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/scangate-push",
        "PublishRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/scangate-publish",
        "DeployRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/scangate-deploy",
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

    repository = aws.client("ecr").describe_repositories(  # type: ignore[attr-defined]
        repositoryNames=["user-authenticator"]
    )["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE"


def test_gitlab_stack_with_every_option_deploys(aws: Aws) -> None:
    provider = _provider(aws, "gitlab.com")
    stack = _deploy(
        aws,
        "scangate-gitlab",
        {
            "CiProvider": "gitlab",
            "OidcProviderArn": provider,
            "PushSubject": GITLAB_SUBJECT,
            "PublishSubject": GITLAB_SUBJECT,
            "DeploySubject": GITLAB_SUBJECT,
            "RepositoryName": "gitlab/user-authenticator",
            "EnableEnhancedScanning": "true",
            "CreateEksAccessEntry": "true",
            "EksClusterName": CLUSTER,
            "RoleNamePrefix": "gl",
        },
    )
    assert stack["outputs"]["PushRoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/gl-push"
    iam: Any = aws.client("iam")
    for job in ("push", "publish", "deploy"):
        trust = iam.get_role(RoleName=f"gl-{job}")["Role"]["AssumeRolePolicyDocument"]
        assert trust == render(
            POLICIES / "trust-policy-gitlab.json",
            {
                "PARTITION": "aws",
                "ACCOUNT_ID": ACCOUNT_ID,
                "AUDIENCE": "sts.amazonaws.com",
                "SUBJECT": GITLAB_SUBJECT,
            },
        )


def _attached_document(aws: Aws, role: str) -> Any:
    iam: Any = aws.client("iam")
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert len(attached) == 1, attached
    assert not iam.list_role_policies(RoleName=role)["PolicyNames"]
    arn = attached[0]["PolicyArn"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]


@pytest.mark.parametrize("job", ["push", "publish", "deploy"])
def test_deployed_policies_equal_the_standalone_json(
    aws: Aws, github_stack: dict[str, Any], job: str
) -> None:
    values = {
        "PARTITION": "aws",
        "REGION": REGION,
        "ACCOUNT_ID": ACCOUNT_ID,
        "REPOSITORY_NAME": "user-authenticator",
        "EKS_CLUSTER_NAME": CLUSTER,
    }
    assert _attached_document(aws, f"scangate-{job}") == render(
        POLICIES / f"{job}-policy.json", values
    )


@pytest.mark.parametrize(
    ("job", "subject"),
    [("push", PUSH_SUBJECT), ("publish", PUBLISH_SUBJECT), ("deploy", DEPLOY_SUBJECT)],
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
    described = ecr.describe_images(
        repositoryName="user-authenticator", imageIds=[{"imageDigest": digest}]
    )["imageDetails"]
    assert described[0]["imageDigest"] == digest
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
    for output in ("PushRoleArn", "PublishRoleArn", "DeployRoleArn"):
        session = _assume(aws, github_stack["outputs"][output], intruder)
        assert session.get_credentials() is not None


def _subject_patterns() -> dict[str, str]:
    parameters = _template()["Parameters"]
    return {
        name: parameters[name]["AllowedPattern"]
        for name in ("PushSubject", "PublishSubject", "DeploySubject")
    }


@pytest.mark.parametrize(
    "subject",
    [
        PUSH_SUBJECT,
        PUBLISH_SUBJECT,
        DEPLOY_SUBJECT,
        GITLAB_SUBJECT,
        "repo:org/repo:ref:refs/heads/release/v1",
        "project_path:group/subgroup/project:ref_type:branch:ref:main",
    ],
)
def test_subject_parameters_accept_one_repository_and_branch_or_environment(subject: str) -> None:
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
        "project_path:group/project:ref_type:tag:ref:v1",
        "project_path:group/*:ref_type:branch:ref:main",
        "repo:org/repo:ref:refs/heads/main,repo:org/other:ref:refs/heads/main",
    ],
)
def test_subject_parameters_refuse_wildcards_and_other_events(subject: str) -> None:
    for pattern in _subject_patterns().values():
        assert not re.fullmatch(pattern, subject), (pattern, subject)


def test_terraform_uses_the_same_subject_pattern() -> None:
    variables = (TERRAFORM / "variables.tf").read_text(encoding="utf-8")
    match = re.search(r'subject_pattern = "(.*)"', variables)
    assert match
    assert {match.group(1)} == set(_subject_patterns().values())


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
    assert properties["RepositoryPolicyText"] == json.loads(
        (POLICIES / "ecr-repository-policy.json").read_text(encoding="utf-8")
    )
    assert _lifecycle_text_with_defaults() == json.loads(
        (POLICIES / "ecr-lifecycle-policy.json").read_text(encoding="utf-8")
    )
    scanning = resources["RegistryScanning"]
    assert scanning["Condition"] == "EnhancedScanning"
    assert scanning["Properties"]["ScanType"] == "ENHANCED"


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
    assert rules[1]["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 1,
    }
    assert rules[2]["selection"]["tagPrefixList"] == ["prod-"]
    assert (rules[2]["selection"]["countType"], rules[2]["selection"]["countNumber"]) == (
        "imageCountMoreThan",
        10,
    )
    assert rules[3]["selection"]["tagPrefixList"] == ["staging-"]
    assert (rules[3]["selection"]["countType"], rules[3]["selection"]["countNumber"]) == (
        "imageCountMoreThan",
        5,
    )
    assert rules[4]["selection"]["tagPrefixList"] == ["dev-"]
    assert (rules[4]["selection"]["countType"], rules[4]["selection"]["countNumber"]) == (
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
    policy = (POLICIES / "ecr-repository-policy.json").read_text(encoding="utf-8")
    ecr.set_repository_policy(repositoryName="user-authenticator", policyText=policy)
    stored = ecr.get_repository_policy(repositoryName="user-authenticator")
    assert json.loads(stored["policyText"]) == json.loads(policy)


def test_cfn_outputs_are_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text(
        encoding="utf-8"
    )
    for name in list(_template()["Outputs"]) + list(_template()["Parameters"]):
        assert f"`{name}`" in docs, name
