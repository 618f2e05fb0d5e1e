"""The monitor's AWS world on a moto server: table, queues, topic, policy, images, scans.

moto does not scan images: a scan result is seeded through moto's
``/moto-api/static/ecr/scan-finding-results`` and moto then answers it for that image forever.
A rescan with new findings is therefore modelled the only way moto allows: the image is
deleted and put again (same manifest, same digest) and the new result seeded. The table comes
from the CloudFormation template (templates/aws/scangate-monitoring.yaml), so the code is
tested against the keys and indexes that get deployed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from scangate.monitor.processor import Config, Processor
from scangate.monitor.store import Store

from tests.support.moto_server import MotoServer
from tools.demo.monitor import (  # noqa: F401 - re-exported
    ACCOUNT,
    CFN,
    REGION,
    TABLE,
    _CfnLoader,
    cfn_template,
    create_resources,
    seed_scan,
    table_definition,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY_NAME = "/scangate/monitor/policy"


def _manifest(number: int) -> str:
    config = "sha256:" + hashlib.sha256(f"config-{number}".encode()).hexdigest()
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                   "digest": config},
        # moto derives the digest from the layer digests only: one distinct layer per image.
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 1, "digest": config.replace("sha256:", "sha256:0") [:71]}],
    })


def basic_finding(name: str, severity: str, package: str, version: str = "1.0") -> dict[str, Any]:
    return {"name": name, "severity": severity, "uri": f"https://cve.test/{name}",
            "description": f"{name} in {package}",
            "attributes": [{"key": "package_name", "value": package},
                           {"key": "package_version", "value": version}]}


@dataclass
class World:
    moto: MotoServer
    queue_url: str = ""
    dlq_url: str = ""
    alerts_url: str = ""
    topic_arn: str = ""
    images: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # digest -> repo, n, tag
    # The world's own clients, each made at its first use: a thousand-event run pushes and
    # rescans hundreds of times. Processors get clients of their own (tests hook into those, and
    # tests/aws/recorder.py records the clients made inside its block: the processors').
    clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3.client(service)
        return self.clients[service]

    @classmethod
    def create(cls, moto: MotoServer) -> World:
        made = create_resources()
        world = cls(moto, queue_url=made.queue, dlq_url=made.dlq, alerts_url=made.inbox,
                    topic_arn=made.topic)
        world.set_policy("thresholds:\n  critical: 0\n  high: 1\n")
        return world

    def set_policy(self, thresholds_yaml: str) -> int:
        ssm = self.client("ssm")
        version: int = ssm.put_parameter(Name=POLICY_NAME, Type="SecureString", Overwrite=True,
                                         Value="version: 1\n" + thresholds_yaml)["Version"]
        return version

    def config(self, **overrides: Any) -> Config:
        values: dict[str, Any] = {"table": TABLE, "policy_parameter": POLICY_NAME,
                                  "queue_url": self.queue_url, "dlq_url": self.dlq_url,
                                  "topic_arn": self.topic_arn, "region": REGION}
        values.update(overrides)
        return Config(**values)

    def processor(self, policy_ttl: float = 0.0, **overrides: Any) -> Processor:
        proc = Processor(config=self.config(**overrides), ecr=boto3.client("ecr"),
                         store=Store(boto3.client("dynamodb"), TABLE), sqs=boto3.client("sqs"),
                         policy_ttl=policy_ttl)
        return proc

    def push(self, repository: str, number: int, tag: str) -> str:
        ecr = self.client("ecr")
        try:
            ecr.create_repository(repositoryName=repository)
        except ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        digest = str(ecr.put_image(repositoryName=repository, imageManifest=_manifest(number),
                                   imageTag=tag)["image"]["imageId"]["imageDigest"])
        self.images[digest] = (repository, number, tag)
        return digest

    def scan(self, digest: str, findings: list[dict[str, Any]], completed: dt.datetime,
             manifest: str | None = None, enhanced: list[dict[str, Any]] | None = None) -> None:
        """A new scan result for the image (see the module docstring for why it is re-put)."""
        repository, number, tag = self.images[digest]
        ecr = self.client("ecr")
        ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
        ecr.put_image(repositoryName=repository, imageManifest=manifest or _manifest(number),
                      imageTag=tag, imageDigest=digest)
        ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})
        seed_scan(self.moto.url, repository, digest, findings, completed, enhanced=enhanced)

    def scan_status(self, digest: str, status: str, description: str) -> None:
        """ECR answers this scan status for the image, with no findings (the shape of
        DescribeImageScanFindings for a scan that has none: ECR API Reference)."""
        repository, number, tag = self.images[digest]
        ecr = self.client("ecr")
        ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
        ecr.put_image(repositoryName=repository, imageManifest=_manifest(number), imageTag=tag,
                      imageDigest=digest)
        ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})
        result = {"registryId": ACCOUNT, "repositoryName": repository,
                  "imageId": {"imageDigest": digest},
                  "imageScanStatus": {"status": status, "description": description},
                  "imageScanFindings": {}}
        body = json.dumps({"region": REGION, "results": [result]}).encode()
        request = urllib.request.Request(
            self.moto.url + "/moto-api/static/ecr/scan-finding-results", data=body,
            method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60):
            pass

    def route(self, patterns: dict[str, dict[str, Any]]) -> None:
        """EventBridge rules with these patterns on the default bus, each targeting the events
        queue, as the templates' rules do."""
        events = self.client("events")
        arn = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for name, pattern in patterns.items():
            events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])

    def drain(self, url: str) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           MessageAttributeNames=["All"],
                                           WaitTimeSeconds=0).get("Messages") or []
            if not messages:
                return out
            out.extend(messages)
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)])

    def alerts(self) -> list[dict[str, Any]]:
        """SNS alerts as delivered to the subscribed queue: (subject, message) envelopes."""
        return [json.loads(m["Body"]) for m in self.drain(self.alerts_url)]


def sqs_event(bodies: list[str], first_id: int = 0, receive_count: int = 1) -> dict[str, Any]:
    """The event Lambda hands the function for an SQS batch (the fields the handler reads)."""
    return {"Records": [
        {"messageId": f"m-{first_id + i}", "receiptHandle": f"r-{first_id + i}", "body": body,
         "attributes": {"ApproximateReceiveCount": str(receive_count)},
         "eventSource": "aws:sqs"} for i, body in enumerate(bodies)]}
