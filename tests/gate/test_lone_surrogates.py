"""Lone surrogates from every source (issue 21 §3): a report string, a KEV catalog string, a
summary.json string, a command-line value. JSON (`"\\udc80"`) and non-UTF-8 file names
(`os.fsdecode`) both produce them; no JSON writer (summary.json, SARIF, GitLab, OpenVEX, ASFF)
can encode one. Each is one line and exit 2, never a traceback, and fails the same whether or
not a JSON output was requested. Policy fields and report file names: tests/gate/test_odd_inputs.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from scangate._cli import main

from tests.support.feeds import kev_doc, kev_entry
from tests.support.reports import image_report, vuln, write

LONE = "\\udc80"  # as JSON text: decodes to the lone low surrogate U+DC80
OUTPUT_SETS = [[], ["--json-summary", "s.json"], ["--sarif", "o.sarif"],
               ["--gitlab-report", "gl.json"], ["--summary-md", "s.md"]]
MARK = "SURROGATE-HERE"


def _outputs(tmp_path: Path, extra: list[str]) -> list[str]:
    return [str(tmp_path / part) if part.endswith((".json", ".sarif", ".md")) else part
            for part in extra]


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("scangate: error: "), err[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _with_lone_surrogate(doc: Any) -> str:
    """The document as JSON text, each MARK replaced by a JSON-escaped lone surrogate."""
    text = json.dumps(doc)
    assert MARK in text
    return text.replace(MARK, LONE)


def _marked_report(field: str) -> dict[str, Any]:
    doc = image_report([vuln(severity="HIGH")])
    if field == "Target":
        doc["Results"][0]["Target"] += MARK
    elif field == "ArtifactName":
        doc["ArtifactName"] += MARK
    else:
        doc["Results"][0]["Vulnerabilities"][0][field] = MARK
    return doc


@pytest.mark.parametrize("extra", OUTPUT_SETS)
@pytest.mark.parametrize("field", ["VulnerabilityID", "PkgName", "InstalledVersion",
                                   "FixedVersion", "Title", "Description", "PrimaryURL",
                                   "Severity", "Target", "ArtifactName"])
def test_a_report_string_with_a_lone_surrogate_is_one_line_whatever_the_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], field: str,
) -> None:
    report = tmp_path / "r.json"
    report.write_text(_with_lone_surrogate(_marked_report(field)))
    assert main(["gate", "--report", str(report), *_outputs(tmp_path, extra)]) == 2
    _one_line_error(capsys, str(report), "surrogate")
    assert not (tmp_path / "s.json").exists() and not (tmp_path / "o.sarif").exists()


@pytest.mark.parametrize("extra", OUTPUT_SETS)
@pytest.mark.parametrize("field", ["catalogVersion", "vulnerabilityName", "shortDescription",
                                   "requiredAction", "vendorProject", "notes"])
def test_a_kev_catalog_string_with_a_lone_surrogate_is_one_line_whatever_the_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], field: str,
) -> None:
    """catalogVersion reaches summary.json; before, only --json-summary crashed (a traceback)
    and every other output set passed. Strings the writers do not copy fail the same."""
    doc = kev_doc([kev_entry("CVE-2024-0001")])
    if field == "catalogVersion":
        doc[field] += MARK
    else:
        doc["vulnerabilities"][0][field] += MARK
    kev = tmp_path / "kev.json"
    kev.write_text(_with_lone_surrogate(doc))
    report = write(tmp_path / "r.json", image_report([vuln(severity="HIGH")]))
    assert main(["gate", "--report", report, "--kev", str(kev),
                 *_outputs(tmp_path, extra)]) == 2
    _one_line_error(capsys, str(kev), "not a KEV catalog", "surrogate")


def test_the_kev_control_without_a_surrogate_is_read(tmp_path: Path) -> None:
    doc = kev_doc([kev_entry("CVE-2024-0001")])
    doc["catalogVersion"] += "-plain"
    kev = tmp_path / "kev.json"
    kev.write_text(json.dumps(doc))
    report = write(tmp_path / "r.json", image_report([vuln(severity="LOW")]))
    summary = tmp_path / "s.json"
    assert main(["gate", "--quiet", "--report", report, "--kev", str(kev),
                 "--json-summary", str(summary)]) in (0, 1)
    assert "-plain" in summary.read_text()


# --- scangate openvex: summary.json and the push record are read back -------------------------

DIGEST = "sha256:" + "1f" * 32
PURL = "pkg:deb/debian/openssl@3.0.1-1?arch=amd64&distro=debian-12.5"


def _summary_and_push_record(tmp_path: Path) -> tuple[Path, Path]:
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    doc = image_report([vuln("CVE-2024-0001", severity="HIGH", PkgIdentifier={"PURL": PURL})],
                       name=f"registry.example:5000/team/app@{DIGEST}")
    doc["Metadata"]["RepoDigests"] = [f"registry.example:5000/team/app@{DIGEST}"]
    doc["Metadata"]["ImageID"] = "sha256:" + "2e" * 32
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nwaivers:\n  - {id: CVE-2024-0001, reason: not loaded, "
                      f"expires: \"{future}\", justification: component_not_present}}\n")
    summary = tmp_path / "summary.json"
    assert main(["gate", "--quiet", "--report", write(tmp_path / "r.json", doc), "--policy",
                 str(policy), "--json-summary", str(summary)]) == 0
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"repository": "registry.example:5000/team/app",
                                "image-digest": DIGEST, "image-id": doc["Metadata"]["ImageID"]}))
    return summary, push


def test_the_openvex_control_is_written(tmp_path: Path) -> None:
    summary, push = _summary_and_push_record(tmp_path)
    out = tmp_path / "vex.json"
    assert main(["openvex", "--summary", str(summary), "--push-record", str(push),
                 "--output", str(out)]) == 0
    assert "not loaded" in out.read_text()


def test_a_summary_string_with_a_lone_surrogate_is_one_line_for_openvex(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    summary, push = _summary_and_push_record(tmp_path)
    text = summary.read_text()
    assert '"not loaded"' in text
    summary.write_text(text.replace('"not loaded"', f'"not loaded{LONE}"'))
    out = tmp_path / "vex.json"
    assert main(["openvex", "--summary", str(summary), "--push-record", str(push),
                 "--output", str(out)]) == 2
    _one_line_error(capsys, str(summary), "surrogate")
    assert not out.exists()


# --- command-line values: every command refuses them before doing anything --------------------

NOT_UTF8 = "x\udc80"  # what Python makes of the argument bytes b"x\x80"


def _argv(tmp_path: Path, case: str) -> list[str]:
    summary, push = _summary_and_push_record(tmp_path)
    report = write(tmp_path / "plain.json", image_report([vuln(severity="HIGH")]))
    openvex = ["openvex", "--summary", str(summary), "--push-record", str(push)]
    return {
        "openvex --author": [*openvex, "--output", str(tmp_path / "v.json"), "--author", NOT_UTF8],
        "openvex --output": [*openvex, "--output", str(tmp_path / f"{NOT_UTF8}.json")],
        "gate --openvex-author": ["gate", "--report", report, "--openvex-author", NOT_UTF8],
        "gate --sarif-category": ["gate", "--report", report, "--sarif",
                                  str(tmp_path / "o.sarif"), "--sarif-category", NOT_UTF8],
        "scan --output": ["scan", "--fs", str(tmp_path), "--output",
                          str(tmp_path / f"{NOT_UTF8}.json")],
        "securityhub --tag": ["securityhub", "--report", report, "--dry-run", "--account-id",
                              "123456789012", "--region", "eu-central-1", "--asff-out",
                              str(tmp_path / "a.json"), "--image-uri",
                              f"registry.example/app@{DIGEST}", "--tag", NOT_UTF8],
    }[case]


@pytest.mark.parametrize("case", ["openvex --author", "openvex --output",
                                  "gate --openvex-author", "gate --sarif-category",
                                  "scan --output", "securityhub --tag"])
def test_a_command_line_value_that_is_not_utf8_is_one_line_in_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str,
) -> None:
    """`scangate openvex --author` crashed in the writer (a traceback) before the check moved
    from gate to the command line shared by every command."""
    argv = _argv(tmp_path, case)
    before = sorted(p.name for p in tmp_path.iterdir())
    capsys.readouterr()
    assert main(argv) == 2
    flag = case.split()[1]
    _one_line_error(capsys, f"{flag} is not UTF-8 text", "x\\x80")
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing is written"


# --- the cache writer: Trivy's DB metadata.json, copied into the report's DB record ------------

@pytest.mark.parametrize("field", ["UpdatedAt", "NextUpdate", "DownloadedAt"])
def test_a_db_metadata_string_with_a_lone_surrogate_is_refused(tmp_path: Path,
                                                               field: str) -> None:
    from scangate import trivy_db
    from scangate.errors import ScanError

    metadata = {"Version": 2, "NextUpdate": "2026-12-08T00:00:00Z",
                "UpdatedAt": "2026-12-07T00:00:00Z", "DownloadedAt": "2026-12-07T01:00:00Z"}
    (tmp_path / "db").mkdir()
    path = tmp_path / "db" / "metadata.json"
    path.write_text(json.dumps(metadata))
    assert trivy_db.read_metadata(str(tmp_path))[field] == metadata[field]  # the control
    metadata[field] += MARK
    path.write_text(_with_lone_surrogate(metadata))
    with pytest.raises(ScanError, match="not Trivy's metadata.json .*surrogate"):
        trivy_db.read_metadata(str(tmp_path))


# --- CI variables in an alert: shown escaped, the alert still encodes --------------------------

@pytest.mark.parametrize("variable", ["GITHUB_REPOSITORY", "GITHUB_REF_NAME", "CI_PROJECT_PATH",
                                      "CI_JOB_URL"])
@pytest.mark.parametrize("exit_code", [None, 2])
def test_a_ci_variable_that_is_not_utf8_is_escaped_in_the_alert(
    tmp_path: Path, variable: str, exit_code: int | None,
) -> None:
    """os.environ holds lone surrogates for bytes that are not UTF-8; SNS's body is encoded as
    UTF-8 (scangate/aws/sns.py), which crashed on them."""
    from scangate import gate_summary, notify

    summary, _ = _summary_and_push_record(tmp_path)
    value = "https://ci.example/x" if variable == "CI_JOB_URL" else "team/app"
    env = {variable: f"{value}{NOT_UTF8}"}
    message = notify.build_message(gate_summary.read(summary), env=env, exit_code=exit_code)
    text = message.text()
    text.encode("utf-8")  # the crash before: UnicodeEncodeError, surrogates not allowed
    assert f"{value}x\\udc80" in text
