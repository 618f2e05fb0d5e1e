"""An event about another region's image is a configuration error, never a deletion.

ECR's API takes no region: the client's endpoint is the region (AWS General Reference, "Amazon
Elastic Container Registry endpoints and quotas": one endpoint per region). Asked for a
repository or image that lives in another region, ECR answers RepositoryNotFoundException /
ImageNotFoundException (ECR API Reference, "DescribeImages", Errors), the very answers a deleted
image gives. EventBridge stamps every event with the region it came from (EventBridge user
guide, "Amazon EventBridge events": ``region``), and an Inspector finding's resource names its
own. So an event forwarded from another region (a cross-region bus rule), or a deployment in
another region's registry, must not be recorded as a quiet terminal "deleted": the monitor
refuses it before reading anything, counts it (``WrongRegion``), and dead-letters it with the
reason; the dead-letter alarm tells the topic (tests/monitor/test_templates.py keeps that alarm
in both templates). The account needs no such check: the event's registry travels in every ECR
call as ``registryId`` (tests/monitor/test_registry_id.py).

moto holds one ECR per region, as AWS does: the image is pushed in eu-west-1 and the monitor
reads us-east-1 (tests/monitor/world.py's REGION).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import boto3
import pytest
from scangate.monitor import handler
from scangate.monitor.events import MalformedEvent, parse

from tests.aws.recorder import aws_calls
from tests.monitor import samples
from tests.monitor.world import ACCOUNT, REGION, World, _manifest, basic_finding, sqs_event

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
REPO = "team/app"
ELSEWHERE = "eu-west-1"


def _push_elsewhere(number: int = 1) -> str:
    ecr = boto3.client("ecr", region_name=ELSEWHERE)
    ecr.create_repository(repositoryName=REPO)
    return str(ecr.put_image(repositoryName=REPO, imageManifest=_manifest(number),
                             imageTag="1.0")["image"]["imageId"]["imageDigest"])


def _closed(digest: str, event_id: str, region: str) -> str:
    event = samples.retarget(samples.INSPECTOR2_FINDING, repository=REPO, digest=digest,
                             event_id=event_id, region=region)
    event["detail"]["status"] = "CLOSED"
    return json.dumps(event)


def _scan_event(digest: str, event_id: str, region: str) -> str:
    return json.dumps(samples.retarget(samples.ECR_IMAGE_SCAN, repository=REPO, digest=digest,
                                       event_id=event_id, region=region))


def _metric_names(stream: io.StringIO) -> list[str]:
    return [m["Name"] for line in stream.getvalue().splitlines()
            for m in json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"]]


def _dead_letters(world: World) -> list[tuple[str, str]]:
    return sorted((m["MessageAttributes"]["source-message-id"]["StringValue"],
                   m["MessageAttributes"]["reason"]["StringValue"])
                  for m in world.drain(world.dlq_url))


def test_another_regions_image_is_dead_lettered_with_the_reason_and_nothing_is_read_or_written(
        world: World) -> None:
    digest = _push_elsewhere()
    events = [_scan_event(digest, "s1", ELSEWHERE), _closed(digest, "c1", ELSEWHERE)]
    with aws_calls() as calls:  # records the calls of clients made inside it
        proc = world.processor()
        proc.metrics_stream = io.StringIO()
        assert handler.handle(proc, sqs_event(events)) == {"batchItemFailures": []}
    # Refused before any read: no ECR call (whose "not found" looks like a deletion), no table.
    assert [c.action for c in calls] == ["sqs:SendMessage", "sqs:SendMessage"]
    letters = _dead_letters(world)
    assert [m for m, _ in letters] == ["m-0", "m-1"]
    for _, reason in letters:
        assert f"in region {ELSEWHERE}" in reason and f"reads ECR in {REGION}" in reason
        assert "nothing read or recorded" in reason
    assert _metric_names(proc.metrics_stream) == ["WrongRegion", "WrongRegion"]
    assert proc.store.state(f"{ACCOUNT}/{REPO}@{digest}") is None
    assert world.alerts() == []


def test_without_the_check_the_same_events_would_record_a_deletion(world: World) -> None:
    """The hazard the check stops, shown on the same moto world: read from here, another
    region's image is "not found", exactly like a deleted one."""
    from scangate.aws.ecr import REPOSITORY_DELETED, ImageUnavailable, find_image

    digest = _push_elsewhere()
    with pytest.raises(ImageUnavailable) as caught:
        find_image(boto3.client("ecr", region_name=REGION), REPO, tag=None, digest=digest,
                   registry_id=ACCOUNT)
    assert caught.value.status == REPOSITORY_DELETED
    find_image(boto3.client("ecr", region_name=ELSEWHERE), REPO, tag=None, digest=digest,
               registry_id=ACCOUNT)  # there, it exists


