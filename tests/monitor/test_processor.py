"""The processor against a moto server: decisions, inventory, history, ordering, alerts, DLQ."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from scangate.aws.retry import Backoff
from scangate.monitor import handler
from scangate.monitor.store import Store

from tests.monitor import samples
from tests.monitor.world import TABLE, World, basic_finding, sqs_event

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
REPO = "team/app"


def _event(sample: dict, digest: str, event_id: str, repository: str = REPO) -> str:
    return json.dumps(samples.retarget(sample, repository=repository, digest=digest,
                                       event_id=event_id))


def test_documented_samples_each_record_a_decision(world: World) -> None:
    proc = world.processor()
    proc.metrics_stream = io.StringIO()
    for number, (name, sample) in enumerate(samples.ALL.items()):
        digest = world.push(REPO, number, f"v{number}")
        world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl")], T0)
        result = handler.handle(proc, sqs_event([_event(sample, digest, f"e{number}")]))
        assert result == {"batchItemFailures": []}, name
        state = proc.store.state(f"123456789012/{REPO}@{digest}")
        assert state is not None, name
        assert state["decision"] == "pass" and state["counts"]["high"] == 1, name
        assert state["policy_version"] == 1 and state["last_scan"] == "2026-01-05T10:00:00.000Z"
        assert state["tags"] == [f"v{number}"]
    assert world.alerts() == []  # nothing changed for the worse: no noise
    assert world.drain(world.dlq_url) == []
    emf = [json.loads(line) for line in proc.metrics_stream.getvalue().splitlines()]
    assert {d["Repository"] for d in emf if "Repository" in d} == {REPO}


def test_pass_to_fail_alerts_once_with_the_new_findings_and_recovery_alerts(
        world: World) -> None:
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    key = f"123456789012/{REPO}@{digest}"
    world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl")], T0)
    handler.handle(proc, sqs_event([_event(samples.ECR_IMAGE_SCAN, digest, "a")]))
    # A new CRITICAL: the image turns FAIL; the same event delivered three times alerts once.
    world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl"),
                        basic_finding("CVE-2026-9999", "CRITICAL", "zlib1g", "1.2")],
               T0 + dt.timedelta(hours=1))
    body = _event(samples.INSPECTOR2_FINDING, digest, "b")
    assert handler.handle(proc, sqs_event([body, body, body])) == {"batchItemFailures": []}
    [alert] = world.alerts()
    text = alert["Message"]
    assert alert["Subject"].startswith(f"scangate monitor: {REPO}@sha256:") and "FAIL" in \
        alert["Subject"]
    assert f"Digest: {digest}" in text and "Tags: 1.0" in text
    assert "New: CVE-2026-9999 CRITICAL in zlib1g 1.2" in text
    assert "CVE-2026-0001" not in text.split("Findings counted")[1].split("Scanned")[0] \
        .replace("Violation", "")
    assert "console.aws.amazon.com/ecr/repositories/private/123456789012/team/app/_/image/" \
        f"{digest}/details" in text
    state = proc.store.state(key)
    assert state and state["decision"] == "fail" and "alert_pending" not in state
    # Fixed: recovery alert, and the inventory knows when it was fixed.
    world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl")],
               T0 + dt.timedelta(hours=3))
    handler.handle(proc, sqs_event([_event(samples.INSPECTOR2_SCAN, digest, "c")]))
    [recovered] = world.alerts()
    assert "recovered" in recovered["Subject"]
    inventory = {i["vulnerability_id"]: i for i in proc.store.inventory(key).values()}
    assert inventory["CVE-2026-9999"]["first_seen"] == "2026-01-05T11:00:00.000Z"
    assert inventory["CVE-2026-9999"]["fixed_at"] == "2026-01-05T13:00:00.000Z"
    assert inventory["CVE-2026-9999"]["mttr_seconds"] == 7200
    assert inventory["CVE-2026-0001"]["last_seen"] == "2026-01-05T13:00:00.000Z"
    assert "fixed_at" not in inventory["CVE-2026-0001"]
    [fixed] = proc.store.fixed("CRITICAL")
    assert fixed["mttr_seconds"] == 7200 and fixed["repository"] == REPO
    assert proc.store.mean_time_to_remediate("CRITICAL") == (1, 7200.0)
    assert proc.store.mean_time_to_remediate("HIGH") == (0, None)
    decisions = [h["decision"] for h in proc.store.history(key)]
    assert decisions == ["pass", "fail", "pass"]


def test_an_older_scan_never_overwrites_a_newer_result(world: World) -> None:
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    key = f"123456789012/{REPO}@{digest}"
    world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl")],
               T0 + dt.timedelta(hours=5))
    handler.handle(proc, sqs_event([_event(samples.ECR_IMAGE_SCAN, digest, "new")]))
    assert world.alerts()  # FAIL
    # A slower reader comes back with the earlier (clean) scan: nothing may change.
    world.scan(digest, [], T0)
    handler.handle(proc, sqs_event([_event(samples.ECR_IMAGE_SCAN, digest, "old")]))
    state = proc.store.state(key)
    assert state and state["decision"] == "fail" and state["last_scan"].startswith(
        "2026-01-05T15:00")
    assert world.alerts() == []
    assert len(proc.store.history(key)) == 1
    [item] = proc.store.inventory(key).values()
    assert "fixed_at" not in item


def test_a_new_policy_version_reevaluates_the_same_scan(world: World) -> None:
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl"),
                        basic_finding("CVE-2026-0002", "HIGH", "curl")], T0)
    handler.handle(proc, sqs_event([_event(samples.ECR_IMAGE_SCAN, digest, "a")]))
    [alert] = world.alerts()  # two HIGH, limit 1
    assert "Violation: 2 high (limit 1)" in alert["Message"]
    assert world.set_policy("thresholds:\n  critical: 0\n  high: 5\n") == 2
    handler.handle(proc, sqs_event([_event(samples.ECR_IMAGE_SCAN, digest, "a")]))
    [recovered] = world.alerts()
    assert "recovered" in recovered["Subject"] and "(version 2)" in recovered["Message"]


def test_new_critical_on_a_deployed_image_alerts_even_when_still_failing(world: World) -> None:
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl")], T0)
    deployed = {"version": "0", "id": "d1", "source": "scangate.monitor",
                "detail-type": "Scangate Image Deployed", "account": "123456789012",
                "time": "2026-01-05T10:00:00Z", "region": "us-east-1", "resources": [],
                "detail": {"repository-name": REPO, "image-digest": digest}}
    handler.handle(proc, sqs_event([json.dumps(deployed)]))
    assert len(world.alerts()) == 1  # FAIL
    world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl"),
                        basic_finding("CVE-2026-0003", "CRITICAL", "glibc")],
               T0 + dt.timedelta(hours=1))
    handler.handle(proc, sqs_event([_event(samples.INSPECTOR2_FINDING, digest, "f")]))
    [alert] = world.alerts()
    assert "new CRITICAL" in alert["Subject"] and "New: CVE-2026-0003 CRITICAL in glibc" in \
        alert["Message"] and "CVE-2026-0001 CRITICAL" not in alert["Message"]
    # The sweep queues the deployed image; re-evaluating the same scan says nothing.
    handler.handle(proc, sqs_event([json.dumps(samples.SCHEDULED)]))
    [queued] = world.drain(world.queue_url)
    assert json.loads(queued["Body"])["detail"]["image-digest"] == digest
    assert handler.handle(proc, sqs_event([queued["Body"]])) == {"batchItemFailures": []}
    assert world.alerts() == []


@pytest.mark.parametrize(("body", "reason"), [
    ("not json", "body is not JSON"),
    ("[]", "not a JSON object"),
    (json.dumps(samples.ECR_IMAGE_ACTION), "unknown event"),
    (json.dumps(samples.ECR_IMAGE_SCAN), "is not sha256:<64 lowercase hex>"),
    (json.dumps({**samples.ECR_IMAGE_SCAN, "detail": {**samples.ECR_IMAGE_SCAN["detail"],
                                                      "scan-status": "FAILED"}}),
     "scan-status 'FAILED'"),
    (json.dumps({k: v for k, v in samples.INSPECTOR2_SCAN.items() if k != "detail"}),
     "no 'detail'"),
    (json.dumps({k: v for k, v in samples.retarget(
        samples.ECR_IMAGE_SCAN, repository=REPO, digest="sha256:" + "a" * 64).items()
        if k not in ("account", "resources")}), "no 'account' (nor a resource ARN"),
])
def test_malformed_events_go_to_the_dead_letter_queue_with_the_reason(
        world: World, body: str, reason: str) -> None:
    proc = world.processor()
    assert handler.handle(proc, sqs_event([body])) == {"batchItemFailures": []}
    [dead] = world.drain(world.dlq_url)
    assert dead["Body"] == body
    assert reason in dead["MessageAttributes"]["reason"]["StringValue"]


def test_the_account_comes_from_the_resource_arn_when_the_event_has_none(
        world: World) -> None:
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    world.scan(digest, [], T0)
    event = samples.retarget(samples.ECR_IMAGE_SCAN, repository=REPO, digest=digest)
    del event["account"]
    assert handler.handle(proc, sqs_event([json.dumps(event)])) == {"batchItemFailures": []}
    assert proc.store.state(f"123456789012/{REPO}@{digest}") is not None


def test_a_failing_record_is_retried_alone_then_dead_lettered(world: World) -> None:
    proc = world.processor()
    good = world.push(REPO, 1, "1.0")
    world.scan(good, [], T0)
    failed = world.push(REPO, 2, "2.0")
    world.scan_status(failed, "FAILED", "the scan failed")  # retrying may help: not terminal
    bodies = [_event(samples.ECR_IMAGE_SCAN, good, "ok"),
              _event(samples.ECR_IMAGE_SCAN, failed, "failed")]
    assert handler.handle(proc, sqs_event(bodies)) == {"batchItemFailures": [
        {"itemIdentifier": "m-1"}]}
    assert world.drain(world.dlq_url) == []
    # The third failure (SCANGATE_MAX_ATTEMPTS) dead-letters it with the reason, not a loop.
    assert handler.handle(proc, sqs_event(bodies[1:], first_id=1)) == {
        "batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert handler.handle(proc, sqs_event(bodies[1:], first_id=1)) == {
        "batchItemFailures": []}
    [dead] = world.drain(world.dlq_url)
    assert "failed 3 times" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert "FAILED: the scan failed" in dead["MessageAttributes"]["reason"]["StringValue"]


def test_throttling_is_retried_with_backoff(world: World) -> None:
    """DynamoDB answers ProvisionedThroughputExceeded/ThrottlingException; moto never throttles,
    so the first two calls of a real moto-backed client are made to fail here."""
    real = boto3.client("dynamodb")
    failures = {"left": 2}

    class Throttled:
        def __getattr__(self, name: str) -> object:
            method = getattr(real, name)

            def call(**kwargs: object) -> object:
                if failures["left"]:
                    failures["left"] -= 1
                    raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"},
                                       "ResponseMetadata": {"HTTPStatusCode": 400}}, name)
                return method(**kwargs)
            return call

    waits: list[float] = []
    store = Store(Throttled(), TABLE,
                  backoff_factory=lambda: Backoff(attempts=4, sleep=waits.append,
                                                  jitter=lambda: 1.0))
    assert store.state("123456789012/x@sha256:" + "0" * 64) is None
    assert store.counter.retries == 2 and waits == [0.5, 1.0]


def test_enhanced_findings_from_the_documented_inspector_finding_are_judged(
        world: World) -> None:
    """ECR enhanced scanning answers DescribeImageScanFindings with Inspector's findings; the
    documented Inspector2 Finding event's own finding is used as one (its severity raised)."""
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    finding = json.loads(json.dumps(samples.INSPECTOR2_FINDING["detail"]))
    finding["severity"] = "CRITICAL"
    closed = json.loads(json.dumps(finding))
    closed["status"], closed["findingArn"] = "CLOSED", closed["findingArn"] + "-closed"
    closed["packageVulnerabilityDetails"]["vulnerabilityId"] = "CVE-2019-00000"
    world.scan(digest, [], T0, enhanced=[finding, closed])
    body = _event(samples.INSPECTOR2_FINDING, digest, "i")
    assert handler.handle(proc, sqs_event([body])) == {"batchItemFailures": []}
    state = proc.store.state(f"123456789012/{REPO}@{digest}")
    assert state and state["decision"] == "fail" and state["counts"]["critical"] == 1
    assert state["scan_type"] == "ENHANCED"
    [item] = proc.store.inventory(f"123456789012/{REPO}@{digest}").values()
    assert item["vulnerability_id"] == "CVE-2019-17498" and item["package"] == "libssh2"
    assert item["installed_version"] == "1.4.3-12.amzn2.2"


