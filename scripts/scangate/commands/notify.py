"""``scangate notify``: send the gate's decision to Slack and/or SNS."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from scangate.errors import EXIT_PASS, NotifyError, ScangateError, UsageError

NAME = "notify"
WEBHOOK_ENV = "SCANGATE_SLACK_WEBHOOK_URL"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="send the gate's decision, counts and violations to Slack and/or SNS",
        description="Reads the JSON summary of `scangate gate --json-summary`, validates it and "
        "sends it, with a link to the CI run. Retries 429 and 5xx answers. The webhook URL is "
        f"never printed; prefer passing it in ${WEBHOOK_ENV} over the command line.",
    )
    parser.add_argument("--summary", required=True, metavar="PATH",
                        help="JSON summary written by scangate gate --json-summary")
    parser.add_argument("--slack-webhook-url", metavar="URL",
                        help=f"Slack incoming-webhook URL (default: ${WEBHOOK_ENV})")
    parser.add_argument("--sns-topic-arn", metavar="ARN", help="SNS topic to publish to")
    parser.set_defaults(run=run)


def _say(message: str) -> None:
    print(f"notify: {message}")


def run(args: argparse.Namespace) -> int:
    from scangate.notify import build_message, check_webhook_url, load_summary

    webhook = args.slack_webhook_url or os.environ.get(WEBHOOK_ENV, "")
    if not webhook and not args.sns_topic_arn:
        raise UsageError(f"nothing to notify: pass --slack-webhook-url (or set ${WEBHOOK_ENV}) "
                         "and/or --sns-topic-arn")
    if webhook:
        check_webhook_url(webhook)
    if args.sns_topic_arn:
        from scangate.aws.sns import check_topic_arn

        check_topic_arn(args.sns_topic_arn)
    summary = load_summary(args.summary)
    message = build_message(summary)
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
        from scangate.aws.sns import publish

        try:
            message_id = publish(args.sns_topic_arn, message.headline, message.text(),
                                 {"decision": summary.decision})
            _say(f"published to {args.sns_topic_arn} (MessageId {message_id})")
        except ScangateError as exc:
            failures.append(exc.message)
            print(f"scangate: notify: {exc.message}", file=sys.stderr)
    if failures:
        raise NotifyError(f"{len(failures)} of {int(bool(webhook)) + int(bool(args.sns_topic_arn))}"
                          " notifications failed (see above)")
    return EXIT_PASS
