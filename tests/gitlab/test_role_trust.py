"""One role per GitLab job, provably: each role's trust conditions (CloudFormation and
Terraform, as deployed for GitLab) evaluated against the claims each job's ID token carries.

GitLab builds the ID token's `sub` per project from `project_path`, `ref_type` and `ref` only
(gitlab-org/gitlab `ProjectCiCdSetting::ALLOWED_SUB_CLAIM_COMPONENTS`; issue 477260), so every
job of a pipeline carries the same `sub`; jobs differ only by the `aud` of their `id_tokens`
(GitLab docs, "OpenID Connect (OIDC) ID token authentication"). The roles therefore tell the
jobs apart by audience. IAM evaluates the conditions as documented ("IAM JSON policy elements:
Condition operators"): StringEquals exact, StringLike with `*` and `?`, every key of every
operator must hold. moto stores but does not evaluate web-identity trust, so the evaluation is
done here, on the templates themselves.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest
from cfnlint.decode import decode

from tests.gitlab import glci
from tests.support.hcl import load_terraform

CFN_TEMPLATE = glci.REPO_ROOT / "templates" / "aws" / "scangate-pipeline.yaml"
TERRAFORM = glci.REPO_ROOT / "templates" / "terraform"
ISSUER = "gitlab.com"
ROLES = ("push", "publish", "gate", "deploy")
# The GitLab template's input of each role, and the job(s) meant to assume it.
ROLE_INPUT = {"push": "push-role-audience", "publish": "securityhub-role-audience",
              "gate": "gate-role-audience", "deploy": "deploy-role-audience"}
INTENDED = {"scangate-report": "gate", "scangate-notify": "gate", "scangate-push": "push",
            "scangate-securityhub": "publish", "scangate-deploy": "deploy"}
# A protected release tag pipeline: what every job's token says.
SUB = "project_path:example-group/user-authenticator:ref_type:tag:ref:v1.2.0"
TRUSTED_SUB = "project_path:example-group/user-authenticator:ref_type:tag:ref:v*"
EVERY_JOB_ON = {"push": True, "deploy": True, "securityhub": True, "registry": "r.example",
                "aws-region": "eu-west-1", "sns-topic-arn": "arn:aws:sns:eu-west-1:1:t",
                "gate-role-arn": "arn:aws:iam::123456789012:role/gl-gate",
                "push-role-arn": "arn:aws:iam::123456789012:role/gl-push",
                "securityhub-role-arn": "arn:aws:iam::123456789012:role/gl-publish",
                "deploy-role-arn": "arn:aws:iam::123456789012:role/gl-deploy",
                "eks-cluster": "prod", "thresholds-ssm-prefix": "/limits"}


def token_claims(inputs: dict[str, Any]) -> dict[str, dict[str, str]]:
    """{job: claims} of every job that asks GitLab for an ID token."""
    jobs = glci.rendered_jobs(inputs)
    claims = {}
    for name in jobs:
        if name.startswith("."):
            continue
        job = glci.merged_job(jobs, name)
        for token in (job.get("id_tokens") or {}).values():
            claims[name] = {"aud": token["aud"], "sub": SUB}
    return claims


def conditions_hold(conditions: dict[str, dict[str, Any]], claims: dict[str, str]) -> bool:
    for operator, keys in conditions.items():
        for key, expected in keys.items():
            claim = key.removeprefix(f"{ISSUER}:")
            assert claim in claims, key
            values = expected if isinstance(expected, list) else [expected]
            if operator == "StringEquals":
                ok = claims[claim] in values
            elif operator == "StringLike":
                ok = any(fnmatch.fnmatchcase(claims[claim], value) for value in values)
            else:
                raise AssertionError(f"operator {operator} is not evaluated here")
            if not ok:
                return False
    return True


def _resolve(node: Any, parameters: dict[str, str], conditions: dict[str, bool]) -> Any:
    """CloudFormation's Ref and Fn::If, enough for the trust documents."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return parameters.get(node["Ref"], f"<{node['Ref']}>")
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return _resolve(when_true if conditions[name] else when_false, parameters,
                            conditions)
        return {k: _resolve(v, parameters, conditions) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(item, parameters, conditions) for item in node]
    return node


def cloudformation_trusts(audiences: dict[str, str] | None = None) -> dict[str, Any]:
    """{role: Condition} of each role's trust statement, for CiProvider=gitlab with an
    existing provider, every subject the protected release tags, and the given (or default)
    audiences."""
    template, _ = decode(str(CFN_TEMPLATE))
    assert template is not None
    parameters = {name: str(definition.get("Default", ""))
                  for name, definition in template["Parameters"].items()}
    parameters.update({"CiProvider": "gitlab", "CreateOidcProvider": "false",
                       "OidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"})
    for role in ROLES:
        parameters[f"{role.capitalize()}Subject"] = TRUSTED_SUB
        if audiences:
            parameters[f"{role.capitalize()}Audience"] = audiences[role]
    conditions = {"IsGitHub": False, "CreateProvider": False, "CreateGitHubProvider": False,
                  "CreateGitLabProvider": False}
    trusts = {}
    for role in ROLES:
        document = template["Resources"][f"{role.capitalize()}Role"]["Properties"][
            "AssumeRolePolicyDocument"]
        (statement,) = _resolve(document, parameters, conditions)["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"]["Federated"].endswith(f":oidc-provider/{ISSUER}")
        trusts[role] = statement["Condition"]
    return trusts