@pytest.mark.parametrize("wrong_first", [True, False])
def test_a_wrong_region_event_never_shares_an_outcome_with_its_images_other_events(
        world: World, wrong_first: bool) -> None:
    """One batch, the same registry/repository@digest here and (replicated) elsewhere: the
    event of this region is evaluated, the other dead-lettered, whichever comes first."""
    digest = world.push(REPO, 1, "1.0")
    assert _push_elsewhere() == digest  # same manifest, same digest
    world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl")], T0)
    here, there = _scan_event(digest, "here", REGION), _closed(digest, "there", ELSEWHERE)
    proc = world.processor()
    batch = [there, here] if wrong_first else [here, there]
    assert handler.handle(proc, sqs_event(batch)) == {"batchItemFailures": []}
    state = proc.store.state(f"{ACCOUNT}/{REPO}@{digest}")
    assert state and state["decision"] == "pass" and "terminal" not in state
    assert [m for m, _ in _dead_letters(world)] == ["m-0" if wrong_first else "m-1"]


def test_an_event_naming_no_region_cannot_record_a_deletion(world: World) -> None:
    """EventBridge always sets ``region``; an event without one (written to the queue by hand)
    is still evaluated, but a "not found" answer is not taken for a deletion."""
    digest = world.push(REPO, 1, "1.0")
    world.scan(digest, [], T0)
    event = json.loads(_scan_event(digest, "s1", REGION))
    del event["region"]
    proc = world.processor()
    assert handler.handle(proc, sqs_event([json.dumps(event)])) == {"batchItemFailures": []}
    key = f"{ACCOUNT}/{REPO}@{digest}"
    assert proc.store.state(key)["decision"] == "pass"
    boto3.client("ecr").batch_delete_image(repositoryName=REPO,
                                           imageIds=[{"imageDigest": digest}])
    event["id"] = "s2"
    assert handler.handle(proc, sqs_event([json.dumps(event)], first_id=1)) == {
        "batchItemFailures": []}
    [(message, reason)] = _dead_letters(world)
    assert message == "m-1" and "names no region" in reason and "IMAGE_DELETED" in reason
    assert "terminal" not in proc.store.state(key)
    # With its region, the same deletion is recorded (once).
    assert handler.handle(proc, sqs_event([_scan_event(digest, "s3", REGION)], first_id=2)) == {
        "batchItemFailures": []}
    assert proc.store.state(key)["terminal"] == "IMAGE_DELETED"


