"""How events reach the monitor and how long its history lives, in both templates.

Rules these settings answer (../shared/notes/platform-rules.md, AWS):
- Lambda's SQS event source scales its pollers without regard to reserved concurrency; a
  throttled invocation returns the batch to the queue and raises each receive count, so the
  dead-letter queue fills with records that never ran ("Using Lambda with Amazon SQS", scaling
  and maximum concurrency). ``ScalingConfig.MaximumConcurrency`` (at least 2) bounds it: it is
  the reserved concurrency itself.
- EventBridge drops an event it cannot deliver unless the target has a dead-letter queue; its
  retry policy bounds the retries ("Event retry policy and using dead-letter queues");
  ``FailedInvocations`` (AWS/Events, per rule) counts what it could not deliver.
- DynamoDB deletes an item after the epoch-seconds time in the table's TTL attribute.
- Terraform creates resources in parallel unless one references or depends on another: the
  event source mapping (Lambda checks the role can read the queue) waits for the role's policy.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from scangate.monitor import handler
from scangate.monitor.store import HISTORY_DAYS

from tests.monitor import samples
from tests.monitor.test_templates import TERRAFORM, _local, _resource, _terraform
from tests.monitor.world import World, basic_finding, cfn_template, sqs_event
from tests.support.hcl import load_terraform

RULES = ("EcrScanRule", "InspectorScanRule", "InspectorFindingRule", "DeployedRule", "SweepRule")


def _resources() -> dict[str, Any]:
    return dict(cfn_template()["Resources"])


def test_the_pollers_never_outnumber_the_reserved_concurrency() -> None:
    template = cfn_template()
    mapping = template["Resources"]["EventSource"]["Properties"]
    function = template["Resources"]["Function"]["Properties"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ReservedConcurrency"}}
    assert function["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    assert template["Parameters"]["ReservedConcurrency"]["MinValue"] >= 2
    tf = _resource("aws_lambda_event_source_mapping", "events")
    assert tf["scaling_config"][0]["maximum_concurrency"] == "${var.reserved_concurrency}"
    assert _resource("aws_lambda_function", "monitor")[
        "reserved_concurrent_executions"] == "${var.reserved_concurrency}"
    variables = load_terraform(TERRAFORM / "variables.tf")
    [reserved] = [v["reserved_concurrency"] for v in variables["variable"]
                  if "reserved_concurrency" in v]
    assert ">= 2" in reserved["validation"][0]["condition"]


def test_every_rule_target_has_a_dead_letter_queue_a_retry_policy_and_an_alarm() -> None:
    resources = _resources()
    for name in RULES:
        [target] = resources[name]["Properties"]["Targets"]
        assert target["DeadLetterConfig"] == {"Arn": {"GetAtt": "DeadLetterQueue.Arn"}}
        assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400
    statement, = resources["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    senders = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(s["GetAtt"].split(".")[0] for s in senders) == sorted(RULES)
    metrics = resources["FailedDeliveriesAlarm"]["Properties"]["Metrics"]
    watched = [m["MetricStat"]["Metric"] for m in metrics if "MetricStat" in m]
    assert {m["MetricName"] for m in watched} == {"FailedInvocations"}
    assert sorted(m["Dimensions"][0]["Value"]["Ref"] for m in watched) == sorted(RULES)
    assert resources["FailedDeliveriesAlarm"]["Properties"]["AlarmActions"] == [{"Ref": "Topic"}]
    # Terraform: one target, queue policy and alarm query per rule of local.all_rules (the
    # four patterns' rules and the sweep's).
    every_rule = _local("all_rules")
    assert "aws_cloudwatch_event_rule.scan" in every_rule
    assert "sweep = aws_cloudwatch_event_rule.sweep" in every_rule
    target = _resource("aws_cloudwatch_event_target", "queue")
    assert target["for_each"] == "${local.all_rules}"
    assert target["dead_letter_config"][0]["arn"] == "${aws_sqs_queue.dead_letter.arn}"
    assert int(target["retry_policy"][0]["maximum_event_age_in_seconds"]) <= 86400
    alarm = _resource("aws_cloudwatch_metric_alarm", "failed_deliveries")
    assert "FailedInvocations" in json.dumps(alarm) and "local.all_rules" in json.dumps(alarm)
    queues = _local("rule_queues")
    assert {k: v["queue"] for k, v in queues.items()} == {
        "events": "${aws_sqs_queue.events}", "dead_letter": "${aws_sqs_queue.dead_letter}"}
    assert _resource("aws_sqs_queue_policy", "rules_send")["for_each"] == "${local.rule_queues}"
    [document] = [block["aws_iam_policy_document"]["rules_send"] for block in _terraform()["data"]
                  if "rules_send" in block.get("aws_iam_policy_document", {})]
    [condition] = document["statement"][0]["condition"]
    assert condition["values"] == "${[for rule in local.all_rules : rule.arn]}"


def test_terraform_creates_the_mapping_and_function_after_the_role_policy() -> None:
    for kind, name in (("aws_lambda_event_source_mapping", "events"),
                       ("aws_lambda_function", "monitor")):
        assert "${aws_iam_role_policy.monitor}" in _resource(kind, name)["depends_on"], name
    assert _terraform()


def test_history_items_expire(world: World) -> None:
    table = _resources()["Table"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    tf = _resource("aws_dynamodb_table", "monitor")
    assert tf["ttl"][0] == {"attribute_name": "expires_at", "enabled": True}
    proc = world.processor()
    digest = world.push("team/app", 1, "1.0")
    world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl")],
               dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    body = json.dumps(samples.retarget(samples.ECR_IMAGE_SCAN, repository="team/app",
                                       digest=digest, event_id="e1"))
    before = dt.datetime.now(dt.UTC)
    assert handler.handle(proc, sqs_event([body])) == {"batchItemFailures": []}
    [item] = proc.store.history(f"123456789012/team/app@{digest}")
    expires = dt.datetime.fromtimestamp(int(item["expires_at"]), dt.UTC)
    assert before + dt.timedelta(days=HISTORY_DAYS - 1) < expires
    assert expires <= dt.datetime.now(dt.UTC) + dt.timedelta(days=HISTORY_DAYS)
    # State and inventory items carry no TTL: only history ages out.
    state = proc.store.state(f"123456789012/team/app@{digest}")
    assert state is not None and "expires_at" not in state


def test_the_registry_scanning_configuration_has_one_owner() -> None:
    """One configuration per registry (account and region): the monitoring stack owns it; a
    pipeline stack (one per repository) creating one would overwrite another's rules."""
    from tests.aws.iam import load_cfn

    root = TERRAFORM.parents[1]
    owners = []
    for path in sorted(root.rglob("*.yaml")) + sorted(root.rglob("*.yml")):
        text = path.read_text(encoding="utf-8")
        if "AWSTemplateFormatVersion" not in text:
            continue
        for name, resource in load_cfn(path)["Resources"].items():
            if resource["Type"] == "AWS::ECR::RegistryScanningConfiguration":
                owners.append(f"{path.relative_to(root)} {name}")
    for path in sorted(root.rglob("*.tf")):
        if 'resource "aws_ecr_registry_scanning_configuration"' in path.read_text("utf-8"):
            owners.append(str(path.relative_to(root)))
    assert owners == ["aws/scangate-monitoring.yaml EnhancedScanningConfiguration",
                      "terraform/monitoring/main.tf"]
