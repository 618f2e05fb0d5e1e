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

from dataclasses import dataclass, field
from typing import Any

import orjson

from scangate.errors import UsageError
from scangate.registry.reference import Repository, check_digest, check_tags, parse_repository

MAX_TAGS = 50  # ASFF AwsEcrContainerImageDetails.ImageTags


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
        digest=check_digest(digest, what),
        tags=check_tags(tags),
        image_id=check_digest(image_id, "--image-id") if image_id else "",
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
    image = from_uri(uri, list(check_tags(tags, f"{path}: tag")), image_id,
                     what=f"{path}: image-uri")
    digest = _field(doc, "image-digest", "image_digest")
    if digest is not None and digest != image.digest:
        raise UsageError(f"{path}: image-digest {digest!r} is not the digest of image-uri "
                         f"{uri!r}: the push result is inconsistent")
    pushed_at = _field(doc, "pushed-at", "pushed_at")
    return PushedImage(repository=image.repository, digest=image.digest, tags=image.tags,
                       image_id=image.image_id,
                       pushed_at=pushed_at if isinstance(pushed_at, str) else "", source=path)
