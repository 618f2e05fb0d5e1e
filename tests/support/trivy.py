"""The real Trivy binary (from requirements/tools-hashed.txt), run offline for tests.

Trivy reads only the DB that tools.trivydb builds from the project's own advisory fixtures into
`.tools/trivy-cache` (or any cache dir given); it never downloads anything. TRIVY_* variables of
the caller's environment are dropped so a developer's settings cannot change test results.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.trivydb import DEFAULT_CACHE_DIR, build_db, load_fixtures, offline_args
from tools.trivydb.bbolt import write_bolt

CACHE_DIR = DEFAULT_CACHE_DIR  # <repo>/.tools/trivy-cache


class TrivyError(RuntimeError):
    pass


def trivy_binary() -> str:
    """The venv's trivy (beside this Python), else one on PATH."""
    beside = Path(sys.executable).with_name("trivy")
    if beside.exists():
        return str(beside)
    found = shutil.which("trivy")
    if not found:
        raise TrivyError("trivy not found: run `make setup` (requirements/tools-hashed.txt)")
    return found


def ensure_db(cache_dir: Path = CACHE_DIR) -> Path:
    """Build (or reuse) the offline DB in cache_dir; return cache_dir."""
    build_db(cache_dir)
    return cache_dir


def db_digest(cache_dir: Path = CACHE_DIR) -> str:
    """`sha256:<hex>` of the offline DB in cache_dir (build it first with ensure_db): what a
    test passes to `scangate scan --db-digest`, computed here, never written into a test."""
    digest = hashlib.sha256()
    with (Path(cache_dir) / "db" / "trivy.db").open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def write_tampered_db(cache_dir: Path, removed: str) -> Path:
    """The attack on a CI cache: the project's DB with the advisory `removed` taken out of every
    pip bucket and NextUpdate in 2099 (Trivy then trusts it, online or offline), written as
    cache_dir/db; return cache_dir."""
    tree = load_fixtures()
    for bucket, packages in tree.items():
        if bucket.startswith(b"pip::"):
            for advisories in packages.values():
                advisories.pop(removed.encode(), None)
    (cache_dir / "db").mkdir(parents=True, exist_ok=True)
    write_bolt(cache_dir / "db" / "trivy.db", tree)
    (cache_dir / "db" / "metadata.json").write_text(json.dumps({
        "Version": 2, "NextUpdate": "2099-12-31T00:00:00Z",
        "UpdatedAt": "2026-01-01T00:00:00Z", "DownloadedAt": "2026-01-01T00:00:00Z"}))
    return cache_dir


def run_trivy(
    subcommand: str,
    *args: str | Path,
    cache_dir: Path = CACHE_DIR,
    timeout: float = 600,
) -> dict[str, Any]:
    """`trivy SUBCOMMAND <offline flags> --format json ARGS`; return the parsed report.

    ARGS are flags and the target as Trivy takes them: `("fs", path)`, `("image", "--input",
    tar)`. Vulnerability scanning only unless ARGS name --scanners. A non-zero exit (unless ARGS
    ask for --exit-code) raises TrivyError with Trivy's stderr.
    """
    extra = [str(a) for a in args]
    cmd = [trivy_binary(), subcommand, *offline_args(cache_dir), "--quiet", "--format", "json"]
    if not any(a.startswith("--scanners") for a in extra):
        cmd += ["--scanners", "vuln"]
    cmd += extra
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIVY_")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0 and not any(a.startswith("--exit-code") for a in extra):
        raise TrivyError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise TrivyError(f"trivy printed no JSON report ({exc}):\n{proc.stderr[-3000:]}") from exc
    return report


def vulnerabilities(report: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every vulnerability of every result, each with its result's Target and Type added."""
    for result in report.get("Results") or []:
        for vuln in result.get("Vulnerabilities") or []:
            yield {**vuln, "Target": result.get("Target"), "Type": result.get("Type")}
