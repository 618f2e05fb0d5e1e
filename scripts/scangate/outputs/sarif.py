"""SARIF 2.1.0 for GitHub code scanning: everything visible, nothing rejected.

- One run per report, each with its own ``automationDetails.id`` category, so two images never
  replace each other's alerts.
- Rules deduplicated per run, with ``security-severity`` and a Markdown help.
- Our own ``partialFingerprints``: the upload action cannot hash lines of an image, and without
  stable fingerprints every run would open duplicate alerts.
- Waived and uncounted findings stay, marked (``suppressions`` for waivers): people see
  everything; the gate decides on the policy.
- GitHub's limits (25,000 results and rules per run, 10 MB gzip per file, 20 runs) are never
  met by dropping results silently: an analysis replaces its category's previous one, so a
  dropped result's alert would close as fixed while the finding is still there. By default a
  SARIF over a limit is refused (exit 2, nothing written). ``keep-most-severe`` (for a SARIF
  that is a file, not an upload: GitLab's artifact) keeps the most severe results and says what
  it dropped on stderr and in the run's properties.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, BinaryIO
from urllib.parse import quote

import orjson

from scangate import __version__
from scangate.errors import OutputError, UsageError
from scangate.findings import Finding, Report
from scangate.gate import Disposition, GateResult
from scangate.input_files import InputFileError, read_input
from scangate.outputs.text import http_url, md_code, one_line, truncate
from scangate.policy import Waiver
from scangate.severity import DEFAULT_SECURITY_SEVERITY, SARIF_LEVEL, Severity

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
MAX_RUNS = 20
MAX_RESULTS_PER_RUN = 25_000
MAX_RULES_PER_RUN = 25_000
MAX_GZIP_BYTES = 10 * 1024 * 1024
# Leave headroom: the upload action's gzip level may differ from ours.
GZIP_BUDGET = int(MAX_GZIP_BYTES * 0.95)
# What to do when a run is over GitHub's limits: refuse (the default), or keep the most
# severe results and say what was dropped.
OVERFLOW_REFUSE = "refuse"
OVERFLOW_KEEP_MOST_SEVERE = "keep-most-severe"
OVERFLOW_CHOICES = (OVERFLOW_REFUSE, OVERFLOW_KEEP_MOST_SEVERE)
HELP_PACKAGES_SHOWN = 20
HELP_REFERENCES_SHOWN = 10

# Severity.name is a descriptor call on an enum; these run once per result.
_NAME = {severity: severity.name for severity in Severity}

RULE_NAMES = {
    ("vulnerability", "os-pkgs"): "OsPackageVulnerability",
    ("vulnerability", "lang-pkgs"): "LanguageSpecificPackageVulnerability",
    ("secret", ""): "Secret",
    ("misconfiguration", ""): "Misconfiguration",
}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._").lower() or "artifact"


def _category_key(name: str) -> str:
    """How the upload action tells categories apart: every character that is not a letter, digit
    or underscore becomes ``_``, and case is ignored (``sanitize`` in github/codeql-action's
    ``src/upload-lib.ts``). Distinct keys are distinct categories on every comparison GitHub
    makes, exact or sanitized."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def categories(reports: list[Report], given: list[str]) -> list[str]:
    """One unique category per report.

    ``--sarif-category`` may be given once per report (in order) or once for all; a single
    category shared by several reports gets each artifact's name appended. By default it is
    derived from the artifact (image repository without tag), stable across builds. Names that
    the upload action would take for the same category (same letters and digits, whatever the
    case and punctuation: ``app-a`` and ``APP.A``) get ``-2``, ``-3``, ... until they differ.
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
    used: set[str] = set()
    unique = []
    for raw in names:
        # No control characters or surrounding slashes: the id is "category/run-id".
        name = "".join(c for c in raw if c.isprintable()).strip().strip("/").strip()
        name = name or "scangate"
        candidate, count = name, 1
        while _category_key(candidate) in used:
            count += 1
            candidate = f"{name}-{count}"
        used.add(_category_key(candidate))
        unique.append(candidate)
    return unique


def security_severity(finding: Finding) -> float:
    """GitHub's score, as Trivy's SARIF writer picks it (``toCVSSData`` in Trivy's
    ``pkg/report/sarif.go``): the CVSS v3 base score of the source the severity came from
    (``SeveritySource``) when it is not 0, else a number for the severity. Never another
    vendor's score: the score and the severity must tell the same story. Bounded to 0-10."""
    cvss = finding.cvss  # only vulnerabilities have one
    if cvss and finding.severity_source:
        entry = cvss.get(finding.severity_source)
        if type(entry) is dict:
            score = entry.get("V3Score")
            # type(), not isinstance: exact int or float (True is no score); once per finding.
            if ((type(score) is float or type(score) is int)
                    and score == score and score != 0):  # score == score: not NaN
                return float(min(max(score, 0), 10))
    return DEFAULT_SECURITY_SEVERITY[finding.severity]


