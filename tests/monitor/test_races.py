"""The monitor under concurrency, retries and foreign events: behaviour, not private helpers.

Two Lambda invocations can evaluate one image at once (a scan event and the sweep, or SQS
delivering a message twice: standard queues are at-least-once). The processor's own read of the
image's state hides a missing write condition in sequential tests, so the race is staged here:
invocation A has read everything it reads (DynamoDB and ECR) and is about to make its first
DynamoDB write when invocation B runs to completion. That is "a read taken before a newer
write"; only DynamoDB's conditional write can stop A from overwriting B or alerting again
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html
#WorkingWithItems.ConditionalUpdate).

The pause is a botocore ``before-call`` hook on A's real DynamoDB client (moto server behind
it, hooked however the client is made), so the test does not depend on how the processor
groups its reads and writes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session
import pytest
from scangate.monitor import handler

from tests.monitor import samples
from tests.monitor.world import World, basic_finding, sqs_event

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
REPO = "team/app"
ACCOUNT = "123456789012"
# Every DynamoDB operation that writes (the processor may batch or transact them).
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def _event(sample: dict[str, Any], digest: str, event_id: str) -> str:
    return json.dumps(samples.retarget(sample, repository=REPO, digest=digest,
                                       event_id=event_id))


@contextmanager
def _paused_before_first_write(monkeypatch: pytest.MonkeyPatch,
                               meanwhile: Callable[[], None]) -> Iterator[list[str]]:
    """DynamoDB clients created inside run ``meanwhile`` once, just before their first write.

    Yields the operations seen before the pause (to prove A had read before B wrote)."""
    seen: list[str] = []
    fired: list[bool] = []
    real_create = botocore.session.Session.create_client

    def pause(model: Any, **_: Any) -> None:
        if model.name in WRITES and not fired:
            fired.append(True)
            meanwhile()
        elif not fired:
            seen.append(model.name)

    # Every boto3 client (boto3.client, a Session's, scangate.aws.clients') is made here.
    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made = real_create(self, service_name, *args, **kwargs)
        if service_name == "dynamodb":
            made.meta.events.register("before-call.dynamodb", pause)
        return made

    with monkeypatch.context() as patch:
        patch.setattr(botocore.session.Session, "create_client", create_client)
        yield seen
    assert fired, "the processor never wrote to DynamoDB: the race was not staged"


def test_an_older_clean_scan_read_before_a_newer_fail_never_overwrites_it(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read the clean scan at 10:00; before A writes, B records the 15:00 scan's CRITICAL
    (FAIL, one alert). A's write must lose: the image stays FAIL and no recovery is sent."""
    digest = world.push(REPO, 1, "1.0")
    key = f"{ACCOUNT}/{REPO}@{digest}"
    world.scan(digest, [], T0)
    newer = world.processor()

    def newer_scan_lands() -> None:
        world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl")],
                   T0 + dt.timedelta(hours=5))
        assert handler.handle(newer, sqs_event([_event(samples.ECR_IMAGE_SCAN, digest,
                                                       "new")])) == {"batchItemFailures": []}

    with _paused_before_first_write(monkeypatch, newer_scan_lands) as seen:
        late = world.processor()
        assert handler.handle(late, sqs_event([_event(samples.ECR_IMAGE_SCAN, digest,
                                                      "old")])) == {"batchItemFailures": []}
    assert seen, "A must have read before B wrote"
    state = newer.store.state(key)
    assert state is not None and state["decision"] == "fail"
    assert state["last_scan"] == "2026-01-05T15:00:00.000Z"
    assert state["counts"]["critical"] == 1
    [alert] = world.alerts()  # B's FAIL; nothing from A (no "recovered")
    assert "FAIL" in alert["Subject"] and "recovered" not in alert["Subject"]
    [item] = newer.store.inventory(key).values()
    assert item["vulnerability_id"] == "CVE-2026-0001" and "fixed_at" not in item
    assert world.drain(world.dlq_url) == []


