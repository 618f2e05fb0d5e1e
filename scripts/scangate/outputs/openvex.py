"""The policy's triage as an OpenVEX v0.2.0 document (``gate --openvex``), so that other tools
(Trivy's ``--vex``, grype, Docker Scout) honour what the gate accepted.

One statement per waiver that matched a vulnerability: the product is the scanned image, named
by its registry digest as a ``pkg:oci`` package URL exactly as Trivy names it (name, digest,
``arch`` and ``repository_url`` qualifiers), and the subcomponents are the package URLs of the
packages the waiver matched. A waiver with an OpenVEX ``justification`` states ``not_affected``
(its reason is the impact statement); one without only accepts a risk, so the statement says
``affected``, with the reason and expiry as the action statement: a VEX consumer keeps reporting
it, as it should.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from typing import Any
from urllib.parse import quote

import orjson

from scangate.errors import OutputError
from scangate.findings import Finding, Report
from scangate.gate import Disposition, GateResult
from scangate.policy import Waiver

CONTEXT = "https://openvex.dev/ns/v0.2.0"
ACCEPTED_VEX_PREFIX = "vex:sha256:"


def _quote(text: str) -> str:
    # purl-spec: qualifier values are percent-encoded; ':' and '/' are encoded too.
    return quote(text, safe="")


def image_purl(report: Report) -> str:
    """``pkg:oci/<name>@sha256:<digest>?arch=<arch>&repository_url=<registry/repo>``, the
    package URL Trivy gives a container image scanned with a registry digest."""
    for value in report.metadata.get("RepoDigests") or []:
        if isinstance(value, str) and "@sha256:" in value:
            repository, digest = value.split("@", 1)
            break
    else:
        raise OutputError(
            f"{report.path}: --openvex: the report has no registry digest (Metadata.RepoDigests), "
            "so the image cannot be named in a VEX statement; scan the pushed image by digest "
            "(scangate scan --image REPO@sha256:...)")
    name = repository.rsplit("/", 1)[-1].lower()
    qualifiers = []
    config = report.metadata.get("ImageConfig")
    arch = config.get("architecture") if isinstance(config, dict) else None
    if isinstance(arch, str) and arch:
        qualifiers.append(f"arch={_quote(arch)}")
    qualifiers.append(f"repository_url={_quote(repository)}")
    return f"pkg:oci/{_quote(name)}@{_quote(digest)}?{'&'.join(qualifiers)}"


def statement(vulnerability: str, purls: list[str], product: str, justification: str | None,
              reason: str, expires: dt.date) -> dict[str, Any]:
    """One statement: not_affected with an OpenVEX justification, else an accepted risk."""
    doc: dict[str, Any] = {
        "vulnerability": {"name": vulnerability},
        "products": [{"@id": product, "subcomponents": [{"@id": p} for p in sorted(set(purls))]}],
    }
    if justification:
        doc.update(status="not_affected", justification=justification, impact_statement=reason)
    else:
        doc.update(status="affected", action_statement=(
            f"Risk accepted until {expires.isoformat()}: {reason}"))
    return doc


def document(statements: list[dict[str, Any]], author: str,
             now: dt.datetime | None = None) -> bytes:
    now = now or dt.datetime.now(dt.UTC)
    body = orjson.dumps(statements, option=orjson.OPT_SORT_KEYS)
    doc = {
        "@context": CONTEXT,
        # Named by its statements: the same triage of the same image is the same document.
        "@id": f"urn:scangate:openvex:{hashlib.sha256(body).hexdigest()}",
        "author": author,
        "role": "Document Creator",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "version": 1,
        "tooling": "scangate",
        "statements": statements,
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def pushed_purl(repository: str, digest: str) -> str:
    """The image as pushed (``repository`` is registry/path): Trivy's purl for it carries more
    qualifiers (arch), which a VEX product without them still matches."""
    name = repository.rsplit("/", 1)[-1].lower()
    return f"pkg:oci/{_quote(name)}@{_quote(digest)}?repository_url={_quote(repository)}"


def build(result: GateResult, author: str, now: dt.datetime | None = None) -> bytes:
    now = now or dt.datetime.now(dt.UTC)
    # (waiver, report, vulnerability id) -> the findings it waived there.
    groups: dict[tuple[int, int, str], tuple[Waiver, Report, list[Finding]]] = {}
    skipped: list[str] = []
    for finding, disposition, waiver in result.decisions:
        if disposition is not Disposition.WAIVED or waiver is None:
            continue
        if finding.kind != "vulnerability":
            continue  # VEX speaks of vulnerabilities only
        if waiver.id.startswith(ACCEPTED_VEX_PREFIX):
            continue  # a vendor's VEX said it; this document restates only the policy's triage
        if not finding.purl:
            skipped.append(f"{finding.id} in {finding.package or finding.target}")
            continue
        key = (id(waiver), finding.report.index, finding.id.upper())
        groups.setdefault(key, (waiver, finding.report, []))[2].append(finding)
    statements = []
    products: dict[int, str] = {}
    for waiver, report, findings in groups.values():
        if report.index not in products:
            products[report.index] = image_purl(report)
        statements.append(statement(findings[0].id, [f.purl for f in findings],
                                    products[report.index], waiver.justification,
                                    waiver.reason, waiver.expires))
    if skipped:
        # Said, not silently dropped: the gate still waives them; the VEX cannot name them.
        print(f"scangate: note: --openvex: no package URL in the report for {', '.join(skipped)}"
              "; no VEX statement for them", file=sys.stderr)
    return document(statements, author, now)
