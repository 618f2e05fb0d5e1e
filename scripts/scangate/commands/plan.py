"""``scangate plan``: check a pipeline's inputs before anything is built, pushed or gated.

``scangate plan pull-request`` is the check of a pull request's (or merge request's) gate
inputs against the base branch's policy (scangate.pull_request): exit 0 when every input is at
least as strict, 2 naming each one that is not. The GitHub workflow runs it in the gate job on
pull-request events; the GitLab template and CodeBuild can call it the same way.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS, UsageError
from scangate.severity import Severity

NAME = "plan"


def _count(value: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise argparse.ArgumentTypeError(f"{value!r} is not a count (0 or more)")
    return int(value)


def _severity(value: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _boolean(value: str) -> bool:
    if value not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"{value!r} is not true or false")
    return value == "true"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="check a pipeline's inputs before anything runs",
        description="Check a pipeline's inputs. `plan pull-request`: on a pull request, refuse "
        "(exit 2, naming them) gate inputs less strict than the base branch's policy.",
    )
    sub = parser.add_subparsers(dest="plan", metavar="PLAN", required=True)
    pr = sub.add_parser(
        "pull-request",
        help="refuse gate inputs that loosen the base branch's policy",
        description="On a pull request the caller's inputs come from the pull request: every "
        "max-*, ignore-unfixed and policy-from-base must be at least as strict as the base "
        "commit's policy, and the policy path one that the base commit's caller passes.",
    )
    pr.add_argument("--base-policy", metavar="FILE", default="",
                    help="the policy file as the base commit has it; empty or missing: "
                    "scangate's default policy")
    pr.add_argument("--base-caller", metavar="FILE", default="",
                    help="the caller workflow as the base commit has it (optional; missing: "
                    "the policy path is not compared)")
    pr.add_argument("--workflow-file", default="container-scan.yml", metavar="NAME",
                    help="the reusable workflow's file name the caller uses")
    pr.add_argument("--policy", default="", metavar="PATH", help="the policy input")
    pr.add_argument("--policy-from-base", type=_boolean, default=True, metavar="true|false")
    pr.add_argument("--fail-on", type=_severity, metavar="SEVERITY")
    for severity in Severity:
        pr.add_argument(f"--max-{severity.key}", type=_count, metavar="N")
    pr.add_argument("--ignore-unfixed", type=_boolean, default=False, metavar="true|false")
    pr.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scangate.policy import DEFAULT_POLICY, load_policy_file
    from scangate.pull_request import (
        GateInputs,
        base_caller_policies,
        changed_policy,
        loosened,
    )

    base = DEFAULT_POLICY
    source = "(scangate's default)"
    if args.base_policy and os.path.isfile(args.base_policy):
        base = load_policy_file(args.base_policy)
        source = args.base_policy
    inputs = GateInputs(
        policy=args.policy,
        policy_from_base=args.policy_from_base,
        fail_on=args.fail_on,
        max_counts={s: getattr(args, f"max_{s.key}") for s in Severity
                    if getattr(args, f"max_{s.key}") is not None},
        ignore_unfixed=args.ignore_unfixed,
    )
    problems = loosened(inputs, base, source)
    if args.base_caller and Path(args.base_caller).is_file():
        text = Path(args.base_caller).read_text(encoding="utf-8", errors="replace")
        problems += changed_policy(inputs, base_caller_policies(text, args.workflow_file))
    if problems:
        raise UsageError(
            "on a pull request the gate's inputs may only tighten the base branch's policy; "
            "this one loosens it: " + "; ".join(problems)
            + ". Change them in a pull request of their own, reviewed and merged first")
    print(f"scangate: plan: the pull request's gate inputs are at least as strict as {source}")
    return EXIT_PASS
