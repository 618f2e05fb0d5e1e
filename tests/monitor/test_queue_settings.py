"""The monitor's queues and function timeout, against AWS's documented rules (CloudFormation and
Terraform alike; moto enforces none of them).

- AWS Lambda Developer Guide, "Creating and configuring an Amazon SQS event source mapping"
  (Configuring a queue to use with Lambda): the source queue's visibility timeout is at least
  six times the function's timeout, so Lambda can retry a throttled batch; a function timeout
  above the queue's visibility timeout is refused when the mapping is created.
- Amazon SQS Developer Guide, "Using dead-letter queues": a message keeps its original enqueue
  timestamp when it is moved to the dead-letter queue, so the dead-letter queue's retention
  period must be longer than the source queue's, or a message moved late is deleted at once.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.monitor.test_templates import _resource
from tests.monitor.world import cfn_template


def _cloudformation() -> dict[str, int]:
    resources = cfn_template()["Resources"]
    events = resources["EventsQueue"]["Properties"]
    return {"timeout": resources["Function"]["Properties"]["Timeout"],
            "visibility": events["VisibilityTimeout"],
            "retention": events["MessageRetentionPeriod"],
            "dlq_retention": resources["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"],
            "max_receive": events["RedrivePolicy"]["maxReceiveCount"]}


def _terraform() -> dict[str, int]:
    events = _resource("aws_sqs_queue", "events")
    # `${jsonencode({deadLetterTargetArn = ..., maxReceiveCount = 5})}` as python-hcl2 gives it.
    count = re.search(r"maxReceiveCount\s*=\s*(\d+)", events["redrive_policy"])
    assert count, events["redrive_policy"]
    max_receive = int(count.group(1))
    return {"timeout": _resource("aws_lambda_function", "monitor")["timeout"],
            "visibility": events["visibility_timeout_seconds"],
            "retention": events["message_retention_seconds"],
            "dlq_retention": _resource("aws_sqs_queue", "dead_letter")[
                "message_retention_seconds"],
            "max_receive": max_receive}


@pytest.mark.parametrize("settings", [_cloudformation, _terraform],
                         ids=["cloudformation", "terraform"])
def test_visibility_timeout_is_six_function_timeouts(settings: Any) -> None:
    found = settings()
    assert found["visibility"] >= 6 * found["timeout"], found


@pytest.mark.parametrize("settings", [_cloudformation, _terraform],
                         ids=["cloudformation", "terraform"])
def test_dead_letters_outlive_the_source_queue(settings: Any) -> None:
    found = settings()
    assert found["dlq_retention"] > found["retention"], found
    assert found["max_receive"] >= 2, found  # one receive only would dead-letter any retry


def test_both_templates_agree() -> None:
    assert _cloudformation() == _terraform()
