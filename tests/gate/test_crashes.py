"""Crashes and resource bombs (issue 13 section 2) and the input-side messages of section 5:
each is exit 2 with one bounded line, never a traceback, and never an output left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main
from scangate.errors import MAX_MESSAGE

from tests.support.reports import fs_report, image_report, misconfig, secret, vuln, write

CRITICAL = vuln("CVE-2020-14343", severity="CRITICAL")
BIG = 2**64 + 1
OUTPUT_FLAGS = ("--json-summary", "--sarif", "--gitlab-report", "--summary-md")


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    outs = [tmp_path / name for name in ("s.json", "o.sarif", "gl.json", "s.md")]
    argv = ["gate", *args]
    for flag, path in zip(OUTPUT_FLAGS, outs, strict=True):
        argv += [flag, str(path)]
    code = main(argv)
    err = capsys.readouterr().err
    if code == 2:
        assert not [p for p in outs if p.exists()], "an output survived a failed run"
    return code, err


def one_line(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[:3000]
    assert lines[0].startswith("scangate: error: ") and "Traceback" not in err
    assert len(lines[0]) <= MAX_MESSAGE + 20
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# --- integers beyond 64 bits ------------------------------------------------------------------

def _big_line_secret() -> dict[str, Any]:
    entry = secret()
    entry["StartLine"] = entry["EndLine"] = BIG
    return fs_report([{"Target": "deploy.sh", "Class": "secret", "Secrets": [entry]}])


def _big_line_misconfig() -> dict[str, Any]:
    entry = misconfig(line=3)
    entry["CauseMetadata"]["StartLine"] = BIG
    return fs_report([{"Target": "Dockerfile", "Class": "config", "Misconfigurations": [entry]}])


@pytest.mark.parametrize("doc", [_big_line_secret(), _big_line_misconfig()])
def test_line_numbers_beyond_64_bits_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: dict[str, Any],
) -> None:
    code, err = run(tmp_path, capsys, "--report", write(tmp_path / "r.json", doc))
    assert code == 2
    one_line(err, "StartLine", "64 bits")


def test_a_cvss_score_beyond_any_float_is_not_a_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    entry = vuln(severity="CRITICAL", score=9.8)
    entry["CVSS"]["nvd"]["V3Score"] = 10**400
    code, err = run(tmp_path, capsys, "--report", write(tmp_path / "r.json",
                                                         image_report([entry])))
    assert code == 1, err
    sarif = json.loads((tmp_path / "o.sarif").read_text())
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert 0.0 <= float(rules[0]["properties"]["security-severity"]) <= 10.0


def test_limits_beyond_64_bits_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    with pytest.raises(SystemExit) as usage:
        main(["gate", "--report", report, "--max-critical", str(BIG)])
    assert usage.value.code == 2
    assert "larger than" in capsys.readouterr().err
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\nthresholds: {{critical: {BIG}}}\n")
    code, err = run(tmp_path, capsys, "--report", report, "--policy", str(policy))
    assert code == 2
    one_line(err, "thresholds/critical", "maximum")


# --- dates at the edges of the calendar -------------------------------------------------------

@pytest.mark.parametrize("expires", [
    '"9999-12-31T23:59:59-23:59"', "9999-12-31T23:59:59-23:59", "0001-01-01T00:00+05:00",
    '"0001-01-01T00:00+05:00"', "10000-01-01", "0000-12-31", "2030-02-30", "2030-13-01",
    '"\uff12\uff10\uff13\uff10-01-01"', "2030-01-01 00:00:00 +14:00",
])
def test_odd_waiver_dates_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expires: str,
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\nwaivers:\n  - {{id: CVE-2020-14343, reason: r, "
                      f"expires: {expires}}}\n", encoding="utf-8")
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    code, err = run(tmp_path, capsys, "--report", report, "--policy", str(policy))
    assert code == 2
    one_line(err, "waivers/0/expires")


@pytest.mark.parametrize(("expires", "extra", "code"), [
    ("9999-12-31", "", 2),  # past max_waiver_days: refused, not an overflow
    ("9999-12-31", "max_waiver_days: 3650\n", 2),
    ("0001-01-01", "", 1),
])
def test_first_and_last_days_of_the_calendar_work_in_every_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expires: str, extra: str, code: int,
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\n{extra}waivers:\n  - {{id: CVE-2020-14343, reason: r, "
                      f"expires: {expires}}}\n")
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    assert run(tmp_path, capsys, "--report", report, "--policy", str(policy))[0] == code


@pytest.mark.parametrize(("days", "max_days", "code"), [
    (90, None, 0), (91, None, 2), (3650, 3650, 0), (3651, 3650, 2), (1, 1, 0), (2, 1, 2),
])
def test_a_waiver_may_not_run_past_max_waiver_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], days: int, max_days: int | None,
    code: int,
) -> None:
    """A waiver is a decision to revisit (issue 21 §5): 9999 is a permanent hole. The default
    is 90 days after the day the gate runs; a later expiry is refused naming the waiver."""
    import datetime as dt

    expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)).isoformat()
    limit = f"max_waiver_days: {max_days}\n" if max_days else ""
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\n{limit}waivers:\n  - {{id: CVE-0000-1, reason: r, "
                      f"expires: 2000-01-01}}\n  - {{id: CVE-2020-14343, reason: r, "
                      f"expires: {expires}}}\n")
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    got, err = run(tmp_path, capsys, "--report", report, "--policy", str(policy))
    assert got == code
    if code == 2:
        one_line(err, f"waivers/1 (CVE-2020-14343): expires {expires}, more than "
                      f"max_waiver_days ({max_days or 90})")


@pytest.mark.parametrize("value", ["0", "3651", "-1", "1.5", "'90'", "true"])
def test_max_waiver_days_outside_1_to_3650_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str,
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\nmax_waiver_days: {value}\n")
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    code, err = run(tmp_path, capsys, "--report", report, "--policy", str(policy))
    assert code == 2
    one_line(err, "max_waiver_days")


# --- nesting ----------------------------------------------------------------------------------

@pytest.mark.parametrize("recursion_limit", [None, 100_000])
def test_json_nested_a_thousand_deep_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest,
    recursion_limit: int | None,
) -> None:
    """Also when something else in the process raised Python's recursion limit: msgspec's depth
    check follows that limit, and a full `make test` run once accepted these reports (exit 0)."""
    if recursion_limit is not None:
        previous = sys.getrecursionlimit()
        sys.setrecursionlimit(recursion_limit)
        request.addfinalizer(lambda: sys.setrecursionlimit(previous))
    deep = "[" * 1000 + "]" * 1000
    for number, text in enumerate([
        '{"SchemaVersion": 2, "Metadata": ' + deep + ', "Results": []}',
        '{"SchemaVersion": 2, "Results": [{"Target": "a", "Vulnerabilities": [{"VulnerabilityID":'
        ' "CVE-1", "PkgName": "p", "Severity": "LOW", "CVSS": ' + deep + "}]}]}",
        '{"SchemaVersion": 2, "Results": [{"Target": "a", "Secrets": [' + deep + "]}]}",
    ]):
        report = tmp_path / f"r{number}.json"
        report.write_text(text)
        code, err = run(tmp_path, capsys, "--report", str(report))
        assert code == 2
        one_line(err, str(report))


@pytest.mark.parametrize("body", [
    "x: " + "[" * 1000 + "]" * 1000,
    "x: " + "{a: " * 1000 + "1" + "}" * 1000,
    "x:\n" + "".join("  " * i + "- \n" for i in range(1, 200)),
])
def test_yaml_nested_a_thousand_deep_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str,
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\n" + body + "\n")
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    code, err = run(tmp_path, capsys, "--report", report, "--policy", str(policy))
    assert code == 2
    one_line(err, "p.yaml")


# --- YAML keys, aliases, merge keys -----------------------------------------------------------

@pytest.mark.parametrize(("body", "needle"), [
    ("thresholds:\n  ? [critical, high]\n  : 0\n", "not a list or a map"),
    ("? {a: 1}\n: 1\n", "not a list or a map"),
    ("thresholds:\n  1: 0\n", "is not a name"),
    ("thresholds:\n  ~: 0\n", "is not a name"),
    ("thresholds:\n  <<: {critical: 0}\n  high: 2\n", "merge keys (<<) are not supported"),
    ("base: &b {critical: 0}\nthresholds: *b\n", "anchors and aliases"),
])
def test_yaml_shapes_a_policy_never_has_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, needle: str,
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\n" + body)
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    code, err = run(tmp_path, capsys, "--report", report, "--policy", str(policy))
    assert code == 2
    one_line(err, needle)


def test_billion_laughs_is_refused_with_a_short_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    lines = ['version: 1', 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines.append("thresholds: *a8")
    text = "\n".join(lines) + "\n"
    assert len(text) < 800
    policy = tmp_path / "p.yaml"
    policy.write_text(text)
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    code, err = run(tmp_path, capsys, "--report", report, "--policy", str(policy))
    assert code == 2
    one_line(err, "anchors and aliases")


def test_error_messages_are_bounded_whatever_they_quote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    key = "K" * 100_000 + "\x1b[2J"
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\n{key}: 1\n")
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    code, err = run(tmp_path, capsys, "--report", report, "--policy", str(policy))
    assert code == 2
    one_line(err)
    assert "\x1b" not in err


def test_a_policy_with_a_byte_order_mark_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """YAML allows a BOM at the start of a stream (YAML 1.2, 5.2); editors on Windows add it."""
    policy = tmp_path / "p.yaml"
    policy.write_bytes(b"\xef\xbb\xbfversion: 1\nthresholds: {critical: 1}\n")
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    assert run(tmp_path, capsys, "--report", report, "--policy", str(policy))[0] == 0


# --- closed stdout ----------------------------------------------------------------------------

class _ClosedPipe:
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise ValueError("no file")


def test_a_closed_stdout_fails_and_leaves_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = write(tmp_path / "r.json", image_report([vuln(severity="LOW")]))
    stale = tmp_path / "s.json"
    stale.write_text('{"decision": "pass"}')  # an earlier run's
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code, err = run(tmp_path, capsys, "--report", report)
    assert code == 2
    one_line(err, "stdout")
    assert not stale.exists()


def test_a_closed_pipe_on_the_real_command_leaves_no_summary(tmp_path: Path) -> None:
    """`scangate gate ... | head -c0`: the reader is gone before the summary is printed."""
    report = write(tmp_path / "r.json", image_report([vuln(severity="LOW")]))
    summary = tmp_path / "summary.json"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "scangate", "gate", "--report", report,
             "--json-summary", str(summary)],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert proc.returncode == 2, proc.stderr
    assert not summary.exists()
    assert "Traceback" not in proc.stderr and "stdout" in proc.stderr


# --- SSM without a region ---------------------------------------------------------------------

def test_ssm_without_a_region_names_the_flag_gate_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "aws-config"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    for args in (["--policy", "ssm:/scangate/policy"], ["--thresholds-from-ssm", "/scangate"]):
        code, err = run(tmp_path, capsys, "--report", report, *args)
        assert code == 2
        one_line(err, "--aws-region")
        assert "--region " not in err


def test_an_accepted_vex_document_may_not_run_past_max_waiver_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    import datetime as dt

    expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=91)).isoformat()
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\naccepted_vex:\n  - {sha256: '" + "ab" * 32 + "', reason: r, "
                      f"expires: '{expires}'}}\n")
    report = write(tmp_path / "r.json", image_report([CRITICAL]))
    code, err = run(tmp_path, capsys, "--report", report, "--policy", str(policy))
    assert code == 2
    one_line(err, f"accepted_vex/0 ({'ab' * 32}): expires {expires}, more than max_waiver_days")
