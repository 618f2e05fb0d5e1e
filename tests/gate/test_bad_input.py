"""Fail closed: every broken input is exit 2 with one line naming the file, never a pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scangate._cli import main

from tests.support.reports import image_report, misconfig, vuln, write

GOOD = image_report([vuln(severity="LOW")])


def run_gate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["gate", *args])
    err = capsys.readouterr().err
    return code, err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("scangate: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (json.dumps(GOOD).encode()[:-40], "truncated"),
        (b"not json at all", "not valid JSON"),
        (b"[1, 2]", "top level is list"),
        (b'{"Results": []}', "no SchemaVersion"),
        (b'{"SchemaVersion": 1, "Results": []}', "unsupported Trivy SchemaVersion 1"),
        (b'{"SchemaVersion": "2", "Results": []}', "unsupported Trivy SchemaVersion '2'"),
        (b'{"SchemaVersion": true, "Results": []}', "unsupported"),
        (b'{"SchemaVersion": 3, "Results": []}', "unsupported Trivy SchemaVersion 3"),
        (b'{"SchemaVersion": 2, "Results": {"a": 1}}', "Results is dict, not a list"),
        (b'{"SchemaVersion": 2, "Results": ["x"]}', "Results[0]: is str"),
        (b'{"$schema": "x", "version": "2.1.0", "runs": []}', "looks like SARIF"),
        (b'{"bomFormat": "CycloneDX"}', "looks like an SBOM"),
        (b"\xff\x00garbage", "not valid JSON"),
        (b"\xff\xfe{\x00", "UTF-16 byte-order mark"),
        # Go's JSON reader refuses a BOM too: say what it is and how to save the file.
        (b'\xef\xbb\xbf{"SchemaVersion": 2, "Results": []}', "UTF-8 byte-order mark"),
    ],
)
def test_broken_reports_are_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   content: bytes, needle: str) -> None:
    report = tmp_path / "report.json"
    report.write_bytes(content)
    code, err = run_gate(capsys, "--report", str(report))
    assert code == 2
    assert_one_line_error(err, str(report), needle)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda v: v.pop("VulnerabilityID"), "no VulnerabilityID"),
        (lambda v: v.update(VulnerabilityID=""), "no VulnerabilityID"),
        (lambda v: v.update(Severity="SEVERE"), "unknown severity 'SEVERE'"),
        (lambda v: v.pop("Severity"), "Vulnerabilities[0]: no Severity"),
        (lambda v: v.update(Title=5), "Title is int"),
        (lambda v: v.update(References="x"), "References is not a list"),
        (lambda v: (v.pop("PkgName"), v.pop("PkgID")), "no PkgName or PkgID"),
    ],
)
def test_broken_findings_are_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    mutate: object, needle: str) -> None:
    entry = vuln(severity="CRITICAL")
    mutate(entry)  # type: ignore[operator]
    path = write(tmp_path / "r.json", image_report([entry]))
    code, err = run_gate(capsys, "--report", path)
    assert code == 2
    assert_one_line_error(err, path, "Vulnerabilities[0]", needle)


def test_vulnerabilities_not_a_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = image_report([])
    doc["Results"][0]["Vulnerabilities"] = {"CVE-1": {}}
    path = write(tmp_path / "r.json", doc)
    code, err = run_gate(capsys, "--report", path)
    assert code == 2
    assert_one_line_error(err, "Vulnerabilities is dict")


def test_missing_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    code, err = run_gate(capsys, "--report", str(missing))
    assert code == 2
    assert_one_line_error(err, str(missing), "not found")


def test_directory_as_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_gate(capsys, "--report", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, "is a directory")


def test_same_report_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Counting one file twice would double every count; refusing is the honest answer.
    path = write(tmp_path / "r.json", GOOD)
    code, err = run_gate(capsys, "--report", path, "--report", path)
    assert code == 2
    assert_one_line_error(err, "given twice")


def test_a_bad_second_report_fails_even_if_first_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path / "good.json", GOOD)
    bad = tmp_path / "bad.json"
    bad.write_text('{"SchemaVersion": 2, "Results": [', encoding="utf-8")
    code, err = run_gate(capsys, "--report", good, "--report", str(bad))
    assert code == 2
    assert_one_line_error(err, str(bad))


def test_misconfiguration_without_status_counts(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    entry = misconfig(severity="CRITICAL")
    entry.pop("Status")
    doc = {"SchemaVersion": 2, "ArtifactName": ".", "ArtifactType": "filesystem",
           "Results": [{"Target": "Dockerfile", "Class": "config", "Type": "dockerfile",
                        "Misconfigurations": [entry]}]}
    code, _ = run_gate(capsys, "--report", write(tmp_path / "r.json", doc))
    assert code == 1


def test_findings_under_an_unexpected_class_are_still_gated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Relabelling a result must not hide its vulnerabilities from the gate.
    doc = image_report([vuln(severity="CRITICAL")])
    doc["Results"][0]["Class"] = "license"
    code, _ = run_gate(capsys, "--report", write(tmp_path / "r.json", doc))
    assert code == 1


@pytest.mark.parametrize(
    ("policy", "needle"),
    [
        ("version: 1\nthresholds: {critical: 0}\nfoo: 1\n", "Additional properties"),
        ("version: 1\nthresholds: {severe: 0}\n", "'severe'"),
        ("version: 1\nthresholds: {critical: -1}\n", "thresholds/critical"),
        ("version: 1\nthresholds: {critical: zero}\n", "thresholds/critical"),
        ("version: 2\n", "version"),
        ("thresholds: {critical: 0}\n", "'version' is a required property"),
        ("version: 1\nwaivers: [{id: CVE-1, expires: 2030-01-01}]\n", "'reason' is a required"),
        ("version: 1\nwaivers: [{id: CVE-1, reason: x}]\n", "'expires' is a required"),
        ("version: 1\nwaivers: [{id: CVE-1, reason: '  ', expires: 2030-01-01}]\n", "reason"),
        ("version: 1\nwaivers: [{id: CVE-1, reason: x, expires: 2030-13-45}]\n", "expires"),
        ("version: 1\nwaivers: [{id: CVE-1, reason: x, expires: soon}]\n", "expires"),
        ("version: 1\nclasses: []\n", "classes"),
        ("version: 1\nclasses: [licenses]\n", "not a class"),
        ("version: 1\nthresholds: {critical: 0, Critical: 3}\n", "given twice"),
        ("version: 1\nversion: 1\n", "duplicate key"),
        ("version: 1\nthresholds: [critical]\n", "thresholds"),
        ("version: [1\n", "not valid YAML"),
        ("", "empty"),
        ("- just\n- a list\n", "not of type 'object'"),
    ],
)
def test_invalid_policies_are_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     policy: str, needle: str) -> None:
    report = write(tmp_path / "r.json", GOOD)
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(policy, encoding="utf-8")
    code, err = run_gate(capsys, "--report", report, "--policy", str(policy_path))
    assert code == 2
    assert_one_line_error(err, str(policy_path), needle)


def test_missing_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = write(tmp_path / "r.json", GOOD)
    code, err = run_gate(capsys, "--report", report, "--policy", str(tmp_path / "p.yaml"))
    assert code == 2
    assert_one_line_error(err, "policy file not found")


@pytest.mark.parametrize("flag", ["--json-summary", "--sarif", "--gitlab-report", "--summary-md"])
def test_unwritable_output_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       flag: str) -> None:
    report = write(tmp_path / "r.json", GOOD)
    target = tmp_path / "missing-dir" / "out"
    code, err = run_gate(capsys, "--report", report, flag, str(target))
    assert code == 2
    assert_one_line_error(err, str(target), "does not exist")


def test_output_must_not_overwrite_the_report(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    report = write(tmp_path / "r.json", GOOD)
    code, err = run_gate(capsys, "--report", report, "--json-summary", report)
    assert code == 2
    assert_one_line_error(err, "overwrite an input report")
    assert json.loads(Path(report).read_text())["SchemaVersion"] == 2


@pytest.mark.parametrize(
    "args",
    [
        ["--fail-on", "SEVERE"],
        ["--max-high", "-1"],
        ["--max-high", "two"],
        ["--bogus"],
    ],
)
def test_bad_command_lines_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  args: list[str]) -> None:
    report = write(tmp_path / "r.json", GOOD)
    with pytest.raises(SystemExit) as exc:
        main(["gate", "--report", report, *args])
    assert exc.value.code == 2


def test_no_report_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["gate"])
    assert exc.value.code == 2


def test_failed_run_leaves_no_outputs_and_removes_stale_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path / "good.json", image_report([vuln(severity="LOW")]))
    outs = {flag: tmp_path / name for flag, name in [
        ("--json-summary", "summary.json"), ("--sarif", "out.sarif"),
        ("--gitlab-report", "gl.json"), ("--summary-md", "summary.md")]}
    args = [a for flag, path in outs.items() for a in (flag, str(path))]
    assert main(["gate", "--report", good, *args]) == 0
    assert all(p.exists() for p in outs.values())
    # A later run that fails must not leave the earlier "pass" behind.
    broken = tmp_path / "broken.json"
    broken.write_text('{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnera', "utf-8")
    assert main(["gate", "--report", str(broken), *args]) == 2
    assert not any(p.exists() for p in outs.values())
    assert not list(tmp_path.glob(".scangate-*"))
    capsys.readouterr()


# --- the reader's passes: shapes, bytes, and large (mapped) reports --------------------------


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda doc: doc["Results"][0]["Vulnerabilities"].insert(0, "CVE-1"),
         "Results[0].Vulnerabilities[0]: is str, not an object"),
        (lambda doc: doc["Results"][0]["Vulnerabilities"].append(None),
         "Results[0].Vulnerabilities[1]: is None, not an object"),
        (lambda doc: doc["Results"][0].update(Secrets={"a": 1}), "Results[0]: Secrets is dict"),
        (lambda doc: doc["Results"][0].update(Target=["x"]), "Results[0]: Target is list"),
    ],
)
def test_wrong_shapes_say_where(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                mutate: object, needle: str) -> None:
    doc = image_report([vuln(severity="LOW")])
    mutate(doc)  # type: ignore[operator]
    path = write(tmp_path / "r.json", doc)
    code, err = run_gate(capsys, "--report", path)
    assert code == 2
    assert_one_line_error(err, path, needle)


def test_a_foreign_file_is_named_before_its_shape_is_faulted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Results has the wrong shape too; the version is what the user needs to hear first.
    path = write(tmp_path / "r.json", {"SchemaVersion": 3, "Results": {"a": 1}})
    code, err = run_gate(capsys, "--report", path)
    assert code == 2
    assert_one_line_error(err, "unsupported Trivy SchemaVersion 3")


def test_bytes_that_are_not_utf8_anywhere_are_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A field scangate never reads: the decoder skips it, the gate still refuses the file.
    entry = vuln(severity="LOW", Layer={"Digest": "sha256:PLACEHOLDER"})
    raw = json.dumps(image_report([entry])).encode().replace(b"PLACEHOLDER", b"ab\xffcd")
    report = tmp_path / "r.json"
    report.write_bytes(raw)
    code, err = run_gate(capsys, "--report", str(report))
    assert code == 2
    assert_one_line_error(err, str(report), "not UTF-8")


def test_trivy_spelling_variants_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          ) -> None:
    lower = vuln("CVE-2024-1", severity="critical")
    no_name = vuln("CVE-2024-2", severity="HIGH")
    no_name.pop("PkgName")
    out = tmp_path / "summary.json"
    path = write(tmp_path / "r.json", image_report([lower, no_name]))
    assert main(["gate", "--report", path, "--json-summary", str(out), "--quiet"]) == 1
    summary = json.loads(out.read_text())
    assert summary["counts"]["critical"] == 1 and summary["counts"]["high"] == 1
    capsys.readouterr()


def _large_report(count: int) -> dict[str, object]:
    # Over the reader's 1 MiB mapping threshold.
    return image_report([vuln(f"CVE-2024-{n:05d}", pkg=f"p{n}", severity="HIGH" if n % 7 else
                              "CRITICAL", Description="x" * 400) for n in range(count)])


def test_large_mapped_report_is_read_whole(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "r.json", _large_report(3000))
    assert Path(path).stat().st_size > 1 << 20
    out = tmp_path / "summary.json"
    assert main(["gate", "--report", path, "--json-summary", str(out), "--quiet"]) == 1
    counts = json.loads(out.read_text())["counts"]
    assert counts["critical"] == len(range(0, 3000, 7))
    assert counts["high"] == 3000 - counts["critical"]
    capsys.readouterr()


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda raw: raw[: len(raw) * 2 // 3], "truncated"),
        (lambda raw: raw.replace(b'"CVE-2024-02999"', b'"CVE-2024-\xc3"', 1), "not UTF-8"),
        (lambda raw: raw.replace(b'"PkgName": "p2500"', b'"PkgName" "p2500"'), "not valid JSON"),
    ],
)
def test_large_mapped_report_fails_closed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          damage: object, needle: str) -> None:
    report = tmp_path / "r.json"
    report.write_bytes(damage(json.dumps(_large_report(3000)).encode()))  # type: ignore[operator]
    code, err = run_gate(capsys, "--report", str(report))
    assert code == 2
    assert_one_line_error(err, str(report), needle)


def test_large_mapped_report_names_the_bad_entry(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    doc = _large_report(3000)
    doc["Results"][0]["Vulnerabilities"][2999]["Title"] = 7  # type: ignore[index]
    path = write(tmp_path / "r.json", doc)
    code, err = run_gate(capsys, "--report", path)
    assert code == 2
    assert_one_line_error(err, path, "Results[0].Vulnerabilities[2999]: Title is int")


def test_outputs_of_a_previous_run_are_gone_as_soon_as_a_run_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scangate.outputs.atomic import OutputSet

    stale = tmp_path / "summary.json"
    stale.write_text('{"decision": "pass"}')
    writer = OutputSet([str(stale)])
    writer.add(str(stale), b"new")  # written beside it, not yet in place
    writer._clearing.join()
    assert not stale.exists()
    writer.commit()
    assert stale.read_bytes() == b"new"


@pytest.mark.parametrize(("argv", "flag", "reason"), [
    (["gate", "--fail-on", "SEVERE", "--report", "r.json"], "--fail-on",
     "unknown severity 'SEVERE'"),
    (["plan", "pull-request", "--fail-on", "SEVERE"], "--fail-on", "unknown severity 'SEVERE'"),
    (["scan", "--db-digest", "sha256:abc", "--image", "x"], "--db-digest",
     "'sha256:abc' is not a sha256 digest"),
])
def test_a_flag_value_its_parser_refuses_is_one_line_with_the_parsers_reason(
        argv: list[str], flag: str, reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    """argparse shows a type function's ValueError as "invalid ... value" and drops the reason;
    it must reach the user (scangate.commands.arg_types.reasoned)."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {flag}: " in last and reason in last