def terraform_trusts() -> dict[str, Any]:
    """{role: Condition} of Terraform's trust document for a GitLab issuer with the variables'
    defaults: the aud condition names `local.role_audiences[each.key]`, whose GitLab branch maps
    each role to its `<role>_audience` variable."""
    variables = {k: v for block in load_terraform(TERRAFORM / "variables.tf")["variable"]
                 for k, v in block.items()}
    main = (TERRAFORM / "main.tf").read_text(encoding="utf-8")
    gitlab_branch = re.search(r"role_audiences = local\.is_github \? \{.*?\} : \{(.*?)\}", main,
                              re.S)
    assert gitlab_branch, "main.tf: role_audiences has no GitLab branch"
    mapping = dict(re.findall(r"(\w+)\s*=\s*var\.(\w+)", gitlab_branch.group(1)))
    documents: dict[str, Any] = {}
    for block in load_terraform(TERRAFORM / "main.tf")["data"]:
        documents.update(block.get("aws_iam_policy_document", {}))
    (statement,) = documents["trust"]["statement"]
    trusts = {}
    for role in ROLES:
        condition: dict[str, dict[str, list[str]]] = {}
        for entry in statement["condition"]:
            test = entry["test"]
            if "StringLike" in test and "StringEquals" in test:  # sub: StringLike for a `*`
                test = "StringLike" if "*" in TRUSTED_SUB else "StringEquals"
            claim = entry["variable"].removeprefix("${var.oidc_issuer_host}:")
            (value,) = entry["values"]
            if value == "${local.role_audiences[each.key]}":
                value = variables[mapping[role]]["default"]
            elif value == "${each.value}":
                value = TRUSTED_SUB
            else:
                raise AssertionError(f"unexpected trust value {value!r}")
            condition.setdefault(test, {})[f"{ISSUER}:{claim}"] = [value]
        trusts[role] = condition
    return trusts


def passing_roles(trusts: dict[str, Any], claims: dict[str, dict[str, str]],
                  ) -> dict[str, set[str]]:
    return {job: {role for role in ROLES if conditions_hold(trusts[role], job_claims)}
            for job, job_claims in claims.items()}


@pytest.mark.parametrize("source", ["cloudformation", "terraform"])
def test_each_role_trusts_only_the_job_it_is_for(source: str) -> None:
    """Every job that holds an ID token, with every feature on and the default audiences:
    exactly its own role's trust holds, although all of them carry the same `sub`."""
    claims = token_claims(EVERY_JOB_ON)
    assert set(claims) == set(INTENDED)
    assert len({c["sub"] for c in claims.values()}) == 1
    trusts = cloudformation_trusts() if source == "cloudformation" else terraform_trusts()
    assert passing_roles(trusts, claims) == {job: {role} for job, role in INTENDED.items()}


def test_the_build_and_scan_jobs_hold_no_token() -> None:
    """Least privilege: the jobs that run the repository's Dockerfile or Trivy hold no ID
    token at all (nothing for a build step or a scanned file to steal)."""
    claims = token_claims(EVERY_JOB_ON)
    for suffix in ("build", "scan", "enforce", "overridden-inputs"):
        assert f"scangate-{suffix}" not in claims


def test_a_shared_audience_lets_another_job_assume_the_role() -> None:
    """The evaluation is not vacuous: with the Security Hub job given the push role's audience
    (in both the include and the stack), its token satisfies the push role's trust; and with
    one audience for all (the former `aws-oidc-audience`), every job satisfies every role."""
    shared = {"push": "scangate-push", "publish": "scangate-push", "gate": "scangate-gate",
              "deploy": "scangate-deploy"}
    inputs = {**EVERY_JOB_ON, **{ROLE_INPUT[r]: a for r, a in shared.items()}}
    passing = passing_roles(cloudformation_trusts(shared), token_claims(inputs))
    assert passing["scangate-securityhub"] == {"push", "publish"}
    assert passing["scangate-push"] == {"push", "publish"}
    one = {role: "sts.amazonaws.com" for role in ROLES}
    inputs = {**EVERY_JOB_ON, **{ROLE_INPUT[r]: a for r, a in one.items()}}
    passing = passing_roles(cloudformation_trusts(one), token_claims(inputs))
    assert all(roles == set(ROLES) for roles in passing.values()), passing


def test_another_project_or_an_unprotected_ref_passes_no_role() -> None:
    claims = {"fork": {"aud": "scangate-push",
                       "sub": "project_path:example-group/fork:ref_type:tag:ref:v1.2.0"},
              "branch": {"aud": "scangate-push",
                         "sub": "project_path:example-group/user-authenticator:"
                                "ref_type:branch:ref:v1.2.0"}}
    for trusts in (cloudformation_trusts(), terraform_trusts()):
        assert passing_roles(trusts, claims) == {"fork": set(), "branch": set()}


def test_the_default_audiences_agree_and_differ() -> None:
    """The GitLab template's defaults, the CloudFormation parameters' and the Terraform
    variables' are the same four values, all different."""
    spec, _ = glci.load_template()
    template, _ = decode(str(CFN_TEMPLATE))
    assert template is not None
    variables = {k: v for block in load_terraform(TERRAFORM / "variables.tf")["variable"]
                 for k, v in block.items()}
    gitlab = {role: spec[ROLE_INPUT[role]]["default"] for role in ROLES}
    cloudformation = {role: template["Parameters"][f"{role.capitalize()}Audience"]["Default"]
                      for role in ROLES}
    terraform = {role: variables[f"{role}_audience"]["default"] for role in ROLES}
    assert gitlab == cloudformation == terraform
    assert len(set(gitlab.values())) == len(ROLES)
    assert "aws-oidc-audience" not in spec
