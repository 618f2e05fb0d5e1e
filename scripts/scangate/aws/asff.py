"""Trivy findings as AWS Security Finding Format (ASFF) records for Security Hub.

Id scheme: ``scangate/<resource key>/<fingerprint>``, where the fingerprint is the finding's own
stable identity (kind, target, package, installed version, path, id) and the resource key is a
hash of the resource's Id, which names ONE image (scangate.aws.image: the pushed ECR image's ARN
with its digest, or before a push REGISTRY/REPO@IMAGE-ID). So the same CVE in two packages is two
findings, a rescan of the same digest updates the same finding, two digests of one repository
(prod and dev) never share a finding, and every Id is 94 characters however long the names.

Every length limit of ASFF is enforced here by truncating with a marker, never by failing.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from scangate import __version__
from scangate.aws.image import MAX_TAGS, PushedImage
from scangate.errors import UsageError
from scangate.findings import Finding, Report
from scangate.outputs.text import one_line, truncate
from scangate.registry.reference import DIGEST, Repository, parse_repository
from scangate.severity import Severity

SCHEMA_VERSION = "2018-10-08"
ID_MAX = 512
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
RECOMMENDATION_MAX = 512
PRODUCT_FIELD_KEY_MAX = 128
PRODUCT_FIELD_VALUE_MAX = 2048
PRODUCT_FIELDS_MAX = 50
FINDING_MAX_BYTES = 240 * 1024
ID_PREFIX = "scangate/"

LABELS = {
    Severity.CRITICAL: "CRITICAL",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MEDIUM",
    Severity.LOW: "LOW",
    # ASFF has no UNKNOWN; Trivy's own template uses INFORMATIONAL. Original keeps the truth.
    Severity.UNKNOWN: "INFORMATIONAL",
}
TYPES = {
    "vulnerability": "Software and Configuration Checks/Vulnerabilities/CVE",
    "secret": "Sensitive Data Identifications/Passwords",
    "misconfiguration": "Software and Configuration Checks",
}

_FRACTION = re.compile(r"(\.\d{1,6})\d*")


@dataclass(frozen=True, slots=True)
class Destination:
    """Where the findings go: the account and region of the Security Hub and its product."""

    account_id: str
    region: str
    partition: str
    product_arn: str


def default_product_arn(partition: str, region: str, account_id: str) -> str:
    """The account's own custom integration: no product subscription needed."""
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def timestamp(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds, the precision Security Hub compares (the year always
    four digits: strftime's %Y writes year 1 as "1")."""
    utc = moment.astimezone(dt.UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_time(value: object) -> dt.datetime | None:
    """Trivy and AWS timestamps (nanoseconds, offsets, 'Z') as aware datetimes; None if not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        # A time UTC cannot hold (year 1 at +05:00, year 9999 at -23:59) is not one.
        moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None
    return moment


@functools.lru_cache(maxsize=8192)
def _asff_time(value: str) -> str:
    """A vendor date in ASFF form ('' when it is not a date); few distinct values per report."""
    moment = parse_time(value)
    return timestamp(moment) if moment is not None else ""


# --- resources -------------------------------------------------------------------------------


def _repo_tags(report: Report, repository: str) -> list[str]:
    tags: list[str] = []
    for value in report.metadata.get("RepoTags") or []:
        if isinstance(value, str) and value.startswith(repository + ":"):
            tag = value[len(repository) + 1 :]
            if tag and tag not in tags:
                tags.append(tag)
    return tags


def _architecture(report: Report) -> str:
    config = report.metadata.get("ImageConfig")
    if isinstance(config, dict) and isinstance(config.get("architecture"), str):
        return str(config["architecture"])
    return ""


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values: Security Hub rejects empty strings (pattern ``.*\\S.*``)."""
    return {k: v for k, v in values.items() if v not in ("", None, [], {})}


@dataclass(frozen=True, slots=True)
class Identity:
    """What the command line says the image is: pushed (registry digest), or only its repository
    (before a push). Both None: the report's own names decide (a scan of a registry digest)."""

    pushed: PushedImage | None = None
    repository: Repository | None = None


def _report_image_id(report: Report) -> str:
    value = report.metadata.get("ImageID")
    return value if isinstance(value, str) and DIGEST.fullmatch(value) else ""


def _check_same_image(report: Report, pushed: PushedImage) -> None:
    """The findings must be of the pushed image: its config digest (image ID), or its digest."""
    scanned = _report_image_id(report)
    if pushed.image_id and scanned:
        if scanned != pushed.image_id:
            raise UsageError(
                f"{report.path}: the scanned image ID is {scanned} but {pushed.source} names "
                f"image ID {pushed.image_id}: these findings are not of the pushed image"
            )
        return
    if report.image_digest == pushed.digest:
        return
    raise UsageError(
        f"{report.path}: cannot tell that this scan is of {pushed.uri}: the report's image ID "
        f"({scanned or 'none'}) or registry digest must match; pass --image-id with the scanned "
        "image ID (scangate push records it as image-id)"
    )


def _pushed_from_report(report: Report) -> PushedImage | None:
    """A scan of an image in a registry (by digest) names its own pushed identity."""
    for value in report.metadata.get("RepoDigests") or []:
        if not isinstance(value, str) or "@" not in value:
            continue
        name, digest = value.split("@", 1)
        try:
            repository = parse_repository(name, "RepoDigests")
        except UsageError:
            continue
        if DIGEST.fullmatch(digest):
            return PushedImage(repository=repository, digest=digest,
                               tags=tuple(_repo_tags(report, name)),
                               image_id=_report_image_id(report), source=report.path)
    return None


def _pushed_resource(report: Report, image: PushedImage, destination: Destination
                     ) -> dict[str, Any]:
    ecr = image.repository.ecr
    if ecr is None:
        return {
            "Type": "Container",
            "Id": image.uri,
            "Partition": destination.partition,
            "Region": destination.region,
            "Details": {"Container": _compact({
                "Name": truncate(image.uri, 1024),
                "ImageId": image.image_id or image.digest,
                "ImageName": truncate(image.uri, 1024),
            })},
        }
    registry, region, partition = ecr.account, ecr.region, ecr.partition
    path = image.repository.path
    return {
        "Type": "AwsEcrContainerImage",
        # Amazon Inspector's Id for an ECR image: findings of two digests never share a resource.
        "Id": f"arn:{partition}:ecr:{region}:{registry}:repository/{path}/{image.digest}",
        "Partition": partition,
        "Region": region,
        "Details": {
            "AwsEcrContainerImage": _compact({
                "RegistryId": registry,
                "RepositoryName": path,
                "ImageDigest": image.digest,
                "ImageTags": list(image.tags[:MAX_TAGS]),
                "Architecture": _architecture(report),
                "ImagePublishedAt": _asff_time(image.pushed_at) if image.pushed_at else "",
            })
        },
    }


def _unpushed_resource(report: Report, repository: Repository | None,
                       destination: Destination) -> dict[str, Any]:
    """Before a push: REGISTRY/REPO@IMAGE-ID, which no other repository or build can have."""
    if repository is None:
        try:
            repository = parse_repository(report.artifact_id, "the image name in the report")
        except UsageError:
            raise UsageError(
                f"{report.path}: the scanned image has no registry name ({report.artifact_id!r}):"
                " pass --push-result (after scangate push) or --repository REGISTRY/REPOSITORY"
            ) from None
    image_id = _report_image_id(report)
    if not image_id:
        raise UsageError(f"{report.path}: the report has no Metadata.ImageID (sha256:...), so "
                         "its findings cannot be tied to one image; scan the image itself")
    return {
        "Type": "Container",
        "Id": f"{repository.name}@{image_id}",
        "Partition": destination.partition,
        "Region": destination.region,
        "Details": {"Container": _compact({
            "Name": truncate(repository.name, 1024),
            "ImageId": image_id,
            "ImageName": truncate(report.image_reference or repository.name, 1024),
        })},
    }


def resource_for(report: Report, destination: Destination,
                 identity: Identity | None = None) -> dict[str, Any]:
    """The ASFF resource of a report: one image (a digest, or before a push an image ID)."""
    identity = identity or Identity()
    if report.is_image:
        if identity.pushed is not None:
            _check_same_image(report, identity.pushed)
            return _pushed_resource(report, identity.pushed, destination)
        from_report = _pushed_from_report(report)
        if from_report is not None and (
            identity.repository is None or identity.repository == from_report.repository
        ):
            return _pushed_resource(report, from_report, destination)
        return _unpushed_resource(report, identity.repository, destination)
    return {
        "Type": "Other",
        "Id": truncate(artifact_id_of(report, identity), ID_MAX),
        "Partition": destination.partition,
        "Region": destination.region,
        "Details": {
            "Other": _compact({
                "ArtifactName": truncate(report.artifact_name or report.artifact_id, 1024),
                "ArtifactType": report.artifact_type,
            })
        },
    }


def artifact_id_of(report: Report, identity: Identity) -> str:
    """A non-image scan (Dockerfile, file system) of the image's repository is named after it,
    so the Dockerfile findings of two repositories never share an Id."""
    repository = identity.pushed.repository if identity.pushed else identity.repository
    if repository is None:
        return report.artifact_id
    return f"{repository.name}/{report.artifact_id}"


# --- ids -------------------------------------------------------------------------------------


def resource_key(resource_id: str) -> str:
    return hashlib.sha256(resource_id.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def finding_id(resource_id: str, finding: Finding) -> str:
    return f"{ID_PREFIX}{resource_key(resource_id)}/{finding.fingerprint}"


def generator_id(finding: Finding) -> str:
    return truncate(f"scangate/trivy/{finding.kind}/{finding.id}", ID_MAX)


# --- the finding ----------------------------------------------------------------------------


def _http(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""


def _title(finding: Finding) -> str:
    if finding.kind == "vulnerability":
        head = f"{finding.id} in {finding.package} {finding.installed_version}".strip()
    elif finding.kind == "secret":
        head = f"Secret ({finding.id}) in {finding.target}"
    else:
        head = f"{finding.id} in {finding.target}"
    text = f"{head}: {finding.title}" if finding.title else head
    return truncate(one_line(text), TITLE_MAX)


def _description(finding: Finding) -> str:
    text = finding.description.strip() or finding.message.strip() or finding.title.strip()
    return truncate(text or f"{finding.kind} {finding.id}", DESCRIPTION_MAX)


def _recommendation(finding: Finding) -> dict[str, Any]:
    if finding.kind == "vulnerability":
        if finding.fixed_version:
            text = (f"Upgrade {finding.package} from {finding.installed_version} to "
                    f"{finding.fixed_version} and rebuild the image.")
        else:
            text = f"No fixed version of {finding.package} is known yet; track {finding.id}."
    elif finding.kind == "secret":
        text = "Remove the secret from the image (build secrets, not layers) and rotate it."
    else:
        text = finding.resolution.strip() or finding.message.strip() or "See the reference."
    return {"Recommendation": _compact({
        "Text": truncate(one_line(text), RECOMMENDATION_MAX),
        "Url": _http(finding.primary_url),
    })}


def _cvss(finding: Finding) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cvss = finding.cvss
    if not isinstance(cvss, dict):
        return out
    for source, entry in cvss.items():
        if not isinstance(entry, dict):
            continue
        for prefix, default_version in (("V40", "4.0"), ("V3", "3.1"), ("V2", "2.0")):
            score = entry.get(f"{prefix}Score")
            if not isinstance(score, int | float) or isinstance(score, bool):
                continue
            vector = entry.get(f"{prefix}Vector")
            version = default_version
            if isinstance(vector, str) and vector.startswith("CVSS:"):
                version = vector.split("/", 1)[0][len("CVSS:"):] or default_version
            out.append(_compact({
                "Version": version,
                "BaseScore": float(score),
                "BaseVector": vector if isinstance(vector, str) else "",
                "Source": str(source),
            }))
    return out


def _vendor(finding: Finding) -> dict[str, Any]:
    name = finding.severity_source or finding.data_source
    vendor: dict[str, Any] = {
        "Name": name or "Trivy",
        "Url": _http(finding.primary_url),
        "VendorSeverity": finding.severity.name,
    }
    dates = (("VendorCreatedAt", finding.published_date),
             ("VendorUpdatedAt", finding.last_modified_date))
    for field, value in dates:
        if value:
            vendor[field] = _asff_time(value)
    return _compact(vendor)


def _vulnerabilities(finding: Finding) -> list[dict[str, Any]]:
    package = _compact({
        "Name": finding.package,
        "Version": finding.installed_version,
        "PackageManager": finding.result_type,
        "FilePath": finding.pkg_path,
        "FixedInVersion": finding.fixed_version,
        "Remediation": (f"Upgrade to {finding.fixed_version}" if finding.fixed_version else ""),
    })
    references: list[str] = []
    for url in [finding.primary_url, *finding.references]:
        if _http(url) and url not in references:
            references.append(url)
    return [_compact({
        "Id": finding.id,
        "VulnerablePackages": [package],
        "Cvss": _cvss(finding),
        "Vendor": _vendor(finding),
        "ReferenceUrls": references,
        "FixAvailable": "YES" if finding.fixed_version else "NO",
        # ASFF's own fields for exploitation: CISA KEV lists exploits seen in the wild.
        "ExploitAvailable": "YES" if finding.kev is not None else None,
        "EpssScore": finding.epss.score if finding.epss is not None else None,
    })]


def _resource_digest(resource: dict[str, Any], report: Report) -> str:
    details = resource.get("Details", {}).get("AwsEcrContainerImage", {})
    if details.get("ImageDigest"):
        return str(details["ImageDigest"])
    name, _, digest = str(resource.get("Id", "")).rpartition("@")
    return digest if name and DIGEST.fullmatch(digest) else report.image_digest


def _product_fields(finding: Finding, report: Report, resource: dict[str, Any]
                    ) -> dict[str, str]:
    fields = {
        "scangate/Version": __version__,
        "scangate/Scanner": "Trivy",
        "scangate/Fingerprint": finding.fingerprint,
        "scangate/Kind": finding.kind,
        "scangate/ArtifactId": report.artifact_id,
        "scangate/ArtifactName": report.artifact_name,
        "scangate/ImageDigest": _resource_digest(resource, report),
        "scangate/Target": finding.stable_target,
        "scangate/Class": finding.result_class,
        "scangate/Package": finding.package,
        "scangate/InstalledVersion": finding.installed_version,
        "scangate/FixedVersion": finding.fixed_version,
        "scangate/PkgPath": finding.pkg_path,
        "scangate/Status": finding.status,
        "scangate/StartLine": str(finding.start_line) if finding.start_line else "",
        "scangate/KevDueDate": finding.kev.due_date if finding.kev else "",
        "scangate/KevRansomware": finding.kev.ransomware if finding.kev else "",
        "scangate/EpssPercentile": (f"{finding.epss.percentile}" if finding.epss else ""),
    }
    return {
        truncate(k, PRODUCT_FIELD_KEY_MAX): truncate(one_line(v), PRODUCT_FIELD_VALUE_MAX)
        for k, v in fields.items() if v and v.strip()
    }


def to_asff(
    finding: Finding,
    resource: dict[str, Any],
    destination: Destination,
    *,
    updated_at: str,
    created_at: str,
    first_observed_at: str,
    last_observed_at: str,
) -> dict[str, Any]:
    severity = {"Label": LABELS[finding.severity], "Original": finding.severity.name}
    types = [TYPES[finding.kind]]
    record: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(resource["Id"], finding),
        "ProductArn": destination.product_arn,
        "GeneratorId": generator_id(finding),
        "AwsAccountId": destination.account_id,
        "Types": types,
        "FirstObservedAt": first_observed_at,
        "LastObservedAt": last_observed_at,
        "CreatedAt": created_at,
        "UpdatedAt": updated_at,
        "Severity": severity,
        "FindingProviderFields": {"Severity": dict(severity), "Types": list(types)},
        "Title": _title(finding),
        "Description": _description(finding),
        "Remediation": _recommendation(finding),
        "ProductFields": _product_fields(finding, finding.report, resource),
        "Resources": [resource],
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
    }
    if _http(finding.primary_url):
        record["SourceUrl"] = finding.primary_url
    if finding.kind == "vulnerability":
        record["Vulnerabilities"] = _vulnerabilities(finding)
    elif finding.kind == "misconfiguration":
        # A failed check is a failed control; Compliance is how Security Hub shows that.
        record["Compliance"] = {"Status": "FAILED"}
    return fit(record)


# --- the 240 KB limit ------------------------------------------------------------------------


def size_of(record: dict[str, Any]) -> int:
    return len(orjson.dumps(record))


def _mark(record: dict[str, Any], what: str) -> None:
    fields = record.setdefault("ProductFields", {})
    done = fields.get("scangate/Truncated", "")
    fields["scangate/Truncated"] = f"{done},{what}" if done else what


def fit(record: dict[str, Any], limit: int = FINDING_MAX_BYTES) -> dict[str, Any]:
    """Shrink the unbounded parts until the record fits, saying what was cut in ProductFields."""
    if size_of(record) <= limit:
        return record
    for vuln in record.get("Vulnerabilities", []):
        urls = vuln.get("ReferenceUrls", [])
        if urls and size_of(record) > limit:
            _mark(record, "ReferenceUrls")
        while urls and size_of(record) > limit:
            # Halve until it fits: the first references (the primary URL first) are kept.
            del urls[len(urls) // 2 :]
        if not urls:
            vuln.pop("ReferenceUrls", None)
        if size_of(record) > limit and len(vuln.get("Cvss", [])) > 3:
            vuln["Cvss"] = vuln["Cvss"][:3]
            _mark(record, "Cvss")
    image = record["Resources"][0].get("Details", {}).get("AwsEcrContainerImage", {})
    if size_of(record) > limit and len(image.get("ImageTags", [])) > 10:
        # The resource dict is shared by every finding of the report: cut a copy.
        resource = copy.deepcopy(record["Resources"][0])
        details = resource["Details"]["AwsEcrContainerImage"]
        details["ImageTags"] = details["ImageTags"][:10]
        record["Resources"] = [resource]
        _mark(record, "ImageTags")
    if size_of(record) > limit:
        fields = record["ProductFields"]
        for key in list(fields):
            fields[key] = truncate(fields[key], 256)
        _mark(record, "ProductFields")
    # What is left is bounded (Title, Description, one package, 50 short fields): far below 240 KB.
    return record



# --- a whole run -----------------------------------------------------------------------------


@dataclass
class Built:
    records: list[dict[str, Any]]
    # Resource Id -> the ASFF resource, in report order.
    resources: dict[str, dict[str, Any]]
    # Findings that had the Id of an earlier one (the same finding in two reports).
    duplicates: int = 0


def resources_of(reports: list[Report], destination: Destination,
                 identity: Identity | None = None) -> dict[str, dict[str, Any]]:
    """Resource Id -> ASFF resource of every report (also those without findings)."""
    resources: dict[str, dict[str, Any]] = {}
    for report in reports:
        resource = resource_for(report, destination, identity)
        resources.setdefault(resource["Id"], resource)
    return resources


def newer_than(now: dt.datetime, previous: object) -> str:
    """``now``, or 1 ms after ``previous`` when a clock ran ahead: updates must be newer."""
    # Compare at the precision written (ms), or "newer" could print as the same instant.
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    before = parse_time(previous)
    if before is not None and before >= now:
        now = before + dt.timedelta(milliseconds=1)
    return timestamp(now)


def build_records(
    reports: list[Report],
    destination: Destination,
    now: dt.datetime,
    existing: dict[str, dict[str, Any]] | None = None,
    identity: Identity | None = None,
) -> Built:
    """Every finding of every report as ASFF; ``existing`` (by Id) keeps CreatedAt stable."""
    existing = existing or {}
    built = Built(records=[], resources={})
    seen: set[str] = set()
    for report in reports:
        resource = resource_for(report, destination, identity)
        built.resources.setdefault(resource["Id"], resource)
        scanned = timestamp(parse_time(report.created_at) or now)
        for finding in report.findings:
            ident = finding_id(resource["Id"], finding)
            if ident in seen:
                built.duplicates += 1
                continue
            seen.add(ident)
            before = existing.get(ident, {})
            created = str(before.get("CreatedAt") or scanned)
            built.records.append(to_asff(
                finding, resource, destination,
                updated_at=newer_than(now, before.get("UpdatedAt")),
                created_at=created,
                first_observed_at=str(before.get("FirstObservedAt") or created),
                last_observed_at=scanned,
            ))
    return built
