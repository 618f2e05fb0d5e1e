"""The demo's last step: the registry keeps being watched after the release.

On a local moto server, set up as templates/aws/scangate-monitoring.yaml deploys it (the table
with its keys and indexes, the event and dead-letter queues, the alerts topic, the policy in
SSM, the EventBridge rules with their patterns): the pushed image (same manifest, same digest)
is in ECR and marked deployed; its first scan holds the findings the gate passed; then a rescan
finds a new CRITICAL, as when a CVE is published after the release. Each event goes through
EventBridge into the queue and from there, in a Lambda-shaped SQS batch, to the monitor's
handler (scangate.monitor.handler): the image turns FAIL and exactly one alert reaches SNS.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.demo.procs import REPO_ROOT, DemoError, aws_env

CFN = REPO_ROOT / "templates" / "aws" / "scangate-monitoring.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
POLICY_PARAMETER = "/scangate/policy"
TABLE = "scangate-monitor"
# moto's matcher cannot evaluate the Inspector2 Finding rule's array pattern (tests/monitor
# teach it EventBridge's array rules; the demo's moto is stock), and the demo sends none.
DEMO_RULES = ("EcrScanRule", "DeployedRule")
NEW_CVE = "CVE-2099-0001"


class _CfnLoader(yaml.SafeLoader):
    """CloudFormation YAML: short-form intrinsics (!Ref, !Sub, ...) become {name: value}."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    assert isinstance(node, yaml.MappingNode)
    return {suffix: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_multi_constructor("!", _intrinsic)  # type: ignore[no-untyped-call]


def cfn_template(path: Path = CFN) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    return doc


def table_definition() -> dict[str, Any]:
    props = cfn_template()["Resources"]["Table"]["Properties"]
    return {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
                                  "BillingMode")}


@contextlib.contextmanager
def pointed_at(endpoint: str) -> Iterator[None]:
    """This process's AWS environment pointed at moto for the block (the handler runs here)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(aws_env(endpoint, REGION))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _basic_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The scanned report's vulnerabilities as ECR basic-scan findings (ECR's shape)."""
    findings = []
    for result in report.get("Results") or []:
        for vuln in result.get("Vulnerabilities") or []:
            findings.append({
                "name": vuln["VulnerabilityID"],
                # ECR's basic scanning says UNDEFINED where Trivy says UNKNOWN.
                "severity": "UNDEFINED" if vuln["Severity"] == "UNKNOWN" else vuln["Severity"],
                "uri": vuln.get("PrimaryURL", ""), "description": vuln.get("Title", ""),
                "attributes": [{"key": "package_name", "value": vuln["PkgName"]},
                               {"key": "package_version", "value": vuln["InstalledVersion"]}]})
    return findings


def seed_scan(endpoint: str, repository: str, digest: str, findings: list[dict[str, Any]],
              completed: dt.datetime, *, enhanced: list[dict[str, Any]] | None = None) -> None:
    """ECR's scan result for the image (moto does not scan: results are seeded through its
    documented /moto-api/static/ecr/scan-finding-results, and moto answers that result for the
    image from then on). ``enhanced``: an enhanced (Inspector) scan, status ACTIVE, its findings
    under enhancedFindings."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    stamp = completed.strftime("%Y-%m-%dT%H:%M:%SZ")
    result: dict[str, Any] = {
        "registryId": ACCOUNT, "repositoryName": repository, "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed."},
        "imageScanFindings": {"imageScanCompletedAt": stamp, "vulnerabilitySourceUpdatedAt": stamp,
                              "findings": findings, "findingSeverityCounts": counts}}
    if enhanced is not None:
        result["imageScanStatus"]["status"] = "ACTIVE"
        result["imageScanFindings"]["enhancedFindings"] = enhanced
        del result["imageScanFindings"]["findings"]
    body = json.dumps({"region": REGION, "results": [result]}).encode()
    request = urllib.request.Request(  # noqa: S310 - http:// to the local moto server
        endpoint + "/moto-api/static/ecr/scan-finding-results", data=body, method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60):  # noqa: S310 - the local moto server
        pass


@dataclass(frozen=True, slots=True)
class Resources:
    """What the monitor works with, made on moto: event queue, dead letters, alerts topic and
    the queue subscribed to it (standing in for the e-mail or chat an alert goes to)."""

    queue: str
    dlq: str
    topic: str
    inbox: str


def create_resources() -> Resources:
    """The table (keys and indexes from the template), the queues, the topic, a subscriber."""
    import boto3

    boto3.client("dynamodb").create_table(TableName=TABLE, **table_definition())
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="scangate-monitor-events")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="scangate-monitor-dlq")["QueueUrl"]
    inbox = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox,
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="scangate-monitor-alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    return Resources(queue=queue, dlq=dlq, topic=topic, inbox=inbox)


class Stack:
    """The monitoring stack's pieces on moto, and the event path through them."""

    def __init__(self, policy_text: str) -> None:
        import boto3

        self.boto3 = boto3
        made = create_resources()
        self.queue, self.dlq, self.topic, self.inbox = made.queue, made.dlq, made.topic, made.inbox
        boto3.client("ssm").put_parameter(Name=POLICY_PARAMETER, Type="SecureString",
                                          Value=policy_text)
        events = boto3.client("events")
        resources = cfn_template()["Resources"]
        for name in DEMO_RULES:
            pattern = resources[name]["Properties"]["EventPattern"]
            events.put_rule(Name=name, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": self._arn(self.queue)}])

    def _arn(self, url: str) -> str:
        attributes = self.boto3.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return str(attributes["QueueArn"])

    def put_event(self, source: str, kind: str, detail: dict[str, Any],
                  resources: list[str]) -> None:
        response = self.boto3.client("events").put_events(Entries=[{
            "Source": source, "DetailType": kind, "Detail": json.dumps(detail),
            "Resources": resources}])
        if response["FailedEntryCount"]:
            raise DemoError(f"EventBridge (moto) refused the {kind} event: {response}")

    def deliver(self) -> dict[str, Any]:
        """What Lambda's SQS event source does: receive a batch, invoke, delete the done."""
        from scangate.monitor import handler
        from scangate.monitor.processor import Config, Processor

        sqs = self.boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10,
                                       AttributeNames=["All"]).get("Messages") or []
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"], "attributes": m.get("Attributes", {}),
                    "eventSource": "aws:sqs"} for m in messages]
        config = Config(table=TABLE, policy_parameter=POLICY_PARAMETER, queue_url=self.queue,
                        dlq_url=self.dlq, topic_arn=self.topic, region=REGION)
        with open(os.devnull, "w", encoding="utf-8") as quiet:
            processor = Processor.from_config(config)
            processor.metrics_stream = quiet
            with contextlib.redirect_stderr(quiet):
                result = handler.handle(processor, {"Records": records})
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return {"records": len(records), "failed": sorted(failed)}

    def alerts(self) -> list[dict[str, Any]]:
        sqs = self.boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.inbox,
                                       MaxNumberOfMessages=10).get("Messages") or []
        return [json.loads(m["Body"]) for m in messages]

    def state(self, key: str) -> dict[str, Any]:
        from scangate.monitor.store import Store

        store = Store(self.boto3.client("dynamodb"), TABLE)
        found = store.state(key)
        if found is None:
            raise DemoError(f"monitor: no state recorded for {key}")
        return found


