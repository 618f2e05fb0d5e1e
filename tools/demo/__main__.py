"""`python -m tools.demo [--vulnerable] [--online | --offline]`: the whole pipeline, locally.

Exit 0: the gate passed (image pushed, manifests pinned). 1: the gate stopped the release
(nothing pushed). 2: the demo itself failed or was interrupted; the error says what to fix.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from tools.demo.console import Progress, box
from tools.demo.pipeline import (
    STEPS,
    Demo,
    Options,
    clear_outputs,
    display,
    format_counts,
    record,
    run_steps,
)
from tools.demo.procs import REPO_ROOT, DemoError, Runner

EXIT_ERROR = 2
_REPOSITORY = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
SEVERITIES = ("critical", "high", "medium", "low", "unknown")


def default_tag() -> str:
    """<commit>-<UTC time>: a new tag every run, since registry tags are never reused."""
    proc = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    commit = proc.stdout.strip() if proc.returncode == 0 else "local"
    return f"{commit}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def _pattern(regex: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise argparse.ArgumentTypeError(f"{value!r} is not a valid {what}")
        return value

    return check


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--vulnerable",
        action="store_true",
        help="build requirements-vulnerable.txt: the release the gate stops",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--online",
        dest="mode",
        action="store_const",
        const="online",
        help="public base image and Trivy's real DB (fail if unreachable)",
    )
    mode.add_argument(
        "--offline",
        dest="mode",
        action="store_const",
        const="offline",
        help="local base image, the project's test DB, a local package index",
    )
    parser.set_defaults(mode="auto")
    parser.add_argument(
        "--local-index",
        action="store_true",
        help="online too, let pip in the build read the pinned files from the "
        "host (for containers behind a TLS proxy only the host trusts)",
    )
    parser.add_argument(
        "--reports-dir",
        type=Path,
        default=REPO_ROOT / "reports",
        help="where the reports go (default: reports/ in the repository)",
    )
    parser.add_argument(
        "--registry",
        default="127.0.0.1:5000",
        help="plain-HTTP registry to push to (default: the one `make setup` runs)",
    )
    parser.add_argument(
        "--repository",
        default="user-authenticator",
        type=_pattern(_REPOSITORY, "repository name"),
        help="repository in that registry (default: user-authenticator)",
    )
    parser.add_argument(
        "--tag",
        type=_pattern(_TAG, "tag"),
        help="tag to push; never reused (default: <commit>-<UTC time>)",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        default=REPO_ROOT / ".scangate" / "policy.yaml",
        help="scangate policy (default: .scangate/policy.yaml)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show every tool's output as it runs (always in reports/logs/)",
    )
    args = parser.parse_args(argv)
    return Options(
        vulnerable=args.vulnerable,
        mode=args.mode,
        local_index=args.local_index,
        reports_dir=args.reports_dir.resolve(),
        registry=args.registry,
        repository=args.repository,
        tag=args.tag or default_tag(),
        policy=args.policy.resolve(),
        verbose=args.verbose,
    )


def _counts_line(summary: dict[str, Any]) -> str:
    counts = summary.get("counts") or {}
    total = summary.get("findings_total", sum(counts.values()))
    return ", ".join(f"{s} {counts.get(s, 0)}" for s in SEVERITIES) + f" ({total} total)"


def _violations(summary: dict[str, Any]) -> str:
    return ", ".join(
        f"{v['severity'].upper()} {v['count']} > {v['limit']}"
        for v in summary.get("violations") or []
    )


def closing_box(demo: Demo, exit_code: int, error: str | None, seconds: float) -> str:
    reports = display(demo.options.reports_dir)
    if error is not None:
        title = "scangate demo: ERROR - the demo could not finish (exit 2)"
    elif exit_code == 0:
        title = "scangate demo: PASS - the gate let the release through"
    else:
        title = "scangate demo: FAIL - the gate stopped the release; nothing was pushed"
    variant = "vulnerable" if demo.options.vulnerable else "clean"
    # The mode is known only once step 1 decided it.
    mode = f", {'online' if demo.online else 'offline'}" if demo.mode_reason else ""
    rows = [("variant", f"{variant} ({demo.options.requirements}){mode}")]
    if demo.image_id:
        rows.append(("image", f"{demo.options.image}\n{demo.image_id}"))
    if demo.summary:
        rows.append(("findings", _counts_line(demo.summary)))
        if _violations(demo.summary):
            rows.append(("violations", _violations(demo.summary)))
        rows.append(("policy", display(demo.options.policy)))
    if demo.securityhub_imported is not None:
        rows.append(
            (
                "Security Hub",
                f"{demo.securityhub_imported} findings imported (moto): "
                f"{format_counts(demo.securityhub_by_severity)}",
            )
        )
    if demo.pushed:
        rows.append(("pushed", f"{demo.options.image}\n{demo.pushed.digest}"))
    if demo.manifests:
        rows.append(
            ("manifests", f"{reports}/k8s/ (image pinned by digest in {', '.join(demo.manifests)})")
        )
    if demo.summary:
        rows.append(
            (
                "reports",
                f"{reports}/summary.md, summary.json, scangate.sarif,\n"
                "gl-container-scanning-report.json, trivy-*.json, asff.json",
            )
        )
    if error is not None:
        rows.append(("error", error.splitlines()[0][:160]))
    rows.append(("logs", f"{reports}/logs/"))
    rows.append(("exit code", f"{exit_code}   (took {seconds:.0f}s)"))
    return box(title, rows)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so every `finally` stops moto and the index server


def execute(demo: Demo, progress: Progress) -> tuple[int, str | None]:
    """Run the steps; (exit code, error message or None)."""
    try:
        return run_steps(demo, progress), None
    except DemoError as exc:
        return EXIT_ERROR, str(exc)
    except KeyboardInterrupt:
        return EXIT_ERROR, "interrupted"
    except Exception as exc:  # noqa: BLE001 - a crash must still be exit 2, never a verdict
        traceback.print_exc()
        return EXIT_ERROR, f"unexpected {type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    clear_outputs(options.reports_dir)
    started = time.monotonic()
    progress = Progress(STEPS)
    variant = "vulnerable" if options.vulnerable else "clean"
    print(f"scangate demo: {variant} variant -> {options.image}", flush=True)
    with tempfile.TemporaryDirectory(prefix="scangate-demo-") as work:
        demo = Demo(options, Runner(options.reports_dir / "logs", options.verbose), Path(work))
        exit_code, error = execute(demo, progress)
    if error is not None:
        print(f"\ndemo: error: {error}", file=sys.stderr, flush=True)
    doc = record(demo, progress, exit_code, error)
    (options.reports_dir / "demo.json").write_text(json.dumps(doc, indent=2) + "\n", "utf-8")
    print("\n" + closing_box(demo, exit_code, error, time.monotonic() - started), flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
