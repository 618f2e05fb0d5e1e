"""Every real Trivy report from Trivy's own integration tests gates and converts to valid output.

The goldens and schemas live in ../shared (reference data that is not part of this repository);
without them these tests skip with a reason. The same behaviours are covered on synthetic reports
in the other test modules.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main

from tests.support import multitool
from tests.support.dates import SOON
from tests.support.reports import fs_report, image_report, misconfig, secret, vuln, write
from tests.support.schemas import (
    GOLDENS,
    require_gitlab_validator,
    require_sarif_validator,
    schema_errors,
)
from tests.support.trivy import TrivyError, trivy_binary

GOLDEN_FILES = sorted(GOLDENS.glob("*.json.golden")) if GOLDENS.is_dir() else []
pytestmark = pytest.mark.skipif(not GOLDEN_FILES, reason=f"no Trivy goldens at {GOLDENS}")


def _count_findings(doc: dict) -> int:  # type: ignore[type-arg]
    total = 0
    for result in doc.get("Results") or []:
        total += len(result.get("Vulnerabilities") or []) + len(result.get("Secrets") or [])
        total += sum(1 for m in result.get("Misconfigurations") or [] if m.get("Status") == "FAIL")
    return total


@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.name.split(".")[0])
def test_golden_gates_and_converts(golden: Path, tmp_path: Path) -> None:
    source = json.loads(golden.read_text(encoding="utf-8"))
    outs = {name: tmp_path / name for name in ("s.json", "o.sarif", "gl.json", "s.md")}
    code = main(["gate", "--quiet", "--report", str(golden),
                 "--json-summary", str(outs["s.json"]), "--sarif", str(outs["o.sarif"]),
                 "--gitlab-report", str(outs["gl.json"]), "--summary-md", str(outs["s.md"])])
    summary = json.loads(outs["s.json"].read_text())
    criticals = sum(1 for r in source.get("Results") or []
                    for entry in (r.get("Vulnerabilities") or []) + (r.get("Secrets") or [])
                    + [m for m in r.get("Misconfigurations") or [] if m.get("Status") == "FAIL"]
                    if entry.get("Severity") == "CRITICAL")
    # The default policy: fail exactly when there is a CRITICAL finding.
    assert code == (1 if criticals else 0)
    assert summary["counts"]["critical"] == criticals
    expected = _count_findings(source)
    assert summary["findings_total"] == expected
    sarif = json.loads(outs["o.sarif"].read_text())
    gitlab = json.loads(outs["gl.json"].read_text())
    # Nothing dropped: every finding is in both outputs.
    assert sum(len(run["results"]) for run in sarif["runs"]) == expected
    assert len(gitlab["vulnerabilities"]) == expected
    # With format checking; skipped (visibly) if the schemas are absent.
    assert schema_errors(require_sarif_validator(), sarif) == []
    assert schema_errors(require_gitlab_validator(), gitlab) == []


# --- security-severity: the same numbers as Trivy's own SARIF ---------------------------------

def _trivy() -> str:
    try:
        return trivy_binary()
    except TrivyError as exc:
        pytest.skip(str(exc))


def _unique_ids(doc: dict[str, Any]) -> dict[str, Any]:
    """The report with one rule per finding: Trivy's SARIF keeps one score per rule (the last
    result's), so only then can each finding's score be compared."""
    copy = json.loads(json.dumps(doc))
    number = 0
    for result in copy.get("Results") or []:
        for key, id_key in (("Vulnerabilities", "VulnerabilityID"), ("Secrets", "RuleID"),
                            ("Misconfigurations", "ID")):
            for entry in result.get(key) or []:
                number += 1
                entry[id_key] = f"{entry.get(id_key)}-n{number}"
    return copy


def _rule_scores(sarif: dict[str, Any]) -> dict[str, str]:
    return {rule["id"]: rule["properties"]["security-severity"]
            for run in sarif["runs"] for rule in run["tool"]["driver"]["rules"]}


@pytest.mark.parametrize("golden", GOLDEN_FILES, ids=lambda p: p.name.split(".")[0])
def test_security_severity_matches_trivy_convert(golden: Path, tmp_path: Path) -> None:
    """Trivy's SARIF writer (pkg/report/sarif.go, ``toCVSSData``): the CVSS v3 score of the
    severity's source, else 9.5/8.0/5.5/2.0/0.0 by severity. One deliberate difference:
    UNKNOWN is 0.1 (a low alert) where Trivy writes 0.0 (no security severity at all)."""
    trivy = _trivy()
    source = json.loads(golden.read_text(encoding="utf-8"))
    unique = tmp_path / "unique.json"
    unique.write_text(json.dumps(_unique_ids(source)), encoding="utf-8")
    theirs_path, ours_path = tmp_path / "trivy.sarif", tmp_path / "ours.sarif"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIVY_")}
    subprocess.run([trivy, "convert", "--quiet", "--format", "sarif", "--output",
                    str(theirs_path), str(unique)], check=True, env=env, timeout=300,
                   cwd=tmp_path)
    assert main(["gate", "--quiet", "--max-critical", "1000000", "--report", str(unique),
                 "--sarif", str(ours_path)]) == 0
    theirs = _rule_scores(json.loads(theirs_path.read_text(encoding="utf-8")))
    ours = _rule_scores(json.loads(ours_path.read_text(encoding="utf-8")))
    assert set(ours) <= set(theirs)  # Trivy also writes passed checks and licenses
    expected = {rule: "0.1" if theirs[rule] == "0.0" else theirs[rule] for rule in ours}
    assert ours == expected
    # And on the report as it is, a rule with several findings takes the highest.
    plain = tmp_path / "plain.sarif"
    assert main(["gate", "--quiet", "--max-critical", "1000000", "--report", str(golden),
                 "--sarif", str(plain)]) == 0
    highest: dict[str, float] = {}
    for rule, score in expected.items():
        original = rule.rsplit("-n", 1)[0]
        highest[original] = max(highest.get(original, 0.0), float(score))
    assert {k: float(v) for k, v in _rule_scores(
        json.loads(plain.read_text(encoding="utf-8"))).items()} == highest


# --- SARIF Multitool: no error or warning ----------------------------------------------------

def _edge_case_reports() -> dict[str, dict[str, Any]]:
    """Synthetic reports for what the goldens do not have."""
    odd_targets = ["127.0.0.1:5000/app", "C:\\build\\.env", "https://github.com/o/r/main.tf",
                   "../../etc/passwd", "/abs/with space/x#y?z", "", "dir/ä/[1]", "%2e%2e/x"]
    hostile = "x\n# heading [l](javascript:alert(1)) <b>|`"
    return {
        "odd-targets": fs_report(
            [{"Target": t, "Class": "secret", "Secrets": [secret(f"rule-{n}", line=n + 1)]}
             for n, t in enumerate(odd_targets)], name="."),
        "registry-port": image_report(
            [vuln("CVE-2024-1", severity="CRITICAL", score=9.8),
             vuln("CVE-2024-1", pkg="libssl3", severity="CRITICAL", score=9.8),
             vuln("CVE-2024-2", severity="UNKNOWN", PrimaryURL="javascript:alert(1)"),
             vuln("CVE-2024-3", pkg=hostile, installed=hostile, PrimaryURL="https://a b")],
            name="127.0.0.1:5000/team/app:1.0"),
        "identical-rows": image_report([vuln("CVE-2024-9")] * 3),
        "misconfig": fs_report([{"Target": "Dockerfile", "Class": "config",
                                 "Type": "dockerfile",
                                 "Misconfigurations": [misconfig(line=2), misconfig("DS-0001")]}]),
    }


@pytest.fixture(scope="module")
def multitool_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    if not multitool.available():
        pytest.skip(f"SARIF Multitool not found at {multitool.MULTITOOL}: run `make setup` "
                    "(tools/node/package.json)")
    out = tmp_path_factory.mktemp("multitool")
    files = []
    for golden in GOLDEN_FILES:
        sarif = out / f"{golden.name.split('.')[0]}.sarif"
        assert main(["gate", "--quiet", "--max-critical", "1000000", "--report", str(golden),
                     "--sarif", str(sarif)]) == 0
        files.append(sarif)
    edge = _edge_case_reports()
    for name, doc in edge.items():
        sarif = out / f"edge-{name}.sarif"
        (out / "p.yaml").write_text("version: 1\nwaivers: [{id: CVE-2024-1, reason: SEC-1, "
                                    "expires: " + SOON + "}]\n", encoding="utf-8")
        assert main(["gate", "--quiet", "--max-critical", "1000000", "--policy",
                     str(out / "p.yaml"), "--report", write(out / f"{name}.json", doc),
                     "--sarif", str(sarif)]) in (0, 1)
        files.append(sarif)
    # Several reports in one file: one run each, distinct categories.
    multi = out / "edge-multi.sarif"
    argv = [arg for name, doc in edge.items()
            for arg in ("--report", write(out / f"m-{name}.json", doc))]
    assert main(["gate", "--quiet", "--max-critical", "1000000", *argv,
                 "--sarif-category", "same", "--sarif", str(multi)]) == 0
    files.append(multi)
    # The negative control, in the same run (the Multitool's start-up is most of a run's cost):
    # a raw registry target as a URI is an error it must report.
    bad = out / "bad.sarif"
    assert main(["gate", "--quiet", "--report", write(out / "r.json", image_report([vuln()])),
                 "--sarif", str(bad)]) == 0
    doc = json.loads(bad.read_text(encoding="utf-8"))
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"] = "127.0.0.1:5000/app"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    files.append(bad)
    return multitool.validate(files, out / "multitool.log.sarif")


EDGE_NAMES = [*(f"edge-{n}" for n in _edge_case_reports()), "edge-multi"]


@pytest.mark.parametrize("name", [g.name.split(".")[0] for g in GOLDEN_FILES] + EDGE_NAMES)
def test_sarif_multitool_finds_nothing(multitool_findings: dict[str, list[str]],
                                       name: str) -> None:
    assert multitool_findings[f"{name}.sarif"] == []


def test_sarif_multitool_does_find_errors(multitool_findings: dict[str, list[str]]) -> None:
    """The validator is really checking: a raw registry target as a URI is an error."""
    found = multitool_findings["bad.sarif"]
    assert any("SARIF1002" in line for line in found), found
