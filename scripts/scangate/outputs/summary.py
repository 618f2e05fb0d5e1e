"""The JSON summary (for machines) and the Markdown and terminal summaries (for people)."""

from __future__ import annotations

from typing import Any

import orjson

from scangate import __version__
from scangate.baseline import BaselineFinding, finding_record
from scangate.findings import KINDS, Finding
from scangate.gate import Disposition, GateResult
from scangate.outputs.text import md_code, md_escape, md_link, printable, truncate
from scangate.policy import Waiver
from scangate.severity import DESCENDING, Severity
from scangate.trivy_json import DB_RECORD_KEY

WORST_SHOWN = 20


def _waiver_json(waiver: Waiver) -> dict[str, Any]:
    out: dict[str, Any] = {"id": waiver.id, "expires": waiver.expires.isoformat()}
    if waiver.package:
        out["package"] = waiver.package
    if waiver.target:
        out["target"] = waiver.target
    out["reason"] = waiver.reason
    return out


def risk_json(finding: Finding) -> dict[str, Any]:
    """What the risk feeds say of a finding (empty when they say nothing)."""
    out: dict[str, Any] = {}
    if finding.kev is not None:
        out["kev"] = {"due_date": finding.kev.due_date, "date_added": finding.kev.date_added,
                      "known_ransomware_campaign_use": finding.kev.ransomware}
    if finding.epss is not None:
        out["epss"] = {"score": finding.epss.score, "percentile": finding.epss.percentile}
    return out


def risk_text(finding: Finding) -> str:
    """``KEV (due 2025-04-10, ransomware), EPSS 0.94 (p 0.99)``, or "" for no feed entry."""
    parts = []
    if finding.kev is not None:
        ransomware = ", ransomware" if finding.kev.ransomware_known else ""
        parts.append(f"KEV (due {finding.kev.due_date}{ransomware})")
    if finding.epss is not None:
        parts.append(f"EPSS {finding.epss.score:.3f} (p {finding.epss.percentile:.3f})")
    return ", ".join(parts)


