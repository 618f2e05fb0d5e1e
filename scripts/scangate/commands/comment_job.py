"""``scangate comment-job``: actions/comment's step, around ``scangate comment``.

On a pull request of this repository, the image's newest gate summary of this run (its
`scangate-reports-<image>-<call>-<attempt>` artifact, never one named above this attempt,
scangate.artifacts) becomes one comment, updated in place. Nothing is written, and the step
passes, outside a pull request, for a fork's pull request (its token is read-only) or when the
gate left no summary; two workflow calls that gate one image name are an error (whose comment
would it be?).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS, UsageError

NAME = "comment-job"


def add_parser(subparsers: Any) -> None:
    from scangate.commands.artifact import _attempt

    parser = subparsers.add_parser(
        NAME, help="comment an image's newest gate summary of this run on its pull request",
        description="actions/comment's step: pick the summary, then scangate comment.")
    parser.add_argument("--artifacts", required=True, type=Path, metavar="DIR",
                        help="where the image's scangate-reports-* artifacts were downloaded")
    parser.add_argument("--image", required=True, metavar="NAME")
    parser.add_argument("--attempt", required=True, type=_attempt, metavar="N",
                        help="this run's attempt (GITHUB_RUN_ATTEMPT)")
    parser.add_argument("--key", default="", metavar="TEXT",
                        help="the comment's key; empty: `<workflow name> / <image>`")
    parser.add_argument("--workflow-name", default="workflow", metavar="NAME")
    parser.add_argument("--number", default="", metavar="N",
                        help="the pull request's number; empty: not a pull request")
    parser.add_argument("--head-repository", default="", metavar="OWNER/REPO",
                        help="the pull request's head repository")
    parser.add_argument("--repository", required=True, metavar="OWNER/REPO",
                        help="this repository (GITHUB_REPOSITORY)")
    parser.add_argument("--outputs", required=True, metavar="FILE", help="$GITHUB_OUTPUT")
    parser.set_defaults(run=run)


def _calls(artifacts: Path, image: str) -> set[str]:
    pattern = re.compile(rf"scangate-reports-{re.escape(image)}-([0-9a-f]{{8}})-[0-9]+")
    names = [p.name for p in artifacts.iterdir()] if artifacts.is_dir() else []
    return {m.group(1) for m in map(pattern.fullmatch, names) if m}


def run(args: argparse.Namespace) -> int:
    from scangate.artifacts import newest
    from scangate.step_outputs import run_scangate

    if not args.number:
        print("::notice title=scangate comment::not a pull request: no comment (the job summary "
              "has the decision)")
        return EXIT_PASS
    if args.head_repository != args.repository:
        print("::notice title=scangate comment::a pull request from a fork cannot be commented "
              "on from its own run (read-only token); the job summary has the decision; "
              "docs/review-feedback.md has the workflow_run pattern")
        return EXIT_PASS
    calls = _calls(args.artifacts, args.image)
    if len(calls) > 1:
        raise UsageError(f"this run gated {args.image} in {len(calls)} workflow calls; give each "
                         "call's comment its own job with a distinct image name")
    found = None
    if calls:
        found = newest(args.artifacts, f"scangate-reports-{args.image}-{calls.pop()}",
                       args.attempt)
    if found is None or not (found / "summary.json").is_file():
        print(f"::warning title=scangate comment::no gate summary of {args.image} in this run "
              "(its gate errored or did not run): no comment")
        return EXIT_PASS
    key = args.key or f"{args.workflow_name} / {args.image}"
    return run_scangate(["comment", f"--summary={found / 'summary.json'}", f"--key={key}",
                         "--platform=github", f"--number={args.number}",
                         f"--repository={args.repository}", f"--outputs={args.outputs}"])
