"""templates/terraform agrees with the CloudFormation stack and the standalone policies.

Parsed with python-hcl2 (no Terraform run: the AWS provider cannot be downloaded here, see
test_scanners.test_terraform_is_formatted). The statements' Sid, Effect and Action must equal
templates/aws/policies/*.json; the trust policy must pin aud and sub with StringEquals.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cfnlint.decode import decode

from tests.support.hcl import load_terraform
from tests.templates.conftest import CFN_TEMPLATE, POLICIES, TERRAFORM


def _load(name: str) -> dict[str, Any]:
    return load_terraform(TERRAFORM / name)


def _policy_documents() -> dict[str, Any]:
    documents: dict[str, Any] = {}
    for block in _load("main.tf")["data"]:
        documents.update(block.get("aws_iam_policy_document", {}))
    return documents


@pytest.mark.parametrize("job", ["push", "publish", "gate", "deploy"])
def test_policy_statements_equal_the_standalone_json(job: str) -> None:
    statements = _policy_documents()[job]["statement"]
    expected = json.loads((POLICIES / f"{job}-policy.json").read_text(encoding="utf-8"))
    assert [(s["sid"], s["effect"], sorted(s["actions"])) for s in statements] == [
        (
            s["Sid"],
            s["Effect"],
            sorted([s["Action"]] if isinstance(s["Action"], str) else s["Action"]),
        )
        for s in expected["Statement"]
    ]


def test_deploy_monitoring_policy_equals_the_cloudformation_one() -> None:
    """The deploy role's mark-deployed policy (events on the one bus; tagging deployed digests in
    the stack's repository): same statements, same resources, in both templates."""
    template, _ = decode(str(CFN_TEMPLATE))
    assert template is not None
    cfn = template["Resources"]["DeployMonitoringPolicy"]["Properties"]["PolicyDocument"]
    terraform = _policy_documents()["deploy_monitoring"]["statement"]

    def actions(value: Any) -> list[str]:
        return sorted([value] if isinstance(value, str) else value)

    assert [(s["sid"], s["effect"], sorted(s["actions"])) for s in terraform] == [
        (s["Sid"], s["Effect"], actions(s["Action"])) for s in cfn["Statement"]]
    resources = {s["sid"]: s["resources"] for s in terraform}
    assert resources["TagDeployedDigests"] == ["${aws_ecr_repository.this.arn}"]
    [tagging] = [s for s in cfn["Statement"] if s["Sid"] == "TagDeployedDigests"]
    assert tagging["Resource"] == {"Fn::GetAtt": ["Repository", "Arn"]}
    assert resources["MarkDeployedOnOneBus"][0].endswith(
        ":event-bus/${var.monitoring_event_bus}")


def test_trust_pins_aud_and_exact_sub() -> None:
    """aud exact; sub exact unless it holds a * (only a GitLab protected-tag pattern may: the
    subject pattern, test_aws_moto), then StringLike as the CloudFormation GitLab branch does."""
    (statement,) = _policy_documents()["trust"]["statement"]
    assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert statement["principals"][0]["type"] == "Federated"
    conditions = {c["variable"]: (c["test"], c["values"]) for c in statement["condition"]}
    assert conditions == {
        "${var.oidc_issuer_host}:aud": ("StringEquals", ["${local.role_audiences[each.key]}"]),
        "${var.oidc_issuer_host}:sub": (
            '${strcontains(each.value, "*") ? "StringLike" : "StringEquals"}',
            ["${each.value}"],
        ),
    }


def test_every_threshold_is_an_ssm_parameter_unless_empty() -> None:
    """critical 0, high 5, medium 20 seeded; low empty: no parameter, no limit."""
    variables = {k: v for block in _load("variables.tf")["variable"] for k, v in block.items()}
    defaults = {k: variables[f"{k}_threshold"]["default"]
                for k in ("critical", "high", "medium", "low")}
    assert defaults == {"critical": "0", "high": "5", "medium": "20", "low": ""}
    main = (TERRAFORM / "main.tf").read_text(encoding="utf-8")
    assert '} : severity => value if value != ""' in main
    assert 'name        = "${var.thresholds_parameter_prefix}/${each.key}"' in main


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_outputs_and_variables_mirror_the_cloudformation_stack() -> None:
    template, _ = decode(str(CFN_TEMPLATE))
    assert template is not None
    outputs = {k for block in _load("outputs.tf")["output"] for k in block}
    assert outputs == {_snake(k) for k in template["Outputs"]}
    variables = {k: v for block in _load("variables.tf")["variable"] for k, v in block.items()}
    assert all(v.get("description") for v in variables.values())
    cfn_only = {"ci_provider"}  # Terraform takes the issuer host itself
    tf_only = {"oidc_issuer_host"}
    renamed = {"code_build_role_arn": "codebuild_role_arn"}  # one word in Terraform's names
    expected = {renamed.get(n, n) for n in (_snake(k) for k in template["Parameters"])} - cfn_only
    assert set(variables) - tf_only == expected


def test_provider_is_pinned_to_one_version() -> None:
    (terraform,) = _load("versions.tf")["terraform"]
    (providers,) = terraform["required_providers"]
    assert re.fullmatch(r"= \d+\.\d+\.\d+", providers["aws"]["version"])


def test_lifecycle_prefixes_are_the_tag_format_environments() -> None:
    """The rules select the prefixes scangate image-tag writes (scangate.aws.tags); the moto test
    of the rules against pushed tags is test_aws_moto's lifecycle test."""
    from scangate.aws.tags import ENVIRONMENTS

    variables = {k: v for block in _load("variables.tf")["variable"] for k, v in block.items()}
    prefixes = {variables[f"{name}_tag_prefix"]["default"]
                for name in ("production", "staging", "development")}
    assert prefixes == set(ENVIRONMENTS.values())
    template, _ = decode(str(CFN_TEMPLATE))
    assert template is not None
    assert {template["Parameters"][f"{name}TagPrefix"]["Default"]
            for name in ("Production", "Staging", "Development")} == prefixes
