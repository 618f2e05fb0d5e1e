"""Code-scanning alerts close when their findings are fixed, and only then.

GitHub tracks an alert by tool, category (``runs[].automationDetails.id``) and fingerprint; a
new analysis of a category replaces the previous one, and an alert missing from it is closed
as fixed (GitHub docs, "About code scanning alerts" and "Uploading a SARIF file to GitHub",
the ``category`` input; ../shared/notes/platform-limits.md). So:

- every image's category is in every SARIF, also with zero results (else its alerts stay open
  forever after the last finding is fixed);
- the category does not move when the image is renamed, given an explicit category (else the
  old category's alerts are stranded open);
- the SARIF holds every finding whatever the policy counts (severity limits, new_only,
  waivers, unfixed), so no policy or severity filter closes an alert that is not fixed, or
  leaves one open that is.

Each SARIF is also passed through the upload-sarif stand-in's validator (the real upload's
rules: schema, one tool/category per file and per job, limits).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from scangate._cli import main

from tests.support.reports import image_report, vuln, write
from tests.support.schemas import SARIF_SCHEMA

VALIDATE = (Path(__file__).resolve().parents[1] / "github" / "standins" / "github"
            / "codeql-action" / "upload-sarif" / "validate.py")


class CodeScanning:
    """GitHub's alert bookkeeping, reduced to what closes an alert: per (tool, category), the
    latest analysis's fingerprints are open, and every earlier one missing from it is fixed."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str], set[str]] = {}
        self.fixed: set[tuple[str, str, str]] = set()

    def upload(self, sarif: dict[str, Any]) -> None:
        for run in sarif["runs"]:
            key = (run["tool"]["driver"]["name"], run["automationDetails"]["id"])
            now = {f"{r['ruleId']}|{r['partialFingerprints']['primaryLocationLineHash']}"
                   for r in run["results"]}
            for gone in self.open.get(key, set()) - now:
                self.fixed.add((*key, gone.split("|")[0]))
            self.open[key] = now

    def open_rules(self) -> set[str]:
        return {alert.split("|")[0] for alerts in self.open.values() for alert in alerts}


def gate_sarif(tmp_path: Path, run: int, doc: dict[str, Any], *args: str) -> dict[str, Any]:
    out = tmp_path / f"run{run}.sarif"
    code = main(["gate", "--quiet", "--report", write(tmp_path / f"run{run}.json", doc),
                 "--sarif", str(out), *args])
    assert code in (0, 1)
    env = {"PATH": "/usr/bin:/bin"}
    if SARIF_SCHEMA.is_file():
        env["SCANGATE_STANDIN_SARIF_SCHEMA"] = str(SARIF_SCHEMA)
    state = tmp_path / "standin"
    state.mkdir(exist_ok=True)
    check = subprocess.run([sys.executable, str(VALIDATE), str(out), f"gate-run{run}",
                            str(state)], capture_output=True, text=True, env=env, check=False)
    assert check.returncode == 0, check.stdout
    sarif: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return sarif


POLICY = ("version: 1\nthresholds: {critical: 0, high: 0}\nnew_only: [high]\nignore_unfixed: "
          "true\nclasses: [vulnerability]\n")


def test_alerts_close_when_fixed_and_only_then(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    policy = ["--policy", str(tmp_path / "policy.yaml")]
    scanning = CodeScanning()
    first = image_report([vuln("CVE-H", severity="HIGH"), vuln("CVE-L", pkg="zlib",
                                                                severity="LOW"),
                          vuln("CVE-U", pkg="bash", severity="MEDIUM", fixed="")],
                         name="registry.example/app:1")
    scanning.upload(gate_sarif(tmp_path, 1, first, *policy, "--sarif-category", "app"))
    assert scanning.open_rules() == {"CVE-H", "CVE-L", "CVE-U"}

    # Renamed image, same explicit category; CVE-H fixed; CVE-L unchanged against a baseline
    # and not counted (LOW has no limit), CVE-U unfixed and ignored: all three stay in the
    # SARIF, so only the fixed one closes.
    second = image_report([vuln("CVE-L", pkg="zlib", severity="LOW"),
                           vuln("CVE-U", pkg="bash", severity="MEDIUM", fixed="")],
                          name="registry.example/application:2")
    sarif = gate_sarif(tmp_path, 2, second, *policy, "--sarif-category", "app",
                       "--baseline", str(tmp_path / "run1.json"))
    scanning.upload(sarif)
    assert scanning.fixed == {("scangate", "app/", "CVE-H")}
    assert scanning.open_rules() == {"CVE-L", "CVE-U"}

    # All fixed: the category is still uploaded, with zero results, and every alert closes.
    sarif = gate_sarif(tmp_path, 3, image_report([], name="registry.example/application:3"),
                       *policy, "--sarif-category", "app")
    assert [(r["automationDetails"]["id"], r["results"]) for r in sarif["runs"]] == [
        ("app/", [])]
    scanning.upload(sarif)
    assert scanning.open_rules() == set()
    assert {rule for _, _, rule in scanning.fixed} == {"CVE-H", "CVE-L", "CVE-U"}


def test_the_default_category_survives_a_new_tag_and_a_failed_gate(tmp_path: Path) -> None:
    scanning = CodeScanning()
    scanning.upload(gate_sarif(tmp_path, 1, image_report(
        [vuln("CVE-C", severity="CRITICAL")], name="registry.example/app:1")))
    sarif = gate_sarif(tmp_path, 2, image_report(
        [vuln("CVE-C", severity="CRITICAL")], name="registry.example/app:2"))
    scanning.upload(sarif)
    assert scanning.fixed == set() and scanning.open_rules() == {"CVE-C"}
    assert len(scanning.open) == 1
