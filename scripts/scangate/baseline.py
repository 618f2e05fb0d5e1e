"""New, unchanged and fixed: the findings of this run compared with those of a baseline.

The baseline is what the change is compared with (the base branch's or the deployed image's
scan): a ``summary.json`` written by ``scangate gate`` (its ``findings`` list) or a Trivy JSON
report.

A finding's *identity* is what stays the same while the finding is the same problem:

- a vulnerability: the package ecosystem (Trivy's result ``Type``: ``debian``, ``python-pkg``,
  ``jar`` ...), the package name and the vulnerability id. Not the installed version: bumping
  a package that is still vulnerable is not a new finding. Not the target: Trivy names OS
  targets after the image and the OS release (``app:1.2 (debian 12.5)``), which a rebuild or a
  point release renames. Not the package path, which names the version for jars and wheels.
- a secret or a misconfiguration: the kind, the file (the target without the artifact's
  name) and the rule id. Not the line: an edit above it moves it.

Identities are counted, not just collected: two copies of a vulnerable package in the change
against one in the baseline are one unchanged finding and one new one.

Fail closed: a baseline that is missing or cannot be read is *not used*: nothing is classified,
every finding counts (``new_only`` is not applied) and every output says so.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from scangate.errors import ReportError
from scangate.findings import KINDS, Finding
from scangate.report import parse_report
from scangate.severity import Severity

NEW = "new"
UNCHANGED = "unchanged"
FIXED = "fixed"

# A baseline larger than this is not read (a summary of 100,000 findings is about 40 MB).
MAX_BASELINE_BYTES = 512 << 20


def identity(kind: str, ecosystem: str, target: str, package: str, vuln_id: str) -> str:
    """The identity described in the module docstring, as a hex digest."""
    if kind == "vulnerability":
        parts: tuple[str, ...] = (kind, ecosystem, package, vuln_id)
    else:
        parts = (kind, target, vuln_id)
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def finding_identity(finding: Finding) -> str:
    return identity(finding.kind, _ecosystem(finding), finding.stable_target, finding.package,
                    finding.id)


def _ecosystem(finding: Finding) -> str:
    return finding.result_type or finding.result_class


@dataclass(frozen=True, slots=True)
class BaselineFinding:
    """One finding of the baseline, as much of it as a reviewer needs to see it was fixed."""

    artifact: str
    kind: str
    id: str
    severity: Severity
    package: str
    installed_version: str
    ecosystem: str
    target: str

    @property
    def identity(self) -> str:
        return identity(self.kind, self.ecosystem, self.target, self.package, self.id)


@dataclass(slots=True)
class Baseline:
    """A baseline as read. ``used`` is False when it is missing or unreadable (``reason``)."""

    path: str
    used: bool
    reason: str = ""
    source: str = ""  # "summary" or "trivy"
    findings: list[BaselineFinding] = field(default_factory=list)


@dataclass(slots=True)
class Comparison:
    baseline: Baseline
    new: int = 0
    unchanged: int = 0
    fixed: list[BaselineFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def finding_record(finding: Finding) -> dict[str, Any]:
    """What ``summary.json`` keeps of a finding so that it can be the next run's baseline."""
    return {
        "artifact": finding.report.artifact_id,
        "kind": finding.kind,
        "id": finding.id,
        "severity": finding.severity.key,
        "package": finding.package,
        "installed_version": finding.installed_version,
        "fixed_version": finding.fixed_version,
        "ecosystem": _ecosystem(finding),
        "target": finding.stable_target,
    }


