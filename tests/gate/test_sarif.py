"""SARIF that GitHub code scanning accepts and tracks: categories, rules, fingerprints, limits."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main
from scangate.outputs import sarif as sarif_module

from tests.support.dates import SOON
from tests.support.reports import fs_report, image_report, misconfig, secret, vuln, write
from tests.support.schemas import sarif_validator

# The writer's drop mode; the default refuses a SARIF over GitHub's limits.
KEEP = ("--sarif-overflow", "keep-most-severe")


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
        known = set(ids)  # looked up once per result: a list made 25,000 results quadratic
        assert len(ids) == len(known)
        for rule in rules:
            assert 0 < len(rule["name"]) <= 255
            assert 0 < len(rule["shortDescription"]["text"]) <= 1024
            assert 0 < len(rule["fullDescription"]["text"]) <= 1024
            assert rule["help"]["text"] and rule["help"]["markdown"]
            score = float(rule["properties"]["security-severity"])
            assert 0.1 <= score <= 10.0
            assert len(rule["properties"]["tags"]) <= 20
        for result in run["results"]:
            assert result["ruleId"] in known
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
        "expires: " + SOON + "}]\nignore_unfixed: true\n", encoding="utf-8")
    doc = make_sarif(tmp_path, [image_report([vuln("CVE-1"), vuln("CVE-2", fixed="")])],
                     "--policy", str(tmp_path / "p.yaml"))
    results = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    assert results["CVE-1"]["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": "not reachable; SEC-42 (waiver expires " + SOON + ")"}]
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
    doc = make_sarif(tmp_path, [image_report(vulns)], *KEEP)
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
    doc = make_sarif(tmp_path, [image_report(vulns)], *KEEP, validate=False)
    check_github_requirements(doc)
    assert len(doc["runs"][0]["results"]) == 25_000
    assert doc["runs"][0]["properties"]["dropReasons"] == {"results_over_run_limit": 10}


def test_gzip_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    budget = 60_000
    monkeypatch.setattr(sarif_module, "GZIP_BUDGET", budget)
    vulns = [vuln(f"CVE-2024-{n:05d}", pkg=f"pkg{n}", severity="HIGH" if n < 50 else "LOW",
                  Description=f"unique text {n} " * 30) for n in range(3000)]
    doc = make_sarif(tmp_path, [image_report(vulns)], *KEEP)
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
    doc = make_sarif(tmp_path, [image_report(vulns)], *KEEP)
    run = doc["runs"][0]
    assert len(run["tool"]["driver"]["rules"]) == 3
    assert sum(r["ruleId"] == "CVE-C1" for r in run["results"]) == 3
    assert run["properties"]["dropReasons"] == {"results_over_rule_limit": 2}


# --- URIs, categories, scores: what GitHub and a real SARIF validator accept ---------------

ODD_TARGETS = {
    # target as Trivy writes it: the relative reference it must become
    "127.0.0.1:5000/app": "127.0.0.1%3A5000/app",
    "C:\\build\\app\\.env": "build/app/.env",
    "https://github.com/org/mod/main.tf": "github.com/org/mod/main.tf",
    "git::https://example.com/vpc.git//main.tf": "git%3A%3Ahttps%3A/example.com/vpc.git/main.tf",
    "../../etc/passwd": "etc/passwd",
    "a/../../../b": "b",
    "%2e%2e/%2e%2e/x": "%252e%252e/%252e%252e/x",
    "/abs/with space/x#y?z": "abs/with%20space/x%23y%3Fz",
    "dir/ä/[1]": "dir/%C3%A4/%5B1%5D",
    "": ".",
}


def _uris(doc: dict[str, Any]) -> list[str]:
    return [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for run in doc["runs"] for r in run["results"]]


def test_artifact_uris_are_relative_references_inside_the_checkout(tmp_path: Path) -> None:
    """RFC 3986: a relative-path reference's first segment may not contain ':' (it would be a
    scheme), and '..' must not climb out of the repository; backslashes are not URI syntax."""
    from urllib.parse import unquote

    from tests.support.rfc3986 import is_relative_path_reference

    results = [{"Target": target, "Class": "secret", "Secrets": [secret(f"rule-{n}", line=2)]}
               for n, target in enumerate(ODD_TARGETS)]
    doc = make_sarif(tmp_path, [fs_report(results, name="."),
                                image_report([vuln()], name="127.0.0.1:5000/app:1.0")],
                     validate=False)
    by_rule = {r["ruleId"]: r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
               for r in doc["runs"][0]["results"]}
    assert [by_rule[f"rule-{n}"] for n in range(len(ODD_TARGETS))] == list(ODD_TARGETS.values())
    # The image's OS packages sit at the image repository, as in Trivy's SARIF: with its port.
    assert _uris(doc)[-1] == "127.0.0.1%3A5000/app"
    for uri in _uris(doc):
        assert is_relative_path_reference(uri), uri
        assert ".." not in unquote(uri).split("/")
        assert "\\" not in uri


def test_odd_targets_are_schema_valid_with_format_checking(tmp_path: Path) -> None:
    from tests.support.schemas import require_sarif_validator, schema_errors

    validator = require_sarif_validator()
    results = [{"Target": target, "Class": "secret", "Secrets": [secret(f"rule-{n}")]}
               for n, target in enumerate(ODD_TARGETS)]
    doc = make_sarif(tmp_path, [fs_report(results),
                                image_report([vuln(PrimaryURL="https://a b/(x)")],
                                             name="127.0.0.1:5000/app:1")], validate=False)
    assert schema_errors(validator, doc) == []
    # The check can fail: the raw targets are not URI references.
    bad = json.loads(json.dumps(doc))
    bad["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"] = "127.0.0.1:5000/app"
    assert schema_errors(validator, bad)


def test_help_uri_is_only_an_absolute_http_url(tmp_path: Path) -> None:
    doc = make_sarif(tmp_path, [image_report([
        vuln("CVE-1", PrimaryURL="https://avd.aquasec.com/nvd/cve-1"),
        vuln("CVE-2", PrimaryURL="javascript:alert(1)"),
        vuln("CVE-3", PrimaryURL="https://host with space/x"),
        vuln("CVE-4", PrimaryURL="https://a/%zz"),
    ])])
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["CVE-1"]["helpUri"] == "https://avd.aquasec.com/nvd/cve-1"
    assert all("helpUri" not in rules[i] for i in ("CVE-2", "CVE-3", "CVE-4"))


def _upload_action_key(category: str) -> str:
    """github/codeql-action src/upload-lib.ts ``sanitize``: what the action compares."""
    import re

    return re.sub(r"[^a-zA-Z0-9_]", "_", category).upper()


@pytest.mark.parametrize("given", [
    [],
    ["a"],
    ["a", "a", "a-2", "A"],
    ["x/", "x", " x ", "X."],
    ["img.a", "img-a", "IMG_A", "img a"],
])
def test_categories_are_unique_as_github_compares_them(tmp_path: Path,
                                                       given: list[str]) -> None:
    """Two runs with one tool and category in an upload are rejected (github/codeql-action
    src/upload-lib.ts ``throwIfCombineSarifFilesDisabled``; GitHub changelog 2025-07-21), and
    the action compares categories after ``sanitize`` (non-alphanumerics to '_', upper case)."""
    names = ["reg/app-a:1", "reg/app.a:1", "REG/APP_A:1", "reg/app a:1"]
    docs = [image_report([vuln()], name=name) for name in names]
    args = [arg for category in given for arg in ("--sarif-category", category)]
    doc = make_sarif(tmp_path, docs, *args, name=f"c{len(given)}.sarif")
    ids = [run["automationDetails"]["id"] for run in doc["runs"]]
    assert len(ids) == 4
    assert all(i.endswith("/") and i.count("/") >= 1 and i != "/" for i in ids)
    categories = [i[:-1] for i in ids]
    assert len({_upload_action_key(c) for c in categories}) == 4, categories
    assert len(set(ids)) == 4


@pytest.mark.parametrize(("entry", "expected"), [
    # The severity's own source has a CVSS v3 score: that score.
    ({"Severity": "HIGH", "SeveritySource": "nvd",
      "CVSS": {"nvd": {"V3Score": 7.5}, "redhat": {"V3Score": 9.8}}}, "7.5"),
    # The severity came from the distribution, which has no score: the severity's number,
    # never another vendor's score (NVD's 9.8 would call a LOW critical).
    ({"Severity": "LOW", "SeveritySource": "debian",
      "CVSS": {"nvd": {"V3Score": 9.8}}}, "2.0"),
    ({"Severity": "MEDIUM", "CVSS": {"nvd": {"V3Score": 9.8}}}, "5.5"),
    # Trivy reads V3Score only, and treats 0 as absent.
    ({"Severity": "HIGH", "SeveritySource": "nvd", "CVSS": {"nvd": {"V40Score": 9.3}}}, "8.0"),
    ({"Severity": "CRITICAL", "SeveritySource": "nvd", "CVSS": {"nvd": {"V3Score": 0}}}, "9.5"),
    # Out of range in a hostile report: bounded.
    ({"Severity": "LOW", "SeveritySource": "nvd", "CVSS": {"nvd": {"V3Score": 99}}}, "10.0"),
    ({"Severity": "LOW", "SeveritySource": "nvd",
      "CVSS": {"nvd": {"V3Score": 10**400}}}, "10.0"),
    ({"Severity": "LOW", "SeveritySource": "nvd", "CVSS": {"nvd": {"V3Score": -4}}}, "0.1"),
    ({"Severity": "HIGH", "SeveritySource": "nvd", "CVSS": {"nvd": {"V3Score": "9.9"}}}, "8.0"),
    # UNKNOWN: Trivy writes 0.0 (GitHub: no security severity); kept a low alert instead.
    ({"Severity": "UNKNOWN"}, "0.1"),
])
def test_security_severity_comes_from_the_severity_source(tmp_path: Path,
                                                          entry: dict[str, Any],
                                                          expected: str) -> None:
    row = vuln("CVE-2024-0100")
    row.pop("SeveritySource", None)
    row.update(entry)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(image_report([row])), encoding="utf-8")
    out = tmp_path / "o.sarif"
    assert main(["gate", "--quiet", "--max-critical", "9", "--report", str(path),
                 "--sarif", str(out)]) in (0, 1)
    (rule,) = json.loads(out.read_text())["runs"][0]["tool"]["driver"]["rules"]
    assert rule["properties"]["security-severity"] == expected


def test_a_rule_with_several_scores_takes_the_highest(tmp_path: Path) -> None:
    doc = make_sarif(tmp_path, [image_report([
        vuln("CVE-7", pkg="a", severity="MEDIUM", score=5.0),
        vuln("CVE-7", pkg="b", severity="HIGH", score=7.8),
    ])])
    (rule,) = doc["runs"][0]["tool"]["driver"]["rules"]
    assert rule["properties"]["security-severity"] == "7.8"


# --- size limits across several reports ------------------------------------------------------

def _heavy(report_no: int, count: int = 1500) -> dict[str, Any]:
    vulns = [vuln(f"CVE-2024-{report_no}{n:05d}", pkg=f"pkg{n}",
                  severity="HIGH" if n < 40 else "LOW",
                  Description=f"unique text {report_no} {n} " * 30) for n in range(count)]
    return image_report(vulns, name=f"registry.example/app{report_no}:1.0")


@pytest.mark.parametrize("reports", [1, 2, 5])
def test_size_limit_across_reports_fills_the_budget_most_severe_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reports: int) -> None:
    """GitHub refuses a SARIF file over 10 MB gzip (../shared/notes/platform-limits.md): the
    trim must happen, keep the most severe results of every report first, and still use the
    budget (the multi-report path once kept 28 results, 4.8 KB, of a 60 KB budget)."""
    budget = 60_000
    monkeypatch.setattr(sarif_module, "GZIP_BUDGET", budget)
    doc = make_sarif(tmp_path, [_heavy(n) for n in range(reports)], *KEEP, validate=False)
    raw = (tmp_path / "out.sarif").read_bytes()
    # Within the limit as GitHub's upload compresses it (zlib's default level) ...
    assert len(gzip.compress(raw, 6)) <= budget
    # ... and filled: at the meter's level 1, at least 90% of the budget.
    assert len(gzip.compress(raw, 1)) >= 0.9 * budget
    kept = [[r["level"] for r in run["results"]] for run in doc["runs"]]
    assert sum(map(len, kept)) < 1500 * reports  # trimmed
    # Most severe first across reports: a LOW anywhere means every HIGH everywhere was kept.
    if any("note" in levels for levels in kept):
        assert all(levels.count("error") == 40 for levels in kept)
    for levels in kept:
        assert levels == sorted(levels, key=lambda level: level != "error")
    for run, levels in zip(doc["runs"], kept, strict=True):
        assert run["properties"]["resultsDropped"] == 1500 - len(levels)


def test_twenty_reports_make_one_valid_file(tmp_path: Path) -> None:
    """20 runs per file is GitHub's limit, not one less."""
    docs = [image_report([vuln()], name=f"registry.example/a{n}:1") for n in range(20)]
    doc = make_sarif(tmp_path, docs)
    check_github_requirements(doc)
    assert len(doc["runs"]) == 20


