"""The vulnerability DB a scan uses is verified and named in the decision (issue 21 §2).

The attacker writes the CI cache: a DB with CVE-2020-14343 (PyYAML 5.3.1, CRITICAL) removed and
``NextUpdate`` in 2099 (Trivy then trusts it, online or offline, and reports nothing). Real Trivy
binary, offline; the genuine DB is the project's own (tools/trivydb).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from scangate import trivy_db
from scangate._cli import main
from scangate.trivy_json import DB_RECORD_KEY

from tests.support.trivy import trivy_binary
from tools.trivydb import load_fixtures
from tools.trivydb.bbolt import write_bolt

CRITICAL = "CVE-2020-14343"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "requirements.txt").write_text("PyYAML==5.3.1\n")
    return root


def _copy_cache(source: Path, target: Path) -> Path:
    (target / "db").mkdir(parents=True)
    for name in ("trivy.db", "metadata.json"):
        shutil.copyfile(source / "db" / name, target / "db" / name)
    return target


@pytest.fixture()
def genuine(trivy_cache_dir: Path, tmp_path: Path) -> Path:
    return _copy_cache(trivy_cache_dir, tmp_path / "genuine")


@pytest.fixture()
def tampered(tmp_path: Path) -> Path:
    """The project's DB without the PyYAML advisory, fresh until 2099."""
    tree = load_fixtures()
    for bucket, packages in tree.items():
        if bucket.startswith(b"pip::"):
            packages[b"pyyaml"].pop(CRITICAL.encode())
    cache = tmp_path / "tampered"
    (cache / "db").mkdir(parents=True)
    write_bolt(cache / "db" / "trivy.db", tree)
    (cache / "db" / "metadata.json").write_text(json.dumps({
        "Version": 2, "NextUpdate": "2099-12-31T00:00:00Z",
        "UpdatedAt": "2026-01-01T00:00:00Z", "DownloadedAt": "2026-01-01T00:00:00Z"}))
    return cache


def _scan(project: Path, cache: Path, output: Path, *extra: str) -> int:
    return main(["scan", "--fs", str(project), "--output", str(output), "--cache-dir",
                 str(cache), "--offline-scan", "--trivy", trivy_binary(), "--scanners", "vuln",
                 *extra])


def _ids(report: Path) -> set[str]:
    data = json.loads(report.read_text())
    return {v["VulnerabilityID"] for r in data.get("Results") or []
            for v in r.get("Vulnerabilities") or []}


def test_a_tampered_cached_db_hides_a_critical_unless_pinned(
    project: Path, genuine: Path, tampered: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "r.json"
    pin = trivy_db.db_digest(str(genuine))
    # Control: the genuine DB finds it; the tampered one, unpinned, does not (the attack).
    assert _scan(project, genuine, out, "--skip-db-update") == 0
    assert CRITICAL in _ids(out)
    assert _scan(project, tampered, out, "--skip-db-update") == 0
    assert CRITICAL not in _ids(out)
    record = json.loads(out.read_text())["Metadata"][DB_RECORD_KEY]
    assert record["VerifiedBy"] == "none"
    assert "not verified" in capsys.readouterr().err
    # Pinned: the tampered DB is refused in one line, and no report is left.
    assert _scan(project, tampered, out, "--skip-db-update", "--db-digest", pin) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"--db-digest pins {pin}" in err and "trivy.db" in err
    assert not out.exists()
    # Pinned and genuine (bare hex accepted too): scanned; no --skip-db-update needed.
    assert _scan(project, genuine, out, "--db-digest", pin.removeprefix("sha256:")) == 0
    assert CRITICAL in _ids(out)


def test_the_summary_names_the_db_the_decision_was_made_with(
    project: Path, genuine: Path, tmp_path: Path,
) -> None:
    out, summary = tmp_path / "r.json", tmp_path / "summary.json"
    pin = trivy_db.db_digest(str(genuine))
    assert _scan(project, genuine, out, "--db-digest", pin) == 0
    meta = json.loads((genuine / "db" / "metadata.json").read_text())
    assert main(["gate", "--report", str(out), "--json-summary", str(summary)]) == 1
    (entry,) = json.loads(summary.read_text())["reports"]
    db: dict[str, Any] = entry["vulnerability_db"]
    assert db["Digest"] == pin and db["VerifiedBy"] == "pin"
    assert db["UpdatedAt"] == meta["UpdatedAt"] and db["NextUpdate"] == meta["NextUpdate"]
    assert db["Repository"] == list(trivy_db.TRIVY_DEFAULT_REPOSITORIES)
    # Trivy's own report fields are kept byte for byte around the added record.
    assert json.loads(out.read_text())["Results"][0]["Target"] == "requirements.txt"


def test_fresh_db_never_scans_with_the_cached_one(
    project: Path, tampered: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """--fresh-db drops the cached DB: offline (no repository answers) the scan fails closed
    instead of passing on the tampered DB it found in the cache."""
    out = tmp_path / "r.json"
    code = _scan(project, tampered, out, "--fresh-db", "--db-repository",
                 "127.0.0.1:9/nothing/trivy-db:2", "--timeout", "60s")
    assert code == 2 and not out.exists()
    assert not (tampered / "db" / "trivy.db").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_a_db_not_downloaded_by_this_run_is_refused(tampered: Path) -> None:
    from datetime import UTC, datetime

    from scangate.errors import ScanError

    with pytest.raises(ScanError, match="did not download"):
        trivy_db.check_fresh_download(str(tampered), datetime.now(UTC))
    trivy_db.check_fresh_download(str(tampered), datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("record", [
    [], {"Digest": 1}, {"Digest": "x", "Extra": "y"}, {"Repository": "r"}, {"Repository": [1]},
])
def test_an_odd_db_record_in_a_report_is_refused(tmp_path: Path, record: object,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"SchemaVersion": 2, "ArtifactName": "x", "ArtifactType":
                                  "filesystem", "Metadata": {DB_RECORD_KEY: record},
                                  "Results": []}))
    assert main(["gate", "--report", str(report)]) == 2
    assert DB_RECORD_KEY in capsys.readouterr().err


def test_db_digest_and_fresh_db_are_checked_on_the_command_line(
    project: Path, genuine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as exc:
        _scan(project, genuine, out, "--db-digest", "md5:abc")
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        _scan(project, genuine, out, "--db-digest", "sha256:" + "0" * 64, "--fresh-db")
    assert _scan(project, genuine, out, "--fresh-db", "--skip-db-update") == 2
    assert "--fresh-db" in capsys.readouterr().err
