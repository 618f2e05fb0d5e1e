"""What scangate really asks AWS and a registry for, recorded, and the IAM actions it needs.

AWS API calls are recorded with botocore's own event hooks (``before-parameter-build`` on
every client made while recording), so the list is what the code sends, not what a test
expects it to send.
Registry requests are recorded with a response hook on the ``requests`` session of
:class:`scangate.registry.client.RegistryClient` (redirects included).

Registry requests map to ECR's IAM actions as Amazon ECR's documentation lists them ("Amazon ECR
API permissions", "Pushing an image", "Pulling an image"; ../shared/notes/platform-rules.md):
a blob HEAD is BatchCheckLayerAvailability, a blob GET is GetDownloadUrlForLayer, an upload is
InitiateLayerUpload then UploadLayerPart and CompleteLayerUpload (a monolithic PUT with
``?digest=`` is the last part and the completion), a manifest read is BatchGetImage and a
manifest PUT is PutImage; every request rides on GetAuthorizationToken's credentials. A
request this table does not know fails the test.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import botocore.session

from tests.aws.iam import ACCOUNT, PARTITION, REGION


@dataclass(frozen=True)
class Call:
    action: str  # IAM action, e.g. ecr:DescribeImageScanFindings
    params: dict[str, Any]

    @property
    def service(self) -> str:
        return self.action.split(":", 1)[0]


# SQS authorizes its batch operations as the single ones (SQS developer guide, "Amazon SQS API
# permissions: Actions and resource reference": SendMessageBatch needs sqs:SendMessage, ...).
_BATCH_AS = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch":
             "sqs:DeleteMessage", "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}


# DynamoDB authorizes each action of a transaction as its single operation; there is no
# TransactWriteItems action in IAM (DynamoDB developer guide, "Using IAM with DynamoDB
# transactions": Put, Update and Delete need PutItem, UpdateItem and DeleteItem; ConditionCheck
# needs ConditionCheckItem).
_TRANSACTION_AS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem",
                   "Delete": "dynamodb:DeleteItem", "ConditionCheck": "dynamodb:ConditionCheckItem"}


def _transaction_calls(params: dict[str, Any]) -> list[Call]:
    calls = []
    for item in params.get("TransactItems") or []:
        [(kind, body)] = item.items()
        calls.append(Call(_TRANSACTION_AS[kind], {"TableName": body["TableName"]}))
    return calls


@contextlib.contextmanager
def aws_calls() -> Iterator[list[Call]]:
    """Every AWS operation of every botocore client created inside the block."""
    calls: list[Call] = []
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)

        def before_parameter_build(model: Any, params: dict[str, Any], **_: Any) -> None:
            # The operation's API parameters as the caller gave them, before serialization.
            action = f"{model.service_model.signing_name}:{model.name}"
            if action == "dynamodb:TransactWriteItems":
                calls.extend(_transaction_calls(params))
                return
            calls.append(Call(_BATCH_AS.get(action, action), dict(params)))

        client.meta.events.register("before-parameter-build", before_parameter_build)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


# --- the resource each call acts on ------------------------------------------------------------

_NO_RESOURCE = {  # IAM's Service Authorization Reference: no resource type, "*" only
    "ecr:GetAuthorizationToken", "ecr:GetRegistryScanningConfiguration",
    "inspector2:ListFindings", "inspector2:ListCoverage", "sts:GetCallerIdentity",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",
}


def resource_of(call: Call) -> str:
    """The ARN IAM authorizes the call against, from the request's own parameters."""
    p = call.params
    if call.action in _NO_RESOURCE:
        return "*"
    base = f"arn:{PARTITION}:{call.service}:{REGION}:{p.get('registryId') or ACCOUNT}"
    if call.service == "ecr":
        names = p.get("repositoryNames") or [p["repositoryName"]]
        assert len(names) == 1, call  # one call, one repository: one ARN to authorize
        return f"{base}:repository/{names[0]}"
    if call.service == "dynamodb":
        table = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{p['TableName']}"
        return f"{table}/index/{p['IndexName']}" if p.get("IndexName") else table
    if call.service == "sqs":
        return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{p['QueueUrl'].rsplit('/', 1)[-1]}"
    if call.service == "sns":
        return str(p["TopicArn"])
    if call.service == "ssm":
        names = p.get("Names") or [p["Name"]]
        assert len(names) == 1 or call.action == "ssm:GetParameters", call
        return f"arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter{names[0]}"
    if call.service == "events":
        bus = (p.get("Entries") or [{}])[0].get("EventBusName") or "default"
        return bus if bus.startswith("arn:") else (
            f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/{bus}")
    if call.service == "eks":
        return f"arn:{PARTITION}:eks:{REGION}:{ACCOUNT}:cluster/{p['name']}"
    if call.action == "securityhub:BatchImportFindings":
        return str(p["Findings"][0]["ProductArn"])
    if call.service == "securityhub":
        return f"arn:{PARTITION}:securityhub:{REGION}:{ACCOUNT}:hub/default"
    raise AssertionError(f"no resource mapping for {call.action}: add one, citing IAM's reference")


# --- registry requests -------------------------------------------------------------------------

_BLOB = re.compile(r"^/v2/(?P<name>.+)/blobs/sha256:[0-9a-f]{64}$")
_UPLOAD_START = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/$")
_UPLOAD = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/[^/]+$")
_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/[^/]+$")


@dataclass(frozen=True)
class RegistryRequest:
    method: str
    url: str


def ecr_actions(request: RegistryRequest) -> tuple[str, tuple[str, ...]]:
    """(repository name, ECR IAM actions) of one registry request; ("", ...) for the registry
    root. Fails on anything the documented table does not cover."""
    split = urlsplit(request.url)
    path, method = split.path, request.method
    if path == "/v2/" and method == "GET":
        return "", ("ecr:GetAuthorizationToken",)
    for pattern, actions in (
        (_BLOB, {"HEAD": ("ecr:BatchCheckLayerAvailability",),
                 "GET": ("ecr:GetDownloadUrlForLayer",)}),
        (_UPLOAD_START, {"POST": ("ecr:InitiateLayerUpload",)}),
        (_UPLOAD, {"PATCH": ("ecr:UploadLayerPart",),
                   "PUT": ("ecr:UploadLayerPart", "ecr:CompleteLayerUpload")}),
        (_MANIFEST, {"GET": ("ecr:BatchGetImage",), "HEAD": ("ecr:BatchGetImage",),
                     "PUT": ("ecr:PutImage",)}),
    ):
        match = pattern.match(path)
        if match and method in actions:
            return match.group("name"), actions[method]
    raise AssertionError(f"{method} {path}: not in ECR's documented request-to-action table")
