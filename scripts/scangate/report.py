"""Reading Trivy JSON reports (SchemaVersion 2) into findings, failing closed.

Anything that is not plainly a Trivy report is an error naming the file and the problem: a gate
that guessed its way through a truncated or foreign file could pass an image it never saw.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any

import msgspec

from scangate import trivy_json
from scangate.errors import ReportError
from scangate.findings import Finding, Report
from scangate.input_files import InputFileError, read_input
from scangate.severity import Severity

SUPPORTED_SCHEMA_VERSION = 2
# Result classes whose findings are gated, and those read but not gated.
GATED_CLASSES = {"os-pkgs", "lang-pkgs", "secret", "config"}
NOT_GATED_CLASSES = {"license", "license-file", "custom"}

# Trivy writes severities in upper case; anything else takes the slow path, which accepts any case.
_SEVERITY_BY_NAME = {s.name: s for s in Severity}

_HOW_TO_FIX = "write it with `trivy <image|fs|repo> --format json --output FILE`"

# msgspec refuses deep nesting through Python's recursion limit, which anything else in the
# process may have raised (a test runner, a library, an embedding program). Reading runs under
# a limit of its own, so "nested too deeply" means the same thing everywhere; Trivy's reports
# nest about ten levels.
_MAX_NESTING = 200


def _fail(path: str, problem: str) -> ReportError:
    return ReportError(f"{path}: {problem}")


# Reports smaller than this are read; larger ones are mapped, so the pages already decoded can
# be given back while the findings are built.
_MAP_FROM = 1 << 20
# Give decoded pages of a mapped report back every this many bytes of vulnerabilities.
_RELEASE_EVERY = 8 << 20


class _Input:
    """A report's bytes: read, or mapped read-only when large (and the file can be mapped).

    ``release`` drops the mapped pages from this process (they stay in the page cache and come
    back on the next read): the decoder walks the file in passes, and no pass needs the pages
    the previous one touched. For read bytes it does nothing.
    """

    def __init__(self, data: trivy_json.Buffer) -> None:
        self.data = data
        # Vulnerability keys of a newer Trivy met in this report (see
        # trivy_json.strict_vulnerability_decoder).
        self.learned_keys: frozenset[str] = frozenset()
        # Bytes of vulnerabilities decoded since the last release, across results: a report
        # of many small results (50 x 400 findings) must give pages back as often as one of a
        # single large result.
        self.unreleased = 0

    def note_read(self, size: int) -> None:
        self.unreleased += size
        if self.unreleased >= _RELEASE_EVERY:
            self.release()
            self.unreleased = 0

    def release(self) -> None:
        if isinstance(self.data, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            with contextlib.suppress(OSError, ValueError):
                self.data.madvise(mmap.MADV_DONTNEED)


def read_report(path: str) -> _Input:
    try:
        # Non-blocking open: a FIFO without a writer (or a symlink to one) must not hang the
        # gate; anything but a regular file is read through input_files, bounded.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            os.close(fd)
            raise IsADirectoryError
        if not stat.S_ISREG(mode):
            os.close(fd)
            try:
                streamed = read_input(path, MAX_STREAMED_REPORT)
            except InputFileError as exc:
                raise _fail(path, f"cannot read report: {exc}") from None
            return _checked_input(streamed, path)
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            data: trivy_json.Buffer | None = None
            if size >= _MAP_FROM:
                # Not every file can be mapped (a pipe, some file systems): then read it. A file
                # truncated by another process while mapped kills this one with SIGBUS: a
                # non-zero exit, so the pipeline still fails.
                with contextlib.suppress(OSError, ValueError):
                    data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            if data is None:
                data = handle.read()
    except FileNotFoundError:
        raise _fail(path, f"report not found; {_HOW_TO_FIX}") from None
    except IsADirectoryError:
        raise _fail(path, "is a directory, not a report file") from None
    except OSError as exc:
        raise _fail(path, f"cannot read report: {exc.strerror or exc}") from None
    return _checked_input(data, path)


def _checked_input(data: trivy_json.Buffer, path: str) -> _Input:
    if isinstance(data, bytes) and not data.strip():
        raise _fail(path, f"report is empty (did the scan fail?); {_HOW_TO_FIX}")
    for mark, name in _BYTE_ORDER_MARKS:
        if data[: len(mark)] == mark:
            # Go's JSON reader (trivy convert) refuses a byte-order mark too.
            raise _fail(path, f"starts with a {name} byte-order mark, which neither Trivy nor "
                        "JSON allows: save the report as UTF-8 without a BOM (Trivy writes it "
                        "so; an editor or PowerShell's Out-File added it)")
    return _Input(data)


# A report read from a pipe or a device is held in memory: at most this much of it.
MAX_STREAMED_REPORT = 1 << 30
_BYTE_ORDER_MARKS = ((b"\xef\xbb\xbf", "UTF-8"), (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def _not_json(path: str, why: str) -> ReportError:
    return _fail(path, f"not valid JSON, the file is truncated or not JSON ({why}); rerun the "
                 f"scan and {_HOW_TO_FIX}")


def _decode_head(source: _Input, path: str) -> trivy_json.TrivyHead | trivy_json.StrictHead:
    bad = trivy_json.first_invalid_utf8(source.data)
    source.release()
    if bad is not None:
        raise _not_json(path, f"bytes that are not UTF-8 near byte {bad}")
    try:
        try:
            # Strict first: it refuses keys Trivy does not write, which is how a key spelled in
            # another letter case is noticed without looking at every key in Python.
            return trivy_json.STRICT_HEAD_DECODER.decode(source.data)
        except msgspec.ValidationError as exc:
            if not trivy_json.is_unknown_field(exc):
                raise
        finally:
            source.release()
        _refuse_misspelled_keys(source.data, path)
        return trivy_json.HEAD_DECODER.decode(source.data)
    except msgspec.ValidationError as exc:
        shape_error = _fail(path, trivy_json.explain(exc))
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _not_json(path, str(exc)) from None
    except RecursionError:
        raise _too_deep(path, "") from None
    finally:
        source.release()
    # Say first what is wrong with the file as a whole (foreign file, SchemaVersion), if anything.
    try:
        head_only = trivy_json.HEAD_ONLY_DECODER.decode(source.data)
    except msgspec.MsgspecError:
        raise shape_error from None
    _report_from_head(head_only, path, 0)
    raise shape_error


def _too_deep(path: str, where: str) -> ReportError:
    return _fail(path, f"{where + ': ' if where else ''}JSON nested too deeply to be a Trivy "
                 "report; rerun the scan and " + _HOW_TO_FIX)


def _misspelled(path: str, where: str, key: str, exact: str) -> ReportError:
    return _fail(path, f"{where + ': ' if where else ''}key {key!r} is not spelled as Trivy "
                 f"writes it ({exact!r}); Trivy reads keys ignoring case, scangate does not, so "
                 "the two would read this report differently: refusing it. Gate the report "
                 "Trivy wrote, unedited")


def _refuse_misspelled_keys(data: trivy_json.Buffer, path: str) -> None:
    """The slow check, run only when the strict decoder met a key it does not know: refuse a
    top-level or result key that Go would read as one of Trivy's. Unknown keys that fold to
    nothing Trivy has (a newer Trivy's additions) are fine and skipped."""
    try:
        top = trivy_json.KEYS_DECODER.decode(data)
    except msgspec.MsgspecError:
        return  # not an object: the permissive decoder says what is wrong
    hit = trivy_json.misspelled_key(top, trivy_json.HEAD_KEYS)
    if hit:
        raise _misspelled(path, "", *hit)
    results = top.get("Results")
    if results is None:
        return
    try:
        rows = trivy_json.LIST_OF_KEYS_DECODER.decode(results)
    except msgspec.MsgspecError:
        return
    for number, row in enumerate(rows):
        hit = trivy_json.misspelled_key(row, trivy_json.RESULT_KEYS)
        if hit:
            raise _misspelled(path, f"Results[{number}]", *hit)


def _check_keys(entry: dict[str, Any], known: frozenset[str], path: str, where: str) -> None:
    hit = trivy_json.misspelled_key(entry, known)
    if hit:
        raise _misspelled(path, where, *hit)


def _lenient_vulnerability(raw: msgspec.Raw, source: _Input, path: str,
                           where: str) -> trivy_json.TrivyVulnerability:
    """A vulnerability with a key the strict type does not list: refuse it if the key is one
    of Trivy's in another spelling, else read it (a field newer Trivy versions added) and let
    the strict decoder accept that key from now on."""
    try:
        keys = trivy_json.KEYS_DECODER.decode(raw)
    except msgspec.MsgspecError as exc:
        raise _not_json(path, f"{where}: {exc}") from None
    hit = trivy_json.misspelled_key(keys, trivy_json.VULNERABILITY_KEYS)
    if hit:
        raise _misspelled(path, where, *hit)
    source.learned_keys |= keys.keys() - trivy_json.VULNERABILITY_KEYS
    return trivy_json.VULNERABILITY_DECODER.decode(raw)


def parse_report(data: bytes, path: str, index: int = 0) -> Report:
    return _parse(_Input(data), path, index)


@contextlib.contextmanager
def _bounded_nesting() -> Iterator[None]:
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + _MAX_NESTING)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _parse(source: _Input, path: str, index: int) -> Report:
    with _bounded_nesting():
        head = _decode_head(source, path)
        report = _report_from_head(head, path, index)
        for number, result in enumerate(head.Results or ()):
            _read_result(report, result, source, f"Results[{number}]")
    source.release()
    return report