def test_drop_warning_says_what_keeps_the_findings(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sarif_module, "MAX_RESULTS_PER_RUN", 1)
    make_sarif(tmp_path, [image_report([vuln("CVE-1"), vuln("CVE-2")])], *KEEP)
    err = capsys.readouterr().err
    assert "drops 1" in err and "GitLab report (--gitlab-report) lists them all" in err
    assert "JSON and GitLab reports keep every finding" not in err


def test_rule_help_markdown_has_no_injected_links_or_html(tmp_path: Path) -> None:
    doc = make_sarif(tmp_path, [image_report([
        vuln("CVE-1", pkg="a](https://evil.example) <b>", References=[
            "https://nvd.nist.gov/vuln/detail/CVE-1", "javascript:alert(1)",
            "https://x.example/a b", "https://ok.example/<script>"]),
    ])])
    (rule,) = doc["runs"][0]["tool"]["driver"]["rules"]
    md = rule["help"]["markdown"]
    assert "- <https://nvd.nist.gov/vuln/detail/CVE-1>" in md
    assert "- `javascript:alert(1)`" in md and "- `https://x.example/a b`" in md
    assert "- `https://ok.example/<script>`" in md
    assert "| `a](https://evil.example) <b>` |" in md


def test_dockerfile_in_the_checkout_is_a_path_relative_to_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI runs scangate in the checkout and passes an absolute path: the alert must open at
    the repository's file (``docker/Dockerfile``), not at ``home/runner/.../Dockerfile``."""
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text("FROM debian:12\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    doc = make_sarif(tmp_path, [image_report([vuln()])], "--dockerfile",
                     str(tmp_path / "docker" / "Dockerfile"))
    assert _uris(doc) == ["docker/Dockerfile"]


