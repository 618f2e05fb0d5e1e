"""``scangate scan`` with the real Trivy binary, offline (the DB is the project's own, built by
tools/trivydb): files in the repository under test and TRIVY_* variables cannot hide a finding.

The attacker here writes the repository (a `.trivyignore`, a `trivy.yaml`, a
`trivy-secret.yaml`) and the pipeline variables (TRIVY_SEVERITY, TRIVY_IGNOREFILE, ...); the
CRITICAL they try to hide is CVE-2020-14343 in PyYAML 5.3.1 and a leaked AWS key.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from scangate._cli import main
from scangate.trivy_command import (
    ALL_SEVERITIES,
    ScanRequest,
    build_command,
    scrubbed_environment,
    trivy_failure,
)

from tests.support.trivy import db_digest, trivy_binary

# Built at run time so no scanner flags this test file as a leak.
FAKE_AWS_KEY = "AKIA" + "Z7Q3WXRLM4N5PB2K"
CRITICAL = "CVE-2020-14343"

# Every way a repository or a pipeline variable can tell Trivy to drop findings.
HOSTILE_ENV = {
    "TRIVY_SEVERITY": "LOW",
    "TRIVY_IGNORE_UNFIXED": "true",
    "TRIVY_SKIP_FILES": "requirements.txt,deploy.sh",
    "TRIVY_SCANNERS": "misconfig",
    "TRIVY_EXIT_CODE": "0",
    "TRIVY_FORMAT": "table",
}


@pytest.fixture()
def hostile_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("PyYAML==5.3.1\nrequests==2.19.1\n")
    (project / "deploy.sh").write_text(f"#!/bin/sh\nexport AWS_ACCESS_KEY_ID={FAKE_AWS_KEY}\n")
    (project / ".trivyignore").write_text(f"{CRITICAL}\naws-access-key-id\n")
    (project / ".trivyignore.yaml").write_text(
        f"vulnerabilities:\n  - id: {CRITICAL}\nsecrets:\n  - id: aws-access-key-id\n")
    (project / "trivy.yaml").write_text(
        "severity: [LOW]\nignorefile: .trivyignore\nscan:\n  skip-files: [requirements.txt]\n"
        "vulnerability:\n  ignore-unfixed: true\n")
    (project / "trivy-secret.yaml").write_text("disable-rules: [aws-access-key-id]\n")
    return project


def _ids(report: Path) -> set[str]:
    data = json.loads(report.read_text())
    found = set()
    for result in data.get("Results") or []:
        found |= {v["VulnerabilityID"] for v in result.get("Vulnerabilities") or []}
        found |= {s["RuleID"] for s in result.get("Secrets") or []}
    return found


def _scan(*args: str, cache: Path) -> int:
    return main(["scan", *args, "--cache-dir", str(cache), "--skip-db-update",
                 "--db-digest", db_digest(cache), "--offline-scan", "--trivy", trivy_binary()])


def test_repository_files_and_trivy_variables_cannot_hide_a_critical(
    hostile_project: Path, trivy_cache_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # The pipeline runs in the checkout, with the attacker's variables set.
    monkeypatch.chdir(hostile_project)
    for name, value in HOSTILE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRIVY_IGNOREFILE", str(hostile_project / ".trivyignore"))
    monkeypatch.setenv("TRIVY_CONFIG", str(hostile_project / "trivy.yaml"))
    report = tmp_path / "report.json"
    assert _scan("--fs", ".", "--output", str(report), cache=trivy_cache_dir) == 0
    assert "TRIVY_SEVERITY" in capsys.readouterr().err
    assert {CRITICAL, "aws-access-key-id"} <= _ids(report)
    summary = tmp_path / "summary.json"
    assert main(["gate", "--report", str(report), "--json-summary", str(summary),
                 "--quiet"]) == 1
    counts = json.loads(summary.read_text())["counts_by_class"]
    assert counts["vulnerability"]["critical"] == 1
    assert counts["secret"]["critical"] == 1


def test_without_scangate_scan_the_same_project_hides_the_critical(
    hostile_project: Path, trivy_cache_dir: Path, tmp_path: Path,
) -> None:
    """The control: Trivy run in the checkout obeys the repository's trivy.yaml, so the test
    above would catch `scangate scan` losing its defences."""
    import subprocess

    from tools.trivydb import offline_args

    report = tmp_path / "plain.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIVY_")}
    subprocess.run([trivy_binary(), "fs", *offline_args(trivy_cache_dir), "--quiet",
                    "--format", "json", "--output", str(report), "."],
                   cwd=hostile_project, env=env, check=True, capture_output=True, timeout=600)
    assert CRITICAL not in _ids(report)


def test_a_failed_scan_leaves_no_report_and_says_why_in_one_line(
    tmp_path: Path, trivy_cache_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    bogus = tmp_path / "image.tar"
    bogus.write_bytes(b"not a tar archive at all")
    report = tmp_path / "report.json"
    report.write_text('{"SchemaVersion": 2, "Results": []}')  # an earlier run's
    assert _scan("--input", str(bogus), "--output", str(report), cache=trivy_cache_dir) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("scangate: error:")]
    assert len(lines) == 1 and "trivy exited 1" in lines[0], err
    assert "Traceback" not in err
    assert not report.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scangate-")]


def test_missing_trivy_and_missing_targets_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = str(tmp_path / "r.json")
    assert main(["scan", "--fs", str(tmp_path), "--output", out,
                 "--trivy", str(tmp_path / "no-trivy")]) == 2
    assert main(["scan", "--input", str(tmp_path / "none.tar"), "--output", out]) == 2
    assert main(["scan", "--image=--debug", "--output", out]) == 2
    for bad in (["--scanners", "vuln,all"], ["--timeout", "5 min"]):
        with pytest.raises(SystemExit) as usage:  # argparse's usage error, exit 2
            main(["scan", "--fs", str(tmp_path), "--output", out, *bad])
        assert usage.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "no-trivy" in err and "none.tar" in err


def test_output_refuses_to_overwrite_the_scanned_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    archive = tmp_path / "image.tar"
    archive.write_bytes(b"x")
    assert main(["scan", "--input", str(archive), "--output", str(archive),
                 "--trivy", trivy_binary()]) == 2
    assert archive.read_bytes() == b"x"
    assert "overwrite" in capsys.readouterr().err


def test_command_names_every_setting_trivy_would_otherwise_look_up(tmp_path: Path) -> None:
    request = ScanRequest(target_kind="input", target="/abs/image.tar", output="/abs/out.json",
                          ignorefile="/tmp/x/empty.trivyignore", config="/tmp/x/empty.yaml",
                          scanners=("vuln", "secret"), skip_db_update=True)
    cmd = build_command("/bin/trivy", request)
    pairs = dict(itertools.pairwise(cmd[2:]))
    assert cmd[:2] == ["/bin/trivy", "image"]
    assert pairs["--config"] == "/tmp/x/empty.yaml"
    assert pairs["--ignorefile"] == "/tmp/x/empty.trivyignore"
    assert pairs["--secret-config"] == ""
    assert pairs["--severity"] == ALL_SEVERITIES
    assert pairs["--format"] == "json"
    assert "--show-suppressed" in cmd
    assert cmd[-2:] == ["--input", "/abs/image.tar"]
    assert {"--skip-db-update", "--skip-java-db-update", "--skip-check-update"} <= set(cmd)
    assert "--offline-scan" not in cmd  # only when asked: it can make Trivy identify less
    fs = build_command("/bin/trivy", ScanRequest(
        target_kind="fs", target="/abs/dir", output="/o", ignorefile="/i", config="/c"))
    assert fs[1] == "fs" and fs[-1] == "/abs/dir"


def test_environment_keeps_registry_credentials_only() -> None:
    env, dropped = scrubbed_environment({
        "PATH": "/bin", "TRIVY_SEVERITY": "LOW", "trivy_ignorefile": "x",
        "TRIVY_USERNAME": "u", "TRIVY_PASSWORD": "p", "TRIVY_IGNORE_POLICY": "p.rego"})
    assert env == {"PATH": "/bin", "TRIVY_USERNAME": "u", "TRIVY_PASSWORD": "p"}
    assert dropped == ["TRIVY_IGNORE_POLICY", "TRIVY_SEVERITY", "trivy_ignorefile"]


def test_trivy_failure_is_one_bounded_line() -> None:
    stderr = ("2026-01-01T00:00:00Z\tINFO\tstarting\n"
              "2026-01-01T00:00:01Z\tFATAL\tFatal error\trun error: " + "x" * 5000 + "\x1b[31m\n")
    message = trivy_failure(1, stderr)
    assert message.startswith("trivy exited 1: run error: ")
    assert "\n" not in message and "\x1b" not in message and len(message) < 700


@pytest.fixture(scope="module")
def leaky_image_tar(docker_engine: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image of PyYAML 5.3.1's metadata (CVE-2020-14343, CRITICAL in the offline DB) and a
    script with an AWS key (a CRITICAL secret), built by Docker FROM scratch: the tests read
    only those two findings, and on top of the 226 MB base image each scan spent most of its
    CPU searching the base's files for secrets (Trivy reads an image's Python packages and
    secrets without an OS)."""
    from tests.support import docker as docker_support

    context = tmp_path_factory.mktemp("leaky-image")
    dist = context / "PyYAML-5.3.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: PyYAML\nVersion: 5.3.1\n")
    (context / "deploy.sh").write_text(f"#!/bin/sh\nexport AWS_ACCESS_KEY_ID={FAKE_AWS_KEY}\n")
    (context / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY PyYAML-5.3.1.dist-info /usr/local/lib/python3.11/site-packages/"
        "PyYAML-5.3.1.dist-info\nCOPY deploy.sh /app/deploy.sh\n")
    tag = f"scangate.local/test-scan-leaky:{uuid.uuid4().hex[:12]}"  # parallel runs never share it
    docker_support.build_image(context, tag)
    try:
        return docker_support.save_image(tag, context / "image.tar")
    finally:
        docker_support.remove_image(tag)


