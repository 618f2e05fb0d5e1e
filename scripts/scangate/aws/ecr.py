"""ECR image scans: find the image, make sure a scan exists, wait for it, read every page.

Basic scanning (scan on push, or a scan started here) and enhanced scanning (Amazon Inspector)
both answer through ``DescribeImageScanFindings``: basic findings under ``findings``, Inspector's
under ``enhancedFindings``. Both lists are read to the last page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scangate.aws.clients import AWS_FAILURES, describe, error_code, error_message
from scangate.errors import AwsError

# Statuses with findings to read; statuses worth waiting on; everything else is a failure.
DONE = frozenset({"COMPLETE", "ACTIVE"})
PENDING = frozenset({"IN_PROGRESS", "PENDING"})
# Statuses after which this image's findings will never come (ECR API Reference,
# "ImageScanStatus": the image cannot be scanned, is no longer eligible, has no findings, or is
# archived). Unlike FAILED or LIMIT_EXCEEDED, waiting or retrying cannot change them.
UNAVAILABLE = frozenset({"UNSUPPORTED_IMAGE", "SCAN_ELIGIBILITY_EXPIRED", "FINDINGS_UNAVAILABLE",
                         "IMAGE_ARCHIVED"})
IMAGE_DELETED = "IMAGE_DELETED"
REPOSITORY_DELETED = "REPOSITORY_DELETED"
PAGE_SIZE = 1000
POLL_SECONDS = 5.0
READ_NEEDS = "ecr:DescribeImageScanFindings"


class ImageUnavailable(AwsError):
    """The image has no findings and never will: it (or its repository) was deleted, or its
    scan ended in one of the ``UNAVAILABLE`` statuses. ``status`` names which."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class EcrImage:
    registry_id: str
    repository: str
    repository_uri: str
    digest: str
    tags: tuple[str, ...]
    requested_tag: str = ""

    @property
    def label(self) -> str:
        return f"{self.repository}:{self.requested_tag}" if self.requested_tag else \
            f"{self.repository}@{self.digest}"


@dataclass
class Scan:
    status: str
    description: str
    scan_type: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    enhanced: list[dict[str, Any]] = field(default_factory=list)
    severity_counts: dict[str, int] = field(default_factory=dict)
    completed_at: str = ""
    source_updated_at: str = ""
    started_here: bool = False


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value or "")


def find_image(ecr: Any, repository: str, *, tag: str | None, digest: str | None,
               registry_id: str | None = None) -> EcrImage:
    """The image in ``registry_id``'s registry (another account's, when an event names it),
    else in the caller's own."""
    image_id = {"imageTag": tag} if tag else {"imageDigest": str(digest)}
    where = f"{repository}:{tag}" if tag else f"{repository}@{digest}"
    registry = {"registryId": registry_id} if registry_id else {}
    try:
        repos = ecr.describe_repositories(repositoryNames=[repository], **registry)[
            "repositories"]
        details = ecr.describe_images(repositoryName=repository, imageIds=[image_id], **registry)
    except AWS_FAILURES as exc:
        code = error_code(exc)
        if code == "RepositoryNotFoundException":
            raise ImageUnavailable(f"ECR repository {repository!r} not found in region "
                                   f"{ecr.meta.region_name}; check --repository and the region",
                                   REPOSITORY_DELETED) from None
        if code == "ImageNotFoundException":
            raise ImageUnavailable(f"ECR image {where} not found; was it pushed?",
                                   IMAGE_DELETED) from None
        raise describe(exc, f"ecr DescribeImages {where}",
                       "ecr:DescribeRepositories, ecr:DescribeImages") from None
    images = details.get("imageDetails") or []
    if not images or not repos:
        raise ImageUnavailable(f"ECR image {where} not found; was it pushed?", IMAGE_DELETED)
    image = images[0]
    return EcrImage(
        registry_id=str(image.get("registryId") or repos[0].get("registryId", "")),
        repository=repository,
        repository_uri=str(repos[0]["repositoryUri"]),
        digest=str(image["imageDigest"]),
        tags=tuple(image.get("imageTags") or ()),
        requested_tag=tag or "",
    )


def _unavailable(exc: BaseException, image: EcrImage) -> None:
    """Raise ImageUnavailable for the errors that say the image is gone or archived."""
    code = error_code(exc)
    status = {"ImageNotFoundException": IMAGE_DELETED,
              "RepositoryNotFoundException": REPOSITORY_DELETED,
              # botocore's ECR model: "The specified image is archived and cannot be scanned."
              "ImageArchivedException": "IMAGE_ARCHIVED"}.get(code)
    if status:
        raise ImageUnavailable(f"ECR scan of {image.label}: {code} ({error_message(exc)})",
                               status) from None


