"""Events about one image in one SQS batch are evaluated once.

A push under enhanced scanning sends an Inspector2 Scan and one Inspector2 Finding per finding
within seconds; the event source batches them. Each evaluation reads every page of the scan and
writes the inventory, so evaluating the image once per batch is both the cost bound and
correct: the later events would read the same scan. The ECR calls are recorded with botocore's
event hooks (tests/aws/recorder.py).
"""

from __future__ import annotations

import datetime as dt
import json

from scangate.monitor import handler

from tests.aws.recorder import aws_calls
from tests.monitor import samples
from tests.monitor.world import World, basic_finding, sqs_event

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)


def _event(sample: dict, digest: str, event_id: str, repository: str = "team/app") -> str:
    return json.dumps(samples.retarget(sample, repository=repository, digest=digest,
                                       event_id=event_id))


def test_one_image_is_evaluated_once_per_batch(world: World) -> None:
    one = world.push("team/app", 1, "1.0")
    other = world.push("team/app", 2, "2.0")
    for digest in (one, other):
        world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl")], T0)
    batch = [_event(samples.ECR_IMAGE_SCAN, one, "a"), _event(samples.INSPECTOR2_SCAN, one, "b"),
             _event(samples.ECR_IMAGE_SCAN, other, "c"),
             _event(samples.INSPECTOR2_FINDING, one, "d")]
    with aws_calls() as calls:
        proc = world.processor()
        assert handler.handle(proc, sqs_event(batch)) == {"batchItemFailures": []}
    reads = [c.params["imageId"]["imageDigest"] for c in calls
             if c.action == "ecr:DescribeImageScanFindings"]
    assert sorted(reads) == sorted([one, other])
    assert len(world.alerts()) == 2  # one FAIL alert per image, not per event


def test_a_failed_evaluation_fails_its_duplicates_too(world: World) -> None:
    """The scan FAILED: every event about it in the batch is redelivered (attempt 1 of 3),
    none is reported done on the strength of the first one's failure."""
    proc = world.processor()
    failed = world.push("team/app", 1, "1.0")
    world.scan_status(failed, "FAILED", "the scan failed")
    batch = [_event(samples.ECR_IMAGE_SCAN, failed, "a"),
             _event(samples.INSPECTOR2_SCAN, failed, "b")]
    result = handler.handle(proc, sqs_event(batch))
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["m-0", "m-1"]
