"""Terminal states: recorded once, alerted at most once, never retried into the dead-letter queue.

An image can stop having findings for good:
- it, or its repository, is deleted: a lifecycle expiry deletes it and Inspector closes each of
  its findings, one CLOSED ``Inspector2 Finding`` per finding (Amazon Inspector docs, "EventBridge
  event schema for Amazon Inspector events"; ../shared/notes/platform-rules.md, AWS); ECR then
  answers ImageNotFoundException / RepositoryNotFoundException;
- its scan status is one after which ECR will not produce findings: ``UNSUPPORTED_IMAGE``,
  ``SCAN_ELIGIBILITY_EXPIRED``, ``FINDINGS_UNAVAILABLE``, ``IMAGE_ARCHIVED`` (ECR API Reference,
  "ImageScanStatus"), or DescribeImageScanFindings answers ImageArchivedException.
Retrying cannot change any of these, so each is recorded once (a state and one history item), a
deployed image alerts once, and every later event about it is done. A deleted image stops
counting as deployed: the sweep no longer re-evaluates it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from scangate.aws.ecr import EcrImage, ImageUnavailable, ScanReader
from scangate.monitor import handler

from tests.aws.recorder import aws_calls
from tests.monitor import samples
from tests.monitor.world import ACCOUNT, World, basic_finding, sqs_event

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
REPO = "team/app"


def _closed(digest: str, event_id: str, repository: str = REPO) -> str:
    """The documented Inspector2 Finding about this image, as Inspector sends it on deletion."""
    event = samples.retarget(samples.INSPECTOR2_FINDING, repository=repository, digest=digest,
                             event_id=event_id)
    event["detail"]["status"] = "CLOSED"
    return json.dumps(event)


def _deployed(digest: str, repository: str = REPO) -> str:
    return json.dumps({"version": "0", "id": f"deploy-{digest[-6:]}", "source": "scangate.monitor",
                       "detail-type": "Scangate Image Deployed", "account": ACCOUNT,
                       "time": "2026-01-05T10:00:00Z", "region": "us-east-1", "resources": [],
                       "detail": {"repository-name": repository, "image-digest": digest,
                                  "deployed": True}})


def _history(world: World, key: str) -> list[dict[str, Any]]:
    return world.processor().store.history(key)


def _deployed_image(world: World, number: int = 1) -> tuple[str, str]:
    digest = world.push(REPO, number, f"{number}.0")
    world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl"),
                        basic_finding("CVE-2026-0002", "LOW", "zlib1g")], T0)
    proc = world.processor()
    assert handler.handle(proc, sqs_event([_deployed(digest)])) == {"batchItemFailures": []}
    return digest, f"{ACCOUNT}/{REPO}@{digest}"


def test_a_deleted_deployed_image_is_recorded_once_alerted_once_and_no_longer_deployed(
        world: World) -> None:
    digest, key = _deployed_image(world)
    kept, _ = _deployed_image(world, 2)
    assert {i["digest"] for i in world.processor().store.deployed()} == {digest, kept}
    boto3.client("ecr").batch_delete_image(repositoryName=REPO,
                                           imageIds=[{"imageDigest": digest}])
    proc = world.processor()
    # Two findings: two CLOSED events, in one batch and again in later batches (redeliveries).
    closed = [_closed(digest, "c1"), _closed(digest, "c2")]
    assert handler.handle(proc, sqs_event(closed)) == {"batchItemFailures": []}
    assert handler.handle(proc, sqs_event(closed, first_id=2)) == {"batchItemFailures": []}
    assert handler.handle(proc, sqs_event(closed[:1], first_id=4, receive_count=3)) == {
        "batchItemFailures": []}
    assert world.drain(world.dlq_url) == []
    [alert] = world.alerts()
    assert "IMAGE_DELETED for deployed" in alert["Subject"] and digest[:19] in alert["Subject"]
    assert "no longer counts as deployed" in alert["Message"]
    state = proc.store.state(key)
    assert state and state["terminal"] == "IMAGE_DELETED" and state["deployed"] is False
    assert "alert_pending" not in state
    assert "not found" in state["terminal_reason"]
    terminal = [h for h in _history(world, key) if h.get("terminal")]
    assert [h["terminal"] for h in terminal] == ["IMAGE_DELETED"]
    # The sweep re-evaluates the deployed images only: the deleted one is gone from them, and a
    # deployment mark arriving after the deletion does not bring it back.
    assert [i["digest"] for i in proc.store.deployed()] == [kept]
    assert handler.handle(proc, sqs_event([_deployed(digest)], first_id=5)) == {
        "batchItemFailures": []}
    assert [i["digest"] for i in proc.store.deployed()] == [kept]
    # A further CLOSED event of the recorded deletion reads nothing: not ECR, not a write.
    with aws_calls() as calls:
        quiet = world.processor()
        assert handler.handle(quiet, sqs_event([_closed(digest, "c9")], first_id=6)) == {
            "batchItemFailures": []}
    assert [c.action for c in calls] == ["dynamodb:GetItem"]
    sweep = json.dumps({**samples.SCHEDULED, "account": ACCOUNT})
    assert handler.handle(proc, sqs_event([sweep], first_id=9)) == {"batchItemFailures": []}
    queued = [json.loads(m["Body"]) for m in world.drain(world.queue_url)]
    assert [e["detail"]["image-digest"] for e in queued] == [kept]


def test_a_deleted_repository_is_recorded_once_and_an_image_nobody_deployed_alerts_nobody(
        world: World) -> None:
    digest = world.push("team/old", 1, "1.0")
    world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl")], T0)
    proc = world.processor()
    assert handler.handle(proc, sqs_event([_closed(digest, "a", "team/old")])) == {
        "batchItemFailures": []}
    world.alerts()  # the FAIL alert of the first evaluation
    boto3.client("ecr").delete_repository(repositoryName="team/old", force=True)
    for number in range(3):
        assert handler.handle(proc, sqs_event([_closed(digest, f"c{number}", "team/old")],
                                              first_id=number)) == {"batchItemFailures": []}
    key = f"{ACCOUNT}/team/old@{digest}"
    state = proc.store.state(key)
    assert state and state["terminal"] == "REPOSITORY_DELETED"
    assert state["decision"] == "fail"  # the last decision taken stays readable
    assert [h["terminal"] for h in _history(world, key) if h.get("terminal")] == [
        "REPOSITORY_DELETED"]
    assert world.alerts() == [] and world.drain(world.dlq_url) == []


@pytest.mark.parametrize("status", ["UNSUPPORTED_IMAGE", "SCAN_ELIGIBILITY_EXPIRED",
                                    "FINDINGS_UNAVAILABLE", "IMAGE_ARCHIVED"])
def test_a_scan_that_will_never_have_findings_is_recorded_once_and_alerted_once(
        world: World, status: str) -> None:
    digest, key = _deployed_image(world)
    world.scan_status(digest, status, f"{status.lower()}: as ECR describes it")
    proc = world.processor()
    finding = json.dumps(samples.retarget(samples.INSPECTOR2_FINDING, repository=REPO,
                                          digest=digest, event_id="f"))
    for attempt in range(3):
        # An event, and the daily sweep's re-evaluation of the deployed image, day after day.
        sweep_item = json.dumps({"version": "0", "id": f"s{attempt}", "source": "scangate.monitor",
                                 "detail-type": "Scangate Sweep Image", "account": ACCOUNT,
                                 "time": "2026-01-06T00:00:00Z", "region": "us-east-1",
                                 "resources": [], "detail": {"repository-name": REPO,
                                                             "image-digest": digest}})
        assert handler.handle(proc, sqs_event([finding], first_id=2 * attempt)) == {
            "batchItemFailures": []}
        assert handler.handle(proc, sqs_event([sweep_item], first_id=2 * attempt + 1)) == {
            "batchItemFailures": []}
    assert world.drain(world.dlq_url) == []
    [alert] = world.alerts()
    assert f"{status} for deployed" in alert["Subject"]
    assert "ECR can no longer scan the image" in alert["Message"]
    assert f"{status.lower()}: as ECR describes it" in alert["Message"]
    state = proc.store.state(key)
    assert state and state["terminal"] == status
    assert state["deployed"] is True  # still running: it stays deployed, unmonitored
    assert [h["terminal"] for h in _history(world, key) if h.get("terminal")] == [status]
    # Scanning resumes (the image is pulled again, or re-pushed): the terminal state is cleared.
    world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl")],
               T0 + dt.timedelta(days=2))
    assert handler.handle(proc, sqs_event([finding], first_id=9)) == {"batchItemFailures": []}
    state = proc.store.state(key)
    assert state and "terminal" not in state and state["decision"] == "pass"


def test_an_alert_that_could_not_be_sent_is_sent_by_the_next_event_and_only_once(
        world: World) -> None:
    digest, key = _deployed_image(world)
    boto3.client("ecr").batch_delete_image(repositoryName=REPO,
                                           imageIds=[{"imageDigest": digest}])
    broken = world.processor(topic_arn=world.topic_arn + "-gone")  # SNS refuses: NotFound
    assert handler.handle(broken, sqs_event([_closed(digest, "c1")])) == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}]}
    state = broken.store.state(key)
    assert state and state["terminal"] == "IMAGE_DELETED" and state["alert_pending"]
    proc = world.processor()
    for number in (1, 2):
        assert handler.handle(proc, sqs_event([_closed(digest, f"c{number}")],
                                              first_id=number)) == {"batchItemFailures": []}
    assert len(world.alerts()) == 1
    state = proc.store.state(key)
    assert state and "alert_pending" not in state
    assert len([h for h in _history(world, key) if h.get("terminal")]) == 1


def test_an_archived_image_answered_as_an_error_is_terminal_too() -> None:
    """DescribeImageScanFindings may refuse an archived image with ImageArchivedException
    (botocore's ECR model: "The specified image is archived and cannot be scanned"). moto has no
    archive, so a stand-in ECR client raises botocore's own ClientError as the real one would."""

    class ArchivedEcr:
        def describe_image_scan_findings(self, **_: object) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "ImageArchivedException",
                                         "Message": "The image is archived"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}},
                              "DescribeImageScanFindings")

    image = EcrImage(ACCOUNT, REPO, "uri", "sha256:" + "a" * 64, ())
    with pytest.raises(ImageUnavailable) as raised:
        ScanReader(ArchivedEcr()).read(image, wait=False, timeout=1.0)
    assert raised.value.status == "IMAGE_ARCHIVED"
    assert "ImageArchivedException (The image is archived)" in raised.value.message
