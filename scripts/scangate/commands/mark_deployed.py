"""``scangate mark-deployed``: tell the registry monitor an image now runs (or no longer does).

Sends the ``Scangate Image Deployed`` event (source ``scangate.monitor``) to EventBridge; the
monitoring stack's rule routes it to the monitor, which marks the image deployed (its daily
sweep re-evaluates deployed images, and a new CRITICAL on one is alerted) and evaluates it.
Then tags each deployed digest ``scangate-deployed-<hex>`` (scangate.aws.deployed_tag), which
the repository's first lifecycle rule keeps: a digest that runs is never expired.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from scangate.aws.identity import add_identity_arguments
from scangate.errors import EXIT_PASS, AwsError, UsageError
from scangate.registry.reference import DIGEST, parse_repository

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
        "stack (templates/aws/scangate-monitoring.yaml, templates/terraform/monitoring), then "
        "tags each deployed digest scangate-deployed-<hex> in ECR so the repository's lifecycle "
        "rules never expire it (a withdrawn digest keeps its tag). Exit 0 when EventBridge "
        "accepted every event and every digest is tagged, 2 otherwise.",
    )
    parser.add_argument("--repository", metavar="NAME",
                        help="ECR repository name (team/app)")
    parser.add_argument("--digest", metavar="sha256:HEX",
                        help="the deployed image's digest")
    parser.add_argument("--deploy-record", action="append", default=[], type=Path,
                        metavar="deploy.json",
                        help="instead of --repository/--digest: every image (REGISTRY/REPO@DIGEST) "
                        "of this `scangate deploy --output` record, its account as --registry-id "
                        "(repeatable)")
    parser.add_argument("--registry-id", metavar="ACCOUNT",
                        help="registry (account) of the repository (default: the event's account)")
    parser.add_argument("--withdrawn", action="store_true",
                        help="the image no longer runs: stop watching it as deployed")
    parser.add_argument("--event-bus", default="default", metavar="NAME",
                        help="event bus name or ARN (default: default)")
    add_identity_arguments(parser)
    parser.set_defaults(run=run)


def _check(repository: str, digest: str, registry_id: str | None, what: str) -> None:
    if not DIGEST.fullmatch(digest):
        raise UsageError(f"{what}: digest {digest!r} is not sha256:<64 lowercase hex digits>")
    if not _REPOSITORY.fullmatch(repository) or len(repository) > 256:
        raise UsageError(f"{what}: repository {repository!r} is not an ECR repository name")
    if registry_id is not None and not _ACCOUNT.fullmatch(registry_id):
        raise UsageError(f"{what}: registry id {registry_id!r} is not a 12-digit account id")


# (repository, digest, registry account or None, registry region or None = the session's)
DeployedImage = tuple[str, str, str | None, str | None]


def _from_record(path: Path) -> list[DeployedImage]:
    """(repository, digest, account, region) of every image a deploy record names; the
    pipelines pass the record so the digest sent is the one deployed, never a tag."""
    what = f"--deploy-record {path}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{what}: cannot read a JSON deploy record: {exc}") from None
    return images_of_record(document, what)


def images_of_record(document: Any, what: str) -> list[DeployedImage]:
    """The images of a deploy record (`scangate deploy --output`), each checked."""
    images = document.get("images") if isinstance(document, dict) else None
    if not isinstance(images, list) or not images:
        raise UsageError(f"{what}: no \"images\" list (write it with scangate deploy --output)")
    found: list[DeployedImage] = []
    for image in images:
        if not isinstance(image, str) or image.count("@") != 1:
            raise UsageError(f"{what}: image {image!r} is not REGISTRY/REPOSITORY@sha256:DIGEST")
        name, _, digest = image.partition("@")
        repository = parse_repository(name, what)
        ecr = repository.ecr
        if ecr is None:
            raise UsageError(f"{what}: {repository.host} is not an ECR registry: the monitor "
                             "watches ECR images only")
        _check(repository.path, digest, ecr.account, what)
        found.append((repository.path, digest, ecr.account, ecr.region))
    return found


def run(args: argparse.Namespace) -> int:
    if args.deploy_record:
        if args.repository or args.digest or args.registry_id:
            raise UsageError("--deploy-record names the images: drop --repository, --digest "
                             "and --registry-id")
        images = [image for path in args.deploy_record for image in _from_record(path)]
    elif args.repository is None or args.digest is None:
        raise UsageError("give --repository and --digest, or --deploy-record deploy.json")
    else:
        _check(args.repository, args.digest, args.registry_id, "--repository/--digest")
        images = [(args.repository, args.digest, args.registry_id, None)]

    from scangate.aws.identity import session_from_args

    mark(session_from_args(args), images, args.event_bus, withdrawn=args.withdrawn)
    return EXIT_PASS


def mark(session: Any, images: list[DeployedImage], event_bus: str, *,
         withdrawn: bool = False) -> None:
    """Tell the monitor through ``event_bus``, then (unless withdrawn) tag each digest; with
    the boto3 ``session`` of the caller (`scangate deploy --monitoring-event-bus` passes the
    one it deployed with)."""
    events = session.client("events")
    for repository, digest, registry_id, region in images:
        _send(events, event_bus, withdrawn, repository, digest, registry_id,
              region or session.region_name)
    if not withdrawn:
        # Each image is tagged in its registry's region (a deploy record's host names it).
        clients: dict[str | None, Any] = {}
        for repository, digest, registry_id, region in images:
            if region not in clients:
                clients[region] = session.client("ecr", region_name=region)
            _protect(clients[region], repository, digest, registry_id)


def _protect(ecr: Any, repository: str, digest: str, registry_id: str | None) -> None:
    from scangate.aws import deployed_tag
    from scangate.aws.clients import AWS_FAILURES, describe

    tag = deployed_tag.tag_for(digest)
    try:
        tagged = deployed_tag.protect(ecr, repository, digest, registry_id)
    except AWS_FAILURES as exc:
        raise describe(exc, f"ecr tagging {repository}@{digest} {tag} (the lifecycle rules may "
                       "expire it)", "ecr:BatchGetImage and ecr:PutImage on the repository"
                       ) from None
    except LookupError as exc:
        raise AwsError(f"ecr: cannot tag the deployed image {exc}: deploy only digests the "
                       "repository holds") from None
    print(f"mark-deployed: {repository}@{digest} {'tagged' if tagged else 'already tagged'} "
          f"{tag} (kept by the lifecycle rules)")


def _send(events: Any, event_bus: str, withdrawn: bool, repository: str, digest: str,
          registry_id: str | None, region: str | None) -> None:
    """``region``: the registry's (the deploy record's host, else the session's). The monitor
    reads ECR in its own region and refuses an image of another one rather than taking ECR's
    "not found" there for a deletion (scangate.monitor.processor.WrongRegion)."""
    from scangate.aws.clients import AWS_FAILURES, describe

    detail: dict[str, Any] = {"repository-name": repository, "image-digest": digest,
                              "deployed": not withdrawn}
    if registry_id:
        detail["registry-id"] = registry_id
    if region:
        detail["registry-region"] = region
    try:
        response = events.put_events(Entries=[{
            "Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(detail),
            "EventBusName": event_bus}])
    except AWS_FAILURES as exc:
        raise describe(exc, f"events PutEvents to {event_bus}", "events:PutEvents") from None
    if response.get("FailedEntryCount"):
        entry = (response.get("Entries") or [{}])[0]
        raise AwsError(f"EventBridge refused the event: {entry.get('ErrorCode')}: "
                       f"{entry.get('ErrorMessage')}")
    state = "withdrawn" if withdrawn else "deployed"
    print(f"mark-deployed: {repository}@{digest} {state} "
          f"(event {(response.get('Entries') or [{}])[0].get('EventId', '?')})")