def _feeds_json(result: GateResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.kev is not None:
        out["kev"] = {"source": result.kev.source, "catalog_version": result.kev.version,
                      "date_released": result.kev.released.isoformat(),
                      "entries": len(result.kev.entries)}
    if result.epss is not None:
        out["epss"] = {"source": result.epss.source, "model_version": result.epss.model_version,
                       "score_date": result.epss.score_date.isoformat(),
                       "entries": len(result.epss.scores)}
    return out


def _waived_findings(result: GateResult) -> list[dict[str, Any]]:
    """Each waived finding and the waiver that let it pass: a reviewer sees what was accepted,
    where, why and until when, not just how many."""
    out = []
    for finding, disposition, waiver in result.decisions:
        if disposition is not Disposition.WAIVED or waiver is None:
            continue
        out.append({
            "id": finding.id,
            "kind": finding.kind,
            "severity": finding.severity.key,
            "package": finding.package,
            "installed_version": finding.installed_version,
            "target": finding.target,
            "report": finding.report.path,
            "reason": waiver.reason,
            "expires": waiver.expires.isoformat(),
            "fingerprint": finding.fingerprint,
            # For `scangate openvex` after the push: the package URL and the waiver's
            # OpenVEX justification.
            **({"purl": finding.purl} if finding.purl else {}),
            **({"justification": waiver.justification} if waiver.justification else {}),
            "waiver": waiver.id,
            **risk_json(finding),
        })
    return out


def _baseline_json(result: GateResult) -> dict[str, Any] | None:
    comparison = result.comparison
    if comparison is None:
        return None
    base = comparison.baseline
    return {
        "path": base.path,
        "used": base.used,
        "reason": base.reason,
        "source": base.source,
        "new": comparison.new,
        "unchanged": comparison.unchanged,
        "fixed": len(comparison.fixed),
        "notes": list(comparison.notes),
    }


def _fixed_json(row: BaselineFinding) -> dict[str, Any]:
    return {"artifact": row.artifact, "kind": row.kind, "id": row.id,
            "severity": row.severity.key, "package": row.package,
            "installed_version": row.installed_version, "ecosystem": row.ecosystem,
            "target": row.target}


def _findings(result: GateResult) -> list[dict[str, Any]]:
    """Every finding, compact: what the next run reads as its baseline, and what the review
    comment lists as new."""
    out = []
    for finding, disposition, _ in result.decisions:
        record = finding_record(finding)
        record["disposition"] = disposition.value
        record["change"] = finding.change or None
        record.update(risk_json(finding))  # KEV and EPSS, where the feeds have them
        out.append(record)
    return out


def summary_dict(result: GateResult) -> dict[str, Any]:
    policy = result.policy
    return {
        "decision": result.decision,
        "counts": {s.key: result.counts[s] for s in DESCENDING},
        "waived": result.waived,
        "waived_findings": _waived_findings(result),
        "ignored_unfixed": result.ignored_unfixed,
        "violations": [
            {"severity": v.severity.key, "count": v.count, "limit": v.limit}
            for v in result.violations
        ],
        "expired_waivers": [_waiver_json(w) for w in result.expired_waivers],
        # Vulnerabilities that fail the policy's kev:/epss: rules, whatever the counts.
        "risk_violations": [
            {"rule": v.rule, "id": v.finding.id, "severity": v.finding.severity.key,
             "package": v.finding.package, "installed_version": v.finding.installed_version,
             "target": v.finding.target, "detail": v.detail, **risk_json(v.finding)}
            for v in result.risk_violations
        ],
        "feeds": _feeds_json(result),
        # Additions beyond the documented core shape.
        "class_not_counted": result.class_not_counted,
        "findings_total": result.total_findings,
        "counts_by_class": {
            kind: {s.key: result.counts_by_kind.get(kind, {}).get(s, 0) for s in DESCENDING}
            for kind in KINDS
        },
        "unused_waivers": [_waiver_json(w) for w in result.unused_waivers],
        "not_new": result.not_new,
        "baseline": _baseline_json(result),
        "new_only_note": result.new_only_note,
        "findings": _findings(result),
        "fixed_findings": ([_fixed_json(r) for r in result.comparison.fixed]
                           if result.comparison is not None else []),
        "policy": {
            "source": policy.source,
            "thresholds": {
                s.key: policy.thresholds[s] for s in DESCENDING if s in policy.thresholds
            },
            "ignore_unfixed": policy.ignore_unfixed,
            "classes": sorted(policy.classes),
            "new_only": [s.key for s in DESCENDING if s in policy.new_only],
            "overrides": list(policy.overrides),
        },
        "reports": [
            {
                "path": r.path,
                "artifact_name": r.artifact_name,
                "artifact_type": r.artifact_type,
                # The scanned image's ID (Trivy's Metadata.ImageID, the config digest): what
                # `scangate push --decision` checks the archive it pushes against.
                "image_id": r.metadata.get("ImageID") if r.is_image else None,
                # The vulnerability DB `scangate scan` used and how it was verified (None: the
                # report did not come from scangate scan).
                "vulnerability_db": r.metadata.get(DB_RECORD_KEY),
                "findings": len(r.findings),
                "not_gated": [
                    {"target": t, "class": c, "reason": why} for t, c, why in r.not_gated
                ],
            }
            for r in result.reports
        ],
        "today": result.today.isoformat(),
        "scangate_version": __version__,
    }


def summary_json(result: GateResult) -> bytes:
    return orjson.dumps(summary_dict(result), option=orjson.OPT_INDENT_2) + b"\n"


def _worst(result: GateResult) -> list[Finding]:
    counted = [f for f, d, _ in result.decisions if d is Disposition.COUNTED]
    # Most severe first; among equals, fixable first (those are the ones to act on now).
    # Known exploited first, then most severe; among equals, fixable first (those are the ones
    # to act on now).
    counted.sort(key=lambda f: (f.kev is None, -f.severity, not f.fixable, f.id, f.package))
    return counted[:WORST_SHOWN]


def _limit_text(result: GateResult, severity: Severity) -> str:
    limit = result.policy.thresholds.get(severity)
    return "no limit" if limit is None else str(limit)


def _baseline_lines(result: GateResult) -> list[str]:
    comparison = result.comparison
    lines = []
    if comparison is not None and comparison.baseline.used:
        fixed = comparison.fixed
        lines += [f"Compared with the baseline {md_code(comparison.baseline.path)}: "
                  f"**{comparison.new} new**, {comparison.unchanged} unchanged, "
                  f"{len(fixed)} fixed"
                  + (f"; {result.not_new} unchanged not counted (new_only)."
                     if result.not_new else "."), ""]
        for note in comparison.notes:
            lines += [f"- {md_escape(note)}"]
        if comparison.notes:
            lines.append("")
        if fixed:
            lines += ["### Fixed since the baseline", "",
                      "| Severity | ID | Package | Target |", "| --- | --- | --- | --- |"]
            for row in sorted(fixed, key=lambda r: (-r.severity, r.id, r.package))[:WORST_SHOWN]:
                lines.append(f"| {row.severity.name} | {md_code(row.id)} | "
                             f"{md_code(row.package) if row.package else '-'} | "
                             f"{md_code(truncate(row.target, 80))} |")
            if len(fixed) > WORST_SHOWN:
                lines.append(f"\n{len(fixed) - WORST_SHOWN} more in the JSON summary.")
            lines.append("")
    elif comparison is not None:
        lines += [f"Baseline {md_code(comparison.baseline.path)} not used "
                  f"({md_escape(comparison.baseline.reason)}): every finding counts.", ""]
    if result.new_only_note:
        lines += [f"Note: {md_escape(result.new_only_note)}.", ""]
    return lines


def markdown(result: GateResult) -> str:
    lines: list[str] = []
    verdict = "PASSED" if result.passed else "FAILED"
    icon = ":white_check_mark:" if result.passed else ":x:"
    artifacts = ", ".join(md_code(r.artifact_name or r.path) for r in result.reports)
    lines += [f"## {icon} Security gate {verdict}", "", f"Scanned: {artifacts}", ""]
    lines += ["| Severity | Counted | Limit | " + " | ".join(k.capitalize() for k in KINDS) + " |",
              "| --- | ---: | ---: |" + " ---: |" * len(KINDS)]
    for severity in DESCENDING:
        per_kind = " | ".join(
            str(result.counts_by_kind.get(k, {}).get(severity, 0)) for k in KINDS
        )
        lines.append(
            f"| {severity.name} | {result.counts[severity]} | {_limit_text(result, severity)} "
            f"| {per_kind} |"
        )
    lines += [
        "",
        f"Findings in the reports: {result.total_findings}; waived: {result.waived}; "
        f"ignored as unfixed: {result.ignored_unfixed}; in classes the policy does not count: "
        f"{result.class_not_counted}.",
        "",
    ]
    lines += _baseline_lines(result)
    if result.violations:
        lines += ["### Violations", ""]
        for v in result.violations:
            lines.append(f"- **{v.severity.name}**: {v.count} found, at most {v.limit} allowed")
        lines.append("")
    if result.risk_violations:
        lines += ["### Known or likely exploited (fails whatever the counts)", ""]
        for r in result.risk_violations:
            lines.append(f"- {r.finding.severity.name} {md_code(r.finding.id)} in "
                         f"{md_code(r.finding.package)} {md_code(r.finding.installed_version)}: "
                         f"{r.detail}")  # checked feed dates, enums and numbers
        lines.append("")
    worst = _worst(result)
    if worst:
        compared = result.comparison is not None and result.comparison.baseline.used
        lines += ["### Worst findings", "",
                  "| Severity | ID | Package | Installed | Fixed in | Target |"
                  + (" Change |" if compared else ""),
                  "| --- | --- | --- | --- | --- | --- |" + (" --- |" if compared else "")]
        for f in worst:
            # Everything from the report is a code span (or a checked link): nothing in a package
            # name or a URL can become a heading, a link or HTML in the job summary.
            ident = md_link(f.id, f.primary_url) if f.primary_url else md_code(f.id)
            fixed = md_code(f.fixed_version) if f.fixed_version else "no fix yet"
            # Built only from the feeds' checked dates, enums and numbers: nothing to escape.
            risk = risk_text(f)
            level = f"{f.severity.name}: {risk}" if risk else f.severity.name
            lines.append(
                f"| {level} | {ident} | {md_code(f.package)} "
                f"| {md_code(f.installed_version)} | {fixed} "
                f"| {md_code(truncate(f.target, 80))} |"
                + (f" {f.change} |" if compared else "")
            )
        shown = len(worst)
        total = sum(result.counts.values())
        if total > shown:
            lines.append(f"\n{total - shown} more counted findings are in the SARIF and JSON "
                         "reports.")
        lines.append("")
    if result.expired_waivers:
        lines += ["### Expired waivers (no longer applied)", ""]
        for w in result.expired_waivers:
            lines.append(f"- {md_code(w.id)} expired {w.expires.isoformat()}: "
                         f"{md_escape(w.reason)}")
        lines.append("")
    if result.unused_waivers:
        lines += ["### Waivers that matched nothing", ""]
        for w in result.unused_waivers:
            lines.append(f"- {md_code(w.id)} (expires {w.expires.isoformat()})")
        lines.append("")
    not_gated = [(r, t, c, why) for r in result.reports for t, c, why in r.not_gated]
    if not_gated:
        lines += ["### Read but not gated", ""]
        for _, target, cls, why in not_gated:
            label = md_code(target) if target else "(no target)"
            lines.append(f"- {label} (class {md_code(cls)}): {md_escape(why)}")
        lines.append("")
    policy = result.policy
    extras = (f"; overrides: {', '.join(md_code(o) for o in policy.overrides)}"
              if policy.overrides else "")
    lines.append(f"Policy: {md_code(policy.source)}{extras}. scangate {__version__}.")
    return "\n".join(lines) + "\n"


def terminal(result: GateResult, written: list[str]) -> str:
    """The few lines for the log. Every value from a report, the policy or the command line is
    passed through ``printable``: no escape sequence reaches the terminal."""
    p = printable
    verdict = "PASS" if result.passed else "FAIL"
    counts = ", ".join(f"{s.key} {result.counts[s]}" for s in DESCENDING)
    lines = [f"scangate: gate {verdict} ({counts}; waived {result.waived}, "
             f"ignored unfixed {result.ignored_unfixed})"]
    comparison = result.comparison
    if comparison is not None and comparison.baseline.used:
        lines.append(f"  baseline: {comparison.new} new, {comparison.unchanged} unchanged, "
                     f"{len(comparison.fixed)} fixed; not counted as not new: {result.not_new}")
    for v in result.violations:
        lines.append(f"  violation: {v.severity.key} {v.count} > limit {v.limit}")
    for risk in result.risk_violations:
        lines.append(f"  violation: {risk.rule} {p(risk.finding.id)} {p(risk.finding.package)} "
                     f"({risk.finding.severity.key}): {p(risk.detail)}")
    for f in _worst(result)[:5]:
        if f.kind == "vulnerability":
            fix = f"fixed in {p(f.fixed_version)}" if f.fixed_version else "no fix yet"
            lines.append(f"  {f.severity.name:<8} {p(f.id)} {p(f.package)} "
                         f"{p(f.installed_version)} ({fix})")
        else:
            line = f":{f.start_line}" if f.start_line else ""
            lines.append(f"  {f.severity.name:<8} {f.kind} {p(f.id)} in {p(f.target)}{line}")
    for w in result.expired_waivers:
        lines.append(f"  expired waiver: {p(w.id)} (expired {w.expires.isoformat()})")
    for r in result.reports:
        for target, cls, _why in r.not_gated:
            lines.append(f"  not gated: {p(target)} (class {p(cls)})")
    if written:
        lines.append("  wrote: " + ", ".join(p(path) for path in written))
    return "\n".join(lines) + "\n"
