"""End to end with the real Trivy binary (offline, the project's DB), Docker and the local
registry: the gate's OpenVEX document is honoured by Trivy's --vex, the gate still counts what
Trivy suppressed unless the policy accepts that document, a LOW finding in the KEV sample fails
the demo policy, and the SBOM of the same scan is valid CycloneDX."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from scangate._cli import main

from tests.support import docker as docker_support
from tests.support.feeds import kev_entry, write_kev
from tests.support.trivy import db_digest, trivy_binary

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()
# In the project's Debian fixtures and found in the base image (tools/trivydb/fixtures).
NOT_AFFECTED = "CVE-2016-2781"  # coreutils, LOW
ACCEPTED_RISK = "CVE-2011-3374"  # apt and libapt-pkg6.0, LOW; the waiver names apt only


@pytest.fixture(scope="module")
def pushed(registry: str) -> Iterator[str]:
    """The base image pushed to the local registry: REF@sha256:... (a registry digest, which
    the report then carries in Metadata.RepoDigests). The local tag goes afterwards, so the
    shared base image keeps no repository digest of ours."""
    repository = f"scangate-test/vex-{uuid.uuid4().hex[:8]}"
    digest = docker_support.push_image(docker_support.BASE_IMAGE, repository, "t")
    yield f"{registry}/{repository}@{digest}"
    docker_support.remove_image(f"{registry}/{repository}:t")


@pytest.fixture(scope="module")
def first_scan(pushed: str, trivy_cache_dir: Path,
               tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One scan of the pushed image with its SBOM: (report, sbom). The tests read both and
    write nothing beside them (each one's own files go to its tmp_path): one scan of the image
    from the registry instead of one per test."""
    directory = tmp_path_factory.mktemp("first-scan")
    report, sbom = directory / "first.json", directory / "sbom.cdx.json"
    scan(pushed, trivy_cache_dir, report, "--sbom", str(sbom))
    return report, sbom


# Every finding these tests read is a vulnerability (and the SBOM lists packages). Trivy's
# default secret scanner reads every file of the image for findings nobody reads here: 5.5 of
# the 6 s of CPU of one scan of this 226 MB image.
VULN_ONLY = ("--scanners", "vuln")


def scan(ref: str, cache: Path, output: Path, *extra: str) -> dict[str, Any]:
    code = main(["scan", "--image", ref, "--output", str(output), "--trivy", trivy_binary(),
                 "--cache-dir", str(cache), "--skip-db-update", "--db-digest", db_digest(cache),
                 "--offline-scan", *VULN_ONLY, *extra])
    assert code == 0
    doc: dict[str, Any] = json.loads(output.read_text())
    return doc


def gate(tmp_path: Path, report: Path, policy: str, name: str, *extra: str) -> tuple[int, dict[
        str, Any]]:
    (tmp_path / f"{name}.yaml").write_text(policy)
    summary = tmp_path / f"{name}.summary.json"
    code = main(["gate", "--quiet", "--report", str(report), "--policy",
                 str(tmp_path / f"{name}.yaml"), "--json-summary", str(summary), *extra])
    return code, json.loads(summary.read_text())


def vulnerabilities(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v["VulnerabilityID"], v["PkgName"]) for r in doc.get("Results") or []
            for v in r.get("Vulnerabilities") or []}


def modified(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for r in doc.get("Results") or [] for m in r.get("ExperimentalModifiedFindings")
            or []]


POLICY = f"""version: 1
thresholds: {{critical: 0, high: 0}}
waivers:
  - id: {NOT_AFFECTED}
    package: coreutils
    reason: "the image never runs chroot; SEC-7"
    expires: {FUTURE}
    justification: vulnerable_code_not_in_execute_path
  - id: {ACCEPTED_RISK}
    package: apt
    reason: "apt-key is not used at run time; SEC-8"
    expires: {FUTURE}
"""