def test_result_messages_link_only_to_http_urls(tmp_path: Path) -> None:
    doc = make_sarif(tmp_path, [image_report([
        vuln("CVE-1", PrimaryURL="https://avd.aquasec.com/nvd/cve-1"),
        vuln("CVE-2", PrimaryURL="javascript:alert(1)"),
    ])])
    messages = {r["ruleId"]: r["message"]["text"] for r in doc["runs"][0]["results"]}
    assert "Link: [CVE-1](https://avd.aquasec.com/nvd/cve-1)" in messages["CVE-1"]
    assert "javascript" not in messages["CVE-2"]


def test_a_budget_no_document_fits_is_an_error_not_a_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sarif_module, "GZIP_BUDGET", 100)
    argv = ["gate", "--report", write(tmp_path / "a.json", image_report([vuln()])),
            "--report", write(tmp_path / "b.json", image_report([vuln()], name="x/b:1")),
            "--sarif", str(tmp_path / "o.sarif"), *KEEP]
    assert main(argv) == 2
    assert "split the reports" in capsys.readouterr().err
    assert not (tmp_path / "o.sarif").exists()


def test_the_size_cut_is_the_same_in_every_run(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The meter compresses on its own thread; what the stop decision knows at each result must
    not depend on how far that thread got, or two runs of one report would keep different
    results (and GitHub would open and close alerts between them)."""
    monkeypatch.setattr(sarif_module, "GZIP_BUDGET", 60_000)
    vulns = [vuln(f"CVE-2024-{n:05d}", pkg=f"pkg{n}", severity="LOW",
                  Description=f"unique text {n} " * 30) for n in range(3000)]
    report = write(tmp_path / "r.json", image_report(vulns))
    outputs = []
    for attempt in range(3):
        out = tmp_path / f"run{attempt}.sarif"
        assert main(["gate", "--quiet", "--report", report, "--sarif", str(out),
                     "--sarif-overflow", "keep-most-severe"]) == 0
        outputs.append(out.read_bytes())
    assert b"results_over_size_limit" in outputs[0]
    assert outputs[0] == outputs[1] == outputs[2]


def test_a_write_error_on_the_meter_thread_fails_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The SARIF bytes are written by the meter's thread: a full disk there is still exit 2
    with one line, and no output is left behind."""
    real = sarif_module._Sink._write_and_meter
    calls = []

    def full_disk(self: Any, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) > 3:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(sarif_module._Sink, "_write_and_meter", full_disk)
    vulns = [vuln(f"CVE-2024-{n:05d}", pkg=f"pkg{n}", Description=f"text {n} " * 40)
             for n in range(2000)]
    report = write(tmp_path / "r.json", image_report(vulns))
    out = tmp_path / "out.sarif"
    summary = tmp_path / "summary.json"
    code = main(["gate", "--quiet", "--report", report, "--sarif", str(out),
                 "--json-summary", str(summary)])
    assert code == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not summary.exists()
    assert not list(tmp_path.glob(".scangate-*"))
