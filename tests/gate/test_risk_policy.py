"""The policy's kev: and epss: rules through `scangate gate`: what is exploited fails whatever its
severity, a needed feed that is missing, broken or stale is exit 2, and every output shows KEV
and EPSS where the feeds have them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main
from scangate.feeds import EPSS_FILE, KEV_FILE

from tests.support.feeds import kev_entry, now, write_epss, write_kev
from tests.support.reports import image_report, vuln, write

FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()
LOW_IN_KEV = "CVE-2016-2781"

ONLY_CRITICAL = "version: 1\nthresholds: {critical: 0}\n"


def report() -> dict[str, Any]:
    return image_report([
        vuln(LOW_IN_KEV, pkg="coreutils", severity="LOW", fixed=""),
        vuln("CVE-2024-0002", pkg="zlib", severity="HIGH"),
        vuln("CVE-2024-0003", pkg="curl", severity="MEDIUM"),
    ])


def gate(tmp_path: Path, policy: str, *args: str,
         doc: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    (tmp_path / "policy.yaml").write_text(policy, encoding="utf-8")
    summary = tmp_path / "summary.json"
    if summary.exists():
        summary.unlink()
    code = main(["gate", "--quiet", "--report", write(tmp_path / "r.json", doc or report()),
                 "--policy", str(tmp_path / "policy.yaml"), "--json-summary", str(summary),
                 *args])
    return code, (json.loads(summary.read_text()) if summary.exists() else {})


@pytest.fixture()
def kev(tmp_path: Path) -> Path:
    return write_kev(tmp_path / "kev.json", [kev_entry(LOW_IN_KEV, due="2026-01-20",
                                                        ransomware="Known"),
                                              kev_entry("CVE-2099-0001")])


def test_a_low_finding_in_kev_fails_a_policy_that_allows_every_low(tmp_path: Path,
                                                                   kev: Path) -> None:
    code, summary = gate(tmp_path, ONLY_CRITICAL)
    assert code == 0  # without the rule: one LOW, within the policy
    code, summary = gate(tmp_path, ONLY_CRITICAL + "kev: fail\n", "--kev", str(kev))
    assert code == 1
    assert summary["decision"] == "fail"
    assert summary["violations"] == []  # no count is over its limit: the KEV rule alone fails it
    [risk] = summary["risk_violations"]
    assert risk["rule"] == "kev"
    assert (risk["id"], risk["severity"], risk["package"]) == (LOW_IN_KEV, "low", "coreutils")
    assert risk["kev"] == {"due_date": "2026-01-20", "date_added": "2025-12-25",
                           "known_ransomware_campaign_use": "Known"}
    assert "ransomware" in risk["detail"]
    assert summary["feeds"]["kev"]["entries"] == 2


def test_kev_outweighs_ignore_unfixed_but_not_a_waiver(tmp_path: Path, kev: Path) -> None:
    policy = ONLY_CRITICAL + "kev: fail\nignore_unfixed: true\n"
    code, summary = gate(tmp_path, policy, "--kev", str(kev))
    assert code == 1
    assert summary["ignored_unfixed"] == 0
    assert summary["counts"]["low"] == 1
    waived = policy + (f"waivers:\n  - id: {LOW_IN_KEV}\n    reason: chroot is not used\n"
                       f"    expires: {FUTURE}\n")
    code, summary = gate(tmp_path, waived, "--kev", str(kev))
    assert code == 0
    assert summary["risk_violations"] == []
    assert summary["waived_findings"][0]["kev"]["due_date"] == "2026-01-20"


def test_kev_outweighs_new_only(tmp_path: Path, kev: Path) -> None:
    """A finding already in the baseline is still exploited: new_only does not hide it."""
    baseline = write(tmp_path / "base.json", report())
    policy = ONLY_CRITICAL + "new_only: [low]\n"
    code, summary = gate(tmp_path, policy, "--baseline", baseline, "--kev", str(kev))
    assert code == 0
    assert summary["counts"]["low"] == 0
    code, summary = gate(tmp_path, policy + "kev: fail\n", "--baseline", baseline,
                         "--kev", str(kev))
    assert code == 1
    assert [r["id"] for r in summary["risk_violations"]] == [LOW_IN_KEV]


def test_kev_rule_without_a_catalog_is_an_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = gate(tmp_path, ONLY_CRITICAL + "kev: fail\n")
    assert code == 2
    assert summary == {}
    err = capsys.readouterr().err
    assert "kev:" in err and "--kev FILE or --feeds-dir" in err


def test_stale_or_broken_kev_is_an_error_not_a_pass(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    old = write_kev(tmp_path / "old.json", [kev_entry(LOW_IN_KEV)],
                    released=now() - dt.timedelta(days=20))
    code, _ = gate(tmp_path, ONLY_CRITICAL + "kev: fail\n", "--kev", str(old))
    assert code == 2
    assert "20 days old; the policy allows 14" in capsys.readouterr().err
    # The policy's own limit decides.
    code, _ = gate(tmp_path, ONLY_CRITICAL + "kev: {action: fail, max_age_days: 30}\n",
                   "--kev", str(old))
    assert code == 1
    broken = tmp_path / "broken.json"
    broken.write_text(old.read_text()[:-40])
    code, _ = gate(tmp_path, ONLY_CRITICAL + "kev: fail\n", "--kev", str(broken))
    assert code == 2
    assert "not JSON" in capsys.readouterr().err


def test_explicit_feed_must_be_valid_even_without_a_rule(tmp_path: Path) -> None:
    (tmp_path / "kev.json").write_text("{}")
    code, _ = gate(tmp_path, ONLY_CRITICAL, "--kev", str(tmp_path / "kev.json"))
    assert code == 2


def test_feeds_dir_supplies_both_feeds(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    write_kev(feeds / KEV_FILE, [kev_entry("CVE-2099-0001")])
    write_epss(feeds / EPSS_FILE, [("CVE-2024-0002", 0.61, 0.97)], gzipped=True)
    policy = ONLY_CRITICAL + "kev: fail\nepss:\n  fail:\n    - {score: 0.5, min_severity: HIGH}\n"
    code, summary = gate(tmp_path, policy, "--feeds-dir", str(feeds))
    assert code == 1
    [risk] = summary["risk_violations"]
    assert (risk["rule"], risk["id"]) == ("epss", "CVE-2024-0002")
    assert risk["epss"] == {"score": 0.61, "percentile": 0.97}
    assert set(summary["feeds"]) == {"kev", "epss"}
    (feeds / EPSS_FILE).unlink()
    code, _ = gate(tmp_path, policy, "--feeds-dir", str(feeds))
    assert code == 2


@pytest.mark.parametrize(("rule", "fails"), [
    ("{score: 0.5, min_severity: high}", {"CVE-2024-0002"}),  # LOW at 0.9 is below HIGH
    ("{score: 0.95}", set()),
    ("{score: 0.6}", {"CVE-2024-0002", LOW_IN_KEV}),
    ("{percentile: 0.99}", {LOW_IN_KEV}),
    ("{percentile: 0.5, min_severity: medium}", {"CVE-2024-0002", "CVE-2024-0003"}),
])
def test_epss_limits(tmp_path: Path, rule: str, fails: set[str]) -> None:
    epss = write_epss(tmp_path / "epss.csv", [(LOW_IN_KEV, 0.9, 0.995),
                                              ("CVE-2024-0002", 0.6, 0.97),
                                              ("CVE-2024-0003", 0.2, 0.8)])
    code, summary = gate(tmp_path, ONLY_CRITICAL + f"epss:\n  fail:\n    - {rule}\n",
                         "--epss", str(epss))
    assert {r["id"] for r in summary["risk_violations"]} == fails
    assert code == (1 if fails else 0)


def test_stale_epss_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    epss = write_epss(tmp_path / "epss.csv", [(LOW_IN_KEV, 0.9, 0.99)],
                      score_date=now() - dt.timedelta(days=4))
    code, _ = gate(tmp_path, ONLY_CRITICAL + "epss: {fail: [{score: 0.5}]}\n", "--epss", str(epss))
    assert code == 2
    assert "4 days old; the policy allows 3" in capsys.readouterr().err
    code, _ = gate(tmp_path, ONLY_CRITICAL + "epss: {max_age_days: 5, fail: [{score: 0.5}]}\n",
                   "--epss", str(epss))
    assert code == 1


@pytest.mark.parametrize("policy", [
    "kev: warn\n",
    "kev: {action: fail, max_age_days: 0}\n",
    "epss: {fail: [{score: 0.5, percentile: 0.9}]}\n",  # one limit per rule
    "epss: {fail: [{min_severity: high}]}\n",
    "epss: {fail: [{score: 1.5}]}\n",
    "epss: {fail: []}\n",
    f"waivers:\n  - {{id: X, reason: r, expires: {FUTURE}, justification: we_checked}}\n",
])
def test_policy_schema_refuses_malformed_risk_rules(tmp_path: Path, policy: str) -> None:
    code, _ = gate(tmp_path, ONLY_CRITICAL + policy)
    assert code == 2


def test_outputs_show_kev_and_epss(tmp_path: Path, kev: Path) -> None:
    epss = write_epss(tmp_path / "epss.csv", [(LOW_IN_KEV, 0.9, 0.995)])
    (tmp_path / "policy.yaml").write_text(ONLY_CRITICAL + "kev: fail\n")
    out = {name: tmp_path / name for name in ("o.sarif", "gl.json", "s.md")}
    code = main(["gate", "--quiet", "--report", write(tmp_path / "r.json", report()),
                 "--policy", str(tmp_path / "policy.yaml"), "--kev", str(kev),
                 "--epss", str(epss), "--sarif", str(out["o.sarif"]),
                 "--gitlab-report", str(out["gl.json"]), "--summary-md", str(out["s.md"])])
    assert code == 1
    sarif = json.loads(out["o.sarif"].read_text())
    props = {r["ruleId"]: r["properties"] for r in sarif["runs"][0]["results"]}
    assert props[LOW_IN_KEV]["kev"]["dueDate"] == "2026-01-20"
    assert props[LOW_IN_KEV]["kev"]["knownRansomwareCampaignUse"] == "Known"
    assert props[LOW_IN_KEV]["epss"] == {"score": 0.9, "percentile": 0.995}
    assert "kev" not in props["CVE-2024-0002"]
    gitlab = json.loads(out["gl.json"].read_text())
    [entry] = [v for v in gitlab["vulnerabilities"]
               if v["identifiers"][0]["value"] == LOW_IN_KEV]
    assert "CISA KEV" in entry["description"] and "2026-01-20" in entry["description"]
    assert "EPSS: 0.90000" in entry["description"]
    markdown = out["s.md"].read_text()
    assert "Known or likely exploited" in markdown
    assert "KEV (due 2026-01-20, ransomware)" in markdown


def test_security_hub_records_carry_kev_and_epss(tmp_path: Path, kev: Path) -> None:
    """ASFF has fields of its own for this: Vulnerabilities[].ExploitAvailable (YES/NO) and
    EpssScore (AWS Security Hub API reference, API_Vulnerability: EpssScore Double, ExploitAvailable
    YES | NO); botocore's model has both, so a real import accepts them."""
    epss = write_epss(tmp_path / "epss.csv", [("CVE-2024-0002", 0.61, 0.97)])
    out = tmp_path / "asff.json"
    doc = report()
    doc["Metadata"]["ImageID"] = "sha256:" + "ab" * 32
    code = main(["securityhub", "--report", write(tmp_path / "r.json", doc), "--dry-run",
                 "--asff-out", str(out), "--account-id", "123456789012", "--region",
                 "eu-central-1", "--kev", str(kev), "--epss", str(epss)])
    assert code == 0
    records = {r["Vulnerabilities"][0]["Id"]: r for r in json.loads(out.read_text())["Findings"]}
    in_kev = records[LOW_IN_KEV]
    assert in_kev["Vulnerabilities"][0]["ExploitAvailable"] == "YES"
    assert in_kev["ProductFields"]["scangate/KevDueDate"] == "2026-01-20"
    assert in_kev["ProductFields"]["scangate/KevRansomware"] == "Known"
    scored = records["CVE-2024-0002"]["Vulnerabilities"][0]
    assert scored["EpssScore"] == 0.61
    assert "ExploitAvailable" not in scored  # not in KEV says nothing about exploits elsewhere


