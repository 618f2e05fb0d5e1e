"""``scangate ecr-findings``: an ECR image scan (basic or Inspector) as a Trivy JSON report."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

import orjson

from scangate.errors import EXIT_PASS, UsageError
from scangate.outputs.atomic import OutputSet, check_writable
from scangate.registry.reference import DIGEST

NAME = "ecr-findings"
DEFAULT_TIMEOUT = 600.0


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r}: the timeout must be positive")
    return number


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="write an ECR image scan (basic or enhanced) as a Trivy JSON report for the gate",
        description="Finds the image, starts a basic scan when none exists and the registry "
        "allows it, optionally waits for the scan, reads every page of findings and "
        "enhancedFindings, and writes a Trivy SchemaVersion 2 report that `scangate gate "
        "--report` accepts. A failed, unsupported or timed-out scan exits 2.",
    )
    parser.add_argument("--repository", required=True, metavar="NAME",
                        help="ECR repository name (e.g. team/app)")
    image = parser.add_mutually_exclusive_group(required=True)
    image.add_argument("--tag", metavar="TAG", help="image tag")
    image.add_argument("--digest", metavar="sha256:HEX", help="image digest")
    parser.add_argument("--wait", action="store_true",
                        help="wait for a pending scan instead of failing")
    parser.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"how long --wait waits (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--region", help="ECR region (default: AWS_REGION or config)")
    parser.add_argument("--output", required=True, metavar="PATH",
                        help="where to write the Trivy JSON report")
    parser.set_defaults(run=run)


def _progress(message: str) -> None:
    print(f"scangate: ecr-findings: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    if args.digest is not None and not DIGEST.fullmatch(args.digest):
        raise UsageError(f"--digest {args.digest!r} is not sha256:<64 lowercase hex digits>")
    if args.tag is not None and not args.tag.strip():
        raise UsageError("--tag is empty")
    check_writable(args.output, "--output")

    from scangate.aws.clients import client
    from scangate.aws.ecr import ScanReader, find_image
    from scangate.aws.ecr_report import to_trivy

    ecr = client("ecr", args.region)
    image = find_image(ecr, args.repository, tag=args.tag, digest=args.digest)
    scan = ScanReader(ecr, progress=_progress).read(image, wait=args.wait, timeout=args.timeout)
    report, closed = to_trivy(image, scan, dt.datetime.now(dt.UTC))
    writer = OutputSet()
    try:
        writer.add(args.output, orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    count = sum(len(r["Vulnerabilities"]) for r in report["Results"])
    note = f"; {closed} CLOSED enhanced findings left out" if closed else ""
    print(f"ecr-findings: {image.label} ({image.digest}): {scan.scan_type.lower()} scan "
          f"{scan.status}, {count} vulnerabilities written to {args.output}{note}")
    return EXIT_PASS
