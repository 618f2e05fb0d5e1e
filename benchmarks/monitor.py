"""Benchmark of the registry monitor: events per second by one processor against a local moto
server, and DynamoDB requests per event.

    .venv/bin/python -m benchmarks.monitor [--images 50] [--findings 20]

Three kinds of event, each measured over every image: the first scan of an image (all findings
new: inventory, history and state written), a rescan with changes (a fifth of the findings
fixed, as many new), and a duplicate delivery (nothing to write). One processor in this
process, as one Lambda container; moto answers every call over HTTP on loopback, so the rate
is moto's plus scangate's cost, not AWS's (DynamoDB answers in single-digit milliseconds).
DynamoDB requests are counted on the wire with botocore's ``before-send`` hook (every HTTP
request, retries included), by operation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tools.demo import monitor as stack_module
from tools.demo.procs import moto_server


def _finding(number: int, severity: str) -> dict[str, Any]:
    return {"name": f"CVE-2026-{number:05d}", "severity": severity, "uri": "",
            "description": "", "attributes": [{"key": "package_name", "value": f"pkg{number}"},
                                              {"key": "package_version", "value": "1.0"}]}


def _manifest(number: int) -> str:
    layer = f"sha256:{number:064x}"
    return json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                  "size": 1, "digest": layer},
                       "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                   "size": 1, "digest": layer}]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.monitor")
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--findings", type=int, default=20)
    args = parser.parse_args(argv)
    log = Path(tempfile.mkdtemp(prefix="scangate-bench-")) / "moto.log"
    with moto_server(log) as endpoint, stack_module.pointed_at(endpoint):
        import boto3
        from scangate.monitor import handler
        from scangate.monitor.processor import Config, Processor

        stack = stack_module.Stack("version: 1\nthresholds:\n  critical: 0\n  high: 5\n")
        ecr = boto3.client("ecr")
        ecr.create_repository(repositoryName="bench/app")
        digests = []
        for number in range(args.images):
            image = ecr.put_image(repositoryName="bench/app", imageManifest=_manifest(number),
                                  imageTag=f"v{number}")["image"]["imageId"]
            digests.append(image["imageDigest"])
        config = Config(table=stack_module.TABLE, policy_parameter=stack_module.POLICY_PARAMETER,
                        queue_url=stack.queue, dlq_url=stack.dlq, topic_arn=stack.topic,
                        region=stack_module.REGION)
        processor = Processor.from_config(config)
        processor.metrics_stream = io.StringIO()
        sent: list[str] = []

        def count(request: Any, **_: Any) -> None:
            target = request.headers.get("X-Amz-Target", b"")
            sent.append(target.decode().rsplit(".", 1)[-1] if target else "?")

        processor.store.client.meta.events.register("before-send.dynamodb", count)
        severities = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
        base = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)

        def scan(round_number: int) -> None:
            for number, digest in enumerate(digests):
                shift = round_number * max(1, args.findings // 5)
                findings = [_finding(number * 1000 + shift + i, severities[i % 4])
                            for i in range(args.findings)]
                ecr.batch_delete_image(repositoryName="bench/app",
                                       imageIds=[{"imageDigest": digest}])
                ecr.put_image(repositoryName="bench/app", imageManifest=_manifest(number),
                              imageTag=f"v{number}", imageDigest=digest)
                ecr.start_image_scan(repositoryName="bench/app", imageId={"imageDigest": digest})
                stack_module.seed_scan(endpoint, "bench/app", digest, findings,
                                        base + dt.timedelta(hours=round_number))

        def deliver(label: str) -> dict[str, Any]:
            bodies = [json.dumps({
                "version": "0", "id": f"{label}-{n}", "source": "aws.ecr",
                "detail-type": "ECR Image Scan", "account": stack_module.ACCOUNT,
                "time": "2026-05-01T00:00:00Z", "region": stack_module.REGION,
                "resources": [], "detail": {"scan-status": "COMPLETE",
                                            "repository-name": "bench/app",
                                            "image-digest": d}}) for n, d in enumerate(digests)]
            before = len(sent)
            retries = processor.store.counter.retries
            start = time.perf_counter()
            failures = []
            with open(os.devnull, "w", encoding="utf-8") as quiet:
                import contextlib

                with contextlib.redirect_stderr(quiet):
                    for first in range(0, len(bodies), 10):
                        records = [{"messageId": str(first + i), "body": b, "attributes": {}}
                                   for i, b in enumerate(bodies[first:first + 10])]
                        failures += handler.handle(processor, {"Records": records})[
                            "batchItemFailures"]
            seconds = time.perf_counter() - start
            if failures:
                raise SystemExit(f"{label}: {len(failures)} records failed")
            return {"events": len(bodies), "seconds": round(seconds, 2),
                    "events_per_second": round(len(bodies) / seconds, 1),
                    "dynamodb_requests_per_event": round((len(sent) - before) / len(bodies), 2),
                    "dynamodb_requests_by_operation": dict(sorted(Counter(sent[before:]).items())),
                    "dynamodb_retries": processor.store.counter.retries - retries}

        scan(0)
        results = {"first scan": deliver("first")}
        results["duplicate"] = deliver("duplicate")
        scan(1)
        results["rescan with changes"] = deliver("rescan")
    print(json.dumps({"images": args.images, "findings_per_image": args.findings,
                      "python": platform.python_version(), "cpus": os.cpu_count(),
                      "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