def run(endpoint: str, *, policy_text: str, repository: str, tag: str, digest: str,
        manifest: bytes, report: dict[str, Any], say: Any) -> dict[str, Any]:
    """The monitoring scenario on the moto server at ``endpoint``; what it observed."""
    with pointed_at(endpoint):
        stack = Stack(policy_text)
        ecr = stack.boto3.client("ecr")
        ecr.create_repository(repositoryName=repository)
        # PutImage's imageDigest: ECR records the pushed manifest under its own digest.
        stored = ecr.put_image(repositoryName=repository, imageManifest=manifest.decode(),
                               imageTag=tag, imageDigest=digest)["image"]["imageId"]
        if stored["imageDigest"] != digest:
            raise DemoError(f"moto stored {stored['imageDigest']}, not the pushed {digest}")
        key = f"{ACCOUNT}/{repository}@{digest}"
        # As AWS sends them: the repository's ARN in resources (moto's SQS target drops the
        # event's account field; the monitor then reads the account from this ARN).
        arn = [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}"]
        released = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
        scan_detail = {"scan-status": "COMPLETE", "repository-name": repository,
                       "image-digest": digest, "image-tags": [tag],
                       "finding-severity-counts": {}}

        findings = _basic_findings(report)
        ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})
        seed_scan(endpoint, repository, digest, findings, released)
        stack.put_event("scangate.monitor", "Scangate Image Deployed",
                        {"repository-name": repository, "image-digest": digest}, arn)
        stack.put_event("aws.ecr", "ECR Image Scan", scan_detail, arn)
        first = stack.deliver()
        if not first["records"] or first["failed"]:
            raise DemoError(f"monitor: events not processed: {first}")
        dead_now = stack.boto3.client("sqs").receive_message(
            QueueUrl=stack.dlq, MessageAttributeNames=["All"]).get("Messages")
        if dead_now:
            reason = dead_now[0]["MessageAttributes"]["reason"]["StringValue"]
            raise DemoError(f"monitor: an event was dead-lettered: {reason}")
        before = stack.state(key)
        say(f"deployed {repository}@{digest[:19]}...: ECR scan of the release "
            f"({len(findings)} findings) -> {before['decision'].upper()}, "
            f"{first['records']} events processed")
        if stack.alerts():
            raise DemoError("monitor: an alert was sent for an unchanged image")

        # A day later a new CVE is published: the rescan finds it in the running image. (moto
        # answers one scan result per image, so the image is stored again, same digest.)
        new = {"name": NEW_CVE, "severity": "CRITICAL", "uri": f"https://www.cve.org/{NEW_CVE}",
               "description": "demo: a CVE published after the release",
               "attributes": [{"key": "package_name", "value": "openssl"},
                              {"key": "package_version", "value": "3.0.15-1~deb12u1"}]}
        ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
        ecr.put_image(repositoryName=repository, imageManifest=manifest.decode(), imageTag=tag,
                      imageDigest=digest)
        ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})
        seed_scan(endpoint, repository, digest, [*findings, new],
                   released + dt.timedelta(days=1))
        stack.put_event("aws.ecr", "ECR Image Scan", scan_detail, arn)
        stack.put_event("aws.ecr", "ECR Image Scan", scan_detail, arn)  # EventBridge may repeat it
        second = stack.deliver()
        after = stack.state(key)
        alerts = stack.alerts()
        dead = stack.boto3.client("sqs").receive_message(QueueUrl=stack.dlq).get("Messages")
    say(f"rescan finds {NEW_CVE} (CRITICAL): {second['records']} events (one a duplicate) -> "
        f"{after['decision'].upper()}")
    for alert in alerts:
        say(f"alert (SNS): {alert.get('Subject', '')}")
    return {
        "digest": digest,
        "decision_before": before["decision"],
        "decision_after": after["decision"],
        "alerts": [a.get("Subject", "") for a in alerts],
        "dead_letters": len(dead or []),
        "failed_records": first["failed"] + second["failed"],
    }
