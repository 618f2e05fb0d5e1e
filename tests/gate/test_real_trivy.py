"""End to end with the real Trivy binary, offline, on a real directory: the report Trivy writes
is what the gate reads. The vulnerability DB is the project's own (tools/trivydb)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main

from tests.support.dates import SOON
from tests.support.schemas import require_gitlab_validator, require_sarif_validator, schema_errors
from tests.support.trivy import trivy_binary
from tools.trivydb import offline_args

# Built at run time so no scanner flags this test file as a leak.
FAKE_AWS_KEY = "AKIA" + "Z7Q3WXRLM4N5PB2K"


def _leaky_project(project: Path) -> Path:
    project.mkdir()
    (project / "requirements.txt").write_text("PyYAML==5.3.1\nrequests==2.19.1\n")
    (project / "deploy.sh").write_text(
        f"#!/bin/sh\nexport AWS_ACCESS_KEY_ID={FAKE_AWS_KEY}\naws s3 ls\n")
    (project / "Dockerfile").write_text("FROM debian:latest\nRUN apt-get update\n"
                                        "CMD [\"bash\"]\n")
    return project


@pytest.fixture()
def leaky_project(tmp_path: Path) -> Path:
    return _leaky_project(tmp_path / "project")


def run_trivy_fs(project: Path, cache_dir: Path, output: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIVY_")}
    proc = subprocess.run(
        [trivy_binary(), "fs", *offline_args(cache_dir), "--quiet",
         "--scanners", "vuln,secret,misconfig", "--format", "json", "--output", str(output),
         str(project)],
        capture_output=True, text=True, timeout=600, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def leaky_report(trivy_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trivy's report of the leaky project, scanned once for the tests that only read it."""
    base = tmp_path_factory.mktemp("leaky")
    report = base / "trivy.json"
    run_trivy_fs(_leaky_project(base / "project"), trivy_cache_dir, report)
    return report


def test_real_trivy_report_is_gated(leaky_report: Path, tmp_path: Path) -> None:
    report = leaky_report
    out = {n: tmp_path / n for n in ("summary.json", "o.sarif", "gl.json")}
    code = main(["gate", "--report", str(report), "--json-summary", str(out["summary.json"]),
                 "--sarif", str(out["o.sarif"]), "--gitlab-report", str(out["gl.json"])])
    summary = json.loads(out["summary.json"].read_text())
    assert code == 1
    assert summary["decision"] == "fail"
    by_class = summary["counts_by_class"]
    # PyYAML 5.3.1: CVE-2020-14343 (CRITICAL); the AWS key: a CRITICAL secret.
    assert by_class["vulnerability"]["critical"] >= 1
    assert by_class["secret"]["critical"] == 1
    # Dockerfile as root with :latest: at least one failing misconfiguration.
    assert sum(by_class["misconfiguration"].values()) >= 1
    sarif = json.loads(out["o.sarif"].read_text())
    rule_ids = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert {"CVE-2020-14343", "aws-access-key-id"} <= rule_ids
    # The secret itself never reaches an output.
    for path in out.values():
        assert FAKE_AWS_KEY not in path.read_text()


@pytest.mark.parametrize(("flag", "require"), [("--sarif", require_sarif_validator),
                                              ("--gitlab-report", require_gitlab_validator)])
def test_real_trivy_outputs_validate_against_the_platform_schemas(
    request: pytest.FixtureRequest, tmp_path: Path, flag: str, require: Callable[[], Any],
) -> None:
    """Skips, saying why, where ../shared's schemas are absent (a user's clone)."""
    validator = require()
    report: Path = request.getfixturevalue("leaky_report")  # after the skip: no scan for it
    output = tmp_path / "out.json"
    assert main(["gate", "--report", str(report), flag, str(output)]) == 1
    assert not schema_errors(validator, json.loads(output.read_text()))


def test_real_trivy_report_passes_when_waived_and_limits_allow(
    leaky_project: Path, trivy_cache_dir: Path, tmp_path: Path
) -> None:
    (leaky_project / "deploy.sh").unlink()
    (leaky_project / "requirements.txt").write_text("requests==2.19.1\n")
    report = tmp_path / "trivy.json"
    run_trivy_fs(leaky_project, trivy_cache_dir, report)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nthresholds: {critical: 0, high: 1}\nclasses: [vulnerability, secret]\n"
        "waivers:\n  - {id: CVE-2018-18074, package: requests, reason: 'no redirects; SEC-7',"
        " expires: " + SOON + "}\n")
    summary_path = tmp_path / "summary.json"
    code = main(["gate", "--report", str(report), "--policy", str(policy),
                 "--json-summary", str(summary_path)])
    summary = json.loads(summary_path.read_text())
    assert summary["waived"] == 1
    assert summary["class_not_counted"] >= 1
    assert code == 0, summary
