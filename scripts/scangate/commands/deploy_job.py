"""``scangate deploy-job``: container-release.yml's deploy step, around ``scangate deploy``.

One ``scangate deploy`` per manifests directory of the call's matrix, with the newest push
record (never one named above this attempt, scangate.artifacts) of every image that uses it:
an image without one stops the deploy before anything is applied. Each deploy's record
(deploy-N.json: the images applied, by digest) goes to ``--records-dir``; after every deploy
and rollout succeeded, ``--monitoring-event-bus`` gets them (``scangate mark-deployed``), so
the registry monitor never watches an image that does not run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS, UsageError

NAME = "deploy-job"
# Passed to every scangate deploy as they are (deploy checks them).
PASSED_ON = ("namespace", "cluster", "aws-region", "kubectl", "kubectl-sha256",
             "rollout-timeout", "order")  # fmt: skip


def add_parser(subparsers: Any) -> None:
    from scangate.commands.results import _common

    parser = subparsers.add_parser(
        NAME, help="deploy every manifests directory of a release call, then tell the monitor",
        description="scangate deploy once per manifests directory with its images' push "
        "records, then scangate mark-deployed with every deploy record.")
    _common(parser)
    for name in PASSED_ON:
        parser.add_argument(f"--{name}", default="", metavar="VALUE",
                            help=f"scangate deploy's --{name}")
    parser.add_argument("--records-dir", required=True, type=Path, metavar="DIR",
                        help="where each deploy's record (deploy-N.json) is written")
    parser.add_argument("--monitoring-event-bus", default="", metavar="NAME",
                        help="EventBridge bus told what is deployed; empty: none")
    parser.add_argument("--mark-only", action="store_true",
                        help="deploy nothing: tell --monitoring-event-bus the deploy records "
                        "already in --records-dir (a step after the deploys succeeded)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scangate.errors import ScangateError
    from scangate.results import Artifacts, image_names
    from scangate.step_outputs import run_scangate

    if args.mark_only:
        records = sorted(args.records_dir.glob("deploy-*.json"))
        if not records:
            raise UsageError(f"no deploy record in {args.records_dir}: nothing to mark deployed")
        _mark(args, records)
        return EXIT_PASS
    names = image_names(args.matrix)
    manifests_of = {e["name"]: e.get("manifests", "") for e in json.loads(args.matrix)}
    artifacts = Artifacts(args.downloads, args.call, args.attempt)
    groups: dict[str, list[Path]] = {}
    for name in names:
        record = artifacts.file("push", name, "push.json")
        if record is None:
            raise UsageError(f"no push record for image {name}: nothing is deployed")
        groups.setdefault(str(manifests_of[name]), []).append(record)
    args.records_dir.mkdir(parents=True, exist_ok=True)
    common = [f"--{n}={getattr(args, n.replace('-', '_'))}" for n in PASSED_ON
              if getattr(args, n.replace("-", "_"))]
    records = []
    for number, (manifests, pushed) in enumerate(sorted(groups.items()), 1):
        record = args.records_dir / f"deploy-{number}.json"
        code = run_scangate(["deploy", f"--manifests={manifests}", *common,
                             *(f"--push-record={p}" for p in pushed), f"--output={record}"])
        if code != EXIT_PASS:
            raise ScangateError(f"the deploy of {manifests} failed (see above); what was "
                                "deployed before it stays, nothing after it is deployed")
        records.append(record)
    if args.monitoring_event_bus:
        _mark(args, records)
    return EXIT_PASS


def _mark(args: argparse.Namespace, records: list[Path]) -> None:
    from scangate.errors import ScangateError
    from scangate.step_outputs import run_scangate

    if not args.monitoring_event_bus:
        raise UsageError("--mark-only needs --monitoring-event-bus")
    code = run_scangate(["mark-deployed", *(f"--deploy-record={r}" for r in records),
                         f"--event-bus={args.monitoring_event_bus}",
                         *([f"--aws-region={args.aws_region}"] if args.aws_region else [])])
    if code != EXIT_PASS:
        raise ScangateError("the deploy succeeded but the registry monitor could not be told "
                            "(see above): re-run the job once the bus is reachable")
