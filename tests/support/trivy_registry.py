"""Serve an offline Trivy DB from the local registry, as Trivy's DB repositories serve theirs.

`scangate scan --fresh-db` drops the cached DB so that Trivy downloads the one its repository
serves now; offline, no public repository answers. Pushed here as the same OCI artifact
(one layer `db.tar.gz` of media type `application/vnd.aquasec.trivy.db.layer.v1.tar+gzip`,
holding `trivy.db` and `metadata.json`, as Trivy's pkg/db/db.go reads it), the DB can be
downloaded by the real Trivy from the registry on 127.0.0.1 (plain HTTP on a loopback address,
as go-containerregistry allows).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from scangate.registry.client import RegistryClient
from scangate.registry.reference import Repository

DB_LAYER = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
DB_CONFIG = "application/vnd.aquasec.trivy.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _db_archive(cache_dir: Path) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name in ("trivy.db", "metadata.json"):
            tar.add(cache_dir / "db" / name, arcname=name)
    return gzip.compress(raw.getvalue(), mtime=0)


def _descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
            "size": len(data)}


def serve_db(cache_dir: Path, registry: str, path: str, tag: str = "2") -> str:
    """Push cache_dir's DB as `registry/path:tag`; return that reference (a --db-repository)."""
    layer, config = _db_archive(cache_dir), b"{}"
    client = RegistryClient(Repository(registry, path))
    try:
        for data in (config, layer):
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            if not client.blob_exists(digest):
                client.upload_blob(digest, data)
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": _descriptor(DB_CONFIG, config),
            "layers": [{**_descriptor(DB_LAYER, layer),
                        "annotations": {"org.opencontainers.image.title": "db.tar.gz"}}],
        }  # fmt: skip
        client.put_manifest(tag, json.dumps(manifest).encode(), OCI_MANIFEST)
    finally:
        client.close()
    return f"{registry}/{path}:{tag}"
