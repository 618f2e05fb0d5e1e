"""``scangate results``: a call's outputs and alerts from this run's artifacts (scangate.results).

- ``results scan``: per image its image ID, decision and counts (an image without a gate
  summary is an `error`); appends ``decision``, ``counts``, ``results``, ``image-id`` and
  container-release.yml's ``handoff`` to ``--outputs``.
- ``results release``: per image pushed its digest and URI; appends ``pushed``, ``image-digest``
  and ``image-uri``.
- ``results alert``: one ``scangate notify`` per image that failed its gate or has no decision
  (Slack from ``$SCANGATE_SLACK_WEBHOOK_URL``, SNS with ``--sns-topic-arn``); passes stay quiet,
  and with neither configured nothing is sent. Exit 1 when an alert could not be sent.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS, EXIT_VIOLATION

NAME = "results"


def _attempt(value: str) -> int:
    from scangate.commands.artifact import _attempt as parse

    return parse(value)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", required=True, metavar="JSON", help="the plan's matrix")
    parser.add_argument("--call", required=True, metavar="ID", help="the plan's call id")
    parser.add_argument("--downloads", required=True, type=Path, metavar="DIR",
                        help="where this call's artifacts were downloaded, one directory each")
    parser.add_argument("--attempt", required=True, type=_attempt, metavar="N",
                        help="this run's attempt (GITHUB_RUN_ATTEMPT)")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME, help="a call's outputs and alerts from this run's artifacts",
        description="Read each image's newest artifacts of this call back: outputs and alerts.")
    sub = parser.add_subparsers(dest="results", metavar="KIND", required=True)
    scan = sub.add_parser("scan", help="decisions, counts and the hand-off of a scan call")
    _common(scan)
    scan.add_argument("--policy", default="", help="the call's policy input (for the hand-off)")
    scan.add_argument("--plan-artifact", default="", metavar="ID",
                      help="the plan's artifact id (for the hand-off)")
    for kind, job in (("image", "build"), ("scan", "scan"), ("reports", "gate")):
        scan.add_argument(f"--{kind}-artifacts", default="{}", metavar="JSON",
                          help=f"toJSON(needs.{job}.outputs): each leg's {kind} artifact id as "
                          f"{kind}-<index> (for the hand-off)")
    scan.add_argument("--outputs", required=True, metavar="FILE", help="$GITHUB_OUTPUT")
    scan.set_defaults(run=run_scan)
    release = sub.add_parser("release", help="the pushed digests of a release call")
    _common(release)
    release.add_argument("--outputs", required=True, metavar="FILE", help="$GITHUB_OUTPUT")
    release.set_defaults(run=run_release)
    alert = sub.add_parser("alert", help="an alert per image that failed or has no decision")
    _common(alert)
    alert.add_argument("--sns-topic-arn", default="", metavar="ARN")
    alert.set_defaults(run=run_alert)


def _artifacts(args: argparse.Namespace) -> Any:
    from scangate.results import Artifacts, image_names

    return image_names(args.matrix), Artifacts(args.downloads, args.call, args.attempt)


def run_scan(args: argparse.Namespace) -> int:
    import json

    from scangate.artifact_ids import check_id, leg_ids, with_artifact_ids
    from scangate.results import compact, overall, scan_results, summed_counts
    from scangate.step_outputs import append_outputs

    names, artifacts = _artifacts(args)
    results = scan_results(names, artifacts)
    decision = overall(results)
    single = next(iter(results.values())) if len(results) == 1 else {}
    # The release downloads each image's artifacts by these ids, never by name.
    matrix = with_artifact_ids(json.loads(args.matrix), {
        kind: leg_ids(getattr(args, f"{kind}_artifacts"), kind)
        for kind in ("image", "scan", "reports")})
    handoff = {"call": args.call, "matrix": matrix, "decision": decision, "policy": args.policy,
               "plan_artifact": check_id(args.plan_artifact, "--plan-artifact")}
    append_outputs(args.outputs, [
        f"decision={decision}", f"counts={compact(summed_counts(results))}",
        f"results={compact(results)}", f"image-id={single.get('image-id', '')}",
        f"handoff={compact(handoff)}",
        f"reports-artifacts={compact({e['name']: e['reports_artifact'] for e in matrix})}"])
    print(f"decision: {decision}")
    print(json.dumps(results, indent=2))
    return EXIT_PASS


def run_release(args: argparse.Namespace) -> int:
    import json

    from scangate.results import compact, pushed
    from scangate.step_outputs import append_outputs

    names, artifacts = _artifacts(args)
    found = pushed(names, artifacts)
    single = found.get(names[0], {}) if len(names) == 1 else {}
    append_outputs(args.outputs, [
        f"pushed={compact(found)}", f"image-digest={single.get('image-digest', '')}",
        f"image-uri={single.get('image-uri', '')}"])
    print(json.dumps(found, indent=2))
    return EXIT_PASS


def run_alert(args: argparse.Namespace) -> int:
    from scangate.commands.notify import WEBHOOK_ENV
    from scangate.results import scan_results
    from scangate.step_outputs import run_scangate

    names, artifacts = _artifacts(args)
    if not os.environ.get(WEBHOOK_ENV) and not args.sns_topic_arn:
        print(f"no alert configured (no ${WEBHOOK_ENV}, no --sns-topic-arn): nothing sent")
        return EXIT_PASS
    sns = [f"--sns-topic-arn={args.sns_topic_arn}"] if args.sns_topic_arn else []
    failed = 0
    for name, result in scan_results(names, artifacts).items():
        if result["decision"] == "pass":
            continue  # passes stay quiet
        summary = artifacts.file("reports", name, "summary.json")
        if result["decision"] == "fail" and summary is not None:
            argv = ["notify", f"--summary={summary}", "--gate-exit-code=1", "--skip-pass"]
        else:  # no decision at all: the build, scan or gate broke
            argv = ["notify", "--gate-exit-code=2"]
        if run_scangate([*argv, f"--image={name}", *sns]) != EXIT_PASS:
            failed += 1
    if failed:
        print(f"::error title=scangate notify::{failed} alert(s) could not be sent (see above)")
        return EXIT_VIOLATION
    return EXIT_PASS