class ScanReader:
    def __init__(self, ecr: Any, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, poll: float = POLL_SECONDS,
                 progress: Callable[[str], None] | None = None) -> None:
        self.ecr = ecr
        self.clock = clock
        self.sleep = sleep
        self.poll = poll
        self.progress = progress or (lambda _message: None)

    def _ids(self, image: EcrImage) -> dict[str, Any]:
        return {"repositoryName": image.repository, "registryId": image.registry_id,
                "imageId": {"imageDigest": image.digest}}

    def scan_type(self) -> str:
        """BASIC or ENHANCED; '' when the registry configuration cannot be read."""
        try:
            config = self.ecr.get_registry_scanning_configuration()
        except AWS_FAILURES:
            # Reading it is a convenience (ecr:GetRegistryScanningConfiguration): without it,
            # starting a scan is simply attempted.
            return ""
        return str((config.get("scanningConfiguration") or {}).get("scanType") or "")

    def start(self, image: EcrImage, scan_type: str) -> bool:
        """Start a basic scan when the registry allows it; True when one runs or ran today."""
        if scan_type == "ENHANCED":
            self.progress(f"{image.label}: enhanced scanning (Inspector) scans on push; waiting")
            return False
        try:
            self.ecr.start_image_scan(**self._ids(image))
        except AWS_FAILURES as exc:
            code = error_code(exc)
            if code == "LimitExceededException":
                # One basic scan per image per day: one already ran, its result will show.
                return True
            if code == "UnsupportedImageTypeException":
                raise AwsError(f"ECR cannot scan {image.label}: unsupported image type "
                               f"({error_message(exc)})") from None
            raise describe(exc, f"ecr StartImageScan {image.label}",
                           "ecr:StartImageScan") from None
        self.progress(f"{image.label}: no scan found, started a basic scan")
        return True

    def _describe(self, image: EcrImage, token: str | None = None) -> dict[str, Any]:
        kwargs = {**self._ids(image), "maxResults": PAGE_SIZE}
        if token:
            kwargs["nextToken"] = token
        response: dict[str, Any] = self.ecr.describe_image_scan_findings(**kwargs)
        return response

    def read(self, image: EcrImage, *, wait: bool, timeout: float) -> Scan:
        deadline = self.clock() + timeout
        started = attempted = False
        while True:
            try:
                page = self._describe(image)
            except AWS_FAILURES as exc:
                _unavailable(exc, image)
                if error_code(exc) != "ScanNotFoundException":
                    raise describe(exc, f"ecr DescribeImageScanFindings {image.label}",
                                   READ_NEEDS) from None
                if not attempted:
                    attempted = True
                    started = self.start(image, self.scan_type())
                    if started:
                        continue  # look once more at once: the new scan's status is news
                status, description = "PENDING", "no scan of this image exists yet"
            else:
                state = page.get("imageScanStatus") or {}
                status = str(state.get("status") or "")
                description = str(state.get("description") or "")
                if status in DONE:
                    scan = self._collect(image, page, status, description)
                    scan.started_here = started
                    return scan
                if status in UNAVAILABLE:
                    raise ImageUnavailable(f"ECR scan of {image.label} {status}: "
                                           f"{description or 'no reason given'}", status)
                if status not in PENDING:
                    raise AwsError(f"ECR scan of {image.label} {status or 'has no status'}: "
                                   f"{description or 'no reason given'}")
            if not wait:
                raise AwsError(f"ECR scan of {image.label} is {status} ({description}); pass "
                               "--wait to wait for it")
            left = deadline - self.clock()
            if left <= 0:
                raise AwsError(f"timed out after {timeout:g} s waiting for the ECR scan of "
                               f"{image.label} (last status {status}: {description}); raise "
                               "--timeout")
            self.sleep(min(self.poll, left))

    def _collect(self, image: EcrImage, page: dict[str, Any], status: str,
                 description: str) -> Scan:
        body = page.get("imageScanFindings") or {}
        scan = Scan(
            status=status,
            description=description,
            scan_type="ENHANCED" if body.get("enhancedFindings") or status == "ACTIVE"
            else "BASIC",
            severity_counts={str(k): int(v) for k, v in
                             (body.get("findingSeverityCounts") or {}).items()},
            completed_at=_iso(body.get("imageScanCompletedAt")),
            source_updated_at=_iso(body.get("vulnerabilitySourceUpdatedAt")),
        )
        seen: set[str] = set()
        while True:
            scan.findings.extend(body.get("findings") or [])
            scan.enhanced.extend(body.get("enhancedFindings") or [])
            token = page.get("nextToken")
            if not token:
                break
            if token in seen:
                raise AwsError(f"ecr DescribeImageScanFindings {image.label}: the same "
                               "nextToken came back twice; refusing to loop")
            seen.add(token)
            try:
                page = self._describe(image, token)
            except AWS_FAILURES as exc:
                raise describe(exc, f"ecr DescribeImageScanFindings {image.label} (page "
                                    f"{len(seen) + 1})", READ_NEEDS) from None
            state = str((page.get("imageScanStatus") or {}).get("status") or "")
            if state not in DONE:
                raise AwsError(f"ECR scan of {image.label} changed to {state} while its "
                               "findings were read; rerun")
            body = page.get("imageScanFindings") or {}
        self._check_counts(image, scan)
        return scan

    @staticmethod
    def _check_counts(image: EcrImage, scan: Scan) -> None:
        """Basic scans count their findings by severity: every one counted must have been read."""
        if scan.enhanced or not scan.severity_counts:
            return
        expected = sum(scan.severity_counts.values())
        if expected != len(scan.findings):
            raise AwsError(f"ECR scan of {image.label} counts {expected} findings "
                           f"({scan.severity_counts}) but {len(scan.findings)} were returned")
