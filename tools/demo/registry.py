"""The local registry (distribution v2 on 127.0.0.1:5000, plain HTTP), standing in for ECR.

Read through the registry's own HTTP API, not through Docker: what is checked is what a
cluster would pull.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from tools.demo.procs import DemoError

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)


@dataclass(frozen=True)
class PushedImage:
    repository: str  # registry/repository
    tag: str
    digest: str  # sha256 of the manifest: what a deployment pins
    config_digest: str  # sha256 of the image config: the image ID

    @property
    def by_digest(self) -> str:
        return f"{self.repository}@{self.digest}"


def available(registry: str, timeout: float = 3) -> bool:
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def read_manifest(registry: str, repository: str, reference: str) -> tuple[bytes, str] | None:
    """The manifest's bytes and the registry's Docker-Content-Digest; None when absent."""
    # Always http:// built here (S310): the local registry speaks plain HTTP on loopback.
    url = f"http://{registry}/v2/{repository}/manifests/{reference}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            return resp.read(), resp.headers.get("Docker-Content-Digest", "")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise DemoError(f"registry {registry}: GET {url} answered {exc.code}") from None
    except OSError as exc:
        raise DemoError(f"registry {registry} unreachable ({exc}): run `make setup`") from None


def verify_pushed(registry: str, repository: str, tag: str, image_id: str) -> PushedImage:
    """Read the tag back; fail unless the registry holds exactly the scanned image."""
    found = read_manifest(registry, repository, tag)
    if found is None:
        raise DemoError(f"{registry}/{repository}:{tag} is missing right after the push")
    body, header_digest = found
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if header_digest and header_digest != digest:
        raise DemoError(f"registry says {header_digest} for {tag}, its bytes hash to {digest}")
    try:
        config_digest = str(json.loads(body)["config"]["digest"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DemoError(f"{registry}/{repository}:{tag}: not a single-image manifest") from exc
    if config_digest != image_id:
        raise DemoError(
            f"{registry}/{repository}:{tag} holds image {config_digest}, "
            f"but the gate passed {image_id}: refusing to call it released"
        )
    return PushedImage(f"{registry}/{repository}", tag, digest, config_digest)
