"""gate --openvex and the policy's accepted_vex, without Trivy (tests/gate/test_vex_sbom_trivy.py
runs the real one): what a statement says, what is left out and said so, and what is refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main
from scangate.trivy_command import ScanRequest, build_command, build_convert_command
from scangate.vex_input import source_digest, stage

from tests.support.reports import image_report, secret, vuln, write

FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()
PAST = (dt.date.today() - dt.timedelta(days=1)).isoformat()
DIGEST = "sha256:" + "1f" * 32
PURL = "pkg:deb/debian/openssl@3.0.1-1?arch=amd64&distro=debian-12.5"


def pushed_report(**metadata: Any) -> dict[str, Any]:
    doc = image_report([
        vuln("CVE-2024-0001", severity="HIGH", PkgIdentifier={"PURL": PURL}),
        vuln("CVE-2024-0002", pkg="zlib", severity="LOW",
             PkgIdentifier={"PURL": "pkg:deb/debian/zlib1g@1.2?arch=amd64"}),
    ], name=f"registry.example:5000/team/app@{DIGEST}", extra_results=[
        {"Target": "/app/.env", "Class": "secret", "Secrets": [secret()]}])
    doc["Metadata"].update({"RepoDigests": [f"registry.example:5000/team/app@{DIGEST}"],
                            "ImageConfig": {"architecture": "arm64"}}, **metadata)
    return doc


def run_gate(tmp_path: Path, doc: dict[str, Any], policy: str,
             *extra: str) -> tuple[int, Path]:
    (tmp_path / "p.yaml").write_text("version: 1\nthresholds: {critical: 0}\n" + policy)
    out = tmp_path / "vex.json"
    code = main(["gate", "--quiet", "--report", write(tmp_path / "r.json", doc), "--policy",
                 str(tmp_path / "p.yaml"), "--openvex", str(out), *extra])
    return code, out


WAIVERS = f"""waivers:
  - {{id: CVE-2024-0001, reason: not loaded, expires: "{FUTURE}",
     justification: component_not_present}}
  - {{id: CVE-2024-0002, reason: accepted for now, expires: "{FUTURE}"}}
  - {{id: aws-access-key-id, reason: test fixture, expires: "{FUTURE}"}}
