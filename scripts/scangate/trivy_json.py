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
import functools
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


class StrictVulnerability(TrivyVulnerability, gc=False, forbid_unknown_fields=True):
    """The same row, refusing any key that is not one of Trivy's (see :func:`go_fold`): the
    fast way to notice a key Trivy would read under another spelling. Fields scangate does not
    use are kept as raw bytes, never decoded."""

    VendorIDs: msgspec.Raw = msgspec.Raw()
    Layer: msgspec.Raw = msgspec.Raw()
    PkgRef: msgspec.Raw = msgspec.Raw()
    Ref: msgspec.Raw = msgspec.Raw()
    Fingerprint: msgspec.Raw = msgspec.Raw()
    Custom: msgspec.Raw = msgspec.Raw()
    CweIDs: msgspec.Raw = msgspec.Raw()
    VendorSeverity: msgspec.Raw = msgspec.Raw()


class TrivyResult(msgspec.Struct, gc=False):
    Target: Any = None
    Class: Any = None
    Type: Any = None
    Vulnerabilities: list[msgspec.Raw] | None = None
    # Few and small: read as plain objects and checked in report.py.
    Secrets: Any = None
    Misconfigurations: Any = None
    # Findings Trivy suppressed (.trivyignore, VEX, ignore policy) and shows with
    # --show-suppressed: {Type, Status, Statement, Source, Finding}. Counted like the others.
    ExperimentalModifiedFindings: Any = None


class StrictResult(TrivyResult, gc=False, forbid_unknown_fields=True):
    Packages: msgspec.Raw = msgspec.Raw()
    MisconfSummary: msgspec.Raw = msgspec.Raw()
    Licenses: msgspec.Raw = msgspec.Raw()
    CustomResources: msgspec.Raw = msgspec.Raw()


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


class StrictHead(_HeadFields, gc=False, forbid_unknown_fields=True):
    ReportID: msgspec.Raw = msgspec.Raw()
    ArtifactID: msgspec.Raw = msgspec.Raw()
    Results: list[StrictResult] | None = None


class TrivyHeadOnly(_HeadFields, gc=False):
    """The head with Results unread: when Results has the wrong shape, a wrong SchemaVersion
    or a foreign file is still what gets reported first."""

    Results: msgspec.Raw = msgspec.Raw()


HEAD_DECODER = msgspec.json.Decoder(TrivyHead)
STRICT_HEAD_DECODER = msgspec.json.Decoder(StrictHead)
HEAD_ONLY_DECODER = msgspec.json.Decoder(TrivyHeadOnly)
VULNERABILITY_DECODER = msgspec.json.Decoder(TrivyVulnerability)
STRICT_VULNERABILITY_DECODER = msgspec.json.Decoder(StrictVulnerability)
KEYS_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw])
LIST_OF_KEYS_DECODER = msgspec.json.Decoder(list[dict[str, msgspec.Raw]])


# More keys than this and a report is not a newer Trivy's: the lenient path reads it, slowly.
_MAX_LEARNED_KEYS = 64


@functools.cache
def strict_vulnerability_decoder(
    learned: frozenset[str] = frozenset(),
) -> msgspec.json.Decoder[StrictVulnerability]:
    """The strict decoder, also accepting ``learned``: keys a newer Trivy writes that are not
    any of the known ones in another spelling. Learning them once per report keeps a report
    from a newer Trivy on the fast path instead of checking every row the slow way."""
    if not learned or len(learned) > _MAX_LEARNED_KEYS:
        return STRICT_VULNERABILITY_DECODER
    extra = msgspec.defstruct(
        "StrictVulnerabilityWithNewerFields",
        [(f"learned_{n}", msgspec.Raw, msgspec.field(default=msgspec.Raw(), name=key))
         for n, key in enumerate(sorted(learned))],
        bases=(StrictVulnerability,), forbid_unknown_fields=True, gc=False)
    decoder: msgspec.json.Decoder[StrictVulnerability] = msgspec.json.Decoder(extra)
    return decoder


def is_unknown_field(error: msgspec.ValidationError) -> bool:
    return str(error).startswith("Object contains unknown field")


def _fields(*structs: type[msgspec.Struct]) -> frozenset[str]:
    return frozenset(f.encode_name for struct in structs for f in msgspec.structs.fields(struct))


# The keys Trivy's Go types have at each level of the report (as far as scangate reads it).
# Go's encoding/json matches a key to a field ignoring case (with Unicode simple folding:
# "results", "RESULTS" and "Re\u017fults" all fill Results), scangate matches exactly: a key that
# folds to one of these without being it would be read by Trivy and missed by scangate.
HEAD_KEYS = _fields(StrictHead) - {"runs", "$schema", "bomFormat", "spdxVersion"}
RESULT_KEYS = _fields(StrictResult)
VULNERABILITY_KEYS = _fields(StrictVulnerability)
SECRET_KEYS = frozenset({"RuleID", "Category", "Severity", "Title", "StartLine", "EndLine",
                         "Code", "Match", "Layer", "Offset"})
MISCONFIGURATION_KEYS = frozenset({"Type", "ID", "AVDID", "Title", "Description", "Message",
                                   "Namespace", "Query", "Resolution", "Severity", "PrimaryURL",
                                   "References", "Status", "Layer", "CauseMetadata", "Traces"})
# scangate scan's record of the vulnerability DB it used (scangate.trivy_db), in Metadata.
DB_RECORD_KEY = "ScangateVulnerabilityDB"
DB_RECORD_FIELDS = frozenset({"Digest", "UpdatedAt", "NextUpdate", "DownloadedAt", "Repository",
                              "VerifiedBy"})
METADATA_KEYS = frozenset({"Size", "OS", "ImageID", "DiffIDs", "RepoTags", "RepoDigests",
                           "ImageConfig", "Layers", "Reference", DB_RECORD_KEY})
OS_KEYS = frozenset({"Family", "Name", "EOSL", "Extended"})
MODIFIED_FINDING_KEYS = frozenset({"Type", "Status", "Statement", "Source", "Finding"})
CAUSE_KEYS = frozenset({"StartLine", "EndLine"})


def go_fold(name: str) -> str:
    """A key as Go's encoding/json compares it: ASCII upper-cased, other characters replaced
    by the smallest one of their case orbit (the Kelvin sign becomes K, the long s becomes S).
    It may fold a little more than Go does (a dotless i becomes I): that refuses a report
    with a strange key, never passes one."""
    if name.isascii():
        return name.upper()
    out = []
    for char in name:
        if char.isascii():
            out.append(char.upper())
            continue
        options = [c for c in (char, char.lower(), char.upper(), char.casefold()) if len(c) == 1]
        smallest = min(options)
        out.append(smallest.upper() if smallest.isascii() else smallest)
    return "".join(out)


_FOLDED: dict[frozenset[str], dict[str, str]] = {}


def misspelled_key(keys: object, known: frozenset[str]) -> tuple[str, str] | None:
    """The first key that Go would read as one of ``known`` but is not spelled like it:
    (key, Trivy's spelling), or None."""
    folded = _FOLDED.get(known)
    if folded is None:
        folded = _FOLDED[known] = {go_fold(k): k for k in known}
    for key in keys:  # type: ignore[attr-defined]
        if isinstance(key, str) and key not in known:
            exact = folded.get(go_fold(key))
            if exact is not None:
                return key, exact
    return None

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