def _rule_name(finding: Finding) -> str:
    if finding.kind == "vulnerability":
        return RULE_NAMES.get((finding.kind, finding.result_class),
                              "LanguageSpecificPackageVulnerability")
    return RULE_NAMES[(finding.kind, "")]


@dataclass(slots=True)
class _RuleAcc:
    first: Finding
    severity: Severity
    score: float
    packages: dict[tuple[str, str, str], None] = field(default_factory=dict)


# A Dockerfile larger than this is not one a person wrote; it bounds a device named as one.
MAX_DOCKERFILE_BYTES = 16 << 20
_FROM = re.compile(rb"FROM(?:\s|$)", re.IGNORECASE)
_ESCAPE_DIRECTIVE = re.compile(rb"#\s*escape\s*=\s*([\\`])\s*$", re.IGNORECASE)
_DIRECTIVE = re.compile(rb"#\s*[a-z][a-z0-9_-]*\s*=", re.IGNORECASE)


def _last_from_line(dockerfile: str) -> int:
    """The final stage's FROM line (1-based): where image findings are anchored.

    Read as BuildKit reads it (moby/buildkit frontend/dockerfile/parser/parser.go): bytes split
    on "\\n" (a trailing "\\r" dropped), a UTF-8 byte-order mark on the first line ignored,
    any other bytes taken as they are (Latin-1 is not an error), comment lines skipped, and a
    line ending in the escape character (``\\`` or the ``# escape=`` directive's) continued on
    the next. A UTF-16 file is no Dockerfile BuildKit can build: refused.
    """
    try:
        data = read_input(dockerfile, MAX_DOCKERFILE_BYTES)
    except InputFileError as exc:
        raise UsageError(f"{dockerfile}: --dockerfile cannot be read: {exc}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UsageError(f"{dockerfile}: --dockerfile is UTF-16, which BuildKit cannot build "
                         "(it reads Dockerfiles as UTF-8): save it as UTF-8")
    data = data.removeprefix(b"\xef\xbb\xbf")
    escape = b"\\"
    directives = True
    continuing = False
    found = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.removesuffix(b"\r").lstrip()
        if directives:
            directive = _ESCAPE_DIRECTIVE.match(line)
            if directive:
                escape = directive.group(1)
                continue
            if not _DIRECTIVE.match(line):
                directives = False
        if not line or line.startswith(b"#"):
            continue  # comments and blank lines, also inside a continued instruction
        if not continuing and _FROM.match(line):
            found = number
        continuing = line.rstrip().endswith(escape)
    if not found:
        raise UsageError(f"{dockerfile}: --dockerfile has no FROM line")
    return found


_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DRIVE = re.compile(r"^[A-Za-z]:(?=/|$)")
# Kept as they are in a path segment (RFC 3986 pchar without ':'); quote() also keeps letters,
# digits and "_.-~". Everything else, ':' '%' '?' '#' included, is percent-encoded.
_SEGMENT_SAFE = "!$&'()*+,;=@"


