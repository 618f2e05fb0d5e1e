"""``scangate comment``: the gate's decision as one comment on the pull or merge request, made
once and updated in place on every later run."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from scangate.errors import EXIT_PASS, UsageError

NAME = "comment"
# Names of the variables that hold the tokens (not tokens).
GITHUB_TOKEN_ENV = "GITHUB_TOKEN"  # noqa: S105
GITLAB_TOKEN_ENV = "SCANGATE_GITLAB_TOKEN"  # noqa: S105


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="post the gate's decision as one pull-request or merge-request comment per key, "
        "updated in place",
        description="Renders the JSON summary of `scangate gate --json-summary` (decision, "
        "counts, new and fixed findings, waivers that expire within 14 days, a link to the run) "
        "within GitHub's 65,536-character limit, and creates or updates the one comment of "
        "--key. GitHub: issue comments API with $GITHUB_TOKEN (needs pull-requests: write). "
        f"GitLab: notes API with ${GITLAB_TOKEN_ENV} (a project or personal access token with "
        "the api scope; the job token cannot write notes). Tokens are read from the "
        "environment only, never from the command line.",
    )
    parser.add_argument("--summary", metavar="PATH", required=True,
                        help="JSON summary written by scangate gate --json-summary")
    parser.add_argument("--key", metavar="TEXT", required=True,
                        help="what the comment is about, one per image and workflow call (e.g. "
                        "`container-scan / app`): the comment with this key is updated")
    parser.add_argument("--platform", choices=("github", "gitlab"),
                        help="where to post; without it the body is only rendered (--output)")
    parser.add_argument("--number", type=_number, metavar="N",
                        help="pull request number (GitHub) or merge request IID (GitLab; "
                        "default $CI_MERGE_REQUEST_IID)")
    parser.add_argument("--repository", metavar="OWNER/REPO|PROJECT",
                        help="GitHub repository (default $GITHUB_REPOSITORY) or GitLab project "
                        "id or path (default $CI_PROJECT_ID)")
    parser.add_argument("--api-url", metavar="URL",
                        help="API base URL (default $GITHUB_API_URL or $CI_API_V4_URL); https "
                        "only")
    parser.add_argument("--github-author", metavar="LOGIN", default="github-actions[bot]",
                        help="GitHub login that writes the comment, whose comment is updated "
                        "(default github-actions[bot], the GITHUB_TOKEN's)")
    parser.add_argument("--run-url", metavar="URL",
                        help="link to the run (default from the CI's variables)")
    parser.add_argument("--output", metavar="PATH",
                        help="also write the rendered body here (a new or regular file)")
    parser.add_argument("--outputs", metavar="FILE",
                        help="append comment-id=<id> of the comment written ($GITHUB_OUTPUT)")
    parser.set_defaults(run=run)


def _number(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 2**53:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a pull or merge request number")
    return int(text)


def _setting(value: str | None, env: str, what: str, platform: str) -> str:
    found = value or os.environ.get(env, "")
    if not found:
        raise UsageError(f"{platform}: no {what}: pass it or set ${env}")
    return found


def run(args: argparse.Namespace) -> int:
    from scangate.notify import run_link
    from scangate.outputs.atomic import OutputSet, check_writable
    from scangate.review_comment import load_summary, render

    if not args.platform and not args.output:
        raise UsageError("nothing to do: pass --platform github|gitlab and/or --output PATH")
    if args.output:
        check_writable(args.output, "--output", [("--summary", args.summary)])
    doc = load_summary(args.summary)
    body = render(doc, args.key, args.run_url or run_link(os.environ))
    if args.output:
        writer = OutputSet([args.output])
        writer.add(args.output, body.encode("utf-8"))
        writer.commit()
    if args.platform == "github":
        from scangate.review_api import github_upsert

        number = args.number or _pr_number_from_env()
        posted = github_upsert(
            _setting(args.api_url, "GITHUB_API_URL", "API URL", "GitHub"),
            _setting(args.repository, "GITHUB_REPOSITORY", "repository", "GitHub"),
            number, _setting(None, GITHUB_TOKEN_ENV, "token", "GitHub"), args.key, body,
            author=args.github_author)
    elif args.platform == "gitlab":
        from scangate.review_api import gitlab_upsert

        number = args.number or _number_env("CI_MERGE_REQUEST_IID")
        posted = gitlab_upsert(
            _setting(args.api_url, "CI_API_V4_URL", "API URL", "GitLab"),
            _setting(args.repository, "CI_PROJECT_ID", "project", "GitLab"),
            number, _setting(None, GITLAB_TOKEN_ENV, "token", "GitLab"), args.key, body)
    else:
        return EXIT_PASS
    print(f"comment: {posted.action} comment {posted.id}"
          + (f" ({posted.url})" if posted.url.startswith("https://") else ""), file=sys.stdout)
    if args.outputs:
        from scangate.step_outputs import append_outputs

        append_outputs(args.outputs, [f"comment-id={posted.id}"])
    return EXIT_PASS


def _number_env(name: str) -> int:
    value = os.environ.get(name, "")
    if not value:
        raise UsageError(f"no merge request: pass --number or set ${name} (set only in merge "
                         "request pipelines)")
    try:
        return _number(value)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"${name}: {exc}") from None


def _pr_number_from_env() -> int:
    raise UsageError("GitHub: no pull request: pass --number (from "
                     "github.event.pull_request.number, through env:)")
