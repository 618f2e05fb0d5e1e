"""The decision: which findings count, and whether their counts stay within the policy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum

from scangate.baseline import UNCHANGED, Baseline, Comparison, compare
from scangate.feeds import EpssFeed, KevCatalog
from scangate.findings import Finding, Report
from scangate.policy import Policy, Waiver
from scangate.severity import DESCENDING, Severity
from scangate.vex_input import source_digest


class Disposition(Enum):
    COUNTED = "counted"
    WAIVED = "waived"
    IGNORED_UNFIXED = "ignored_unfixed"
    CLASS_NOT_COUNTED = "class_not_counted"
    # Also in the baseline, at a severity the policy gates on new findings only (new_only).
    NOT_NEW = "not_new"


@dataclass(frozen=True, slots=True)
class Violation:
    severity: Severity
    count: int
    limit: int


@dataclass(frozen=True, slots=True)
class RiskViolation:
    """A vulnerability that fails the policy by what is known of its exploitation (a KEV or
    EPSS rule), whatever the severity counts."""

    finding: Finding
    rule: str  # "kev" or "epss"
    detail: str


@dataclass(slots=True)
class GateResult:
    reports: list[Report]
    policy: Policy
    today: dt.date
    # One entry per finding, in report order: the finding, what the gate did with it, and the
    # waiver that matched (if any).
    decisions: list[tuple[Finding, Disposition, Waiver | None]] = field(default_factory=list)
    counts: dict[Severity, int] = field(default_factory=lambda: dict.fromkeys(Severity, 0))
    counts_by_kind: dict[str, dict[Severity, int]] = field(default_factory=dict)
    waived: int = 0
    ignored_unfixed: int = 0
    class_not_counted: int = 0
    not_new: int = 0
    # The baseline comparison, when a baseline was given (used or not: it says which).
    comparison: Comparison | None = None
    # Why new_only was not applied, when it was not.
    new_only_note: str = ""
    violations: list[Violation] = field(default_factory=list)
    risk_violations: list[RiskViolation] = field(default_factory=list)
    expired_waivers: list[Waiver] = field(default_factory=list)
    unused_waivers: list[Waiver] = field(default_factory=list)
    # The risk feeds the findings were annotated from (for the outputs to name them).
    kev: KevCatalog | None = None
    epss: EpssFeed | None = None

    @property
    def passed(self) -> bool:
        return not self.violations and not self.risk_violations

    @property
    def decision(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def total_findings(self) -> int:
        return len(self.decisions)


def annotate_risk(reports: list[Report], kev: KevCatalog | None, epss: EpssFeed | None) -> None:
    """Attach the KEV entry and EPSS score of each vulnerability (by its CVE id) for the rules
    and the outputs."""
    if kev is None and epss is None:
        return
    for report in reports:
        for finding in report.findings:
            if finding.kind != "vulnerability":
                continue
            cve = finding.id.upper()
            if kev is not None:
                finding.kev = kev.entries.get(cve)
            if epss is not None:
                finding.epss = epss.scores.get(cve)


def _risk(finding: Finding, policy: Policy) -> list[RiskViolation]:
    out = []
    if policy.kev_fail and finding.kev is not None:
        ransomware = "; used in ransomware campaigns" if finding.kev.ransomware_known else ""
        out.append(RiskViolation(finding, "kev", f"in CISA KEV (due {finding.kev.due_date}"
                                                 f"{ransomware})"))
    if finding.epss is not None:
        for rule in policy.epss_rules:
            if finding.severity < rule.min_severity:
                continue
            if (rule.score is not None and finding.epss.score >= rule.score) or (
                    rule.percentile is not None and finding.epss.percentile >= rule.percentile):
                out.append(RiskViolation(
                    finding, "epss", f"EPSS {finding.epss.score:.5f} (percentile "
                    f"{finding.epss.percentile:.5f}): {rule.describe()}"))
                break
    return out


def _compare(reports: list[Report], baseline: Baseline) -> Comparison:
    by_artifact: dict[str, list[Finding]] = {}
    for report in reports:
        by_artifact.setdefault(report.artifact_id, []).extend(report.findings)
    return compare(by_artifact, baseline)


def evaluate(reports: list[Report], policy: Policy, today: dt.date,
             baseline: Baseline | None = None) -> GateResult:
    policy.check_waiver_horizon(today)
    result = GateResult(reports=reports, policy=policy, today=today)
    if baseline is not None:
        result.comparison = _compare(reports, baseline)
    # new_only needs a baseline that was read: without one every finding counts (fail closed).
    new_only = policy.new_only
    if new_only and (baseline is None or not baseline.used):
        result.new_only_note = (
            "new_only not applied: no baseline given (--baseline)" if baseline is None else
            f"new_only not applied: baseline {baseline.path} {baseline.reason}")
        new_only = frozenset()
    active = [w for w in policy.waivers if not w.is_expired(today)]
    accepted_vex = {digest: w for digest, w in policy.accepted_vex.items()
                    if not w.is_expired(today)}
    result.expired_waivers = [w for w in (*policy.waivers, *policy.accepted_vex.values())
                              if w.is_expired(today)]
    # Waivers indexed by id so 20,000 findings x 100 waivers stays linear.
    by_id: dict[str, list[Waiver]] = {}
    for active_waiver in active:
        by_id.setdefault(active_waiver.id.casefold(), []).append(active_waiver)
    used: set[int] = set()
    counts = result.counts
    by_kind = result.counts_by_kind
    decisions = result.decisions
    classes = policy.classes
    ignore_unfixed = policy.ignore_unfixed
    for report in reports:
        for finding in report.findings:
            waiver: Waiver | None = None
            if finding.kind not in classes:
                disposition = Disposition.CLASS_NOT_COUNTED
                result.class_not_counted += 1
            else:
                for candidate in by_id.get(finding.id.casefold(), ()):
                    if candidate.matches(finding):
                        waiver = candidate
                        used.add(id(candidate))
                        break
                if waiver is None and finding.suppressed_source and accepted_vex:
                    # Suppressed by a VEX document the policy accepts by its digest.
                    waiver = accepted_vex.get(source_digest(finding.suppressed_source) or "")
                    if waiver is not None:
                        used.add(id(waiver))
                risks = _risk(finding, policy) if waiver is None and (
                    finding.kev is not None or finding.epss is not None) else []
                if waiver is not None:
                    disposition = Disposition.WAIVED
                    result.waived += 1
                elif (not risks and ignore_unfixed and finding.kind == "vulnerability"
                      and not finding.fixable):
                    disposition = Disposition.IGNORED_UNFIXED
                    result.ignored_unfixed += 1
                elif (not risks and finding.change == UNCHANGED
                      and finding.severity in new_only):
                    disposition = Disposition.NOT_NEW
                    result.not_new += 1
                else:
                    disposition = Disposition.COUNTED
                    counts[finding.severity] += 1
                    kind_counts = by_kind.get(finding.kind)
                    if kind_counts is None:
                        kind_counts = by_kind[finding.kind] = dict.fromkeys(Severity, 0)
                    kind_counts[finding.severity] += 1
                    # Known exploitation outweighs "no fix yet" and "not new": such a finding
                    # always counts.
                    result.risk_violations.extend(risks)
            decisions.append((finding, disposition, waiver))
    result.unused_waivers = [w for w in (*active, *accepted_vex.values()) if id(w) not in used]
    for severity in DESCENDING:
        limit = policy.thresholds.get(severity)
        if limit is not None and counts[severity] > limit:
            result.violations.append(Violation(severity, counts[severity], limit))
    return result
