"""SARIF 2.1.0 for GitHub code scanning: everything visible, nothing rejected.

- One run per report, each with its own ``automationDetails.id`` category, so two images never
  replace each other's alerts.
- Rules deduplicated per run, with ``security-severity`` and a Markdown help.
- Our own ``partialFingerprints``: the upload action cannot hash lines of an image, and without
  stable fingerprints every run would open duplicate alerts.
- Waived and uncounted findings stay, marked (``suppressions`` for waivers): people see
  everything; the gate decides on the policy.
- GitHub's limits (25,000 results and rules per run, 10 MB gzip per file, 20 runs) are kept by
  dropping the least severe results, and the drop is reported on stderr and in run properties.
"""

from __future__ import annotations

import re
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

from scangate import __version__
from scangate.errors import UsageError
from scangate.findings import Finding, Report
from scangate.gate import Disposition, GateResult
from scangate.outputs.text import one_line, truncate
from scangate.policy import Waiver
from scangate.severity import DEFAULT_SECURITY_SEVERITY, SARIF_LEVEL, Severity

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
MAX_RUNS = 20
MAX_RESULTS_PER_RUN = 25_000
MAX_RULES_PER_RUN = 25_000
MAX_GZIP_BYTES = 10 * 1024 * 1024
# Leave headroom: the upload action's gzip level may differ from ours.
GZIP_BUDGET = int(MAX_GZIP_BYTES * 0.95)
HELP_PACKAGES_SHOWN = 20
HELP_REFERENCES_SHOWN = 10

RULE_NAMES = {
    ("vulnerability", "os-pkgs"): "OsPackageVulnerability",
    ("vulnerability", "lang-pkgs"): "LanguageSpecificPackageVulnerability",
    ("secret", ""): "Secret",
    ("misconfiguration", ""): "Misconfiguration",
}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._").lower() or "artifact"


def categories(reports: list[Report], given: list[str]) -> list[str]:
    """One unique category per report.

    ``--sarif-category`` may be given once per report (in order) or once for all; a single
    category shared by several reports gets each artifact's name appended. By default it is
    derived from the artifact (image repository without tag), stable across builds.
    """
    if given and len(given) not in (1, len(reports)):
        raise UsageError(
            f"--sarif-category given {len(given)} times for {len(reports)} reports: give it once, "
            "or once per --report"
        )
    if len(given) == len(reports):
        names = list(given)
    elif given:
        names = [f"{given[0]}-{_slug(r.artifact_id)}" for r in reports]
    else:
        names = [f"scangate-{_slug(r.artifact_id)}" for r in reports]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        name = name.strip().rstrip("/") or "scangate"
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}-{count + 1}")
    return unique


def security_severity(finding: Finding) -> float:
    if finding.cvss_score is not None:
        return finding.cvss_score
    return DEFAULT_SECURITY_SEVERITY[finding.severity]


def _rule_name(finding: Finding) -> str:
    if finding.kind == "vulnerability":
        return RULE_NAMES.get((finding.kind, finding.result_class),
                              "LanguageSpecificPackageVulnerability")
    return RULE_NAMES[(finding.kind, "")]


@dataclass(slots=True)
class _RuleAcc:
    first: Finding
    index: int
    severity: Severity
    score: float
    packages: dict[tuple[str, str, str], None] = field(default_factory=dict)
    # The rule serialized once: size checks serialize the document several times.
    serialized: orjson.Fragment | None = None

    def fragment(self) -> orjson.Fragment:
        if self.serialized is None:
            self.serialized = orjson.Fragment(orjson.dumps(_rule(self)))
        return self.serialized


