"""``scangate image-tag``: print the tag a pipeline pushes under (the lifecycle rules' format)."""

from __future__ import annotations

import argparse
from typing import Any

from scangate.errors import EXIT_PASS

NAME = "image-tag"


def add_parser(subparsers: Any) -> None:
    from scangate.aws.tags import ENVIRONMENTS

    parser = subparsers.add_parser(
        NAME,
        help="print the image tag for a push: ENV-SHA-RUN-ATTEMPT",
        description="The one tag format the ECR lifecycle rules of templates/aws and "
        "templates/terraform act on (prod- keeps 10, staging- keeps 5, dev- expires after 7 "
        "days). Prints the tag on stdout; exit 2 when a part is not valid.",
    )
    parser.add_argument("--environment", required=True, choices=sorted(ENVIRONMENTS),
                        help="the environment the image is pushed for")
    parser.add_argument("--sha", required=True, metavar="COMMIT",
                        help="the commit (GitHub: github.sha; GitLab: CI_COMMIT_SHA)")
    parser.add_argument("--run", required=True, dest="run_id", metavar="N",
                        help="the CI run (GitHub: github.run_id; GitLab: CI_PIPELINE_ID)")
    parser.add_argument("--attempt", default="1", metavar="N",
                        help="the attempt (GitHub: github.run_attempt; GitLab: CI_JOB_ID), so a "
                        "re-run never reuses an immutable tag (default 1)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scangate.aws.tags import image_tag

    print(image_tag(args.environment, args.sha, args.run_id, args.attempt))
    return EXIT_PASS