@pytest.mark.docker
def test_an_image_scanned_from_a_hostile_checkout_still_fails(
    leaky_image_tar: Path, hostile_project: Path, trivy_cache_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pipeline's real shape: the image archive is scanned from the repository checkout,
    where the .trivyignore and trivy.yaml live, with the attacker's pipeline variables."""
    monkeypatch.chdir(hostile_project)
    for name, value in HOSTILE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRIVY_IGNOREFILE", str(hostile_project / ".trivyignore"))
    report = tmp_path / "image.json"
    assert _scan("--input", str(leaky_image_tar), "--output", str(report),
                 cache=trivy_cache_dir) == 0
    assert {CRITICAL, "aws-access-key-id"} <= _ids(report)
    summary = tmp_path / "summary.json"
    assert main(["gate", "--report", str(report), "--json-summary", str(summary),
                 "--quiet"]) == 1
    assert json.loads(summary.read_text())["counts"]["critical"] >= 2
    # The same report with the suppression applied by Trivy itself (--show-suppressed, as
    # `scangate scan` runs it) still fails: the gate counts what Trivy suppressed.
    import subprocess

    from tools.trivydb import offline_args

    suppressed = tmp_path / "suppressed.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIVY_")}
    subprocess.run([trivy_binary(), "image", *offline_args(trivy_cache_dir), "--quiet",
                    "--format", "json", "--show-suppressed", "--config", "",
                    "--ignorefile", str(hostile_project / ".trivyignore"),
                    "--output", str(suppressed), "--input", str(leaky_image_tar)],
                   env=env, check=True, capture_output=True, timeout=600)
    assert CRITICAL not in _ids(suppressed)  # Trivy did drop it from Vulnerabilities
    assert main(["gate", "--report", str(suppressed), "--quiet"]) == 1


