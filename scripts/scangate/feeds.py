"""The risk feeds a policy can rule on: CISA's Known Exploited Vulnerabilities catalog (JSON)
and FIRST's EPSS scores (CSV, optionally gzipped), read strictly.

A feed is attacker-reachable input (a poisoned pipeline cache, a truncated download, a stale
mirror): a feed that does not parse in full, whose counts disagree, that repeats a CVE, that is
dated in the future or older than the policy allows is an error (exit 2), never an empty or
partial feed that would let an exploited vulnerability through.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import zlib
from dataclasses import dataclass, field

import orjson

from scangate.errors import FeedError
from scangate.input_files import InputFileError, InputFileNotFound, read_input

# The published files are about 1.5 MB (KEV) and 10 MB (EPSS, uncompressed): these bounds stop a
# poisoned cache from exhausting memory without ever refusing a real feed.
MAX_FEED_BYTES = 64 * 1024 * 1024
MAX_EPSS_BYTES = 512 * 1024 * 1024

CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# "#model_version:v2025.03.14,score_date:2025-03-20T12:55:00Z" (the CSV's first line).
_EPSS_META = re.compile(r"#model_version:(?P<model>[^,\s]+),score_date:(?P<date>\S+)")
_EPSS_HEADER = "cve,epss,percentile"
# A feed dated later than this is not one that was published (clock skew allowed).
_FUTURE_SLACK = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class KevEntry:
    cve: str
    date_added: str
    due_date: str
    # knownRansomwareCampaignUse: "Known" or "Unknown".
    ransomware: str

    @property
    def ransomware_known(self) -> bool:
        return self.ransomware == "Known"


@dataclass(frozen=True, slots=True)
class KevCatalog:
    source: str
    version: str
    released: dt.datetime
    entries: dict[str, KevEntry] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EpssScore:
    score: float
    percentile: float


@dataclass(frozen=True, slots=True)
class EpssFeed:
    source: str
    model_version: str
    score_date: dt.datetime
    scores: dict[str, EpssScore] = field(default_factory=dict)


def _timestamp(value: object, what: str) -> dt.datetime:
    if not isinstance(value, str) or not value.strip():
        raise FeedError(f"{what} is missing or not text")
    try:
        stamp = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise FeedError(f"{what}: {value[:40]!r} is not an ISO 8601 date-time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)  # both feeds publish UTC
    return stamp.astimezone(dt.UTC)


def _read(path: str, what: str, limit: int = MAX_FEED_BYTES) -> bytes:
    try:
        # The shared bounded reader: a FIFO or a device named as a feed cannot hang the gate.
        data = read_input(path, limit)
    except InputFileNotFound:
        raise FeedError(f"{path}: {what} not found (run `scangate feeds fetch`, or pass "
                        "the file you downloaded)") from None
    except InputFileError as exc:
        raise FeedError(f"{path}: cannot read the {what}: {exc} (not a published feed)") from None
    if not data:
        raise FeedError(f"{path}: the {what} is empty")
    return data


def parse_kev(data: bytes, source: str) -> KevCatalog:
    """CISA's catalog as published: catalogVersion, dateReleased, count, vulnerabilities[]."""
    where = f"{source}: not a KEV catalog:"
    try:
        # orjson, not json: a lone surrogate ("\udc80") is refused here, as in reports,
        # instead of crashing the JSON writers the catalog's strings reach (summary.json).
        doc = orjson.loads(data)
    except (ValueError, RecursionError) as exc:
        raise FeedError(f"{where} not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise FeedError(f"{where} top level is {type(doc).__name__}, not an object")
    version = doc.get("catalogVersion")
    if not isinstance(version, str) or not version.strip():
        raise FeedError(f"{where} catalogVersion is missing")
    released = _timestamp(doc.get("dateReleased"), f"{where} dateReleased")
    items = doc.get("vulnerabilities")
    if not isinstance(items, list) or not items:
        raise FeedError(f"{where} vulnerabilities is missing, empty or not a list")
    count = doc.get("count")
    # The count is the only check the catalog carries against a truncated or edited copy.
    if isinstance(count, bool) or not isinstance(count, int) or count != len(items):
        raise FeedError(f"{where} count is {count!r} but it lists {len(items)} vulnerabilities "
                        "(truncated or edited: fetch it again)")
    entries: dict[str, KevEntry] = {}
    for number, item in enumerate(items):
        at = f"{where} vulnerabilities[{number}]"
        if not isinstance(item, dict):
            raise FeedError(f"{at} is not an object")
        cve = item.get("cveID")
        if not isinstance(cve, str) or not CVE_ID.fullmatch(cve):
            raise FeedError(f"{at}.cveID {str(cve)[:40]!r} is not a CVE id")
        fields: dict[str, str] = {}
        for key in ("dateAdded", "dueDate"):
            value = item.get(key)
            if not isinstance(value, str) or not _DATE.fullmatch(value):
                raise FeedError(f"{at}.{key} {str(value)[:40]!r} is not a date (YYYY-MM-DD)")
            fields[key] = value
        ransomware = item.get("knownRansomwareCampaignUse")
        if ransomware not in ("Known", "Unknown"):
            raise FeedError(f"{at}.knownRansomwareCampaignUse {str(ransomware)[:40]!r} is not "
                            "'Known' or 'Unknown'")
        if cve in entries:
            raise FeedError(f"{at}: {cve} is listed twice (not the published catalog)")
        entries[cve] = KevEntry(cve, fields["dateAdded"], fields["dueDate"], str(ransomware))
    return KevCatalog(source, version.strip(), released, entries)


def _unit_interval(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FeedError(f"{what} {text[:40]!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan and inf
        raise FeedError(f"{what} {text[:40]!r} is not between 0 and 1")
    return value


def _decompressed(data: bytes, source: str) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out = decompressor.decompress(data, MAX_EPSS_BYTES + 1)
        if len(out) > MAX_EPSS_BYTES:
            raise FeedError(f"{source}: the EPSS file unpacks to more than {MAX_EPSS_BYTES} "
                            "bytes: not a published feed")
        if not decompressor.eof:
            raise FeedError(f"{source}: the gzipped EPSS file is truncated (fetch it again)")
    except (zlib.error, gzip.BadGzipFile, EOFError) as exc:
        raise FeedError(f"{source}: the gzipped EPSS file is corrupt ({exc})") from None
    return out


def parse_epss(data: bytes, source: str) -> EpssFeed:
    """FIRST's daily CSV as published: ``#model_version:..,score_date:..``, then
    ``cve,epss,percentile``, then one row per CVE. Plain or gzipped."""
    text_bytes = _decompressed(data, source)
    where = f"{source}: not an EPSS file:"
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise FeedError(f"{where} not UTF-8 text") from None
    if not text.endswith("\n"):
        # Every published file ends its last row with a newline; a cut one may still parse.
        raise FeedError(f"{where} its last line is incomplete (truncated: fetch it again)")
    lines = text.split("\n")
    lines.pop()  # the empty string after the final newline
    meta = _EPSS_META.fullmatch(lines[0].strip()) if lines else None
    if meta is None:
        raise FeedError(f"{where} line 1 is not '#model_version:...,score_date:...'")
    score_date = _timestamp(meta.group("date"), f"{where} line 1 score_date")
    if len(lines) < 2 or lines[1].strip() != _EPSS_HEADER:
        raise FeedError(f"{where} line 2 is not {_EPSS_HEADER!r}")
    if len(lines) < 3:
        raise FeedError(f"{where} it scores no CVE")
    scores: dict[str, EpssScore] = {}
    for number, line in enumerate(lines[2:], start=3):
        parts = line.strip().split(",")
        if len(parts) != 3 or not CVE_ID.fullmatch(parts[0]):
            raise FeedError(f"{where} line {number} is not 'CVE-YYYY-NNNN,score,percentile'")
        if parts[0] in scores:
            raise FeedError(f"{where} line {number}: {parts[0]} is scored twice")
        scores[parts[0]] = EpssScore(
            _unit_interval(parts[1], f"{where} line {number} epss"),
            _unit_interval(parts[2], f"{where} line {number} percentile"))
    return EpssFeed(source, meta.group("model"), score_date, scores)


def load_kev(path: str) -> KevCatalog:
    return parse_kev(_read(path, "KEV catalog"), path)


def load_epss(path: str) -> EpssFeed:
    return parse_epss(_read(path, "EPSS file"), path)


def check_age(what: str, source: str, published: dt.datetime, max_age_days: int,
              now: dt.datetime) -> None:
    """Refuse a feed older than the policy allows, or dated in the future."""
    if published > now + _FUTURE_SLACK:
        raise FeedError(f"{source}: the {what} is dated {published.isoformat()}, in the future: "
                        "not a published feed (check the file, or this machine's clock)")
    age = now - published
    if age > dt.timedelta(days=max_age_days):
        raise FeedError(f"{source}: the {what} is from {published.date().isoformat()}, "
                        f"{age.days} days old; the policy allows {max_age_days}: run "
                        "`scangate feeds fetch` (or pass a newer file)")


# The names `scangate feeds fetch` gives the feeds in its directory (the publishers' own).
KEV_FILE = "known_exploited_vulnerabilities.json"
EPSS_FILE = "epss_scores-current.csv.gz"
