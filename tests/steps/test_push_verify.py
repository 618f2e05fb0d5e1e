"""`scangate.registry.push.verify()` on its own, against the real registry on 127.0.0.1:5000.

verify() is the read-back proof behind push.json: given a digest, it must raise unless the
registry serves THE SCANNED IMAGE there (its config and layers), not merely some manifest that
hashes to the digest. push_and_verify() passes the digest of the manifest it built from the
image, so its "served manifest names config ..." check cannot fail there; this file pins the
check as verify()'s own contract instead, so it cannot rot while no caller exercises it: a
digest of ANOTHER image (another config, or the same layers in another order) is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from scangate.registry.archive import ArchiveImage, Blob
from scangate.registry.client import RegistryClient
from scangate.registry.errors import RegistryError
from scangate.registry.push import push_and_verify, read_archive, verify
from scangate.registry.reference import parse_repository

from tests.steps import images
from tests.support import docker as docker_support

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def built(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        images.BuiltImage]:
    workdir = tmp_path_factory.mktemp("push-verify")
    image = images.build_scratch_image(workdir, "verify", uuid.uuid4().hex[:12])
    yield image
    docker_support.remove_image(image.tag)


def _pushed(client: RegistryClient, image: ArchiveImage, blobs: list[Blob], tag: str) -> str:
    return push_and_verify(client, image, blobs, [tag], "0" * 64, lambda _: None).digest


def test_verify_refuses_a_digest_that_serves_another_image(
    built: images.BuiltImage, registry: str, tmp_path: Path,
) -> None:
    image, blobs, _ = read_archive(built.archive, built.image_id, tmp_path, None)
    reordered = blobs[1:] + blobs[:1]
    assert [b.digest for b in reordered] != [b.digest for b in blobs]
    repository = parse_repository(f"{registry}/scangate-tests/verify-{uuid.uuid4().hex[:10]}")
    client = RegistryClient(repository)
    try:
        digest = _pushed(client, image, blobs, "scanned")
        verify(client, digest, image, blobs, ["scanned"])  # the scanned image: accepted

        # Another image in the same repository: another config (same layers) ...
        config = image.config + b"\n"
        other = dataclasses.replace(image, config=config,
                                    image_id="sha256:" + hashlib.sha256(config).hexdigest())
        other_config = _pushed(client, other, blobs, "other-config")
        # ... and the scanned config with its layers in another order.
        other_order = _pushed(client, image, reordered, "other-order")

        for wrong in (other_config, other_order):
            with pytest.raises(RegistryError, match="the served manifest names config"):
                verify(client, wrong, image, blobs, [])
    finally:
        client.close()
