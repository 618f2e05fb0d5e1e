"""Push the scanned image from its archive, then prove the registry serves exactly that image.

After the upload the registry is read back, never trusted: the manifest by digest must hash to
the digest and name the scanned config; every tag must resolve to the same manifest bytes; the
config blob must hash to the image ID; every layer must be present. Only then is a result
written, so a deploy step that reads push.json deploys what was scanned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scangate.registry.archive import OCI_MANIFEST, ArchiveImage, Blob, ImageArchive, image_manifest
from scangate.registry.client import RegistryClient
from scangate.registry.errors import ArchiveError, RegistryError


@dataclass(frozen=True)
class PushResult:
    repository: str
    digest: str
    tags: tuple[str, ...]
    image_id: str
    archive_sha256: str
    layers: int

    @property
    def image_uri(self) -> str:
        return f"{self.repository}@{self.digest}"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read_archive(
    path: Path, image_id: str, workdir: Path, archive_sha256: str | None
) -> tuple[ArchiveImage, list[Blob], str]:
    """The scanned image and its layers from ``path``; (image, layer blobs, archive sha256)."""
    with ImageArchive(path, workdir) as archive:
        if archive_sha256 is not None and archive.sha256 != archive_sha256.removeprefix("sha256:"):
            raise ArchiveError(
                f"--archive {path} has sha256 {archive.sha256}, not --archive-sha256 "
                f"{archive_sha256}: this is not the archive that was scanned"
            )
        image = archive.find_image(image_id)
        blobs = archive.layer_blobs(image)
        return image, blobs, archive.sha256


def push_and_verify(
    client: RegistryClient,
    image: ArchiveImage,
    blobs: list[Blob],
    tags: list[str],
    archive_sha256: str,
    log: Callable[[str], None],
) -> PushResult:
    manifest = image_manifest(image, blobs)
    digest = _sha256(manifest)
    name = client.repository.name
    client.login()

    for blob in blobs:
        if client.blob_exists(blob.digest):
            log(f"layer {blob.digest} already in {name}")
            continue
        log(f"uploading layer {blob.digest} ({blob.size} bytes)")
        client.upload_blob(blob.digest, blob.path)
    if not client.blob_exists(image.image_id):
        log(f"uploading config {image.image_id}")
        client.upload_blob(image.image_id, image.config)

    for tag in tags:
        existing = client.get_manifest(tag)
        if existing is not None and _sha256(existing[0]) == digest:
            log(f"{name}:{tag} already is {digest}")
            continue
        stored = client.put_manifest(tag, manifest, OCI_MANIFEST)
        if stored is not None and stored != digest:
            raise RegistryError(
                f"registry stored {name}:{tag} as {stored}, but the manifest pushed is {digest}"
            )
        log(f"pushed {name}:{tag} -> {digest}")

    verify(client, digest, image, blobs, tags)
    log(f"verified {name}@{digest}: config {image.image_id}, {len(blobs)} layers, "
        f"tags {', '.join(tags)}")
    return PushResult(name, digest, tuple(tags), image.image_id, archive_sha256, len(blobs))


def verify(
    client: RegistryClient, digest: str, image: ArchiveImage, blobs: list[Blob], tags: list[str]
) -> None:
    """Read the image back from the registry; raise unless it is exactly what was pushed."""
    name = client.repository.name
    by_digest = client.get_manifest(digest)
    if by_digest is None:
        raise RegistryError(f"{name}@{digest}: the registry does not serve the pushed manifest")
    body, _, header_digest = by_digest
    if _sha256(body) != digest or (header_digest is not None and header_digest != digest):
        raise RegistryError(
            f"{name}@{digest}: the registry served a manifest hashing to {_sha256(body)} "
            f"(header {header_digest}): refusing to record a digest the registry does not serve"
        )
    try:
        document = json.loads(body)
        config_digest = document["config"]["digest"]
        layer_digests = [layer["digest"] for layer in document["layers"]]
    except (ValueError, KeyError, TypeError):
        raise RegistryError(f"{name}@{digest}: the served manifest is not an image manifest"
                            ) from None
    if config_digest != image.image_id or layer_digests != [blob.digest for blob in blobs]:
        raise RegistryError(
            f"{name}@{digest}: the served manifest names config {config_digest}, not the "
            f"scanned image {image.image_id}"
        )
    for tag in tags:
        served = client.get_manifest(tag)
        served_digest = _sha256(served[0]) if served is not None else "nothing"
        if served_digest != digest:
            raise RegistryError(
                f"{name}:{tag} resolves to {served_digest}, not the pushed {digest}: another "
                "push raced this one or the tag is immutable and already taken"
            )
    config = client.get_blob(image.image_id)
    if _sha256(config) != image.image_id:
        raise RegistryError(
            f"{name}: config blob {image.image_id} as served hashes to {_sha256(config)}"
        )
    for blob in blobs:
        if not client.blob_exists(blob.digest):
            raise RegistryError(f"{name}: layer {blob.digest} is missing after the push")
