"""The decision: thresholds, overrides, classes, waivers and the JSON summary's exact shape."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main

from tests.support.reports import fs_report, image_report, misconfig, secret, vuln, write

TODAY = dt.datetime.now(dt.UTC).date()
FUTURE = (TODAY + dt.timedelta(days=30)).isoformat()
PAST = (TODAY - dt.timedelta(days=1)).isoformat()


def gate(tmp_path: Path, docs: list[dict[str, Any]], *args: str,
         policy: str | None = None) -> tuple[int, dict[str, Any]]:
    argv = ["gate", "--quiet"]
    for number, doc in enumerate(docs):
        argv += ["--report", write(tmp_path / f"r{number}.json", doc)]
    if policy is not None:
        (tmp_path / "policy.yaml").write_text(policy, encoding="utf-8")
        argv += ["--policy", str(tmp_path / "policy.yaml")]
    summary_path = tmp_path / "summary.json"
    code = main([*argv, "--json-summary", str(summary_path), *args])
    return code, json.loads(summary_path.read_text(encoding="utf-8"))


def mixed() -> dict[str, Any]:
    return image_report([
        vuln("CVE-2024-0001", severity="CRITICAL"),
        vuln("CVE-2024-0002", pkg="zlib", severity="HIGH", fixed=""),
        vuln("CVE-2024-0003", pkg="curl", severity="MEDIUM"),
        vuln("CVE-2024-0004", pkg="bash", severity="LOW", fixed=""),
        vuln("CVE-2024-0005", pkg="tar", severity="UNKNOWN"),
    ])


def test_default_policy_fails_on_one_critical(tmp_path: Path) -> None:
    code, summary = gate(tmp_path, [mixed()])
    assert code == 1
    assert summary["decision"] == "fail"
    assert summary["violations"] == [{"severity": "critical", "count": 1, "limit": 0}]


def test_default_policy_passes_without_critical(tmp_path: Path) -> None:
    doc = image_report([vuln(severity="HIGH"), vuln("CVE-2", severity="MEDIUM")])
    code, summary = gate(tmp_path, [doc])
    assert code == 0
    assert summary["decision"] == "pass"
    assert summary["counts"] == {"critical": 0, "high": 1, "medium": 1, "low": 0, "unknown": 0}


def test_summary_has_exactly_the_documented_core_shape(tmp_path: Path) -> None:
    policy = (f"version: 1\nthresholds: {{critical: 0}}\nwaivers:\n"
              f"  - {{id: CVE-2024-9999, reason: old, expires: {PAST}}}\n")
    _, summary = gate(tmp_path, [mixed()], policy=policy)
    core = {k: summary[k] for k in ("decision", "counts", "waived", "ignored_unfixed",
                                    "violations", "expired_waivers")}
    assert core == {
        "decision": "fail",
        "counts": {"critical": 1, "high": 1, "medium": 1, "low": 1, "unknown": 1},
        "waived": 0,
        "ignored_unfixed": 0,
        "violations": [{"severity": "critical", "count": 1, "limit": 0}],
        "expired_waivers": [{"id": "CVE-2024-9999", "expires": PAST, "reason": "old"}],
    }
    assert list(summary["counts"]) == ["critical", "high", "medium", "low", "unknown"]


def test_thresholds_are_upper_bounds_and_missing_keys_mean_no_limit(tmp_path: Path) -> None:
    doc = image_report([vuln(f"CVE-2024-{n}", severity="HIGH") for n in range(5)])
    assert gate(tmp_path, [doc], policy="version: 1\nthresholds: {high: 5}\n")[0] == 0
    code, summary = gate(tmp_path, [doc], policy="version: 1\nthresholds: {HIGH: 4}\n")
    assert code == 1
    assert summary["violations"] == [{"severity": "high", "count": 5, "limit": 4}]
    assert gate(tmp_path, [doc], policy="version: 1\nthresholds: {medium: 0}\n")[0] == 0


def test_violations_list_every_severity_over_its_limit(tmp_path: Path) -> None:
    code, summary = gate(tmp_path, [mixed()],
                         policy="version: 1\nthresholds: {critical: 0, high: 0, low: 0}\n")
    assert code == 1
    assert [v["severity"] for v in summary["violations"]] == ["critical", "high", "low"]


@pytest.mark.parametrize(
    ("args", "expected_code", "violating"),
    [
        (["--fail-on", "high"], 1, ["critical", "high"]),
        (["--fail-on", "LOW"], 1, ["critical", "high", "medium", "low"]),
        (["--max-critical", "1"], 0, []),
        (["--max-critical", "1", "--max-medium", "0"], 1, ["medium"]),
        (["--max-unknown", "0", "--max-critical", "5"], 1, ["unknown"]),
        (["--max-low", "0", "--max-critical", "1", "--ignore-unfixed"], 0, []),
    ],
)
def test_cli_overrides(tmp_path: Path, args: list[str], expected_code: int,
                       violating: list[str]) -> None:
    code, summary = gate(tmp_path, [mixed()], *args)
    assert code == expected_code
    assert [v["severity"] for v in summary["violations"]] == violating


def test_cli_override_beats_policy_limit(tmp_path: Path) -> None:
    code, summary = gate(tmp_path, [mixed()], "--max-critical", "3",
                         policy="version: 1\nthresholds: {critical: 0}\n")
    assert code == 0
    assert summary["policy"]["thresholds"]["critical"] == 3
    assert "--max-critical 3" in summary["policy"]["overrides"]


def test_ignore_unfixed_only_skips_vulnerabilities_without_a_fix(tmp_path: Path) -> None:
    code, summary = gate(tmp_path, [mixed()], policy="version: 1\nignore_unfixed: true\n"
                         "thresholds: {critical: 0, high: 0}\n")
    assert summary["ignored_unfixed"] == 2
    assert summary["counts"]["high"] == 0 and summary["counts"]["low"] == 0
    assert summary["counts"]["critical"] == 1
    assert code == 1


def test_waiver_matches_id_package_and_target_glob(tmp_path: Path) -> None:
    doc = image_report([
        vuln("CVE-2024-0001", pkg="openssl", severity="CRITICAL"),
        vuln("CVE-2024-0001", pkg="libssl3", severity="CRITICAL"),
    ])
    policy = ("version: 1\nwaivers:\n"
              f"  - {{id: cve-2024-0001, package: openssl, target: '*(debian *', "
              f"reason: 'SEC-1', expires: {FUTURE}}}\n")
    code, summary = gate(tmp_path, [doc], policy=policy)
    # Only the openssl row is waived; libssl3 still counts.
    assert summary["waived"] == 1
    assert summary["counts"]["critical"] == 1
    assert code == 1


def test_waiver_for_another_target_does_not_apply(tmp_path: Path) -> None:
    doc = image_report([vuln("CVE-2024-0001", severity="CRITICAL")])
    policy = ("version: 1\nwaivers:\n"
              f"  - {{id: CVE-2024-0001, target: 'requirements.txt', reason: x, "
              f"expires: {FUTURE}}}\n")
    code, summary = gate(tmp_path, [doc], policy=policy)
    assert (code, summary["waived"]) == (1, 0)
    assert summary["unused_waivers"][0]["id"] == "CVE-2024-0001"


def test_waiver_lasts_through_its_expiry_day_and_not_after(tmp_path: Path) -> None:
    doc = image_report([vuln("CVE-2024-0001", severity="CRITICAL")])
    today = TODAY.isoformat()
    code, summary = gate(tmp_path, [doc], policy=(
        f"version: 1\nwaivers: [{{id: CVE-2024-0001, reason: r, expires: {today}}}]\n"))
    assert (code, summary["waived"], summary["expired_waivers"]) == (0, 1, [])
    code, summary = gate(tmp_path, [doc], policy=(
        f"version: 1\nwaivers: [{{id: CVE-2024-0001, reason: r, expires: {PAST}}}]\n"))
    assert (code, summary["waived"]) == (1, 0)
    assert summary["expired_waivers"] == [{"id": "CVE-2024-0001", "expires": PAST, "reason": "r"}]


def test_waivers_cover_secrets_and_misconfigurations(tmp_path: Path) -> None:
    doc = fs_report([
        {"Target": "deploy.sh", "Class": "secret", "Secrets": [secret()]},
        {"Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
         "Misconfigurations": [misconfig(severity="CRITICAL"),
                               misconfig("DS-0001", status="PASS", severity="CRITICAL")]},
    ])
    policy = ("version: 1\nwaivers:\n"
              f"  - {{id: aws-access-key-id, reason: test key, expires: {FUTURE}}}\n"
              f"  - {{id: DS-0002, target: Dockerfile, reason: base, expires: {FUTURE}}}\n")
    code, summary = gate(tmp_path, [doc], policy=policy)
    assert summary["waived"] == 2
    assert code == 0


def test_classes_limit_what_counts(tmp_path: Path) -> None:
    doc = fs_report([
        {"Target": "deploy.sh", "Class": "secret", "Secrets": [secret()]},
        {"Target": "requirements.txt", "Class": "lang-pkgs", "Type": "pip",
         "Vulnerabilities": [vuln(pkg="pyyaml", severity="HIGH")]},
    ])
    code, summary = gate(tmp_path, [doc], policy="version: 1\nclasses: [vulnerability]\n"
                         "thresholds: {critical: 0, high: 1}\n")
    assert code == 0
    assert summary["class_not_counted"] == 1
    assert summary["counts_by_class"]["secret"]["critical"] == 0


def test_one_decision_covers_several_reports(tmp_path: Path) -> None:
    image = image_report([vuln(severity="HIGH")])
    source = fs_report([{"Target": "requirements.txt", "Class": "lang-pkgs", "Type": "pip",
                         "Vulnerabilities": [vuln("CVE-2", pkg="pyyaml", severity="HIGH")]}])
    code, summary = gate(tmp_path, [image, source], "--max-high", "1")
    assert code == 1
    assert summary["counts"]["high"] == 2
    assert len(summary["reports"]) == 2


def test_license_and_custom_results_are_read_not_gated(tmp_path: Path) -> None:
    doc = image_report([vuln(severity="LOW")], extra_results=[
        {"Target": "OS Packages", "Class": "license", "Licenses": [{"Name": "GPL-3.0"}]},
        {"Target": "", "Class": "custom", "CustomResources": [{"Type": "x"}]},
    ])
    code, summary = gate(tmp_path, [doc])
    assert code == 0
    not_gated = summary["reports"][0]["not_gated"]
    assert [n["class"] for n in not_gated] == ["license", "custom"]


def test_report_without_results_is_a_clean_scan(tmp_path: Path) -> None:
    doc = image_report([])
    del doc["Results"]
    code, summary = gate(tmp_path, [doc])
    assert code == 0 and summary["findings_total"] == 0


def test_passed_misconfigurations_are_not_findings(tmp_path: Path) -> None:
    doc = fs_report([{"Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
                      "Misconfigurations": [misconfig(status="PASS", severity="CRITICAL"),
                                            misconfig(status="EXCEPTION", severity="CRITICAL")]}])
    code, summary = gate(tmp_path, [doc])
    assert (code, summary["findings_total"]) == (0, 0)


def test_same_cve_in_two_packages_is_two_findings(tmp_path: Path) -> None:
    doc = image_report([vuln("CVE-2024-0001", pkg="libssl3", severity="CRITICAL"),
                        vuln("CVE-2024-0001", pkg="openssl", severity="CRITICAL")])
    _, summary = gate(tmp_path, [doc], "--max-critical", "1")
    assert summary["counts"]["critical"] == 2


def test_terminal_summary_and_step_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    step = tmp_path / "step.md"
    step.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    md = tmp_path / "summary.md"
    code = main(["gate", "--report", write(tmp_path / "r.json", mixed()),
                 "--summary-md", str(md)])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("scangate: gate FAIL (critical 1, high 1")
    assert "violation: critical 1 > limit 0" in out
    text = md.read_text(encoding="utf-8")
    assert "Security gate FAILED" in text
    assert "| CRITICAL | 1 | 0 |" in text
    assert "CVE-2024-0001" in text and "3.0.2-1" in text
    assert step.read_text(encoding="utf-8") == "earlier step\n" + text


def test_python_dash_m_runs_the_same_cli(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(tmp_path / "r.json", mixed())
    proc = subprocess.run([sys.executable, "-m", "scangate", "gate", "--report", path],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "gate FAIL" in proc.stdout


def test_policy_without_thresholds_keeps_the_critical_rule(tmp_path: Path) -> None:
    # A policy that only lists waivers must not silently lift every limit.
    doc = image_report([vuln(severity="CRITICAL")])
    policy = f"version: 1\nwaivers: [{{id: CVE-0, reason: r, expires: {FUTURE}}}]\n"
    assert gate(tmp_path, [doc], policy=policy)[0] == 1
    # An explicit empty block is an explicit "no limits".
    assert gate(tmp_path, [doc], policy="version: 1\nthresholds: {}\n")[0] == 0