def _uri(path: str) -> str:
    """A relative reference (RFC 3986 relative-path) that stays inside the repository.

    Targets are image names (``127.0.0.1:5000/app``), Windows paths (``C:\\x\\y``), URLs of
    remote modules (``https://host/x``) or paths with ``..``. A ':' in the first segment would
    read as a scheme and a '..' would leave the checkout: backslashes become '/', a scheme and
    a drive are dropped like a leading '/', dot segments are resolved without ever climbing
    above the root, and each segment is percent-encoded.
    """
    text = _DRIVE.sub("", _URL_SCHEME.sub("", path.strip().replace("\\", "/")))
    segments: list[str] = []
    for segment in text.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(quote(segment, safe=_SEGMENT_SAFE, errors="surrogatepass"))
    return "/".join(segments) or "."


_HTTP = ("https://", "http://")


def _plain_cells(package: str, installed: str, fixed: str) -> bool:
    """True when the three cells are plain code spans as they are (what ``md_code`` would
    write), checked at once: the usual package row."""
    row = package + installed + fixed
    return (bool(package) and bool(installed) and row.isascii() and row.isprintable()
            and "`" not in row and "|" not in row and " " not in row)


def _autolink_safe(url: str) -> bool:
    """A Markdown autolink ``<url>`` shows exactly ``url`` when nothing in it can end it or break
    the line (CommonMark, autolinks): checked with string methods, as this runs for every
    reference of every rule."""
    return (url.startswith(_HTTP) and url.isascii() and url.isprintable()
            and " " not in url and "<" not in url and ">" not in url)


def _checkout_path(path: str) -> str:
    """The Dockerfile as a path in the checkout: relative to the working directory (where CI
    runs scangate) when it lies inside it, so the alert opens at the file; else as given."""
    absolute, here = os.path.abspath(path), os.getcwd()
    if absolute.startswith(here.rstrip(os.sep) + os.sep):
        return os.path.relpath(absolute, here)
    return path


def _help(acc: _RuleAcc, description: str) -> tuple[str, str]:
    """Help as text and Markdown; ``description`` is the finding's, on one line."""
    f = acc.first
    severity = _NAME[acc.severity]
    refs = ([f.primary_url] if f.primary_url else []) + [
        r for r in f.references if r != f.primary_url
    ]
    refs = refs[:HELP_REFERENCES_SHOWN]
    title = one_line(f.title) or f.id
    if f.kind == "vulnerability":
        rows = list(acc.packages)[:HELP_PACKAGES_SHOWN]
        more = len(acc.packages) - len(rows)
        text = [f"Vulnerability {f.id}", f"Severity: {severity}", title]
        md = [f"**Vulnerability {f.id}**", "", f"Severity: **{severity}**", "",
              truncate(description or title, 2000), "",
              "| Package | Installed Version | Fixed Version |", "| --- | --- | --- |"]
        for package, installed, fixed in rows:
            text.append(f"Package: {package} {installed}, fixed in {fixed or 'no fix yet'}")
            fix = f"`{fixed}`" if fixed else "no fix yet"
            if _plain_cells(package, installed, fixed):
                md.append(f"| `{package}` | `{installed}` | {fix} |")
            else:
                md.append(f"| {md_code(package)} | {md_code(installed)} "
                          f"| {md_code(fixed) if fixed else 'no fix yet'} |")
        if more > 0:
            md.append(f"| ... and {more} more | | |")
    elif f.kind == "secret":
        text = [f"Secret {f.id}: {title}", f"Severity: {severity}",
                "Remove the secret from the source and the image, and rotate it."]
        md = [f"**Secret {f.id}**", "", f"{title}. Severity: **{severity}**", "",
              "Remove the secret from the source and the image history, and rotate it."]
    else:
        text = [f"Misconfiguration {f.id}: {title}", f"Severity: {severity}",
                f.description, f"Resolution: {f.resolution}"]
        md = [f"**Misconfiguration {f.id}**", "", f"{title}. Severity: **{severity}**",
              "", f.description, "", f"Resolution: {f.resolution or 'see references'}"]
    if refs:
        md += ["", "References:"]
        if _autolink_safe("".join(refs)) and all(map(str.startswith, refs, repeat(_HTTP))):
            md += [f"- <{r}>" for r in refs]  # the usual case, checked at once
        else:
            md += [f"- <{r}>" if _autolink_safe(r) else f"- {md_code(r)}" for r in refs]
        text += ["References:", *refs]
    return "\n".join(filter(None, text)), "\n".join(md)


