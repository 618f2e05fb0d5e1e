"""The GitLab container-scanning report: valid, stable unique ids, CVE first, real locations."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from scangate._cli import main

from tests.support.dates import SOON
from tests.support.reports import fs_report, image_report, misconfig, secret, vuln, write
from tests.support.schemas import gitlab_validator

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def make_report(tmp_path: Path, docs: list[dict[str, Any]], name: str = "gl.json",
                *args: str) -> dict[str, Any]:
    argv = ["gate", "--quiet"]
    for number, doc in enumerate(docs):
        argv += ["--report", write(tmp_path / f"{name}-{number}.json", doc)]
    out = tmp_path / name
    assert main([*argv, "--gitlab-report", str(out), *args]) in (0, 1)
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    validator = gitlab_validator()
    if validator is not None:
        errors = list(validator.iter_errors(report))
        assert not errors, errors[0].message
    # What the schema requires, checked without it too.
    scan = report["scan"]
    assert report["version"] == "15.2.1"
    assert scan["type"] == "container_scanning"
    assert TIME.match(scan["start_time"]) and TIME.match(scan["end_time"])
    for v in report["vulnerabilities"]:
        uuid.UUID(v["id"])
        assert v["identifiers"] and v["location"]["operating_system"] and v["location"]["image"]
        assert v["severity"] in {"Info", "Unknown", "Low", "Medium", "High", "Critical"}
        assert len(v["name"]) <= 255
    return report


def test_vulnerabilities_have_cve_primary_and_locations(tmp_path: Path) -> None:
    report = make_report(tmp_path, [image_report([
        vuln("CVE-2024-0001", pkg="openssl", installed="3.0.1-1", fixed="3.0.2-1",
             severity="CRITICAL"),
        vuln("GHSA-aaaa-bbbb-cccc", pkg="zlib", fixed="", severity="LOW"),
    ])])
    first, second = report["vulnerabilities"]
    assert first["identifiers"][0] == {
        "type": "cve", "name": "CVE-2024-0001", "value": "CVE-2024-0001",
        "url": "https://avd.aquasec.com/nvd/cve-2024-0001"}
    assert first["location"] == {
        "dependency": {"package": {"name": "openssl"}, "version": "3.0.1-1"},
        "operating_system": "debian 12.5", "image": "registry.example/app:1.0"}
    assert first["severity"] == "Critical"
    assert first["solution"] == "Upgrade openssl to 3.0.2-1"
    assert second["identifiers"][0]["type"] == "ghsa"
    assert "solution" not in second


def test_ids_are_unique_and_stable(tmp_path: Path) -> None:
    doc = image_report([vuln("CVE-1", pkg="a"), vuln("CVE-1", pkg="b"), vuln("CVE-2", pkg="a"),
                        vuln("CVE-2", pkg="a")])  # an identical row twice: both kept
    one = [v["id"] for v in make_report(tmp_path, [doc], "one.json")["vulnerabilities"]]
    two = [v["id"] for v in make_report(tmp_path, [doc], "two.json")["vulnerabilities"]]
    assert one == two
    assert len(set(one)) == 4
    other_image = image_report([vuln("CVE-1", pkg="a")], name="registry.example/other:1.0")
    three = make_report(tmp_path, [other_image], "three.json")["vulnerabilities"][0]["id"]
    assert three not in one


def test_secrets_and_misconfigurations_are_reported_too(tmp_path: Path) -> None:
    report = make_report(tmp_path, [fs_report([
        {"Target": "deploy.sh", "Class": "secret", "Secrets": [secret(line=3)]},
        {"Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
         "Misconfigurations": [misconfig()]},
    ], name="/builds/group/project")])
    by_type = {v["identifiers"][0]["type"]: v for v in report["vulnerabilities"]}
    assert by_type["trivy_secret_rule"]["location"]["dependency"] == {
        "package": {"name": "deploy.sh"}, "version": "line 3"}
    assert by_type["trivy_misconfiguration"]["solution"].startswith("Add 'USER")


def test_waived_findings_say_so(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "version: 1\nwaivers: [{id: CVE-1, reason: SEC-9, expires: " + SOON + "}]\n")
    report = make_report(tmp_path, [image_report([vuln("CVE-1")])], "gl.json",
                         "--policy", str(tmp_path / "p.yaml"))
    description = report["vulnerabilities"][0]["description"]
    assert f"Waived by policy until {SOON}: SEC-9" in description


def test_empty_scan_is_still_a_valid_report(tmp_path: Path) -> None:
    report = make_report(tmp_path, [image_report([])])
    assert report["vulnerabilities"] == []


def test_image_location_is_the_tag_not_the_tarball_path(tmp_path: Path) -> None:
    doc = image_report([vuln()], name="scangate-out/app/image.tar.gz")
    doc["Metadata"]["RepoTags"] = ["registry.example/team/app:abc123"]
    report = make_report(tmp_path, [doc])
    assert report["vulnerabilities"][0]["location"]["image"] == "registry.example/team/app:abc123"


def test_finding_ids_are_uuid5_of_the_finding() -> None:
    # The id function is a fast uuid5; ids must stay exactly what uuid5 gives, forever.
    from scangate.outputs.gitlab import ID_NAMESPACE, _uuid5

    for name in ("", "a", "registry/app\x1f" + "f" * 64, "ünïcödé\x1f2", "x" * 1000):
        assert _uuid5(name) == str(uuid.uuid5(ID_NAMESPACE, name))


def test_links_are_what_the_schema_calls_a_url() -> None:
    from scangate.outputs.gitlab import _is_url

    good = ["https://a", "http://a/b?c=d", "ftp://host/x", "https://x://y", "https://a b"]
    bad = ["https://", "http:/a", "mailto:x@y", "https://\nx", "https://a\rb", "https://a\u2028",
           "HTTPS://upper", " https://lead", "javascript:alert(1)"]
    assert all(_is_url(u) for u in good)
    assert not any(_is_url(u) for u in bad)


def test_reports_are_schema_valid(tmp_path: Path) -> None:
    """GitLab drops an invalid report whole (since 15.0; ../shared/notes/platform-limits.md).
    Skipped, with the reason, when ../shared has no schema."""
    from tests.support.schemas import require_gitlab_validator, schema_errors

    validator = require_gitlab_validator()
    (tmp_path / "p.yaml").write_text(
        "version: 1\nwaivers: [{id: CVE-1, reason: SEC-9, expires: " + SOON + "}]\n")
    docs = [
        image_report([vuln("CVE-1"), vuln("CVE-1"), vuln("GHSA-x", PrimaryURL="https://a b"),
                      vuln("X-1", fixed="", PrimaryURL="javascript:alert(1)")],
                     name="127.0.0.1:5000/app:1.0"),
        fs_report([{"Target": "C:\\app\\.env", "Class": "secret", "Secrets": [secret()]},
                   {"Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
                    "Misconfigurations": [misconfig(line=2)]}], name="."),
    ]
    for number, doc in enumerate(docs):
        report = make_report(tmp_path, [doc], f"v{number}.json", "--policy",
                             str(tmp_path / "p.yaml"))
        assert schema_errors(validator, report) == []
    broken = json.loads(json.dumps(report))
    broken["vulnerabilities"][0]["severity"] = "Severe"
    assert schema_errors(validator, broken)  # the check can fail


def test_links_found_in_one_search_are_those_the_schema_accepts_one_by_one() -> None:
    """The writer checks a finding's references in one multi-line search; with any other line
    break in them it must fall back, so each link is still judged as the schema's pattern
    judges it on its own."""
    import itertools

    from scangate.outputs.gitlab import _is_url, _urls

    cases = ["https://a", "http://b/c?d=e", "ftp://x", "https://", "https://a\nb",
             "https://a\rb", "x https://a", "https://a\u2028", "https://a\u2029b", "",
             "HTTP://a", "https://a\x00b", "ftps://a", "https://a b", "\nhttps://a"]
    for size in (1, 2, 3):
        for combo in itertools.permutations(cases, size):
            assert _urls(list(combo)) == [url for url in combo if _is_url(url)], combo
