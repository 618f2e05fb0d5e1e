"""``scangate scan``: run Trivy so that the repository under test cannot change what it reports.

Pipelines call this instead of Trivy: a ``.trivyignore`` or ``trivy.yaml`` committed to the
repository, or a ``TRIVY_SEVERITY`` pipeline variable, would otherwise drop a CRITICAL before the
gate ever sees it (see scangate.trivy_command for the full list). The report is written beside
its final path and renamed into place only once Trivy succeeded and scangate can read it; a
failed scan leaves no report (not even one from an earlier run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from scangate import trivy_db
from scangate.commands.arg_types import reasoned
from scangate.errors import EXIT_PASS, ReportError, ScanError, UsageError
from scangate.inline_ignores import (
    UnreadableError,
    find_inline_ignore,
    find_inline_ignore_in_image,
)
from scangate.outputs.atomic import check_writable, replaced_on_success
from scangate.report import load_report
from scangate.trivy_command import (
    DEFAULT_SCANNERS,
    SCANNERS,
    ScanRequest,
    build_command,
    build_convert_command,
    is_duration,
    scrubbed_environment,
    trivy_failure,
)
from scangate.vex_input import stage

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _scanners(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in SCANNERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{value!r}: scanners are a comma-separated list of {', '.join(SCANNERS)}")
    return tuple(dict.fromkeys(names))


def _duration(value: str) -> str:
    if not is_duration(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration (like 10m, 1h, 90s)")
    return value


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="run Trivy so that repository files and TRIVY_* variables cannot hide findings",
        description="Run Trivy (JSON report, every severity, suppressed findings shown) in an "
        "empty working directory with an empty ignore file and config, and without the "
        "TRIVY_* environment (registry credentials excepted). Exit 0 when the report was "
        "written, 2 on any error; gate the report with `scangate gate`.",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--input", metavar="IMAGE.tar", help="image archive (docker save, OCI)")
    target.add_argument("--image", metavar="REF", help="image reference (registry or engine)")
    target.add_argument("--fs", metavar="DIR", help="directory (a repository checkout)")
    parser.add_argument("--output", required=True, metavar="PATH",
                        help="where to write Trivy's JSON report")
    parser.add_argument("--trivy", metavar="PATH",
                        help="Trivy binary (default: the one beside this Python, else on PATH)")
    parser.add_argument("--cache-dir", metavar="DIR", help="Trivy's cache (DB) directory")
    parser.add_argument("--db-repository", action="append", default=[], metavar="REPO",
                        help="OCI repository of the vulnerability DB (repeat for fallbacks)")
    parser.add_argument("--java-db-repository", action="append", default=[], metavar="REPO",
                        help="OCI repository of the Java DB (repeat for fallbacks)")
    parser.add_argument("--skip-db-update", action="store_true",
                        help="download nothing: the vulnerability and Java DBs in the cache, "
                        "the checks Trivy ships with")
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--db-digest", type=reasoned(trivy_db.parse_digest), metavar="sha256:HEX",
                    help="pin the vulnerability DB (air-gapped runners, CI caches): the sha256 "
                    "of the cache's db/trivy.db (`sha256sum`); any other DB is refused, before "
                    "and after Trivy reads it, and Trivy never updates the pinned one (a cache "
                    "with no DB and no --skip-db-update: Trivy downloads one, which must be the "
                    "pinned one)")
    db.add_argument("--fresh-db", action="store_true",
                    help="drop the cache's vulnerability DB so Trivy downloads the one its "
                    "repository serves now (checked against the digest Trivy resolves); a DB "
                    "not downloaded by this run is refused")
    parser.add_argument("--fresh-db-unless-pinned", action="store_true",
                        help="--fresh-db when --db-digest is not given (a CI input that pins "
                        "the DB or is empty); with --skip-db-update and no pin the scan is "
                        "still refused")
    parser.add_argument("--input-sha256", metavar="HEX",
                        help="with --input: the archive's sha256 as the build recorded it; any "
                        "other file is refused before Trivy reads it (exit 1)")
    parser.add_argument("--image-id", metavar="sha256:HEX",
                        help="with --input: the image the build recorded; a report of another "
                        "image is refused and not written (exit 1)")
    parser.add_argument("--offline-scan", action="store_true",
                        help="no network lookups of dependencies (Trivy's --offline-scan)")
    parser.add_argument("--scanners", type=_scanners, default=DEFAULT_SCANNERS,
                        metavar="LIST", help="comma-separated: vuln,secret,misconfig,license "
                        "(default: vuln,secret)")
    parser.add_argument("--timeout", type=_duration, metavar="DURATION",
                        help="Trivy's timeout (default Trivy's, 5m)")
    parser.add_argument("--platform", metavar="OS/ARCH",
                        help="platform of a multi-platform image")
    parser.add_argument("--allow-inline-ignores", action="store_true",
                        help="with misconfig: accept trivy:ignore/tfsec:ignore tokens in the "
                        "scanned files or image layers (by default they are refused: Trivy "
                        "drops what they name without a trace; --image cannot be checked and "
                        "is refused with misconfig unless this is given)")
    parser.add_argument("--sbom", metavar="PATH",
                        help="also write a CycloneDX SBOM (JSON) converted from this scan's "
                        "own report: the packages of the exact bytes scanned, no second scan")
    parser.add_argument("--vex", action="append", default=[], metavar="PATH",
                        help="a vendor VEX document (OpenVEX, CycloneDX or CSAF) for Trivy; "
                        "repeat for several. What it suppresses stays in the report as a "
                        "modified finding and counts unless the policy accepts the document "
                        "(accepted_vex, by its sha256)")
    parser.set_defaults(run=run)


def _trivy_binary(given: str | None) -> str:
    if given:
        path = Path(given)
        if os.sep in given or path.exists():
            if not path.is_file():
                raise ScanError(f"{given}: --trivy: no such program; give the path of the "
                                "Trivy binary")
            return str(path.resolve())
        found = shutil.which(given)
        if found:
            return found
        raise ScanError(f"{given}: --trivy: no such program; give the path of the Trivy binary")
    beside = Path(sys.executable).with_name("trivy")
    if beside.is_file():
        return str(beside)
    found = shutil.which("trivy")
    if not found:
        raise ScanError("trivy not found beside this Python or on PATH: install Trivy (see "
                        "requirements/tools-hashed.txt) or pass --trivy PATH")
    return found


def _target(args: argparse.Namespace) -> tuple[str, str]:
    if args.input is not None:
        path = Path(args.input)
        if not path.is_file():
            raise UsageError(f"{args.input}: --input: no such image archive (write one with "
                             "`docker save -o IMAGE.tar REF`)")
        return "input", str(path.resolve())
    if args.fs is not None:
        path = Path(args.fs)
        if not path.is_dir():
            raise UsageError(f"{args.fs}: --fs: no such directory")
        return "fs", str(path.resolve())
    reference = args.image
    if not reference or reference.startswith("-") or _CONTROL.search(reference) \
            or any(c.isspace() for c in reference):
        raise UsageError(f"{reference!r}: --image is not an image reference")
    return "image", reference


def run(args: argparse.Namespace) -> int:
    trivy = _trivy_binary(args.trivy)
    kind, target = _target(args)
    output = os.path.abspath(args.output)
    check_writable(args.output, "--output")
    sbom = os.path.abspath(args.sbom) if args.sbom else None
    if args.sbom:
        check_writable(args.sbom, "--sbom")
        if os.path.realpath(args.sbom) == os.path.realpath(output):
            raise UsageError(f"{args.sbom}: --sbom and --output name the same file")
    if kind != "image" and os.path.realpath(output) == os.path.realpath(target):
        raise UsageError(f"{args.output}: --output would overwrite the scanned {kind}")
    # A report left by an earlier run must never be read as this run's.
    with contextlib.suppress(OSError):
        if os.path.isfile(output) and not os.path.islink(output):
            os.unlink(output)
    _check_recorded_archive(args, kind, target)
    if "misconfig" in args.scanners:
        _check_inline_ignores(args, kind, target)
    cache_dir = (os.path.abspath(args.cache_dir) if args.cache_dir
                 else trivy_db.default_cache_dir(os.environ))
    uses_db = "vuln" in args.scanners
    keep_db = uses_db and _prepare_db(args, cache_dir)
    if uses_db:
        trivy_db.forget_cached_java_db(cache_dir)
    started = trivy_db.now()
    environment, dropped = scrubbed_environment(os.environ)
    if dropped:
        print(f"scangate: scan: ignoring {', '.join(dropped)} from the environment (scangate "
              "decides what Trivy reports; put limits and waivers in the policy)",
              file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="scangate-scan-") as scratch:
        workdir = Path(scratch, "work")
        workdir.mkdir()
        ignorefile = Path(scratch, "empty.trivyignore")
        config = Path(scratch, "empty-trivy.yaml")
        ignorefile.touch()
        config.touch()
        staged = stage(args.vex, workdir)
        for path, _, digest in staged:
            print(f"scangate: scan: VEX {path}: sha256:{digest} (accept it in the policy by "
                  "this digest)", file=sys.stderr)
        with replaced_on_success(output, args.output, error=ScanError) as partial:
            request = ScanRequest(
                target_kind=kind, target=target, output=partial, ignorefile=str(ignorefile),
                config=str(config), scanners=args.scanners,
                cache_dir=cache_dir,
                db_repositories=tuple(args.db_repository),
                java_db_repositories=tuple(args.java_db_repository),
                skip_db_update=args.skip_db_update, pinned_db=keep_db,
                offline_scan=args.offline_scan,
                timeout=args.timeout,
                platform=args.platform, vex=tuple(name for _, name, _ in staged),
                list_all_packages=sbom is not None)
            try:
                _run_trivy(build_command(trivy, request), workdir, environment)
            except ScanError as exc:
                if uses_db and args.skip_db_update and "Java DB" in exc.message:
                    raise ScanError(f"{exc.message}; scangate never uses a cached Java DB "
                                    "(it cannot be verified): scan this image without "
                                    "--skip-db-update so Trivy downloads it") from None
                raise
            if uses_db:
                trivy_db.check_java_db_fresh(cache_dir, started)
                _record_db(args, cache_dir, partial, started, keep_db)
            try:
                report = load_report(partial)
            except ReportError as exc:
                raise ScanError(f"trivy wrote a report scangate cannot read: "
                                f"{exc.message.replace(partial, args.output)}") from None
            scanned = str(report.metadata.get("ImageID") or "")
            if args.image_id and scanned != args.image_id:
                from scangate.commands.image import ImageMismatch

                raise ImageMismatch(f"{args.input}: Trivy scanned image '{scanned}', the build "
                                    f"recorded '{args.image_id}': no report written")
            if sbom is not None:
                _write_sbom(trivy, partial, sbom, args.sbom, workdir, environment,
                            str(config), str(ignorefile))
    print(f"scangate: scan: wrote {args.output}", file=sys.stderr)
    return EXIT_PASS


def _check_recorded_archive(args: argparse.Namespace, kind: str, target: str) -> None:
    """--input-sha256 and --image-id: what the build job recorded of the archive it wrote."""
    if (args.input_sha256 or args.image_id) and kind != "input":
        raise UsageError("--input-sha256 and --image-id check an --input archive")
    for value, pattern, flag in ((args.input_sha256, r"[0-9a-f]{64}", "--input-sha256"),
                                 (args.image_id, r"sha256:[0-9a-f]{64}", "--image-id")):
        if value is not None and not re.fullmatch(pattern, value):
            raise UsageError(f"{flag} {value!r} is not {pattern.replace('[0-9a-f]', '<hex>')} "
                             "(what the build job recorded: its dotenv report)")
    if args.input_sha256:
        from scangate.commands.image import ImageMismatch
        from scangate.registry.archive import sha256_file

        actual = sha256_file(Path(target))
        if actual != args.input_sha256:
            raise ImageMismatch(f"{args.input} is not the tarball the build job wrote (sha256 "
                                f"{actual}, expected {args.input_sha256}): nothing scanned")


def _write_sbom(trivy: str, report: str, sbom: str, given: str, workdir: Path,
                environment: dict[str, str], config: str, ignorefile: str) -> None:
    """Convert the scan's report to CycloneDX beside ``sbom``, check it is one, rename it into
    place. A report left by an earlier run is removed first: it is never this run's SBOM."""
    with contextlib.suppress(OSError):
        if os.path.isfile(sbom) and not os.path.islink(sbom):
            os.unlink(sbom)
    with replaced_on_success(sbom, given, error=ScanError) as partial:
        _run_trivy(build_convert_command(trivy, report, partial, config, ignorefile), workdir,
                   environment)
        try:
            with open(partial, "rb") as handle:
                doc = json.loads(handle.read())
        except (OSError, ValueError) as exc:
            raise ScanError(f"{given}: trivy convert wrote no readable SBOM ({exc})") from None
        if not (isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX"
                and isinstance(doc.get("components", []), list)):
            raise ScanError(f"{given}: trivy convert did not write a CycloneDX SBOM")
    print(f"scangate: scan: wrote {given} (CycloneDX {doc.get('specVersion')}, "
          f"{len(doc.get('components') or [])} components)", file=sys.stderr)


