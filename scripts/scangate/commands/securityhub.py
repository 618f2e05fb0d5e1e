"""``scangate securityhub``: import every finding of Trivy reports into Security Hub as ASFF."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from typing import Any

import orjson

from scangate.aws.identity import add_identity_arguments
from scangate.errors import EXIT_PASS, AwsError, UsageError
from scangate.feed_options import add_feed_arguments, load_feeds
from scangate.gate import annotate_risk
from scangate.outputs.atomic import OutputSet, check_writable
from scangate.policy import DEFAULT_POLICY
from scangate.report import load_reports

NAME = "securityhub"
_ACCOUNT = re.compile(r"[0-9]{12}")
_PRODUCT_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):securityhub:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12})?:"
    r"product/.+"
)
FAILURES_SHOWN = 20


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="import every finding of Trivy reports into AWS Security Hub (ASFF)",
        description="Imports vulnerabilities, secrets and failed misconfigurations through "
        "BatchImportFindings with stable Ids (a rescan updates, never duplicates). Exit 0 when "
        "every finding was imported, 2 otherwise (failed findings are listed by Id).",
    )
    parser.add_argument("--report", action="append", default=[], metavar="PATH", required=True,
                        help="Trivy JSON report (SchemaVersion 2); repeat for several")
    parser.add_argument("--region", help="Security Hub region (default: AWS_REGION or config)")
    parser.add_argument("--account-id", help="AWS account of the findings (default: STS "
                        "GetCallerIdentity)")
    parser.add_argument("--product-arn", help="ProductArn (default: the account's own custom "
                        "integration, arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default)")
    image = parser.add_argument_group(
        "the image the findings belong to",
        "After scangate push: --push-result (or --image-uri with --tag/--image-id): the resource "
        "is the pushed image (AwsEcrContainerImage for ECR), one per digest. Before a push or "
        "after a failed gate: --repository (or the registry name inside the scanned image): the "
        "resource is REGISTRY/REPOSITORY@IMAGE-ID.",
    )
    image.add_argument("--push-result", metavar="PATH",
                       help="JSON written by scangate push --output (image-uri, tags, image-id)")
    image.add_argument("--image-uri", metavar="REGISTRY/REPO@sha256:DIGEST",
                       help="the pushed image by digest (instead of --push-result)")
    image.add_argument("--tag", action="append", default=[], metavar="TAG",
                       help="a tag of the pushed image (with --image-uri; repeat)")
    image.add_argument("--image-id", metavar="sha256:HEX",
                       help="the scanned image ID (config digest; with --image-uri): checked "
                       "against the report's ImageID")
    image.add_argument("--repository", metavar="REGISTRY/REPO",
                       help="before a push: the repository the image is built for")
    parser.add_argument("--archive-missing", action="store_true",
                        help="archive scangate's active findings of the same image (same digest, "
                        "or same repository and image ID) that this scan no longer reports")
    parser.add_argument("--asff-out", metavar="PATH", help="also write the ASFF ({\"Findings\": "
                        "[...]}) to PATH")
    # --asff-only is the actions/securityhub input's name (INPUT_ASFF_ONLY): a YAML key ending
    # in "run" reads like a `run:` script (tests/github/test_workflow_static.py).
    parser.add_argument("--dry-run", "--asff-only", action="store_true", dest="dry_run",
                        help="build the ASFF without calling AWS (needs --account-id)")
    add_identity_arguments(parser, region=False)
    add_feed_arguments(parser)
    parser.set_defaults(run=run)


def _identity(args: argparse.Namespace) -> Any:
    from scangate.aws.asff import Identity
    from scangate.aws.image import from_uri, load_push_result
    from scangate.registry.reference import parse_repository

    if args.push_result and args.image_uri:
        raise UsageError("--push-result and --image-uri both name the pushed image: pass one")
    if (args.tag or args.image_id) and not args.image_uri:
        raise UsageError("--tag and --image-id describe --image-uri: pass it too (or use "
                         "--push-result)")
    pushed = None
    if args.push_result:
        pushed = load_push_result(args.push_result)
    elif args.image_uri:
        pushed = from_uri(args.image_uri, args.tag, args.image_id or "")
    repository = parse_repository(args.repository, "--repository") if args.repository else None
    if pushed is not None and repository is not None and repository != pushed.repository:
        raise UsageError(f"--repository {repository.name} is not the pushed image's repository "
                         f"{pushed.repository.name}")
    return Identity(pushed=pushed, repository=repository)


def _progress(message: str) -> None:
    print(f"scangate: securityhub: {message}", file=sys.stderr)


def _region(args: argparse.Namespace) -> str:
    """The import's region: the product's, else --region, else the environment or config."""
    from scangate.aws.clients import resolve_region

    region = args.region
    if args.product_arn:
        match = _PRODUCT_ARN.fullmatch(args.product_arn)
        if not match:
            raise UsageError(f"--product-arn {args.product_arn!r} is not a Security Hub product "
                             "ARN (arn:aws:securityhub:REGION:ACCOUNT:product/COMPANY/PRODUCT)")
        if region and region != match["region"]:
            raise UsageError(f"--product-arn is in {match['region']} but --region is {region}: "
                             "findings are imported in the product's region")
        region = match["region"]
    return resolve_region(region)


def _destination(args: argparse.Namespace, region: str, session: Any) -> Any:
    from scangate.aws.asff import Destination, default_product_arn
    from scangate.aws.clients import AWS_FAILURES, client, describe, partition_for

    account = args.account_id
    if account is None:
        if args.dry_run:
            raise UsageError("--dry-run makes no AWS call, so it needs --account-id")
        sts = client("sts", region, session=session)
        try:
            account = str(sts.get_caller_identity()["Account"])
        except AWS_FAILURES as exc:
            raise describe(exc, "sts GetCallerIdentity (to find the account id; or pass "
                                "--account-id)") from None
    partition = partition_for(region)
    product = args.product_arn or default_product_arn(partition, region, account)
    return Destination(account_id=account, region=region, partition=partition,
                       product_arn=product)


def _write_asff(path: str, records: list[dict[str, Any]]) -> None:
    writer = OutputSet()
    try:
        writer.add(path, orjson.dumps({"Findings": records}, option=orjson.OPT_INDENT_2) + b"\n")
        writer.commit()
    except BaseException:
        writer.abort()
        raise


def _report_failures(failed: list[Any]) -> None:
    for item in failed[:FAILURES_SHOWN]:
        _progress(f"not imported: {item.id}: {item.code}: {item.message}")
    if len(failed) > FAILURES_SHOWN:
        _progress(f"... and {len(failed) - FAILURES_SHOWN} more not imported")


def _archive(securityhub: Any, existing: dict[str, dict[str, Any]], current: set[str],
             now: dt.datetime) -> int:
    """Re-import active findings this scan no longer reports with RecordState ARCHIVED."""
    from scangate.aws.asff import newer_than
    from scangate.aws.securityhub import Importer, archive_record

    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    records = [
        archive_record(finding, newer_than(now, finding.get("UpdatedAt")),
                       f"absent from the scan of {stamp}")
        for ident, finding in existing.items() if ident not in current
    ]
    if records:
        result = Importer(securityhub, progress=_progress).run(records)
        if result.failed:
            _report_failures(result.failed)
            raise AwsError(f"Security Hub archive incomplete: {len(result.failed)} of "
                           f"{len(records)} resolved findings not archived (listed above)")
    return len(records)


def run(args: argparse.Namespace) -> int:
    if args.dry_run and args.archive_missing:
        raise UsageError("--archive-missing reads Security Hub, which --dry-run does not call")
    if args.asff_out:
        check_writable(args.asff_out, "--asff-out")
        if os.path.realpath(args.asff_out) in {os.path.realpath(p) for p in args.report}:
            raise UsageError(f"{args.asff_out}: --asff-out would overwrite an input report")
    if args.account_id is not None and not _ACCOUNT.fullmatch(args.account_id):
        raise UsageError(f"--account-id {args.account_id!r} is not a 12-digit AWS account id")
    identity = _identity(args)
    region = _region(args)
    reports = load_reports(args.report)
    # KEV and EPSS only annotate here (ASFF ExploitAvailable, EpssScore): no policy rules on
    # them, so an absent feed in --feeds-dir is simply not shown.
    annotate_risk(reports, *load_feeds(args, DEFAULT_POLICY))
    session = None
    if not args.dry_run:
        from scangate.aws.identity import session_from_args

        # The role is assumed in the import's region (STS has no default region).
        session = session_from_args(args, region)
    destination = _destination(args, region, session)

    from scangate.aws.asff import build_records, resources_of
    from scangate.aws.clients import client
    from scangate.aws.securityhub import Importer, active_findings

    now = dt.datetime.now(dt.UTC)
    # Every resource is checked (image identity, names) before anything is sent.
    resources = resources_of(reports, destination, identity)
    securityhub = None if args.dry_run else client(
        "securityhub", destination.region, botocore_retries=False, session=session
    )
    existing: dict[str, dict[str, Any]] = {}
    if args.archive_missing:
        # Read first: the active findings give CreatedAt to keep and the set to archive from.
        # Only the findings of these resources (this digest) are candidates.
        for resource_id in resources:
            for finding in active_findings(securityhub, destination.product_arn, resource_id):
                existing[finding["Id"]] = finding
    built = build_records(reports, destination, now, existing, identity)
    if built.duplicates:
        _progress(f"{built.duplicates} findings repeated in the reports (same resource and "
                  "fingerprint) were imported once")
    if args.asff_out:
        _write_asff(args.asff_out, built.records)
    if args.dry_run:
        where = f" to {args.asff_out}" if args.asff_out else ""
        print(f"securityhub: dry run: {len(built.records)} findings as ASFF{where} for "
              f"{destination.product_arn}; nothing sent")
        return EXIT_PASS

    outcome = Importer(securityhub, progress=_progress).run(built.records)
    if outcome.failed:
        _report_failures(outcome.failed)
        raise AwsError(
            f"Security Hub import incomplete: {len(outcome.failed)} of {len(built.records)} "
            f"findings not imported (listed above by Id); {outcome.imported} imported"
            + ("; --archive-missing skipped" if args.archive_missing else "")
        )
    archived = 0
    if args.archive_missing:
        archived = _archive(securityhub, existing, {r["Id"] for r in built.records}, now)
    print(f"securityhub: imported {outcome.imported} findings of {len(reports)} report(s) "
          f"into {destination.product_arn} in {outcome.calls} call(s) for "
          + ", ".join(resources)
          + (f"; archived {archived} resolved" if args.archive_missing else ""))
    return EXIT_PASS