def test_trivy_runs_in_an_empty_directory_without_trivy_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile_project: Path,
    trivy_cache_dir: Path, trivy_db_digest: str,
) -> None:
    """What scangate hands Trivy, seen from inside. A stand-in for Trivy (a script that records
    its working directory, environment and arguments) because the real binary cannot report
    them; the real binary's behaviour is tested above."""
    record = tmp_path / "record.json"
    fake = tmp_path / "trivy"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "out = sys.argv[sys.argv.index('--output') + 1]\n"
        f"json.dump({{'cwd': os.getcwd(), 'listing': os.listdir('.'), 'argv': sys.argv,\n"
        "           'env': sorted(k for k in os.environ if k.upper().startswith('TRIVY_'))},\n"
        f"          open({str(record)!r}, 'w'))\n"
        "json.dump({'SchemaVersion': 2, 'ArtifactName': 'x', 'ArtifactType': 'filesystem',\n"
        "           'Results': []}, open(out, 'w'))\n")
    fake.chmod(0o755)
    monkeypatch.chdir(hostile_project)
    monkeypatch.setenv("TRIVY_SEVERITY", "LOW")
    monkeypatch.setenv("TRIVY_PASSWORD", "registry-secret")
    out = tmp_path / "r.json"
    assert main(["scan", "--fs", ".", "--output", str(out), "--trivy", str(fake), "--cache-dir",
                 str(trivy_cache_dir), "--db-digest", trivy_db_digest]) == 0
    seen = json.loads(record.read_text())
    assert seen["listing"] == [] and seen["cwd"] != str(hostile_project)
    assert seen["env"] == ["TRIVY_PASSWORD"]
    argv = seen["argv"]
    assert argv[-1] == str(hostile_project)  # the target, made absolute
    for flag in ("--config", "--ignorefile"):
        given = Path(argv[argv.index(flag) + 1])
        assert given.is_absolute() and not given.is_relative_to(hostile_project)
    assert not Path(seen["cwd"]).exists()  # the scratch directory is gone


