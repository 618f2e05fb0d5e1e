"""Loaded into the moto server process (PYTHONPATH) by tests/templates: request resource ARNs.

moto 5.1.4 evaluates identity policies when IAM enforcement is on, but for ECR, Security Hub and
EKS it authorizes every request against the resource ``*`` (their response classes have no
``_determine_resource``), so a statement scoped to one repository ARN can never match and a
least-privilege role is denied even on its own repository. This module adds exactly that
missing piece: the ARN of the resource a request names, built as AWS documents it
(Service Authorization Reference). The decision itself stays moto's own policy evaluation
(moto.iam.access_control); nothing here allows or denies anything.

- ECR: ``arn:PARTITION:ecr:REGION:REGISTRY:repository/NAME`` for every call with a
  repositoryName (``*`` otherwise, e.g. GetAuthorizationToken).
- Security Hub: BatchImportFindings -> the findings' ProductArn (``*`` if they differ, which no
  scoped policy matches); GetFindings -> ``arn:PARTITION:securityhub:REGION:ACCOUNT:hub/default``.
- EKS: calls on a cluster -> ``arn:PARTITION:eks:REGION:ACCOUNT:cluster/NAME``.
- SSM: GetParameter -> ``arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME``; GetParameters names
  several parameters and AWS authorizes each of them: here moto's own check runs once per named
  parameter (the request is denied if any one is), as AWS does.
- SNS: Publish -> the TopicArn of the request.

One more gap is closed the way AWS behaves: STS AssumeRoleWithWebIdentity is an unsigned call
(the web identity token is the credential), but moto 5.1.4 with enforcement on reads the
Authorization header of every request and answers an unsigned one with a 500. Here an unsigned
AssumeRoleWithWebIdentity skips the signature check, as in AWS. moto still does not validate the
token nor evaluate the role's trust policy for it (see tests/templates/test_aws_moto.py).

And one signature fix: for a request without a body (a REST GET such as EKS DescribeCluster)
moto 5.1.4 recomputes the SigV4 signature over its parsed parameters instead of the empty body,
so every such request fails with SignatureDoesNotMatch, even an administrator's. Here the
recomputation hashes the empty body the client signed.
"""

from __future__ import annotations

import json
from typing import Any


def _partition(region: str) -> str:
    from moto.utilities.utils import get_partition

    return str(get_partition(region))


def _ecr_resource(self: Any) -> str:
    name = self._get_param("repositoryName")
    if not name:
        return "*"
    registry = self._get_param("registryId") or self.current_account
    return f"arn:{_partition(self.region)}:ecr:{self.region}:{registry}:repository/{name}"


def _securityhub_resource(self: Any) -> str:
    action = self._get_action()
    if action == "BatchImportFindings":
        raw = self.body.decode("utf-8") if isinstance(self.body, bytes) else self.body
        try:
            findings = json.loads(raw or "{}").get("Findings", [])
        except ValueError:
            return "*"
        arns = {f.get("ProductArn") for f in findings if isinstance(f, dict)}
        return arns.pop() if len(arns) == 1 and None not in arns else "*"
    if action in ("GetFindings", "BatchUpdateFindings"):
        account = self.current_account
        return f"arn:{_partition(self.region)}:securityhub:{self.region}:{account}:hub/default"
    return "*"


def _eks_resource(self: Any) -> str:
    parts = [p for p in self.path.split("?")[0].split("/") if p]
    if len(parts) >= 2 and parts[0] == "clusters":
        account = self.current_account
        return f"arn:{_partition(self.region)}:eks:{self.region}:{account}:cluster/{parts[1]}"
    return "*"


def _ssm_arn(self: Any, name: str) -> str:
    path = name if name.startswith("/") else f"/{name}"
    return f"arn:{_partition(self.region)}:ssm:{self.region}:{self.current_account}:parameter{path}"


def _ssm_resource(self: Any) -> Any:
    action = self._get_action()
    if action == "GetParameter":
        return _ssm_arn(self, self._get_param("Name") or "")
    if action == "GetParameters":
        names = self._get_param("Names") or []
        return [_ssm_arn(self, n) for n in names] or "*"
    return "*"


def _sns_resource(self: Any) -> str:
    if self._get_action() in ("Publish", "PublishBatch"):
        return str(self._get_param("TopicArn") or "*")
    return "*"


def _install() -> None:
    from moto.core.responses import ActionAuthenticatorMixin
    from moto.ecr.responses import ECRResponse
    from moto.eks.responses import EKSResponse
    from moto.securityhub.responses import SecurityHubResponse

    ECRResponse._determine_resource = _ecr_resource  # type: ignore[attr-defined]
    SecurityHubResponse._determine_resource = _securityhub_resource  # type: ignore[attr-defined]
    EKSResponse._determine_resource = _eks_resource  # type: ignore[attr-defined]

    from moto.sns.responses import SNSResponse
    from moto.ssm.responses import SimpleSystemManagerResponse

    SimpleSystemManagerResponse._determine_resource = _ssm_resource  # type: ignore[attr-defined]
    SNSResponse._determine_resource = _sns_resource  # type: ignore[attr-defined]

    from botocore.awsrequest import AWSRequest
    from moto.iam.access_control import IAMRequestBase

    original_request = IAMRequestBase._create_aws_request

    def create_aws_request(self: Any) -> AWSRequest:
        request = original_request(self)
        if self._method in ("GET", "HEAD", "DELETE") and not self._body:
            request.data = b""
        return request

    IAMRequestBase._create_aws_request = create_aws_request  # type: ignore[method-assign]

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authenticate(self: Any, iam_request_cls: type, resource: Any = "*") -> None:
        headers = self.headers
        if "Authorization" not in headers and self._get_action() == "AssumeRoleWithWebIdentity":
            return
        if isinstance(resource, list):
            # One request, several resources (SSM GetParameters): each must be allowed.
            for one in resource:
                original(self, iam_request_cls, one)
            return
        original(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate  # type: ignore[method-assign]


_install()
