"""One image's findings, read through ``ecr-findings`` code and judged by ``scangate.gate``.

Nothing here counts: the ECR/Inspector scan becomes a Trivy report (scangate.aws.ecr_report),
that report is read by the same reader as CI's reports (scangate.report), and the decision is
``scangate.gate.evaluate`` with the policy CI uses (from SSM).

A finding Amazon Inspector SUPPRESSED (an account's suppression rule matched it) is neither
counted nor dropped: the evaluation adds a waiver for it whose reason names the suppression, so
the gate shows it as waived, with that reason, like any policy waiver (the inventory keeps the
reason). A policy waiver of the same finding still wins; when the same vulnerability and package
is also ACTIVE in the image, nothing is waived (the active one counts).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from scangate.aws.ecr import Scan, ScanReader, find_image
from scangate.aws.ecr_report import to_trivy
from scangate.findings import Finding
from scangate.gate import Disposition, GateResult, evaluate
from scangate.monitor.events import ImageRef
from scangate.policy import Policy, Waiver
from scangate.report import parse_report
from scangate.severity import DESCENDING


@dataclass(frozen=True, slots=True)
class Observed:
    """A finding as the inventory keeps it."""

    fingerprint: str
    id: str
    severity: str
    package: str
    installed_version: str
    fixed_version: str
    disposition: str
    # Why a waived finding is waived: the policy waiver's reason, or INSPECTOR_SUPPRESSION.
    reason: str = ""


INSPECTOR_SUPPRESSION = ("suppressed in Amazon Inspector by a suppression rule (the account's "
                         "Inspector administrator's decision; the rule is listed in Inspector)")


@dataclass(frozen=True, slots=True)
class Evaluation:
    image: ImageRef
    tags: tuple[str, ...]
    repository_uri: str
    scan_type: str
    scanned_at_ms: int
    decision: str
    counts: dict[str, int]
    violations: list[dict[str, Any]]
    findings: dict[str, Observed]
    policy_source: str
    policy_version: int
    evaluated_on: str

    @property
    def order_key(self) -> str:
        """Newer scans sort later; for one scan, a newer policy, then a later day (waivers
        expire by date) sort later. An older key never replaces a newer one."""
        return f"{self.scanned_at_ms:015d}#{self.policy_version:010d}#{self.evaluated_on}"

    @property
    def scanned_at(self) -> str:
        return iso_ms(self.scanned_at_ms)


def iso_ms(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch_ms(value: str, fallback: dt.datetime) -> int:
    moment = fallback
    if value:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = fallback
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _scan_time(scan: Scan, now: dt.datetime) -> int:
    """When the scan's content last changed: its completion, or later when Inspector updated a
    finding of a continuously rescanned image (a new CVE, a closed one) without a new
    ``imageScanCompletedAt``. Without this, such an update would look like the stored result
    and change nothing."""
    times = [_epoch_ms(scan.completed_at, now)]
    for finding in scan.enhanced:
        for field in ("updatedAt", "lastObservedAt"):
            value = finding.get(field)
            if isinstance(value, str):
                try:
                    value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    continue  # not a time: never let it pass for "now"
            if isinstance(value, dt.datetime):
                moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
                times.append(int(moment.timestamp() * 1000))
    return max(times)


def inspector_waivers(scan: Scan, today: dt.date) -> tuple[Waiver, ...]:
    """One waiver per vulnerability and package Inspector suppressed and nothing keeps ACTIVE,
    valid today only (the next evaluation reads Inspector's status again)."""
    by_status: dict[tuple[str, str], set[str]] = {}
    for finding in scan.enhanced:
        details = finding.get("packageVulnerabilityDetails")
        if not isinstance(details, dict):
            continue
        status = str(finding.get("status") or "").upper()
        for package in details.get("vulnerablePackages") or []:
            if isinstance(package, dict):
                key = (str(details.get("vulnerabilityId") or ""), str(package.get("name") or ""))
                by_status.setdefault(key, set()).add(status)
    return tuple(Waiver(id=vuln, reason=INSPECTOR_SUPPRESSION, expires=today, package=name)
                 for (vuln, name), statuses in sorted(by_status.items())
                 if vuln and name and statuses == {"SUPPRESSED"})


def _observed(finding: Finding, disposition: Disposition, waiver: Waiver | None) -> Observed:
    return Observed(
        fingerprint=finding.fingerprint,
        id=finding.id,
        severity=finding.severity.name,
        package=finding.package,
        installed_version=finding.installed_version,
        fixed_version=finding.fixed_version,
        disposition=disposition.value,
        reason=waiver.reason if waiver is not None else "",
    )


def judge(ecr: Any, ref: ImageRef, policy: Policy, policy_version: int,
          now: dt.datetime) -> Evaluation:
    """Read every page of the image's scan (no waiting: an event means the scan is there)."""
    # The registry the event names: another account's, for a registry shared with this one.
    image = find_image(ecr, ref.repository, tag=None, digest=ref.digest,
                       registry_id=ref.registry_id)
    scan = ScanReader(ecr).read(image, wait=False, timeout=1.0)
    report_doc, _closed = to_trivy(image, scan, now)
    report = parse_report(orjson.dumps(report_doc), f"ecr:{ref.key}")
    suppressed = inspector_waivers(scan, now.date())
    if suppressed:
        policy = dataclasses.replace(policy, waivers=(*policy.waivers, *suppressed))
    result: GateResult = evaluate([report], policy, now.date())
    findings = {f.fingerprint: _observed(f, d, w) for f, d, w in result.decisions}
    return Evaluation(
        image=ref,
        tags=image.tags,
        repository_uri=image.repository_uri,
        scan_type=scan.scan_type,
        scanned_at_ms=_scan_time(scan, now),
        decision=result.decision,
        counts={s.key: result.counts[s] for s in DESCENDING},
        violations=[{"severity": v.severity.key, "count": v.count, "limit": v.limit}
                    for v in result.violations],
        findings=findings,
        policy_source=policy.source,
        policy_version=policy_version,
        evaluated_on=now.date().isoformat(),
    )
