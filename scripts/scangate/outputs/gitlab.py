"""GitLab container-scanning report, schema 15.2.1: what the MR widget and vulnerability report
ingest. GitLab drops an invalid report whole, so every field is kept within the schema.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Iterator
from itertools import repeat
from typing import Any

import orjson

from scangate import __version__
from scangate.findings import Finding, Report
from scangate.gate import Disposition, GateResult
from scangate.outputs.text import one_line, truncate
from scangate.policy import Waiver
from scangate.severity import GITLAB_SEVERITY

SCHEMA_VERSION = "15.2.1"
# uuid5 namespace for finding ids: fixed forever, so ids stay stable across runs and releases.
ID_NAMESPACE = uuid.UUID("5d0c4a53-7c3e-4f0e-9a4c-2f1b9a2e6c11")
# The schema's ``^(https?|ftp)://.+``, where ``.`` matches no line terminator; a link with a
# line break anywhere is not one link, so none is allowed.
_URL = re.compile("(?:https?|ftp)://[^\n\r\u2028\u2029]+")
_NAMESPACE_SHA1 = hashlib.sha1(ID_NAMESPACE.bytes, usedforsecurity=False)


# When no reference of a finding holds a line break (the usual case, seen in one search of
# them all), a link is what starts with a scheme and has something after it: _URL's meaning,
# checked with string methods instead of a regular expression per reference; and when every
# reference is one (the usual case again), that is seen in two passes that run in C.
_LINE_TERMINATORS = re.compile("[\n\r\u2028\u2029]")
_SCHEMES = ("https://", "http://", "ftp://")
_LONGEST_SCHEME = max(len(scheme) for scheme in _SCHEMES)


def _is_url(text: str) -> bool:
    return _URL.fullmatch(text) is not None


def _urls(candidates: list[str]) -> list[str]:
    """The candidates that are links by the schema (_URL), in order."""
    if not candidates:
        return []
    if _LINE_TERMINATORS.search("".join(candidates)) is not None:
        return [url for url in candidates if _is_url(url)]
    if (min(map(len, candidates)) > _LONGEST_SCHEME
            and all(map(str.startswith, candidates, repeat(_SCHEMES)))):
        return candidates
    return [url for url in candidates
            if url.startswith(_SCHEMES) and len(url) > url.index("://") + 3]


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(ID_NAMESPACE, name))`` without the UUID objects (once per finding)."""
    sha1 = _NAMESPACE_SHA1.copy()
    sha1.update(name.encode("utf-8"))
    raw = bytearray(sha1.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _gitlab_time(value: dt.datetime) -> str:
    """GitLab's ``YYYY-MM-DDTHH:MM:SS`` in UTC; the year always four digits (strftime's %Y
    writes year 1 as "1", which the schema's pattern refuses)."""
    return value.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0).isoformat()