def _report_from_head(head: trivy_json.TrivyHead | trivy_json.StrictHead
                      | trivy_json.TrivyHeadOnly, path: str,
                      index: int) -> Report:
    if head.SchemaVersion is None:
        hint = ""
        if head.runs or head.schema:
            hint = " (this looks like SARIF: pass Trivy's JSON report instead)"
        elif head.bomFormat or head.spdxVersion:
            hint = " (this looks like an SBOM: scan it with trivy sbom --format json)"
        raise _fail(path, f"not a Trivy JSON report: no SchemaVersion{hint}; {_HOW_TO_FIX}")
    version = head.SchemaVersion
    if version != SUPPORTED_SCHEMA_VERSION or isinstance(version, bool):
        raise _fail(
            path,
            f"unsupported Trivy SchemaVersion {version!r} (scangate reads SchemaVersion 2, "
            "written by Trivy 0.20 and newer)",
        )
    metadata = head.Metadata or {}
    if not isinstance(metadata, dict):
        raise _fail(path, "Metadata is not an object")
    # The image's identity (ImageID, RepoTags, RepoDigests) is read from here and checked by
    # `scangate push`: it must be what Trivy would read too.
    _check_keys(metadata, trivy_json.METADATA_KEYS, path, "Metadata")
    if isinstance(metadata.get("OS"), dict):
        _check_keys(metadata["OS"], trivy_json.OS_KEYS, path, "Metadata.OS")
    if trivy_json.DB_RECORD_KEY in metadata:
        _check_db_record(metadata[trivy_json.DB_RECORD_KEY], path)
    return Report(
        path=path,
        index=index,
        artifact_name=_str(head.ArtifactName, path, "ArtifactName"),
        artifact_type=_str(head.ArtifactType, path, "ArtifactType"),
        created_at=_str(head.CreatedAt, path, "CreatedAt"),
        metadata=metadata,
        scanner_version=_scanner_version(head.Trivy),
    )