"""


def test_statements_name_the_image_and_the_waivers(tmp_path: Path) -> None:
    code, out = run_gate(tmp_path, pushed_report(), WAIVERS, "--openvex-author", "Team A")
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["author"] == "Team A"
    assert doc["@id"].startswith("urn:scangate:openvex:")
    by_id = {s["vulnerability"]["name"]: s for s in doc["statements"]}
    assert set(by_id) == {"CVE-2024-0001", "CVE-2024-0002"}  # a secret is no vulnerability
    first = by_id["CVE-2024-0001"]
    assert (first["status"], first["justification"], first["impact_statement"]) == \
        ("not_affected", "component_not_present", "not loaded")
    assert first["products"] == [{
        "@id": "pkg:oci/app@sha256%3A" + "1f" * 32
               + "?arch=arm64&repository_url=registry.example%3A5000%2Fteam%2Fapp",
        "subcomponents": [{"@id": PURL}]}]
    second = by_id["CVE-2024-0002"]
    assert second["status"] == "affected" and "justification" not in second
    assert second["action_statement"] == f"Risk accepted until {FUTURE}: accepted for now"


def test_without_a_registry_digest_there_is_no_vex(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_gate(tmp_path, pushed_report(RepoDigests=[]), WAIVERS)
    assert code == 2
    assert "no registry digest" in capsys.readouterr().err
    assert not out.exists()


def test_a_waived_finding_without_a_package_url_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = pushed_report()
    del doc["Results"][0]["Vulnerabilities"][1]["PkgIdentifier"]
    code, out = run_gate(tmp_path, doc, WAIVERS)
    assert code == 0
    assert "no package URL in the report for CVE-2024-0002 in zlib" in capsys.readouterr().err
    assert [s["vulnerability"]["name"] for s in json.loads(out.read_text())["statements"]] == \
        ["CVE-2024-0001"]


def test_openvex_must_not_overwrite_an_input(tmp_path: Path) -> None:
    write(tmp_path / "r.json", pushed_report())
    code = main(["gate", "--quiet", "--report", str(tmp_path / "r.json"),
                 "--openvex", str(tmp_path / "r.json")])
    assert code == 2


def suppressed_report(source: str) -> dict[str, Any]:
    doc = pushed_report()
    finding = doc["Results"][0]["Vulnerabilities"].pop(0)
    doc["Results"][0]["ExperimentalModifiedFindings"] = [{
        "Type": "vulnerability", "Status": "not_affected",
        "Statement": "component_not_present", "Source": source, "Finding": finding}]
    return doc


@pytest.mark.parametrize(("accepted", "expires", "counted"), [
    ("ab" * 32, FUTURE, 0),  # the very document: accepted
    ("cd" * 32, FUTURE, 1),  # another document: counts
    ("ab" * 32, PAST, 1),  # acceptance expired: counts, and is reported
])
def test_accepted_vex_by_digest(tmp_path: Path, accepted: str, expires: str,
                                counted: int) -> None:
    doc = suppressed_report(f"vex-sha256-{'ab' * 32}.json")
    (tmp_path / "p.yaml").write_text(
        "version: 1\nthresholds: {high: 0}\naccepted_vex:\n"
        f"  - {{sha256: '{accepted}', reason: vendor VEX reviewed, expires: '{expires}'}}\n")
    summary = tmp_path / "s.json"
    code = main(["gate", "--quiet", "--report", write(tmp_path / "r.json", doc), "--policy",
                 str(tmp_path / "p.yaml"), "--json-summary", str(summary)])
    result = json.loads(summary.read_text())
    assert result["counts"]["high"] == counted
    assert code == (1 if counted else 0)
    if expires == PAST:
        assert result["expired_waivers"][0]["id"] == f"vex:sha256:{accepted}"


@pytest.mark.parametrize("entry", [
    "{sha256: 'AB', reason: r, expires: '2030-01-01'}",
    "{sha256: '" + "AB" * 32 + "', reason: r, expires: '2030-01-01'}",  # lowercase only
    "{sha256: '" + "ab" * 32 + "', expires: '2030-01-01'}",
])
def test_accepted_vex_schema(tmp_path: Path, entry: str) -> None:
    (tmp_path / "p.yaml").write_text(f"version: 1\naccepted_vex:\n  - {entry}\n")
    code = main(["gate", "--quiet", "--report", write(tmp_path / "r.json", pushed_report()),
                 "--policy", str(tmp_path / "p.yaml")])
    assert code == 2


def test_only_our_own_source_names_count_as_a_digest() -> None:
    assert source_digest(f"vex-sha256-{'ab' * 32}.json") == "ab" * 32
    for other in (".trivyignore", f"/elsewhere/vex-sha256-{'ab' * 32}.json",
                  f"vex-sha256-{'ab' * 31}.json", "OpenVEX"):
        assert source_digest(other) is None


def test_scan_stages_vex_documents_by_digest(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "a.json").write_text('{"statements": []}')
    (tmp_path / "same.json").write_text('{"statements": []}')
    staged = stage([str(tmp_path / "a.json"), str(tmp_path / "same.json")], work)
    assert len(staged) == 1  # one document, given twice
    [(_, name, digest)] = staged
    assert (work / name).read_text() == '{"statements": []}'
    assert source_digest(name) == digest
    request = ScanRequest(target_kind="image", target="app@" + DIGEST, output="/o.json",
                          ignorefile="/i", config="/c", vex=(name,), list_all_packages=True)
    cmd = build_command("trivy", request)
    assert cmd[cmd.index("--vex") + 1] == name
    assert "--list-all-pkgs" in cmd and cmd[-1] == "app@" + DIGEST
    convert = build_convert_command("trivy", "/r.json", "/s.json", "/c", "/i")
    assert convert[:2] == ["trivy", "convert"] and convert[-1] == "/r.json"
    assert convert[convert.index("--format") + 1] == "cyclonedx"
    assert convert[convert.index("--ignorefile") + 1] == "/i"


def test_scan_refuses_an_unreadable_or_empty_vex(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.json").write_text("  \n")
    for path in (tmp_path / "absent.json", tmp_path / "empty.json"):
        code = main(["scan", "--fs", str(tmp_path), "--output", str(tmp_path / "r.json"),
                     "--trivy", "/bin/false", "--vex", str(path), "--skip-db-update",
                     "--scanners", "secret"])
        assert code == 2
        assert "--vex" in capsys.readouterr().err
