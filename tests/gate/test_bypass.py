"""Bypasses: a finding exists and the gate must not pass (issue 13 section 1).

Each test is written the way the attacker would try it: a scanner suppression nobody reviewed,
a report key spelled so that Trivy reads it and a strict reader would not, a pair of flags
where one undoes the other, a misconfiguration status that only looks like PASS, and
--ignore-unfixed stretched to findings that have no fix to wait for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main
from scangate.trivy_json import go_fold

from tests.support.dates import SOON
from tests.support.reports import fs_report, image_report, misconfig, secret, vuln, write

CRITICAL = vuln("CVE-2020-14343", pkg="PyYAML", installed="5.3.1", fixed="5.4",
                severity="CRITICAL")


def gate(tmp_path: Path, doc: Any, *args: str) -> tuple[int, dict[str, Any] | None]:
    report = write(tmp_path / "report.json", doc)
    summary = tmp_path / "summary.json"
    code = main(["gate", "--report", report, "--json-summary", str(summary), "--quiet", *args])
    return code, json.loads(summary.read_text()) if summary.exists() else None


def suppressed(kind: str, finding: dict[str, Any], source: str = ".trivyignore",
               status: str = "ignored") -> dict[str, Any]:
    """An ExperimentalModifiedFindings entry as Trivy 0.76 writes it with --show-suppressed."""
    return {"Type": kind, "Status": status, "Statement": "", "Source": source,
            "Finding": finding}


def with_suppressed(*entries: dict[str, Any]) -> dict[str, Any]:
    doc = image_report([vuln(severity="LOW")])
    doc["Results"][0]["ExperimentalModifiedFindings"] = list(entries)
    return doc


# --- the scanner's own suppressions --------------------------------------------------------

@pytest.mark.parametrize(("kind", "finding"), [
    ("vulnerability", CRITICAL),
    ("secret", secret()),
    ("misconfiguration", misconfig(severity="CRITICAL")),
])
@pytest.mark.parametrize(("source", "status"), [
    (".trivyignore", "ignored"), ("trivy.yaml", "ignored"), ("vex.json", "not_affected"),
    ("ignore.rego", "ignored"),
])
def test_suppressed_findings_count(tmp_path: Path, kind: str, finding: dict[str, Any],
                                   source: str, status: str) -> None:
    code, summary = gate(tmp_path, with_suppressed(suppressed(kind, finding, source, status)))
    assert code == 1
    assert summary is not None and summary["counts"]["critical"] == 1


def test_a_policy_waiver_is_what_lets_a_suppressed_finding_pass(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nwaivers:\n  - {id: CVE-2020-14343, package: PyYAML, "
                      "reason: 'not reachable; SEC-1', expires: " + SOON + "}\n")
    code, summary = gate(tmp_path, with_suppressed(suppressed("vulnerability", CRITICAL)),
                         "--policy", str(policy))
    assert code == 0
    assert summary is not None and summary["waived"] == 1


def test_a_suppressed_license_is_not_gated_and_an_unknown_type_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    license_entry = suppressed("license", {"Name": "GPL-3.0", "Severity": "HIGH"})
    assert gate(tmp_path, with_suppressed(license_entry))[0] == 0
    code, summary = gate(tmp_path, with_suppressed(suppressed("sast", CRITICAL)))
    assert code == 2 and summary is None
    assert "Type 'sast' is not one scangate knows" in capsys.readouterr().err


@pytest.mark.parametrize("entry", [
    "not an object",
    {"Type": "vulnerability", "Status": "ignored"},  # no Finding
    {"Type": "vulnerability", "Finding": {**CRITICAL, "Severity": None}},
])
def test_broken_suppressed_entries_are_errors(tmp_path: Path, entry: Any) -> None:
    assert gate(tmp_path, with_suppressed(entry))[0] == 2


# --- keys in another letter case -----------------------------------------------------------

def _recase(doc: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {(new if k == old else k): v for k, v in doc.items()}


def _variants() -> list[tuple[str, Any]]:
    top = image_report([CRITICAL])
    result = top["Results"][0]
    cases: list[tuple[str, Any]] = [
        ("results", _recase(top, "Results", "results")),
        ("RESULTS", _recase(top, "Results", "RESULTS")),
        ("Re\u017fults (long s)", _recase(top, "Results", "Re\u017fults")),
        ("vulnerabilities", {**top, "Results": [_recase(result, "Vulnerabilities",
                                                        "vulnerabilities")]}),
        ("secrets", fs_report([{"Target": "a", "Class": "secret", "secrets": [secret()]}])),
        ("misconfigurations", fs_report([{"Target": "Dockerfile", "Class": "config",
                                          "MISCONFIGURATIONS": [misconfig()]}])),
        ("experimentalmodifiedfindings", fs_report([{
            "Target": "a", "experimentalModifiedFindings": [suppressed("vulnerability",
                                                                       CRITICAL)]}])),
    ]
    # A duplicate in another case: Go keeps the later value (CRITICAL), a strict reader the
    # first (LOW).
    low_then_critical = json.dumps(image_report([vuln(severity="LOW")])).replace(
        '"Severity": "LOW"', '"Severity": "LOW", "severity": "CRITICAL"')
    cases.append(("Severity + severity", low_then_critical))
    waived_then_real = json.dumps(image_report([vuln("CVE-WAIVED", severity="CRITICAL")])).replace(
        '"VulnerabilityID": "CVE-WAIVED"',
        '"VulnerabilityID": "CVE-WAIVED", "vulnerabilityID": "CVE-2020-14343"')
    cases.append(("VulnerabilityID + vulnerabilityID", waived_then_real))
    fixed_hidden = json.dumps(image_report([vuln(severity="CRITICAL", fixed="")])).replace(
        '"Severity": "CRITICAL"', '"Severity": "CRITICAL", "fixedversion": "1.2"')
    cases.append(("fixedversion", fixed_hidden))
    kelvin = json.dumps(image_report([vuln(severity="CRITICAL")])).replace(
        '"PkgName"', '"P\\u212agName"', 1)
    cases.append(("P\u212agName (Kelvin sign)", kelvin))
    sec = secret(severity="LOW")
    sec["SEVERITY"] = "CRITICAL"
    cases.append(("secret SEVERITY", fs_report([{"Target": "a", "Secrets": [sec]}])))
    mis = misconfig(status="FAIL")
    mis["status"] = "PASS"
    cases.append(("misconfig status", fs_report([{"Target": "D", "Misconfigurations": [mis]}])))
    return cases


@pytest.mark.parametrize(("name", "doc"), _variants(), ids=[n for n, _ in _variants()])
def test_keys_trivy_would_read_ignoring_case_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, doc: Any,
) -> None:
    report = tmp_path / "report.json"
    report.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    summary = tmp_path / "summary.json"
    code = main(["gate", "--report", str(report), "--json-summary", str(summary)])
    err = capsys.readouterr().err
    assert code == 2, name
    assert not summary.exists()
    assert "not spelled as Trivy writes it" in err and "Traceback" not in err


def test_keys_trivy_does_not_have_are_still_read(tmp_path: Path) -> None:
    """A newer Trivy adds fields: they must not make the report unreadable."""
    doc = image_report([vuln(severity="CRITICAL", BrandNewField={"x": 1})])
    doc["BrandNewTopLevel"] = 1
    doc["Results"][0]["BrandNewResultField"] = []
    code, summary = gate(tmp_path, doc)
    assert code == 1
    assert summary is not None and summary["counts"]["critical"] == 1


def test_go_fold_matches_go() -> None:
    # Go's encoding/json folds ASCII case and Unicode simple folding (K = Kelvin sign).
    assert go_fold("results") == go_fold("RESULTS") == go_fold("Re\u017fults")
    assert go_fold("P\u212agName") == go_fold("PkgName")
    assert go_fold("Results") != go_fold("Result")


# --- contradictory flags ----------------------------------------------------------------------

@pytest.mark.parametrize("flags", [
    ["--fail-on", "LOW", "--max-critical", "5"],
    ["--fail-on", "high", "--max-high", "1"],
    ["--max-critical", "3", "--fail-on", "CRITICAL"],
])
def test_a_max_that_loosens_fail_on_is_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
) -> None:
    code, summary = gate(tmp_path, image_report([CRITICAL]), *flags)
    err = capsys.readouterr().err
    assert code == 2 and summary is None
    assert "--fail-on" in err and "--max-" in err and "contradicts" in err


def test_compatible_fail_on_and_max_flags_are_kept(tmp_path: Path) -> None:
    # --max-medium below --fail-on HIGH, and a max of 0 at or above it, are not contradictions.
    doc = image_report([CRITICAL, vuln("CVE-2", severity="MEDIUM")])
    assert gate(tmp_path, doc, "--fail-on", "HIGH", "--max-medium", "1",
                "--max-critical", "0")[0] == 1
    assert gate(tmp_path, image_report([vuln("CVE-2", severity="MEDIUM")]), "--fail-on",
                "HIGH", "--max-medium", "1")[0] == 0


def test_a_looser_threshold_from_elsewhere_loses_to_fail_on() -> None:
    """SSM thresholds arrive as limits like --max-*; --fail-on still wins, and says so."""
    from scangate.policy import DEFAULT_POLICY, with_overrides
    from scangate.severity import Severity

    policy = with_overrides(DEFAULT_POLICY, fail_on=Severity.HIGH,
                            max_counts={Severity.CRITICAL: 5, Severity.MEDIUM: 3})
    assert policy.thresholds[Severity.CRITICAL] == 0
    assert policy.thresholds[Severity.HIGH] == 0
    assert policy.thresholds[Severity.MEDIUM] == 3
    assert any("critical kept at 0" in note for note in policy.overrides)


# --- misconfiguration status ------------------------------------------------------------------

@pytest.mark.parametrize("status", ["pass", "Pass", "PA\u017fS", "pa\u017fs", "PASS ", "FAIL",
                                    "exception", "", None, 1, ["PASS"]])
def test_only_trivys_exact_pass_states_are_not_findings(tmp_path: Path, status: Any) -> None:
    entry = misconfig(severity="CRITICAL")
    entry["Status"] = status
    code, summary = gate(tmp_path, fs_report([{"Target": "Dockerfile", "Class": "config",
                                               "Misconfigurations": [entry]}]))
    assert code == 1, status
    assert summary is not None and summary["counts"]["critical"] == 1


@pytest.mark.parametrize("status", ["PASS", "EXCEPTION"])
def test_pass_and_exception_are_not_findings(tmp_path: Path, status: str) -> None:
    code, _ = gate(tmp_path, fs_report([{"Target": "Dockerfile", "Class": "config",
                                         "Misconfigurations": [misconfig(
                                             severity="CRITICAL", status=status)]}]))
    assert code == 0


# --- ignore_unfixed ---------------------------------------------------------------------------

@pytest.mark.parametrize("how", [["--ignore-unfixed"], ["--policy", "POLICY"]])
@pytest.mark.parametrize("finding", ["secret", "misconfiguration"])
def test_ignore_unfixed_never_applies_to_secrets_or_misconfigurations(
    tmp_path: Path, how: list[str], finding: str,
) -> None:
    """A leaked key has no FixedVersion: 'unfixed' must not turn into 'ignored'."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nignore_unfixed: true\n")
    args = [str(policy) if a == "POLICY" else a for a in how]
    result = ({"Target": "deploy.sh", "Class": "secret", "Secrets": [secret()]}
              if finding == "secret" else
              {"Target": "Dockerfile", "Class": "config",
               "Misconfigurations": [misconfig(severity="CRITICAL")]})
    code, summary = gate(tmp_path, fs_report([result]), *args)
    assert code == 1
    assert summary is not None
    assert summary["counts"]["critical"] == 1
    assert summary["ignored_unfixed"] == 0