def _check_inline_ignores(args: argparse.Namespace, kind: str, target: str) -> None:
    """Refuse (or, with --allow-inline-ignores, warn about) a token in the scanned files that
    makes Trivy's misconfiguration scanners drop a finding (see scangate.inline_ignores)."""
    what = ("an inline trivy:ignore (or tfsec:ignore) token makes Trivy drop a "
            "misconfiguration without a trace")
    try:
        if kind == "fs":
            found = find_inline_ignore(target)
            where = f"{os.path.join(args.fs, found[0])}:{found[1]}" if found else ""
        elif kind == "input":
            found = find_inline_ignore_in_image(target)
            where = f"{args.input}!{found[0].split('!', 1)[1]}:{found[1]}" if found else ""
        else:
            found, where = None, ""
            if not args.allow_inline_ignores:
                raise ScanError(f"{args.image}: --image with the misconfig scanner: scangate "
                                "cannot look inside a registry image for inline trivy:ignore "
                                "tokens before Trivy reads it; `docker save` the image and "
                                "scan the archive with --input")
    except UnreadableError as exc:
        if args.allow_inline_ignores:
            print(f"scangate: scan: warning: {exc} (--allow-inline-ignores)", file=sys.stderr)
            return
        raise ScanError(f"{exc}: scangate cannot tell whether it holds an inline trivy:ignore "
                        "token; make it readable, or scan without the misconfig scanner") \
            from None
    if not found:
        return
    if not args.allow_inline_ignores:
        raise ScanError(f"{where}: {what}; remove it and waive the finding in the policy (with "
                        "a reason and an expiry), or pass --allow-inline-ignores to accept such "
                        "tokens")
    print(f"scangate: scan: warning: {where}: {what} (--allow-inline-ignores)", file=sys.stderr)


