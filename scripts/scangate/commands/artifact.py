"""``scangate artifact pick``: this run's newest `<prefix>-<attempt>` artifact (scangate.artifacts).

actions/latest-artifact downloads every `<prefix>-*` artifact of the run, then runs this: the
newest attempt not above ``--attempt`` is copied to ``--dest``, and ``found=true|false`` and
``name=`` are appended to ``--outputs``. Finding none is not an error here (the caller decides:
a build that failed leaves no tarball); two names for one attempt are (exit 2).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS

NAME = "artifact"


def _attempt(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 10**9:
        raise argparse.ArgumentTypeError(f"{value!r} is not a run attempt (1 or more)")
    return int(value)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME, help="pick this run's newest per-attempt artifact",
        description="Per-attempt artifacts (`<prefix>-<run attempt>`) of this run.")
    sub = parser.add_subparsers(dest="artifact", metavar="ACTION", required=True)
    pick = sub.add_parser(
        "pick", help="copy the newest `<prefix>-<n>` (n never above --attempt) to --dest",
        description="Of DOWNLOADS/<prefix>-<n>/ copy the one with the highest n not above "
        "--attempt into --dest; append found= and name= to --outputs.")
    pick.add_argument("--prefix", required=True, help="the artifact name without -<attempt>")
    pick.add_argument("--downloads", required=True, type=Path, metavar="DIR",
                      help="where every <prefix>-* artifact was downloaded, one directory each")
    pick.add_argument("--dest", required=True, type=Path, metavar="DIR")
    pick.add_argument("--attempt", required=True, type=_attempt, metavar="N",
                      help="this run's attempt (GITHUB_RUN_ATTEMPT)")
    pick.add_argument("--outputs", required=True, metavar="FILE",
                      help="file found= and name= are appended to ($GITHUB_OUTPUT)")
    pick.set_defaults(run=run_pick)


def run_pick(args: argparse.Namespace) -> int:
    from scangate.artifacts import newest
    from scangate.step_outputs import append_outputs

    best = newest(args.downloads, args.prefix, args.attempt)
    if best is None:
        print(f"no artifact {args.prefix}-<attempt> in this run")
        append_outputs(args.outputs, ["found=false", "name="])
        return EXIT_PASS
    shutil.copytree(best, args.dest, dirs_exist_ok=True, symlinks=True)
    print(f"using artifact {best.name}")
    append_outputs(args.outputs, ["found=true", f"name={best.name}"])
    return EXIT_PASS
