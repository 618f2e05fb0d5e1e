"""``scangate ecr-findings``: ECR scans (basic and Inspector) into a Trivy report, into the gate.

The image and its scan findings live in a real moto server (findings seeded through moto's
``/moto-api/static/ecr/scan-finding-results``, since moto does not scan). moto answers a seeded
result forever and has no nextToken, so waiting, paging and timeouts are proven with botocore's
Stubber, which also validates every request against the ECR model.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from scangate.aws.ecr import EcrImage, ScanReader
from scangate.aws.ecr_report import SEVERITY, to_trivy
from scangate.errors import AwsError
from scangate.report import load_reports
from scangate.severity import Severity

from tests.support.moto_server import MotoServer

Cli = Callable[[list[str]], int]
REPO = "team/app"
MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
               "digest": "sha256:" + "11" * 32},
    "layers": [],
})


def basic_finding(name: str, severity: str, package: str, version: str) -> dict[str, Any]:
    return {
        "name": name, "severity": severity, "description": f"{name} in {package}",
        "uri": f"https://security-tracker.debian.org/tracker/{name}",
        "attributes": [{"key": "package_name", "value": package},
                       {"key": "package_version", "value": version},
                       {"key": "CVSS3_SCORE", "value": "9.8"},
                       {"key": "CVSS3_VECTOR", "value": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H"}],
    }


def enhanced_finding(vuln: str, severity: str, packages: list[dict[str, Any]],
                     status: str = "ACTIVE") -> dict[str, Any]:
    return {
        "awsAccountId": "123456789012", "findingArn": f"arn:aws:inspector2:x:finding/{vuln}",
        "description": f"{vuln} description", "title": f"{vuln} - title", "type":
        "PACKAGE_VULNERABILITY", "severity": severity, "status": status, "score": 7.5,
        "packageVulnerabilityDetails": {
            "vulnerabilityId": vuln, "source": "NVD", "sourceUrl": f"https://nvd.test/{vuln}",
            "referenceUrls": [f"https://ref.test/{vuln}"], "vendorSeverity": severity,
            "cvss": [{"baseScore": 7.5, "scoringVector": "CVSS:3.1/AV:N/AC:L", "source": "NVD",
                      "version": "3.1"}],
            "vulnerablePackages": packages,
        },
        "resources": [{"type": "AWS_ECR_CONTAINER_IMAGE", "id": "x", "details": {
            "awsEcrContainerImage": {"platform": "DEBIAN_12", "repositoryName": REPO,
                                     "registry": "123456789012", "imageHash": "sha256:x"}}}],
    }


def seed(moto: MotoServer, response: dict[str, Any]) -> None:
    body = json.dumps({"results": [response], "region": "us-east-1"}).encode()
    request = urllib.request.Request(moto.url + "/moto-api/static/ecr/scan-finding-results",
                                     data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def push(tag: str = "1.0") -> str:
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName=REPO)
    return str(ecr.put_image(repositoryName=REPO, imageManifest=MANIFEST,
                             imageTag=tag)["image"]["imageId"]["imageDigest"])


def scan_response(status: str, *, findings: list[dict[str, Any]] | None = None,
                  enhanced: list[dict[str, Any]] | None = None, tag: str = "1.0",
                  counts: dict[str, int] | None = None, description: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"imageScanCompletedAt": "2025-06-01T10:00:00Z",
                            "vulnerabilitySourceUpdatedAt": "2025-06-01T09:00:00Z"}
    if findings is not None:
        body["findings"] = findings
    if enhanced is not None:
        body["enhancedFindings"] = enhanced
    if counts is not None:
        body["findingSeverityCounts"] = counts
    return {"registryId": "123456789012", "repositoryName": REPO, "imageId": {"imageTag": tag},
            "imageScanStatus": {"status": status, "description": description or status},
            "imageScanFindings": body}


def test_basic_scan_started_read_and_gated(moto: MotoServer, cli: Cli, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    digest = push()
    seed(moto, scan_response("COMPLETE", findings=[
        basic_finding("CVE-2024-0001", "CRITICAL", "openssl", "3.0.11-1"),
        basic_finding("CVE-2024-0002", "INFORMATIONAL", "zlib1g", "1:1.2.13"),
        basic_finding("CVE-2024-0003", "UNDEFINED", "tar", "1.34"),
        basic_finding("CVE-2024-0001", "CRITICAL", "libssl3", "3.0.11-1"),
    ], counts={"CRITICAL": 2, "INFORMATIONAL": 1, "UNDEFINED": 1}))
    out = tmp_path / "ecr.json"
    assert cli(["ecr-findings", "--repository", REPO, "--tag", "1.0", "--output", str(out)]) == 0
    captured = capsys.readouterr()
    assert "no scan found, started a basic scan" in captured.err
    assert "basic scan COMPLETE, 4 vulnerabilities" in captured.out

    doc = json.loads(out.read_text())
    uri = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{REPO}"
    assert doc["SchemaVersion"] == 2 and doc["ArtifactType"] == "container_image"
    assert doc["ArtifactName"] == f"{uri}:1.0"
    assert doc["Metadata"]["RepoDigests"] == [f"{uri}@{digest}"]
    [report] = load_reports([str(out)])
    assert report.artifact_id == uri and report.image_digest == digest
    by_package = {f.package: f for f in report.findings}
    assert {p: f.severity for p, f in by_package.items()} == {
        "openssl": Severity.CRITICAL, "libssl3": Severity.CRITICAL,
        "zlib1g": Severity.LOW, "tar": Severity.UNKNOWN,
    }
    assert by_package["openssl"].result_class == "os-pkgs"
    assert by_package["openssl"].cvss_score == 9.8
    assert len({f.fingerprint for f in report.findings}) == 4

    assert cli(["gate", "--report", str(out), "--quiet"]) == 1  # default: no CRITICAL
    assert cli(["gate", "--report", str(out), "--quiet", "--max-critical", "2"]) == 0


def test_enhanced_findings_one_per_package_closed_left_out(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = push()
    boto3.client("ecr").start_image_scan(repositoryName=REPO, imageId={"imageTag": "1.0"})
    seed(moto, scan_response("ACTIVE", enhanced=[
        enhanced_finding("CVE-2024-1000", "HIGH", [
            {"name": "openssl", "version": "3.0.11", "release": "1~deb12u1", "epoch": 0,
             "packageManager": "OS", "fixedInVersion": "3.0.13-1~deb12u1"},
            {"name": "libssl3", "version": "3.0.11", "release": "1~deb12u1",
             "packageManager": "OS", "fixedInVersion": "NotAvailable"},
        ]),
        enhanced_finding("GHSA-aaaa-bbbb-cccc", "MEDIUM", [
            {"name": "requests", "version": "2.25.0", "packageManager": "PYTHONPKG",
             "filePath": "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA",
             "fixedInVersion": "2.31.0"},
        ]),
        enhanced_finding("CVE-2024-2000", "UNTRIAGED", [
            {"name": "lodash", "version": "4.17.0", "packageManager": "NPM",
             "filePath": "app/package-lock.json", "fixedInVersion": "4.17.21"},
        ]),
        enhanced_finding("CVE-2023-9999", "CRITICAL", [
            {"name": "bash", "version": "5.1", "packageManager": "OS"}], status="CLOSED"),
    ]))
    out = tmp_path / "ecr.json"
    assert cli(["ecr-findings", "--repository", REPO, "--digest", digest, "--output",
                str(out)]) == 0
    assert "1 CLOSED enhanced findings left out" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["ArtifactName"].endswith(f"{REPO}@{digest}")
    targets = {(r["Class"], r.get("Type"), r["Target"]) for r in doc["Results"]}
    assert targets == {
        ("os-pkgs", "debian", f"{doc['ArtifactName']} (debian 12)"),
        ("lang-pkgs", "python-pkg", "Python"),
        ("lang-pkgs", "npm", "app/package-lock.json"),
    }
    [report] = load_reports([str(out)])
    found = {(f.id, f.package): f for f in report.findings}
    assert set(found) == {("CVE-2024-1000", "openssl"), ("CVE-2024-1000", "libssl3"),
                          ("GHSA-aaaa-bbbb-cccc", "requests"), ("CVE-2024-2000", "lodash")}
    openssl = found[("CVE-2024-1000", "openssl")]
    assert openssl.installed_version == "3.0.11-1~deb12u1"
    assert openssl.fixed_version == "3.0.13-1~deb12u1"
    assert found[("CVE-2024-1000", "libssl3")].fixed_version == ""
    assert found[("CVE-2024-2000", "lodash")].severity is Severity.UNKNOWN
    assert found[("GHSA-aaaa-bbbb-cccc", "requests")].pkg_path.endswith("METADATA")
    assert openssl.cvss_score == 7.5
    assert cli(["gate", "--report", str(out), "--quiet", "--fail-on", "high"]) == 1
    assert cli(["gate", "--report", str(out), "--quiet", "--fail-on", "critical",
                "--ignore-unfixed", "--max-high", "1"]) == 0


@pytest.mark.parametrize("status", ["FAILED", "UNSUPPORTED_IMAGE", "SCAN_ELIGIBILITY_EXPIRED",
                                    "FINDINGS_UNAVAILABLE", "SOMETHING_NEW"])
def test_a_scan_that_failed_is_exit_2_with_the_reason(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str], status: str
) -> None:
    push()
    seed(moto, scan_response(status, description="UnsupportedImageError: not a supported OS"))
    out = tmp_path / "ecr.json"
    assert cli(["ecr-findings", "--repository", REPO, "--tag", "1.0", "--output",
                str(out)]) == 2
    err = capsys.readouterr().err
    assert f"ECR scan of {REPO}:1.0 {status}: UnsupportedImageError" in err
    assert not out.exists()


def test_pending_scan_without_wait_is_exit_2(moto: MotoServer, cli: Cli, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    push()
    seed(moto, scan_response("IN_PROGRESS"))
    assert cli(["ecr-findings", "--repository", REPO, "--tag", "1.0", "--output",
                str(tmp_path / "o.json")]) == 2
    assert "is IN_PROGRESS (IN_PROGRESS); pass --wait" in capsys.readouterr().err


def test_missing_repository_or_image_is_exit_2(moto: MotoServer, cli: Cli, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "o.json")
    assert cli(["ecr-findings", "--repository", "nope", "--tag", "1", "--output", out]) == 2
    assert "ECR repository 'nope' not found in region us-east-1" in capsys.readouterr().err
    push()
    assert cli(["ecr-findings", "--repository", REPO, "--tag", "2.0", "--output", out]) == 2
    assert f"ECR image {REPO}:2.0 not found" in capsys.readouterr().err
    assert cli(["ecr-findings", "--repository", REPO, "--digest", "sha256:abc",
                "--output", out]) == 2
    assert "is not sha256:<64 lowercase hex digits>" in capsys.readouterr().err


def test_counts_that_do_not_match_the_findings_are_exit_2(
    moto: MotoServer, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    push()
    seed(moto, scan_response("COMPLETE", findings=[
        basic_finding("CVE-1", "HIGH", "a", "1")], counts={"HIGH": 5}))
    assert cli(["ecr-findings", "--repository", REPO, "--tag", "1.0", "--output",
                str(tmp_path / "o.json")]) == 2
    assert "counts 5 findings" in capsys.readouterr().err


# --- waiting and paging, through the Stubber -------------------------------------------------

IMAGE = EcrImage(registry_id="123456789012", repository=REPO,
                 repository_uri=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{REPO}",
                 digest="sha256:" + "ab" * 32, tags=("1.0",), requested_tag="1.0")
IDS = {"repositoryName": REPO, "registryId": "123456789012",
       "imageId": {"imageDigest": IMAGE.digest}, "maxResults": 1000}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def ecr() -> Any:
    return boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def page(status: str, findings: list[dict[str, Any]] | None = None,
         enhanced: list[dict[str, Any]] | None = None, token: str | None = None) -> dict[str, Any]:
    response = scan_response(status, findings=findings, enhanced=enhanced)
    response["imageId"] = {"imageDigest": IMAGE.digest}
    if token:
        response["nextToken"] = token
    return response


def test_wait_polls_until_complete_and_reads_every_page(ecr: Any) -> None:
    clock = Clock()
    with Stubber(ecr) as stub:
        stub.add_client_error("describe_image_scan_findings", "ScanNotFoundException",
                              expected_params=IDS)
        stub.add_response("get_registry_scanning_configuration",
                          {"registryId": "123456789012",
                           "scanningConfiguration": {"scanType": "BASIC", "rules": []}})
        stub.add_response("start_image_scan", {"imageScanStatus": {"status": "IN_PROGRESS"}},
                          {k: v for k, v in IDS.items() if k != "maxResults"})
        stub.add_response("describe_image_scan_findings", page("IN_PROGRESS"), IDS)
        stub.add_response("describe_image_scan_findings", page(
            "COMPLETE", [basic_finding("CVE-1", "HIGH", "a", "1")], token="p2"), IDS)
        stub.add_response("describe_image_scan_findings", page(
            "COMPLETE", [basic_finding("CVE-2", "LOW", "b", "1")],
            [enhanced_finding("CVE-3", "HIGH", [{"name": "c", "version": "1",
                                                 "packageManager": "OS"}])], token="p3"),
            {**IDS, "nextToken": "p2"})
        stub.add_response("describe_image_scan_findings", page(
            "COMPLETE", [basic_finding("CVE-4", "CRITICAL", "d", "1")]),
            {**IDS, "nextToken": "p3"})
        scan = ScanReader(ecr, clock=clock, sleep=clock.sleep, poll=5).read(
            IMAGE, wait=True, timeout=60)
        stub.assert_no_pending_responses()
    assert scan.started_here and clock.sleeps == [5]  # none right after starting the scan
    assert [f["name"] for f in scan.findings] == ["CVE-1", "CVE-2", "CVE-4"]
    assert len(scan.enhanced) == 1
    report, closed = to_trivy(IMAGE, scan, dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
    assert closed == 0
    assert sum(len(r["Vulnerabilities"]) for r in report["Results"]) == 4


def test_wait_times_out_with_the_last_status(ecr: Any) -> None:
    clock = Clock()
    with Stubber(ecr) as stub:
        for _ in range(5):
            stub.add_response("describe_image_scan_findings", page("PENDING"), IDS)
        with pytest.raises(AwsError, match=r"timed out after 20 s waiting for the ECR scan of "
                                           r"team/app:1.0 \(last status PENDING"):
            ScanReader(ecr, clock=clock, sleep=clock.sleep, poll=5).read(
                IMAGE, wait=True, timeout=20)
    assert clock.sleeps == [5, 5, 5, 5]


def test_enhanced_registry_is_not_asked_to_start_a_basic_scan(ecr: Any) -> None:
    clock = Clock()
    with Stubber(ecr) as stub:
        stub.add_client_error("describe_image_scan_findings", "ScanNotFoundException")
        stub.add_response("get_registry_scanning_configuration",
                          {"scanningConfiguration": {"scanType": "ENHANCED", "rules": []}})
        stub.add_response("describe_image_scan_findings", page("ACTIVE", enhanced=[]), IDS)
        scan = ScanReader(ecr, clock=clock, sleep=clock.sleep).read(IMAGE, wait=True,
                                                                    timeout=60)
        stub.assert_no_pending_responses()  # no start_image_scan was made
    assert scan.status == "ACTIVE" and not scan.started_here


def test_scan_quota_means_a_scan_exists(ecr: Any) -> None:
    clock = Clock()
    with Stubber(ecr) as stub:
        stub.add_client_error("describe_image_scan_findings", "ScanNotFoundException")
        stub.add_client_error("get_registry_scanning_configuration", "AccessDeniedException")
        stub.add_client_error("start_image_scan", "LimitExceededException")
        stub.add_response("describe_image_scan_findings", page("COMPLETE", findings=[]), IDS)
        scan = ScanReader(ecr, clock=clock, sleep=clock.sleep).read(IMAGE, wait=True,
                                                                    timeout=60)
    assert scan.status == "COMPLETE" and scan.findings == []


def test_repeated_next_token_is_refused(ecr: Any) -> None:
    with Stubber(ecr) as stub:
        stub.add_response("describe_image_scan_findings", page("COMPLETE", [], token="t"), IDS)
        stub.add_response("describe_image_scan_findings", page("COMPLETE", [], token="t"))
        with pytest.raises(AwsError, match="same nextToken came back twice"):
            ScanReader(ecr).read(IMAGE, wait=False, timeout=1)


def test_severity_mapping_is_total_and_unknown_severities_fail_closed() -> None:
    assert SEVERITY == {"CRITICAL": "CRITICAL", "HIGH": "HIGH", "MEDIUM": "MEDIUM",
                        "LOW": "LOW", "INFORMATIONAL": "LOW", "UNDEFINED": "UNKNOWN",
                        "UNTRIAGED": "UNKNOWN"}
    from scangate.aws.ecr import Scan

    scan = Scan(status="COMPLETE", description="", scan_type="BASIC",
                findings=[basic_finding("CVE-1", "SEVERE", "a", "1")])
    with pytest.raises(AwsError, match="unknown ECR severity 'SEVERE'"):
        to_trivy(IMAGE, scan, dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
