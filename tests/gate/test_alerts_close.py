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

import pytest
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


def test_a_run_over_githubs_limits_is_refused_so_no_alert_closes_unfixed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An analysis replaces its category's previous one: a result left out of a SARIF over
    GitHub's per-run limits (25,000 results, ../shared/notes/platform-limits.md, the stand-in's
    rule) would close its alert as fixed while the finding is still there. So the writer refuses
    (exit 2, nothing written, nothing uploaded: every alert stays as it was) unless told to keep
    the most severe, and then it says that the rest would close."""
    from scangate.outputs import sarif as sarif_module

    scanning = CodeScanning()
    low = [vuln(f"CVE-L{n}", pkg=f"p{n}", severity="LOW") for n in range(3)]
    scanning.upload(gate_sarif(tmp_path, 1, image_report(
        [vuln("CVE-C", severity="CRITICAL"), *low], name="registry.example/app:1")))
    assert scanning.open_rules() == {"CVE-C", "CVE-L0", "CVE-L1", "CVE-L2"}

    monkeypatch.setattr(sarif_module, "MAX_RESULTS_PER_RUN", 2)  # stands for 25,000
    second = write(tmp_path / "run2.json", image_report(
        [vuln("CVE-C", severity="CRITICAL"), vuln("CVE-C2", pkg="curl", severity="CRITICAL"),
         *low], name="registry.example/app:2"))
    argv = ["gate", "--quiet", "--report", second, "--sarif", str(tmp_path / "run2.sarif"),
            "--json-summary", str(tmp_path / "run2-summary.json")]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "SARIF run 'scangate-registry.example-app'" in err and "results_over_run_limit=3" in err
    assert "close the alerts of the others as fixed" in err
    assert "--sarif-overflow keep-most-severe" in err
    # Nothing written, not even the summary: no upload, so no alert closes.
    assert not (tmp_path / "run2.sarif").exists()
    assert not (tmp_path / "run2-summary.json").exists()
    assert scanning.fixed == set()

    # Asked to keep the most severe: it does, and says the rest's alerts would close unfixed.
    kept = gate_sarif(tmp_path, 3, json.loads(Path(second).read_text(encoding="utf-8")),
                      "--sarif-overflow", "keep-most-severe")
    assert "alerts would close as fixed while they are not" in capsys.readouterr().err
    assert {r["ruleId"] for r in kept["runs"][0]["results"]} == {"CVE-C", "CVE-C2"}
    assert kept["runs"][0]["properties"]["dropReasons"] == {"results_over_run_limit": 3}
    scanning.upload(kept)
    assert {rule for _, _, rule in scanning.fixed} == {"CVE-L0", "CVE-L1", "CVE-L2"}


def test_a_sarif_over_the_upload_size_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """GitHub refuses a SARIF file over 10 MB gzip; the least severe results are not cut to fit
    by default, for the same reason (their alerts would close as fixed)."""
    from scangate.outputs import sarif as sarif_module

    monkeypatch.setattr(sarif_module, "GZIP_BUDGET", 4_000)  # stands for 10 MB
    report = write(tmp_path / "r.json", image_report(
        [vuln(f"CVE-{n}", pkg=f"p{n}", severity="LOW", Description=f"text {n} " * 40)
         for n in range(60)]))
    assert main(["gate", "--quiet", "--report", report, "--sarif",
                 str(tmp_path / "o.sarif")]) == 2
    err = capsys.readouterr().err
    assert "bytes gzip-compressed, over the 4000-byte budget" in err
    assert "close the alerts of the others as fixed" in err
    assert not (tmp_path / "o.sarif").exists()
    # Under the budget the same report is written whole.
    monkeypatch.setattr(sarif_module, "GZIP_BUDGET", 10 * 1024 * 1024)
    assert main(["gate", "--quiet", "--report", report, "--sarif",
                 str(tmp_path / "o.sarif")]) in (0, 1)
    assert len(json.loads((tmp_path / "o.sarif").read_text())["runs"][0]["results"]) == 60


def test_the_rule_limit_is_refused_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from scangate.outputs import sarif as sarif_module

    monkeypatch.setattr(sarif_module, "MAX_RULES_PER_RUN", 2)  # stands for 25,000
    report = write(tmp_path / "r.json", image_report(
        [vuln(f"CVE-{n}", pkg=f"p{n}") for n in range(3)]))
    assert main(["gate", "--quiet", "--report", report, "--sarif",
                 str(tmp_path / "o.sarif")]) == 2
    assert "results_over_rule_limit=1" in capsys.readouterr().err


def test_the_pipelines_refuse_an_overflow_only_where_the_sarif_is_uploaded() -> None:
    """GitHub's gate action uploads the SARIF unless `upload-sarif: false`: then (and in the
    GitLab template, whose SARIF is only an artifact) nothing closes, so it keeps the most
    severe; uploaded, the gate refuses an overflow."""
    import yaml

    root = Path(__file__).resolve().parents[2]
    action = yaml.safe_load((root / "actions" / "gate" / "action.yml").read_text())
    (gate,) = [s for s in action["runs"]["steps"] if s.get("id") == "gate"]
    assert gate["env"]["INPUT_SARIF_OVERFLOW"] == (
        "${{ inputs.upload-sarif == 'true' && 'refuse' || 'keep-most-severe' }}")
    # The Gate step hands INPUT_SARIF_OVERFLOW to gate-job run, which passes it to the gate.
    assert gate["run"].startswith('"$SCANGATE" --inputs-from-env gate-job run ')
    from scangate._cli import build_parser
    from scangate.env_inputs import argv_with_env_inputs

    argv = ["gate-job", "run", "--outputs", "o"]
    assert argv_with_env_inputs(build_parser(argv), argv, {"INPUT_SARIF_OVERFLOW": "refuse"}) \
        == [*argv, "--sarif-overflow=refuse"]
    source = (root / "scripts" / "scangate" / "commands" / "gate_job.py").read_text()
    assert 'f"--sarif-overflow={args.sarif_overflow}"' in source
    template = (root / "gitlab" / "container-scan.gitlab-ci.yml").read_text()
    assert template.count("--sarif-overflow keep-most-severe") == 1
