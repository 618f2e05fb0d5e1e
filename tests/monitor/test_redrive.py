"""Dead letters redriven to the events queue are processed (docs/monitoring.md, "Failure handling").

The dead-letter queue holds three kinds of message, each the original event as its body:
- the function's own dead letters (a record that failed SCANGATE_MAX_ATTEMPTS times, with its
  ``reason`` attribute), here a policy parameter the function could not read;
- EventBridge's, for an event it could not deliver to the queue (Amazon EventBridge docs,
  "Using dead-letter queues to process undelivered events": the event as the body, with
  ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN ... attributes);
- the queue's own redrive policy's, the backstop for crashes (the message itself).
Once the cause is fixed, SQS's message move task (StartMessageMoveTask) moves them back to the
events queue. moto 5.1 does not implement the move task, so ``redrive`` here does what it does
(receive from the DLQ, send the same body and attributes to the source queue, delete); the
queues, the handler and the event source's deliveries are otherwise the real path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os

import boto3
from scangate.monitor import handler

from tests.monitor import samples
from tests.monitor.event_source import poll, send_all
from tests.monitor.world import ACCOUNT, World, basic_finding

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)


def redrive(dlq_url: str, queue_url: str) -> int:
    """What ``aws sqs start-message-move-task --source-arn DLQ --destination-arn QUEUE`` does."""
    sqs = boto3.client("sqs")
    moved = 0
    while True:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10,
                                       MessageAttributeNames=["All"],
                                       WaitTimeSeconds=0).get("Messages") or []
        if not messages:
            return moved
        for message in messages:
            sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"],
                             MessageAttributes=message.get("MessageAttributes") or {})
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1


def test_dead_letters_redriven_after_the_fix_are_processed(world: World) -> None:
    digests = [world.push("team/app", n, f"{n}.0") for n in range(3)]
    for digest in digests:
        world.scan(digest, [basic_finding("CVE-2026-1", "CRITICAL", "openssl")], T0)
    events = [json.dumps(samples.retarget(samples.ECR_IMAGE_SCAN, repository="team/app",
                                          digest=d, event_id=f"e{n}"))
              for n, d in enumerate(digests)]
    # A misconfigured function: the policy parameter it is given does not exist.
    broken = world.processor(policy_parameter="/scangate/monitor/no-such-policy")
    broken.metrics_stream = io.StringIO()
    with open(os.devnull, "w", encoding="utf-8") as devnull, \
            contextlib.redirect_stderr(devnull):
        send_all(world.queue_url, events[:2])
        polled = poll(world.queue_url, lambda e: handler.handle(broken, e))
    assert polled.records == 6  # each failed three times, then was dead-lettered by the function
    sqs = boto3.client("sqs")
    # EventBridge could not deliver the third (a queue policy or key problem, since fixed).
    sqs.send_message(QueueUrl=world.dlq_url, MessageBody=events[2], MessageAttributes={
        "ERROR_CODE": {"DataType": "String", "StringValue": "SDK_CLIENT_ERROR"},
        "ERROR_MESSAGE": {"DataType": "String", "StringValue": "Access denied to the queue"},
        "RULE_ARN": {"DataType": "String",
                     "StringValue": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/EcrScanRule"},
        "RETRY_ATTEMPTS": {"DataType": "String", "StringValue": "185"}})
    dead = sqs.get_queue_attributes(QueueUrl=world.dlq_url, AttributeNames=[
        "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]
    assert dead == "3"

    assert redrive(world.dlq_url, world.queue_url) == 3
    fixed = world.processor()
    fixed.metrics_stream = io.StringIO()
    with open(os.devnull, "w", encoding="utf-8") as devnull, \
            contextlib.redirect_stderr(devnull):
        polled = poll(world.queue_url, lambda e: handler.handle(fixed, e))
    assert polled.records == 3 and polled.failures == []
    assert world.drain(world.dlq_url) == []
    for digest in digests:
        state = fixed.store.state(f"{ACCOUNT}/team/app@{digest}")
        assert state and state["decision"] == "fail", digest
    assert len(world.alerts()) == 3  # each image turned FAIL once, now that it was read