def test_ignore_unfixed_still_ignores_unfixed_vulnerabilities(tmp_path: Path) -> None:
    code, summary = gate(tmp_path, image_report([vuln(severity="CRITICAL", fixed="")]),
                         "--ignore-unfixed")
    assert code == 0
    assert summary is not None and summary["ignored_unfixed"] == 1


def test_trivy_itself_reads_keys_ignoring_case(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The platform is the judge: `trivy convert` (Go's encoding/json) reads "results",
    "vulnerabilities" and a long-s "Severity" written after the real one, and so sees a
    CRITICAL. scangate must not see a LOW (or nothing) and pass: it refuses the report."""
    import subprocess

    from tests.support.trivy import trivy_binary

    doc = {"SchemaVersion": 2, "ArtifactName": "x", "ArtifactType": "filesystem",
           "results": [{"Target": "requirements.txt", "Class": "lang-pkgs", "Type": "pip",
                        "vulnerabilities": [{"VulnerabilityID": "CVE-2020-14343",
                                             "PkgName": "PyYAML", "InstalledVersion": "5.3.1",
                                             "Severity": "LOW",
                                             "\u017feverity": "CRITICAL"}]}]}
    report = tmp_path / "report.json"
    report.write_text(json.dumps(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIVY_")}
    converted = subprocess.run([trivy_binary(), "convert", "--format", "json", "--quiet",
                                str(report)], capture_output=True, text=True, env=env,
                               timeout=300, check=True)
    seen = [(v["VulnerabilityID"], v["Severity"])
            for r in json.loads(converted.stdout).get("Results") or []
            for v in r.get("Vulnerabilities") or []]
    assert seen == [("CVE-2020-14343", "CRITICAL")]
    assert main(["gate", "--report", str(report), "--quiet"]) == 2
    assert "not spelled as Trivy writes it" in capsys.readouterr().err
    # Spelled as Trivy writes it, the same finding fails the gate.
    fixed = json.dumps(doc).replace('"results"', '"Results"').replace(
        '"vulnerabilities"', '"Vulnerabilities"').replace('"\\u017feverity"', '"Severity"')
    report.write_text(fixed)
    assert main(["gate", "--report", str(report), "--quiet"]) == 1


@pytest.mark.parametrize(("key", "where"), [("imageid", None), ("REPOTAGS", None),
                                            ("family", "OS")])
def test_image_identity_keys_in_another_case_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, where: str | None,
) -> None:
    doc = image_report([vuln(severity="LOW")])
    target = doc["Metadata"] if where is None else doc["Metadata"][where]
    target[key] = "sha256:" + "0" * 64 if key == "imageid" else ["other"]
    assert gate(tmp_path, doc)[0] == 2
    assert "not spelled as Trivy writes it" in capsys.readouterr().err


def test_a_newer_trivys_field_is_learned_and_a_later_misspelling_still_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [vuln(f"CVE-2024-{n:04d}", severity="LOW", NewerTrivyField=n) for n in range(5)]
    doc = json.dumps(image_report(rows))
    assert gate(tmp_path, json.loads(doc))[0] == 0
    # The fifth row also carries "severity": Go would read CRITICAL there.
    tampered = doc.replace('"NewerTrivyField": 4', '"NewerTrivyField": 4, "severity": "CRITICAL"')
    report = tmp_path / "tampered.json"
    report.write_text(tampered)
    assert main(["gate", "--report", str(report), "--quiet"]) == 2
    assert "Vulnerabilities[4]: key 'severity'" in capsys.readouterr().err
