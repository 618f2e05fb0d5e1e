"""``scangate notify``: send the gate's decision to Slack and/or SNS."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from scangate.aws.identity import add_identity_arguments
from scangate.errors import EXIT_ERROR, EXIT_PASS, NotifyError, ScangateError, UsageError

NAME = "notify"
WEBHOOK_ENV = "SCANGATE_SLACK_WEBHOOK_URL"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="send the gate's decision, counts and violations to Slack and/or SNS",
        description="Reads the JSON summary of `scangate gate --json-summary`, validates it and "
        "sends it, with a link to the CI run. With --gate-exit-code other than 0 or 1 (the gate "
        "errored and left no summary) it sends an ERROR alert. Retries 429 and 5xx answers. The "
        f"webhook URL is never printed; prefer passing it in ${WEBHOOK_ENV} over the command "
        "line.",
    )
    parser.add_argument("--summary", metavar="PATH",
                        help="JSON summary written by scangate gate --json-summary (required "
                        "unless --gate-exit-code says the gate errored)")
    parser.add_argument("--gate-exit-code", type=_exit_code, metavar="N",
                        help="the gate's exit code: 0 pass and 1 fail need a --summary that "
                        "agrees; anything else (2, a crash) is an ERROR alert")
    parser.add_argument("--gate-exit-code-file", metavar="FILE",
                        help="instead of --gate-exit-code: the file `gate-job run "
                        "--exit-code-file` wrote; a missing or unreadable one is an ERROR alert "
                        "(the gate never ran: its build, scan or report job failed first)")
    parser.add_argument("--error-if-exists", action="append", default=[], metavar="FILE",
                        help="an ERROR alert whatever the gate decided when FILE exists (a "
                        "failed check's marker, such as GitLab's overridden-inputs job's)")
    parser.add_argument("--skip-pass", action="store_true",
                        help="send nothing when the gate passed (alert on fail and error only)")
    parser.add_argument("--slack-webhook-url", metavar="URL",
                        help=f"Slack incoming-webhook URL (default: ${WEBHOOK_ENV})")
    parser.add_argument("--sns-topic-arn", metavar="ARN", help="SNS topic to publish to")
    parser.add_argument("--image", metavar="NAME",
                        help="the image the decision is about (the pipeline's image name), named "
                        "in the alert's headline; alerts of several images in one run then "
                        "differ")
    add_identity_arguments(parser)
    parser.set_defaults(run=run)


def _exit_code(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an exit code") from None
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"{value} is not an exit code (0..255)")
    return value


def gate_exit_code(args: argparse.Namespace) -> int | None:
    """The gate's code the alert is about: given, recorded in a file, or an error."""
    code: int | None = args.gate_exit_code
    if args.gate_exit_code_file is not None:
        if code is not None:
            raise UsageError("pass --gate-exit-code or --gate-exit-code-file, not both")
        code = _recorded_exit_code(args.gate_exit_code_file)
    if any(os.path.lexists(marker) for marker in args.error_if_exists):
        code = EXIT_ERROR
    return code


def _recorded_exit_code(path: str) -> int:
    """The code a gate job recorded; none (or not a code) means the gate never decided."""
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read(16).strip()
        return _exit_code(text)
    except (OSError, UnicodeDecodeError, argparse.ArgumentTypeError):
        _say(f"{path}: no exit code recorded: the gate did not decide (an ERROR alert)")
        return EXIT_ERROR


def _say(message: str) -> None:
    print(f"notify: {message}")


def run(args: argparse.Namespace) -> int:
    from scangate import gate_summary
    from scangate.notify import build_message, check_webhook_url, summary_for_exit_code

    webhook = args.slack_webhook_url or os.environ.get(WEBHOOK_ENV, "")
    if not webhook and not args.sns_topic_arn:
        raise UsageError(f"nothing to notify: pass --slack-webhook-url (or set ${WEBHOOK_ENV}) "
                         "and/or --sns-topic-arn")
    if webhook:
        check_webhook_url(webhook)
    if args.sns_topic_arn:
        from scangate.aws.sns import check_topic_arn

        check_topic_arn(args.sns_topic_arn)
    args.gate_exit_code = gate_exit_code(args)
    if args.gate_exit_code is not None:
        summary = summary_for_exit_code(args.summary, args.gate_exit_code)
    elif args.summary:
        summary = gate_summary.read_decided(args.summary)
    else:
        raise UsageError("pass --summary (the gate's --json-summary), or --gate-exit-code when "
                         "the gate errored and wrote none")
    if args.skip_pass and summary.decision == "pass":
        _say("the gate passed: nothing sent (--skip-pass)")
        return EXIT_PASS
    message = build_message(summary, exit_code=args.gate_exit_code, image=args.image)
    failures: list[str] = []
    if webhook:
        from scangate.notify import post_slack, slack_payload

        try:
            attempts = post_slack(webhook, slack_payload(message))
            _say(f"sent to Slack ({attempts} attempt{'s' if attempts > 1 else ''})")
        except ScangateError as exc:
            failures.append(exc.message)
            print(f"scangate: notify: {exc.message}", file=sys.stderr)
    if args.sns_topic_arn:
        from scangate.aws.identity import session_from_args
        from scangate.aws.sns import check_topic_arn, publish

        try:
            # The role is assumed in the topic's region, where the message is published.
            session = session_from_args(args, check_topic_arn(args.sns_topic_arn))
            message_id = publish(args.sns_topic_arn, message.headline, message.text(),
                                 {"decision": summary.decision}, session=session)
            _say(f"published to {args.sns_topic_arn} (MessageId {message_id})")
        except ScangateError as exc:
            failures.append(exc.message)
            print(f"scangate: notify: {exc.message}", file=sys.stderr)
    if failures:
        raise NotifyError(f"{len(failures)} of {int(bool(webhook)) + int(bool(args.sns_topic_arn))}"
                          " notifications failed (see above)")
    return EXIT_PASS