def test_mark_deployed_sends_the_registrys_region_and_the_monitor_refuses_another(
        world: World, tmp_path: Any) -> None:
    """A deploy record's registry host names its region (<account>.dkr.ecr.<region>...):
    `mark-deployed` sends it as ``registry-region``, through the template's rule, and a
    monitor of another region dead-letters the mark instead of recording the image deleted
    and alerting UNMONITORED."""
    from scangate import _cli

    from tests.monitor.test_rules import template_patterns

    world.route({"DeployedRule": template_patterns()["DeployedRule"]})
    digest = _push_elsewhere()
    here = world.push("team/api", 2, "2.0")
    world.scan(here, [], T0)
    record = tmp_path / "deploy.json"
    record.write_text(json.dumps({"images": [
        f"{ACCOUNT}.dkr.ecr.{ELSEWHERE}.amazonaws.com/{REPO}@{digest}",
        f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/api@{here}"]}), encoding="utf-8")
    assert _cli.main(["mark-deployed", "--deploy-record", str(record)]) == 0
    bodies = [m["Body"] for m in world.drain(world.queue_url)]
    regions = {json.loads(b)["detail"]["image-digest"]: json.loads(b)["detail"]["registry-region"]
               for b in bodies}
    assert regions == {digest: ELSEWHERE, here: REGION}
    proc = world.processor()
    assert handler.handle(proc, sqs_event(bodies)) == {"batchItemFailures": []}
    [(_, reason)] = _dead_letters(world)
    assert digest in reason and f"region {ELSEWHERE}" in reason
    assert proc.store.state(f"{ACCOUNT}/{REPO}@{digest}") is None
    assert [i["digest"] for i in proc.store.deployed()] == [here]
    assert world.alerts() == []


@pytest.mark.parametrize(("sample", "region"), [
    (samples.ECR_IMAGE_SCAN, "us-east-1"),
    (samples.INSPECTOR2_SCAN, "us-east-2"),
    # The published finding's resource says "region": "N/A"; its ARN names us-east-2.
    (samples.INSPECTOR2_FINDING, "us-east-2"),
])
def test_every_documented_image_event_names_its_region(sample: dict[str, Any],
                                                       region: str) -> None:
    digest = "sha256:" + "a" * 64
    event = json.loads(json.dumps(sample))
    detail = event["detail"]
    if "image-digest" in detail:
        detail["image-digest"] = digest
    for resource in detail.get("resources") or []:
        resource["details"]["awsEcrContainerImage"]["imageHash"] = digest
    event["region"] = "us-east-1" if sample is samples.ECR_IMAGE_SCAN else "us-east-2"
    action = parse(event)
    assert getattr(action, "region", None) == region


def test_a_findings_resource_region_wins_and_a_bad_region_is_malformed() -> None:
    digest = "sha256:" + "b" * 64
    event = samples.retarget(samples.INSPECTOR2_FINDING, repository=REPO, digest=digest,
                             region="eu-west-1")
    event["region"] = "us-east-1"  # forwarded by a rule in us-east-1
    assert getattr(parse(event), "region", None) == "eu-west-1"
    event["detail"]["resources"][0]["region"] = "ap-southeast-2"
    assert getattr(parse(event), "region", None) == "ap-southeast-2"
    scan = samples.retarget(samples.ECR_IMAGE_SCAN, repository=REPO, digest=digest)
    scan["region"] = "us-east-1; drop"
    with pytest.raises(MalformedEvent, match="not an AWS region name"):
        parse(scan)


def test_a_dead_letter_alerts_the_topic_in_both_templates() -> None:
    """The alert of a wrong-region event (and of every dead letter): the dead-letter queue's
    alarm fires on one visible message and notifies the monitor's topic."""
    from tests.monitor.test_templates import _local, _resource
    from tests.monitor.world import cfn_template

    alarm = cfn_template()["Resources"]["DeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS",
                                                         "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName",
                                    "Value": {"GetAtt": "DeadLetterQueue.QueueName"}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "Topic"}]
    dead_letters = _local("metric_alarms")["dead-letters"]
    assert (dead_letters["namespace"], dead_letters["metric"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dead_letters["dimensions"] == {"QueueName": "${aws_sqs_queue.dead_letter.name}"}
    tf = _resource("aws_cloudwatch_metric_alarm", "metric")
    assert tf["for_each"] == "${local.metric_alarms}"
    assert (tf["namespace"], tf["metric_name"], tf["dimensions"]) == (
        "${each.value.namespace}", "${each.value.metric}", "${each.value.dimensions}")
    assert (tf["threshold"], tf["comparison_operator"]) == (0, "GreaterThanThreshold")
    assert tf["alarm_actions"] == ["${aws_sns_topic.alerts.arn}"]
