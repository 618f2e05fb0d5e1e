"""``scangate enforce``: fail on the decision a gate summary records (a job of its own).

GitLab drops the security report of a failed job, so the report job publishes and exits 0 on
a violation; this command, in the next job, turns the recorded decision into the exit code. It
reads summary.json through the same reader as ``push --decision`` and ``notify``
(scangate.gate_summary), so no two steps can read one summary two ways.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from scangate.errors import EXIT_PASS, EXIT_VIOLATION, SummaryError

NAME = "enforce"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="exit 0 when a gate summary records a pass, 1 when it records a fail",
        description="Reads the JSON summary of `scangate gate --json-summary` and exits with "
        "its decision: 0 pass, 1 fail (the violations printed), 2 when the summary is missing, "
        "unreadable or records anything else.",
    )
    parser.add_argument("--summary", required=True, metavar="PATH",
                        help="JSON summary written by scangate gate --json-summary")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scangate.gate_summary import read_decided

    summary = read_decided(args.summary)
    if summary.passed:
        print(f"scangate: the gate passed ({args.summary})")
        return EXIT_PASS
    if summary.decision != "fail":  # "pass" with an exit code against it
        raise SummaryError(f"{args.summary}: records decision {summary.recorded_decision!r} "
                           f"with exit code {summary.recorded_exit_code!r}: not a pass")
    for violation in summary.violations:
        severity = str(violation["severity"]).upper()
        print(f"scangate: {severity}: {violation['count']} findings, at most "
              f"{violation['limit']} allowed", file=sys.stderr)
    for risk in summary.risk_violations:
        print(f"scangate: {risk['rule']}: {risk['id']}: {risk['detail']}", file=sys.stderr)
    print(f"scangate: the gate failed: the policy is violated ({args.summary}; the findings "
          "are in the report job's artifacts)", file=sys.stderr)
    return EXIT_VIOLATION
