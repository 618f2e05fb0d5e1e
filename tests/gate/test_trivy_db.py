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

from tests.support.trivy import db_digest, run_trivy, trivy_binary, write_tampered_db
from tests.support.trivy_registry import serve_db

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
    return write_tampered_db(tmp_path / "tampered", CRITICAL)


def _scan(project: Path, cache: Path, output: Path, *extra: str) -> int:
    return main(["scan", "--fs", str(project), "--output", str(output), "--cache-dir",
                 str(cache), "--offline-scan", "--trivy", trivy_binary(), "--scanners", "vuln",
                 *extra])


def _trivy_ids(project: Path, cache: Path) -> set[str]:
    """What Trivy itself reports with the DB in cache (no scangate in between)."""
    report = run_trivy("fs", project, cache_dir=cache)
    return {v["VulnerabilityID"] for r in report.get("Results") or []
            for v in r.get("Vulnerabilities") or []}


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
    # The attack, with Trivy alone: the genuine DB finds it, the tampered one does not.
    assert CRITICAL in _trivy_ids(project, genuine)
    assert CRITICAL not in _trivy_ids(project, tampered)
    # Unpinned, scangate refuses to scan at all (one line, exit 2, what/where/how).
    for extra in ((), ("--skip-db-update",)):
        assert _scan(project, tampered, out, *extra) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert "unverified" in err and str(tampered / "db" / "trivy.db") in err
        assert "--db-digest" in err and ("--fresh-db" in err) == (not extra)
        assert not out.exists()
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


@pytest.mark.docker
def test_fresh_db_scans_with_the_db_its_repository_serves_not_the_cached_one(
    project: Path, tampered: Path, trivy_cache_dir: Path, registry: str, tmp_path: Path,
) -> None:
    """The online path, offline: the local registry serves the genuine DB as Trivy's
    repositories serve theirs (tests/support/trivy_registry.py); the cache holds the tampered
    one. --fresh-db drops it, Trivy downloads the served DB and finds the CRITICAL, and the
    report names the downloaded DB (its digest, this run's DownloadedAt, the repository)."""
    repository = serve_db(trivy_cache_dir, registry, "scangate-test/trivy-db-fresh")
    out = tmp_path / "r.json"
    started = trivy_db.now()
    assert _scan(project, tampered, out, "--fresh-db", "--db-repository", repository) == 0
    assert CRITICAL in _ids(out)
    record = json.loads(out.read_text())["Metadata"][DB_RECORD_KEY]
    assert record["VerifiedBy"] == "download" and record["Repository"] == [repository]
    assert record["Digest"] == db_digest(trivy_cache_dir)
    assert record["DownloadedAt"][:19] >= started.strftime("%Y-%m-%dT%H:%M:%S")  # UTC both