def _rule(acc: _RuleAcc) -> dict[str, Any]:
    f = acc.first
    # Flattened once for both uses; long enough for the help's 2,000 characters.
    description = one_line(f.description[:4000])
    help_text, help_md = _help(acc, description)
    short = truncate(one_line(f.title) or f.id, 1024)
    rule: dict[str, Any] = {
        "id": f.id,
        "name": _rule_name(f),
        "shortDescription": {"text": short},
        "fullDescription": {"text": truncate(description or short, 1024)},
        "defaultConfiguration": {"level": SARIF_LEVEL[acc.severity]},
        "help": {"text": help_text, "markdown": help_md},
        "properties": {
            "security-severity": f"{max(acc.score, 0.1):.1f}",
            "precision": "very-high",
            "tags": [f.kind, "security", _NAME[acc.severity]],
        },
    }
    # ``helpUri`` must be an absolute URI: only a plain http(s) link is used as one.
    help_uri = http_url(f.primary_url)
    if help_uri is not None:
        rule["helpUri"] = help_uri
    return rule


def _message(f: Finding, disposition: Disposition, waiver: Waiver | None) -> str:
    severity = _NAME[f.severity]
    if f.kind == "vulnerability":
        parts = [f"Package: {f.package}", f"Installed Version: {f.installed_version}",
                 f"Vulnerability {f.id}", f"Severity: {severity}",
                 f"Fixed Version: {f.fixed_version or 'no fix yet'}", f"Target: {f.target}"]
        if f.pkg_path:
            parts.append(f"Path: {f.pkg_path}")
        if f.primary_url and http_url(f.primary_url):
            # A SARIF message may embed [text](target) links: only a checked http(s) URL.
            parts.append(f"Link: [{f.id}]({f.primary_url})")
    elif f.kind == "secret":
        parts = [f"Secret {f.id}: {one_line(f.title)}", f"Severity: {severity}",
                 f"Target: {f.target}"]
    else:
        parts = [f"Misconfiguration {f.id}: {one_line(f.title)}", f"Severity: {severity}",
                 f.message]
    if disposition is Disposition.WAIVED and waiver is not None:
        parts.append(f"Waived until {waiver.expires.isoformat()}: {waiver.reason}")
    elif disposition is Disposition.IGNORED_UNFIXED:
        parts.append("Not counted by the gate: no fix available and the policy ignores unfixed.")
    elif disposition is Disposition.CLASS_NOT_COUNTED:
        parts.append(f"Not counted by the gate: the policy does not count {f.kind} findings.")
    elif disposition is Disposition.NOT_NEW:
        parts.append(f"Not counted by the gate: also in the baseline, and the policy counts "
                     f"only new {severity} findings.")
    return "\n".join(p for p in parts if p)


@dataclass(slots=True)
class _Run:
    report: Report
    category: str
    rules: dict[str, _RuleAcc]
    # Every finding of the report, most severe first; the first ``keep`` are written.
    staged: list[tuple[Finding, Disposition, Waiver | None]]
    from_line: int | None
    dockerfile: str | None
    keep: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    # Compressed bytes each written result costs, its rule's cost included at first use: the
    # result's raw bytes at the compression ratio of the document, plus its rule's at the ratio
    # of the run's rules (set by ``_emit``).
    costs: list[float] = field(default_factory=list)
    # Location URIs by path: most results of a run share a few.
    uris: dict[str, str] = field(default_factory=dict)

    def uri(self, path: str) -> str:
        found = self.uris.get(path)
        if found is None:
            found = self.uris[path] = _uri(path)
        return found


