"""The vulnerability DB a scan used: verified before Trivy reads it, named in the report.

Trivy trusts any DB in its cache whose ``db/metadata.json`` says the next update is still to
come: a cache holding a DB with an advisory removed and ``NextUpdate`` in 2099 makes Trivy miss a
vulnerable package, online or offline, and CI caches are written by other branches and jobs. So
``scangate scan`` never takes a cached DB on trust:

- pinned (``--db-digest sha256:...``, air-gapped runners and CI caches): the sha256 of
  ``db/trivy.db`` must be the pinned one, before and after Trivy read it, and Trivy does not
  update it (a cache without a DB, as after a CI cache miss: Trivy downloads one, which must
  then be the pinned one and carry this run's download time);
- fresh (``--fresh-db``, online): the cached ``db/trivy.db`` and ``db/metadata.json`` are
  dropped so that Trivy downloads the DB its repository serves now (Trivy checks the download
  against the digest it resolved from the repository), and the DB must then carry this run's
  download time;
- neither: refused (exit 2) before Trivy runs.

The Java DB (``java-db/``, which Trivy downloads when an image holds jars it must identify by
digest) is never taken from the cache either: it is dropped before every scan, so Trivy
downloads its repository's when it needs one, and one left in the cache after the scan must
carry this run's download time. With ``--skip-db-update`` a scan that needs it fails.

Either way the DB's digest, UpdatedAt, NextUpdate, DownloadedAt and repository go into the
report's ``Metadata`` (``ScangateVulnerabilityDB``), which ``scangate gate`` copies to
summary.json: a decision names the DB it was made with.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from scangate.errors import ScanError
from scangate.trivy_json import DB_RECORD_KEY

# What Trivy 0.76 pulls when no --db-repository is given (its --db-repository default).
TRIVY_DEFAULT_REPOSITORIES = ("mirror.gcr.io/aquasec/trivy-db:2", "ghcr.io/aquasecurity/trivy-db:2")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MAX_METADATA = 64 * 1024
_CHUNK = 1 << 20
# Trivy stamps DownloadedAt with its own clock; allow the two clocks (same machine) some slack.
_CLOCK_SLACK = timedelta(minutes=5)
_TIME_FIELDS = ("UpdatedAt", "NextUpdate", "DownloadedAt")


@dataclass(frozen=True, slots=True)
class DbRecord:
    """The DB a scan used, as the report and summary.json name it."""

    digest: str | None  # sha256 of db/trivy.db (None: unverified and unreadable)
    updated_at: str | None
    next_update: str | None
    downloaded_at: str | None
    repository: tuple[str, ...]  # where it came from (the repositories Trivy may pull)
    verified_by: str  # "pin" (--db-digest) or "download" (--fresh-db)

    def as_json(self) -> dict[str, Any]:
        return {
            "Digest": self.digest,
            "UpdatedAt": self.updated_at,
            "NextUpdate": self.next_update,
            "DownloadedAt": self.downloaded_at,
            "Repository": list(self.repository),
            "VerifiedBy": self.verified_by,
        }


def parse_digest(value: str) -> str:
    """A --db-digest value: ``sha256:`` and 64 lower-case hex digits (a bare hex is accepted)."""
    text = value.strip().lower()
    if not text.startswith("sha256:"):
        text = "sha256:" + text
    if not _DIGEST.fullmatch(text):
        raise ValueError(f"{value!r} is not a sha256 digest (sha256:<64 hex digits>; "
                         "`sha256sum CACHE/db/trivy.db` prints the hex)")
    return text


def default_cache_dir(environ: Mapping[str, str]) -> str:
    """Trivy's own default cache directory (Go's os.UserCacheDir() + "/trivy")."""
    if sys.platform == "darwin":
        base = os.path.join(environ.get("HOME", ""), "Library", "Caches")
    else:
        base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME", ""), ".cache")
    if not os.path.isabs(base):
        raise ScanError("no --cache-dir and neither XDG_CACHE_HOME nor HOME is an absolute "
                        "path: pass --cache-dir DIR")
    return os.path.join(base, "trivy")


def _db_file(cache_dir: str) -> str:
    return os.path.join(cache_dir, "db", "trivy.db")


def _metadata_file(cache_dir: str) -> str:
    return os.path.join(cache_dir, "db", "metadata.json")


def db_digest(cache_dir: str) -> str:
    """sha256 of the cache's db/trivy.db (read in bounded chunks; a regular file only)."""
    path = _db_file(cache_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ScanError(f"{path}: no vulnerability DB in the cache (--cache-dir)") from None
    except OSError as exc:
        raise ScanError(f"{path}: cannot read the vulnerability DB: {exc.strerror or exc}") \
            from None
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ScanError(f"{path}: the vulnerability DB is not a regular file")
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def read_metadata(cache_dir: str) -> dict[str, str | None]:
    """UpdatedAt, NextUpdate and DownloadedAt of the cache's DB (strings as Trivy wrote them)."""
    path = _metadata_file(cache_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ScanError(f"{path}: the DB's metadata is not a regular file")
            data = handle.read(_MAX_METADATA + 1)
    except OSError as exc:
        raise ScanError(f"{path}: cannot read the DB's metadata: {exc.strerror or exc}") \
            from None
    try:
        if len(data) > _MAX_METADATA:
            raise ValueError("larger than 64 KiB")
        parsed = msgspec.json.decode(data)
        if not isinstance(parsed, dict):
            raise ValueError("not a JSON object")
    except (ValueError, msgspec.MsgspecError) as exc:
        raise ScanError(f"{path}: the DB's metadata is not Trivy's metadata.json ({exc})") \
            from None
    fields: dict[str, str | None] = {}
    for name in _TIME_FIELDS:
        value = parsed.get(name)
        fields[name] = value if isinstance(value, str) and len(value) <= 64 else None
    return fields


def forget_cached_db(cache_dir: str) -> None:
    """Drop the cache's DB so Trivy downloads the one its repository serves now."""
    for path in (_metadata_file(cache_dir), _db_file(cache_dir)):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ScanError(f"{path}: cannot drop the cached vulnerability DB (scangate never "
                            f"uses a cached DB unpinned): {exc.strerror or exc}; make the cache "
                            "writable or pin the DB with --db-digest") from None


def _java_db_files(cache_dir: str) -> tuple[str, str]:
    return (os.path.join(cache_dir, "java-db", "metadata.json"),
            os.path.join(cache_dir, "java-db", "trivy-java.db"))


def forget_cached_java_db(cache_dir: str) -> None:
    """Drop the cache's Java DB (Trivy identifies jars by it, and trusts any copy whose
    NextUpdate is ahead): Trivy downloads its repository's when an image needs it."""
    for path in _java_db_files(cache_dir):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ScanError(f"{path}: cannot drop the cached Java DB (scangate never uses a "
                            f"cached Java DB): {exc.strerror or exc}; make the cache "
                            "writable") from None


def check_java_db_fresh(cache_dir: str, started: datetime) -> None:
    """A Java DB in the cache after the scan is one Trivy downloaded during it."""
    path = _java_db_files(cache_dir)[0]
    if not os.path.lexists(path) and not os.path.lexists(_java_db_files(cache_dir)[1]):
        return  # the scan needed none
    downloaded: datetime | None = None
    try:
        with open(path, "rb") as handle:
            parsed = msgspec.json.decode(handle.read(_MAX_METADATA + 1))
        if isinstance(parsed, dict) and isinstance(parsed.get("DownloadedAt"), str):
            downloaded = _parse_time(parsed["DownloadedAt"])
    except (OSError, ValueError, msgspec.MsgspecError):
        downloaded = None
    if downloaded is None or downloaded < started - _CLOCK_SLACK:
        raise ScanError(f"{path}: Trivy did not download the Java DB during this scan: "
                        "something put a Java DB in the cache while Trivy ran; run the scan "
                        "again with nothing else writing the cache")


def check_pin(cache_dir: str, pinned: str) -> str:
    """The DB's digest, which must be ``pinned``."""
    found = db_digest(cache_dir)
    if found != pinned:
        raise ScanError(f"{_db_file(cache_dir)}: the vulnerability DB is {found}, --db-digest "
                        f"pins {pinned}: put the DB you pinned in the cache (or pin this one "
                        "after checking where it came from)")
    return found


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_fresh_download(cache_dir: str, started: datetime) -> None:
    """The DB in the cache is one Trivy downloaded during this run (not one left behind)."""
    downloaded = _parse_time(read_metadata(cache_dir)["DownloadedAt"])
    if downloaded is None or downloaded < started - _CLOCK_SLACK:
        raise ScanError(f"{_metadata_file(cache_dir)}: Trivy did not download the vulnerability "
                        "DB during this scan (DownloadedAt is older): something kept a cached DB "
                        "in place; clear the cache or pin the DB with --db-digest")


def record(cache_dir: str, repositories: tuple[str, ...], verified_by: str) -> DbRecord:
    meta = read_metadata(cache_dir)
    return DbRecord(
        digest=db_digest(cache_dir),
        updated_at=meta["UpdatedAt"],
        next_update=meta["NextUpdate"],
        downloaded_at=meta["DownloadedAt"],
        repository=repositories or TRIVY_DEFAULT_REPOSITORIES,
        verified_by=verified_by,
    )


_TOP_LEVEL = msgspec.json.Decoder(dict[str, msgspec.Raw])


def add_record(report: bytes, db: DbRecord) -> bytes:
    """The report with ``Metadata.ScangateVulnerabilityDB`` set; every other key's bytes as
    Trivy wrote them (Results is never decoded)."""
    try:
        keys = _TOP_LEVEL.decode(report)
        metadata = json.loads(bytes(keys["Metadata"])) if "Metadata" in keys else {}
    except (msgspec.MsgspecError, ValueError) as exc:
        raise ScanError(f"trivy wrote a report that is not a JSON object: {exc}") from None
    if not isinstance(metadata, dict):
        raise ScanError("trivy wrote a report whose Metadata is not an object")
    metadata[DB_RECORD_KEY] = db.as_json()
    keys["Metadata"] = msgspec.Raw(json.dumps(metadata).encode())
    parts = [json.dumps(name).encode() + b":" + bytes(raw) for name, raw in keys.items()]
    return b"{" + b",".join(parts) + b"}\n"


def now() -> datetime:
    return datetime.now(UTC)