def test_trivy_honours_the_gates_openvex_and_the_gate_still_counts(
        pushed: str, first_scan: tuple[Path, Path], trivy_cache_dir: Path,
        tmp_path: Path) -> None:
    first, sbom = first_scan
    report = json.loads(first.read_text())
    found = vulnerabilities(report)
    assert {(NOT_AFFECTED, "coreutils"), (ACCEPTED_RISK, "apt"),
            (ACCEPTED_RISK, "libapt-pkg6.0")} <= found
    vex_path = tmp_path / "scangate.openvex.json"
    code, summary = gate(tmp_path, first, POLICY, "waivers", "--openvex", str(vex_path))
    assert code == 0
    assert summary["waived"] == 2
    vex = json.loads(vex_path.read_text())
    assert vex["@context"] == "https://openvex.dev/ns/v0.2.0"
    statements = {s["vulnerability"]["name"]: s for s in vex["statements"]}
    assert set(statements) == {NOT_AFFECTED, ACCEPTED_RISK}
    assert statements[NOT_AFFECTED]["status"] == "not_affected"
    assert statements[NOT_AFFECTED]["justification"] == "vulnerable_code_not_in_execute_path"
    assert statements[ACCEPTED_RISK]["status"] == "affected"
    assert "SEC-8" in statements[ACCEPTED_RISK]["action_statement"]
    # The product is the image as Trivy itself names it (its SBOM's root component).
    [product] = statements[NOT_AFFECTED]["products"]
    trivy_purl = json.loads(sbom.read_text())["metadata"]["component"]["purl"]
    assert PackageURL.from_string(product["@id"]).to_dict() == \
        PackageURL.from_string(trivy_purl).to_dict()
    assert [c["@id"].split("@")[0] for c in product["subcomponents"]] == \
        ["pkg:deb/debian/coreutils"]

    second = tmp_path / "second.json"
    rescanned = scan(pushed, trivy_cache_dir, second, "--vex", str(vex_path))
    # Exactly the not_affected statement is honoured; the accepted risk is still reported.
    assert vulnerabilities(rescanned) == found - {(NOT_AFFECTED, "coreutils")}
    [suppressed] = modified(rescanned)
    digest = hashlib.sha256(vex_path.read_bytes()).hexdigest()
    assert suppressed["Finding"]["VulnerabilityID"] == NOT_AFFECTED
    assert suppressed["Status"] == "not_affected"
    assert suppressed["Source"] == f"vex-sha256-{digest}.json"

    # What Trivy suppressed still counts: the same counts as the first report's.
    no_waivers = "version: 1\nthresholds: {critical: 0, high: 0, low: 0}\n"
    code_first, counts_first = gate(tmp_path, first, no_waivers, "plain1")
    code_second, counts_second = gate(tmp_path, second, no_waivers, "plain2")
    assert counts_second["counts"] == counts_first["counts"]
    assert code_first == code_second == 1
    # ...unless the policy accepts that very document, by its digest.
    accepting = no_waivers + (f"accepted_vex:\n  - sha256: {digest}\n"
                              f"    reason: our own gate's statements\n    expires: {FUTURE}\n")
    _, accepted = gate(tmp_path, second, accepting, "accepting")
    assert accepted["counts"]["low"] == counts_first["counts"]["low"] - 1
    assert [w["id"] for w in accepted["waived_findings"]] == [NOT_AFFECTED]
    # Another document (one byte more) is not accepted.
    other = tmp_path / "other.openvex.json"
    other.write_bytes(vex_path.read_bytes() + b"\n")
    third = tmp_path / "third.json"
    scan(pushed, trivy_cache_dir, third, "--vex", str(other))
    _, not_accepted = gate(tmp_path, third, accepting, "other")
    assert not_accepted["counts"] == counts_first["counts"]


def test_sbom_of_the_same_scan_is_valid_cyclonedx(first_scan: tuple[Path, Path]) -> None:
    report_path, sbom_path = first_scan
    report = json.loads(report_path.read_text())
    text = sbom_path.read_text()
    sbom = json.loads(text)
    version = SchemaVersion.from_version(sbom["specVersion"])
    errors = JsonStrictValidator(version).validate_str(text)
    assert errors is None, errors
    # The same scan: the image Trivy scanned, and exactly the packages of the report.
    properties = {p["name"]: p["value"] for p in sbom["metadata"]["component"]["properties"]}
    assert properties["aquasecurity:trivy:ImageID"] == report["Metadata"]["ImageID"]
    packages = {p["Identifier"]["PURL"] for r in report["Results"] for p in r.get("Packages", [])}
    components = {c["purl"] for c in sbom["components"] if "purl" in c}
    assert packages and components == packages
    # The validator is not a rubber stamp: a component without its required name fails.
    broken = json.loads(text)
    del broken["components"][0]["name"]
    assert JsonStrictValidator(version).validate_str(json.dumps(broken)) is not None


