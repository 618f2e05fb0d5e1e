"""An ECR scan as a Trivy JSON report (SchemaVersion 2), so the gate judges ECR's verdict too.

Severity mapping (ECR/Inspector -> scangate):
  CRITICAL, HIGH, MEDIUM, LOW -> the same;
  INFORMATIONAL -> LOW (a real finding rated below LOW; counting it as LOW keeps it visible to
  a ``low`` limit instead of hiding it under UNKNOWN, which many policies leave unlimited);
  UNDEFINED (basic) and UNTRIAGED (Inspector) -> UNKNOWN;
  anything else is an error (fail closed), never a guess.

Enhanced (Inspector) findings name every vulnerable package; each package becomes its own Trivy
vulnerability, as Trivy reports them. Findings Inspector has CLOSED are left out and counted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from scangate import __version__
from scangate.aws.ecr import EcrImage, Scan
from scangate.errors import AwsError

SEVERITY = {
    "CRITICAL": "CRITICAL",
    "HIGH": "HIGH",
    "MEDIUM": "MEDIUM",
    "LOW": "LOW",
    "INFORMATIONAL": "LOW",
    "UNDEFINED": "UNKNOWN",
    "UNTRIAGED": "UNKNOWN",
}
# Inspector package managers -> (Trivy type, Trivy target when the target is not the file).
LANGUAGE = {
    "BUNDLER": ("bundler", ""), "CARGO": ("cargo", ""), "COMPOSER": ("composer", ""),
    "NPM": ("npm", ""), "NUGET": ("nuget", ""), "PIPENV": ("pipenv", ""),
    "POETRY": ("poetry", ""), "YARN": ("yarn", ""), "GOMOD": ("gomod", ""),
    "GOBINARY": ("gobinary", ""), "POM": ("pom", ""), "PIP": ("pip", ""),
    "DOTNET_CORE": ("dotnet-core", ""), "JAR": ("jar", "Java"),
    "PYTHONPKG": ("python-pkg", "Python"), "NODEPKG": ("node-pkg", "Node.js"),
    "GEMSPEC": ("gemspec", "Ruby"),
}
NO_FIX = {"", "NotAvailable", "NOT_AVAILABLE", "None"}


def _severity(value: object, where: str) -> str:
    mapped = SEVERITY.get(str(value or "").upper())
    if mapped is None:
        raise AwsError(f"{where}: unknown ECR severity {value!r} (known: "
                       f"{', '.join(SEVERITY)}); update scangate")
    return mapped


def _attributes(finding: dict[str, Any]) -> dict[str, str]:
    return {str(a.get("key")): str(a.get("value", "")) for a in finding.get("attributes") or []
            if isinstance(a, dict) and a.get("key")}


def _score(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _basic_cvss(attributes: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for version in ("2", "3"):
        score = _score(attributes.get(f"CVSS{version}_SCORE", ""))
        if score is not None:
            entry[f"V{version}Score"] = score
        vector = attributes.get(f"CVSS{version}_VECTOR")
        if vector:
            entry[f"V{version}Vector"] = vector
    return {"ecr": entry} if entry else {}


def _os_label(platform: str) -> str:
    """Inspector's 'DEBIAN_12' / 'AMAZON_LINUX_2023' -> ('debian', '12') style label parts."""
    if not platform:
        return ""
    family, _, version = platform.rpartition("_")
    if not family or not any(c.isdigit() for c in version):
        return platform.lower().replace("_", " ")
    return f"{family.lower().replace('_', '-')} {version}"


def _basic(artifact: str, scan: Scan) -> list[tuple[tuple[str, str, str],
                                                                       dict[str, Any]]]:
    out = []
    for number, finding in enumerate(scan.findings):
        where = f"ECR finding {number} ({finding.get('name', '?')})"
        attributes = _attributes(finding)
        package = attributes.get("package_name", "")
        name = str(finding.get("name") or "")
        if not name or not package:
            raise AwsError(f"{where}: no vulnerability name or package_name attribute; "
                           "cannot tell what is vulnerable")
        uri = str(finding.get("uri") or "")
        vuln: dict[str, Any] = {
            "VulnerabilityID": name,
            "PkgName": package,
            "InstalledVersion": attributes.get("package_version", ""),
            # Basic scanning does not report fixed versions: every finding counts as unfixed.
            "FixedVersion": "",
            "Severity": _severity(finding.get("severity"), where),
            "SeveritySource": "ecr",
            "VendorSeverity": {"ecr": str(finding.get("severity") or "")},
            "PrimaryURL": uri,
            "Title": name,
            "Description": str(finding.get("description") or ""),
            "References": [uri] if uri else [],
            "DataSource": {"ID": "ecr", "Name": "Amazon ECR basic scanning"},
        }
        cvss = _basic_cvss(attributes)
        if cvss:
            vuln["CVSS"] = cvss
        key = ("os-pkgs", "", f"{artifact} (ecr basic scan)")
        out.append((key, vuln))
    return out


def _version(package: dict[str, Any]) -> str:
    version = str(package.get("version") or "")
    epoch = package.get("epoch")
    release = str(package.get("release") or "")
    if epoch not in (None, 0, "0", ""):
        version = f"{epoch}:{version}"
    if release:
        version = f"{version}-{release}"
    return version


