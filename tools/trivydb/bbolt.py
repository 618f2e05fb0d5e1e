"""A minimal, write-once bbolt (BoltDB) file writer.

Trivy keeps its vulnerability DB in a bbolt file. No maintained pure-Python writer exists (the
`boltdb` package leaves the meta checksum at 0, which bbolt rejects), so this module writes the
on-disk format directly. It only ever writes a fresh file in one go, which keeps it small:

- pages 0 and 1: meta pages (bbolt picks the valid one with the higher txid), each with the
  FNV-1a 64 checksum over the meta struct's first 56 bytes;
- page 2: an empty freelist (nothing was ever freed);
- then one leaf page per bucket (or several leaves under branch pages when a bucket does not
  fit in a page; an element bigger than a page gets overflow pages), children written before
  parents. Small buckets without sub-buckets are stored inline in their parent, as bbolt does.

Layout constants mirror go.etcd.io/bbolt (page.go, bucket.go, db.go).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

MAGIC = 0xED0CDAED
VERSION = 2
PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
# magic, version, pageSize, flags, root bucket {pgid, sequence}, freelist, high-water pgid, txid
META = struct.Struct("<IIIIQQQQQ")
BRANCH_ELEMENT = struct.Struct("<IIQ")  # pos, ksize, pgid
LEAF_ELEMENT = struct.Struct("<IIII")  # flags, pos, ksize, vsize
BUCKET_HEADER = struct.Struct("<QQ")  # root pgid (0 = inline), sequence

BRANCH_PAGE, LEAF_PAGE, META_PAGE, FREELIST_PAGE = 0x01, 0x02, 0x04, 0x10
BUCKET_LEAF_FLAG = 0x01
FREELIST_PGID = 2
FIRST_DATA_PGID = 3

# A bucket: keys map to raw values (bytes) or to nested buckets.
Bucket = Mapping[bytes, Union[bytes, "Bucket"]]


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64, the hash bbolt uses for the meta page checksum (hash/fnv New64a)."""
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def meta_bytes(page_size: int, root_pgid: int, high_water: int, txid: int) -> bytes:
    """The 64-byte meta struct: 56 bytes of fields followed by their FNV-1a 64 checksum."""
    body = META.pack(MAGIC, VERSION, page_size, 0, root_pgid, 0, FREELIST_PGID, high_water, txid)
    return body + struct.pack("<Q", fnv1a64(body))


@dataclass
class _Element:
    key: bytes
    value: bytes
    flags: int = 0