def test_a_concurrent_duplicate_of_a_fail_alerts_once(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQS delivers the same event twice to two invocations; both read an image with no state
    and both judge FAIL. The one that writes second must not alert again."""
    digest = world.push(REPO, 1, "1.0")
    key = f"{ACCOUNT}/{REPO}@{digest}"
    world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl")], T0)
    body = _event(samples.INSPECTOR2_FINDING, digest, "dup")
    first = world.processor()

    def duplicate_lands() -> None:
        assert handler.handle(first, sqs_event([body])) == {"batchItemFailures": []}

    with _paused_before_first_write(monkeypatch, duplicate_lands) as seen:
        second = world.processor()
        assert handler.handle(second, sqs_event([body])) == {"batchItemFailures": []}
    assert seen, "the second invocation must have read before the first wrote"
    [alert] = world.alerts()
    assert "FAIL" in alert["Subject"]
    state = first.store.state(key)
    assert state is not None and state["decision"] == "fail" and "alert_pending" not in state
    assert world.drain(world.dlq_url) == []


def test_two_invocations_recording_one_deletion_write_it_once_and_alert_once(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployed image is deleted; two of its CLOSED finding events reach two invocations.
    A has read the state (not yet terminal) and ECR's "not found", and is about to write the
    terminal state when B records it and sends the UNMONITORED alert. Only the terminal
    write's condition (``terminal <> :s``, scangate.monitor.store.Store.record_terminal)
    stops A from writing a second history item and alerting again."""
    import boto3

    digest = world.push(REPO, 1, "1.0")
    key = f"{ACCOUNT}/{REPO}@{digest}"
    world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl")], T0)
    deployed = json.dumps({"version": "0", "id": "deploy", "source": "scangate.monitor",
                           "detail-type": "Scangate Image Deployed", "account": ACCOUNT,
                           "time": "2026-01-05T10:00:00Z", "region": "us-east-1",
                           "resources": [], "detail": {"repository-name": REPO,
                                                       "image-digest": digest}})
    assert handler.handle(world.processor(), sqs_event([deployed])) == {"batchItemFailures": []}
    assert world.alerts() == []
    boto3.client("ecr").batch_delete_image(repositoryName=REPO,
                                           imageIds=[{"imageDigest": digest}])

    def closed(event_id: str) -> str:
        event = json.loads(_event(samples.INSPECTOR2_FINDING, digest, event_id))
        event["detail"]["status"] = "CLOSED"
        return json.dumps(event)

    first = world.processor()

    def other_invocation_records_it() -> None:
        assert handler.handle(first, sqs_event([closed("b")], first_id=1)) == {
            "batchItemFailures": []}

    with _paused_before_first_write(monkeypatch, other_invocation_records_it) as seen:
        late = world.processor()
        assert handler.handle(late, sqs_event([closed("a")])) == {"batchItemFailures": []}
    assert "GetItem" in seen, "A must have read the state before B wrote"
    [alert] = world.alerts()
    assert "IMAGE_DELETED for deployed" in alert["Subject"]
    terminal = [h for h in first.store.history(key) if h.get("terminal")]
    assert [h["terminal"] for h in terminal] == ["IMAGE_DELETED"]
    state = first.store.state(key)
    assert state and state["terminal"] == "IMAGE_DELETED" and state["deployed"] is False
    assert "alert_pending" not in state
    assert world.drain(world.dlq_url) == []


def test_a_record_on_its_second_of_three_attempts_is_retried_not_dead_lettered(
        world: World) -> None:
    """SCANGATE_MAX_ATTEMPTS (3 by default, as the templates set it) failed attempts are made
    before the dead-letter queue, whatever the receive count says (tests/monitor/test_attempts.py
    shows receives that were not attempts)."""
    proc = world.processor()
    assert proc.config.max_attempts == 3
    failed = world.push("team/app", 9, "9.0")
    world.scan_status(failed, "FAILED", "the scan failed")  # every attempt fails
    body = _event(samples.ECR_IMAGE_SCAN, failed, "failed")
    for attempt in (1, 2):
        assert handler.handle(proc, sqs_event([body], receive_count=attempt)) == {
            "batchItemFailures": [{"itemIdentifier": "m-0"}]}, f"attempt {attempt}"
        assert world.drain(world.dlq_url) == [], f"dead-lettered on attempt {attempt} of 3"
    assert handler.handle(proc, sqs_event([body], receive_count=3)) == {
        "batchItemFailures": []}
    [dead] = world.drain(world.dlq_url)
    assert "failed 3 times" in dead["MessageAttributes"]["reason"]["StringValue"]


@pytest.mark.parametrize("kind", ["Scangate Image Deployed", "Scangate Sweep Image"])
@pytest.mark.parametrize("source", ["scangate.monitor.fake", "Scangate.Monitor"])
def test_our_own_event_kinds_from_another_source_are_refused(
        world: World, source: str, kind: str) -> None:
    """Only the deploy pipeline (source scangate.monitor) may mark an image deployed or ask for
    its re-evaluation. The template's DeployedRule filters on the source; anything else that
    reaches the queue (another rule, a direct SendMessage) must not be trusted either: it goes
    to the dead-letter queue, and the image is neither marked deployed nor evaluated."""
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl")], T0)
    event = {"version": "0", "id": "spoof", "source": source, "detail-type": kind,
             "account": ACCOUNT, "time": "2026-01-05T10:00:00Z", "region": "us-east-1",
             "resources": [], "detail": {"repository-name": REPO, "image-digest": digest,
                                         "registry-id": ACCOUNT}}
    body = json.dumps(event)
    assert handler.handle(proc, sqs_event([body])) == {"batchItemFailures": []}
    [dead] = world.drain(world.dlq_url)
    assert dead["Body"] == body
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert "unknown event" in reason and repr(source) in reason
    assert proc.store.state(f"{ACCOUNT}/{REPO}@{digest}") is None
    assert proc.store.deployed() == []
    assert world.alerts() == []
    # The same event from our own source is processed (the refusal is about the source).
    own = json.dumps({**event, "source": "scangate.monitor"})
    assert handler.handle(proc, sqs_event([own])) == {"batchItemFailures": []}
    assert world.drain(world.dlq_url) == []
    assert proc.store.state(f"{ACCOUNT}/{REPO}@{digest}") is not None
