"""1,000 events through the handler against moto: duplicates, reordering, 5% malformed.

Eight rounds. In each, every image is rescanned (new findings, new scan time) and then a
shuffled mix is delivered in SQS batches of 10: one documented-sample event per image, exact
duplicates of this round's events, late replays of earlier rounds' events, and malformed ones.
Round 0 also marks five images deployed; round 5 also raises the HIGH limit (a new policy
version). The expected state is computed here from the scans alone: each image's decision per
round, the alerts that follow from the changes, and the inventory's first seen / last seen /
fixed at per finding.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from typing import Any

import pytest
from scangate.monitor import handler

from tests.monitor import samples
from tests.monitor.world import ACCOUNT, World, basic_finding, sqs_event

ROUNDS = 8
IMAGES = 25
DEPLOYED = 5
PER_ROUND = 125  # 8 x 125 = 1,000 events
MALFORMED_PER_ROUND = 6  # 48 + the 2 below = 50 = 5%
POLICY_CHANGE_ROUND = 5
POOL = [("CVE-2026-1001", "CRITICAL", "openssl"), ("CVE-2026-1002", "CRITICAL", "glibc"),
        ("CVE-2026-2001", "HIGH", "curl"), ("CVE-2026-2002", "HIGH", "zlib1g"),
        ("CVE-2026-2003", "HIGH", "libxml2"), ("CVE-2026-3001", "MEDIUM", "tar")]
T0 = dt.datetime(2026, 2, 1, 0, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.slow  # about 6,000 requests to moto (about 3 minutes on 2 cores)


def _malformed(rng: random.Random, number: int, digest: str) -> str:
    kinds = [
        lambda: "{not json",
        lambda: json.dumps([1, 2]),
        lambda: json.dumps({**samples.ECR_IMAGE_ACTION, "id": f"bad-{number}"}),
        lambda: json.dumps(samples.retarget(samples.ECR_IMAGE_SCAN, repository="team/app",
                                            digest=digest[:-2], event_id=f"bad-{number}")),
        lambda: json.dumps({k: v for k, v in samples.retarget(
            samples.INSPECTOR2_FINDING, repository="team/app", digest=digest,
            event_id=f"bad-{number}").items() if k != "detail"}),
        lambda: json.dumps(samples.retarget(samples.INSPECTOR2_SCAN, repository="Team/App",
                                            digest=digest, event_id=f"bad-{number}")),
    ]
    return kinds[number % len(kinds)]()


def test_thousand_events(world: World) -> None:
    rng = random.Random(20260201)
    repos = ["team/app", "team/api", "platform/base"]
    digests = [world.push(repos[n % 3], n, f"1.{n}") for n in range(IMAGES)]
    repo_of = {d: repos[n % 3] for n, d in enumerate(digests)}
    deployed = set(digests[:DEPLOYED])
    proc = world.processor(policy_ttl=3600.0)
    proc.metrics_stream = io.StringIO()

    present: dict[str, list[set[int]]] = {d: [] for d in digests}  # per round: pool indexes
    sent_malformed: list[str] = []
    earlier: list[str] = []
    failures: list[Any] = []
    total = 0
    for round_number in range(ROUNDS):
        if round_number == POLICY_CHANGE_ROUND:
            world.set_policy("thresholds:\n  critical: 0\n  high: 2\n")
            proc.forget_policy()  # as when the one-minute cache runs out
        when = T0 + dt.timedelta(hours=round_number)
        for digest in digests:
            chosen = {i for i in range(len(POOL)) if rng.random() < 0.4}
            present[digest].append(chosen)
            world.scan(digest, [basic_finding(*POOL[i]) for i in sorted(chosen)], when)
        primary = []
        for number, digest in enumerate(digests):
            if round_number == 0 and digest in deployed:
                event: dict[str, Any] = {
                    "version": "0", "id": f"deploy-{number}", "source": "scangate.monitor",
                    "detail-type": "Scangate Image Deployed", "account": ACCOUNT,
                    "time": when.isoformat(), "region": "us-east-1", "resources": [],
                    "detail": {"repository-name": repo_of[digest], "image-digest": digest}}
            else:
                sample = rng.choice(list(samples.ALL.values()))
                event = samples.retarget(sample, repository=repo_of[digest], digest=digest,
                                         event_id=f"r{round_number}-{number}")
            primary.append(json.dumps(event))
        malformed = [_malformed(rng, len(sent_malformed) + i, rng.choice(digests))
                     for i in range(MALFORMED_PER_ROUND + (2 if round_number == 0 else 0))]
        sent_malformed.extend(malformed)
        fill = PER_ROUND - len(primary) - len(malformed)
        duplicates = [rng.choice(primary) for _ in range(fill // 2)]
        replays = [rng.choice(earlier or primary) for _ in range(fill - len(duplicates))]
        batch = primary + duplicates + replays + malformed
        rng.shuffle(batch)
        earlier.extend(primary)
        for start in range(0, len(batch), 10):
            result = handler.handle(proc, sqs_event(batch[start:start + 10], first_id=total))
            failures.extend(result["batchItemFailures"])
            total += len(batch[start:start + 10])
    assert total == 1000 and len(sent_malformed) == 50

    # Nothing lost: no record left for redelivery, nothing re-queued.
    assert failures == []
    assert world.drain(world.queue_url) == []

    # Every malformed event in the DLQ, with its reason; nothing else there.
    dead = world.drain(world.dlq_url)
    assert sorted(m["Body"] for m in dead) == sorted(sent_malformed)
    assert all(m["MessageAttributes"]["reason"]["StringValue"] for m in dead)

    # The expected decisions, alerts and inventory, from the scans alone.
    expected_alerts: dict[str, list[str]] = {}
    for digest in digests:
        previous = None
        kinds = []
        for round_number, chosen in enumerate(present[digest]):
            limit = 2 if round_number >= POLICY_CHANGE_ROUND else 1
            critical = sum(1 for i in chosen if POOL[i][1] == "CRITICAL")
            high = sum(1 for i in chosen if POOL[i][1] == "HIGH")
            decision = "fail" if critical > 0 or high > limit else "pass"
            before = present[digest][round_number - 1] if round_number else set()
            new_critical = any(POOL[i][1] == "CRITICAL" for i in chosen - before)
            if decision == "fail" and previous != "fail":
                kinds.append("turned FAIL")
            elif decision == "pass" and previous == "fail":
                kinds.append("recovered")
            elif digest in deployed and new_critical:
                kinds.append("new CRITICAL")
            previous = decision
        expected_alerts[digest] = kinds
        key = f"{ACCOUNT}/{repo_of[digest]}@{digest}"
        state = proc.store.state(key)
        assert state is not None
        assert state["decision"] == previous, digest
        assert state["last_scan"] == (T0 + dt.timedelta(hours=ROUNDS - 1)).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z")
        assert state["policy_version"] == 2
        assert bool(state.get("deployed")) == (digest in deployed)
        assert len(proc.store.history(key)) == ROUNDS
        inventory = {(i["vulnerability_id"], i["package"]): i
                     for i in proc.store.inventory(key).values()}
        expected_inventory = {}
        for index, (vuln, _severity, package) in enumerate(POOL):
            rounds = [r for r, chosen in enumerate(present[digest]) if index in chosen]
            if not rounds:
                continue
            stamp = lambda r: (T0 + dt.timedelta(hours=r)).strftime(  # noqa: E731
                "%Y-%m-%dT%H:%M:%S.000Z")
            fixed = stamp(rounds[-1] + 1) if rounds[-1] < ROUNDS - 1 else None
            expected_inventory[(vuln, package)] = (stamp(rounds[0]), stamp(rounds[-1]), fixed)
        got = {k: (i["first_seen"], i["last_seen"], i.get("fixed_at"))
               for k, i in inventory.items()}
        assert got == expected_inventory, digest

    got_alerts: dict[str, list[str]] = {d: [] for d in digests}
    for alert in world.alerts():
        subject = alert["Subject"]
        [digest] = [d for d in digests if d[:19] in subject and repo_of[d] in subject]
        got_alerts[digest].append(next(k for k in ("turned FAIL", "recovered", "new CRITICAL")
                                       if k in subject))
    assert got_alerts == expected_alerts
    assert sum(len(v) for v in expected_alerts.values()) > 20  # the test exercises changes
    assert any("new CRITICAL" in v for v in expected_alerts.values())
    assert any("recovered" in v for v in expected_alerts.values())
