"""DynamoDB requests per event, counted on the wire (botocore's ``before-send`` hook on moto).

Issue 20 §3's target: at most 5 DynamoDB requests per event for the first scan of an image with
20 findings (25 before the writes went into one transaction). A count is not a timing: it is the
same on any machine, so a regression fails here; benchmarks/monitor.py measures the rate.
A scan's inventory, history item and state are one TransactWriteItems (at most 100 actions,
DynamoDB API Reference, "TransactWriteItems"); a scan with more findings sends the findings that
do not fit first, in transactions of their own, and the state last.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

from scangate.monitor import handler
from scangate.monitor.processor import Processor

from tests.monitor import samples
from tests.monitor.world import ACCOUNT, World, basic_finding, sqs_event

T0 = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]


def _findings(count: int, shift: int = 0) -> list[dict[str, Any]]:
    return [basic_finding(f"CVE-2026-{shift + i:05d}", SEVERITIES[i % 4], f"pkg{shift + i}")
            for i in range(count)]


def _requests(proc: Processor) -> list[str]:
    sent: list[str] = []

    def count(request: Any, **_: Any) -> None:
        sent.append(str(request.headers.get("X-Amz-Target", b"").decode().split(".")[-1]))

    proc.store.client.meta.events.register("before-send.dynamodb", count)
    return sent


def _deliver(proc: Processor, digest: str, event_id: str) -> None:
    body = json.dumps(samples.retarget(samples.ECR_IMAGE_SCAN, repository="team/app",
                                       digest=digest, event_id=event_id))
    assert handler.handle(proc, sqs_event([body])) == {"batchItemFailures": []}


def test_first_scan_rescan_and_duplicate_stay_within_five_requests(world: World) -> None:
    proc = world.processor(policy_ttl=60.0)
    proc.metrics_stream = io.StringIO()
    digest = world.push("team/app", 1, "1.0")
    world.scan(digest, _findings(20), T0)
    sent = _requests(proc)
    _deliver(proc, digest, "first")
    # GetItem (state), Query (inventory), the transaction, the delivered alert's clearing.
    assert sent == ["GetItem", "Query", "TransactWriteItems", "UpdateItem"]
    assert len(world.alerts()) == 1  # the image turned FAIL
    key = f"{ACCOUNT}/team/app@{digest}"
    assert len(proc.store.inventory(key)) == 20

    sent.clear()
    _deliver(proc, digest, "again")
    assert sent == ["GetItem"]  # a duplicate: the stored result is this one

    world.scan(digest, _findings(16, 4) + _findings(4, 100), T0 + dt.timedelta(hours=1))
    sent.clear()
    _deliver(proc, digest, "rescan")
    assert sent == ["GetItem", "Query", "TransactWriteItems"]
    inventory = proc.store.inventory(key)
    assert len(inventory) == 24 and sum(1 for i in inventory.values() if i.get("fixed_at")) == 4


def test_a_scan_too_large_for_one_transaction_still_writes_its_state_last(world: World) -> None:
    proc = world.processor(policy_ttl=60.0)
    proc.metrics_stream = io.StringIO()
    digest = world.push("team/app", 2, "2.0")
    world.scan(digest, _findings(150), T0)
    sent = _requests(proc)
    transactions: list[int] = []
    proc.store.client.meta.events.register(
        "before-parameter-build.dynamodb.TransactWriteItems",
        lambda params, **_: transactions.append(len(params["TransactItems"])))
    _deliver(proc, digest, "big")
    # 150 findings + history + state = 152 actions: 52 findings first, then 98 with the state.
    assert transactions == [52, 100]
    assert sent == ["GetItem", "Query", "TransactWriteItems", "TransactWriteItems", "UpdateItem"]
    key = f"{ACCOUNT}/team/app@{digest}"
    assert len(proc.store.inventory(key)) == 150
    state = proc.store.state(key)
    assert state and state["counts"]["critical"] == 38 and state["decision"] == "fail"
