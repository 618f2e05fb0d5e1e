"""SARIF that GitHub code scanning accepts and tracks: categories, rules, fingerprints, limits."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main
from scangate.outputs import sarif as sarif_module

from tests.support.reports import fs_report, image_report, misconfig, secret, vuln, write
from tests.support.schemas import sarif_validator


def make_sarif(tmp_path: Path, docs: list[dict[str, Any]], *args: str,
               name: str = "out.sarif", validate: bool = True) -> dict[str, Any]:
    argv = ["gate", "--quiet", "--max-critical", "100000"]
    for number, doc in enumerate(docs):
        argv += ["--report", write(tmp_path / f"{name}-r{number}.json", doc)]
    out = tmp_path / name
    code = main([*argv, "--sarif", str(out), *args])
    assert code in (0, 1)
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    validator = sarif_validator() if validate else None
    if validator is not None:
        errors = list(validator.iter_errors(doc))
        assert not errors, errors[0].message
    return doc


def check_github_requirements(doc: dict[str, Any]) -> None:
    """What GitHub requires beyond the schema (../shared/notes/platform-limits.md)."""
    assert doc["version"] == "2.1.0" and doc["$schema"]
    assert len(doc["runs"]) <= 20
    categories = [run["automationDetails"]["id"] for run in doc["runs"]]
    assert len(set(categories)) == len(categories)
    for run in doc["runs"]:
        rules = run["tool"]["driver"]["rules"]
        ids = [r["id"] for r in rules]
        assert len(ids) == len(set(ids))
        for rule in rules:
            assert 0 < len(rule["name"]) <= 255
            assert 0 < len(rule["shortDescription"]["text"]) <= 1024
            assert 0 < len(rule["fullDescription"]["text"]) <= 1024
            assert rule["help"]["text"] and rule["help"]["markdown"]
            score = float(rule["properties"]["security-severity"])
            assert 0.1 <= score <= 10.0
            assert len(rule["properties"]["tags"]) <= 20
        for result in run["results"]:
            assert result["ruleId"] in ids
            assert result["message"]["text"]
            assert 1 <= len(result["locations"]) <= 1000
            region = result["locations"][0]["physicalLocation"]["region"]
            assert region["startLine"] >= 1
            assert result["partialFingerprints"]["primaryLocationLineHash"]


def test_one_run_per_report_with_distinct_categories(tmp_path: Path) -> None:
    a = image_report([vuln()], name="registry.example/team/api:1.0")
    b = image_report([vuln()], name="registry.example/team/worker:1.0")
    doc = make_sarif(tmp_path, [a, b])
    check_github_requirements(doc)
    assert [r["automationDetails"]["id"] for r in doc["runs"]] == [
        "scangate-registry.example-team-api/", "scangate-registry.example-team-worker/"]


def test_category_is_stable_across_tags_and_given_categories_are_used(tmp_path: Path) -> None:
    v1 = make_sarif(tmp_path, [image_report([vuln()], name="reg/app:1.0")], name="a.sarif")
    v2 = make_sarif(tmp_path, [image_report([vuln()], name="reg/app@sha256:" + "a" * 64)],
                    name="b.sarif")
    assert v1["runs"][0]["automationDetails"] == v2["runs"][0]["automationDetails"]
    given = make_sarif(tmp_path, [image_report([vuln()]), image_report([vuln()], name="x/y:2")],
                       "--sarif-category", "container", name="c.sarif")
    ids = [r["automationDetails"]["id"] for r in given["runs"]]
    assert ids == ["container-registry.example-app/", "container-x-y/"]


def test_category_count_must_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = write(tmp_path / "r.json", image_report([vuln()]))
    report2 = write(tmp_path / "r2.json", image_report([vuln()], name="b:1"))
    code = main(["gate", "--report", report, "--report", report2, "--report",
                 write(tmp_path / "r3.json", image_report([vuln()], name="c:1")),
                 "--sarif", str(tmp_path / "o.sarif"),
                 "--sarif-category", "a", "--sarif-category", "b"])
    assert code == 2
    assert "given 2 times for 3 reports" in capsys.readouterr().err


def test_rules_are_deduplicated_with_security_severity(tmp_path: Path) -> None:
    doc = make_sarif(tmp_path, [image_report([
        vuln("CVE-2024-0001", pkg="libssl3", severity="HIGH", score=7.5),
        vuln("CVE-2024-0001", pkg="openssl", severity="HIGH", score=7.5),
        vuln("CVE-2024-0002", pkg="zlib", severity="CRITICAL"),
        vuln("CVE-2024-0003", pkg="zlib", severity="LOW"),
    ])])
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert sorted(rules) == ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003"]
    assert rules["CVE-2024-0001"]["properties"]["security-severity"] == "7.5"
    assert rules["CVE-2024-0002"]["properties"]["security-severity"] == "9.5"
    assert rules["CVE-2024-0003"]["properties"]["security-severity"] == "2.0"
    help_md = rules["CVE-2024-0001"]["help"]["markdown"]
    assert "| `libssl3` | `3.0.1-1` | `3.0.2-1` |" in help_md and "| `openssl` |" in help_md
    assert "https://nvd.nist.gov/vuln/detail/CVE-2024-0001" in help_md
    assert len(run["results"]) == 4
    # Most severe first, so GitHub's top-5,000 view and any truncation keep the worst.
    assert [r["level"] for r in run["results"]] == ["error", "error", "error", "note"]


def test_fingerprints_are_stable_across_runs_tags_and_paths(tmp_path: Path) -> None:
    def fingerprints(name: str, out: str) -> list[str]:
        doc = make_sarif(tmp_path, [image_report([vuln("CVE-1"), vuln("CVE-2", pkg="zlib")],
                                                 name=name)], name=out)
        return [r["partialFingerprints"]["scangate/v1"] for r in doc["runs"][0]["results"]]

    first = fingerprints("reg/app:1.0", "1.sarif")
    assert first == fingerprints("reg/app:1.0", "2.sarif")
    assert first == fingerprints("reg/app:2.0", "3.sarif")
    assert len(set(first)) == 2
    changed = make_sarif(tmp_path, [image_report([vuln("CVE-1", installed="3.0.9-1")],
                                                 name="reg/app:1.0")], name="4.sarif")
    assert changed["runs"][0]["results"][0]["partialFingerprints"]["scangate/v1"] not in first


def test_waived_findings_stay_with_a_suppression(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "version: 1\nwaivers: [{id: CVE-1, reason: 'not reachable; SEC-42', "
        "expires: 2999-01-01}]\nignore_unfixed: true\n", encoding="utf-8")
    doc = make_sarif(tmp_path, [image_report([vuln("CVE-1"), vuln("CVE-2", fixed="")])],
                     "--policy", str(tmp_path / "p.yaml"))
    results = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    assert results["CVE-1"]["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": "not reachable; SEC-42 (waiver expires 2999-01-01)"}]
    assert results["CVE-1"]["properties"]["disposition"] == "waived"
    assert "suppressions" not in results["CVE-2"]
    assert results["CVE-2"]["properties"]["disposition"] == "ignored_unfixed"


def test_dockerfile_anchors_image_findings_on_final_from(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG BASE=x\nFROM python AS build\nRUN true\n\nfrom ${BASE}\nUSER 1\n")
    doc = make_sarif(tmp_path, [image_report([vuln()])], "--dockerfile", str(dockerfile))
    location = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == str(dockerfile).lstrip("/")
    assert location["region"]["startLine"] == 5


def test_dockerfile_without_from_is_an_error(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("RUN true\n")
    code = main(["gate", "--report", write(tmp_path / "r.json", image_report([vuln()])),
                 "--sarif", str(tmp_path / "o.sarif"), "--dockerfile", str(dockerfile)])
    assert code == 2
    assert "no FROM line" in capsys.readouterr().err
    assert not (tmp_path / "o.sarif").exists()


def test_file_findings_point_at_their_lines(tmp_path: Path) -> None:
    doc = make_sarif(tmp_path, [fs_report([
        {"Target": "scripts/deploy.sh", "Class": "secret", "Secrets": [secret(line=7)]},
        {"Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
         "Misconfigurations": [misconfig(line=4)]},
    ])])
    check_github_requirements(doc)
    locations = {r["ruleId"]: r["locations"][0]["physicalLocation"]
                 for r in doc["runs"][0]["results"]}
    assert locations["aws-access-key-id"]["artifactLocation"]["uri"] == "scripts/deploy.sh"
    assert locations["aws-access-key-id"]["region"]["startLine"] == 7
    assert locations["DS-0002"]["region"]["startLine"] == 4


def test_run_result_limit_keeps_the_most_severe(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sarif_module, "MAX_RESULTS_PER_RUN", 10)
    vulns = [vuln(f"CVE-L{n}", severity="LOW") for n in range(20)]
    vulns += [vuln(f"CVE-C{n}", severity="CRITICAL") for n in range(5)]
    doc = make_sarif(tmp_path, [image_report(vulns)])
    run = doc["runs"][0]
    assert len(run["results"]) == 10
    assert sum(r["ruleId"].startswith("CVE-C") for r in run["results"]) == 5
    assert run["properties"]["resultsDropped"] == 15
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert rule_ids == {r["ruleId"] for r in run["results"]}
    assert "drops 15" in capsys.readouterr().err


def test_real_limit_of_25000_results(tmp_path: Path) -> None:
    vulns = [vuln(f"CVE-2024-{n:05d}", pkg=f"p{n % 50}", severity="MEDIUM") for n in range(25_010)]
    # Schema-validating 25,000 results takes minutes; the structure checks below cover it.
    doc = make_sarif(tmp_path, [image_report(vulns)], validate=False)
    check_github_requirements(doc)
    assert len(doc["runs"][0]["results"]) == 25_000
    assert doc["runs"][0]["properties"]["dropReasons"] == {"results_over_run_limit": 10}


def test_gzip_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    budget = 60_000
    monkeypatch.setattr(sarif_module, "GZIP_BUDGET", budget)
    vulns = [vuln(f"CVE-2024-{n:05d}", pkg=f"pkg{n}", severity="HIGH" if n < 50 else "LOW",
                  Description=f"unique text {n} " * 30) for n in range(3000)]
    doc = make_sarif(tmp_path, [image_report(vulns)])
    raw = (tmp_path / "out.sarif").read_bytes()
    assert len(gzip.compress(raw)) <= budget
    # Metered, not guessed: the kept results fill the budget at the meter's level 1 (less
    # the 3% the single pass keeps in reserve and a margin for the metering's own overhead).
    assert 0.9 * budget <= len(gzip.compress(raw, 1)) <= budget
    run = doc["runs"][0]
    assert 50 <= len(run["results"]) < 3000
    assert run["properties"]["dropReasons"]["results_over_size_limit"] == 3000 - len(run["results"])
    assert sum(r["level"] == "error" for r in run["results"]) == 50


def test_too_many_reports_for_one_sarif(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["gate"]
    for n in range(21):
        argv += ["--report", write(tmp_path / f"r{n}.json", image_report([], name=f"a{n}:1"))]
    assert main([*argv, "--sarif", str(tmp_path / "o.sarif")]) == 2
    assert "at most 20" in capsys.readouterr().err


def test_rule_limit_keeps_results_of_the_most_severe_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sarif_module, "MAX_RULES_PER_RUN", 3)
    vulns = [vuln(f"CVE-L{n}", severity="LOW") for n in range(4)]
    vulns += [vuln("CVE-C1", pkg=p, severity="CRITICAL") for p in ("a", "b", "c")]
    doc = make_sarif(tmp_path, [image_report(vulns)])
    run = doc["runs"][0]
    assert len(run["tool"]["driver"]["rules"]) == 3
    assert sum(r["ruleId"] == "CVE-C1" for r in run["results"]) == 3
    assert run["properties"]["dropReasons"] == {"results_over_rule_limit": 2}
