"""The tag that keeps a deployed digest out of the repository's lifecycle expiry.

ECR lifecycle rules select images by tag only, and an image that matches the tagging
requirements of a rule cannot be expired by a lower-priority rule (Amazon ECR User Guide,
"Lifecycle policy evaluation rules"). The pipeline stack's first rule selects the tag prefix
PREFIX and keeps up to KEEP such images, so `scangate mark-deployed` tags each deployed digest
``PREFIX + <its 64 hex digits>`` and no other rule can expire it. One tag per digest: the
repository's tags are immutable, so a shared tag ("deployed") could name one image only.

Adding a tag is ECR's PutImage of the image's own manifest (read with BatchGetImage), which the
repository stores under the new tag without changing the digest (Amazon ECR User Guide,
"Retagging an image"). A withdrawn digest keeps its tag: removing one is BatchDeleteImage, which
deletes the image outright when the tag is its last (ECR API reference, BatchDeleteImage), and a
role that may call it may delete any image.
"""

from __future__ import annotations

from typing import Any

PREFIX = "scangate-deployed-"
KEEP = 10000  # the first lifecycle rule's countNumber (templates/aws, templates/terraform)
# BatchGetImage returns a manifest only in a media type the caller accepts.
MANIFEST_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
]


def tag_for(digest: str) -> str:
    """``scangate-deployed-<hex>``: 82 characters, within the 128 an image tag may have."""
    return PREFIX + digest.removeprefix("sha256:")


def protect(ecr: Any, repository: str, digest: str, registry_id: str | None) -> bool:
    """Tag the image; True when tagged now, False when it already was. AWS failures propagate
    (the caller words them)."""
    where: dict[str, str] = {"repositoryName": repository}
    if registry_id:
        where["registryId"] = registry_id
    found = ecr.batch_get_image(**where, imageIds=[{"imageDigest": digest}],
                                acceptedMediaTypes=MANIFEST_TYPES)
    images = found.get("images") or []
    if len(images) != 1 or not images[0].get("imageManifest"):
        failures = found.get("failures") or [{}]
        raise LookupError(f"{repository}@{digest}: {failures[0].get('failureCode', 'not found')}"
                          f" {failures[0].get('failureReason', '')}".rstrip())
    image = images[0]
    put: dict[str, Any] = {**where, "imageManifest": image["imageManifest"],
                           "imageTag": tag_for(digest), "imageDigest": digest}
    if image.get("imageManifestMediaType"):
        put["imageManifestMediaType"] = image["imageManifestMediaType"]
    try:
        ecr.put_image(**put)
    except ecr.exceptions.ImageAlreadyExistsException:
        return False
    return True
