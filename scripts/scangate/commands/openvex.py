"""``scangate openvex``: the policy's triage as OpenVEX for the image as pushed.

Pipelines gate an image archive before it is pushed, when it has no registry digest yet; the
digest exists once ``scangate push`` wrote its record. This step takes the gate's summary.json
(its waived findings, with their package URLs and justifications) and that push record, checks
both are of the same image (the config digest the gate scanned), and writes the document
``gate --openvex`` would have written for the pushed image (scangate.outputs.openvex).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from scangate.errors import EXIT_PASS, SummaryError, UsageError
from scangate.gate_summary import MAX_SUMMARY_BYTES, parse
from scangate.outputs import openvex
from scangate.outputs.atomic import OutputSet, check_writable
from scangate.policy import OPENVEX_JUSTIFICATIONS

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "openvex",
        help="OpenVEX of the gate's waivers for the pushed image (summary.json + push record)",
        description="Write an OpenVEX v0.2.0 document: one statement per waiver that matched a "
        "vulnerability in the pushed image (not_affected with the waiver's justification, else "
        "affected with its reason), the product being the image by its registry digest. Exit 0 "
        "when written, 2 on any error (another image's push record, a malformed summary).")
    parser.add_argument("--summary", required=True, metavar="summary.json",
                        help="`scangate gate --json-summary` of the image")
    parser.add_argument("--push-record", required=True, metavar="push.json",
                        help="`scangate push --output` of the same image")
    parser.add_argument("--output", required=True, metavar="PATH",
                        help="where to write the OpenVEX document")
    parser.add_argument("--author", default="scangate", metavar="NAME",
                        help="the document's author (default: scangate)")
    parser.set_defaults(run=run)


def _json(path: str, what: str) -> Any:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SUMMARY_BYTES + 1)
        if len(data) > MAX_SUMMARY_BYTES:
            raise UsageError(f"{path}: {what} larger than {MAX_SUMMARY_BYTES} bytes")
        return orjson.loads(data)  # refuses lone surrogates, which no JSON writer can carry
    except FileNotFoundError:
        raise UsageError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: the {what} is not JSON ({exc})") from None


def _pushed(path: str) -> tuple[str, str, str]:
    """(repository, registry digest, image id) of a push record."""
    doc = _json(path, "push record")
    fields = {key: doc.get(key) if isinstance(doc, dict) else None
              for key in ("repository", "image-digest", "image-id")}
    if not isinstance(fields["repository"], str) or not fields["repository"] or any(
            not isinstance(fields[k], str) or not _DIGEST.fullmatch(str(fields[k]))
            for k in ("image-digest", "image-id")):
        raise UsageError(f"{path}: not a scangate push record (repository, image-digest, "
                         "image-id)")
    return str(fields["repository"]), str(fields["image-digest"]), str(fields["image-id"])


def _waived(doc: dict[str, Any], image_id: str, where: str) -> Iterator[dict[str, Any]]:
    """The summary's waived vulnerabilities in reports of that image."""
    reports = {r.get("path") for r in doc.get("reports") or []
               if isinstance(r, dict) and r.get("image_id") == image_id}
    items = doc.get("waived_findings", [])
    if not isinstance(items, list):
        raise SummaryError(f"{where} waived_findings is not a list")
    for number, item in enumerate(items):
        at = f"{where} waived_findings[{number}]"
        if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) and item.get(k) for k in
                ("id", "kind", "reason", "expires", "report", "waiver")):
            raise SummaryError(f"{at} lacks id, kind, reason, expires, report or waiver")
        justification = item.get("justification")
        if justification is not None and justification not in OPENVEX_JUSTIFICATIONS:
            raise SummaryError(f"{at}.justification {str(justification)[:60]!r} is not one "
                               "of OpenVEX's")
        if item["kind"] == "vulnerability" and item["report"] in reports and \
                not item["waiver"].startswith(openvex.ACCEPTED_VEX_PREFIX):
            yield item


def run(args: argparse.Namespace) -> int:
    check_writable(args.output, "--output", [("--summary", args.summary),
                                             ("--push-record", args.push_record)])
    repository, digest, image_id = _pushed(args.push_record)
    doc = _json(args.summary, "summary")
    summary = parse(doc, args.summary)
    if image_id not in summary.image_ids:
        raise UsageError(f"{args.push_record}: pushed image {image_id} is not one the summary "
                         f"{args.summary} gated ({', '.join(summary.image_ids) or 'none'})")
    where = f"{args.summary}: not a scangate gate summary:"
    groups: dict[tuple[str, str, str, str, str], list[str]] = {}
    missing: list[str] = []
    for item in _waived(doc, image_id, where):
        if not isinstance(item.get("purl"), str) or not item["purl"]:
            missing.append(f"{item['id']} in {item.get('package') or item['report']}")
            continue
        key = (item["waiver"], item["id"].upper(), item["reason"], item["expires"],
               item.get("justification") or "")
        groups.setdefault(key, []).append(item["purl"])
    if missing:
        print(f"scangate: note: openvex: no package URL in the summary for {', '.join(missing)}"
              "; no VEX statement for them", file=sys.stderr)
    product = openvex.pushed_purl(repository, digest)
    statements = []
    for (_, vulnerability, reason, expires, justification), purls in groups.items():
        try:
            until = dt.date.fromisoformat(expires)
        except ValueError:
            raise SummaryError(f"{where} waived_findings: expires {expires!r} is not a "
                               "date") from None
        statements.append(openvex.statement(vulnerability, purls, product,
                                            justification or None, reason, until))
    writer = OutputSet([args.output])
    try:
        writer.add(args.output, openvex.document(statements, args.author))
        writer.commit()
    except BaseException:
        writer.abort(stale_targets=[args.output])
        raise
    print(f"scangate: openvex: wrote {Path(args.output)} ({len(statements)} statements for "
          f"{repository}@{digest})", file=sys.stderr)
    return EXIT_PASS
