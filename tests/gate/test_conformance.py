"""Every real Trivy report from Trivy's own integration tests gates and converts to valid output.

The goldens and schemas live in ../shared (reference data that is not part of this repository);
without them these tests skip with a reason. The same behaviours are covered on synthetic reports
in the other test modules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scangate._cli import main

from tests.support.schemas import GOLDENS, gitlab_validator, sarif_validator

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
    for validator, doc in ((sarif_validator(), sarif), (gitlab_validator(), gitlab)):
        if validator is not None:
            errors = list(validator.iter_errors(doc))
            assert not errors, errors[0].message