def test_a_low_finding_in_the_kev_sample_fails_the_demo_policy(
        first_scan: tuple[Path, Path], tmp_path: Path) -> None:
    report, _sbom = first_scan
    demo_policy = (REPO_ROOT / ".scangate" / "policy.yaml").read_text()
    kev = write_kev(tmp_path / "kev.json", [kev_entry(NOT_AFFECTED, due="2026-12-24",
                                                       ransomware="Known"),
                                             kev_entry("CVE-2021-44228")])
    code, summary = gate(tmp_path, report, demo_policy, "demo", "--kev", str(kev))
    assert code == 0  # the catalog alone changes nothing: the demo policy allows these LOWs
    code, summary = gate(tmp_path, report, demo_policy + "kev: fail\n", "demo-kev",
                         "--kev", str(kev))
    assert code == 1
    assert summary["violations"] == []
    assert [(r["id"], r["severity"], r["rule"]) for r in summary["risk_violations"]] == \
        [(NOT_AFFECTED, "low", "kev")]


def test_pipeline_order_gate_the_archive_then_openvex_for_the_pushed_image(
        registry: str, trivy_cache_dir: Path, tmp_path: Path) -> None:
    """As the pipelines run it: the archive (no registry digest yet) is scanned and gated, then
    pushed; `scangate openvex` turns the summary and the push record into the document, and a
    scan of the pushed image with it drops exactly the not_affected finding."""
    archive = docker_support.save_image(docker_support.BASE_IMAGE, tmp_path / "image.tar")
    report = tmp_path / "trivy.json"
    code = main(["scan", "--input", str(archive), "--output", str(report), "--trivy",
                 trivy_binary(), "--cache-dir", str(trivy_cache_dir), "--skip-db-update",
                 "--db-digest", db_digest(trivy_cache_dir), "--offline-scan", *VULN_ONLY])
    assert code == 0
    image_id = json.loads(report.read_text())["Metadata"]["ImageID"]
    (tmp_path / "p.yaml").write_text(POLICY)
    # No registry digest yet: gate --openvex cannot name the image.
    assert main(["gate", "--quiet", "--report", str(report), "--policy", str(tmp_path / "p.yaml"),
                 "--openvex", str(tmp_path / "x.json")]) == 2
    code, _ = gate(tmp_path, report, POLICY, "archive")
    assert code == 0
    repository = f"{registry}/scangate-test/vexpush-{uuid.uuid4().hex[:8]}"
    push_record = tmp_path / "push.json"
    assert main(["push", "--archive", str(archive), "--image-id", image_id, "--repository",
                 repository, "--tag", "t", "--decision", str(tmp_path / "archive.summary.json"),
                 "--output", str(push_record)]) == 0
    vex_path = tmp_path / "scangate.openvex.json"
    assert main(["openvex", "--summary", str(tmp_path / "archive.summary.json"),
                 "--push-record", str(push_record), "--output", str(vex_path)]) == 0
    statuses = {s["vulnerability"]["name"]: s["status"]
                for s in json.loads(vex_path.read_text())["statements"]}
    assert statuses == {NOT_AFFECTED: "not_affected", ACCEPTED_RISK: "affected"}
    digest = json.loads(push_record.read_text())["image-digest"]
    plain = scan(f"{repository}@{digest}", trivy_cache_dir, tmp_path / "plain.json")
    with_vex = scan(f"{repository}@{digest}", trivy_cache_dir, tmp_path / "vex.json",
                    "--vex", str(vex_path))
    assert vulnerabilities(with_vex) == vulnerabilities(plain) - {(NOT_AFFECTED, "coreutils")}
    assert [m["Finding"]["VulnerabilityID"] for m in modified(with_vex)] == [NOT_AFFECTED]
    # A push record of another image is refused.
    other = json.loads(push_record.read_text())
    other["image-id"] = "sha256:" + "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(["openvex", "--summary", str(tmp_path / "archive.summary.json"),
                 "--push-record", str(tmp_path / "other.json"), "--output",
                 str(tmp_path / "o.json")]) == 2
