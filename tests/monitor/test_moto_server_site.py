"""The monitor's moto server patches (tests/monitor/moto_server_site) answer as moto does.

sqs_retention replaces moto 5.1.4's retention check on receive for speed only: for a message
still retained and one past MessageRetentionPeriod it must give moto's own answer. The patch is
called directly here, never installed into this process's moto.
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
def sqs_retention() -> Iterator[ModuleType]:
    sys.path.insert(0, str(SITE))
    try:
        import sqs_retention  # the server's site directory, on sys.path above

        yield sqs_retention
    finally:
        sys.path.remove(str(SITE))


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
