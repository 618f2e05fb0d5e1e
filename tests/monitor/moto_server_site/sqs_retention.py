"""moto's SQS retention check on receive, with the same answer at a fraction of the cost.

moto 5.1.4's ``SQSBackend.receive_message`` asks ``is_message_valid_based_on_retention_period``
about every message it hands out, and that reads ``MessageRetentionPeriod`` through
``get_queue_attributes``, which builds *every* attribute of the queue first: among them
ApproximateNumberOfMessages, ...Delayed and ...NotVisible, three passes over all the queue's
messages with a clock read per message. A receive of 10 from a queue of 1,000 is thus 30,000
clock reads; the expiry storm's 1,000 messages spent three quarters of the moto server's CPU
there (sampled). Here the one attribute is read from the queue itself (the value
``get_queue_attributes`` returns for it: ``Queue.attributes`` reads each attribute as the
queue's snake_case field), and the comparison is moto's own. What SQS answers is unchanged;
tests/monitor/test_moto_server_site.py compares the two on kept and expired messages.
"""

from __future__ import annotations

from typing import Any

from moto.sqs import models

original = models.SQSBackend.is_message_valid_based_on_retention_period


def is_message_valid_based_on_retention_period(self: Any, queue_name: str,
                                               message: Any) -> bool:
    retention_period = self.get_queue(queue_name).message_retention_period
    retain_until = retention_period + message.sent_timestamp / 1000
    return bool(retain_until > models.unix_time())


def install() -> None:
    models.SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period)
