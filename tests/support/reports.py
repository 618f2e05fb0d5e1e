"""Builders for Trivy JSON reports (SchemaVersion 2) used by the gate tests.

The shapes follow Trivy's own JSON output (see ../shared/conformance/trivy-goldens); only the
fields scangate reads are filled, plus what makes them realistic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def vuln(
    vid: str = "CVE-2024-0001",
    pkg: str = "openssl",
    installed: str = "3.0.1-1",
    fixed: str = "3.0.2-1",
    severity: str = "HIGH",
    score: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "VulnerabilityID": vid,
        "PkgName": pkg,
        "PkgID": f"{pkg}@{installed}",
        "InstalledVersion": installed,
        "Status": "fixed" if fixed else "affected",
        "Severity": severity,
        "Title": f"{pkg}: a flaw ({vid})",
        "Description": f"A flaw in {pkg} allows something bad.",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vid.lower()}",
        "References": [f"https://nvd.nist.gov/vuln/detail/{vid}"],
    }
    if fixed:
        entry["FixedVersion"] = fixed
    if score is not None:
        entry["SeveritySource"] = "nvd"
        entry["CVSS"] = {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                                 "V3Score": score}}
    entry.update(extra)
    return entry


def secret(rule: str = "aws-access-key-id", severity: str = "CRITICAL",
           line: int = 3) -> dict[str, Any]:
    return {"RuleID": rule, "Category": "AWS", "Severity": severity, "Title": "AWS Access Key ID",
            "StartLine": line, "EndLine": line, "Match": "AWS_ACCESS_KEY_ID=********"}


def misconfig(mid: str = "DS-0002", severity: str = "HIGH", status: str = "FAIL",
              line: int = 0) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Type": "Dockerfile Security Check", "ID": mid, "Title": "Image user should not be 'root'",
        "Description": "Running as root allows container escape.", "Message": "Add USER",
        "Resolution": "Add 'USER <non root user name>' line", "Severity": severity,
        "PrimaryURL": f"https://avd.aquasec.com/misconfig/{mid.lower()}", "References": [],
        "Status": status, "CauseMetadata": {"Provider": "Dockerfile", "Service": "general"},
    }
    if line:
        entry["CauseMetadata"].update(StartLine=line, EndLine=line)
    return entry


def image_report(vulns: list[dict[str, Any]], name: str = "registry.example/app:1.0",
                 os_family: str = "debian", os_name: str = "12.5",
                 extra_results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    results: list[dict[str, Any]] = [{
        "Target": f"{name} ({os_family} {os_name})",
        "Class": "os-pkgs",
        "Type": os_family,
        "Vulnerabilities": vulns,
    }]
    results += extra_results or []
    return {
        "SchemaVersion": 2,
        "CreatedAt": "2026-11-01T10:00:00.123456789Z",
        "ArtifactName": name,
        "ArtifactType": "container_image",
        "Metadata": {"OS": {"Family": os_family, "Name": os_name},
                     "RepoTags": [name] if ":" in name.rsplit("/", 1)[-1] else []},
        "Results": results,
    }


def fs_report(results: list[dict[str, Any]], name: str = ".") -> dict[str, Any]:
    return {"SchemaVersion": 2, "CreatedAt": "2026-11-01T10:00:00Z", "ArtifactName": name,
            "ArtifactType": "filesystem", "Results": results}


def write(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)
