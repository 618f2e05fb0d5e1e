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
from typing import Any

import pytest
from moto.dynamodb import models as dynamodb_models
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


def _dynamodb(transact: Any) -> tuple[list[Any], dict[str, list[Any]]]:
    """A table keyed like the monitor's (pk, sk) and one keyed by pk alone, seeded; the given
    transactions run on it in turn. What each transaction raised, and the tables' items in
    their order (a Scan's order) at the end."""
    backend = dynamodb_models.DynamoDBBackend("us-east-1", "123456789012")
    for name, schema in (("t", [("pk", "HASH"), ("sk", "RANGE")]), ("h", [("pk", "HASH")])):
        backend.create_table(
            name, schema=[{"AttributeName": a, "KeyType": k} for a, k in schema],
            throughput=None, attr=[{"AttributeName": a, "AttributeType": "S"} for a, _ in schema],
            global_indexes=None, indexes=None, streams=None, billing_mode="PAY_PER_REQUEST",
            sse_specification=None, tags=[], deletion_protection_enabled=None)
    for image in ("a", "b", "c"):
        backend.put_item("h", {"pk": {"S": image}, "n": {"N": "0"},
                               "m": {"M": {"l": {"L": [{"S": "x"}]}}}})
        for sk in ("STATE", "F#1", "F#2"):
            backend.put_item("t", {"pk": {"S": image}, "sk": {"S": sk}, "n": {"N": "0"},
                                   "m": {"M": {"l": {"L": [{"S": "x"}]}}}})
    raised = []
    for items in TRANSACTIONS:
        try:
            transact(backend, items)
            raised.append(None)
        except Exception as exc:  # compared, not handled
            raised.append((type(exc).__name__, str(exc)))
    # Outside a transaction: moto deep-copies the item updated (None for a new one).
    for key in ({"pk": {"S": "g"}, "sk": {"S": "STATE"}}, {"pk": {"S": "c"}, "sk": {"S": "F#1"}}):
        backend.update_item("t", key, update_expression="SET k = :k",
                            expression_attribute_names={},
                            expression_attribute_values={":k": {"S": "v"}})
    tables = {}
    for name, table in backend.tables.items():
        rows = []
        for hash_key, value in table.items.items():
            for item in (value.values() if isinstance(value, dict) else [value]):
                rows.append((hash_key.value, item.to_json()))
        tables[name] = rows
    return raised, tables


def _put(table: str, pk: str, sk: str | None = None, n: str = "1") -> dict[str, Any]:
    item = {"pk": {"S": pk}, "n": {"N": n}, "m": {"M": {"l": {"L": [{"S": "x"}]}}}} | (
        {"sk": {"S": sk}} if sk else {})
    return {"Put": {"TableName": table, "Item": item}}


def _update(table: str, pk: str, sk: str | None = None, condition: str = "") -> dict[str, Any]:
    op = {"TableName": table, "Key": {"pk": {"S": pk}} | ({"sk": {"S": sk}} if sk else {}),
          "UpdateExpression": "SET n = n + :one, m.l[0] = :y REMOVE gone",
          "ExpressionAttributeValues": {":one": {"N": "1"}, ":y": {"S": "y"}}}
    if condition:
        op["ConditionExpression"] = condition
    return {"Update": op}


def _delete(table: str, pk: str, sk: str | None = None) -> dict[str, Any]:
    return {"Delete": {"TableName": table,
                       "Key": {"pk": {"S": pk}} | ({"sk": {"S": sk}} if sk else {})}}


FAILS = "attribute_not_exists(n)"
TRANSACTIONS = [
    # Committed: new hash, new and existing rows, updates in place, a delete.
    [_put("t", "d", "STATE"), _put("t", "a", "F#3"), _update("t", "a", "STATE"),
     _delete("t", "b", "F#1"), _put("h", "d"), _update("h", "a"), _delete("h", "b")],
    # Cancelled by its last condition, after every kind of change before it.
    [_put("t", "e", "STATE"), _put("t", "a", "F#4"), _update("t", "a", "F#1"),
     _delete("t", "c", "F#2"), _delete("t", "c", "STATE"), _delete("h", "c"),
     _update("h", "a"), _update("t", "c", "F#1", condition=FAILS)],
    # Cancelled: a condition fails first; a later action still ran before the cancel.
    [_update("t", "a", "F#2", condition=FAILS), _put("t", "a", "F#2b"), _delete("h", "a")],
    # Refused: two actions on one item (moto rolls back and raises at once).
    [_update("t", "c", "STATE"), _put("t", "f", "STATE"), _delete("t", "c", "STATE")],
    # Cancelled: no such table (after a change to one that exists).
    [_update("t", "c", "F#1"), _put("missing", "x")],
    # Committed again after the cancels.
    [_update("t", "c", "F#1"), _delete("t", "a", "F#1")],
]


def test_dynamodb_rollback_answers_as_moto_does(site: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import dynamodb_rollback  # the server's site directory

    moto_raised, moto_tables = _dynamodb(dynamodb_rollback.original)
    assert moto_raised[0] is None and moto_raised[-1] is None
    assert all(r and "TransactionCanceled" in r[0] for r in moto_raised[1:3]), moto_raised
    assert moto_raised[3] and moto_raised[4], moto_raised
    # As installed in the server: moto's backup of the tables is the shallow one.
    monkeypatch.setattr(dynamodb_models, "copy", dynamodb_rollback._copy)
    assert _dynamodb(dynamodb_rollback.transact_write_items) == (moto_raised, moto_tables)
