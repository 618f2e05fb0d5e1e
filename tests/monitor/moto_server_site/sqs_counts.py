"""moto's SQS message counts with one clock read per count instead of two per message.

moto 5.1.4's ``Queue.attributes`` builds every attribute of a queue, among them
ApproximateNumberOfMessages, ...Delayed and ...NotVisible: three passes over all the queue's
messages, where each message's ``visible`` and ``delayed`` read the clock (``unix_time_millis``,
two datetime objects per read). ``SQSBackend.send_message`` (and ``send_message_batch``, once
per entry) reads ``queue.attributes`` for ContentBasedDeduplication alone, so sending 1,000
messages to one queue cost about 1.5 million clock reads: two fifths of the moto server's CPU
in the expiry storm (sampled). Here each count and ``Queue.messages`` read the clock once and
compare it with each message's own ``visible_at`` / ``delayed_until``, as moto's ``visible`` and
``delayed`` do (visible: now > visible_at; delayed: now < delayed_until). What SQS answers is
unchanged; tests/monitor/test_moto_server_site.py compares them with moto's on visible, delayed
and in-flight messages.
"""

from __future__ import annotations

from typing import Any

from moto.sqs import models

original_messages = models.Queue.messages
original_counts = {name: getattr(models.Queue, name) for name in (
    "approximate_number_of_messages", "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible")}


def messages(self: Any) -> list[Any]:
    """Visible and not delayed (moto's Queue.messages)."""
    now = models.unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def approximate_number_of_messages(self: Any) -> int:
    return len(messages(self))


def approximate_number_of_messages_delayed(self: Any) -> int:
    now = models.unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


def approximate_number_of_messages_not_visible(self: Any) -> int:
    now = models.unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


def install() -> None:
    models.Queue.messages = property(messages)  # type: ignore[method-assign,assignment]
    models.Queue.approximate_number_of_messages = property(  # type: ignore[method-assign,assignment]
        approximate_number_of_messages)
    models.Queue.approximate_number_of_messages_delayed = property(  # type: ignore[method-assign,assignment]
        approximate_number_of_messages_delayed)
    models.Queue.approximate_number_of_messages_not_visible = property(  # type: ignore[method-assign,assignment]
        approximate_number_of_messages_not_visible)
