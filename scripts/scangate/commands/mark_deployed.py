"""``scangate mark-deployed``: tell the registry monitor an image now runs (or no longer does).

Sends the ``Scangate Image Deployed`` event (source ``scangate.monitor``) to EventBridge; the
monitoring stack's rule routes it to the monitor, which marks the image deployed (its daily
sweep re-evaluates deployed images, and a new CRITICAL on one is alerted) and evaluates it.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from scangate.aws.identity import add_identity_arguments
from scangate.errors import EXIT_PASS, AwsError, UsageError
from scangate.registry.reference import DIGEST

NAME = "mark-deployed"
SOURCE = "scangate.monitor"
DETAIL_TYPE = "Scangate Image Deployed"
_ACCOUNT = re.compile(r"[0-9]{12}")
_REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="tell the registry monitor an image is deployed (or withdrawn)",
        description="Sends a 'Scangate Image Deployed' event to EventBridge for the monitoring "
        "stack (templates/aws/scangate-monitoring.yaml, templates/terraform/monitoring). Exit 0 "
        "when EventBridge accepted it, 2 otherwise.",
    )
    parser.add_argument("--repository", required=True, metavar="NAME",
                        help="ECR repository name (team/app)")
    parser.add_argument("--digest", required=True, metavar="sha256:HEX",
                        help="the deployed image's digest")
    parser.add_argument("--registry-id", metavar="ACCOUNT",
                        help="registry (account) of the repository (default: the event's account)")
    parser.add_argument("--withdrawn", action="store_true",
                        help="the image no longer runs: stop watching it as deployed")
    parser.add_argument("--event-bus", default="default", metavar="NAME",
                        help="event bus name or ARN (default: default)")
    add_identity_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not DIGEST.fullmatch(args.digest):
        raise UsageError(f"--digest {args.digest!r} is not sha256:<64 lowercase hex digits>")
    if not _REPOSITORY.fullmatch(args.repository) or len(args.repository) > 256:
        raise UsageError(f"--repository {args.repository!r} is not an ECR repository name")
    if args.registry_id is not None and not _ACCOUNT.fullmatch(args.registry_id):
        raise UsageError(f"--registry-id {args.registry_id!r} is not a 12-digit account id")

    from scangate.aws.clients import AWS_FAILURES, describe
    from scangate.aws.identity import session_from_args

    detail: dict[str, Any] = {"repository-name": args.repository, "image-digest": args.digest,
                              "deployed": not args.withdrawn}
    if args.registry_id:
        detail["registry-id"] = args.registry_id
    events = session_from_args(args).client("events")
    try:
        response = events.put_events(Entries=[{
            "Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(detail),
            "EventBusName": args.event_bus}])
    except AWS_FAILURES as exc:
        raise describe(exc, f"events PutEvents to {args.event_bus}", "events:PutEvents") from None
    if response.get("FailedEntryCount"):
        entry = (response.get("Entries") or [{}])[0]
        raise AwsError(f"EventBridge refused the event: {entry.get('ErrorCode')}: "
                       f"{entry.get('ErrorMessage')}")
    state = "withdrawn" if args.withdrawn else "deployed"
    print(f"mark-deployed: {args.repository}@{args.digest} {state} "
          f"(event {(response.get('Entries') or [{}])[0].get('EventId', '?')})")
    return EXIT_PASS
