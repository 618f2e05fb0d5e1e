"""The review comment: the gate's decision for one image, as a reviewer reads it in the pull
request or merge request.

Rendered from ``summary.json`` (``scangate gate --json-summary``), which is read as untrusted
data: every value from it is a Markdown code span or escaped text (``outputs.text``), as in the
Markdown summary. The body starts with a hidden marker naming the comment's key (one image of
one workflow call), by which a later run finds the comment to update in place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from scangate import gate_summary
from scangate.errors import CommentError
from scangate.outputs.text import http_url, md_code, md_escape, truncate
from scangate.severity import DESCENDING, Severity

# GitHub refuses a comment body over 65,536 characters (422 "Body is too long"); GitLab's note
# limit (1,000,000) is larger, so one limit serves both. Counted in UTF-16 code units, which is
# never fewer than code points: a body within it is within either way of counting.
MAX_BODY = 65_536
EXPIRING_WITHIN_DAYS = 14
ROWS_SHOWN = 50


def marker(key: str) -> str:
    """The hidden first line. The key is hashed: nothing from it can close the HTML comment."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"<!-- scangate-review-comment {digest} -->"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@dataclass(frozen=True, slots=True)
class Row:
    severity: Severity
    id: str
    package: str
    installed: str
    fixed: str
    target: str


def _text(record: dict[str, Any], name: str, where: str) -> str:
    value = record.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CommentError(f"{where}.{name} is {type(value).__name__}, not text: not a summary "
                           "written by scangate gate --json-summary")
    return value


def _row(record: object, where: str) -> Row:
    if not isinstance(record, dict):
        raise CommentError(f"{where} is not an object: not a summary written by scangate gate")
    try:
        severity = Severity.parse(record.get("severity"))
    except ValueError as exc:
        raise CommentError(f"{where}.severity: {exc}") from None
    return Row(severity, _text(record, "id", where), _text(record, "package", where),
               _text(record, "installed_version", where), _text(record, "fixed_version", where),
               _text(record, "target", where))


def load_summary(path: str) -> dict[str, Any]:
    """The summary as a document, after the one summary reader (scangate.gate_summary) found
    a decided gate summary in it; the fields only the comment shows are checked where read."""
    gate_summary.read_decided(path)
    with open(path, "rb") as handle:
        doc: dict[str, Any] = orjson.loads(handle.read(gate_summary.MAX_SUMMARY_BYTES + 1))
    return doc


def _counts_table(doc: dict[str, Any]) -> list[str]:
    counts = doc["counts"]
    thresholds = (doc.get("policy") or {}).get("thresholds") or {}
    lines = ["| Severity | Counted | Limit |", "| --- | ---: | ---: |"]
    for severity in DESCENDING:
        count = counts.get(severity.key, 0)
        limit = thresholds.get(severity.key)
        if not isinstance(count, int) or isinstance(count, bool):
            raise CommentError(f"counts.{severity.key} is not a number: not a scangate summary")
        shown = str(limit) if isinstance(limit, int) and not isinstance(limit, bool) else "-"
        lines.append(f"| {severity.name} | {count} | {shown} |")
    return lines


def _table(rows: list[Row], limit: int, with_fix: bool) -> list[str]:
    if with_fix:
        lines = ["| Severity | ID | Package | Installed | Fixed in | Target |",
                 "| --- | --- | --- | --- | --- | --- |"]
    else:
        lines = ["| Severity | ID | Package | Installed | Target |",
                 "| --- | --- | --- | --- | --- |"]
    ordered = sorted(rows, key=lambda r: (-r.severity, r.id, r.package))
    for row in ordered[:limit]:
        cells = [row.severity.name, md_code(row.id), md_code(row.package) if row.package
                 else "-", md_code(row.installed) if row.installed else "-"]
        if with_fix:
            cells.append(md_code(row.fixed) if row.fixed else "no fix yet")
        cells.append(md_code(truncate(row.target, 80)) if row.target else "-")
        lines.append("| " + " | ".join(cells) + " |")
    if len(ordered) > limit:
        lines += ["", f"{len(ordered) - limit} more not shown here: see the run's reports."]
    return lines


