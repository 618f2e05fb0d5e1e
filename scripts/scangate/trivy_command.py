"""The Trivy command line ``scangate scan`` runs, built so that nothing but scangate's own flags
decides what Trivy reports.

Trivy reads settings from four places besides its flags: ``trivy.yaml`` (``--config``) and
``.trivyignore`` (``--ignorefile``) and ``trivy-secret.yaml`` (``--secret-config``) in its
working directory, and ``TRIVY_*`` environment variables (every flag has one:
``TRIVY_SEVERITY``, ``TRIVY_IGNOREFILE``, ``TRIVY_IGNORE_UNFIXED``, ``TRIVY_SKIP_FILES``...). In a
pipeline the working directory is the repository under test and the variables are the project's
CI variables: both are written by the people the gate stops. So Trivy runs in an empty
directory, every one of those files is named explicitly (an empty file, or "" which Trivy
documents as "disables loading"), every severity is asked for, suppressed findings are shown
(``--show-suppressed``: they land in ``ExperimentalModifiedFindings``, which the gate counts),
and TRIVY_* variables are dropped, except the registry credentials, which only decide whether
an image can be pulled, never what is reported about it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Every severity Trivy knows, in Trivy's spelling (its default, written out so that no config
# or variable can narrow it).
ALL_SEVERITIES = "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"
SCANNERS = ("vuln", "secret", "misconfig", "license")
DEFAULT_SCANNERS = ("vuln", "secret")  # Trivy's own default

# TRIVY_* variables that authenticate a pull and cannot change a finding.
KEPT_VARIABLES = frozenset({"TRIVY_USERNAME", "TRIVY_PASSWORD", "TRIVY_REGISTRY_TOKEN"})

# A Go duration as Trivy's --timeout takes it: 10m, 1h30m, 90s.
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+")

# Trivy's log lines: "2026-01-01T00:00:00Z\tFATAL\tFatal error\t<message>".
_LOG_PREFIX = re.compile(r"^\S+\t(?:FATAL|ERROR|WARN|INFO|DEBUG)\t(?:Fatal error\t)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_TRIVY_MESSAGE = 600


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """What to scan (exactly one of the three) and how to reach the vulnerability DB."""

    target_kind: str  # "input" (image archive), "image" (reference) or "fs" (directory)
    target: str  # absolute path for input/fs, the reference for image
    output: str  # absolute path Trivy writes the JSON report to
    ignorefile: str  # absolute path of an empty file
    config: str  # absolute path of an empty file
    scanners: tuple[str, ...] = DEFAULT_SCANNERS
    cache_dir: str | None = None
    db_repositories: tuple[str, ...] = ()
    java_db_repositories: tuple[str, ...] = ()
    skip_db_update: bool = False
    pinned_db: bool = False  # the vulnerability DB is pinned (--db-digest): never updated
    offline_scan: bool = False
    timeout: str | None = None
    platform: str | None = None
    # VEX documents (paths relative to Trivy's working directory, see scangate.vex_input).
    vex: tuple[str, ...] = ()
    list_all_packages: bool = False


def is_duration(value: str) -> bool:
    return bool(_DURATION.fullmatch(value))


def build_command(trivy: str, request: ScanRequest) -> list[str]:
    """The argv for one Trivy run. The target comes last; paths are absolute and the caller
    refuses an image reference starting with ``-``, so no target can read as a flag."""
    subcommand = "fs" if request.target_kind == "fs" else "image"
    cmd = [
        trivy, subcommand,
        "--config", request.config,
        "--ignorefile", request.ignorefile,
        "--secret-config", "",
        "--format", "json",
        "--output", request.output,
        "--severity", ALL_SEVERITIES,
        "--show-suppressed",
        "--scanners", ",".join(request.scanners),
        "--exit-code", "0",
        "--quiet",
        "--skip-version-check",
        "--disable-telemetry",
    ]
    # Layer analyses are kept in memory, never in the cache directory: a cache restored from
    # an earlier job (or another branch) cannot answer for this image's layers, and Trivy's
    # on-disk analysis cache is a bolt file that one process locks for its whole run (a second
    # scan on the same --cache-dir fails after 5 s: pkg/cache/fs.go defaultFSCacheTimeout).
    # The vulnerability DB is still read from the cache directory.
    cmd += ["--cache-backend", "memory"]
    if request.cache_dir:
        cmd += ["--cache-dir", request.cache_dir]
    for repository in request.db_repositories:
        cmd += ["--db-repository", repository]
    for repository in request.java_db_repositories:
        cmd += ["--java-db-repository", repository]
    if request.skip_db_update:
        # Download nothing: the vulnerability and Java DBs in the cache, the checks bundle
        # Trivy ships with.
        cmd += ["--skip-db-update", "--skip-java-db-update", "--skip-check-update"]
    elif request.pinned_db:
        # The pinned DB is the one scangate checked: Trivy must not replace it.
        cmd.append("--skip-db-update")
    if request.offline_scan:
        # No lookups of dependencies over the network (Trivy may then identify fewer jars).
        cmd.append("--offline-scan")
    if request.timeout:
        cmd += ["--timeout", request.timeout]
    if request.list_all_packages:
        # Every package, not only vulnerable ones: the SBOM is converted from this report.
        cmd.append("--list-all-pkgs")
    for document in request.vex:
        cmd += ["--vex", document]
    if request.platform and subcommand == "image":
        cmd += ["--platform", request.platform]
    if request.target_kind == "input":
        cmd += ["--input", request.target]
    else:
        cmd.append(request.target)
    return cmd


def build_convert_command(trivy: str, report: str, output: str, config: str,
                          ignorefile: str) -> list[str]:
    """``trivy convert`` of the scan's own JSON report to a CycloneDX SBOM: the packages of the
    exact bytes scanned, without a second scan (``--format cyclonedx`` lists components only;
    the findings stay in the JSON report)."""
    return [trivy, "convert", "--config", config, "--ignorefile", ignorefile,
            "--format", "cyclonedx", "--output", output, "--quiet", report]


def scrubbed_environment(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The environment for Trivy, and the names of the TRIVY_* variables left out of it."""
    kept: dict[str, str] = {}
    dropped: list[str] = []
    for name, value in environ.items():
        if name.upper().startswith("TRIVY_") and name not in KEPT_VARIABLES:
            dropped.append(name)
        else:
            kept[name] = value
    return kept, sorted(dropped)


def trivy_failure(returncode: int, stderr: str) -> str:
    """Trivy's own reason, on one bounded line: its last FATAL/ERROR line, else its last line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    chosen = next((line for line in reversed(lines) if "\tFATAL\t" in line or
                   "\tERROR\t" in line), lines[-1] if lines else "")
    text = _CONTROL.sub(" ", _LOG_PREFIX.sub("", chosen)).strip()
    if len(text) > _MAX_TRIVY_MESSAGE:
        text = text[:_MAX_TRIVY_MESSAGE] + "..."
    return f"trivy exited {returncode}: {text or 'no message'}"
