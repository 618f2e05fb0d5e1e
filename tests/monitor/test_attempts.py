"""Only records that failed count an attempt; a record is not started without the time to finish.

Lambda's SQS event source raises a message's ApproximateReceiveCount on every receive: a batch
returned because the function was throttled (reserved concurrency) or timed out counts for every
record in it, ran or not (AWS Lambda docs, "Using Lambda with Amazon SQS";
../shared/notes/platform-rules.md, AWS). So the handler counts failures itself, per message id
in the table, and dead-letters on the SCANGATE_MAX_ATTEMPTS-th failure only. Before each record
after the first it reads the invocation's remaining time (``context.get_remaining_time_in_millis``,
AWS Lambda docs, "Using the Lambda context object to retrieve Python function information"): with
less than RECORD_RESERVE_MS left, the record and those after it go back as batch item failures,
unstarted and uncounted, instead of being cut off by the timeout. No Lambda runtime runs here:
the context is a stand-in with that one documented method.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from scangate.monitor import handler

from tests.aws.recorder import aws_calls
from tests.monitor import samples
from tests.monitor.world import ACCOUNT, World, basic_finding, sqs_event

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)


class Context:
    """Lambda's context object, reduced to get_remaining_time_in_millis: it answers the scripted
    times in turn (then the last one)."""

    def __init__(self, *remaining: int) -> None:
        self.remaining = list(remaining)
        self.asked = 0

    def get_remaining_time_in_millis(self) -> int:
        self.asked += 1
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


def _scan_event(digest: str, event_id: str) -> str:
    return json.dumps(samples.retarget(samples.ECR_IMAGE_SCAN, repository="team/app",
                                       digest=digest, event_id=event_id))


def test_receives_that_were_not_failures_do_not_dead_letter_a_record(world: World) -> None:
    """Received four times (throttled, timed out, put back for time), failed once: retried."""
    proc = world.processor()
    failed = world.push("team/app", 1, "1.0")
    world.scan_status(failed, "FAILED", "the scan failed")
    body = _scan_event(failed, "f")
    assert handler.handle(proc, sqs_event([body], receive_count=4)) == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert world.drain(world.dlq_url) == []
    # A different message about the same image has its own count.
    assert handler.handle(proc, sqs_event([body], first_id=7, receive_count=9)) == {
        "batchItemFailures": [{"itemIdentifier": "m-7"}]}
    assert handler.handle(proc, sqs_event([body], receive_count=5)) == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert world.drain(world.dlq_url) == []
    assert handler.handle(proc, sqs_event([body], receive_count=6)) == {"batchItemFailures": []}
    [dead] = world.drain(world.dlq_url)
    assert "failed 3 times" in dead["MessageAttributes"]["reason"]["StringValue"]


def test_a_record_that_succeeds_counts_nothing(world: World) -> None:
    digest = world.push("team/app", 1, "1.0")
    world.scan(digest, [basic_finding("CVE-2026-1", "LOW", "zlib1g")], T0)
    with aws_calls() as calls:
        proc = world.processor()
        assert handler.handle(proc, sqs_event([_scan_event(digest, "ok")], receive_count=5)) == {
            "batchItemFailures": []}
    counted = [c for c in calls if c.action == "dynamodb:UpdateItem"
               and str(c.params.get("Key", {}).get("pk", {}).get("S", "")).startswith("ATTEMPTS#")]
    assert counted == []


def test_records_without_the_time_to_finish_are_put_back_unstarted(world: World) -> None:
    digests = [world.push("team/app", n, f"{n}.0") for n in range(4)]
    for digest in digests:
        world.scan(digest, [basic_finding("CVE-2026-1", "LOW", "zlib1g")], T0)
    bodies = [_scan_event(d, f"e{n}") for n, d in enumerate(digests)]
    context = Context(30_000, handler.RECORD_RESERVE_MS - 1)
    with aws_calls() as calls:
        proc = world.processor()
        proc.metrics_stream = io.StringIO()
        result = handler.handle(proc, sqs_event(bodies), context.get_remaining_time_in_millis)
    # The first always starts; the second had 30 s; the third had less than the reserve.
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-2"},
                                            {"itemIdentifier": "m-3"}]}
    assert context.asked == 2
    scanned = [c.params["imageId"]["imageDigest"] for c in calls
               if c.action == "ecr:DescribeImageScanFindings"]
    assert scanned == digests[:2]  # the two put back were never started
    assert [c for c in calls if str(c.params.get("Key", {}).get("pk", {}).get("S", ""))
            .startswith("ATTEMPTS#")] == []  # and no attempt was counted
    assert "NotStarted" in proc.metrics_stream.getvalue()
    for digest in digests[2:]:
        assert proc.store.state(f"{ACCOUNT}/team/app@{digest}") is None
    # Redelivered with time enough (their receive count raised), they are processed.
    again = sqs_event(bodies[2:], first_id=2, receive_count=2)
    assert handler.handle(proc, again, Context(59_000, 50_000).get_remaining_time_in_millis) == {
        "batchItemFailures": []}
    for digest in digests:
        assert proc.store.state(f"{ACCOUNT}/team/app@{digest}") is not None
    assert world.drain(world.dlq_url) == []


def test_the_lambda_entry_point_passes_the_contexts_remaining_time(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = world.processor()
    monkeypatch.setattr(handler, "_processor", proc)
    digests = [world.push("team/app", n, f"{n}.0") for n in range(2)]
    bodies = [_scan_event(d, f"e{n}") for n, d in enumerate(digests)]
    context = Context(1_000)
    assert handler.handler(sqs_event(bodies), context) == {
        "batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert context.asked == 1