def test_inline_ignore_comments_in_a_checkout_are_refused_for_misconfig_scans(
    tmp_path: Path, trivy_cache_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Trivy 0.76 obeys `# trivy:ignore:<id>` inside the scanned Dockerfile and drops the
    finding entirely (not even in ExperimentalModifiedFindings): shown here with the real
    binary, then refused by scangate scan unless the caller accepts such comments."""
    # One scan shows both: the control beside the token's Dockerfile, each its own target
    # (Trivy's ignores act on their own file; --allow-inline-ignores changes nothing Trivy is
    # given), instead of a scan of each.
    project = tmp_path / "project"
    body = 'FROM debian:latest\nRUN apt-get update\nCMD ["bash"]\n'
    for side, text in (("clean", body), ("hidden", "# trivy:ignore:DS-0001\n" + body)):
        (project / side).mkdir(parents=True)
        (project / side / "Dockerfile").write_text(text)
    out = tmp_path / "r.json"

    def ids() -> dict[str, set[str]]:
        data = json.loads(out.read_text())
        return {r["Target"]: {m["ID"] for m in r.get("Misconfigurations") or []
                              if m["Status"] == "FAIL"} for r in data.get("Results") or []}

    assert _scan("--fs", str(project), "--output", str(out), "--scanners", "misconfig",
                 "--allow-inline-ignores", cache=trivy_cache_dir) == 0
    found = ids()
    assert "DS-0001" in found["clean/Dockerfile"]  # ':latest' tag
    assert "DS-0001" not in found["hidden/Dockerfile"]  # gone without a trace
    assert "warning" in capsys.readouterr().err
    assert _scan("--fs", str(project), "--output", str(out), "--scanners", "misconfig",
                 cache=trivy_cache_dir) == 2
    err = capsys.readouterr().err
    assert "hidden/Dockerfile:1: an inline trivy:ignore" in err and not out.exists()
    # Vulnerability and secret scans do not obey such comments: not refused.
    assert _scan("--fs", str(project), "--output", str(out), "--scanners", "vuln,secret",
                 cache=trivy_cache_dir) == 0


def test_only_comments_in_files_trivy_checks_count_as_inline_ignores(tmp_path: Path) -> None:
    from scangate.inline_ignores import find_inline_ignore

    (tmp_path / "README.md").write_text("Never write # trivy:ignore:DS-0001 here.\n")
    (tmp_path / "scan.py").write_text('MARK = b"# trivy:ignore"\n')
    (tmp_path / "values.yaml").write_text("name: trivy:ignore-me\n")
    assert find_inline_ignore(str(tmp_path)) is None
    sub = tmp_path / "infra"
    sub.mkdir()
    (sub / "main.tf").write_text('resource "x" "y" {\n  a = 1 // tfsec:ignore:aws-s3\n}\n')
    assert find_inline_ignore(str(tmp_path)) == (os.path.join("infra", "main.tf"), 2)


@pytest.mark.docker
def test_a_scan_beside_another_on_the_same_cache_dir(
    leaky_image_tar: Path, trivy_cache_dir: Path, tmp_path: Path,
) -> None:
    """Parallel CI jobs and test workers share one DB directory. Trivy's on-disk analysis cache
    is a bolt file (`fanal/fanal.db`) that a running `trivy image` holds locked; a second scan
    on the same --cache-dir gives up after 5 s ("cache may be in use by another process",
    pkg/cache/fs.go defaultFSCacheTimeout). scangate keeps analyses in memory, so a scan runs
    while that lock is held (here by this test, as a running scan would hold it); the lock is
    bolt's, flock(LOCK_EX) on the file."""
    import fcntl
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(trivy_cache_dir / "db", cache / "db")
    (cache / "fanal").mkdir()
    report = tmp_path / "image.json"
    with (cache / "fanal" / "fanal.db").open("wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert _scan("--input", str(leaky_image_tar), "--output", str(report), cache=cache) == 0
    assert CRITICAL in _ids(report)


def test_the_recorded_archive_and_image_are_checked_around_trivy(
    tmp_path: Path, trivy_cache_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """--input-sha256 and --image-id (GitLab's scan job, from the build job's dotenv report):
    another file is refused before Trivy reads it, a report of another image is never written
    (exit 1 each); the real Trivy scans a one-layer archive."""
    import hashlib
    import json as json_module

    from tests.steps.images import one_layer_archive

    archive = one_layer_archive(tmp_path / "image.tar.gz", {"app/hello.txt": b"hello\n"},
                                gzip_archive=True)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    report = tmp_path / "trivy.json"
    base = ["--input", str(archive), "--output", str(report)]
    assert _scan(*base, "--input-sha256", "0" * 64, cache=trivy_cache_dir) == 1
    assert "is not the tarball the build job wrote" in capsys.readouterr().err
    assert _scan(*base, "--input-sha256", sha, "--image-id", "sha256:" + "1" * 64,
                 cache=trivy_cache_dir) == 1
    assert "no report written" in capsys.readouterr().err and not report.exists()
    assert _scan(*base, "--input-sha256", sha, cache=trivy_cache_dir) == 0
    image_id = json_module.loads(report.read_text())["Metadata"]["ImageID"]
    assert _scan(*base, "--input-sha256", sha, "--image-id", image_id,
                 cache=trivy_cache_dir) == 0
    assert main(["scan", "--fs", str(tmp_path), "--output", str(report), "--image-id",
                 image_id]) == 2
    assert "Traceback" not in capsys.readouterr().err
