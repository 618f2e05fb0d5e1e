"""Alerts on change, not on noise: one message when an image turns FAIL, recovers, or (while
deployed) gains a CRITICAL finding. The text and Slack blocks are scangate.notify's; delivery
is scangate.aws.sns.publish and scangate.notify.post_slack (each with its own retries).
"""

from __future__ import annotations

from typing import Any

from scangate.monitor.evaluate import Evaluation, Observed
from scangate.monitor.events import ImageRef
from scangate.notify import Message, post_slack, slack_payload

FAIL = "FAIL"
RECOVERED = "RECOVERED"
NEW_CRITICAL = "NEW_CRITICAL"
UNMONITORED = "UNMONITORED"  # a deployed image deleted, or no longer scanned
SHOWN_FINDINGS = 10


def change(previous: str | None, ev: Evaluation, deployed: bool,
           new: list[Observed]) -> str | None:
    """Which change, if any, this evaluation is (at most one: one message per change)."""
    if ev.decision == "fail" and previous != "fail":
        return FAIL
    if ev.decision == "pass" and previous == "fail":
        return RECOVERED
    if deployed and any(f.severity == "CRITICAL" and f.disposition == "counted" for f in new):
        return NEW_CRITICAL
    return None


def console_link(ev: Evaluation, region: str) -> str:
    return console_link_for(ev.image, region)


def console_link_for(image: ImageRef, region: str) -> str:
    return (f"https://{region}.console.aws.amazon.com/ecr/repositories/private/"
            f"{image.registry_id}/{image.repository}/_/image/{image.digest}/details"
            f"?region={region}")


def build(kind: str, ev: Evaluation, new: list[Observed], region: str) -> dict[str, Any]:
    """The alert as stored with the state (so a retry resends exactly this one)."""
    verb = {FAIL: "turned FAIL", RECOVERED: "recovered (PASS)",
            NEW_CRITICAL: "has a new CRITICAL finding"}[kind]
    headline = f"scangate monitor: {ev.image.repository}@{ev.image.digest[:19]} {verb}"
    lines = [
        f"Repository: {ev.image.repository} (registry {ev.image.registry_id})",
        f"Digest: {ev.image.digest}",
        f"Tags: {', '.join(ev.tags) or '(untagged)'}",
        "Findings counted: " + ", ".join(f"{k} {v}" for k, v in ev.counts.items()),
    ]
    for violation in ev.violations:
        lines.append(f"Violation: {violation['count']} {violation['severity']} "
                     f"(limit {violation['limit']})")
    ordered = sorted(new, key=lambda f: (-_rank(f.severity), f.id, f.package))
    for finding in ordered[:SHOWN_FINDINGS]:
        fix = f", fixed in {finding.fixed_version}" if finding.fixed_version else ""
        lines.append(f"New: {finding.id} {finding.severity} in {finding.package} "
                     f"{finding.installed_version}{fix}")
    if len(ordered) > SHOWN_FINDINGS:
        lines.append(f"... and {len(ordered) - SHOWN_FINDINGS} more new findings")
    lines.append(f"Scanned at: {ev.scanned_at} ({ev.scan_type.lower()} scan)")
    lines.append(f"Policy: {ev.policy_source} (version {ev.policy_version})")
    return {"kind": kind, "headline": headline, "lines": lines,
            "link": console_link(ev, region)}


def terminal(image: ImageRef, status: str, reason: str, region: str) -> dict[str, Any]:
    """A deployed image that will have no more findings: deleted, or out of scanning."""
    deleted = status in ("IMAGE_DELETED", "REPOSITORY_DELETED")
    lines = [f"Repository: {image.repository} (registry {image.registry_id})",
             f"Digest: {image.digest}",
             f"Status: {status}: " + ("the image was deleted" if deleted else
                                      "ECR can no longer scan the image"),
             f"Reason: {reason}",
             "The monitor stops watching it: " + (
                 "it no longer counts as deployed; redeploy from an image that exists."
                 if deleted else
                 "its findings are no longer updated; rebuild and redeploy, or watch it in CI.")]
    # The status first: SNS subjects are cut at 100 characters.
    return {"kind": UNMONITORED, "headline": f"scangate monitor: {status} for deployed "
            f"{image.repository}@{image.digest[:19]}", "lines": lines,
            "link": console_link_for(image, region)}


def _rank(severity: str) -> int:
    return ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"].index(severity) \
        if severity in ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL") else -1


def message(alert: dict[str, Any]) -> Message:
    return Message(headline=str(alert["headline"]), lines=[str(x) for x in alert["lines"]],
                   link=str(alert["link"]))


def send(alert: dict[str, Any], *, topic_arn: str, slack_url: str,
         attributes: dict[str, str], sns: Any = None) -> None:
    """SNS (``sns``: the topic's client to reuse) and Slack; either failing raises (the record
    is retried, the alert resent)."""
    text = message(alert)
    if topic_arn:
        from scangate.aws.sns import publish

        publish(topic_arn, text.headline, text.text(), {**attributes, "kind": alert["kind"]},
                sns=sns)
    if slack_url:
        post_slack(slack_url, slack_payload(text))