class _Writer:
    def __init__(self, page_size: int, inline: bool) -> None:
        self.page_size = page_size
        self.inline = inline
        self.next_pgid = FIRST_DATA_PGID
        self.chunks: list[bytes] = []  # page-aligned images of pages FIRST_DATA_PGID..

    def _emit(self, flags: int, headers: list[bytes], payload: bytes) -> int:
        """Allocate page(s) for one node (element headers, then keys/values); return its pgid."""
        size = PAGE_HEADER.size + sum(map(len, headers)) + len(payload)
        npages = -(-size // self.page_size)  # > 1: the node spills into overflow pages
        pgid = self.next_pgid
        self.next_pgid += npages
        image = PAGE_HEADER.pack(pgid, flags, len(headers), npages - 1)
        image += b"".join(headers) + payload
        self.chunks.append(image.ljust(npages * self.page_size, b"\0"))
        return pgid

    @staticmethod
    def _leaf_image(elements: list[_Element]) -> tuple[list[bytes], bytes]:
        # pos is relative to the element header itself, so it shrinks by 16 per element.
        headers: list[bytes] = []
        data: list[bytes] = []
        offset = 0  # bytes of keys/values written so far
        for i, el in enumerate(elements):
            pos = (len(elements) - i) * LEAF_ELEMENT.size + offset
            headers.append(LEAF_ELEMENT.pack(el.flags, pos, len(el.key), len(el.value)))
            data += (el.key, el.value)
            offset += len(el.key) + len(el.value)
        return headers, b"".join(data)

    def _split(self, sizes: list[int], element_size: int) -> list[tuple[int, int]]:
        """Greedy split of consecutive elements into nodes that fit a page (if possible)."""
        groups: list[tuple[int, int]] = []
        start, used = 0, PAGE_HEADER.size
        for i, size in enumerate(sizes):
            need = element_size + size
            if i > start and used + need > self.page_size:
                groups.append((start, i))
                start, used = i, PAGE_HEADER.size
            used += need
        groups.append((start, len(sizes)))
        return groups

    def write_tree(self, elements: list[_Element]) -> int:
        """Write a bucket's sorted elements as leaves (+ branches); return the root pgid."""
        sizes = [len(el.key) + len(el.value) for el in elements]
        level: list[tuple[bytes, int]] = []  # (first key, pgid) of each node just written
        for start, end in self._split(sizes, LEAF_ELEMENT.size):
            headers, payload = self._leaf_image(elements[start:end])
            first = elements[start].key if end > start else b""
            level.append((first, self._emit(LEAF_PAGE, headers, payload)))
        while len(level) > 1:
            parents: list[tuple[bytes, int]] = []
            for start, end in self._split([len(k) for k, _ in level], BRANCH_ELEMENT.size):
                group = level[start:end]
                branch: list[bytes] = []
                keys = b""
                for i, (key, pgid) in enumerate(group):
                    pos = (len(group) - i) * BRANCH_ELEMENT.size + len(keys)
                    branch.append(BRANCH_ELEMENT.pack(pos, len(key), pgid))
                    keys += key
                parents.append((group[0][0], self._emit(BRANCH_PAGE, branch, keys)))
            level = parents
        return level[0][1]

    def bucket_value(self, bucket: Bucket) -> bytes:
        """The value stored under a bucket's key in its parent: header (+ inline page)."""
        elements: list[_Element] = []
        for key in sorted(bucket):  # bbolt pages hold keys in byte order
            value = bucket[key]
            if isinstance(value, bytes):
                elements.append(_Element(key, value))
            else:
                elements.append(_Element(key, self.bucket_value(value), BUCKET_LEAF_FLAG))
        if self.inline and all(el.flags == 0 for el in elements):
            headers, payload = self._leaf_image(elements)
            page = PAGE_HEADER.pack(0, LEAF_PAGE, len(elements), 0)
            page += b"".join(headers) + payload
            # bbolt inlines a bucket only while it stays under a quarter page (bucket.inlineable).
            if BUCKET_HEADER.size + len(page) <= self.page_size // 4:
                return BUCKET_HEADER.pack(0, 0) + page
        return BUCKET_HEADER.pack(self.write_tree(elements), 0)


def write_bolt(path: Path, root: Bucket, page_size: int = 4096, inline: bool = True) -> None:
    """Write `root` (top-level keys must all be buckets) as a new bbolt file at `path`.

    Written to a temporary file and renamed, so readers never see a half-written DB.
    """
    writer = _Writer(page_size, inline)
    root_elements = []
    for key in sorted(root):
        value = root[key]
        if isinstance(value, bytes):
            raise ValueError(f"top-level key {key!r} must be a bucket: bbolt's root holds buckets")
        root_elements.append(_Element(key, writer.bucket_value(value), BUCKET_LEAF_FLAG))
    # The root bucket itself always gets a real page: meta.root points at a page id.
    root_pgid = writer.write_tree(root_elements)
    high_water = writer.next_pgid

    def page(pgid: int, flags: int, body: bytes) -> bytes:
        return (PAGE_HEADER.pack(pgid, flags, 0, 0) + body).ljust(page_size, b"\0")

    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        for txid in (0, 1):  # like bbolt's init(): meta 0 has txid 0, meta 1 txid 1
            out.write(page(txid, META_PAGE, meta_bytes(page_size, root_pgid, high_water, txid)))
        out.write(page(FREELIST_PGID, FREELIST_PAGE, b""))
        for chunk in writer.chunks:
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