def _expiring(doc: dict[str, Any], today: dt.date) -> list[tuple[str, str, str, str]]:
    """Waivers in use or unused that expire within EXPIRING_WITHIN_DAYS: (expires, id,
    package, reason), once each."""
    seen: dict[tuple[str, str, str, str], None] = {}
    for name in ("waived_findings", "unused_waivers"):
        for number, record in enumerate(doc.get(name) or []):
            where = f"{name}[{number}]"
            if not isinstance(record, dict):
                raise CommentError(f"{where} is not an object: not a scangate summary")
            expires = _text(record, "expires", where)
            try:
                day = dt.date.fromisoformat(expires)
            except ValueError:
                raise CommentError(f"{where}.expires {expires[:20]!r} is not a date") from None
            if day - today <= dt.timedelta(days=EXPIRING_WITHIN_DAYS):
                seen[(expires, _text(record, "id", where), _text(record, "package", where),
                      _text(record, "reason", where))] = None
    return sorted(seen)


def _today(doc: dict[str, Any]) -> dt.date:
    try:
        return dt.date.fromisoformat(str(doc.get("today")))
    except ValueError:
        raise CommentError("today is not a date: not a summary written by scangate gate") \
            from None


def render(doc: dict[str, Any], key: str, run_url: str = "", rows: int = ROWS_SHOWN) -> str:
    """The comment body, within MAX_BODY: fewer table rows until it fits, then cut."""
    while True:
        body = _render(doc, key, run_url, rows)
        if utf16_length(body) <= MAX_BODY:
            return body
        if rows == 0:
            break
        rows //= 2
    note = "\n\n... cut to stay within the 65,536-character comment limit; see the run.\n"
    keep = MAX_BODY - utf16_length(note)
    while utf16_length(body) > keep:
        body = body[: len(body) - (utf16_length(body) - keep)]
    return body + note


def _render(doc: dict[str, Any], key: str, run_url: str, rows: int) -> str:
    passed = doc["decision"] == "pass"
    lines = [marker(key),
             f"### {':white_check_mark:' if passed else ':x:'} scangate: "
             f"{'PASSED' if passed else 'FAILED'} for {md_code(key)}", ""]
    lines += [*_counts_table(doc), ""]
    for number, violation in enumerate(doc.get("violations") or []):
        if not isinstance(violation, dict):
            raise CommentError(f"violations[{number}] is not an object: not a scangate summary")
        lines.append(f"- **{md_escape(str(violation.get('severity', '')).upper())}**: "
                     f"{md_escape(str(violation.get('count')))} found, at most "
                     f"{md_escape(str(violation.get('limit')))} allowed")
    if doc.get("violations"):
        lines.append("")
    findings = [(_row(r, f"findings[{n}]"), r) for n, r in enumerate(doc.get("findings") or [])]
    baseline = doc.get("baseline")
    if isinstance(baseline, dict) and baseline.get("used") is True:
        new = [row for row, record in findings if record.get("change") == "new"]
        fixed = [_row(r, f"fixed_findings[{n}]")
                 for n, r in enumerate(doc.get("fixed_findings") or [])]
        unchanged = sum(1 for _, record in findings if record.get("change") == "unchanged")
        lines += [f"Compared with the baseline: **{len(new)} new**, {unchanged} unchanged, "
                  f"{len(fixed)} fixed.", ""]
        if new:
            lines += ["#### New findings", "", *_table(new, rows, True), ""]
        if fixed:
            lines += ["#### Fixed", "", *_table(fixed, rows, False), ""]
    else:
        if isinstance(baseline, dict):
            lines += [f"Baseline not used ({md_escape(str(baseline.get('reason', '')))}): "
                      "every finding counts.", ""]
        else:
            lines += ["No baseline: every finding counts.", ""]
        counted = [row for row, record in findings if record.get("disposition") == "counted"]
        if counted:
            lines += ["#### Counted findings", "", *_table(counted, rows, True), ""]
    expiring = _expiring(doc, _today(doc))
    if expiring:
        lines += [f"#### Waivers that expire within {EXPIRING_WITHIN_DAYS} days", ""]
        for expires, ident, package, reason in expiring:
            scope = f" in {md_code(package)}" if package else ""
            lines.append(f"- {md_code(ident)}{scope}: expires {md_escape(expires)} "
                         f"({md_escape(truncate(reason, 200))})")
        lines.append("")
    link = http_url(run_url) if run_url else None
    if link:
        lines.append(f"[The run]({link.replace('(', '%28').replace(')', '%29')}) has the full "
                     "reports.")
    return "\n".join(lines) + "\n"