@pytest.mark.docker
def test_a_pinned_db_missing_from_the_cache_is_downloaded_and_must_be_the_pinned_one(
    project: Path, tampered: Path, trivy_cache_dir: Path, registry: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A CI cache miss with a pin (the GitHub workflow's `trivy-db-digest`): the empty cache
    gets the DB the repository serves, used only when it is the pinned one. A repository that
    serves another DB (here the tampered one) is refused in one line and leaves no report."""
    genuine_pin = db_digest(trivy_cache_dir)
    served = serve_db(trivy_cache_dir, registry, "scangate-test/trivy-db-pinned")
    out = tmp_path / "r.json"
    assert _scan(project, tmp_path / "miss", out, "--db-digest", genuine_pin,
                 "--db-repository", served) == 0
    assert CRITICAL in _ids(out)
    record = json.loads(out.read_text())["Metadata"][DB_RECORD_KEY]
    assert (record["Digest"], record["VerifiedBy"]) == (genuine_pin, "pin")
    # The next run finds the pinned DB in the cache and keeps it (offline: no repository).
    assert _scan(project, tmp_path / "miss", out, "--db-digest", genuine_pin) == 0
    capsys.readouterr()
    poisoned = serve_db(tampered, registry, "scangate-test/trivy-db-poisoned")
    assert _scan(project, tmp_path / "miss2", out, "--db-digest", genuine_pin,
                 "--db-repository", poisoned) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"Trivy downloaded the vulnerability DB {db_digest(tampered)}" in err
    assert f"--db-digest pins {genuine_pin}" in err and not out.exists()


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


def _image_with_a_jar(path: Path) -> Path:
    """A `docker save` archive of one layer holding a jar without pom.properties: Trivy must
    look it up in the Java DB by its SHA-1 (Trivy scans jars in images, not in `fs`)."""
    import io
    import zipfile

    from tests.steps.images import one_layer_archive

    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        archive.writestr("org/example/App.class", b"\xca\xfe\xba\xbe")
    return one_layer_archive(path, {"app/app.jar": jar.getvalue()}, tag="jar:1")


@pytest.fixture()
def poisoned_java_db(genuine: Path) -> Path:
    """A Java DB in the cache that says it is fresh until 2099 (Trivy would not download)."""
    java = genuine / "java-db"
    java.mkdir()
    (java / "trivy-java.db").write_bytes(b"not the repository's Java DB")
    (java / "metadata.json").write_text(json.dumps({
        "Version": 1, "NextUpdate": "2099-12-31T00:00:00Z", "UpdatedAt": "2026-01-01T00:00:00Z",
        "DownloadedAt": "2026-01-01T00:00:00Z"}))
    return genuine


def test_a_cached_java_db_is_never_used(
    poisoned_java_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 19 §3 / 21 §2 for the Java DB: Trivy alone takes the cached one on trust (it does
    not even try its repository); through scangate the cached one is dropped, so Trivy must
    download the repository's (unreachable here: exit 2, no report); air-gapped
    (--skip-db-update) such a scan is refused with the reason."""
    import subprocess

    image = _image_with_a_jar(tmp_path / "jar.tar")
    nowhere = "127.0.0.1:9/nothing/trivy-java-db:1"
    control = subprocess.run(
        [trivy_binary(), "image", "--input", str(image), "--cache-dir", str(poisoned_java_db),
         "--cache-backend", "memory", "--skip-db-update", "--java-db-repository", nowhere,
         "--scanners", "vuln", "--format", "json", "--timeout", "60s", "--skip-version-check",
         "--disable-telemetry"], capture_output=True, text=True, timeout=300, check=False)
    assert "failed to download" not in control.stderr, control.stderr[-2000:]
    pin = trivy_db.db_digest(str(poisoned_java_db))
    out = tmp_path / "r.json"
    scan = ["scan", "--input", str(image), "--output", str(out), "--cache-dir",
            str(poisoned_java_db), "--trivy", trivy_binary(), "--scanners", "vuln",
            "--db-digest", pin, "--java-db-repository", nowhere, "--timeout", "60s"]
    assert main(scan) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "Java DB" in err and "failed to download" in err
    assert not (poisoned_java_db / "java-db" / "trivy-java.db").exists() and not out.exists()
    assert main([*scan, "--skip-db-update"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "never uses a cached Java DB" in err


def test_a_java_db_not_downloaded_by_this_run_is_refused(poisoned_java_db: Path) -> None:
    from datetime import UTC, datetime

    from scangate.errors import ScanError

    with pytest.raises(ScanError, match="did not download the Java DB"):
        trivy_db.check_java_db_fresh(str(poisoned_java_db), datetime.now(UTC))
    trivy_db.check_java_db_fresh(str(poisoned_java_db), datetime(2026, 1, 1, tzinfo=UTC))
    trivy_db.forget_cached_java_db(str(poisoned_java_db))
    trivy_db.check_java_db_fresh(str(poisoned_java_db), datetime.now(UTC))  # none: fine
