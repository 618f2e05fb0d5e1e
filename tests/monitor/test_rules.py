"""The EventBridge rules of templates/aws/scangate-monitoring.yaml, on a moto server.

Each rule's pattern is created as written in the template, with an SQS target; the documented
samples (tests/monitor/samples.py) and near misses are sent with PutEvents, and the queue must
receive exactly the matching ones. (moto's TestEventPattern API answers true for anything, so
it proves nothing; PutEvents runs moto's real pattern matcher.) EventBridge's matching rules:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html - every field
of the pattern must match, an array value matches when any element matches, and a field
missing from the event never matches. Inspector's documented initial-scan events for EC2
instances, Lambda functions and machine images (AMIs), its on-demand AMI scan events and its
coverage event must reach no rule.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3

from tests.monitor import samples
from tests.monitor.world import World, cfn_template

RULES = ("EcrScanRule", "InspectorScanRule", "InspectorFindingRule", "DeployedRule")


def template_patterns() -> dict[str, dict[str, Any]]:
    resources = cfn_template()["Resources"]
    return {name: resources[name]["Properties"]["EventPattern"] for name in RULES}


def _entry(event: dict[str, Any]) -> dict[str, Any]:
    return {"Source": event["source"], "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]), "Resources": event.get("resources", []),
            "EventBusName": "default"}


def _near_misses() -> dict[str, dict[str, Any]]:
    scan_failed = copy.deepcopy(samples.ECR_IMAGE_SCAN)
    scan_failed["detail"]["scan-status"] = "FAILED"
    inspector_other_status = copy.deepcopy(samples.INSPECTOR2_SCAN)
    inspector_other_status["detail"]["scan-status"] = "UNSUPPORTED_OS"
    ec2_finding = copy.deepcopy(samples.INSPECTOR2_FINDING)
    ec2_finding["detail"]["resources"][0]["type"] = "AWS_EC2_INSTANCE"
    wrong_source = copy.deepcopy(samples.ECR_IMAGE_SCAN)
    wrong_source["source"] = "custom.ecr"
    spoofed_kind = copy.deepcopy(samples.INSPECTOR2_FINDING)
    spoofed_kind["detail-type"] = "Inspector2 Coverage"
    return {"ECR Image Scan FAILED": scan_failed,
            "Inspector2 Scan not complete": inspector_other_status,
            "Inspector2 Finding on EC2": ec2_finding,
            "custom source": wrong_source,
            "Inspector2 Coverage": spoofed_kind,
            "ECR Image Action (push)": samples.ECR_IMAGE_ACTION,
            "Scheduled Event (only the schedule rule)": samples.SCHEDULED}


def test_rules_route_exactly_the_documented_scan_events(world: World) -> None:
    events = boto3.client("events")
    world.route(template_patterns())
    deployed = {"source": "scangate.monitor", "detail-type": "Scangate Image Deployed",
                "detail": {"repository-name": "team/app", "image-digest": "sha256:" + "a" * 64}}
    matching = {**samples.ALL, "Scangate Image Deployed": deployed}
    not_images = list(samples.NOT_CONTAINER_IMAGES.values())
    for event in [*matching.values(), *_near_misses().values(), *not_images]:
        response = events.put_events(Entries=[_entry(event)])
        assert response["FailedEntryCount"] == 0
    received = [json.loads(m["Body"]) for m in world.drain(world.queue_url)]
    assert sorted(e["detail-type"] for e in received) == sorted(matching)
    for event in received:
        assert event["detail"] == matching[event["detail-type"]]["detail"]


def test_each_pattern_pins_source_and_detail_type() -> None:
    for name, pattern in template_patterns().items():
        assert len(pattern["source"]) == 1 and len(pattern["detail-type"]) == 1, name


def test_the_handler_refuses_what_is_not_a_container_image() -> None:
    """Should such an event reach the function anyway (another rule, a replay), it is refused
    with its reason (dead-lettered, never retried), not guessed into an image."""
    import pytest
    from scangate.monitor.events import MalformedEvent, parse

    for name, event in samples.NOT_CONTAINER_IMAGES.items():
        delivered = copy.deepcopy(event)
        # The envelope EventBridge adds to every event it delivers (the on-demand findings
        # sample is published without it).
        delivered.setdefault("id", "a1b2c3d4-0000-0000-0000-000000000000")
        delivered.setdefault("account", "111122223333")
        with pytest.raises(MalformedEvent, match="repository-name|unknown event"):
            parse(delivered)
        assert name
