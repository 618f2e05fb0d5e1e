"""What an EventBridge event asks the monitor to do, or why it cannot be processed.

Shapes follow the samples in AWS's documentation (tests/monitor/fixtures cite the pages):
- ``ECR Image Scan`` (aws.ecr, basic scanning): detail.repository-name, detail.image-digest;
- ``Inspector2 Scan`` (aws.inspector2, enhanced, initial scan): detail.repository-name is an
  ARN in the documented sample, a plain name elsewhere; both are accepted;
- ``Inspector2 Finding`` (aws.inspector2): the image is in
  detail.resources[].details.awsEcrContainerImage (repositoryName, registry, imageHash);
- ``Scheduled Event`` (aws.events): the sweep over deployed images;
- ``Scangate Image Deployed`` / ``Scangate Sweep Image`` (scangate.monitor): a deployment
  marks an image as deployed; the sweep re-evaluates one image.
Anything else is refused with a reason (it goes to the dead-letter queue, never retried).

Every image action carries the region the event places the image in (``Evaluate.region``): an
ECR API call names no region (the client's endpoint does), so an event about another region's
image would read this region's registry and take "not found" for "deleted"
(scangate.monitor.processor refuses it instead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from scangate.errors import ScangateError
from scangate.registry.reference import DIGEST

_REPO_NAME = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
_REPO_ARN = re.compile(r"arn:aws[a-z-]*:ecr:[a-z0-9-]+:(?P<account>[0-9]{12}):repository/"
                       r"(?P<name>.+)")
_ACCOUNT = re.compile(r"[0-9]{12}")
_ARN_ACCOUNT = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(?P<account>[0-9]{12}):")
# AWS region names: us-east-1, eu-central-2, us-gov-west-1, cn-northwest-1, ap-southeast-5.
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
_ARN_REGION = re.compile(r"arn:aws[a-z-]*:ecr:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):")

OWN_SOURCE = "scangate.monitor"
DEPLOYED = "Scangate Image Deployed"
SWEEP_IMAGE = "Scangate Sweep Image"


class MalformedEvent(ScangateError):
    """The event is not one the monitor handles, or lacks what it needs: dead-letter it."""


@dataclass(frozen=True, slots=True)
class ImageRef:
    registry_id: str
    repository: str
    digest: str

    @property
    def key(self) -> str:
        return f"{self.registry_id}/{self.repository}@{self.digest}"


@dataclass(frozen=True, slots=True)
class Evaluate:
    """Re-read the image's findings and decide (a scan event, a sweep item, a deployment)."""

    image: ImageRef
    event_id: str
    kind: str
    deployed: bool | None = None  # True/False: set the flag; None: leave it
    # An Inspector2 Finding event whose finding is CLOSED: after a deletion, the image's
    # findings close one event each; none of them is news about an image recorded deleted.
    closes_finding: bool = False
    # The region the event places the image in ("" when it names none). EventBridge sets the
    # event's ``region`` (AWS docs, "Amazon EventBridge events": the region where the event
    # originated); an Inspector finding's resource names its own; our own events may carry the
    # registry's (``registry-region``, from the deployed image's registry host).
    region: str = ""


@dataclass(frozen=True, slots=True)
class Sweep:
    event_id: str


Action = Evaluate | Sweep


def _field(doc: dict[str, Any], name: str, where: str) -> Any:
    if name not in doc:
        raise MalformedEvent(f"{where}: no {name!r}")
    return doc[name]


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{where} is {value!r}, not a non-empty string")
    return value


def _digest(value: object, where: str) -> str:
    digest = _text(value, where)
    if not DIGEST.fullmatch(digest):
        raise MalformedEvent(f"{where} {digest[:80]!r} is not sha256:<64 lowercase hex>")
    return digest


def _repository(value: object, account: str, where: str) -> tuple[str, str]:
    """(registry id, repository name) from a name or a repository ARN."""
    text = _text(value, where)
    match = _REPO_ARN.fullmatch(text)
    if match:
        # The documented Inspector2 Scan sample names the repository by ARN; the registry is
        # the event's account (the sample's ARN account differs: the image is in this one).
        text = match["name"]
    if len(text) > 256 or not _REPO_NAME.fullmatch(text):
        raise MalformedEvent(f"{where} {text[:80]!r} is not an ECR repository name")
    return account, text