def _prepare_db(args: argparse.Namespace, cache_dir: str) -> bool:
    """Never a cached DB on trust (see scangate.trivy_db): check the pin, or drop the cache's
    DB so Trivy downloads the repository's. True: Trivy must keep the (pinned) DB it finds."""
    if args.db_digest is not None:
        if not args.skip_db_update and not os.path.lexists(
                os.path.join(cache_dir, "db", "trivy.db")):
            # Nothing cached yet (a CI cache miss): Trivy downloads the DB, and _record_db
            # refuses it unless it is the pinned one.
            return False
        trivy_db.check_pin(cache_dir, args.db_digest)
        return True
    if args.fresh_db or (args.fresh_db_unless_pinned and not args.skip_db_update):
        if args.skip_db_update:
            raise UsageError("--fresh-db downloads the vulnerability DB, --skip-db-update "
                             "downloads nothing: pass one (air-gapped: --db-digest)")
        trivy_db.forget_cached_db(cache_dir)
        return False
    # Trivy would take whatever DB the cache holds, and anyone who can write the cache decides
    # what it says: no scan without one of the two checks.
    db_file = os.path.join(cache_dir, "db", "trivy.db")
    how = f"pin it with --db-digest sha256:HEX (`sha256sum {db_file}` of a DB you trust)"
    if not args.skip_db_update:
        how += " or pass --fresh-db to download the one its repository serves now"
    raise UsageError(f"{db_file}: the vulnerability DB would be used unverified (whoever "
                     f"writes the cache decides what it holds): {how}")