def load_baseline(path: str) -> Baseline:
    """Read a baseline; never raises for a bad one (it is then not used, with the reason)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_BASELINE_BYTES:
                return Baseline(path, False, f"larger than {MAX_BASELINE_BYTES >> 20} MiB")
            data = handle.read()
    except FileNotFoundError:
        return Baseline(path, False, "not found")
    except IsADirectoryError:
        return Baseline(path, False, "is a directory")
    except OSError as exc:
        return Baseline(path, False, f"cannot be read ({exc.strerror or exc})")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return Baseline(path, False, "not valid JSON")
    if not isinstance(doc, dict):
        return Baseline(path, False, "not a scangate summary or a Trivy report")
    if "SchemaVersion" in doc:
        del doc
        try:
            report = parse_report(data, path)
        except ReportError as exc:
            return Baseline(path, False, f"not a readable Trivy report ({exc.message})")
        rows = [BaselineFinding(report.artifact_id, f.kind, f.id, f.severity, f.package,
                                f.installed_version, _ecosystem(f), f.stable_target)
                for f in report.findings]
        return Baseline(path, True, source="trivy", findings=rows)
    if "scangate_version" in doc:
        return _from_summary(path, doc)
    return Baseline(path, False, "not a scangate summary or a Trivy report")


def _from_summary(path: str, doc: dict[str, Any]) -> Baseline:
    records = doc.get("findings")
    if not isinstance(records, list):
        return Baseline(path, False, "a scangate summary without a findings list (written by "
                        "a scangate older than the baseline feature): rerun the base's gate")
    rows = []
    for number, record in enumerate(records):
        row = _summary_row(record)
        if row is None:
            return Baseline(path, False, f"findings[{number}] is not a scangate finding record")
        rows.append(row)
    return Baseline(path, True, source="summary", findings=rows)


_TEXT_FIELDS = ("artifact", "kind", "id", "package", "installed_version", "ecosystem", "target")


def _summary_row(record: object) -> BaselineFinding | None:
    if not isinstance(record, dict):
        return None
    values = {name: record.get(name) for name in _TEXT_FIELDS}
    if not all(isinstance(v, str) for v in values.values()) or values["kind"] not in KINDS:
        return None
    if not values["id"]:
        return None
    try:
        severity = Severity.parse(record.get("severity"))
    except ValueError:
        return None
    text = {k: str(v) for k, v in values.items()}
    return BaselineFinding(text["artifact"], text["kind"], text["id"], severity,
                           text["package"], text["installed_version"], text["ecosystem"],
                           text["target"])


def _pairs(artifacts: list[str], baseline: Baseline) -> tuple[dict[str, str], list[str]]:
    """Which baseline artifact each artifact of this run is compared with.

    By name; when both sides hold exactly one artifact they are paired whatever their names
    (an image renamed in the change is still the image the baseline scanned).
    """
    base_names = list(dict.fromkeys(f.artifact for f in baseline.findings))
    notes: list[str] = []
    if len(set(artifacts)) == 1 and len(base_names) <= 1:
        return {artifacts[0]: base_names[0] if base_names else artifacts[0]}, notes
    pairs = {}
    for name in dict.fromkeys(artifacts):
        if name in base_names or not base_names:
            pairs[name] = name
        else:
            notes.append(f"{name}: not in the baseline; all its findings are new")
    return pairs, notes


def compare(findings_by_artifact: dict[str, list[Finding]], baseline: Baseline) -> Comparison:
    """Set ``change`` on every finding (new or unchanged) and list the baseline's fixed ones.

    ``findings_by_artifact`` holds every artifact of the run, also those without findings
    (their baseline findings are all fixed).
    """
    comparison = Comparison(baseline)
    if not baseline.used:
        return comparison
    pairs, comparison.notes = _pairs(list(findings_by_artifact), baseline)
    by_artifact: dict[str, list[BaselineFinding]] = {}
    for row in baseline.findings:
        by_artifact.setdefault(row.artifact, []).append(row)
    for artifact, findings in findings_by_artifact.items():
        base_name = pairs.get(artifact)
        remaining = Counter(row.identity for row in by_artifact.get(base_name, [])) \
            if base_name is not None else Counter()
        for finding in findings:
            key = finding_identity(finding)
            if remaining[key] > 0:
                remaining[key] -= 1
                finding.change = UNCHANGED
                comparison.unchanged += 1
            else:
                finding.change = NEW
                comparison.new += 1
        if base_name is None:
            continue
        for row in by_artifact.get(base_name, []):
            if remaining[row.identity] > 0:
                remaining[row.identity] -= 1
                comparison.fixed.append(row)
    return comparison