def _check_db_record(record: object, path: str) -> None:
    """The vulnerability DB `scangate scan` names (copied to summary.json as it is): strings
    only, Trivy's key names, so that no odd value reaches an output."""
    where = f"Metadata.{trivy_json.DB_RECORD_KEY}"
    if not isinstance(record, dict):
        raise _fail(path, f"{where} is not an object")
    for key, value in record.items():
        if key not in trivy_json.DB_RECORD_FIELDS:
            raise _fail(path, f"{where}: unknown key {key!r} (scangate scan writes "
                        f"{', '.join(sorted(trivy_json.DB_RECORD_FIELDS))})")
        if key == "Repository":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _fail(path, f"{where}.Repository is not a list of strings")
        elif value is not None and not isinstance(value, str):
            raise _fail(path, f"{where}.{key} is {type(value).__name__}, not a string")


def load_report(path: str, index: int = 0) -> Report:
    return _parse(read_report(path), path, index)


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


def _scanner_version(trivy: object) -> str:
    if isinstance(trivy, dict) and isinstance(trivy.get("Version"), str):
        return str(trivy["Version"])
    return ""


def _str(value: object, where: str, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReportError(f"{where}: {name} is {type(value).__name__}, not a string")
    return value


def _list(value: object, key: str, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"{where}: {key} is {type(value).__name__}, not a list")
    return value


def _severity(value: object, where: str) -> Severity:
    if value is None:
        raise ReportError(
            f"{where}: no Severity. Trivy writes one for every finding (UNKNOWN, LOW, MEDIUM, "
            "HIGH or CRITICAL); a report without it was edited or made by another tool: gate "
            "the report Trivy wrote, or add the finding's Severity")
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise ReportError(f"{where}: {exc}") from None


def _read_result(report: Report, result: trivy_json.TrivyResult, source: _Input,
                 where: str) -> None:
    at = f"{report.path}: {where}"
    target = _str(result.Target, at, "Target")
    result_class = _str(result.Class, at, "Class")
    result_type = _str(result.Type, at, "Type")
    vulns = result.Vulnerabilities or []
    secrets = _list(result.Secrets, "Secrets", at)
    misconfigs = _list(result.Misconfigurations, "Misconfigurations", at)
    modified = _list(result.ExperimentalModifiedFindings, "ExperimentalModifiedFindings", at)
    if not (vulns or secrets or misconfigs or modified):
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
    decode = trivy_json.strict_vulnerability_decoder(source.learned_keys).decode
    vuln: trivy_json.TrivyVulnerability
    for number, raw in enumerate(vulns):
        try:
            vuln = decode(raw)
        except msgspec.ValidationError as exc:
            if not trivy_json.is_unknown_field(exc):
                raise _fail(report.path, trivy_json.explain(
                    exc, f"{where}.Vulnerabilities[{number}]")) from None
            vuln = _lenient_vulnerability(raw, source, report.path,
                                          f"{where}.Vulnerabilities[{number}]")
            decode = trivy_json.strict_vulnerability_decoder(source.learned_keys).decode
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise _not_json(report.path, f"{where}.Vulnerabilities[{number}]: {exc}") from None
        except RecursionError:
            raise _too_deep(report.path, f"{where}.Vulnerabilities[{number}]") from None
        findings.append(_vulnerability(report, vuln, target, result_class, result_type,
                                       at, number))
        source.note_read(len(raw))
    for number, secret in enumerate(secrets):
        findings.append(_secret(report, secret, target, result_class, result_type,
                                f"{at}.Secrets[{number}]"))
    for number, misconfig in enumerate(misconfigs):
        finding = _misconfiguration(report, misconfig, target, result_class, result_type,
                                    f"{at}.Misconfigurations[{number}]")
        if finding is None:
            report.non_failing_misconfigurations += 1
        else:
            findings.append(finding)
    for number, entry in enumerate(modified):
        _modified_finding(report, entry, target, result_class, result_type,
                          f"{at}.ExperimentalModifiedFindings[{number}]")


# What Trivy can put in ExperimentalModifiedFindings[].Type (pkg/types/finding.go).
_MODIFIED_TYPES = ("vulnerability", "secret", "misconfiguration", "license")


def _modified_finding(report: Report, entry: object, target: str, result_class: str,
                      result_type: str, where: str) -> None:
    """A finding Trivy suppressed (a .trivyignore or trivy.yaml entry, an ignore policy, a VEX
    statement) and listed because of --show-suppressed. Whoever wrote the suppression did not
    go through the policy: the finding counts like any other unless a policy waiver covers
    it."""
    if not isinstance(entry, dict):
        raise ReportError(f"{where}: is {type(entry).__name__}, not an object")
    _check_keys(entry, trivy_json.MODIFIED_FINDING_KEYS, report.path, where)
    kind, status, source = entry.get("Type"), entry.get("Status"), entry.get("Source")
    raw = entry.get("Finding")
    if kind not in _MODIFIED_TYPES:
        raise ReportError(
            f"{where}: Type {kind!r} is not one scangate knows ({', '.join(_MODIFIED_TYPES)}); "
            "refusing the report rather than dropping a finding Trivy suppressed")
    if kind == "license":
        return  # licenses are not gated, suppressed or not
    if not isinstance(raw, dict):
        raise ReportError(f"{where}: Finding is missing or not an object")
    inner = f"{where}.Finding"
    finding: Finding | None
    if kind == "vulnerability":
        _check_keys(raw, trivy_json.VULNERABILITY_KEYS, report.path, inner)
        try:
            vuln = msgspec.convert(raw, trivy_json.TrivyVulnerability)
        except msgspec.ValidationError as exc:
            raise _fail(report.path, trivy_json.explain(exc, inner)) from None
        finding = _checked_vulnerability(report, vuln, target, result_class, result_type, inner)
    elif kind == "secret":
        finding = _secret(report, raw, target, result_class, result_type, inner)
    else:
        finding = _misconfiguration(report, raw, target, result_class, result_type, inner)
        if finding is None:
            report.non_failing_misconfigurations += 1
            return
    finding.suppressed_by = (f"{_text(source) or 'Trivy'} ({_text(status) or 'suppressed'})")
    finding.suppressed_source = _text(source)
    report.findings.append(finding)


def _required_id(entry: dict[str, Any], keys: tuple[str, ...], where: str) -> str:
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return value
    raise ReportError(f"{where}: no {' or '.join(keys)}: not a Trivy finding")


# A tuple, not ``int | float``: this runs per CVSS entry, and a union is built on each call.
_NUMBER = (int, float)


def _score(entry: object) -> float | None:
    if isinstance(entry, dict):
        for key in ("V40Score", "V3Score"):
            value = entry.get(key)
            # CVSS scores are 0.0-10.0: anything else is not a score (and a huge int would not
            # even convert to a float).
            if isinstance(value, _NUMBER) and not isinstance(value, bool) and 0 < value <= 10:
                return float(value)
    return None


def _cvss_score(cvss: object, source: object) -> float | None:
    """The CVSS base score Trivy reports: the severity source's, else NVD's, else the highest."""
    if not isinstance(cvss, dict) or not cvss:
        return None
    for name in (source, "nvd"):
        if isinstance(name, str) and (found := _score(cvss.get(name))) is not None:
            return found
    scores = [s for s in map(_score, cvss.values()) if s is not None]
    return max(scores) if scores else None


def _references(refs: object, where: str) -> list[str]:
    if refs is None:
        return []
    if not isinstance(refs, list):
        raise ReportError(f"{where}: References is not a list")
    return [r for r in refs if isinstance(r, str)]


def _text(value: object) -> str:
    """An optional string Trivy may leave out; anything but a string counts as absent."""
    return value if isinstance(value, str) else ""


def _vulnerability(report: Report, vuln: trivy_json.TrivyVulnerability, target: str,
                   result_class: str, result_type: str, result_where: str,
                   number: int) -> Finding:
    # The hot path of a large report: the place is only formatted when something is wrong.
    vid, package, severity_name = vuln.VulnerabilityID, vuln.PkgName, vuln.Severity
    title, description, installed = vuln.Title, vuln.Description, vuln.InstalledVersion
    fixed, status, primary_url = vuln.FixedVersion, vuln.Status, vuln.PrimaryURL
    pkg_path = vuln.PkgPath
    severity = _SEVERITY_BY_NAME.get(severity_name) if type(severity_name) is str else None
    if not (type(vid) is str and vid.strip() and type(package) is str and package.strip()
            and severity is not None
            and all(v is None or type(v) is str for v in (title, description, installed, fixed,
                                                            status, primary_url, pkg_path))):
        return _checked_vulnerability(report, vuln, target, result_class, result_type,
                                      f"{result_where}.Vulnerabilities[{number}]")
    refs = vuln.References
    if type(refs) is list and all(type(r) is str for r in refs):
        references: list[str] = refs
    else:
        references = _references(refs, f"{result_where}.Vulnerabilities[{number}]")
    ident = vuln.PkgIdentifier
    cvss = vuln.CVSS
    data_source = vuln.DataSource
    return Finding(
        kind="vulnerability",
        id=vid,
        severity=severity,
        target=target,
        result_class=result_class,
        result_type=result_type,
        title=title or "",
        description=description or "",
        primary_url=primary_url or "",
        references=references,
        report=report,
        package=package,
        installed_version=installed or "",
        fixed_version=fixed or "",
        status=status or "",
        pkg_path=pkg_path or "",
        purl=str(ident.get("PURL") or "") if isinstance(ident, dict) else "",
        cvss_score=_cvss_score(cvss, vuln.SeveritySource),
        cvss=cvss if isinstance(cvss, dict) else None,
        severity_source=_text(vuln.SeveritySource),
        data_source=(_text(data_source.get("Name")) or _text(data_source.get("ID"))
                     if isinstance(data_source, dict) else ""),
        published_date=_text(vuln.PublishedDate),
        last_modified_date=_text(vuln.LastModifiedDate),
    )


def _checked_vulnerability(report: Report, vuln: trivy_json.TrivyVulnerability, target: str,
                           result_class: str, result_type: str, where: str) -> Finding:
    """The slow path: find what is wrong and say it (or build the finding if nothing is)."""
    fields = {"VulnerabilityID": vuln.VulnerabilityID, "PkgName": vuln.PkgName,
              "PkgID": vuln.PkgID}
    vid = _required_id(fields, ("VulnerabilityID",), where)
    package = _required_id(fields, ("PkgName", "PkgID"), where)
    severity = _severity(vuln.Severity, where)
    checked = {name: _str(getattr(vuln, name), where, name)
               for name in ("Title", "Description", "PrimaryURL", "InstalledVersion",
                            "FixedVersion", "Status", "PkgPath")}
    # Normalized, the entry passes the fast path's checks.
    normalized = msgspec.structs.replace(
        vuln, VulnerabilityID=vid, PkgName=package, Severity=severity.name,
        References=_references(vuln.References, where), **checked)
    return _vulnerability(report, normalized, target, result_class, result_type, where, -1)


# Trivy's line numbers are Go ints; anything larger is not from Trivy, and no output could hold it.
_MAX_LINE = 2**63 - 1


def _line(value: object, where: str, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return 0
    if value > _MAX_LINE:
        raise ReportError(f"{where}: {name} {str(value)[:30]}... is larger than any line number "
                          "Trivy writes (64 bits)")
    return value


def _secret(report: Report, secret: object, target: str, result_class: str,
            result_type: str, where: str) -> Finding:
    if not isinstance(secret, dict):
        raise ReportError(f"{where}: is {type(secret).__name__}, not an object")
    _check_keys(secret, trivy_json.SECRET_KEYS, report.path, where)
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
        start_line=_line(get("StartLine"), where, "StartLine"),
        end_line=_line(get("EndLine"), where, "EndLine"),
        # Trivy masks the secret in Match; never copy anything else of the code.
        message=_str(get("Match"), where, "Match"),
    )


# Trivy's misconfiguration statuses (pkg/types/misconfiguration.go): PASS, FAIL, EXCEPTION.
_NON_FAILING_STATUSES = frozenset({"PASS", "EXCEPTION"})


def _misconfiguration(report: Report, misconfig: object, target: str, result_class: str,
                      result_type: str, where: str) -> Finding | None:
    if not isinstance(misconfig, dict):
        raise ReportError(f"{where}: is {type(misconfig).__name__}, not an object")
    _check_keys(misconfig, trivy_json.MISCONFIGURATION_KEYS, report.path, where)
    get = misconfig.get
    status = get("Status")
    # Only Trivy's own spellings of its pass states are not findings, compared exactly (no
    # case folding: Unicode folds other strings into PASS). Anything else is counted.
    if type(status) is str and status in _NON_FAILING_STATUSES:
        return None
    cause = get("CauseMetadata")
    start = end = 0
    if isinstance(cause, dict):
        _check_keys(cause, trivy_json.CAUSE_KEYS, report.path, f"{where}.CauseMetadata")
        at = f"{where}.CauseMetadata"
        start, end = _line(cause.get("StartLine"), at, "StartLine"), _line(cause.get("EndLine"),
                                                                            at, "EndLine")
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
        references=_references(get("References"), where),
        report=report,
        status=status if isinstance(status, str) else "FAIL",
        start_line=start,
        end_line=end,
        message=_str(get("Message"), where, "Message"),
        resolution=_str(get("Resolution"), where, "Resolution"),
    )
