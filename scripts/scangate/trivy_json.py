"""The part of Trivy's JSON report scangate reads, decoded by msgspec straight into these types.

Decoding into types skips every field scangate never reads (layers, package lists, vendor
severities, timestamps it does not show) without building a Python object for it: a large image
report decodes about twice as fast as a generic JSON parse, in well under half the memory.

Scalars are typed ``Any`` on purpose: ``report.py`` checks them itself, so a wrong type is
reported as a person would say it ("Title is int, not a string"). Containers scangate walks are
typed, so a wrong shape is caught here and explained by :func:`explain`.
"""

from __future__ import annotations

import codecs
import mmap
import re
from typing import Any

import msgspec

# What the reader decodes from: the file's bytes, or the file mapped into memory.
Buffer = bytes | mmap.mmap

# A report is decoded in passes, so that its bytes and its decoded findings are never all in
# memory at once (the reader can drop pages of the file between passes, see report.py):
# 1. the head, with each vulnerability kept as raw bytes (a fast scan that builds almost nothing);
# 2. each vulnerability on its own, into TrivyVulnerability.


class TrivyVulnerability(msgspec.Struct, gc=False):
    """One row of ``Vulnerabilities``. gc=False: decoded data holds no reference cycles."""

    VulnerabilityID: Any = None
    PkgName: Any = None
    PkgID: Any = None
    PkgPath: Any = None
    PkgIdentifier: Any = None
    InstalledVersion: Any = None
    FixedVersion: Any = None
    Status: Any = None
    Severity: Any = None
    SeveritySource: Any = None
    PrimaryURL: Any = None
    Title: Any = None
    Description: Any = None
    References: Any = None
    CVSS: Any = None
    DataSource: Any = None
    PublishedDate: Any = None
    LastModifiedDate: Any = None


class TrivyResult(msgspec.Struct, gc=False):
    Target: Any = None
    Class: Any = None
    Type: Any = None
    Vulnerabilities: list[msgspec.Raw] | None = None
    # Few and small: read as plain objects and checked in report.py.
    Secrets: Any = None
    Misconfigurations: Any = None


class _HeadFields(msgspec.Struct, gc=False):
    SchemaVersion: Any = None
    ArtifactName: Any = None
    ArtifactType: Any = None
    CreatedAt: Any = None
    Metadata: Any = None
    Trivy: Any = None
    # Present only to say what a wrong file is instead (SARIF, CycloneDX, SPDX).
    runs: msgspec.Raw = msgspec.Raw()
    schema: msgspec.Raw = msgspec.field(default=msgspec.Raw(), name="$schema")
    bomFormat: msgspec.Raw = msgspec.Raw()  # CycloneDX's name
    spdxVersion: msgspec.Raw = msgspec.Raw()  # SPDX's name


class TrivyHead(_HeadFields, gc=False):
    Results: list[TrivyResult] | None = None


class TrivyHeadOnly(_HeadFields, gc=False):
    """The head with Results unread: when Results has the wrong shape, a wrong SchemaVersion
    or a foreign file is still what gets reported first."""

    Results: msgspec.Raw = msgspec.Raw()


HEAD_DECODER = msgspec.json.Decoder(TrivyHead)
HEAD_ONLY_DECODER = msgspec.json.Decoder(TrivyHeadOnly)
VULNERABILITY_DECODER = msgspec.json.Decoder(TrivyVulnerability)

_JSON_TYPE_NAMES = {"object": "dict", "array": "list", "null": "None", "str": "str",
                    "int": "int", "float": "float", "bool": "bool"}
_VALIDATION = re.compile(r"Expected `(?P<expected>[^`]*)`, got `(?P<got>\w+)`"
                         r"(?: - at `\$(?P<path>[^`]*)`)?$")
_LAST_PART = re.compile(r"(?:\.(?P<key>[^.\[\]]+)|(?P<index>\[\d+\]))$")


def explain(error: msgspec.ValidationError, prefix: str = "") -> str:
    """A shape error in words: ``Results[0]: Vulnerabilities is dict, not a list``.

    ``prefix`` is the path of the decoded part inside the document, for a part decoded on its
    own (``Results[0].Vulnerabilities[3]``).
    """
    text = str(error)
    match = _VALIDATION.match(text)
    if not match:
        return f"{prefix}: {text}" if prefix else text
    got = _JSON_TYPE_NAMES.get(match["got"], match["got"])
    wanted = "a list" if "array" in match["expected"] else "an object"
    path = (f".{prefix}" if prefix else "") + (match["path"] or "")
    if not path:
        return f"not a Trivy report: top level is {got}, not an object"
    last = _LAST_PART.search(path)
    if last is None or last["index"]:
        return f"{path.lstrip('.')}: is {got}, not {wanted}"
    where = path[: last.start()].lstrip(".")
    return f"{where + ': ' if where else ''}{last['key']} is {got}, not {wanted}"


def first_invalid_utf8(data: Buffer, chunk: int = 1 << 16) -> int | None:
    """The offset of the first byte that is not UTF-8, or None.

    msgspec checks the strings it decodes, not the ones it skips; a file with broken bytes
    anywhere is corrupt, and a gate does not guess what the rest of it meant. Small chunks keep
    memory flat and reuse the same allocation.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(view), chunk):
        try:
            decoder.decode(view[start : start + chunk])
        except UnicodeDecodeError as exc:
            return start + exc.start
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return len(view) - 1
    return None
