"""``scangate comment-job``: actions/comment's step, around ``scangate comment``.

On a pull request of this repository, the image's gate summary (the `summary.json` of its
reports artifact, which actions/comment downloads by id into ``--artifacts``) becomes one
comment, updated in place. Nothing is written, and the step passes, outside a pull request, for
a fork's pull request (its token is read-only) or when the gate left no summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scangate.errors import EXIT_PASS

NAME = "comment-job"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME, help="comment an image's gate summary on its pull request",
        description="actions/comment's step: the downloaded summary, then scangate comment.")
    parser.add_argument("--artifacts", required=True, type=Path, metavar="DIR",
                        help="where the image's reports artifact was downloaded (by id)")
    parser.add_argument("--image", required=True, metavar="NAME")
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


def run(args: argparse.Namespace) -> int:
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
    summary = args.artifacts / "summary.json"
    if not summary.is_file():
        print(f"::warning title=scangate comment::no gate summary of {args.image} in this run "
              "(its gate errored, did not run, or kept no reports): no comment")
        return EXIT_PASS
    key = args.key or f"{args.workflow_name} / {args.image}"
    return run_scangate(["comment", f"--summary={summary}", f"--key={key}",
                         "--platform=github", f"--number={args.number}",
                         f"--repository={args.repository}", f"--outputs={args.outputs}"])
