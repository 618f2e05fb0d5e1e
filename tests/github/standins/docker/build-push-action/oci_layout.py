"""Rewrite a legacy `docker save` tarball as the OCI layout Buildx and Docker 25+ write.

Test double support (act): this engine (Docker 20.10) writes `<id>/layer.tar`, `<id>.json` and
manifest.json; Buildx `type=docker` and Docker 25+ `docker save` write an OCI image layout
(`oci-layout`, `index.json`, `blobs/sha256/<hex>` for config, layers and manifest) plus a
manifest.json whose Config and Layers point into blobs/. The build stand-in converts, so every
later step (Trivy, the digest checks, scangate push) reads the format real runners produce.
Layers stay uncompressed tars (media type `application/vnd.oci.image.layer.v1.tar`), as in
Docker 25's `docker save`; the config bytes, hence the image ID, are unchanged.

Usage: python oci_layout.py LEGACY.tar OUT.tar REPO:TAG
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile


def _add(out: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    out.addfile(info, io.BytesIO(data))


def convert(source: str, dest: str, ref: str) -> str:
    with tarfile.open(source) as legacy:
        (entry,) = json.load(legacy.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = legacy.extractfile(entry["Config"]).read()  # type: ignore[union-attr]
        layers = [legacy.extractfile(name).read() for name in entry["Layers"]]  # type: ignore[union-attr]
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    config_digest = blob(config)
    layer_digests = [blob(layer) for layer in layers]
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": f"sha256:{config_digest}", "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{d}", "size": len(blobs[d])} for d in layer_digests],
    }, separators=(",", ":")).encode()  # fmt: skip
    manifest_digest = blob(manifest)
    tag = ref.rsplit(":", 1)[-1]
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": f"sha256:{manifest_digest}", "size": len(manifest),
                       "annotations": {"io.containerd.image.name": ref,
                                       "org.opencontainers.image.ref.name": tag}}],
    }, separators=(",", ":")).encode()  # fmt: skip
    docker_manifest = json.dumps([{
        "Config": f"blobs/sha256/{config_digest}",
        "RepoTags": [ref],
        "Layers": [f"blobs/sha256/{d}" for d in layer_digests],
    }]).encode()  # fmt: skip
    with tarfile.open(dest, "w") as out:
        _add(out, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest, data in blobs.items():
            _add(out, f"blobs/sha256/{digest}", data)
        _add(out, "index.json", index)
        _add(out, "manifest.json", docker_manifest)
    return f"sha256:{config_digest}"


if __name__ == "__main__":
    print(convert(sys.argv[1], sys.argv[2], sys.argv[3]))
