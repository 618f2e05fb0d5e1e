"""Which image the findings belong to: the pushed ECR image, or (before a push) repository + ID.

Security Hub keys a finding by its Id and shows it on its resource. The resource must be the
image that ships, not its repository (prod, staging and dev digests of one repository would share
findings, and archiving what a dev build fixed would archive CVEs still running in prod):

- after ``scangate push``: the pushed image, ``AwsEcrContainerImage`` with the Id Amazon
  Inspector gives an ECR image (``arn:PARTITION:ecr:REGION:REGISTRY:repository/NAME/sha256:HEX``)
  and Details RegistryId, RepositoryName, ImageDigest, ImageTags (Security Hub API reference,
  AwsEcrContainerImageDetails). A registry outside ECR gives a ``Container`` named
  ``REGISTRY/REPO@sha256:HEX``.
- before a push (a failed gate, a pre-push import): nothing was pushed, so there is no digest;
  the resource is ``Container`` ``REGISTRY/REPO@<image ID>`` (the image ID is the config digest
  the scan reports), which cannot collide across repositories or builds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from scangate.errors import UsageError

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]
ECR_HOST = re.compile(
    r"(?P<registry>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
    r"(?P<china>\.cn)?"
)
# Docker reference grammar for a repository path (lower-case components, separators . _ __ -).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_HOST = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
MAX_TAGS = 50


@dataclass(frozen=True, slots=True)
class Repository:
    """``REGISTRY/PATH`` of an image, split; ``ecr`` holds (registry id, region, partition)."""

    host: str
    path: str

    @property
    def name(self) -> str:
        return f"{self.host}/{self.path}"

    @property
    def ecr(self) -> tuple[str, str, str] | None:
        match = ECR_HOST.fullmatch(self.host)
        if not match:
            return None
        partition = "aws-cn" if match["china"] else "aws"
        if match["region"].startswith("us-gov-"):
            partition = "aws-us-gov"
        return match["registry"], match["region"], partition


def parse_repository(value: str, what: str) -> Repository:
    """``REGISTRY/PATH`` (no tag, no digest); the registry is required so names cannot collide."""
    text = value.strip()
    host, _, path = text.partition("/")
    # A first component without '.' or ':' (and not localhost) is a Docker Hub path, no registry.
    registry = "." in host or ":" in host or host == "localhost"
    if not path or not _HOST.fullmatch(host) or not registry:
        raise UsageError(f"{what} {value!r} is not REGISTRY/REPOSITORY (e.g. "
                         "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app)")
    if not _PATH.fullmatch(path):
        raise UsageError(f"{what} {value!r}: repository path {path!r} is not a valid image "
                         "repository name (lower case, no tag or digest)")
    return Repository(host=host, path=path)


@dataclass(frozen=True, slots=True)
class PushedImage:
    """The image as it is in the registry: repository, manifest digest, tags, config digest."""

    repository: Repository
    digest: str
    tags: tuple[str, ...] = ()
    image_id: str = ""
    pushed_at: str = ""
    source: str = field(default="", compare=False)

    @property
    def uri(self) -> str:
        return f"{self.repository.name}@{self.digest}"


def _check_digest(value: str, what: str) -> str:
    if not DIGEST.fullmatch(value):
        raise UsageError(f"{what} {value!r} is not a sha256 digest (sha256: and 64 lower-case "
                         "hex digits)")
    return value


def _check_tags(tags: list[str], what: str) -> tuple[str, ...]:
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise UsageError(f"{what}: {tag!r} is not an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]"
                             "{0,127})")
        if tag not in out:
            out.append(tag)
    return tuple(out)


def from_uri(uri: str, tags: list[str], image_id: str = "", *, what: str = "--image-uri"
             ) -> PushedImage:
    """``REGISTRY/REPO@sha256:HEX`` (a tag before the digest is refused: the digest decides)."""
    name, at, digest = uri.strip().partition("@")
    if not at:
        raise UsageError(f"{what} {uri!r} has no digest: pass REGISTRY/REPOSITORY@sha256:DIGEST "
                         "as written by scangate push")
    if ":" in name.rsplit("/", 1)[-1]:
        raise UsageError(f"{what} {uri!r}: give the digest only, not NAME:TAG@DIGEST (tags go "
                         "in --tag)")
    return PushedImage(
        repository=parse_repository(name, what),
        digest=_check_digest(digest, what),
        tags=_check_tags(tags, "--tag"),
        image_id=_check_digest(image_id, "--image-id") if image_id else "",
        source=what,
    )


def _field(doc: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in doc:
            return doc[name]
    return None


def load_push_result(path: str) -> PushedImage:
    """The JSON ``scangate push --output`` writes: image-uri, image-digest, tags, image-id."""
    try:
        with open(path, "rb") as handle:
            doc = orjson.loads(handle.read())
    except FileNotFoundError:
        raise UsageError(f"{path}: push result not found (written by scangate push --output)"
                         ) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the push result: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{path}: push result is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: push result is not a JSON object")
    uri = _field(doc, "image-uri", "image_uri")
    if not isinstance(uri, str):
        raise UsageError(f"{path}: push result has no image-uri (REGISTRY/REPO@sha256:...)")
    tags = _field(doc, "tags") or []
    if not isinstance(tags, list):
        raise UsageError(f"{path}: push result tags is not a list")
    image_id = _field(doc, "image-id", "image_id") or ""
    if not isinstance(image_id, str):
        raise UsageError(f"{path}: push result image-id is not a string")
    image = from_uri(uri, tags, image_id, what=f"{path}: image-uri")
    digest = _field(doc, "image-digest", "image_digest")
    if digest is not None and digest != image.digest:
        raise UsageError(f"{path}: image-digest {digest!r} is not the digest of image-uri "
                         f"{uri!r}: the push result is inconsistent")
    pushed_at = _field(doc, "pushed-at", "pushed_at")
    return PushedImage(repository=image.repository, digest=image.digest, tags=image.tags,
                       image_id=image.image_id,
                       pushed_at=pushed_at if isinstance(pushed_at, str) else "", source=path)
