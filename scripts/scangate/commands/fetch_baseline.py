"""``scangate fetch-baseline``: the base branch's gate summary, for ``gate --baseline``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from scangate.errors import EXIT_PASS, ApiError, UsageError

NAME = "fetch-baseline"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="download the base branch's last successful gate summary (the baseline)",
        description="GitHub: the summary.json of the gate's reports artifact for --image in "
        "the last successful push run of this workflow on --branch (token in $GITHUB_TOKEN, "
        "needs actions: read). GitLab: --artifact-path of --job in the latest successful "
        "pipeline of --branch (the job token in $CI_JOB_TOKEN). When there is none it says "
        "why, writes nothing and exits 0: the gate, given a missing baseline, counts every "
        "finding and says so.",
    )
    parser.add_argument("--platform", choices=("github", "gitlab"), required=True)
    parser.add_argument("--branch", metavar="REF", required=True,
                        help="the base branch (GitHub: github.base_ref; GitLab: "
                        "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME or $CI_DEFAULT_BRANCH)")
    parser.add_argument("--output", metavar="PATH", required=True,
                        help="where to write the summary (a new or regular file)")
    parser.add_argument("--image", metavar="NAME",
                        help="GitHub: the image name of the reports artifact")
    parser.add_argument("--workflow-ref", metavar="REF",
                        help="GitHub: the caller workflow (default $GITHUB_WORKFLOW_REF)")
    parser.add_argument("--from-run", choices=("newest", "deployed"), default="newest",
                        help="GitHub: which push run of --branch: the newest successful one "
                        "(default), or the newest that deployed (its deploy job uploaded a "
                        "scangate-deployed-* artifact, as container-release.yml's does after "
                        "every rollout succeeded), so the baseline is the deployed digest's "
                        "summary")
    parser.add_argument("--job", metavar="NAME", help="GitLab: the gate job's name")
    parser.add_argument("--artifact-path", metavar="PATH",
                        help="GitLab: the summary's path in the job's artifacts")
    parser.add_argument("--repository", metavar="OWNER/REPO|PROJECT",
                        help="default $GITHUB_REPOSITORY or $CI_PROJECT_ID")
    parser.add_argument("--api-url", metavar="URL",
                        help="default $GITHUB_API_URL or $CI_API_V4_URL; https only")
    parser.set_defaults(run=run)


def _env(value: str | None, name: str, what: str) -> str:
    found = value or os.environ.get(name, "")
    if not found:
        raise UsageError(f"no {what}: pass it or set ${name}")
    return found


def run(args: argparse.Namespace) -> int:
    from scangate.baseline_fetch import NoBaseline, github_summary, gitlab_summary
    from scangate.outputs.atomic import OutputSet, check_writable

    check_writable(args.output, "--output")
    try:
        if args.platform == "github":
            if not args.image:
                raise UsageError("--image is required with --platform github")
            content, where = github_summary(
                _env(args.api_url, "GITHUB_API_URL", "API URL"),
                _env(args.repository, "GITHUB_REPOSITORY", "repository"),
                _env(None, "GITHUB_TOKEN", "token"),
                _env(args.workflow_ref, "GITHUB_WORKFLOW_REF", "workflow ref"),
                args.branch, args.image, deployed=args.from_run == "deployed")
        else:
            if args.from_run != "newest":
                raise UsageError("--from-run is for --platform github (GitLab: the latest "
                                 "successful pipeline of --branch)")
            if not args.job or not args.artifact_path:
                raise UsageError("--job and --artifact-path are required with --platform gitlab")
            content, where = gitlab_summary(
                _env(args.api_url, "CI_API_V4_URL", "API URL"),
                _env(args.repository, "CI_PROJECT_ID", "project"),
                _env(None, "CI_JOB_TOKEN", "job token"),
                args.branch, args.job, args.artifact_path)
    except (NoBaseline, ApiError) as exc:
        why = exc.message if isinstance(exc, ApiError) else str(exc)
        print(f"scangate: warning: no baseline from {args.branch}: {why}; every finding will "
              "count", file=sys.stderr)
        return EXIT_PASS
    writer = OutputSet([args.output])
    writer.add(args.output, content)
    writer.commit()
    print(f"fetch-baseline: {args.output} from {where}")
    return EXIT_PASS
