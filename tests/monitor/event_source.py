"""Lambda's SQS event source mapping, played against a moto queue (no Lambda runtime here).

What the mapping does, per AWS Lambda's "Using Lambda with Amazon SQS": receive up to
``BatchSize`` messages (the receive raises each one's ApproximateReceiveCount), invoke the
function with them as ``Records``, then delete every message except those the function names in
``batchItemFailures`` (ReportBatchItemFailures); those become visible again after the visibility
timeout (0 here, so the next poll sees them) and the queue's redrive policy dead-letters one
received more than ``maxReceiveCount`` times. The record shape is the documented sample's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

BATCH_SIZE = 10  # the templates' BatchSize


@dataclass
class Polled:
    invocations: int = 0
    records: int = 0
    failures: list[str] = field(default_factory=list)


def to_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"], "attributes": message.get("Attributes") or {},
            "messageAttributes": message.get("MessageAttributes") or {},
            "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn, "awsRegion": "us-east-1"}


def poll(queue_url: str, invoke: Callable[[dict[str, Any]], dict[str, Any]], *,
         max_invocations: int = 10_000) -> Polled:
    """Deliver the queue to ``invoke`` until it is empty; what was delivered and failed."""
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url,
                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    polled = Polled()
    while polled.invocations < max_invocations:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH_SIZE,
                                       AttributeNames=["All"], MessageAttributeNames=["All"],
                                       VisibilityTimeout=0, WaitTimeSeconds=0).get("Messages")
        if not messages:
            return polled
        polled.invocations += 1
        polled.records += len(messages)
        response = invoke({"Records": [to_record(m, arn) for m in messages]})
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        polled.failures += sorted(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), BATCH_SIZE):
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start:start + BATCH_SIZE])])
    raise AssertionError(f"{queue_url} not drained after {max_invocations} invocations")


def send_all(queue_url: str, bodies: list[str]) -> None:
    sqs = boto3.client("sqs")
    for start in range(0, len(bodies), BATCH_SIZE):
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": body}
            for i, body in enumerate(bodies[start:start + BATCH_SIZE])])
        assert not response.get("Failed"), response