def _enhanced_cvss(details: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for entry in details.get("cvss") or []:
        if not isinstance(entry, dict):
            continue
        version = str(entry.get("version") or "")
        prefix = "V40" if version.startswith("4") else "V2" if version.startswith("2") else "V3"
        source = str(entry.get("source") or "inspector").lower()
        target = out.setdefault(source, {})
        if isinstance(entry.get("baseScore"), int | float):
            target[f"{prefix}Score"] = float(entry["baseScore"])
        if entry.get("scoringVector"):
            target[f"{prefix}Vector"] = str(entry["scoringVector"])
    return {k: v for k, v in out.items() if v}


def _platform(finding: dict[str, Any]) -> str:
    for resource in finding.get("resources") or []:
        image = ((resource or {}).get("details") or {}).get("awsEcrContainerImage") or {}
        if image.get("platform"):
            return str(image["platform"])
    return ""


def _enhanced(artifact: str, scan: Scan) -> tuple[list[tuple[tuple[str, str, str],
                                                             dict[str, Any]]], int]:
    out = []
    closed = 0
    for number, finding in enumerate(scan.enhanced):
        where = f"ECR enhanced finding {number} ({finding.get('findingArn', '?')})"
        if str(finding.get("status") or "").upper() == "CLOSED":
            closed += 1
            continue
        details = finding.get("packageVulnerabilityDetails")
        if not isinstance(details, dict):
            raise AwsError(f"{where}: type {finding.get('type')!r} has no "
                           "packageVulnerabilityDetails; scangate reads package findings only")
        vuln_id = str(details.get("vulnerabilityId") or "")
        packages = details.get("vulnerablePackages") or []
        if not vuln_id or not packages:
            raise AwsError(f"{where}: no vulnerabilityId or vulnerablePackages")
        severity = _severity(finding.get("severity"), where)
        references = [str(u) for u in details.get("referenceUrls") or [] if u]
        source_url = str(details.get("sourceUrl") or "")
        if source_url and source_url not in references:
            references.insert(0, source_url)
        os_label = _os_label(_platform(finding))
        for package in packages:
            name = str(package.get("name") or "")
            if not name:
                raise AwsError(f"{where}: a vulnerable package has no name")
            manager = str(package.get("packageManager") or "OS").upper()
            fixed = str(package.get("fixedInVersion") or "")
            fixed = "" if fixed in NO_FIX else fixed
            file_path = str(package.get("filePath") or "")
            if manager == "OS":
                os_part = os_label or "ecr enhanced scan"
                key = ("os-pkgs", os_part.split(" ", 1)[0], f"{artifact} ({os_part})")
            else:
                kind, label = LANGUAGE.get(manager, (manager.lower(), manager))
                key = ("lang-pkgs", kind, label or file_path or manager)
            vuln: dict[str, Any] = {
                "VulnerabilityID": vuln_id,
                "PkgName": name,
                "InstalledVersion": _version(package),
                "FixedVersion": fixed,
                "Status": "fixed" if fixed else "affected",
                "Severity": severity,
                "SeveritySource": str(details.get("source") or "inspector").lower(),
                "VendorSeverity": {"inspector": str(details.get("vendorSeverity")
                                                    or finding.get("severity") or "")},
                "PrimaryURL": source_url or (references[0] if references else ""),
                "Title": str(finding.get("title") or vuln_id),
                "Description": str(finding.get("description") or ""),
                "References": references,
                "DataSource": {"ID": "inspector", "Name": "Amazon Inspector (ECR enhanced "
                               "scanning)"},
            }
            if file_path:
                vuln["PkgPath"] = file_path
            cvss = _enhanced_cvss(details)
            if cvss:
                vuln["CVSS"] = cvss
            for field, key_name in (("PublishedDate", "vendorCreatedAt"),
                                    ("LastModifiedDate", "vendorUpdatedAt")):
                if details.get(key_name):
                    vuln[field] = _iso_value(details[key_name])
            if finding.get("status"):
                vuln["ECRFindingStatus"] = str(finding["status"])
            out.append((key, vuln))
    return out, closed


def _iso_value(value: object) -> str:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def to_trivy(image: EcrImage, scan: Scan, now: dt.datetime) -> tuple[dict[str, Any], int]:
    """The Trivy report and the number of CLOSED enhanced findings left out."""
    uri = image.repository_uri
    artifact = f"{uri}:{image.requested_tag}" if image.requested_tag else f"{uri}@{image.digest}"
    entries = _basic(artifact, scan)
    enhanced, closed = _enhanced(artifact, scan)
    entries.extend(enhanced)
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for key, vuln in entries:
        grouped.setdefault(key, []).append(vuln)
    results = []
    for (result_class, kind, target), vulns in sorted(grouped.items()):
        vulns.sort(key=lambda v: (v["VulnerabilityID"], v["PkgName"], v["InstalledVersion"]))
        result: dict[str, Any] = {"Target": target, "Class": result_class, "Vulnerabilities": vulns}
        if kind:
            result["Type"] = kind
        results.append(result)
    tags = list(image.tags)
    if image.requested_tag and image.requested_tag not in tags:
        tags.insert(0, image.requested_tag)
    metadata: dict[str, Any] = {
        "RepoTags": [f"{uri}:{t}" for t in tags],
        "RepoDigests": [f"{uri}@{image.digest}"],
    }
    report = {
        "SchemaVersion": 2,
        "CreatedAt": _iso_value(now),
        "ArtifactName": artifact,
        "ArtifactType": "container_image",
        "Metadata": metadata,
        "Results": results,
        # Where this report came from; Trivy readers ignore unknown top-level keys.
        "ECRScan": {
            "RegistryId": image.registry_id,
            "RepositoryName": image.repository,
            "ImageDigest": image.digest,
            "ScanType": scan.scan_type,
            "Status": scan.status,
            "Description": scan.description,
            "CompletedAt": scan.completed_at,
            "VulnerabilitySourceUpdatedAt": scan.source_updated_at,
            "FindingSeverityCounts": scan.severity_counts,
            "ClosedFindingsLeftOut": closed,
            "WrittenBy": f"scangate {__version__}",
        },
    }
    return report, closed
