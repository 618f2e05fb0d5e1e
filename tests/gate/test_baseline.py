"""gate --baseline: every finding new, unchanged or fixed by a stable identity; new_only.

The identity (scangate.baseline's docstring): a vulnerability is its ecosystem, package and id
(not the installed version, not the target); a secret or misconfiguration its file and rule
(not the line). A missing or unreadable baseline is not used: every finding counts.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main

from tests.support.reports import fs_report, image_report, secret, vuln, write
from tests.support.schemas import GOLDENS, require_gitlab_validator, require_sarif_validator


def gate(tmp_path: Path, head: dict[str, Any] | str, *args: str, baseline: Any = None,
         policy: str | None = None, name: str = "head") -> tuple[int, dict[str, Any]]:
    report = head if isinstance(head, str) else write(tmp_path / f"{name}.json", head)
    argv = ["gate", "--quiet", "--report", report]
    if baseline is not None:
        base = baseline if isinstance(baseline, str) else write(tmp_path / "base.json", baseline)
        argv += ["--baseline", base]
    if policy is not None:
        (tmp_path / "policy.yaml").write_text(policy, encoding="utf-8")
        argv += ["--policy", str(tmp_path / "policy.yaml")]
    out = tmp_path / f"{name}-summary.json"
    code = main([*argv, "--json-summary", str(out), *args])
    return code, json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}


def changes(summary: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(f["id"], f["package"]): f["change"] for f in summary["findings"]}


# --- real report pairs -------------------------------------------------------------------------

def _golden(name: str) -> str:
    path = GOLDENS / f"{name}.json.golden"
    if not path.is_file():
        pytest.skip(f"{path} absent (../shared is not checked out): the builder-made pairs "
                    "below test the same rules")
    return str(path)


def test_real_pair_upgrade_is_unchanged_and_fixes_are_fixed(tmp_path: Path) -> None:
    """Trivy's own goldens: alpine 3.9.4 -> 3.10.2 renames the OS target (image and release)
    and bumps libcrypto/libssl 1.1.1b-r1 -> 1.1.1c-r0 while still vulnerable (unchanged), and
    drops the musl CVE (fixed)."""
    code, summary = gate(tmp_path, _golden("alpine-310"), baseline=_golden("alpine-39"))
    assert code == 0
    assert summary["baseline"] == {"path": _golden("alpine-39"), "used": True, "reason": "",
                                   "source": "trivy", "new": 0, "unchanged": 4, "fixed": 2,
                                   "notes": []}
    assert set(changes(summary).values()) == {"unchanged"}
    assert sorted((f["id"], f["package"], f["severity"]) for f in summary["fixed_findings"]) == [
        ("CVE-2019-14697", "musl", "critical"), ("CVE-2019-14697", "musl-utils", "critical")]


def test_real_pair_reversed_fails_on_the_new_findings_only(tmp_path: Path) -> None:
    code, summary = gate(tmp_path, _golden("alpine-39"), baseline=_golden("alpine-310"),
                         policy="version: 1\nthresholds: {critical: 0, medium: 0}\n"
                                "new_only: [medium]\n")
    assert code == 1
    assert summary["violations"] == [{"severity": "critical", "count": 2, "limit": 0}]
    assert summary["not_new"] == 4 and summary["counts"]["medium"] == 0
    assert changes(summary)[("CVE-2019-14697", "musl")] == "new"
    assert summary["fixed_findings"] == []


# --- the identity, on builder-made reports ------------------------------------------------------

def test_bump_fix_and_new_package(tmp_path: Path) -> None:
    base = image_report([vuln("CVE-1", pkg="openssl", installed="3.0.1-1"),
                         vuln("CVE-2", pkg="zlib", installed="1.2")])
    head = image_report([vuln("CVE-1", pkg="openssl", installed="3.0.1-2"),  # bump, still open
                         vuln("CVE-3", pkg="curl", installed="8.0")])  # new package
    code, summary = gate(tmp_path, head, baseline=base)
    assert code == 0
    assert changes(summary) == {("CVE-1", "openssl"): "unchanged", ("CVE-3", "curl"): "new"}
    assert [(f["id"], f["package"]) for f in summary["fixed_findings"]] == [("CVE-2", "zlib")]


def test_renamed_image_and_new_os_release_keep_the_identity(tmp_path: Path) -> None:
    base = image_report([vuln("CVE-1")], name="registry.example/old:1.0", os_name="12.4")
    head = image_report([vuln("CVE-1")], name="registry.example/new:2.0", os_name="12.5")
    _, summary = gate(tmp_path, head, baseline=base)
    assert changes(summary) == {("CVE-1", "openssl"): "unchanged"}


def test_same_cve_in_another_ecosystem_is_new(tmp_path: Path) -> None:
    base = image_report([vuln("CVE-1", pkg="openssl")], os_family="debian")
    head = image_report([vuln("CVE-1", pkg="openssl")], os_family="alpine")
    _, summary = gate(tmp_path, head, baseline=base)
    assert changes(summary) == {("CVE-1", "openssl"): "new"}


def test_identities_are_counted_not_collected(tmp_path: Path) -> None:
    jar = {"Target": "Java", "Class": "lang-pkgs", "Type": "jar"}
    base = image_report([], extra_results=[{**jar, "Vulnerabilities": [
        vuln("CVE-9", pkg="log4j", PkgPath="a/log4j-2.14.jar")]}])
    head = image_report([], extra_results=[{**jar, "Vulnerabilities": [
        vuln("CVE-9", pkg="log4j", PkgPath="a/log4j-2.15.jar"),
        vuln("CVE-9", pkg="log4j", PkgPath="b/log4j-2.15.jar")]}])
    _, summary = gate(tmp_path, head, baseline=base)
    assert sorted(f["change"] for f in summary["findings"]) == ["new", "unchanged"]


def test_a_secret_moved_down_its_file_is_unchanged_another_file_is_new(tmp_path: Path) -> None:
    def report(line: int, target: str) -> dict[str, Any]:
        return fs_report([{"Target": target, "Class": "secret",
                           "Secrets": [secret(line=line)]}])
    _, summary = gate(tmp_path, report(10, "app/.env"), baseline=report(3, "app/.env"))
    assert [f["change"] for f in summary["findings"]] == ["unchanged"]
    _, summary = gate(tmp_path, report(3, "app/other.env"), baseline=report(3, "app/.env"))
    assert [f["change"] for f in summary["findings"]] == ["new"]
    assert len(summary["fixed_findings"]) == 1


def test_a_summary_is_a_baseline(tmp_path: Path) -> None:
    base = image_report([vuln("CVE-1"), vuln("CVE-2", pkg="zlib")])
    gate(tmp_path, base, name="base")
    head = image_report([vuln("CVE-1", installed="3.0.1-9"), vuln("CVE-3", pkg="curl")])
    _, summary = gate(tmp_path, head, baseline=str(tmp_path / "base-summary.json"))
    assert summary["baseline"]["source"] == "summary"
    assert changes(summary) == {("CVE-1", "openssl"): "unchanged", ("CVE-3", "curl"): "new"}
    assert [f["id"] for f in summary["fixed_findings"]] == ["CVE-2"]


def test_two_images_are_compared_each_with_its_own(tmp_path: Path) -> None:
    """The same CVE fixed in one image and added to the other is one fixed and one new, not
    two unchanged."""
    a_base = image_report([vuln("CVE-1")], name="registry.example/a:1")
    b_base = image_report([], name="registry.example/b:1")
    base_argv = ["gate", "--quiet", "--report", write(tmp_path / "a0.json", a_base),
                 "--report", write(tmp_path / "b0.json", b_base),
                 "--json-summary", str(tmp_path / "base.json")]
    main(base_argv)
    a_head = image_report([], name="registry.example/a:2")
    b_head = image_report([vuln("CVE-1")], name="registry.example/b:2")
    out = tmp_path / "head.json"
    main(["gate", "--quiet", "--report", write(tmp_path / "a1.json", a_head),
          "--report", write(tmp_path / "b1.json", b_head),
          "--baseline", str(tmp_path / "base.json"), "--json-summary", str(out)])
    summary = json.loads(out.read_text(encoding="utf-8"))
    assert [(f["artifact"], f["change"]) for f in summary["findings"]] == [
        ("registry.example/b", "new")]
    assert [f["artifact"] for f in summary["fixed_findings"]] == ["registry.example/a"]


# --- new_only ------------------------------------------------------------------------------------

NEW_ONLY = "version: 1\nthresholds: {critical: 0, medium: 0}\nnew_only: [MEDIUM, low]\n"


def test_new_only_counts_new_findings_and_critical_always(tmp_path: Path) -> None:
    base = image_report([vuln("CVE-M", severity="MEDIUM"), vuln("CVE-C", pkg="c",
                                                                severity="CRITICAL")])
    code, summary = gate(tmp_path, base, baseline=base, policy=NEW_ONLY)
    assert code == 1  # the unchanged CRITICAL still counts: critical is not in new_only
    assert summary["counts"]["critical"] == 1 and summary["counts"]["medium"] == 0
    assert summary["not_new"] == 1
    assert summary["policy"]["new_only"] == ["medium", "low"]
    dispositions = {f["id"]: f["disposition"] for f in summary["findings"]}
    assert dispositions == {"CVE-M": "not_new", "CVE-C": "counted"}
    head = image_report([vuln("CVE-M", severity="MEDIUM"),
                         vuln("CVE-N", pkg="n", severity="MEDIUM")])
    code, summary = gate(tmp_path, head, baseline=base, policy=NEW_ONLY)
    assert code == 1
    assert summary["violations"] == [{"severity": "medium", "count": 1, "limit": 0}]


@pytest.mark.parametrize("content", [
    None,  # missing
    "{not json",
    '{"runs": []}',  # SARIF, not a baseline
    '{"scangate_version": "0.1.0", "decision": "pass"}',  # a summary without findings
    '{"scangate_version": "0.1.0", "findings": [{"id": "CVE-1"}]}',
    '{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": 1}]}]}',
])
def test_an_unusable_baseline_gates_on_everything_and_says_so(
        tmp_path: Path, content: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.json"
    if content is not None:
        base.write_text(content, encoding="utf-8")
    head = image_report([vuln("CVE-M", severity="MEDIUM")])
    code, summary = gate(tmp_path, head, "--summary-md", str(tmp_path / "s.md"),
                         baseline=str(base), policy=NEW_ONLY)
    assert code == 1
    assert summary["baseline"]["used"] is False and summary["baseline"]["reason"]
    assert summary["findings"][0]["change"] is None
    assert summary["new_only_note"].startswith("new_only not applied: baseline")
    err = capsys.readouterr().err
    assert "not used" in err and "every finding counts" in err
    assert "not used" in (tmp_path / "s.md").read_text(encoding="utf-8")


def test_new_only_without_baseline_is_not_applied(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = gate(tmp_path, image_report([vuln(severity="MEDIUM")]), policy=NEW_ONLY)
    assert code == 1
    assert summary["baseline"] is None
    assert "no baseline given" in summary["new_only_note"]
    assert "new_only not applied" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["[severe]", "critical", "[high, HIGH]"])
def test_new_only_refuses_what_is_not_a_list_of_severities(tmp_path: Path, value: str,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    code, _ = gate(tmp_path, image_report([]), policy=f"version: 1\nnew_only: {value}\n")
    assert code == 2
    assert "new_only" in capsys.readouterr().err


def test_the_baseline_is_never_overwritten(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.json"
    shutil.copy(write(tmp_path / "x.json", image_report([vuln()])), base)
    before = base.read_bytes()
    code = main(["gate", "--quiet", "--report", str(tmp_path / "x.json"), "--baseline",
                 str(base), "--json-summary", str(base)])
    assert code == 2 and base.read_bytes() == before
    assert "--baseline" in capsys.readouterr().err


# --- the class in every output --------------------------------------------------------------------

def test_the_class_is_in_sarif_gitlab_and_markdown(tmp_path: Path) -> None:
    base = image_report([vuln("CVE-1"), vuln("CVE-2", pkg="[x](https://evil.example)|")])
    head = image_report([vuln("CVE-1"), vuln("CVE-3", pkg="curl")])
    code, _ = gate(tmp_path, head, "--sarif", str(tmp_path / "s.sarif"), "--gitlab-report",
                   str(tmp_path / "gl.json"), "--summary-md", str(tmp_path / "s.md"),
                   baseline=base)
    assert code == 0
    sarif = json.loads((tmp_path / "s.sarif").read_text(encoding="utf-8"))
    states = {r["ruleId"]: (r["baselineState"], r["properties"]["change"])
              for r in sarif["runs"][0]["results"]}
    assert states == {"CVE-1": ("unchanged", "unchanged"), "CVE-3": ("new", "new")}
    gitlab = json.loads((tmp_path / "gl.json").read_text(encoding="utf-8"))
    details = {v["identifiers"][0]["value"]: v["details"]["scangate_change"]["value"]
               for v in gitlab["vulnerabilities"]}
    assert details == {"CVE-1": "unchanged", "CVE-3": "new"}
    md = (tmp_path / "s.md").read_text(encoding="utf-8")
    assert "**1 new**, 1 unchanged, 1 fixed" in md
    assert "### Fixed since the baseline" in md
    # The package name from the baseline is a code span: no link, no table cell break.
    assert "`[x](https://evil.example)\\|`" in md
    assert "](https://evil.example)" not in md.replace("`[x](https://evil.example)\\|`", "")
    require_sarif_validator().validate(sarif)
    require_gitlab_validator().validate(gitlab)


def test_without_baseline_no_class_is_written(tmp_path: Path) -> None:
    code, summary = gate(tmp_path, image_report([vuln()]), "--sarif", str(tmp_path / "s.sarif"))
    assert code == 0 and summary["baseline"] is None and summary["fixed_findings"] == []
    result = json.loads((tmp_path / "s.sarif").read_text(encoding="utf-8"))["runs"][0][
        "results"][0]
    assert "baselineState" not in result and "change" not in result["properties"]


def test_today_is_not_part_of_the_identity(tmp_path: Path) -> None:
    """A summary written on another day is the same baseline (no run data in the identity)."""
    base = image_report([vuln("CVE-1")])
    gate(tmp_path, base, name="base")
    doc = json.loads((tmp_path / "base-summary.json").read_text(encoding="utf-8"))
    doc["today"] = (dt.date.today() - dt.timedelta(days=40)).isoformat()
    doc["findings"][0]["installed_version"] = "0.0.1"
    _, summary = gate(tmp_path, base, baseline=doc)
    assert changes(summary) == {("CVE-1", "openssl"): "unchanged"}
