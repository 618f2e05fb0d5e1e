"""How a finding Amazon Inspector SUPPRESSED counts in CI (`scangate ecr-findings` + gate).

Decided (docs/aws.md, ecr-findings): a SUPPRESSED finding is KEPT in the report and counts like
an active one, because a suppression rule is an account setting the gate cannot see the reason
or expiry of; it is waived in the scangate policy. It is never left out like a CLOSED one (that
would let any account administrator release an image by suppressing its CRITICAL). The registry
monitor shows it as waived with the suppression as the reason instead: tests/monitor/
test_suppressed.py. AWS: suppression rules "only hide findings from view"; a suppressed finding
is stored until remediated, and only then CLOSED
(https://docs.aws.amazon.com/inspector/latest/user/findings-managing-supression-rules.html).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import boto3
import pytest

from tests.aws.test_ecr import REPO, Cli, enhanced_finding, push, scan_response, seed
from tests.support.moto_server import MotoServer


def test_a_suppressed_critical_is_kept_and_counted_until_the_policy_waives_it(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = push()
    boto3.client("ecr").start_image_scan(repositoryName=REPO, imageId={"imageTag": "1.0"})
    seed(moto, scan_response("ACTIVE", enhanced=[
        enhanced_finding("CVE-2026-0001", "CRITICAL", [
            {"name": "openssl", "version": "3.0.11", "packageManager": "OS",
             "fixedInVersion": "3.0.13"}], status="SUPPRESSED"),
        enhanced_finding("CVE-2023-9999", "CRITICAL", [
            {"name": "bash", "version": "5.1", "packageManager": "OS"}], status="CLOSED"),
    ]))
    out = tmp_path / "ecr.json"
    assert cli(["ecr-findings", "--repository", REPO, "--digest", digest, "--output",
                str(out)]) == 0
    assert "1 CLOSED enhanced findings left out" in capsys.readouterr().out  # not 2
    doc = json.loads(out.read_text())
    kept = [v for r in doc["Results"] for v in r.get("Vulnerabilities") or []]
    assert [(v["VulnerabilityID"], v["PkgName"], v.get("ECRFindingStatus")) for v in kept] == [
        ("CVE-2026-0001", "openssl", "SUPPRESSED")]

    summary = tmp_path / "summary.json"
    assert cli(["gate", "--report", str(out), "--quiet", "--json-summary", str(summary)]) == 1
    assert json.loads(summary.read_text())["counts"]["critical"] == 1

    policy = tmp_path / "policy.yaml"
    expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    policy.write_text("version: 1\nthresholds:\n  critical: 0\nwaivers:\n"
                      "  - id: CVE-2026-0001\n    reason: suppressed in Inspector, ticket SEC-1\n"
                      f"    expires: {expires}\n", encoding="utf-8")
    assert cli(["gate", "--report", str(out), "--policy", str(policy), "--quiet",
                "--json-summary", str(summary)]) == 0
    assert json.loads(summary.read_text())["counts"]["critical"] == 0
