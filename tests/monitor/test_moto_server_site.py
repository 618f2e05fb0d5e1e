"""The monitor's moto server patches (tests/monitor/moto_server_site) answer as moto does.

sqs_retention replaces moto 5.1.4's retention check on receive for speed only: for a message
still retained and one past MessageRetentionPeriod it must give moto's own answer; sqs_counts
replaces its message counts (and visible messages) for speed only: on visible, delayed and
in-flight messages they must be moto's;
request_overhead keeps moto's module listing, which must be moto's. The patches are called
directly here, never installed into this process's moto. (The port the server logs at start-up,
which request_overhead must keep, is read by every monitor test's moto_session.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from moto.sqs import models

SITE = Path(__file__).resolve().parent / "moto_server_site"


@pytest.fixture
def site() -> Iterator[None]:
    """The server's site directory on sys.path (its modules imported, never installed here)."""
    sys.path.insert(0, str(SITE))
    try:
        yield
    finally:
        sys.path.remove(str(SITE))


@pytest.fixture
def sqs_retention(site: None) -> ModuleType:
    import sqs_retention  # the server's site directory

    return sqs_retention


def test_the_kept_listing_of_moto_modules_is_motos(site: None) -> None:
    import request_overhead  # the server's site directory

    listed = list(request_overhead.original_modules())
    assert "sqs" in listed and "dynamodb" in listed
    assert list(request_overhead.list_of_moto_modules()) == listed


@pytest.mark.parametrize("retention", [60, 1209600])
def test_sqs_retention_answers_as_moto_does(sqs_retention: ModuleType, retention: int) -> None:
    backend = models.SQSBackend("us-east-1", "123456789012")
    backend.create_queue("q", MessageRetentionPeriod=str(retention))
    kept = backend.send_message("q", "kept")
    expired = backend.send_message("q", "expired")
    expired.sent_timestamp -= (retention + 1) * 1000
    just_in = backend.send_message("q", "just in")
    just_in.sent_timestamp -= (retention - 5) * 1000
    for message, retained in ((kept, True), (expired, False), (just_in, True)):
        assert sqs_retention.original(backend, "q", message) is retained
        assert sqs_retention.is_message_valid_based_on_retention_period(
            backend, "q", message) is retained
    assert sqs_retention.original is not sqs_retention.is_message_valid_based_on_retention_period


def test_sqs_counts_answer_as_moto_does(site: None) -> None:
    import sqs_counts  # the server's site directory

    backend = models.SQSBackend("us-east-1", "123456789012")
    queue = backend.create_queue("q")
    for n in range(6):
        backend.send_message("q", f"sent {n}")
    # Two in flight; then one of them past its visibility timeout (visible again).
    received = backend.receive_message("q", count=2, wait_seconds_timeout=0,
                                       visibility_timeout=60)
    in_flight = [m for m in queue._messages if m.body in {r.body for r in received}]
    assert len(in_flight) == 2
    in_flight[1].visible_at -= 61_000
    # Two delayed; then one of them past its delay.
    delayed = [backend.send_message("q", f"delayed {n}", delay_seconds=60) for n in range(2)]
    delayed[1].delayed_until -= 61_000
    visible = sorted({f"sent {n}" for n in range(6)} - {in_flight[0].body} | {"delayed 1"})
    counts = {"approximate_number_of_messages": 6,
              "approximate_number_of_messages_delayed": 1,
              "approximate_number_of_messages_not_visible": 1}
    for name, expected in counts.items():
        assert sqs_counts.original_counts[name].fget(queue) == expected, name
        assert getattr(sqs_counts, name)(queue) == expected, name
    assert sorted(m.body for m in sqs_counts.original_messages.fget(queue)) == visible
    assert [m.body for m in sqs_counts.messages(queue)] == [
        m.body for m in sqs_counts.original_messages.fget(queue)]
