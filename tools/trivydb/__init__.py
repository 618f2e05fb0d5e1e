"""Offline Trivy vulnerability DB built from the project's own advisory fixtures.

Trivy downloads its DB on first use and these machines cannot reach it, so tests and the demo
point Trivy at a DB built here: `DIR/db/trivy.db` (bbolt) + `DIR/db/metadata.json`, in the layout
of trivy-db schema 2. The fixtures (`fixtures/*.yaml`) hold real advisories; see their headers.

    build_db(cache_dir) -> DIR/db/trivy.db    (no-op when already built from the same inputs)
    offline_args(cache_dir) -> the Trivy flags that make it use only that DB
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tools.trivydb.bbolt import write_bolt

SCHEMA_VERSION = 2  # trivy-db's db.SchemaVersion; Trivy refuses any other
FIXTURES_DIR = Path(__file__).with_name("fixtures")
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / ".tools" / "trivy-cache"
STAMP_NAME = "scangate-fixtures.sha256"  # sidecar: hash of the inputs the DB was built from
# Far future so Trivy never calls the DB stale (it would only warn with --skip-db-update).
NEXT_UPDATE = "2099-12-31T00:00:00Z"

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")  # index = trivy-db Severity
ENTRY_KEYS = {"id", "package", "advisory", "vulnerability"}


class FixtureError(ValueError):
    """A fixture file is malformed; the message names the file and entry."""


def offline_args(cache_dir: Path) -> list[str]:
    """Flags for `trivy fs|image|rootfs` that use the DB in cache_dir and never go online."""
    return [
        "--cache-dir", str(cache_dir),
        # Analyses in memory: `trivy image` otherwise locks cache_dir/fanal/fanal.db for its
        # whole run, and a parallel scan on the same cache dir fails after 5 s.
        "--cache-backend", "memory",
        "--skip-db-update",
        "--skip-java-db-update",
        "--offline-scan",
        "--skip-check-update",
        "--skip-version-check",
        "--disable-telemetry",
    ]  # fmt: skip


def _inputs_digest(fixtures_dir: Path) -> str:
    """Hash of every input of the DB: the fixtures and this package's code."""
    digest = hashlib.sha256()
    files = sorted(fixtures_dir.glob("*.yaml")) + sorted(Path(__file__).parent.glob("*.py"))
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _json(value: Any, where: str) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:  # e.g. an unquoted YAML date became a datetime
        msg = f"{where}: not JSON-serializable ({exc}); quote dates and versions"
        raise FixtureError(msg) from exc


def _check_vulnerability(vuln: Any, where: str) -> None:
    if not isinstance(vuln, dict):
        raise FixtureError(f"{where}: vulnerability must be a mapping")
    if vuln.get("Severity") not in SEVERITIES:
        raise FixtureError(f"{where}: Severity must be one of {', '.join(SEVERITIES)}")
    for source, level in (vuln.get("VendorSeverity") or {}).items():
        if not isinstance(level, int) or not 0 <= level < len(SEVERITIES):
            raise FixtureError(f"{where}: VendorSeverity.{source} must be an integer 0..4")


def _check_advisory(advisory: Any, where: str) -> None:
    if not isinstance(advisory, dict) or not advisory:
        raise FixtureError(f"{where}: advisory must be a non-empty mapping")
    status = advisory.get("Status")
    if status is not None and (not isinstance(status, int) or not 0 <= status <= 7):
        raise FixtureError(f"{where}: Status must be an integer 0..7 (trivy-db types.Status)")
    for field in ("VulnerableVersions", "PatchedVersions", "VendorIDs"):
        items = advisory.get(field, [])
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise FixtureError(f"{where}: {field} must be a list of strings (quote versions)")


def load_fixtures(fixtures_dir: Path = FIXTURES_DIR) -> dict[bytes, Any]:
    """Read fixtures/*.yaml into the bucket tree Trivy expects (values are JSON bytes)."""
    tree: dict[bytes, Any] = {b"data-source": {}, b"vulnerability": {}}
    vulnerabilities: dict[str, bytes] = {}
    referenced: set[str] = set()
    paths = sorted(fixtures_dir.glob("*.yaml"))
    if not paths:
        raise FixtureError(f"{fixtures_dir}: no *.yaml advisory fixtures")
    for path in paths:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        name = path.name
        if not isinstance(doc, dict) or not isinstance(doc.get("bucket"), str):
            raise FixtureError(f"{name}: needs a top-level `bucket:` name")
        bucket = doc["bucket"].encode()
        if bucket in tree:
            raise FixtureError(f"{name}: bucket {doc['bucket']!r} defined twice")
        tree[b"data-source"][bucket] = _json(doc.get("data-source"), f"{name}: data-source")
        packages: dict[bytes, dict[bytes, bytes]] = {}
        tree[bucket] = packages
        for i, entry in enumerate(doc.get("advisories") or []):
            where = f"{name}: advisories[{i}]"
            ok = isinstance(entry, dict) and {"id", "package"} <= set(entry) <= ENTRY_KEYS
            if not ok:
                raise FixtureError(f"{where}: needs id, package, advisory (+ vulnerability)")
            vuln_id, package = str(entry["id"]), str(entry["package"])
            where = f"{name}: {vuln_id} ({package})"
            _check_advisory(entry.get("advisory"), where)
            advisories = packages.setdefault(package.encode(), {})
            if vuln_id.encode() in advisories:
                raise FixtureError(f"{where}: duplicate advisory")
            advisories[vuln_id.encode()] = _json(entry["advisory"], where)
            referenced.add(vuln_id)
            if "vulnerability" in entry:
                _check_vulnerability(entry["vulnerability"], where)
                value = _json(entry["vulnerability"], where)
                if vulnerabilities.get(vuln_id, value) != value:
                    raise FixtureError(f"{where}: conflicting vulnerability details for {vuln_id}")
                vulnerabilities[vuln_id] = value
    missing = sorted(referenced - set(vulnerabilities))
    if missing:
        raise FixtureError(f"no `vulnerability:` details for {', '.join(missing)}")
    tree[b"vulnerability"] = {k.encode(): v for k, v in vulnerabilities.items()}
    return tree


@contextmanager
def _locked(db_dir: Path) -> Iterator[None]:
    # Tests and the demo may build into the same cache at once; one builder at a time.
    with (db_dir / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_db(cache_dir: Path, fixtures_dir: Path = FIXTURES_DIR, force: bool = False) -> Path:
    """Build `cache_dir/db/trivy.db` + `metadata.json`; return the trivy.db path.

    Skipped when the sidecar stamp says the DB was built from the same fixtures and code.
    """
    db_dir = Path(cache_dir) / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    db_path, meta_path, stamp = db_dir / "trivy.db", db_dir / "metadata.json", db_dir / STAMP_NAME
    digest = _inputs_digest(fixtures_dir)
    with _locked(db_dir):
        fresh = db_path.exists() and meta_path.exists() and stamp.exists()
        if fresh and not force and stamp.read_text().strip() == digest:
            return db_path
        stamp.unlink(missing_ok=True)  # a crash below must not leave a stale stamp behind
        write_bolt(db_path, load_fixtures(fixtures_dir))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        metadata = {
            "Version": SCHEMA_VERSION,
            "NextUpdate": NEXT_UPDATE,
            "UpdatedAt": now,
            "DownloadedAt": now,
        }
        tmp = meta_path.with_name(meta_path.name + ".tmp")
        tmp.write_text(json.dumps(metadata) + "\n")
        os.replace(tmp, meta_path)
        stamp.write_text(digest + "\n")
    return db_path
