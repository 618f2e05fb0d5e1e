"""The monitoring templates: cfn-lint clean, CloudFormation and Terraform agree (patterns,
table, permissions), no wildcard action, and the runtime matches the packaged zip.
(checkov and trivy config run over templates/ in tests/templates/test_scanners.py, which
covers these files too.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.monitor.world import CFN, REPO_ROOT, cfn_template
from tests.support.hcl import load_terraform
from tools.monitor_package import PYTHON_VERSION

TERRAFORM = REPO_ROOT / "templates" / "terraform" / "monitoring"
PATTERN_FILES = {"EcrScanRule": "ecr-image-scan", "InspectorScanRule": "inspector2-scan",
                 "InspectorFindingRule": "inspector2-finding",
                 "DeployedRule": "scangate-image-deployed"}


def _terraform() -> dict[str, Any]:
    return load_terraform(TERRAFORM / "main.tf")


def _resource(kind: str, name: str) -> dict[str, Any]:
    for block in _terraform()["resource"]:
        if kind in block and name in block[kind]:
            return dict(block[kind][name])
    raise AssertionError(f"{kind}.{name} not in {TERRAFORM / 'main.tf'}")


def _local(name: str) -> Any:
    for block in _terraform()["locals"]:
        if name in block:
            return block[name]
    raise AssertionError(f"local.{name} not in {TERRAFORM / 'main.tf'}")


def test_cfn_lint_reports_nothing() -> None:
    tool = REPO_ROOT / ".venv" / "bin" / "cfn-lint"
    result = subprocess.run([str(tool), "--include-checks", "I", "--", str(CFN)],
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_terraform_rules_use_the_cloudformation_patterns() -> None:
    resources = cfn_template()["Resources"]
    for rule, name in PATTERN_FILES.items():
        pattern = json.loads((TERRAFORM / "patterns" / f"{name}.json").read_text())
        assert pattern == resources[rule]["Properties"]["EventPattern"], name
    rules = _terraform()["locals"][0]["rules"]
    assert sorted(rules) == sorted(PATTERN_FILES.values())


def test_table_keys_and_indexes_agree() -> None:
    cfn = cfn_template()["Resources"]["Table"]["Properties"]
    tf = _resource("aws_dynamodb_table", "monitor")
    assert {a["AttributeName"] for a in cfn["AttributeDefinitions"]} == \
        {a["name"] for a in tf["attribute"]}
    cfn_indexes = {i["IndexName"]: ([k["AttributeName"] for k in i["KeySchema"]],
                                    i["Projection"]["NonKeyAttributes"])
                   for i in cfn["GlobalSecondaryIndexes"]}
    tf_indexes = {i["name"]: ([i["hash_key"], i["range_key"]], i["non_key_attributes"])
                  for i in tf["global_secondary_index"]}
    assert cfn_indexes == tf_indexes
    assert cfn["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert cfn["SSESpecification"]["SSEType"] == "KMS"
    assert tf["point_in_time_recovery"][0]["enabled"] is True


def _cfn_actions() -> dict[str, list[str]]:
    statements = cfn_template()["Resources"]["Role"]["Properties"]["Policies"][0][
        "PolicyDocument"]["Statement"]
    return {s["Sid"]: sorted([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
            for s in statements}


def test_role_actions_agree_and_none_is_a_wildcard() -> None:
    cfn = _cfn_actions()
    for block in _terraform()["data"]:
        document = block.get("aws_iam_policy_document", {}).get("monitor")
        if document:
            tf = {s["sid"]: sorted(s["actions"]) for s in document["statement"]}
    assert cfn == tf
    for actions in cfn.values():
        for action in actions:
            service, _, name = action.partition(":")
            assert service and name and "*" not in action, action


def test_runtime_and_handler_match_the_package() -> None:
    function = cfn_template()["Resources"]["Function"]["Properties"]
    tf = _resource("aws_lambda_function", "monitor")
    assert function["Runtime"] == tf["runtime"] == f"python{PYTHON_VERSION}"
    assert function["Handler"] == tf["handler"] == "scangate.monitor.handler.handler"
    mapping = cfn_template()["Resources"]["EventSource"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert _resource("aws_lambda_event_source_mapping", "events")[
        "function_response_types"] == ["ReportBatchItemFailures"]
    assert Path(REPO_ROOT / "scripts" / "scangate" / "monitor" / "handler.py").exists()


CODEBUILD = REPO_ROOT / "templates" / "codebuild"


def test_codebuild_project_is_lint_clean_and_its_role_has_no_wildcard_action() -> None:
    tool = REPO_ROOT / ".venv" / "bin" / "cfn-lint"
    project = CODEBUILD / "project.yaml"
    result = subprocess.run([str(tool), "--include-checks", "I", "--", str(project)],
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
    import yaml

    from tests.monitor.world import _CfnLoader

    doc = yaml.load(project.read_text(encoding="utf-8"), Loader=_CfnLoader)
    statements = doc["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"]
    actions = []
    for statement in statements:
        if "If" in statement:  # !If [condition, statement, !Ref AWS::NoValue]
            statement = statement["If"][1]
        found = statement["Action"]
        actions += [found] if isinstance(found, str) else found
    assert actions and all("*" not in a for a in actions), actions
    variables = {v["Name"] for v in doc["Resources"]["Project"]["Properties"]["Environment"][
        "EnvironmentVariables"]}
    buildspec = (CODEBUILD / "buildspec.yml").read_text(encoding="utf-8")
    for name in variables:
        assert f"${name}" in buildspec or f"${{{name}" in buildspec, name


def test_the_buildspec_installs_only_what_the_lock_pins() -> None:
    """Every pip install of the buildspec's install phase is --no-deps: the dependencies come
    from requirements/runtime.lock with --require-hashes, and scangate is built by the lock's
    setuptools (--no-build-isolation; with isolation pip would fetch an unpinned setuptools
    from the index and run it), as actions/setup/install.sh installs it."""
    import yaml

    spec = yaml.safe_load((CODEBUILD / "buildspec.yml").read_text(encoding="utf-8"))
    installs = [" ".join(c.split()) for c in spec["phases"]["install"]["commands"]
                if "pip install" in c]
    assert len(installs) == 2, installs
    lock, source = installs
    assert all("--no-deps" in c.split() for c in installs), installs
    assert "--require-hashes" in lock.split() and lock.endswith(
        '-r "$SCANGATE_SOURCE/requirements/runtime.lock"'), lock
    assert "--no-build-isolation" in source.split() and source.endswith(
        '"$SCANGATE_SOURCE"'), source


def test_codebuild_terraform_role_equals_the_cloudformation_role() -> None:
    import yaml

    from tests.monitor.world import _CfnLoader

    doc = yaml.load((CODEBUILD / "project.yaml").read_text(encoding="utf-8"),
                    Loader=_CfnLoader)
    cfn = {}
    for statement in doc["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"][
            "Statement"]:
        if "If" in statement:
            statement = statement["If"][1]
        found = statement["Action"]
        cfn[statement["Sid"]] = sorted([found] if isinstance(found, str) else found)
    tf_doc = load_terraform(CODEBUILD / "terraform" / "main.tf")
    tf = {}
    for block in tf_doc["data"]:
        document = block.get("aws_iam_policy_document", {}).get("pipeline")
        if not document:
            continue
        for statement in document["statement"]:
            tf[statement["sid"]] = sorted(statement["actions"])
        for dynamic in document.get("dynamic", []):
            content = dynamic["statement"]["content"][0]
            tf[content["sid"]] = sorted(content["actions"])
    assert cfn == tf


def test_codebuild_terraform_is_formatted() -> None:
    """`terraform fmt -check` (templates/terraform's own check does not reach this directory);
    skipped like it when Terraform is not installed (the project does not install it)."""
    import shutil

    import pytest

    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed (the project does not install it)")
    result = subprocess.run([terraform, "fmt", "-check", "-diff", "-recursive",
                             str(CODEBUILD / "terraform")],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
