"""A deployed digest is never expired by the repository's lifecycle rules.

`scangate mark-deployed` tags each deployed digest ``scangate-deployed-<hex>``
(scangate.aws.deployed_tag); the pipeline stack's first lifecycle rule selects that prefix and
keeps 10,000 such images, so no lower rule may expire them (Amazon ECR User Guide, "Lifecycle
policy evaluation rules": "An image that matches the tagging requirements of a rule cannot be
expired by a rule with a lower priority").

The rules are evaluated as ECR evaluates them by tests/aws/ecr_lifecycle.py (a port of the
documented semantics: no emulator runs lifecycle policies), which is first checked against every
worked example of the documentation ("Examples of lifecycle policies"). CloudFormation, Terraform
and policies/ecr-lifecycle-policy.json hold the same rules.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from scangate.aws import deployed_tag

from tests.aws.ecr_lifecycle import Image, LifecyclePolicyError, evaluate, parse

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
BOTH_READINGS = pytest.mark.parametrize("see_claimed", [True, False],
                                        ids=["lower-rules-count-claimed", "lower-rules-skip"])


def _days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _rule(priority: int, count_type: str, number: int, *, status: str = "tagged",
          prefixes: list[str] | None = None, patterns: list[str] | None = None
          ) -> dict[str, Any]:
    selection: dict[str, Any] = {"tagStatus": status, "countType": count_type,
                                 "countNumber": number}
    if prefixes:
        selection["tagPrefixList"] = prefixes
    if patterns:
        selection["tagPatternList"] = patterns
    if count_type == "sinceImagePushed":
        selection["countUnit"] = "days"
    return {"rulePriority": priority, "selection": selection, "action": {"type": "expire"}}


# --- the port, against the documentation's worked examples --------------------------------------

DOC_REPOSITORY = [Image("A", ("beta-1", "prod-1"), _days_ago(10)),
                  Image("B", ("beta-2", "prod-2"), _days_ago(9)),
                  Image("C", ("beta-3",), _days_ago(8))]


@BOTH_READINGS
def test_doc_multiple_rules_example_a(see_claimed: bool) -> None:
    """"Filtering on multiple rules", example A: prod (1), beta (2), keep 1 each: A expired."""
    policy = {"rules": [_rule(1, "imageCountMoreThan", 1, prefixes=["prod"]),
                        _rule(2, "imageCountMoreThan", 1, prefixes=["beta"])]}
    assert evaluate(policy, DOC_REPOSITORY, NOW, lower_rules_see_claimed=see_claimed) == {"A": 1}


@BOTH_READINGS
def test_doc_multiple_rules_example_b(see_claimed: bool) -> None:
    """Example B: beta (1), prod (2): A and B expired (by rule 1)."""
    policy = {"rules": [_rule(1, "imageCountMoreThan", 1, prefixes=["beta"]),
                        _rule(2, "imageCountMoreThan", 1, prefixes=["prod"])]}
    assert evaluate(policy, DOC_REPOSITORY, NOW, lower_rules_see_claimed=see_claimed) == {
        "A": 1, "B": 1}


def test_doc_multiple_tags_in_one_rule_example_a() -> None:
    """"Filtering on multiple tags in a single rule", example A: an image must match every
    prefix; C (alpha and beta, 10 days) is older than 5 days, F is not."""
    images = [Image("A", ("alpha-1",), _days_ago(12)), Image("B", ("beta-1",), _days_ago(11)),
              Image("C", ("alpha-2", "beta-2"), _days_ago(10)),
              Image("D", ("alpha-3",), _days_ago(4)), Image("E", ("beta-3",), _days_ago(3)),
              Image("F", ("alpha-4", "beta-4"), _days_ago(2))]
    policy = {"rules": [_rule(1, "sinceImagePushed", 5, prefixes=["alpha", "beta"])]}
    assert evaluate(policy, images, NOW) == {"C": 1}


def test_doc_multiple_tags_in_one_rule_example_b() -> None:
    """Example B: tags are not exclusive; keep 1 of alpha+beta: A and B expired."""
    images = [Image("A", ("alpha-1", "beta-1", "gamma-1"), _days_ago(10)),
              Image("B", ("alpha-2", "beta-2"), _days_ago(9)),
              Image("C", ("alpha-3", "beta-3", "gamma-2"), _days_ago(8))]
    policy = {"rules": [_rule(1, "imageCountMoreThan", 1, prefixes=["alpha", "beta"])]}
    assert evaluate(policy, images, NOW) == {"A": 1, "B": 1}


def test_doc_untagged_examples_and_patterns() -> None:
    """"Filtering on image age" / "on image count" (untagged), and tagPatternList ("prod*"
    selects prod, prod1, ...; * matches anywhere in the tag, the whole tag must match)."""
    images = [Image("old", (), _days_ago(20)), Image("new", (), _days_ago(2)),
              Image("tagged", ("x",), _days_ago(30))]
    assert evaluate({"rules": [_rule(1, "sinceImagePushed", 14, status="untagged")]},
                    images, NOW) == {"old": 1}
    assert evaluate({"rules": [_rule(1, "imageCountMoreThan", 1, status="untagged")]},
                    images, NOW) == {"old": 1}
    tagged = [Image("p1", ("prod1",), _days_ago(30)), Image("p2", ("xprod",), _days_ago(30)),
              Image("p3", ("v1-prod-eu",), _days_ago(30))]
    assert evaluate({"rules": [_rule(1, "sinceImagePushed", 14, patterns=["prod*"])]},
                    tagged, NOW) == {"p1": 1}
    assert evaluate({"rules": [_rule(1, "sinceImagePushed", 14, patterns=["*prod*"])]},
                    tagged, NOW) == {"p1": 1, "p2": 1, "p3": 1}


@pytest.mark.parametrize(("broken", "why"), [
    ({"rules": []}, "non-empty"),
    ({"rules": [_rule(1, "imageCountMoreThan", 1, prefixes=["a"]),
                _rule(1, "imageCountMoreThan", 1, prefixes=["b"])]}, "unique"),
    ({"rules": [_rule(1, "imageCountMoreThan", 1, status="any"),
                _rule(2, "imageCountMoreThan", 1, prefixes=["b"])]}, "highest"),
    ({"rules": [_rule(1, "imageCountMoreThan", 1, status="untagged"),
                _rule(2, "sinceImagePushed", 1, status="untagged")]}, "untagged"),
    ({"rules": [_rule(1, "imageCountMoreThan", 1, prefixes=["a"]),
                _rule(2, "sinceImagePushed", 1, prefixes=["a"])]}, "prefix lists"),
    ({"rules": [_rule(1, "imageCountMoreThan", 1, status="tagged")]}, "tagPrefixList"),
    ({"rules": [_rule(1, "imageCountMoreThan", 0, prefixes=["a"])]}, "positive"),
    ({"rules": [_rule(1, "imageCountMoreThan", 1, patterns=["*a*b*c*d*e"])]}, "wildcards"),
    ({"rules": [{**_rule(1, "imageCountMoreThan", 1, prefixes=["a"]),
                 "action": {"type": "transition", "targetStorageClass": "archive"}}]},
     "only expire"),
])
def test_policies_ecr_refuses_or_the_port_does_not_evaluate_are_refused(
        broken: dict[str, Any], why: str) -> None:
    with pytest.raises(LifecyclePolicyError, match=why):
        parse(broken)


# --- the templates' rules ------------------------------------------------------------------------


def _cfn_rules(**parameters: str) -> dict[str, Any]:
    from tests.templates.test_aws_moto import _template

    template = _template()
    text = template["Resources"]["Repository"]["Properties"]["LifecyclePolicy"][
        "LifecyclePolicyText"]["Fn::Sub"]
    for name, parameter in template["Parameters"].items():
        value = parameters.get(name, parameter.get("Default"))
        if value is not None:
            text = text.replace("${" + name + "}", value)
    assert "${" not in text
    document: dict[str, Any] = json.loads(text)
    return document


def _terraform_rules() -> dict[str, Any]:
    from tests.support.hcl import load_terraform

    main = load_terraform(REPO / "templates" / "terraform" / "main.tf")
    variables = {k: v for block in load_terraform(REPO / "templates" / "terraform" /
                                                   "variables.tf")["variable"]
                 for k, v in block.items()}
    [policy] = [block["aws_ecr_lifecycle_policy"]["this"]["policy"] for block in main["resource"]
                if "this" in block.get("aws_ecr_lifecycle_policy", {})]
    text = policy.removeprefix("${jsonencode(").removesuffix(")}")
    for name, variable in variables.items():
        text = text.replace(f"[var.{name}]", json.dumps([variable.get("default")]))
    return dict(_hcl_object(text))


def _hcl_object(text: str) -> Any:
    """The jsonencode() argument of main.tf (HCL object syntax: `key = value`) as JSON."""
    import re

    as_json = re.sub(r"(\w+)\s*=", r'"\1":', text)
    as_json = re.sub(r",(\s*[}\]])", r"\1", as_json)
    return json.loads(as_json)


def test_cloudformation_terraform_and_the_policy_file_hold_the_same_rules() -> None:
    cfn = _cfn_rules()
    assert cfn == _terraform_rules()
    assert cfn == json.loads((REPO / "templates" / "aws" / "policies" /
                              "ecr-lifecycle-policy.json").read_text(encoding="utf-8"))
    parse(cfn)  # one ECR accepts


def test_the_first_rule_keeps_the_tag_mark_deployed_writes() -> None:
    [first, *_] = parse(_cfn_rules())
    assert first.priority == 1 and first.tag_status == "tagged"
    assert first.prefixes == (deployed_tag.PREFIX,)
    assert (first.count_type, first.count_number) == ("imageCountMoreThan", deployed_tag.KEEP)
    tag = deployed_tag.tag_for("sha256:" + "ab" * 32)
    assert tag.startswith(deployed_tag.PREFIX) and len(tag) <= 128


def _repository(deployed: set[str]) -> list[Image]:
    """A busy repository: 14 prod releases (one a day), 8 staging, 6 dev, 3 untagged pushes, of
    which some digests are deployed (tagged by mark-deployed as well)."""
    images: list[tuple[str, tuple[str, ...], float]] = []
    images += [(f"prod{n}", (f"prod-{n}",), 30 - n) for n in range(14)]
    images += [(f"staging{n}", (f"staging-{n}",), 20 - n) for n in range(8)]
    images += [(f"dev{n}", (f"dev-{n}",), 12 - n) for n in range(6)]
    images += [(f"untagged{n}", (), 5 - n) for n in range(3)]
    return [Image(digest, tags + ((deployed_tag.tag_for(digest),) if digest in deployed else ()),
                  _days_ago(age)) for digest, tags, age in images]


# The oldest of each kind: what the rules would expire first.
DEPLOYED = {"prod0", "prod1", "staging0", "dev0", "untagged0"}


@BOTH_READINGS
def test_a_deployed_digest_is_never_expired(see_claimed: bool) -> None:
    rules = _cfn_rules()
    expired = evaluate(rules, _repository(DEPLOYED), NOW, lower_rules_see_claimed=see_claimed)
    assert not DEPLOYED & set(expired), sorted(DEPLOYED & set(expired))
    # The rest still expires as the retention contract says.
    assert {"prod2", "prod3", "staging1", "dev1", "untagged1"} <= set(expired)
    # Control: the same digests without the tag are expired, so the tag is what keeps them.
    unprotected = evaluate(rules, _repository(set()), NOW, lower_rules_see_claimed=see_claimed)
    assert DEPLOYED <= set(unprotected)


def test_the_protection_needs_the_highest_priority() -> None:
    """The deployed rule last: the environment rules own the images and expire them."""
    rules = _cfn_rules()
    first, *rest = rules["rules"]
    reordered = {"rules": [*({**r, "rulePriority": r["rulePriority"] - 1} for r in rest),
                           {**first, "rulePriority": len(rules["rules"])}]}
    expired = evaluate(reordered, _repository(DEPLOYED), NOW)
    assert DEPLOYED & set(expired) == {"prod0", "prod1", "staging0", "dev0"}


def test_a_prefix_parameter_cannot_take_the_deployed_rules_place() -> None:
    """ProductionTagPrefix set to the deployed prefix makes two rules with one prefix list,
    which ECR refuses ("The set of rules must contain a unique set of tag prefixes")."""
    with pytest.raises(LifecyclePolicyError, match="unique"):
        parse(_cfn_rules(ProductionTagPrefix=deployed_tag.PREFIX))


# --- mark-deployed tags the digest (moto's ECR stores the tag; the rules are evaluated here) ----


def _moto_images(ecr: Any, repository: str) -> list[Image]:
    details = ecr.describe_images(repositoryName=repository)["imageDetails"]
    return [Image(d["imageDigest"], tuple(d.get("imageTags", ())), d["imagePushedAt"])
            for d in details]


def test_mark_deployed_tags_the_digest_and_the_rules_keep_it(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import boto3
    from scangate._cli import main

    from tests.monitor.world import _manifest

    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="team/app", imageTagMutability="IMMUTABLE")
    boto3.client("events").create_event_bus(Name="scangate-monitoring")
    # Pushed by digest only (no tag): the untagged rule would expire both a day later.
    deployed, idle = (ecr.put_image(repositoryName="team/app", imageManifest=_manifest(n))[
        "image"]["imageId"]["imageDigest"] for n in (1, 2))
    base = ["mark-deployed", "--repository", "team/app", "--event-bus", "scangate-monitoring"]
    assert main([*base, "--digest", deployed]) == 0
    assert f"tagged {deployed_tag.tag_for(deployed)}" in capsys.readouterr().out
    assert main([*base, "--digest", deployed]) == 0  # again: nothing to do, still exit 0
    assert "already tagged" in capsys.readouterr().out
    assert main([*base, "--digest", idle, "--withdrawn"]) == 0  # a withdrawal tags nothing
    images = {i.digest: i for i in _moto_images(ecr, "team/app")}
    assert images[deployed].tags == (deployed_tag.tag_for(deployed),)
    assert images[idle].tags == ()
    later = images[deployed].pushed_at + dt.timedelta(days=400)
    assert evaluate(_cfn_rules(), list(images.values()), later) == {idle: 2}


def test_mark_deployed_of_a_digest_the_repository_lacks_fails_in_one_line(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import boto3
    from scangate._cli import main

    boto3.client("ecr").create_repository(repositoryName="team/app")
    boto3.client("events").create_event_bus(Name="scangate-monitoring")
    assert main(["mark-deployed", "--repository", "team/app", "--event-bus",
                 "scangate-monitoring", "--digest", "sha256:" + "ab" * 32]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot tag the deployed image" in err[0], err
    assert "Traceback" not in err[0]


def test_mark_deployed_tags_a_deploy_records_image_in_its_registrys_region(
        moto: Any, tmp_path: Path) -> None:
    """The record's host names the registry's region; the tag is written there, whatever the
    session's default region (the event still goes to the monitoring bus's region)."""
    import boto3
    from scangate._cli import main

    from tests.monitor.world import _manifest

    boto3.client("events").create_event_bus(Name="scangate-monitoring")
    ecr = boto3.client("ecr", region_name="eu-west-1")
    ecr.create_repository(repositoryName="team/app")
    digest = ecr.put_image(repositoryName="team/app", imageManifest=_manifest(3))[
        "image"]["imageId"]["imageDigest"]
    record = tmp_path / "deploy.json"
    host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    record.write_text(json.dumps({"images": [f"{host}/team/app@{digest}"]}), encoding="utf-8")
    assert boto3.session.Session().region_name != "eu-west-1"
    assert main(["mark-deployed", "--deploy-record", str(record),
                 "--event-bus", "scangate-monitoring"]) == 0
    [image] = _moto_images(ecr, "team/app")
    assert image.tags == (deployed_tag.tag_for(digest),)