def _build_run(report: Report, category: str,
               decisions: list[tuple[Finding, Disposition, Waiver | None]],
               from_line: int | None, dockerfile: str | None) -> _Run:
    rules: dict[str, _RuleAcc] = {}
    for finding, _disposition, _waiver in decisions:
        acc = rules.get(finding.id)
        score = security_severity(finding)
        if acc is None:
            acc = rules[finding.id] = _RuleAcc(finding, finding.severity, score)
        else:
            acc.severity = max(acc.severity, finding.severity)
            acc.score = max(acc.score, score)
        if finding.kind == "vulnerability":
            acc.packages[(finding.package, finding.installed_version, finding.fixed_version)] = None
    staged = sorted(decisions, key=lambda d: -d[0].severity)
    return _Run(report, category, rules, staged, from_line, dockerfile, keep=len(staged))


def _result(run: _Run, finding: Finding, disposition: Disposition,
            waiver: Waiver | None, fingerprint: str, occurrence: int) -> dict[str, Any]:
    report = run.report
    if run.from_line is not None and run.dockerfile is not None and finding.kind == "vulnerability":
        uri, line = run.uri(run.dockerfile), run.from_line
    elif (finding.kind == "vulnerability" and report.is_image
          and finding.result_class == "os-pkgs"):
        # OS packages of an image have no file: Trivy's convention, the image repository.
        uri, line = run.uri(report.artifact_id), 1
    else:
        uri, line = run.uri(finding.target or report.artifact_id), finding.start_line or 1
    end_line = max(finding.end_line, line) if finding.kind != "vulnerability" else line
    if occurrence > 1:
        # Trivy can list an identical row twice: each gets its own alert, as in GitLab.
        fingerprint = f"{fingerprint}:{occurrence}"
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
            "primaryLocationLineHash": f"{fingerprint[:32]}:{occurrence}",
            "scangate/v1": fingerprint,
        },
        "properties": {"disposition": disposition.value, "severity": _NAME[finding.severity]},
    }
    if finding.kind == "vulnerability":
        result["properties"].update(package=finding.package,
                                    installedVersion=finding.installed_version,
                                    fixedVersion=finding.fixed_version)
        if finding.kev is not None:
            result["properties"]["kev"] = {
                "dueDate": finding.kev.due_date, "dateAdded": finding.kev.date_added,
                "knownRansomwareCampaignUse": finding.kev.ransomware}
        if finding.epss is not None:
            result["properties"]["epss"] = {"score": finding.epss.score,
                                            "percentile": finding.epss.percentile}
    if finding.change:
        # SARIF 2.1.0 section 3.27.24: "new" or "unchanged" against the baseline run.
        result["baselineState"] = finding.change
        result["properties"]["change"] = finding.change
    if disposition is Disposition.WAIVED and waiver is not None:
        result["suppressions"] = [{
            "kind": "external",
            "status": "accepted",
            "justification": f"{waiver.reason} (waiver expires {waiver.expires.isoformat()})",
        }]
    return result


def _cap_run(run: _Run) -> None:
    """Keep GitHub's per-run limits: the most severe results and the rules they use."""
    if run.keep > MAX_RESULTS_PER_RUN:
        run.dropped["results_over_run_limit"] = run.keep - MAX_RESULTS_PER_RUN
        run.keep = MAX_RESULTS_PER_RUN
    rules: set[str] = set()
    for position in range(run.keep):
        rule_id = run.staged[position][0].id
        if rule_id not in rules and len(rules) >= MAX_RULES_PER_RUN:
            # Results are most severe first, so the cut keeps the most severe rules.
            kept = [d for d in run.staged[position:run.keep] if d[0].id in rules]
            dropped = run.keep - position - len(kept)
            run.staged[position:run.keep] = kept
            run.keep = position + len(kept)
            run.dropped["results_over_rule_limit"] = dropped
            break
        rules.add(rule_id)