def test_one_sns_client_serves_every_alert_of_a_processor(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the Lambda keeps its processor between invocations, it keeps the topic's client: a
    client per alert cost more CPU than the alert (botocore builds each one afresh)."""
    made: list[str] = []
    create_client = botocore.session.Session.create_client

    def counted(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    proc = world.processor()
    digests = [world.push(REPO, n, f"{n}.0") for n in range(3)]
    for digest in digests:
        world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl")], T0)
    monkeypatch.setattr(botocore.session.Session, "create_client", counted)
    for number, digest in enumerate(digests):  # three invocations, each turning an image FAIL
        assert handler.handle(proc, sqs_event([_event(
            samples.ECR_IMAGE_SCAN, digest, f"e{number}")])) == {"batchItemFailures": []}
    assert len(world.alerts()) == 3
    assert made.count("sns") == 1, made


def test_slack_gets_the_same_alert_as_sns(world: World) -> None:
    """The Slack webhook is a real HTTP server on loopback (scangate.notify allows http only
    there); its URL comes from an SSM SecureString, as the templates configure it."""
    from tests.support import loopback

    received: list[dict] = []

    class Hook(loopback.QuietHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.read_body()))
            self.send_bytes(200, b"ok")

    with loopback.serve(Hook) as server:
        url = f"{server.url}/services/T000/B000/secret"
        boto3.client("ssm").put_parameter(Name="/scangate/monitor/slack", Value=url,
                                          Type="SecureString")
        proc = world.processor(slack_parameter="/scangate/monitor/slack")
        digest = world.push(REPO, 1, "1.0")
        world.scan(digest, [basic_finding("CVE-2026-0001", "CRITICAL", "openssl")], T0)
        handler.handle(proc, sqs_event([_event(samples.ECR_IMAGE_SCAN, digest, "s")]))
    [payload] = received
    [sns] = world.alerts()
    assert payload["text"] == sns["Subject"]
    assert "CVE-2026-0001 CRITICAL in openssl" in json.dumps(payload["blocks"])


def test_metrics_are_embedded_metric_format(world: World) -> None:
    """Each EMF document names its metrics and dimensions, and carries each as a top-level key
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
    CloudWatch_Embedded_Metric_Format_Specification.html)."""
    proc = world.processor()
    proc.metrics_stream = io.StringIO()
    digest = world.push(REPO, 1, "1.0")
    world.set_policy("thresholds:\n  critical: 0\n")
    world.scan(digest, [basic_finding("CVE-2026-0001", "HIGH", "openssl")], T0)
    handler.handle(proc, sqs_event([_event(samples.ECR_IMAGE_SCAN, digest, "m"),
                                    json.dumps(samples.SCHEDULED)]))
    documents = [json.loads(line) for line in proc.metrics_stream.getvalue().splitlines()]
    names = set()
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert isinstance(document["_aws"]["Timestamp"], int)
        assert directive["Namespace"] == "Scangate/Monitor"
        for dimension_set in directive["Dimensions"]:
            assert all(isinstance(document[d], str) for d in dimension_set)
        for metric in directive["Metrics"]:
            assert isinstance(document[metric["Name"]], float)
            names.add(metric["Name"])
    image = next(d for d in documents if "Repository" in d)
    assert image["FindingsHigh"] == 1.0 and image["ImageFailing"] == 0.0
    assert image["ProcessingLatency"] > 0
    assert {"FindingsCritical", "FailingDeployedImages", "DeployedImages"} <= names


def test_mark_deployed_command_reaches_the_monitor_through_the_rule(world: World) -> None:
    """`scangate mark-deployed` -> EventBridge (the template's DeployedRule) -> the queue ->
    the handler: the image is marked deployed and evaluated; --withdrawn unmarks it."""
    from scangate import _cli

    from tests.monitor.test_rules import template_patterns

    world.route({"DeployedRule": template_patterns()["DeployedRule"]})
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    world.scan(digest, [], T0)
    key = f"123456789012/{REPO}@{digest}"
    for flags, deployed in (([], True), (["--withdrawn"], False)):
        assert _cli.main(["mark-deployed", "--repository", REPO, "--digest", digest,
                          "--registry-id", "123456789012", *flags]) == 0
        [message] = world.drain(world.queue_url)
        assert handler.handle(proc, sqs_event([message["Body"]])) == {"batchItemFailures": []}
        state = proc.store.state(key)
        assert state and bool(state.get("deployed")) is deployed
        assert ("deployed_pk" in state) is deployed
    assert _cli.main(["mark-deployed", "--repository", REPO, "--digest", "sha256:abc"]) == 2


def test_mark_deployed_from_a_deploy_record_sends_each_deployed_digest(
        world: World, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """The pipelines pass `scangate deploy --output`'s record: every image in it reaches the
    monitor through the rule with its digest (never a tag) and its registry's account."""
    from scangate import _cli

    from tests.monitor.test_rules import template_patterns

    world.route({"DeployedRule": template_patterns()["DeployedRule"]})
    proc = world.processor()
    digests = [world.push(REPO, 1, "1.0"), world.push("team/api", 2, "2.0")]
    for digest in digests:
        world.scan(digest, [], T0)
    host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    record = tmp_path / "deploy.json"
    record.write_text(json.dumps({"cluster": "c", "namespace": "n", "images": [
        f"{host}/{REPO}@{digests[0]}", f"{host}/team/api@{digests[1]}"]}), encoding="utf-8")
    assert _cli.main(["mark-deployed", "--deploy-record", str(record)]) == 0
    messages = world.drain(world.queue_url)
    details = sorted((json.loads(m["Body"])["detail"]["repository-name"],
                      json.loads(m["Body"])["detail"]["image-digest"],
                      json.loads(m["Body"])["detail"]["registry-id"]) for m in messages)
    assert details == sorted([(REPO, digests[0], "123456789012"),
                              ("team/api", digests[1], "123456789012")])
    assert handler.handle(proc, sqs_event([m["Body"] for m in messages])) == {
        "batchItemFailures": []}
    assert proc.store.state(f"123456789012/team/api@{digests[1]}")["deployed"]
    # A tag instead of a digest, a non-ECR registry, mixing flags, no record: exit 2, one line.
    for images in ([f"{host}/{REPO}:1.0"], [f"127.0.0.1:5000/{REPO}@{digests[0]}"], []):
        record.write_text(json.dumps({"images": images}), encoding="utf-8")
        capsys.readouterr()
        assert _cli.main(["mark-deployed", "--deploy-record", str(record)]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert _cli.main(["mark-deployed", "--deploy-record", str(record),
                      "--digest", digests[0]]) == 2
    assert _cli.main(["mark-deployed", "--deploy-record", str(tmp_path / "absent.json")]) == 2
    assert _cli.main(["mark-deployed", "--repository", REPO]) == 2
    assert world.drain(world.queue_url) == []


def test_an_inspector_update_without_a_new_scan_time_is_still_news(world: World) -> None:
    """Continuous rescans: Inspector updates findings (a new CVE) while the image's
    imageScanCompletedAt stays; the finding's updatedAt makes the result newer."""
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    key = f"123456789012/{REPO}@{digest}"

    def finding(vuln: str, severity: str, updated: str) -> dict:
        doc = json.loads(json.dumps(samples.INSPECTOR2_FINDING["detail"]))
        doc["severity"], doc["updatedAt"] = severity, updated
        doc["findingArn"] += vuln
        doc["packageVulnerabilityDetails"]["vulnerabilityId"] = vuln
        return doc

    world.scan(digest, [], T0, enhanced=[finding("CVE-2026-0001", "LOW", "2026-01-05T10:00:00Z")])
    handler.handle(proc, sqs_event([_event(samples.INSPECTOR2_SCAN, digest, "a")]))
    world.scan(digest, [], T0, enhanced=[
        finding("CVE-2026-0001", "LOW", "2026-01-05T10:00:00Z"),
        finding("CVE-2026-0002", "CRITICAL", "2026-01-06T08:00:00Z")])
    handler.handle(proc, sqs_event([_event(samples.INSPECTOR2_FINDING, digest, "b")]))
    state = proc.store.state(key)
    assert state and state["decision"] == "fail"
    assert state["last_scan"] == "2026-01-06T08:00:00.000Z"
    [alert] = world.alerts()
    assert "CVE-2026-0002" in alert["Message"]
    # The documented sample's console-style times ("Dec 3, 2021, ...") are not times: ignored.
    world.scan(digest, [], T0, enhanced=[finding("CVE-2026-0003", "LOW", "Dec 3, 2021, 6:02 PM")])
    handler.handle(proc, sqs_event([_event(samples.INSPECTOR2_FINDING, digest, "c")]))
    assert proc.store.state(key)["last_scan"] == "2026-01-06T08:00:00.000Z"  # older: ignored


def test_direct_eventbridge_invocation_is_processed_and_anything_else_refused(
        world: World) -> None:
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    world.scan(digest, [], T0)
    event = samples.retarget(samples.ECR_IMAGE_SCAN, repository=REPO, digest=digest)
    assert handler.handle(proc, event) == {"batchItemFailures": []}
    assert proc.store.state(f"123456789012/{REPO}@{digest}") is not None
    with pytest.raises(handler.NotAnSqsBatch):
        handler.handle(proc, {"hello": "world"})
    failed = world.push(REPO, 2, "2.0")
    world.scan_status(failed, "FAILED", "the scan failed")
    with pytest.raises(handler.ScangateError):  # Lambda's async retry takes it from here
        handler.handle(proc, samples.retarget(samples.ECR_IMAGE_SCAN, repository=REPO,
                                              digest=failed))
