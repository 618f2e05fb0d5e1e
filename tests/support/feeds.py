"""Risk feeds in the formats their publishers use, built for tests (nothing is downloaded).

KEV: CISA's known_exploited_vulnerabilities.json (schema: catalogVersion, dateReleased, count,
vulnerabilities[] with cveID, vendorProject, product, vulnerabilityName, dateAdded,
shortDescription, requiredAction, dueDate, knownRansomwareCampaignUse, notes, cwes).
EPSS: FIRST's epss_scores-YYYY-MM-DD.csv(.gz): a `#model_version:...,score_date:...` line, the
`cve,epss,percentile` header, one row per CVE.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def kev_entry(cve: str, due: str = "2026-01-15", ransomware: str = "Unknown",
              added: str = "2025-12-25") -> dict[str, Any]:
    return {
        "cveID": cve, "vendorProject": "Example", "product": "Example Product",
        "vulnerabilityName": f"Example Product flaw ({cve})", "dateAdded": added,
        "shortDescription": "An example flaw exploited in the wild.",
        "requiredAction": "Apply mitigations per vendor instructions or discontinue use.",
        "dueDate": due, "knownRansomwareCampaignUse": ransomware,
        "notes": f"https://nvd.nist.gov/vuln/detail/{cve}", "cwes": ["CWE-787"],
    }


def kev_doc(entries: list[dict[str, Any]], released: dt.datetime | None = None,
            version: str = "2026.12.06") -> dict[str, Any]:
    stamp = (released or now()).astimezone(dt.UTC)
    return {
        "title": "CISA Catalog of Known Exploited Vulnerabilities",
        "catalogVersion": version,
        # As published: milliseconds and a Z.
        "dateReleased": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
        "count": len(entries),
        "vulnerabilities": entries,
    }


def write_kev(path: Path, entries: list[dict[str, Any]], **kwargs: Any) -> Path:
    path.write_text(json.dumps(kev_doc(entries, **kwargs), indent=2), encoding="utf-8")
    return path


def epss_text(rows: list[tuple[str, float, float]], score_date: dt.datetime | None = None,
              model: str = "v2025.03.14") -> str:
    stamp = (score_date or now()).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"#model_version:{model},score_date:{stamp}", "cve,epss,percentile"]
    lines += [f"{cve},{score:.5f},{percentile:.5f}" for cve, score, percentile in rows]
    return "\n".join(lines) + "\n"


def write_epss(path: Path, rows: list[tuple[str, float, float]], gzipped: bool = False,
               **kwargs: Any) -> Path:
    data = epss_text(rows, **kwargs).encode("utf-8")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path
