"""The demo's monitoring step (tools/demo/monitor.py) against a moto server, without Docker:
the deployed image's rescan finds a new CRITICAL, the processor records it, the image turns
FAIL and exactly one alert is sent (the duplicate scan event changes nothing)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.support.moto_server import MotoServer
from tools.demo import monitor

MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
               "digest": "sha256:" + "c" * 64},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 3,
                "digest": "sha256:" + "d" * 64}],
}).encode()
REPORT = {"Results": [{"Target": "app (debian 12.8)", "Class": "os-pkgs", "Vulnerabilities": [
    {"VulnerabilityID": "CVE-2024-0001", "PkgName": "zlib1g", "InstalledVersion": "1.2.13",
     "Severity": "LOW", "PrimaryURL": "https://www.cve.org/CVE-2024-0001", "Title": "t"},
    {"VulnerabilityID": "CVE-2024-0002", "PkgName": "tar", "InstalledVersion": "1.34",
     "Severity": "UNKNOWN", "PrimaryURL": "", "Title": "u"}]}]}


def test_demo_monitoring_step(moto: MotoServer, tmp_path: Path) -> None:
    digest = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
    lines: list[str] = []
    # The demo's policy (the one the gate used).
    policy_text = (Path(__file__).resolve().parents[2] / ".scangate" / "policy.yaml").read_text()
    result = monitor.run(moto.url, policy_text=policy_text, repository="demo/app", tag="1.0",
                         digest=digest, manifest=MANIFEST, report=REPORT, say=lines.append)
    assert result["decision_before"] == "pass" and result["decision_after"] == "fail"
    assert len(result["alerts"]) == 1 and "turned FAIL" in result["alerts"][0]
    assert result["dead_letters"] == 0 and result["failed_records"] == []
    assert any(monitor.NEW_CVE in line for line in lines)
