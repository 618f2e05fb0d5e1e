"""Vendor VEX documents for ``scangate scan --vex``, named so the report says which one
suppressed what.

Trivy records a VEX suppression with the path it was given as ``Source``. Each document is copied
into Trivy's (otherwise empty) working directory as ``vex-sha256-<digest>.json`` and passed by
that name, so every suppressed finding in the report names the exact bytes of the document
behind it; a policy accepts a document by that digest (``accepted_vex``), never by a file name
anyone can reuse for other content.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from scangate.errors import UsageError

# A VEX document is a few KB to a few MB; this stops a mistaken path (an image archive) early.
MAX_VEX_BYTES = 32 * 1024 * 1024
SOURCE = re.compile(r"vex-sha256-(?P<digest>[0-9a-f]{64})\.json")


def stage(paths: list[str], workdir: Path) -> list[tuple[str, str, str]]:
    """Copy each document into ``workdir``; return (path given, name to pass to Trivy, sha256)
    for each distinct document."""
    staged: list[tuple[str, str, str]] = []
    digests: set[str] = set()
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_VEX_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"{path}: --vex: cannot read the VEX document: "
                             f"{exc.strerror or exc}") from None
        if len(data) > MAX_VEX_BYTES:
            raise UsageError(f"{path}: --vex: larger than {MAX_VEX_BYTES} bytes: not a VEX "
                             "document")
        if not data.strip():
            raise UsageError(f"{path}: --vex: the VEX document is empty")
        digest = hashlib.sha256(data).hexdigest()
        if digest in digests:
            continue  # the same document twice says nothing more
        name = f"vex-sha256-{digest}.json"
        Path(workdir, name).write_bytes(data)
        staged.append((path, name, digest))
        digests.add(digest)
    return staged


def source_digest(source: str) -> str | None:
    """The document digest a report's suppression ``Source`` names, if it is one of ours."""
    match = SOURCE.fullmatch(source.strip())
    return match.group("digest") if match else None