class _Sink:
    """Writes bytes while measuring their gzip size (level 1: fast, and larger than what the
    upload action's default level makes of the same bytes, which is the safe side).

    Chunks are buffered to ``FLUSH_AT`` bytes, so zlib and the file see few large calls. Each
    drained chunk is written and compressed on the ``meter`` thread while this one builds the
    next: zlib releases the GIL, so the two share the machine's cores. At most ``DEPTH`` chunks
    are in flight: a drain first waits for the ones before them, so what is known at every
    point of the document is the same in every run, and the stop decision with it (never
    timing). More than one in flight absorbs the thread's wait for the GIL after each chunk.

    ``estimate`` is the compressed size of the settled chunks plus the chunks in flight and the
    buffered tail at the ratio seen so far; ``exact`` waits and is exact.
    """

    FLUSH_AT = 1 << 18
    DEPTH = 4

    def __init__(self, handle: BinaryIO, meter: ThreadPoolExecutor) -> None:
        self.handle = handle
        self.meter = meter
        self.compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
        self.raw = 0  # bytes written and metered
        self.compressed = 0  # their compressed size
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.in_flight: deque[tuple[Future[int], int]] = deque()
        self.in_flight_raw = 0

    def __call__(self, chunk: bytes) -> None:
        self.buffer.append(chunk)
        self.buffered += len(chunk)
        if self.buffered >= self.FLUSH_AT:
            self.drain()

    def _write_and_meter(self, data: bytes) -> int:
        """On the meter thread: write the chunk and return its compressed size."""
        self.handle.write(data)
        # A sync flush makes the count exact at every chunk (zlib would otherwise hold back
        # up to a block), for a few bytes per chunk.
        return (len(self.compressor.compress(data))
                + len(self.compressor.flush(zlib.Z_SYNC_FLUSH)))

    def _settle(self, keep: int) -> None:
        """Wait until at most ``keep`` chunks are in flight, oldest first."""
        while len(self.in_flight) > keep:
            future, raw = self.in_flight.popleft()
            self.compressed += future.result()  # re-raises the thread's OSError
            self.raw += raw
            self.in_flight_raw -= raw

    def drain(self) -> None:
        """Hand everything buffered to the meter thread (after the chunks before it)."""
        data = b"".join(self.buffer)
        self.buffer.clear()
        self.buffered = 0
        self._settle(self.DEPTH - 1)
        self.in_flight.append((self.meter.submit(self._write_and_meter, data), len(data)))
        self.in_flight_raw += len(data)

    def exact(self) -> int:
        """Everything written and metered: the compressed size so far, exactly."""
        self.drain()
        self._settle(0)
        return self.compressed

    @property
    def ratio(self) -> float:
        # Before the first chunk is metered assume no compression at all: the safe side.
        return self.compressed / self.raw if self.raw else 1.0

    @property
    def estimate(self) -> float:
        return self.compressed + (self.in_flight_raw + self.buffered) * self.ratio

    def finish(self) -> int:
        self.exact()
        self.compressed += len(self.compressor.flush())
        return self.compressed


def _drained(*sinks: _Sink) -> int:
    """The exact compressed size of the sinks, for a decision the estimate cannot settle."""
    return sum(sink.exact() for sink in sinks)


def _emit(runs: list[_Run], handle: BinaryIO, stop_at: float | None = None) -> int:
    """Write the SARIF document, streaming; return its metered gzip size.

    Results come first, then only the rules they use. A rule is built, serialized and metered
    once, at its first use, and parked in a temporary file until the results are done, so no
    rule is held in memory and no byte is compressed twice. The document's gzip size is metered
    as two streams, the rules and everything else: a little more than one stream would give,
    which is the safe side.

    With ``stop_at`` (one run only), results stop once they and their rules would pass that
    many compressed bytes: they are the least severe, and would be cut anyway.
    """
    # One thread writes and meters (see _Sink); leaving the block waits for it, also on an
    # error, so nothing is written to the handle after this returns.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scangate-meter") as meter:
        return _emit_runs(runs, handle, stop_at, meter)


