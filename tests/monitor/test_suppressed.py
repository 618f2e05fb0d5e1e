"""Findings Amazon Inspector SUPPRESSED are shown as waived, with the suppression as the reason.

An Inspector suppression rule is an account administrator's decision outside the policy. The
monitor neither counts such a finding (it would alert on what the account chose to accept) nor
drops it silently: the gate sees it as waived, the inventory keeps ``disposition: waived`` and
the reason (scangate.monitor.evaluate.INSPECTOR_SUPPRESSION). A policy waiver of the same
finding keeps its own reason; a vulnerability whose package is ACTIVE elsewhere in the image is
not waived at all.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

from scangate.monitor import handler
from scangate.monitor.evaluate import INSPECTOR_SUPPRESSION

from tests.monitor import samples
from tests.monitor.world import World, sqs_event

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
REPO = "team/app"


def _finding(vuln: str, severity: str, status: str, arn: str) -> dict[str, Any]:
    """AWS's documented Inspector2 Finding detail, as ECR's enhancedFindings carry it."""
    finding = copy.deepcopy(samples.INSPECTOR2_FINDING["detail"])
    finding["severity"], finding["status"] = severity, status
    finding["findingArn"] = finding["findingArn"] + arn
    finding["packageVulnerabilityDetails"]["vulnerabilityId"] = vuln
    return finding


def _evaluate(world: World, enhanced: list[dict[str, Any]]) -> tuple[dict[str, Any], Any]:
    proc = world.processor()
    digest = world.push(REPO, 1, "1.0")
    world.scan(digest, [], T0, enhanced=enhanced)
    body = json.dumps(samples.retarget(samples.INSPECTOR2_FINDING, repository=REPO,
                                       digest=digest, event_id="e1"))
    assert handler.handle(proc, sqs_event([body])) == {"batchItemFailures": []}
    key = f"123456789012/{REPO}@{digest}"
    state = proc.store.state(key)
    assert state is not None
    return state, {i["vulnerability_id"]: i for i in proc.store.inventory(key).values()}


def test_a_suppressed_critical_is_waived_with_the_suppression_as_reason(world: World) -> None:
    world.set_policy("thresholds:\n  critical: 0\n  high: 1\n")
    state, inventory = _evaluate(world, [
        _finding("CVE-2026-0001", "CRITICAL", "SUPPRESSED", "-s"),
        _finding("CVE-2026-0002", "HIGH", "ACTIVE", "-a")])
    assert state["decision"] == "pass"
    assert state["counts"]["critical"] == 0 and state["counts"]["high"] == 1
    waived = inventory["CVE-2026-0001"]
    assert waived["disposition"] == "waived"
    assert waived["waived_reason"] == INSPECTOR_SUPPRESSION
    assert inventory["CVE-2026-0002"]["disposition"] == "counted"
    assert inventory["CVE-2026-0002"]["waived_reason"] == ""
    assert world.alerts() == []


def test_the_same_package_active_elsewhere_is_not_waived(world: World) -> None:
    world.set_policy("thresholds:\n  critical: 0\n")
    state, inventory = _evaluate(world, [
        _finding("CVE-2026-0001", "CRITICAL", "SUPPRESSED", "-s"),
        _finding("CVE-2026-0001", "CRITICAL", "ACTIVE", "-a")])
    assert state["decision"] == "fail" and state["counts"]["critical"] >= 1
    assert inventory["CVE-2026-0001"]["disposition"] == "counted"


def test_a_policy_waiver_keeps_its_own_reason(world: World) -> None:
    expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    world.set_policy("thresholds:\n  critical: 0\nwaivers:\n  - id: CVE-2026-0001\n"
                     f"    reason: accepted by the platform team\n    expires: {expires}\n")
    state, inventory = _evaluate(world, [
        _finding("CVE-2026-0001", "CRITICAL", "SUPPRESSED", "-s")])
    assert state["decision"] == "pass"
    assert inventory["CVE-2026-0001"]["waived_reason"] == "accepted by the platform team"
