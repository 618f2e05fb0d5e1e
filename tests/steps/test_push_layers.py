"""How `scangate push` turns the archive's layers into the blobs it uploads (no registry needed).

An uncompressed layer (what `docker save` before Docker 25 writes) is gzipped at zlib's fastest
level: a registry stores whatever gzip it is given, so the level is a trade of CPU for bytes,
and level 1 costs about a third of level 6's CPU. The blob must still be a function of the layer
alone, or a re-push would upload new blobs and name a new manifest digest for the same image.
A layer that is gzipped already is uploaded byte for byte.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import random
from pathlib import Path

from scangate.registry.push import read_archive

from tests.steps import images

# gzip's header (RFC 1952, 2.3.1): byte 3 is FLG (FNAME, FCOMMENT... set when present), bytes
# 4-7 MTIME, byte 8 XFL: 4 when "compressor used fastest algorithm", 2 for maximum compression
# (CPython's gzip writes 0 for the levels in between).
FLG, MTIME, XFL = 3, slice(4, 8), 8
XFL_FASTEST = 4


@functools.cache
def _files() -> dict[str, bytes]:
    """A layer that spans two of push's 1 MiB read chunks, compressible like real files."""
    words = [f"word{n}".encode() for n in range(5000)]
    rng = random.Random(7)
    text = b" ".join(rng.choices(words, k=200_000))
    return {"usr/share/doc/a.txt": text, "etc/b.conf": b"key = value\n" * 1000}


def _image_id(archive: Path) -> str:
    _, _, members = images.legacy_parts(archive)
    config = members[json.loads(members["manifest.json"])[0]["Config"]]
    return "sha256:" + hashlib.sha256(config).hexdigest()


def test_an_uncompressed_layer_is_gzipped_at_the_fastest_level_and_checked(
    tmp_path: Path,
) -> None:
    archive = images.one_layer_archive(tmp_path / "image.tar", _files())
    layer = images.layer_tar(_files())
    image, [blob], _ = read_archive(archive, _image_id(archive), tmp_path, None)
    data = blob.path.read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[XFL] == XFL_FASTEST
    # Nothing but the layer decides the bytes: no file name, no time.
    assert data[FLG] == 0 and data[MTIME] == bytes(4)
    assert gzip.decompress(data) == layer
    assert blob.diff_id == image.diff_ids[0] == "sha256:" + hashlib.sha256(layer).hexdigest()
    assert blob.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert blob.size == len(data) < len(layer) // 2


def test_the_same_layer_always_gives_the_same_blob(tmp_path: Path) -> None:
    """Two reads (two pushes) of the archive, and a read of the same image saved as a gzipped
    tarball under another tag, give byte-identical blobs in three work directories: nothing
    of the time, the file name or the work directory gets into the gzip stream."""
    archive = images.one_layer_archive(tmp_path / "a.tar", _files())
    other = images.one_layer_archive(tmp_path / "b.tar", _files(), tag="other:2",
                                     gzip_archive=True)
    blobs = []
    for number, path in enumerate([archive, archive, other]):
        workdir = tmp_path / f"push-{number}"
        workdir.mkdir()
        _, [blob], _ = read_archive(path, _image_id(archive), workdir, None)
        blobs.append(blob)
    assert len({blob.path for blob in blobs}) == 3
    assert len({blob.path.read_bytes() for blob in blobs}) == 1
    assert len({(blob.digest, blob.size) for blob in blobs}) == 1


def test_a_gzipped_layer_is_uploaded_as_it_is(tmp_path: Path) -> None:
    archive = images.one_layer_archive(tmp_path / "image.tar", _files(), gzip_layer=True)
    given = images.read_members(archive)["l1/layer.tar"]
    _, [blob], _ = read_archive(archive, _image_id(archive), tmp_path, None)
    assert blob.path.read_bytes() == given
    assert blob.digest == "sha256:" + hashlib.sha256(given).hexdigest()