def _emit_runs(runs: list[_Run], handle: BinaryIO, stop_at: float | None,
               meter: ThreadPoolExecutor) -> int:
    dumps = orjson.dumps
    sink = _Sink(handle, meter)
    sink(b'{"$schema":' + dumps(SCHEMA_URI) + b',"version":"2.1.0","runs":[')
    rules_size = 0
    pending_costs: list[tuple[_Run, list[tuple[int, int]], float]] = []
    spill = tempfile.TemporaryFile(prefix="scangate-rules-")
    try:
        for number, run in enumerate(runs):
            spill.seek(0)
            spill.truncate()
            rule_sink = _Sink(spill, meter)
            sink(b",{" if number else b"{")
            sink(b'"results":[')
            used: set[str] = set()
            occurrences: dict[str, int] = {}
            # Raw bytes per written result, in the document and in the rules.
            raw_costs: list[tuple[int, int]] = []
            for position in range(run.keep):
                finding, disposition, waiver = run.staged[position]
                if stop_at is not None and sink.estimate + rule_sink.estimate > stop_at and (
                        _drained(sink, rule_sink) > stop_at):
                    dropped = run.keep - position
                    run.dropped["results_over_size_limit"] = (
                        run.dropped.get("results_over_size_limit", 0) + dropped)
                    run.keep = position
                    break
                if position:
                    sink(b",")
                fingerprint = finding.fingerprint
                occurrence = occurrences[fingerprint] = occurrences.get(fingerprint, 0) + 1
                chunk = dumps(_result(run, finding, disposition, waiver, fingerprint,
                                      occurrence))
                sink(chunk)
                rule_bytes = 0
                if finding.id not in used:
                    rule_sink(b"," if used else b"")
                    used.add(finding.id)
                    rule = dumps(_rule(run.rules[finding.id]))
                    rule_sink(rule)
                    rule_bytes = len(rule) + 1
                raw_costs.append((len(chunk) + 1, rule_bytes))
            report = run.report
            properties: dict[str, Any] = {
                "artifactName": report.artifact_name,
                "artifactType": report.artifact_type,
                "report": report.path,
                "resultsDropped": sum(run.dropped.values()),
            }
            if run.dropped:
                properties["dropReasons"] = run.dropped
            driver = {
                "name": "scangate",
                "fullName": "scangate security gate (Trivy findings)",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": "https://github.com/aquasecurity/trivy",
            }
            sink(b'],"tool":{"driver":' + dumps(driver)[:-1] + b',"rules":[')
            sink.exact()  # written out before the rules are copied in after it
            rules_size += rule_sink.finish()
            pending_costs.append((run, raw_costs, rule_sink.ratio))
            spill.seek(0)
            shutil.copyfileobj(spill, handle, 1 << 20)
            rest = {"automationDetails": {"id": f"{run.category}/"},
                    "columnKind": "utf16CodeUnits", "properties": properties}
            sink(b"]}}," + dumps(rest)[1:])
    finally:
        # Closing frees tens of MiB of page cache, which takes the kernel a while: on a thread,
        # while the other outputs are written.
        threading.Thread(target=spill.close, name="scangate-close-spill", daemon=True).start()
    sink(b"]}\n")
    size = sink.finish() + rules_size
    # Costs at the ratios of the whole document, not the running estimate, which is
    # uncompressed until the first 64 KiB are metered and would make the most severe results
    # (written first) look many times dearer than they are.
    ratio = sink.ratio
    for run, raw_costs, rule_ratio in pending_costs:
        run.costs = [doc * ratio + rule * rule_ratio for doc, rule in raw_costs]
    return size


def _trim_to(runs: list[_Run], size: int) -> None:
    """Keep the most severe results, across runs, whose measured cost fits the budget.

    Ranked by severity, then by position, then by run: at one severity every run keeps its
    share, and no run keeps a less severe result while another loses a more severe one.
    """
    ranked = sorted(
        ((run.staged[pos][0].severity, run_no, pos) for run_no, run in enumerate(runs)
         for pos in range(run.keep)),
        key=lambda item: (-item[0], item[2], item[1]),
    )
    fixed_overhead = size - sum(sum(run.costs) for run in runs)
    # Aim below the budget: the real gzip of a shorter document compresses a little worse.
    allowance = GZIP_BUDGET * 0.97 - fixed_overhead
    keep = [0] * len(runs)
    for _severity, run_no, pos in ranked:
        allowance -= runs[run_no].costs[pos]
        if allowance < 0:
            break
        keep[run_no] = pos + 1
    for run, kept in zip(runs, keep, strict=True):
        if kept < run.keep:
            run.dropped["results_over_size_limit"] = (
                run.dropped.get("results_over_size_limit", 0) + run.keep - kept)
            run.keep = kept


