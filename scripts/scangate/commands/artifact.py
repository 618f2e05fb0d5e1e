"""``scangate artifact ids``: the `artifact-ids` of a by-id download of several matrix legs'
artifacts (scangate.artifact_ids): the plan's artifact first, then each leg's id.
"""

from __future__ import annotations

import argparse
from typing import Any

from scangate.artifact_ids import KINDS
from scangate.errors import EXIT_PASS, UsageError

NAME = "artifact"


def _attempt(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 10**9:
        raise argparse.ArgumentTypeError(f"{value!r} is not a run attempt (1 or more)")
    return int(value)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME, help="this run's artifacts, by id",
        description="This run's artifacts, which scangate's jobs download by id.")
    sub = parser.add_subparsers(dest="artifact", metavar="ACTION", required=True)
    ids = sub.add_parser(
        "ids", help="append ids= (the plan's artifact, then each leg's) to --outputs",
        description="The comma-separated `artifact-ids` of a by-id download of several legs' "
        "artifacts: the plan's artifact first, so that download-artifact, which extracts a lone "
        "artifact into its path itself, keeps each in a directory of its name.")
    ids.add_argument("--plan-artifact", required=True, metavar="ID")
    for kind in KINDS:
        ids.add_argument(f"--{kind}-outputs", default="", metavar="JSON",
                         help=f"toJSON(needs.<job>.outputs) of the job whose legs upload "
                         f"`{kind}` artifacts ({kind}-<index>)")
    ids.add_argument("--matrix", default="", metavar="JSON",
                     help="a release matrix (with --matrix-kind): its entries' <kind>_artifact")
    ids.add_argument("--matrix-kind", action="append", default=[], choices=KINDS)
    ids.add_argument("--outputs", required=True, metavar="FILE", help="$GITHUB_OUTPUT")
    ids.set_defaults(run=run_ids)


def run_ids(args: argparse.Namespace) -> int:
    import json

    from scangate.artifact_ids import check_id, leg_ids
    from scangate.step_outputs import append_outputs

    plan = check_id(args.plan_artifact, "--plan-artifact")
    if not plan:
        raise UsageError("--plan-artifact is empty: the plan job uploaded no artifact")
    found = [plan]
    for kind in KINDS:
        outputs = getattr(args, f"{kind}_outputs")
        if outputs:
            found += [artifact for _, artifact in sorted(leg_ids(outputs, kind).items())]
    if args.matrix_kind:
        try:
            matrix = json.loads(args.matrix or "null")
        except ValueError:
            matrix = None
        if not isinstance(matrix, list) or not all(isinstance(e, dict) for e in matrix):
            raise UsageError("--matrix is not a release matrix (a JSON array of objects)")
        for kind in args.matrix_kind:
            found += [a for e in matrix
                      if (a := check_id(e.get(f"{kind}_artifact"), f"--matrix {kind}_artifact"))]
    unique = list(dict.fromkeys(found))
    print(f"{len(unique) - 1} artifact(s) of the legs, and the plan's")
    append_outputs(args.outputs, [f"ids={','.join(unique)}"])
    return EXIT_PASS