def _last_from_line(dockerfile: str) -> int:
    """The final stage's FROM line (1-based): where image findings are anchored."""
    try:
        with open(dockerfile, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise UsageError(f"{dockerfile}: --dockerfile cannot be read: {exc.strerror}") from None
    found = 0
    for number, line in enumerate(lines, start=1):
        if re.match(r"\s*FROM\s", line, re.IGNORECASE):
            found = number
    if not found:
        raise UsageError(f"{dockerfile}: --dockerfile has no FROM line")
    return found


def _uri(path: str) -> str:
    path = path.strip().lstrip("/") or "."
    return quote(path, safe="/:@-._~")


def _help(acc: _RuleAcc) -> tuple[str, str]:
    f = acc.first
    refs = ([f.primary_url] if f.primary_url else []) + [
        r for r in f.references if r != f.primary_url
    ]
    refs = refs[:HELP_REFERENCES_SHOWN]
    title = one_line(f.title) or f.id
    if f.kind == "vulnerability":
        rows = list(acc.packages)[:HELP_PACKAGES_SHOWN]
        more = len(acc.packages) - len(rows)
        text = [f"Vulnerability {f.id}", f"Severity: {acc.severity.name}", title]
        md = [f"**Vulnerability {f.id}**", "", f"Severity: **{acc.severity.name}**", "",
              truncate(one_line(f.description) or title, 2000), "",
              "| Package | Installed Version | Fixed Version |", "| --- | --- | --- |"]
        for package, installed, fixed in rows:
            text.append(f"Package: {package} {installed}, fixed in {fixed or 'no fix yet'}")
            md.append(f"| {package} | {installed} | {fixed or 'no fix yet'} |")
        if more > 0:
            md.append(f"| ... and {more} more | | |")
    elif f.kind == "secret":
        text = [f"Secret {f.id}: {title}", f"Severity: {acc.severity.name}",
                "Remove the secret from the source and the image, and rotate it."]
        md = [f"**Secret {f.id}**", "", f"{title}. Severity: **{acc.severity.name}**", "",
              "Remove the secret from the source and the image history, and rotate it."]
    else:
        text = [f"Misconfiguration {f.id}: {title}", f"Severity: {acc.severity.name}",
                f.description, f"Resolution: {f.resolution}"]
        md = [f"**Misconfiguration {f.id}**", "", f"{title}. Severity: **{acc.severity.name}**",
              "", f.description, "", f"Resolution: {f.resolution or 'see references'}"]
    if refs:
        md += ["", "References:", *(f"- {r}" for r in refs)]
        text += ["References:", *refs]
    return "\n".join(t for t in text if t), "\n".join(md)


def _rule(acc: _RuleAcc) -> dict[str, Any]:
    f = acc.first
    help_text, help_md = _help(acc)
    short = truncate(one_line(f.title) or f.id, 1024)
    rule: dict[str, Any] = {
        "id": f.id,
        "name": _rule_name(f),
        "shortDescription": {"text": short},
        "fullDescription": {"text": truncate(one_line(f.description) or short, 1024)},
        "defaultConfiguration": {"level": SARIF_LEVEL[acc.severity]},
        "help": {"text": help_text, "markdown": help_md},
        "properties": {
            "security-severity": f"{max(acc.score, 0.1):.1f}",
            "precision": "very-high",
            "tags": [f.kind, "security", acc.severity.name],
        },
    }
    if f.primary_url.startswith(("http://", "https://")):
        rule["helpUri"] = f.primary_url
    return rule


def _message(f: Finding, disposition: Disposition, waiver: Waiver | None) -> str:
    if f.kind == "vulnerability":
        parts = [f"Package: {f.package}", f"Installed Version: {f.installed_version}",
                 f"Vulnerability {f.id}", f"Severity: {f.severity.name}",
                 f"Fixed Version: {f.fixed_version or 'no fix yet'}", f"Target: {f.target}"]
        if f.pkg_path:
            parts.append(f"Path: {f.pkg_path}")
        if f.primary_url:
            parts.append(f"Link: [{f.id}]({f.primary_url})")
    elif f.kind == "secret":
        parts = [f"Secret {f.id}: {one_line(f.title)}", f"Severity: {f.severity.name}",
                 f"Target: {f.target}"]
    else:
        parts = [f"Misconfiguration {f.id}: {one_line(f.title)}", f"Severity: {f.severity.name}",
                 f.message]
    if disposition is Disposition.WAIVED and waiver is not None:
        parts.append(f"Waived until {waiver.expires.isoformat()}: {waiver.reason}")
    elif disposition is Disposition.IGNORED_UNFIXED:
        parts.append("Not counted by the gate: no fix available and the policy ignores unfixed.")
    elif disposition is Disposition.CLASS_NOT_COUNTED:
        parts.append(f"Not counted by the gate: the policy does not count {f.kind} findings.")
    return "\n".join(p for p in parts if p)


@dataclass(slots=True)
class _Run:
    report: Report
    category: str
    rules: dict[str, _RuleAcc]
    # (severity, rule id, serialized result) in severity order, most severe first.
    results: list[tuple[Severity, str, bytes]]
    dropped: dict[str, int] = field(default_factory=dict)


def _build_run(report: Report, category: str,
               decisions: list[tuple[Finding, Disposition, Waiver | None]],
               from_line: int | None, dockerfile: str | None) -> _Run:
    rules: dict[str, _RuleAcc] = {}
    staged: list[tuple[Finding, Disposition, Waiver | None]] = []
    for finding, disposition, waiver in decisions:
        acc = rules.get(finding.id)
        score = security_severity(finding)
        if acc is None:
            acc = rules[finding.id] = _RuleAcc(finding, len(rules), finding.severity, score)
        else:
            acc.severity = max(acc.severity, finding.severity)
            acc.score = max(acc.score, score)
        if finding.kind == "vulnerability":
            acc.packages[(finding.package, finding.installed_version, finding.fixed_version)] = None
        staged.append((finding, disposition, waiver))
    staged.sort(key=lambda s: -s[0].severity)
    dumps = orjson.dumps
    results = []
    for finding, disposition, waiver in staged:
        if from_line is not None and dockerfile is not None and finding.kind == "vulnerability":
            uri, line = _uri(dockerfile), from_line
        elif (finding.kind == "vulnerability" and report.is_image
              and finding.result_class == "os-pkgs"):
            # OS packages of an image have no file: Trivy's convention, the image repository.
            uri, line = _uri(report.artifact_id), 1
        else:
            uri, line = _uri(finding.target or report.artifact_id), finding.start_line or 1
        end_line = max(finding.end_line, line) if finding.kind != "vulnerability" else line
        fingerprint = finding.fingerprint
        result: dict[str, Any] = {
            "ruleId": finding.id,
            "level": SARIF_LEVEL[finding.severity],
            "message": {"text": _message(finding, disposition, waiver)},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": line, "startColumn": 1, "endLine": end_line,
                               "endColumn": 1},
                },
                "message": {"text": finding.target or report.artifact_name or uri},
            }],
            "partialFingerprints": {
                "primaryLocationLineHash": f"{fingerprint[:32]}:1",
                "scangate/v1": fingerprint,
            },
            "properties": {"disposition": disposition.value,
                           "severity": finding.severity.name},
        }
        if finding.kind == "vulnerability":
            result["properties"].update(package=finding.package,
                                        installedVersion=finding.installed_version,
                                        fixedVersion=finding.fixed_version)
        if disposition is Disposition.WAIVED and waiver is not None:
            result["suppressions"] = [{
                "kind": "external",
                "status": "accepted",
                "justification": f"{waiver.reason} (waiver expires {waiver.expires.isoformat()})",
            }]
        results.append((finding.severity, finding.id, dumps(result)))
    return _Run(report, category, rules, results)