def _scan_start(reports: list[Report], now: dt.datetime) -> dt.datetime:
    """The earliest report's CreatedAt, in UTC, never after ``now``. A time that cannot be
    moved to UTC (year 1 at +05:00, year 9999 at -23:59) or is no time is skipped."""
    starts = []
    for report in reports:
        try:
            start = dt.datetime.fromisoformat(report.created_at.replace("Z", "+00:00"))
            start = (start if start.tzinfo else start.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        except (ValueError, OverflowError):
            continue
        starts.append(start)
    return min([*starts, now])


def _identifier(finding: Finding) -> dict[str, str]:
    ident = finding.id
    upper = ident.upper()
    if finding.kind == "vulnerability" and upper.startswith("CVE-"):
        kind, url = "cve", f"https://nvd.nist.gov/vuln/detail/{upper}"
    elif finding.kind == "vulnerability" and upper.startswith("GHSA-"):
        kind, url = "ghsa", f"https://github.com/advisories/{ident}"
    elif finding.kind == "vulnerability":
        kind, url = "trivy", finding.primary_url
    elif finding.kind == "secret":
        kind, url = "trivy_secret_rule", ""
    else:
        kind, url = "trivy_misconfiguration", finding.primary_url
    out = {"type": kind, "name": ident, "value": ident}
    if finding.primary_url and _is_url(finding.primary_url):
        out["url"] = finding.primary_url
    elif url and _is_url(url):
        out["url"] = url
    return out


def _image_and_os(report: Report) -> tuple[str, str]:
    return report.image_reference or report.artifact_id or "unknown", report.os_name


def _location(finding: Finding, image: str, report_os: str) -> dict[str, Any]:
    report = finding.report
    os_name = report_os or finding.result_type or finding.result_class or "unknown"
    if finding.kind == "vulnerability":
        package, version = finding.package, finding.installed_version
    else:
        # Secrets and misconfigurations live in a file, not a package.
        package = finding.target or report.artifact_name or "unknown"
        version = f"line {finding.start_line}" if finding.start_line else ""
    return {
        "dependency": {"package": {"name": package}, "version": version},
        "operating_system": os_name,
        "image": image,
    }


def _vulnerability(finding: Finding, disposition: Disposition, waiver: Waiver | None,
                   vuln_id: str, image: str, report_os: str) -> dict[str, Any]:
    name = one_line(finding.title[:512]) or finding.id
    description = finding.description or name
    if disposition is Disposition.WAIVED and waiver is not None:
        description += (f"\n\nWaived by policy until {waiver.expires.isoformat()}: "
                        f"{waiver.reason}")
    elif disposition is Disposition.IGNORED_UNFIXED:
        description += "\n\nNot counted by the gate: no fix is available yet."
    elif disposition is Disposition.NOT_NEW:
        description += ("\n\nNot counted by the gate: also in the baseline, and the policy "
                        "counts only new findings of this severity.")
    if finding.kev is not None:
        ransomware = ("; known to be used in ransomware campaigns"
                      if finding.kev.ransomware_known else "")
        description += (f"\n\nKnown exploited (CISA KEV, added {finding.kev.date_added}): "
                        f"remediate by {finding.kev.due_date}{ransomware}.")
    if finding.epss is not None:
        description += (f"\n\nEPSS: {finding.epss.score:.5f} (percentile "
                        f"{finding.epss.percentile:.5f}).")
    vuln: dict[str, Any] = {
        "id": vuln_id,
        "name": truncate(name, 255),
        "description": truncate(description, 1_048_576),
        "severity": GITLAB_SEVERITY[finding.severity],
        "identifiers": [_identifier(finding)],
        "location": _location(finding, image, report_os),
    }
    if finding.change:
        # Shown on the vulnerability's page; the report schema's generic "details" field.
        vuln["details"] = {"scangate_change": {
            "type": "text", "name": "Compared with the baseline", "value": finding.change}}
    if finding.kind == "vulnerability":
        if finding.fixed_version:
            vuln["solution"] = truncate(
                f"Upgrade {finding.package} to {finding.fixed_version}", 7000)
    elif finding.kind == "misconfiguration" and finding.resolution:
        vuln["solution"] = truncate(finding.resolution, 7000)
    elif finding.kind == "secret":
        vuln["solution"] = "Remove the secret from the source and the image, and rotate it."
    urls = dict.fromkeys([finding.primary_url, *finding.references] if finding.primary_url
                         else finding.references)
    links = [{"url": url} for url in _urls(list(urls))]
    if links:
        vuln["links"] = links
    return vuln


def build(result: GateResult, now: dt.datetime | None = None) -> Iterator[bytes]:
    """The report as chunks: one vulnerability at a time, never the whole document in memory."""
    now = now or dt.datetime.now(dt.UTC)
    trivy_version = next((r.scanner_version for r in result.reports if r.scanner_version),
                         "unknown")
    messages = []
    for report in result.reports:
        for target, cls, why in report.not_gated:
            messages.append({"level": "info", "value": f"{target} (class {cls}): {why}"})
    head = {
        "version": SCHEMA_VERSION,
        "scan": {
            "analyzer": {
                "id": "scangate",
                "name": "scangate",
                "version": __version__,
                "vendor": {"name": "scangate"},
            },
            "scanner": {
                "id": "trivy",
                "name": "Trivy",
                "version": trivy_version,
                "vendor": {"name": "Aqua Security"},
                "url": "https://github.com/aquasecurity/trivy",
            },
            "type": "container_scanning",
            "status": "success",
            "start_time": _gitlab_time(_scan_start(result.reports, now)),
            "end_time": _gitlab_time(now),
            "messages": messages,
        },
        "remediations": [],
    }
    yield orjson.dumps(head)[:-1] + b',"vulnerabilities":['
    used: set[str] = set()
    places = {report.index: _image_and_os(report) for report in result.reports}
    dumps = orjson.dumps
    for number, (finding, disposition, waiver) in enumerate(result.decisions):
        seed = f"{finding.report.artifact_id}\x1f{finding.fingerprint}"
        vuln_id = _uuid5(seed)
        occurrence = 1
        while vuln_id in used:
            # Trivy can list an identical row twice; keep both, with distinct ids.
            occurrence += 1
            vuln_id = _uuid5(f"{seed}\x1f{occurrence}")
        used.add(vuln_id)
        image, report_os = places[finding.report.index]
        chunk = dumps(_vulnerability(finding, disposition, waiver, vuln_id, image, report_os))
        yield b"," + chunk if number else chunk
    yield b"]}\n"
