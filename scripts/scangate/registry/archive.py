"""Read the image that was scanned out of its tarball, and prove it is that image.

Two layouts reach the push step, gzip-compressed or not:

- docker-archive (``docker save`` before Docker 25): ``manifest.json`` lists each image's config
  file and its layer tarballs.
- OCI image layout (Buildx ``type=oci``/``type=docker``, ``docker save`` since Docker 25):
  ``oci-layout``, ``index.json`` and content-addressed ``blobs/sha256/...``; Docker 25+ adds a
  ``manifest.json`` that points into the blobs.

The image ID is the sha256 of the config, and the config lists every layer's uncompressed digest
(``rootfs.diff_ids``). So the image is identified by hashing the config bytes (never by trusting
a file name or a manifest), and every layer is hashed uncompressed and checked against the
config. An archive whose config or any layer was swapped after the scan is refused.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scangate.registry.errors import ArchiveError
from scangate.registry.reference import DIGEST

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1024 * 1024
# JSON documents in an archive (manifests, index, config) are small; a huge one is an attack.
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_INDEX_DEPTH = 4
# Uncompressed layers are gzipped at zlib's fastest level: about a third of level 6's CPU
# (a 226 MB Debian layer: 2.8 s against 7.9 s) for a blob about a tenth larger (91 against
# 82 MB). Every registry accepts any level (it stores the bytes it is given, addressed by their
# sha256), and a given zlib writes the same bytes for the same layer at a fixed level, so a
# re-push finds its layers already there and the manifest digest is unchanged.
LAYER_GZIP_LEVEL = 1

INDEX_TYPES = frozenset({
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})
MANIFEST_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
})
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class ArchiveImage:
    """An image found in the archive whose config hashes to the requested image ID."""

    config: bytes
    image_id: str
    layer_members: tuple[str, ...]
    diff_ids: tuple[str, ...]
    found_by: str  # which document listed it: "manifest.json" or "index.json"


@dataclass(frozen=True)
class Blob:
    """A layer ready to upload: gzip-compressed, on disk, with its digest and size."""

    path: Path
    digest: str
    size: int
    diff_id: str
    media_type: str = OCI_LAYER_GZIP


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def normalize_sha256(text: str, flag: str) -> str:
    """``sha256:HEX`` from ``HEX`` or ``sha256:HEX`` (64 lowercase hex digits)."""
    value = text.strip().lower()
    if not value.startswith("sha256:"):
        value = "sha256:" + value
    if not DIGEST.fullmatch(value):
        raise ArchiveError(f"{flag} {text!r} is not a sha256 digest (64 hex digits)")
    return value


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


class ImageArchive:
    """An open image tarball. Use as a context manager; ``workdir`` holds temporary files."""

    def __init__(self, path: Path, workdir: Path) -> None:
        self.path = path
        self.workdir = workdir
        if not path.is_file():  # a FIFO or /dev/zero would never end; a directory is no tar
            raise ArchiveError(f"--archive {path}: not a regular file; pass the image tarball")
        try:
            with path.open("rb") as handle:
                magic = handle.read(4)
            self.sha256 = sha256_file(path)
        except OSError as exc:
            raise ArchiveError(
                f"--archive {path}: cannot read it ({exc.strerror or exc})"
            ) from None
        self.compressed = magic.startswith(GZIP_MAGIC)
        plain = path
        if self.compressed:
            plain = workdir / "archive.tar"
            try:
                with gzip.open(path, "rb") as src, plain.open("wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
            except (OSError, EOFError, zlib.error) as exc:
                raise ArchiveError(f"--archive {path}: gzip data is corrupt ({exc})") from None
        try:
            self._tar = tarfile.open(plain, "r:")  # closed in close()
        except (tarfile.TarError, OSError) as exc:
            raise ArchiveError(
                f"--archive {path}: not a tar archive ({exc}); pass the tarball `docker save` "
                "or Buildx wrote"
            ) from None
        self._members: dict[str, tarfile.TarInfo] = {}
        duplicates: set[str] = set()
        try:
            for member in self._tar.getmembers():
                name = member.name.removeprefix("./")
                if member.isdir():
                    continue
                if name in self._members:
                    duplicates.add(name)
                self._members[name] = member
        except (tarfile.TarError, OSError, EOFError) as exc:
            self._tar.close()
            raise ArchiveError(f"--archive {path}: truncated or corrupt tar ({exc})") from None
        if duplicates:
            # Readers disagree on which copy wins; the scanner may have read the other one.
            self._tar.close()
            raise ArchiveError(
                f"--archive {path}: holds several entries named {sorted(duplicates)[0]!r}; "
                "refusing an ambiguous archive"
            )

    def __enter__(self) -> ImageArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._tar.close()

    # -- reading members ------------------------------------------------------------------

    def _open(self, name: str) -> IO[bytes]:
        member = self._members.get(name.removeprefix("./"))
        if member is None:
            raise ArchiveError(f"--archive {self.path}: {name!r} is listed but missing")
        try:
            handle = self._tar.extractfile(member)
        except (tarfile.TarError, KeyError) as exc:
            raise ArchiveError(f"--archive {self.path}: cannot read {name!r} ({exc})") from None
        if handle is None:
            raise ArchiveError(f"--archive {self.path}: {name!r} is not a file")
        return handle

    def _read_small(self, name: str) -> bytes:
        with self._open(name) as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
        if len(data) > MAX_JSON_BYTES:
            raise ArchiveError(f"--archive {self.path}: {name!r} is larger than "
                               f"{MAX_JSON_BYTES} bytes, not an image document")
        return data

    def _json(self, name: str, data: bytes | None = None) -> Any:
        raw = self._read_small(name) if data is None else data
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArchiveError(f"--archive {self.path}: {name!r} is not JSON ({exc})") from None

    def _blob_member(self, digest: Any) -> str:
        if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
            raise ArchiveError(f"--archive {self.path}: descriptor digest {digest!r} is not "
                               "sha256:<64 hex>")
        return "blobs/sha256/" + digest.removeprefix("sha256:")

    # -- finding the image ----------------------------------------------------------------

    def _docker_candidates(self) -> Iterator[tuple[str, list[str], str]]:
        entries = self._json("manifest.json")
        if not isinstance(entries, list):
            raise ArchiveError(f"--archive {self.path}: manifest.json is not a list")
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            config, layers = entry.get("Config"), entry.get("Layers")
            if isinstance(config, str) and isinstance(layers, list) and all(
                isinstance(layer, str) for layer in layers
            ):
                yield config, list(layers), "manifest.json"

    def _oci_candidates(
        self, index_name: str, index_data: bytes | None, depth: int
    ) -> Iterator[tuple[str, list[str], str]]:
        index = self._json(index_name, index_data)
        if depth > MAX_INDEX_DEPTH or not isinstance(index, dict):
            return
        for descriptor in index.get("manifests") or []:
            if not isinstance(descriptor, dict):
                continue
            member = self._blob_member(descriptor.get("digest"))
            data = self._read_small(member)
            if "sha256:" + hashlib.sha256(data).hexdigest() != descriptor["digest"]:
                raise ArchiveError(f"--archive {self.path}: {member} does not hash to its "
                                   "name: the archive was modified")
            media_type = descriptor.get("mediaType")
            document = self._json(member, data)
            if not isinstance(document, dict):
                continue
            media_type = media_type or document.get("mediaType")
            if media_type in INDEX_TYPES or "manifests" in document:
                yield from self._oci_candidates(member, data, depth + 1)
            elif media_type in MANIFEST_TYPES or "layers" in document:
                config = document.get("config")
                layers = document.get("layers")
                if not isinstance(config, dict) or not isinstance(layers, list):
                    continue
                yield (
                    self._blob_member(config.get("digest")),
                    [self._blob_member(layer.get("digest") if isinstance(layer, dict) else None)
                     for layer in layers],
                    "index.json",
                )

    def image_ids(self) -> list[str]:
        """The ID (sha256 of the config) of every image manifest.json or index.json lists."""
        if "manifest.json" not in self._members and "index.json" not in self._members:
            raise ArchiveError(f"--archive {self.path}: neither manifest.json nor index.json: "
                               "not a docker-archive or OCI-layout tarball")
        candidates = list(self._docker_candidates()) if "manifest.json" in self._members else []
        if "index.json" in self._members:
            candidates += self._oci_candidates("index.json", None, 0)
        return sorted({"sha256:" + hashlib.sha256(self._read_small(config)).hexdigest()
                       for config, _, _ in candidates})

    def find_image(self, image_id: str) -> ArchiveImage:
        """The image whose config hashes to ``image_id``, from manifest.json or index.json."""
        has_docker = "manifest.json" in self._members
        has_oci = "index.json" in self._members
        if not has_docker and not has_oci:
            raise ArchiveError(
                f"--archive {self.path}: neither manifest.json nor index.json: not a "
                "docker-archive or OCI-layout tarball"
            )
        candidates: list[tuple[str, list[str], str]] = []
        if has_docker:
            candidates += self._docker_candidates()
        if has_oci:
            candidates += self._oci_candidates("index.json", None, 0)
        found: list[str] = []
        for config_member, layers, found_by in candidates:
            config = self._read_small(config_member)
            digest = "sha256:" + hashlib.sha256(config).hexdigest()
            found.append(digest)
            if digest != image_id:
                continue
            diff_ids = self._diff_ids(config, config_member)
            if len(diff_ids) != len(layers):
                raise ArchiveError(
                    f"--archive {self.path}: {found_by} lists {len(layers)} layers but the "
                    f"image config lists {len(diff_ids)}: the archive was modified"
                )
            return ArchiveImage(config, digest, tuple(layers), tuple(diff_ids), found_by)
        held = ", ".join(sorted(set(found))) or "no image"
        raise ArchiveError(
            f"--archive {self.path} holds {held}, not --image-id {image_id}: push the archive "
            "that was scanned (the image ID is the sha256 of the image config)"
        )

    def _diff_ids(self, config: bytes, name: str) -> list[str]:
        document = self._json(name, config)
        rootfs = document.get("rootfs") if isinstance(document, dict) else None
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list) or not all(
            isinstance(d, str) and DIGEST.fullmatch(d) for d in diff_ids
        ):
            raise ArchiveError(f"--archive {self.path}: the image config has no valid "
                               "rootfs.diff_ids")
        return list(diff_ids)

    # -- preparing layers ------------------------------------------------------------------

    def layer_blobs(self, image: ArchiveImage) -> list[Blob]:
        """Every layer as a gzip blob on disk, each checked against the config's diff_ids.

        gzip layers are kept as they are; uncompressed ones are compressed here (the format
        ``docker push`` uses, which every registry, ECR included, accepts). zstd is refused:
        Python's standard library cannot decompress it to check the layer.
        """
        blobs: list[Blob] = []
        for position, (member, diff_id) in enumerate(
            zip(image.layer_members, image.diff_ids, strict=True)
        ):
            target = self.workdir / f"layer-{position}.tar.gz"
            with self._open(member) as source:
                head = source.read(4)
                if head.startswith(ZSTD_MAGIC):
                    raise ArchiveError(
                        f"--archive {self.path}: layer {member} is zstd-compressed, which "
                        "scangate push cannot verify; save the image with gzip or "
                        "uncompressed layers"
                    )
                if head.startswith(GZIP_MAGIC):
                    blob_digest, size = _copy_hashing(head, source, target)
                    uncompressed = _gunzip_digest(target, member, self.path)
                else:
                    uncompressed, blob_digest, size = _gzip_hashing(head, source, target)
            if uncompressed != diff_id:
                raise ArchiveError(
                    f"--archive {self.path}: layer {position} ({member}) is {uncompressed} "
                    f"uncompressed but the image config says {diff_id}: the archive was modified "
                    "after the image was built"
                )
            blobs.append(Blob(target, blob_digest, size, diff_id))
        return blobs


def _copy_hashing(head: bytes, source: IO[bytes], target: Path) -> tuple[str, int]:
    with target.open("wb") as out:
        writer = _HashingWriter(out)
        writer.write(head)
        for chunk in iter(lambda: source.read(CHUNK), b""):
            writer.write(chunk)
    return "sha256:" + writer.hash.hexdigest(), writer.size


def _gunzip_digest(path: Path, member: str, archive: Path) -> str:
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"--archive {archive}: layer {member} is corrupt gzip ({exc})") from None
    return "sha256:" + digest.hexdigest()


def _gzip_hashing(head: bytes, source: IO[bytes], target: Path) -> tuple[str, str, int]:
    """Compress ``head`` + ``source`` into ``target``: (uncompressed digest, blob digest, size).

    mtime=0 and no file name keep the output a function of the input alone.
    """
    raw = hashlib.sha256(head)
    with target.open("wb") as out:
        writer = _HashingWriter(out)
        with gzip.GzipFile(filename="", mode="wb", fileobj=writer,
                           compresslevel=LAYER_GZIP_LEVEL, mtime=0) as compressor:
            compressor.write(head)
            for chunk in iter(lambda: source.read(CHUNK), b""):
                raw.update(chunk)
                compressor.write(chunk)
    return "sha256:" + raw.hexdigest(), "sha256:" + writer.hash.hexdigest(), writer.size


def image_manifest(image: ArchiveImage, layers: list[Blob]) -> bytes:
    """The OCI image manifest for ``image`` with ``layers`` (the bytes whose sha256 is the
    image digest)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": image.image_id, "size": len(image.config)},
        "layers": [
            {"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
            for layer in layers
        ],
    }
    return json.dumps(manifest, separators=(",", ":"), sort_keys=False).encode("utf-8")
