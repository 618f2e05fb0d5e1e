"""Synthetic Trivy JSON reports (SchemaVersion 2) of any size, written by the tests themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ECR_REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app"
DIGEST = "sha256:" + "ab" * 32
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


def vulnerability(number: int, package: str, *, fixed: bool = True,
                  severity: str | None = None) -> dict[str, Any]:
    cve = f"CVE-2024-{number:05d}"
    return {
        "VulnerabilityID": cve,
        "PkgName": package,
        "PkgIdentifier": {"PURL": f"pkg:deb/debian/{package}@1.0-{number}"},
        "InstalledVersion": f"1.0-{number}",
        "FixedVersion": f"1.1-{number}" if fixed else "",
        "Status": "fixed" if fixed else "affected",
        "SeveritySource": "nvd",
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{cve.lower()}",
        "DataSource": {"ID": "debian", "Name": "Debian Security Tracker"},
        "Title": f"{package}: a flaw number {number}",
        "Description": f"A flaw in {package} lets an attacker do thing number {number}.",
        "Severity": severity or SEVERITIES[number % len(SEVERITIES)],
        "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                         "V3Score": 9.8, "V2Vector": "AV:N/AC:L/Au:N/C:P/I:P/A:P",
                         "V2Score": 7.5}},
        "References": [f"https://security-tracker.debian.org/tracker/{cve}"],
        "PublishedDate": "2024-01-02T03:04:05Z",
        "LastModifiedDate": "2024-02-03T04:05:06.123456789Z",
    }


def report(vulns: list[dict[str, Any]], *, repo: str = ECR_REPO, tag: str = "1.0",
           digest: str = DIGEST, secrets: int = 0, misconfigs: int = 0) -> dict[str, Any]:
    name = f"{repo}:{tag}"
    results: list[dict[str, Any]] = [{
        "Target": f"{name} (debian 12.5)", "Class": "os-pkgs", "Type": "debian",
        "Vulnerabilities": vulns,
    }]
    if secrets:
        results.append({
            "Target": "/app/config.env", "Class": "secret",
            "Secrets": [{"RuleID": "aws-access-key-id", "Category": "AWS",
                         "Severity": "CRITICAL", "Title": "AWS Access Key ID",
                         "StartLine": n + 1, "EndLine": n + 1, "Match": "AWS_KEY=****"}
                        for n in range(secrets)],
        })
    if misconfigs:
        results.append({
            "Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
            "Misconfigurations": [{"ID": f"DS{n:03d}", "AVDID": f"AVD-DS-{n:04d}",
                                   "Title": "Image user should not be root", "Status": "FAIL",
                                   "Severity": "HIGH", "Message": "Specify a USER",
                                   "Resolution": "Add 'USER nonroot' to the Dockerfile",
                                   "PrimaryURL": "https://avd.aquasec.com/misconfig/ds002",
                                   "CauseMetadata": {"StartLine": n + 1, "EndLine": n + 1}}
                                  for n in range(misconfigs)],
        })
    return {
        "SchemaVersion": 2,
        "CreatedAt": "2025-06-01T10:00:00.123456789Z",
        "ArtifactName": name,
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "debian", "Name": "12.5"},
            "ImageID": "sha256:" + "cd" * 32,
            "RepoTags": [name],
            "RepoDigests": [f"{repo}@{digest}"],
            "ImageConfig": {"architecture": "amd64", "os": "linux"},
        },
        "Results": results,
    }


def many(count: int, *, start: int = 0, fixed: bool = True) -> list[dict[str, Any]]:
    """``count`` vulnerabilities; every 10th CVE also hits a second package (two findings)."""
    out: list[dict[str, Any]] = []
    number = start
    while len(out) < count:
        out.append(vulnerability(number, f"lib{number % 97}", fixed=fixed))
        if number % 10 == 0 and len(out) < count:
            out.append(vulnerability(number, f"lib{number % 97}-dev", fixed=fixed))
        number += 1
    return out


def write(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)