def _cap_run(run: _Run) -> None:
    """Keep GitHub's per-run limits: the most severe results and the rules they use."""
    if len(run.results) > MAX_RESULTS_PER_RUN:
        run.dropped["results_over_run_limit"] = len(run.results) - MAX_RESULTS_PER_RUN
        del run.results[MAX_RESULTS_PER_RUN:]
    if len({rule_id for _, rule_id, _ in run.results}) > MAX_RULES_PER_RUN:
        keep: set[str] = set()
        kept_results = []
        dropped = 0
        for item in run.results:
            if item[1] in keep or len(keep) < MAX_RULES_PER_RUN:
                keep.add(item[1])
                kept_results.append(item)
            else:
                dropped += 1
        if dropped:
            run.dropped["results_over_rule_limit"] = dropped
        run.results = kept_results


def _serialize(runs: list[_Run]) -> Iterator[bytes]:
    dumps = orjson.dumps
    yield b'{"$schema":' + dumps(SCHEMA_URI) + b',"version":"2.1.0","runs":['
    for number, run in enumerate(runs):
        used = {rule_id for _, rule_id, _ in run.results}
        ordered = sorted((a for rid, a in run.rules.items() if rid in used), key=lambda a: a.index)
        report = run.report
        properties: dict[str, Any] = {
            "artifactName": report.artifact_name,
            "artifactType": report.artifact_type,
            "report": report.path,
            "resultsDropped": sum(run.dropped.values()),
        }
        if run.dropped:
            properties["dropReasons"] = run.dropped
        head = {
            "tool": {"driver": {
                "name": "scangate",
                "fullName": "scangate security gate (Trivy findings)",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": "https://github.com/aquasecurity/trivy",
                "rules": [a.fragment() for a in ordered],
            }},
            "automationDetails": {"id": f"{run.category}/"},
            "columnKind": "utf16CodeUnits",
            "properties": properties,
        }
        if number:
            yield b","
        yield dumps(head)[:-1] + b',"results":['
        for position, (_, _, blob) in enumerate(run.results):
            if position:
                yield b","
            yield blob
        yield b"]}"
    yield b"]}\n"


