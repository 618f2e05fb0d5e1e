"""A lifecycle expiry storm: 1,000 CLOSED finding events for deleted images, nothing dead-lettered.

An ECR lifecycle rule expires 50 images of 20 findings each at once; Inspector then closes every
finding of every deleted image, one CLOSED ``Inspector2 Finding`` per finding (Amazon Inspector
docs, "EventBridge event schema for Amazon Inspector events"; ../shared/notes/platform-rules.md,
AWS). The 1,000 events reach the queue in no particular order (a standard queue) and are
delivered as Lambda's event source does (tests/monitor/event_source.py). Every image must end
with exactly one terminal record, the five deployed ones with one alert each and out of the
deployed set, and no event may fail or reach the dead-letter queue. moto has no lifecycle
engine, so the expiry itself is BatchDeleteImage, the call that removes the images.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import random

import boto3
import pytest
from scangate.monitor import handler

from tests.aws.recorder import aws_calls
from tests.monitor import samples
from tests.monitor.event_source import poll, send_all
from tests.monitor.world import ACCOUNT, World, basic_finding

IMAGES = 50
FINDINGS = 20
DEPLOYED = 5
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]

pytestmark = pytest.mark.slow  # about 3,500 requests to moto


def _event(digest: str, event_id: str) -> str:
    event = samples.retarget(samples.INSPECTOR2_FINDING, repository="team/app", digest=digest,
                             event_id=event_id)
    event["detail"]["status"] = "CLOSED"
    return json.dumps(event)


def test_a_thousand_closed_events_for_expired_images(world: World) -> None:
    digests = [world.push("team/app", n, f"build-{n}") for n in range(IMAGES)]
    for n, digest in enumerate(digests):
        # What the inventory held before does not matter to the storm: one finding each keeps
        # moto's transactions (which copy every table to roll back) cheap.
        world.scan(digest, [basic_finding(f"CVE-2026-{n:03d}", SEVERITIES[n % 4], "openssl")],
                   T0)
    deployed = digests[:DEPLOYED]
    first = [json.dumps({
        "version": "0", "id": f"d{n}", "source": "scangate.monitor",
        "detail-type": "Scangate Image Deployed", "account": ACCOUNT,
        "time": "2026-03-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"repository-name": "team/app", "image-digest": d, "deployed": True}})
        for n, d in enumerate(deployed)]
    first += [_event(d, f"seen-{n}").replace('"CLOSED"', '"ACTIVE"')
              for n, d in enumerate(digests[DEPLOYED:])]
    quiet = io.StringIO()
    proc = world.processor(policy_ttl=60.0)
    proc.metrics_stream = quiet
    with open(os.devnull, "w", encoding="utf-8") as devnull, \
            contextlib.redirect_stderr(devnull):
        send_all(world.queue_url, first)
        assert poll(world.queue_url, lambda e: handler.handle(proc, e)).failures == []
        world.alerts()  # the first evaluations' FAIL alerts
        assert len(proc.store.deployed()) == DEPLOYED

        ecr = boto3.client("ecr")
        for start in range(0, IMAGES, 10):  # BatchDeleteImage takes up to 100 ids
            ecr.batch_delete_image(repositoryName="team/app", imageIds=[
                {"imageDigest": d} for d in digests[start:start + 10]])
        storm = [_event(d, f"closed-{n}-{i}") for n, d in enumerate(digests)
                 for i in range(FINDINGS)]
        random.Random(20260301).shuffle(storm)
        assert len(storm) == 1000
        send_all(world.queue_url, storm)
        with aws_calls() as calls:
            proc = world.processor(policy_ttl=60.0)
            proc.metrics_stream = quiet
            polled = poll(world.queue_url, lambda e: handler.handle(proc, e))
    assert polled.records == 1000 and polled.failures == []
    assert world.drain(world.dlq_url) == []
    # One record per image: one transaction (a state update and a history Put) each, whatever
    # the number of its events; nothing else is written.
    writes = [c.action for c in calls if c.action in (
        "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")]
    # (and the five alerts' delivered marks cleared).
    assert sorted(writes) == sorted(["dynamodb:PutItem", "dynamodb:UpdateItem"] * IMAGES
                                    + ["dynamodb:UpdateItem"] * DEPLOYED)
    for digest in digests:
        key = f"{ACCOUNT}/team/app@{digest}"
        state = proc.store.state(key)
        assert state and state["terminal"] == "IMAGE_DELETED", digest
        assert [h["terminal"] for h in proc.store.history(key) if h.get("terminal")] == [
            "IMAGE_DELETED"]
    alerts = world.alerts()
    assert sorted(a["Subject"].rsplit("@", 1)[1] for a in alerts) == sorted(
        d[:19] for d in deployed)
    assert proc.store.deployed() == []
    emf = [json.loads(line) for line in quiet.getvalue().splitlines()]
    assert sum(int(d.get("ImageDeleted", 0)) for d in emf) == IMAGES
