"""An event about another account's registry is read with that registry id.

With a delegated Inspector administrator (or a registry shared across accounts) the event's
``account`` is not the registry that holds the image: Inspector names it in the resource's
``awsEcrContainerImage.registry``. Every ECR call must carry it as ``registryId``; without it ECR
reads the caller's own registry, where the repository is missing (or is another one with the
same name). moto holds one account, so the image lives in 123456789012 and the event comes from
999999999999; the recorded calls (botocore event hooks, tests/aws/recorder.py) show which
registry each call asked for.
"""

from __future__ import annotations

import datetime as dt
import json

from scangate.monitor import handler

from tests.aws.recorder import aws_calls
from tests.monitor import samples
from tests.monitor.world import World, sqs_event

REGISTRY = "123456789012"


def test_every_ecr_call_names_the_events_registry(world: World) -> None:
    digest = world.push("team/app", 1, "1.0")
    world.scan(digest, [], dt.datetime(2026, 1, 5, tzinfo=dt.UTC), enhanced=[])
    event = samples.retarget(samples.INSPECTOR2_FINDING, repository="team/app", digest=digest,
                             event_id="x1", account="999999999999")
    event["detail"]["resources"][0]["details"]["awsEcrContainerImage"]["registry"] = REGISTRY
    with aws_calls() as calls:
        proc = world.processor()
        assert handler.handle(proc, sqs_event([json.dumps(event)])) == {"batchItemFailures": []}
    ecr = [c for c in calls if c.service == "ecr"]
    assert {c.action for c in ecr} >= {"ecr:DescribeImages", "ecr:DescribeImageScanFindings"}
    assert [c for c in ecr if c.params.get("registryId") != REGISTRY] == []
    assert proc.store.state(f"{REGISTRY}/team/app@{digest}") is not None