def _gzip_size(chunks: Iterator[bytes]) -> int:
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # level 1: fast, and never smaller
    size = 0
    for chunk in chunks:
        size += len(compressor.compress(chunk))
    return size + len(compressor.flush())


def _fit_size(runs: list[_Run]) -> None:
    """Drop the least severe results across all runs until the gzip size fits GitHub's limit."""
    raw = sum(map(len, _serialize(runs)))
    if raw <= GZIP_BUDGET:
        return  # gzip never makes it bigger than that in practice
    size = _gzip_size(_serialize(runs))
    while size > GZIP_BUDGET:
        ranked = sorted(
            ((sev, run_no, pos) for run_no, run in enumerate(runs)
             for pos, (sev, _, _) in enumerate(run.results)),
            key=lambda item: (-item[0], item[1], item[2]),
        )
        keep = max(0, int(len(ranked) * GZIP_BUDGET / size * 0.97) - 1)
        drop: dict[int, int] = {}
        for _sev, run_no, _pos in ranked[keep:]:
            drop[run_no] = drop.get(run_no, 0) + 1
        if not drop:
            break
        for run_no, count in drop.items():
            run = runs[run_no]
            del run.results[len(run.results) - count :]
            run.dropped["results_over_size_limit"] = (
                run.dropped.get("results_over_size_limit", 0) + count
            )
        size = _gzip_size(_serialize(runs))


def build(result: GateResult, category_args: list[str], dockerfile: str | None) -> Iterator[bytes]:
    """Build the SARIF document; returns its bytes as chunks (written without one big copy)."""
    reports = result.reports
    if len(reports) > MAX_RUNS:
        raise UsageError(
            f"{len(reports)} reports make {len(reports)} SARIF runs; GitHub accepts at most "
            f"{MAX_RUNS} per file: split them over several scangate calls"
        )
    names = categories(reports, category_args)
    from_line = _last_from_line(dockerfile) if dockerfile else None
    by_report: dict[int, list[tuple[Finding, Disposition, Waiver | None]]] = {
        r.index: [] for r in reports
    }
    for decision in result.decisions:
        by_report[decision[0].report.index].append(decision)
    runs = []
    for report, category in zip(reports, names, strict=True):
        anchored = from_line if report.is_image else None
        run = _build_run(report, category, by_report[report.index], anchored, dockerfile)
        _cap_run(run)
        runs.append(run)
    _fit_size(runs)
    for run in runs:
        if run.dropped:
            print(
                f"scangate: warning: SARIF run {run.category!r} keeps "
                f"{len(run.results)} most severe results and drops "
                f"{sum(run.dropped.values())} to stay within GitHub's limits "
                f"({', '.join(f'{k}={v}' for k, v in run.dropped.items())}); the JSON and GitLab "
                "reports keep every finding",
                file=sys.stderr,
            )
    return _serialize(runs)
