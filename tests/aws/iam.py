"""IAM policy evaluation and the roles our templates create, read statically.

moto evaluates identity policies only for the calls it implements and never evaluates resource
policies (tests/templates/test_aws_moto.py); the permission tests need a decision for every
action a recorded call maps to, on real AWS resource ARNs. This module gives it, with the rules
of AWS's "Policy evaluation logic" that the templates rely on:

- an explicit Deny wins; otherwise an Allow is needed; otherwise the request is denied;
- Action and Resource match with ``*`` and ``?`` wildcards (actions case-insensitively);
- a condition operator with several values matches when any value matches, and a negated one
  (``ArnNotEquals``, ``StringNotEquals``) when none does ("Creating a condition with multiple
  keys or values");
- a condition key the request context lacks makes a positive operator false and a negated
  operator true.

Anything else (NotAction, NotResource, an operator not listed) fails the test instead of being
guessed. CloudFormation templates are resolved with the parameter values a test gives
(intrinsics Ref, GetAtt, Sub, If, Join, Select, conditions Equals/Not/And/Or); a resource's
ARN is built the way CloudFormation documents its Ref/GetAtt return values.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict[str, dict[str, Any]]
    sid: str = ""


@dataclass
class Role:
    """One role (or one standalone policy document) and the statements it is allowed by."""

    name: str  # where it comes from, e.g. "pipeline.yaml PushRole"
    arn: str
    statements: list[Statement] = field(default_factory=list)


def _listed(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), value
    return tuple(value)


def statements(document: dict[str, Any]) -> list[Statement]:
    found = []
    for raw in document["Statement"]:
        unknown = set(raw) - {"Sid", "Effect", "Action", "Resource", "Condition", "Principal"}
        assert not unknown, f"not understood here: {unknown} in {raw}"
        found.append(Statement(raw["Effect"], _listed(raw["Action"]),
                               _listed(raw.get("Resource", "*")), raw.get("Condition", {}),
                               raw.get("Sid", "")))
    return found


def _action_matches(patterns: tuple[str, ...], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _resource_matches(patterns: tuple[str, ...], resource: str) -> bool:
    return any(fnmatch.fnmatchcase(resource, p) for p in patterns)


_POSITIVE = {
    "StringEquals": lambda have, want: have == want,
    "StringLike": lambda have, want: fnmatch.fnmatchcase(have, want),
    "ArnEquals": lambda have, want: fnmatch.fnmatchcase(have, want),
    "ArnLike": lambda have, want: fnmatch.fnmatchcase(have, want),
    "Bool": lambda have, want: str(have).lower() == str(want).lower(),
}
_NEGATED = {"StringNotEquals": "StringEquals", "ArnNotEquals": "ArnEquals",
            "ArnNotLike": "ArnLike", "StringNotLike": "StringLike"}


def condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, keys in condition.items():
        negated = operator in _NEGATED
        test = _POSITIVE[_NEGATED.get(operator, operator)]  # KeyError: operator not understood
        for key, wanted in keys.items():
            values = _listed(wanted)
            have = context.get(key)
            matched = have is not None and any(test(have, v) for v in values)
            if matched == negated:
                return False
    return True


def decide(statement_list: list[Statement], action: str, resource: str,
           context: dict[str, str] | None = None) -> str:
    """"deny" (explicit), "allow", or "implicit-deny"."""
    context = context or {}
    relevant = [s for s in statement_list if _action_matches(s.actions, action)
                and _resource_matches(s.resources, resource)
                and condition_holds(s.condition, context)]
    if any(s.effect == "Deny" for s in relevant):
        return "deny"
    if any(s.effect == "Allow" for s in relevant):
        return "allow"
    return "implicit-deny"


# --- CloudFormation ---------------------------------------------------------------------------


def load_cfn(path: Path) -> dict[str, Any]:
    template, matches = decode(str(path))
    assert not matches, matches
    assert template is not None
    return dict(template)


def _physical(logical: str, resource: dict[str, Any]) -> dict[str, str]:
    """What Ref and GetAtt return for a resource (CloudFormation's return-value docs), with
    the resource's own name property where it has one, else its logical id as the name."""
    kind = resource["Type"]
    props = resource.get("Properties", {})
    base = f"arn:{PARTITION}:{{service}}:{REGION}:{ACCOUNT}"

    def named(key: str) -> str:
        value = props.get(key, logical)
        return value if isinstance(value, str) else logical

    if kind == "AWS::IAM::Role":
        arn = f"arn:{PARTITION}:iam::{ACCOUNT}:role/{named('RoleName')}"
        return {"Ref": named("RoleName"), "Arn": arn}
    if kind == "AWS::IAM::ManagedPolicy":
        return {"Ref": f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{named('ManagedPolicyName')}"}
    if kind == "AWS::ECR::Repository":
        return {"Ref": named("RepositoryName"),
                "Arn": base.format(service="ecr") + f":repository/{named('RepositoryName')}"}
    if kind == "AWS::KMS::Key":
        return {"Ref": logical, "Arn": base.format(service="kms") + f":key/{logical}"}
    if kind == "AWS::SNS::Topic":
        arn = base.format(service="sns") + f":{named('TopicName')}"
        return {"Ref": arn, "TopicArn": arn, "TopicName": named("TopicName")}
    if kind == "AWS::SQS::Queue":
        return {"Ref": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{named('QueueName')}",
                "Arn": base.format(service="sqs") + f":{named('QueueName')}",
                "QueueName": named("QueueName")}
    if kind == "AWS::DynamoDB::Table":
        return {"Ref": named("TableName"),
                "Arn": base.format(service="dynamodb") + f":table/{named('TableName')}"}
    if kind == "AWS::Logs::LogGroup":
        # GetAtt Arn ends in ":*" (AWS::Logs::LogGroup return values).
        name = named("LogGroupName")
        return {"Ref": name, "Arn": base.format(service="logs") + f":log-group:{name}:*"}
    if kind == "AWS::Lambda::Function":
        return {"Ref": named("FunctionName"),
                "Arn": base.format(service="lambda") + f":function:{named('FunctionName')}"}
    if kind == "AWS::Events::Rule":
        return {"Ref": named("Name"), "Arn": base.format(service="events") + f":rule/{logical}"}
    if kind == "AWS::Events::EventBus":
        return {"Ref": named("Name"), "Name": named("Name"),
                "Arn": base.format(service="events") + f":event-bus/{named('Name')}"}
    if kind == "AWS::CloudWatch::Alarm":
        return {"Ref": logical, "Arn": base.format(service="cloudwatch") + f":alarm:{logical}"}
    return {"Ref": logical}


class Stack:
    """A template with its parameters' values, resolvable like CloudFormation would."""

    def __init__(self, path: Path, parameters: dict[str, str]) -> None:
        self.path = path
        self.template = load_cfn(path)
        declared = self.template.get("Parameters", {})
        unknown = set(parameters) - set(declared)
        assert not unknown, f"{path.name} has no parameters {unknown}"
        self.parameters: dict[str, Any] = {}
        for name, spec in declared.items():
            value = parameters.get(name, spec.get("Default"))
            assert value is not None, f"{path.name}: parameter {name} needs a value"
            self.parameters[name] = value
        self.pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION,
                       "AWS::Partition": PARTITION, "AWS::URLSuffix": "amazonaws.com",
                       "AWS::StackName": path.stem}
        self.resources: dict[str, dict[str, Any]] = self.template["Resources"]
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def exists(self, logical: str) -> bool:
        condition = self.resources[logical].get("Condition")
        return condition is None or self.condition(condition)

    def attribute(self, logical: str, attribute: str) -> str:
        return _physical(logical, self.resolve(self.resources[logical]))[attribute]

    def _ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.attribute(name, "Ref")

    def _sub(self, text: str, extra: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name and name not in self.pseudo:
                logical, attr = name.split(".", 1)
                return self.attribute(logical, attr)
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(n) for n in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return _NO_VALUE if value == "AWS::NoValue" else self._ref(value)
            if key == "Fn::GetAtt":
                logical, attr = value if isinstance(value, list) else value.split(".", 1)
                return self.attribute(logical, attr)
            if key == "Fn::Sub":
                if isinstance(value, str):
                    return self._sub(value, {})
                text, variables = value
                return self._sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if key == "Fn::If":
                name, yes, no = value
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Join":
                separator, parts = value
                return separator.join(str(p) for p in self.resolve(parts))
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in value)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(value[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in value)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in value)
            if key == "Condition":
                return self.condition(value)
            assert not key.startswith("Fn::"), f"intrinsic {key} not understood here"
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def roles(self) -> dict[str, Role]:
        """Every IAM role of the stack with its inline and attached managed policies."""
        found: dict[str, Role] = {}
        for logical, resource in self.resources.items():
            if resource["Type"] == "AWS::IAM::Role" and self.exists(logical):
                role = Role(f"{self.path.name} {logical}", self.attribute(logical, "Arn"))
                for policy in self.resolve(resource).get("Properties", {}).get("Policies", []):
                    role.statements += statements(policy["PolicyDocument"])
                found[logical] = role
        for logical, resource in self.resources.items():
            if resource["Type"] != "AWS::IAM::ManagedPolicy" or not self.exists(logical):
                continue
            props = self.resolve(resource)["Properties"]
            for role_name in props.get("Roles", []):
                (owner,) = [r for r in found.values() if r.arn.endswith(f":role/{role_name}")]
                owner.statements += statements(props["PolicyDocument"])
        return found


class _NoValue:
    pass


_NO_VALUE: Any = _NoValue()


def render_json(path: Path, values: dict[str, str]) -> dict[str, Any]:
    """A standalone document of templates/aws/policies with its <PLACEHOLDERS> filled (every
    placeholder must be given)."""
    text = path.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"<{key}>", value)
    left = re.findall(r"<[A-Z_]+>", text)
    assert not left, f"{path.name}: no value for {left}"
    document: dict[str, Any] = json.loads(text)
    return document