def parse(event: object) -> Action:
    if not isinstance(event, dict):
        raise MalformedEvent(f"event is {type(event).__name__}, not a JSON object")
    source = _text(_field(event, "source", "event"), "event source")
    kind = _text(_field(event, "detail-type", "event"), "event detail-type")
    event_id = _text(_field(event, "id", "event"), "event id")
    where = f"{kind} event {event_id[:80]}"
    if (source, kind) == ("aws.events", "Scheduled Event"):
        return Sweep(event_id)
    detail = _field(event, "detail", where)
    if not isinstance(detail, dict):
        raise MalformedEvent(f"{where}: detail is not an object")
    account = _account(event, detail, where)
    if (source, kind) == ("aws.ecr", "ECR Image Scan"):
        status = detail.get("scan-status")
        if status != "COMPLETE":
            raise MalformedEvent(f"{where}: scan-status {status!r}; only COMPLETE scans have "
                                 "findings to judge")
        action = _from_detail(detail, account, event_id, kind, where)
    elif (source, kind) == ("aws.inspector2", "Inspector2 Scan"):
        action = _from_detail(detail, account, event_id, kind, where)
    elif (source, kind) == ("aws.inspector2", "Inspector2 Finding"):
        action, resource_region = _from_finding(detail, account, event_id, kind, where)
        return replace(action, region=_region(resource_region or event.get("region"), where))
    elif source == OWN_SOURCE and kind in (DEPLOYED, SWEEP_IMAGE):
        action = _from_detail(detail, account, event_id, kind, where)
        if kind == DEPLOYED:
            deployed = detail.get("deployed", True)
            if not isinstance(deployed, bool):
                raise MalformedEvent(f"{where}: deployed is {deployed!r}, not true or false")
            action = replace(action, deployed=deployed)
        return replace(action, region=_region(detail.get("registry-region") or
                                              event.get("region"), where))
    else:
        raise MalformedEvent(f"unknown event: source {source[:80]!r}, detail-type "
                             f"{kind[:80]!r}")
    return replace(action, region=_region(event.get("region"), where))


def _region(value: object, where: str) -> str:
    """The region named, or "" when none is: only a well-formed region name is taken."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise MalformedEvent(f"{where}: region {str(value)[:40]!r} is not an AWS region name")
    return value


def _account(event: dict[str, Any], detail: dict[str, Any], where: str) -> str:
    """The event's account; else the account of its resource ARNs or its registry-id.

    EventBridge always sets ``account``; the fallbacks serve callers of PutEvents and emulators
    that leave it out (moto's SQS target drops it)."""
    found = {str(event["account"])} if "account" in event else set()
    for resource in event.get("resources") or []:
        match = _ARN_ACCOUNT.match(resource) if isinstance(resource, str) else None
        if match and not found:
            found.add(match["account"])
    if not found and isinstance(detail.get("registry-id"), str):
        found.add(detail["registry-id"])
    if not found:
        raise MalformedEvent(f"{where}: no 'account' (nor a resource ARN or registry-id)")
    [account] = found
    if not _ACCOUNT.fullmatch(account):
        raise MalformedEvent(f"{where}: account {account[:40]!r} is not a 12-digit account id")
    return account


def _from_detail(detail: dict[str, Any], account: str, event_id: str, kind: str,
                 where: str) -> Evaluate:
    registry, repository = _repository(_field(detail, "repository-name", where), account,
                                       f"{where}: repository-name")
    registry = str(detail.get("registry-id") or registry)
    if not _ACCOUNT.fullmatch(registry):
        raise MalformedEvent(f"{where}: registry-id {registry[:40]!r} is not an account id")
    digest = _digest(_field(detail, "image-digest", where), f"{where}: image-digest")
    return Evaluate(ImageRef(registry, repository, digest), event_id, kind)


def _resource_region(resource: dict[str, Any]) -> str | None:
    """The region of a finding's resource: its ``region``, else its ARN's (AWS's published
    sample has ``"region": "N/A"`` and the region in the ARN only); None when neither names
    one (the event's region stands)."""
    region = resource.get("region")
    if isinstance(region, str) and _REGION.fullmatch(region):
        return region
    match = _ARN_REGION.match(str(resource.get("id") or ""))
    return match["region"] if match else None


def _from_finding(detail: dict[str, Any], account: str, event_id: str, kind: str,
                  where: str) -> tuple[Evaluate, str | None]:
    """The image, and the region its resource names (None when it names none)."""
    resources = _field(detail, "resources", where)
    if not isinstance(resources, list):
        raise MalformedEvent(f"{where}: resources is not a list")
    for resource in resources:
        if not isinstance(resource, dict) or resource.get("type") != "AWS_ECR_CONTAINER_IMAGE":
            continue
        image = (resource.get("details") or {}).get("awsEcrContainerImage")
        if not isinstance(image, dict):
            raise MalformedEvent(f"{where}: an AWS_ECR_CONTAINER_IMAGE resource has no "
                                 "details.awsEcrContainerImage")
        registry = _text(image.get("registry") or account, f"{where}: registry")
        if not _ACCOUNT.fullmatch(registry):
            raise MalformedEvent(f"{where}: registry {registry[:40]!r} is not an account id")
        _, repository = _repository(image.get("repositoryName"), registry,
                                    f"{where}: repositoryName")
        digest = _digest(image.get("imageHash"), f"{where}: imageHash")
        return (Evaluate(ImageRef(registry, repository, digest), event_id, kind,
                         closes_finding=detail.get("status") == "CLOSED"),
                _resource_region(resource))
    raise MalformedEvent(f"{where}: no AWS_ECR_CONTAINER_IMAGE resource (not a container image "
                         "finding)")