def _record_db(args: argparse.Namespace, cache_dir: str, report: str,
               started: datetime, kept: bool) -> None:
    """Check the DB Trivy read is the one checked before (kept) or downloaded by this run, and
    name it in the report."""
    if not kept:
        trivy_db.check_fresh_download(cache_dir, started)
    verified_by = "pin" if args.db_digest is not None else "download"
    db = trivy_db.record(cache_dir, tuple(args.db_repository), verified_by)
    if args.db_digest is not None and db.digest != args.db_digest:
        where = os.path.join(cache_dir, "db", "trivy.db")
        if kept:
            raise ScanError(f"{where}: the vulnerability DB changed while Trivy read it (now "
                            f"{db.digest}, --db-digest pins {args.db_digest}); run the scan "
                            "again with nothing else writing the cache")
        repositories = ", ".join(db.repository)
        raise ScanError(f"{where}: Trivy downloaded the vulnerability DB {db.digest} from "
                        f"{repositories}, --db-digest pins {args.db_digest}: serve the pinned "
                        "DB from --db-repository (a mirror), or pin this one after checking it")
    try:
        with open(report, "rb") as handle:
            data = handle.read()
        with open(report, "wb") as handle:
            handle.write(trivy_db.add_record(data, db))
    except OSError as exc:
        raise ScanError(f"{args.output}: cannot write: {exc.strerror or exc}") from None


def _run_trivy(cmd: list[str], workdir: Path, environment: dict[str, str]) -> None:
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=environment, stdin=subprocess.DEVNULL,
                              capture_output=True, check=False)
    except OSError as exc:
        raise ScanError(f"{cmd[0]}: cannot run trivy: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        raise ScanError(trivy_failure(proc.returncode,
                                      proc.stderr.decode("utf-8", "replace")))