_OVERFLOW_FIX = (
    "an upload of only the most severe results would close the alerts of the others as "
    "fixed while they are still there: gate fewer images per SARIF (one call each), or pass "
    f"--sarif-overflow {OVERFLOW_KEEP_MOST_SEVERE} where that SARIF is not uploaded to code "
    "scanning")


def _refuse_overflow(runs: list[_Run], size: int | None = None) -> None:
    """Fail closed (exit 2) when a run is over a per-run limit, or the file over the size."""
    for run in runs:
        if run.dropped:
            raise OutputError(
                f"SARIF run {run.category!r} is over GitHub's per-run limits of "
                f"{MAX_RESULTS_PER_RUN} results and {MAX_RULES_PER_RUN} rules "
                f"({', '.join(f'{k}={v}' for k, v in run.dropped.items())}); {_OVERFLOW_FIX}")
    if size is not None and size > GZIP_BUDGET:
        raise OutputError(
            f"SARIF is {size} bytes gzip-compressed, over the {GZIP_BUDGET}-byte budget for "
            f"GitHub's {MAX_GZIP_BYTES}-byte upload limit; {_OVERFLOW_FIX}")


def write(result: GateResult, category_args: list[str], dockerfile: str | None,
          handle: BinaryIO, overflow: str = OVERFLOW_REFUSE) -> None:
    """Write the SARIF document to ``handle`` (a seekable temporary file).

    ``overflow`` says what a run over GitHub's limits gets: ``refuse`` (OutputError) or
    ``keep-most-severe`` (the most severe results, the drop said on stderr and in the run).
    """
    if overflow not in OVERFLOW_CHOICES:
        raise UsageError(
            f"--sarif-overflow {overflow!r} is not one of {', '.join(OVERFLOW_CHOICES)}")
    refuse = overflow == OVERFLOW_REFUSE
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
        run = _build_run(report, category, by_report[report.index], anchored,
                         _checkout_path(dockerfile) if dockerfile else None)
        _cap_run(run)
        runs.append(run)
    if refuse:
        _refuse_overflow(runs)
        _refuse_overflow(runs, _emit(runs, handle))
        return
    # One run (the usual case): stop at the budget in the same pass. Several runs share the
    # budget by severity across runs, which needs the measured costs of a full pass first.
    stop_at = GZIP_BUDGET * 0.97 if len(runs) == 1 else None
    size = _emit(runs, handle, stop_at)
    while size > GZIP_BUDGET:
        # Over GitHub's limit: cut by measured cost and write again (the rare case).
        before = sum(run.keep for run in runs)
        if before == 0:
            raise OutputError(
                f"SARIF without any result is {size} bytes gzip, over the {GZIP_BUDGET}-byte "
                "budget for GitHub's upload: split the reports over several scangate calls")
        _trim_to(runs, size)
        if sum(run.keep for run in runs) == before:
            for run in runs:  # nothing left to measure against: halve what is left
                run.dropped["results_over_size_limit"] = (
                    run.dropped.get("results_over_size_limit", 0) + run.keep - run.keep // 2)
                run.keep //= 2
        handle.seek(0)
        handle.truncate()
        size = _emit(runs, handle)
    for run in runs:
        if run.dropped:
            print(
                f"scangate: warning: SARIF run {run.category!r} keeps "
                f"{run.keep} most severe results and drops "
                f"{sum(run.dropped.values())} to stay within GitHub's limits "
                f"({', '.join(f'{k}={v}' for k, v in run.dropped.items())}); uploaded to "
                "code scanning, the dropped ones' alerts would close as fixed while they are "
                "not; the gate still counts every finding, the JSON summary has the counts "
                "and the GitLab report (--gitlab-report) lists them all",
                file=sys.stderr,
            )