def test_notify_names_what_is_exploited_and_a_pass_cannot_list_it(tmp_path: Path,
                                                                  kev: Path) -> None:
    from scangate.errors import SummaryError
    from scangate.gate_summary import parse
    from scangate.notify import build_message

    code, summary = gate(tmp_path, ONLY_CRITICAL + "kev: fail\n", "--kev", str(kev))
    assert code == 1
    message = build_message(parse(summary, "s.json"), env={})
    assert any(line.startswith(f"Exploitation (KEV): {LOW_IN_KEV} in CISA KEV (due 2026-01-20")
               for line in message.lines)
    with pytest.raises(SummaryError, match="pass' but it lists risk_violations"):
        parse({**summary, "decision": "pass"}, "s.json")
    with pytest.raises(SummaryError, match="risk_violations"):
        parse({**summary, "risk_violations": [{"rule": "other"}]}, "s.json")


def test_summary_findings_carry_kev_and_epss_and_stay_a_baseline(tmp_path: Path,
                                                                 kev: Path) -> None:
    epss = write_epss(tmp_path / "epss.csv", [("CVE-2024-0002", 0.61, 0.97)])
    code, summary = gate(tmp_path, ONLY_CRITICAL, "--kev", str(kev), "--epss", str(epss))
    assert code == 0
    by_id = {f["id"]: f for f in summary["findings"]}
    assert by_id[LOW_IN_KEV]["kev"]["due_date"] == "2026-01-20"
    assert by_id["CVE-2024-0002"]["epss"] == {"score": 0.61, "percentile": 0.97}
    assert "kev" not in by_id["CVE-2024-0003"] and "epss" not in by_id["CVE-2024-0003"]
    # That summary is still read as the next run's baseline.
    write(tmp_path / "base.json", summary)
    code, again = gate(tmp_path, ONLY_CRITICAL, "--baseline", str(tmp_path / "base.json"))
    assert code == 0
    assert {f["change"] for f in again["findings"]} == {"unchanged"}
