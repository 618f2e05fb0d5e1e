"""Real image archives for the push tests, and the layouts and tampering derived from them.

The Docker engine here (20.10) writes the legacy docker-archive. Docker 25+ and Buildx write an
OCI image layout instead; :func:`to_oci_layout` rewrites a real legacy archive into that layout
(index.json, oci-layout, blobs/sha256/..., optionally Docker 25's manifest.json) with the same
config bytes, so the image ID is unchanged, exactly as those tools would store the same image.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support import docker as docker_support

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
# Every reader takes any level; gzip's default (9) spends seconds on a repetitive megabyte.
GZIP_LEVEL = 1


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    image_id: str
    archive: Path  # legacy docker-archive from `docker save`


def build_scratch_image(workdir: Path, name: str, nonce: str) -> BuiltImage:
    """A three-layer image FROM scratch whose files carry ``nonce`` (new layers every session)."""
    context = workdir / f"ctx-{name}"
    context.mkdir(parents=True)
    (context / "a.txt").write_text(f"first layer {nonce}\n", encoding="utf-8")
    (context / "b.txt").write_text(f"second layer {nonce}\n" * 200, encoding="utf-8")
    (context / "Dockerfile").write_text(
        # The third layer repeats the first: `docker save` stores it as a symlink to it.
        "FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /srv/b.txt\nCOPY a.txt /a.txt\n",
        encoding="utf-8",
    )
    tag = f"scangate-tests/{name}:{nonce}"
    image_id = docker_support.build_image(context, tag)
    archive = docker_support.save_image(tag, workdir / f"{name}.tar")
    return BuiltImage(tag, image_id, archive)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_members(archive: Path) -> dict[str, bytes]:
    """Every regular file of a tar (symlinked layers resolved), by name."""
    members: dict[str, bytes] = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() or member.issym():
                handle = tar.extractfile(member)
                if handle is not None:
                    members[member.name] = handle.read()
    return members


def write_tar(path: Path, members: dict[str, bytes], *, compress: bool = False) -> Path:
    raw = layer_tar(members)
    path.write_bytes(gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0) if compress else raw)
    return path


def legacy_parts(archive: Path) -> tuple[bytes, list[bytes], dict[str, bytes]]:
    """(config bytes, uncompressed layer tars, all members) of a legacy docker-archive."""
    members = read_members(archive)
    entry = json.loads(members["manifest.json"])[0]
    return members[entry["Config"]], [members[name] for name in entry["Layers"]], members


def to_oci_layout(
    legacy: Path,
    out: Path,
    *,
    gzip_layers: bool = False,
    docker_manifest: bool = False,
    nested_index: bool = False,
    compress_archive: bool = False,
    also: tuple[Path, ...] = (),
) -> Path:
    """Rewrite a legacy docker-archive as an OCI image layout tarball (same config bytes).

    ``also``: more legacy archives whose images join the same index (as Buildx writes one
    manifest per platform).
    """
    config, layers, _ = legacy_parts(legacy)
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> str:
        digest = sha256_hex(data)
        blobs[f"blobs/sha256/{digest}"] = data
        return f"sha256:{digest}"

    def manifest_for(config: bytes, layers: list[bytes]) -> tuple[dict[str, object], list[str]]:
        layer_descriptors = []
        for layer in layers:
            data = gzip.compress(layer, compresslevel=GZIP_LEVEL, mtime=0) if gzip_layers else layer
            layer_descriptors.append({"mediaType": OCI_LAYER_GZIP if gzip_layers else OCI_LAYER,
                                      "digest": add(data), "size": len(data)})
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": add(config), "size": len(config)},
            "layers": layer_descriptors,
        }).encode()
        descriptor: dict[str, object] = {
            "mediaType": OCI_MANIFEST, "digest": add(manifest), "size": len(manifest),
            "platform": {"architecture": "amd64", "os": "linux"}}
        return descriptor, [str(d["digest"]) for d in layer_descriptors]

    descriptor, layer_digests = manifest_for(config, layers)
    descriptors = [descriptor] + [manifest_for(*legacy_parts(path)[:2])[0] for path in also]
    if nested_index:  # Buildx: index.json -> image index -> manifest
        inner = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                            "manifests": descriptors}).encode()
        descriptors = [{"mediaType": OCI_INDEX, "digest": add(inner), "size": len(inner)}]
    members: dict[str, bytes] = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                  "manifests": descriptors}).encode(),
        **blobs,
    }
    if docker_manifest:  # Docker 25+ `docker save` also writes manifest.json into the blobs
        members["manifest.json"] = json.dumps([{
            "Config": f"blobs/sha256/{sha256_hex(config)}",
            "RepoTags": ["scangate-tests/oci:latest"],
            "Layers": [f"blobs/sha256/{d.removeprefix('sha256:')}" for d in layer_digests],
        }]).encode()
    return write_tar(out, members, compress=compress_archive)


def rewrite_legacy(
    legacy: Path, out: Path, change: Callable[[dict[str, bytes], dict[str, object]], None]
) -> Path:
    """Copy a legacy archive, letting ``change(members, manifest_entry)`` tamper with it."""
    members = read_members(legacy)
    entries = json.loads(members["manifest.json"])
    change(members, entries[0])
    members["manifest.json"] = json.dumps(entries).encode()
    return write_tar(out, members)


def one_layer_archive(path: Path, files: dict[str, bytes], *, tag: str = "x:1",
                      gzip_layer: bool = False, gzip_archive: bool = False) -> Path:
    """A `docker save` archive of a one-layer image holding ``files`` (what `trivy image
    --input` and `scangate scan --input` read), its layer gzipped or not, the whole archive
    gzipped or not."""
    layer = layer_tar(files)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha256_hex(layer)]},
                         "history": [{"created_by": "COPY . /app"}]}).encode()
    config_name = sha256_hex(config) + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": ["l1/layer.tar"]}]).encode()
    blob = gzip.compress(layer, compresslevel=GZIP_LEVEL, mtime=0) if gzip_layer else layer
    return write_tar(path, {config_name: config, "l1/layer.tar": blob, "manifest.json": manifest},
                     compress=gzip_archive)


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed tar of regular files (an image layer, or a whole archive's members)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
