"""Reading Trivy JSON reports (SchemaVersion 2) into findings, failing closed.

Anything that is not plainly a Trivy report is an error naming the file and the problem: a gate
that guessed its way through a truncated or foreign file could pass an image it never saw.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from scangate.errors import ReportError
from scangate.findings import Finding, Report
from scangate.severity import Severity

SUPPORTED_SCHEMA_VERSION = 2
# Result classes whose findings are gated, and those read but not gated.
GATED_CLASSES = {"os-pkgs", "lang-pkgs", "secret", "config"}
NOT_GATED_CLASSES = {"license", "license-file", "custom"}

_HOW_TO_FIX = "write it with `trivy <image|fs|repo> --format json --output FILE`"


def _fail(path: str, problem: str) -> ReportError:
    return ReportError(f"{path}: {problem}")


def read_report_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise _fail(path, f"report not found; {_HOW_TO_FIX}") from None
    except IsADirectoryError:
        raise _fail(path, "is a directory, not a report file") from None
    except OSError as exc:
        raise _fail(path, f"cannot read report: {exc.strerror or exc}") from None
    if not data.strip():
        raise _fail(path, f"report is empty (did the scan fail?); {_HOW_TO_FIX}")
    return data


def _decode(data: bytes, path: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _fail(
            path,
            f"not valid JSON, the file is truncated or not JSON ({exc}); rerun the scan and "
            f"{_HOW_TO_FIX}",
        ) from None


def parse_report(data: bytes, path: str, index: int = 0) -> Report:
    return report_from_document(_decode(data, path), path, index)


def report_from_document(doc: Any, path: str, index: int = 0) -> Report:
    if not isinstance(doc, dict):
        raise _fail(path, f"not a Trivy report: top level is {type(doc).__name__}, not an object")
    if "SchemaVersion" not in doc:
        hint = ""
        if "runs" in doc or "$schema" in doc:
            hint = " (this looks like SARIF: pass Trivy's JSON report instead)"
        elif "bomFormat" in doc or "spdxVersion" in doc:
            hint = " (this looks like an SBOM: scan it with trivy sbom --format json)"
        raise _fail(path, f"not a Trivy JSON report: no SchemaVersion{hint}; {_HOW_TO_FIX}")
    version = doc["SchemaVersion"]
    if version != SUPPORTED_SCHEMA_VERSION or isinstance(version, bool):
        raise _fail(
            path,
            f"unsupported Trivy SchemaVersion {version!r} (scangate reads SchemaVersion 2, "
            "written by Trivy 0.20 and newer)",
        )
    metadata = doc.get("Metadata") or {}
    if not isinstance(metadata, dict):
        raise _fail(path, "Metadata is not an object")
    report = Report(
        path=path,
        index=index,
        artifact_name=_str(doc.get("ArtifactName"), path, "ArtifactName"),
        artifact_type=_str(doc.get("ArtifactType"), path, "ArtifactType"),
        created_at=_str(doc.get("CreatedAt"), path, "CreatedAt"),
        metadata=metadata,
        scanner_version=_scanner_version(doc),
    )
    results = doc.get("Results")
    if results is None:
        # Trivy omits Results (omitempty) when nothing was detected.
        return report
    if not isinstance(results, list):
        raise _fail(path, f"Results is {type(results).__name__}, not a list: not a Trivy report")
    for number, result in enumerate(results):
        _read_result(report, result, f"{path}: Results[{number}]")
    return report


def load_report(path: str, index: int = 0) -> Report:
    # The raw bytes die with _decode's frame, before findings are built: peak memory is the
    # larger of (bytes + parsed tree) and (parsed tree + outputs), never all three.
    return report_from_document(_decode(read_report_bytes(path), path), path, index)


def load_reports(paths: list[str]) -> list[Report]:
    if not paths:
        raise ReportError("no report given: pass --report FILE (Trivy JSON) at least once")
    seen: set[str] = set()
    reports = []
    for index, path in enumerate(paths):
        real = os.path.realpath(path)
        if real in seen:
            # Reading one file twice would count every finding twice.
            raise ReportError(f"{path}: given twice with --report")
        seen.add(real)
        reports.append(load_report(path, index))
    return reports


def _scanner_version(doc: dict[str, Any]) -> str:
    trivy = doc.get("Trivy")
    if isinstance(trivy, dict) and isinstance(trivy.get("Version"), str):
        return str(trivy["Version"])
    return ""


def _str(value: object, where: str, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReportError(f"{where}: {name} is {type(value).__name__}, not a string")
    return value


def _list(result: dict[str, Any], key: str, where: str) -> list[Any]:
    value = result.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"{where}: {key} is {type(value).__name__}, not a list")
    return value


def _severity(value: object, where: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise ReportError(f"{where}: {exc}") from None


def _read_result(report: Report, result: object, where: str) -> None:
    if not isinstance(result, dict):
        raise ReportError(f"{where}: is {type(result).__name__}, not an object")
    target = _str(result.get("Target"), where, "Target")
    result_class = _str(result.get("Class"), where, "Class")
    result_type = _str(result.get("Type"), where, "Type")
    vulns = _list(result, "Vulnerabilities", where)
    secrets = _list(result, "Secrets", where)
    misconfigs = _list(result, "Misconfigurations", where)
    if not (vulns or secrets or misconfigs):
        if result_class and result_class not in GATED_CLASSES:
            reason = (
                "not gated by design"
                if result_class in NOT_GATED_CLASSES
                else "unknown result class, nothing to gate in it"
            )
            report.not_gated.append((target, result_class, reason))
        return
    # Findings are read wherever they appear, whatever the class says: never drop a finding
    # because a result is labelled oddly.
    findings = report.findings
    for number, vuln in enumerate(vulns):
        findings.append(_vulnerability(report, vuln, target, result_class, result_type,
                                       f"{where}.Vulnerabilities[{number}]"))
    for number, secret in enumerate(secrets):
        findings.append(_secret(report, secret, target, result_class, result_type,
                                f"{where}.Secrets[{number}]"))
    for number, misconfig in enumerate(misconfigs):
        finding = _misconfiguration(report, misconfig, target, result_class, result_type,
                                    f"{where}.Misconfigurations[{number}]")
        if finding is None:
            report.non_failing_misconfigurations += 1
        else:
            findings.append(finding)


def _required_id(entry: dict[str, Any], keys: tuple[str, ...], where: str) -> str:
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return value
    raise ReportError(f"{where}: no {' or '.join(keys)}: not a Trivy finding")


def _cvss_score(vuln: dict[str, Any]) -> float | None:
    """The CVSS base score Trivy reports: the severity source's, else NVD's, else the highest."""
    cvss = vuln.get("CVSS")
    if not isinstance(cvss, dict) or not cvss:
        return None

    def score(entry: object) -> float | None:
        if isinstance(entry, dict):
            for key in ("V40Score", "V3Score"):
                value = entry.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                    return float(value)
        return None

    source = vuln.get("SeveritySource")
    for name in (source, "nvd"):
        if isinstance(name, str) and (found := score(cvss.get(name))) is not None:
            return found
    scores = [s for s in (score(v) for v in cvss.values()) if s is not None]
    return max(scores) if scores else None


def _references(entry: dict[str, Any], where: str) -> list[str]:
    refs = entry.get("References")
    if refs is None:
        return []
    if not isinstance(refs, list):
        raise ReportError(f"{where}: References is not a list")
    return [r for r in refs if isinstance(r, str)]


def _vulnerability(report: Report, vuln: object, target: str, result_class: str,
                   result_type: str, where: str) -> Finding:
    if not isinstance(vuln, dict):
        raise ReportError(f"{where}: is {type(vuln).__name__}, not an object")
    get = vuln.get
    ident = get("PkgIdentifier")
    return Finding(
        kind="vulnerability",
        id=_required_id(vuln, ("VulnerabilityID",), where),
        severity=_severity(get("Severity"), where),
        target=target,
        result_class=result_class,
        result_type=result_type,
        title=_str(get("Title"), where, "Title"),
        description=_str(get("Description"), where, "Description"),
        primary_url=_str(get("PrimaryURL"), where, "PrimaryURL"),
        references=_references(vuln, where),
        report=report,
        raw=vuln,
        package=_required_id(vuln, ("PkgName", "PkgID"), where),
        installed_version=_str(get("InstalledVersion"), where, "InstalledVersion"),
        fixed_version=_str(get("FixedVersion"), where, "FixedVersion"),
        status=_str(get("Status"), where, "Status"),
        pkg_path=_str(get("PkgPath"), where, "PkgPath"),
        purl=str(ident.get("PURL") or "") if isinstance(ident, dict) else "",
        cvss_score=_cvss_score(vuln),
    )


def _line(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _secret(report: Report, secret: object, target: str, result_class: str,
            result_type: str, where: str) -> Finding:
    if not isinstance(secret, dict):
        raise ReportError(f"{where}: is {type(secret).__name__}, not an object")
    get = secret.get
    rule = _required_id(secret, ("RuleID",), where)
    title = _str(get("Title"), where, "Title") or rule
    return Finding(
        kind="secret",
        id=rule,
        severity=_severity(get("Severity"), where),
        target=target,
        result_class=result_class,
        result_type=result_type or "secret",
        title=title,
        description=f"{title} ({_str(get('Category'), where, 'Category') or 'secret'}) "
        f"found in {target}",
        primary_url="",
        references=[],
        report=report,
        raw=secret,
        start_line=_line(get("StartLine")),
        end_line=_line(get("EndLine")),
        # Trivy masks the secret in Match; never copy anything else of the code.
        message=_str(get("Match"), where, "Match"),
    )


def _misconfiguration(report: Report, misconfig: object, target: str, result_class: str,
                      result_type: str, where: str) -> Finding | None:
    if not isinstance(misconfig, dict):
        raise ReportError(f"{where}: is {type(misconfig).__name__}, not an object")
    get = misconfig.get
    status = get("Status")
    # Only FAIL is a finding; a missing or unknown status fails closed (counted).
    if isinstance(status, str) and status.upper() in ("PASS", "EXCEPTION"):
        return None
    cause = get("CauseMetadata")
    start = end = 0
    if isinstance(cause, dict):
        start, end = _line(cause.get("StartLine")), _line(cause.get("EndLine"))
    return Finding(
        kind="misconfiguration",
        id=_required_id(misconfig, ("ID", "AVDID"), where),
        severity=_severity(get("Severity"), where),
        target=target,
        result_class=result_class,
        result_type=result_type,
        title=_str(get("Title"), where, "Title"),
        description=_str(get("Description"), where, "Description"),
        primary_url=_str(get("PrimaryURL"), where, "PrimaryURL"),
        references=_references(misconfig, where),
        report=report,
        raw=misconfig,
        status=status if isinstance(status, str) else "FAIL",
        start_line=start,
        end_line=end,
        message=_str(get("Message"), where, "Message"),
        resolution=_str(get("Resolution"), where, "Resolution"),
    )
