"""Crash classes (issue 21 §3): every odd input is one line and exit 2 (or read as the platform
reads it), never a traceback, never a pass that depends on which outputs were asked for."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from scangate import input_files
from scangate._cli import main

from tests.support.reports import image_report, vuln, write

OUTPUT_SETS = [[], ["--json-summary", "s.json"], ["--sarif", "o.sarif"],
               ["--gitlab-report", "gl.json"], ["--summary-md", "s.md"]]


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("scangate: error: "), err[-2000:]
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _outputs(tmp_path: Path, extra: list[str]) -> list[str]:
    return [str(tmp_path / part) if part.endswith((".json", ".sarif", ".md")) else part
            for part in extra]


@pytest.mark.parametrize("extra", OUTPUT_SETS)
@pytest.mark.parametrize("field", ["reason", "id", "target", "package"])
def test_a_lone_surrogate_in_the_policy_is_refused_whatever_the_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], field: str,
) -> None:
    values = {"id": "CVE-2024-0001", "reason": "r", "target": "*", "package": "openssl"}
    values[field] = "x\\udc80"
    body = ", ".join(f'{k}: "{v}"' for k, v in values.items())
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\nwaivers: [{{{body}, expires: 2000-01-01}}]\n")
    report = write(tmp_path / "r.json", image_report([vuln(severity="HIGH")]))
    code = main(["gate", "--report", report, "--policy", str(policy),
                 *_outputs(tmp_path, extra)])
    assert code == 2
    _one_line_error(capsys, f"waivers/0/{field}", "lone surrogate")


@pytest.mark.parametrize("extra", OUTPUT_SETS)
def test_a_report_file_name_that_is_not_utf8_is_refused_whatever_the_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
) -> None:
    name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/r\xff.json")
    write(Path(name), image_report([vuln(severity="HIGH")]))
    assert main(["gate", "--report", name, *_outputs(tmp_path, extra)]) == 2
    _one_line_error(capsys, "--report is not UTF-8 text", "r\\xff.json")


def test_a_report_string_with_a_lone_surrogate_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    report = tmp_path / "r.json"
    report.write_text(write(tmp_path / "x.json", image_report([vuln(pkg="PKGX")])) and
                      (tmp_path / "x.json").read_text().replace("PKGX", "a\\udc80b"))
    for extra in OUTPUT_SETS:
        assert main(["gate", "--report", str(report), *_outputs(tmp_path, extra)]) == 2
        _one_line_error(capsys, "surrogate")


# --- Dockerfiles as BuildKit reads them --------------------------------------------------------

def _sarif_anchor(tmp_path: Path, dockerfile: bytes) -> int:
    import json

    path = tmp_path / "Dockerfile"
    path.write_bytes(dockerfile)
    report = write(tmp_path / "r.json", image_report([vuln(severity="HIGH")]))
    sarif = tmp_path / "o.sarif"
    assert main(["gate", "--report", report, "--sarif", str(sarif), "--dockerfile",
                 str(path)]) == 0
    result = json.loads(sarif.read_text())["runs"][0]["results"][0]
    line: int = result["locations"][0]["physicalLocation"]["region"]["startLine"]
    return line


@pytest.mark.parametrize(("dockerfile", "line"), [
    (b"FROM a AS build\nRUN x\nFROM b\nCMD y\n", 3),
    (b"\xef\xbb\xbfFROM a\n", 1),  # UTF-8 BOM: BuildKit strips it from the first line
    (b"# caf\xe9 (Latin-1)\nFROM a\nLABEL x=\"\xe9\"\n", 2),
    (b"FROM a\r\nRUN x \\\r\n  FROM-not-an-instruction\r\nFROM b\r\n", 4),
    (b"FROM a\nRUN echo \\\n# a comment inside\nFROM b\n", 1),  # continued RUN, not a FROM
    (b"# escape=`\nFROM a\nRUN echo `\nFROM b\n", 2),
    (b"FROM a\nRUN x\x0bFROM b\n", 1),  # \v is no line break to BuildKit
])
def test_dockerfiles_are_read_as_buildkit_reads_them(tmp_path: Path, dockerfile: bytes,
                                                     line: int) -> None:
    assert _sarif_anchor(tmp_path, dockerfile) == line


def test_a_utf16_dockerfile_is_one_line_refused(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes("FROM a\n".encode("utf-16"))
    report = write(tmp_path / "r.json", image_report([vuln(severity="HIGH")]))
    assert main(["gate", "--report", report, "--sarif", str(tmp_path / "o.sarif"),
                 "--dockerfile", str(path)]) == 2
    _one_line_error(capsys, "UTF-16")


# --- devices, FIFOs and symlinks to them -------------------------------------------------------

@pytest.mark.parametrize("flag", ["--policy", "--dockerfile", "--report"])
@pytest.mark.parametrize("kind", ["fifo", "device", "symlink-to-device"])
def test_devices_and_fifos_are_bounded_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A FIFO without a writer does not hang the gate; /dev/zero is not read forever."""
    monkeypatch.setattr(input_files, "FIFO_WRITER_WAIT_SECONDS", 0.5)
    odd = tmp_path / "odd"
    if kind == "fifo":
        os.mkfifo(odd)
    elif kind == "device":
        odd = Path("/dev/zero")
    else:
        odd.symlink_to("/dev/zero")
    report = write(tmp_path / "r.json", image_report([vuln(severity="HIGH")]))
    argv = ["gate", "--report", report, "--sarif", str(tmp_path / "o.sarif")]
    argv = [*argv[:2], str(odd), *argv[3:]] if flag == "--report" else [*argv, flag, str(odd)]
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert result == [2], "the gate hung or passed"
    _one_line_error(capsys)


def test_a_report_from_a_pipe_is_still_read(tmp_path: Path) -> None:
    """`--report <(trivy ...)`: a FIFO with a writer is read to its end."""
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    body = (write(tmp_path / "r.json", image_report([vuln(severity="CRITICAL")])) and
            (tmp_path / "r.json").read_bytes())

    def writer() -> None:
        # The producer opens the FIFO after the gate did (a process substitution's command
        # starting late on a loaded runner): its first read must not be taken for end-of-file.
        time.sleep(0.5)
        with open(fifo, "wb") as handle:
            handle.write(body)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert main(["gate", "--quiet", "--report", str(fifo)]) == 1
    thread.join(timeout=10)


def test_a_report_of_many_small_results_gives_pages_back_like_one_large_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 21 §7: the mapped pages were given back only after 8 MiB within one result, so a
    report of 50 results of 400 findings kept all of its pages (2.6x its size in memory)."""
    import json

    from scangate import report as report_module

    from benchmarks.run import make_report

    releases: list[int] = []
    real = report_module._Input.release

    def counting(self: report_module._Input) -> None:
        releases.append(1)
        real(self)

    monkeypatch.setattr(report_module._Input, "release", counting)
    monkeypatch.setattr(report_module, "_RELEASE_EVERY", 1 << 20)
    path = tmp_path / "many.json"
    path.write_text(json.dumps(make_report(3000, targets=50), indent=2))
    # Each of the 50 results is far smaller than the release interval; the report is not.
    assert path.stat().st_size > 8 * report_module._RELEASE_EVERY
    report_module.load_report(str(path))
    # One release per 8 MiB read, plus the ones after the head and at the end.
    assert len(releases) >= path.stat().st_size // report_module._RELEASE_EVERY


# --- dates at the calendar edges, with offsets, in every writer -------------------------------

EDGE_TIMES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00Z",
              "9999-12-31T23:59:59.999999999Z", "2024-02-29T23:59:59+14:00", "not a date"]
_GITLAB_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"


def _edge_report(tmp_path: Path, moment: str) -> str:
    doc = image_report([vuln(severity="HIGH")])
    doc["CreatedAt"] = moment
    doc["Results"][0]["Vulnerabilities"][0].update(PublishedDate=moment, LastModifiedDate=moment)
    return write(tmp_path / "edge.json", doc)


@pytest.mark.parametrize("moment", EDGE_TIMES)
def test_calendar_edges_in_the_gitlab_report(tmp_path: Path, moment: str) -> None:
    """GitLab's schema (15.2.1) wants scan.start_time/end_time as YYYY-MM-DDTHH:MM:SS: a year
    1 written as "1-01-01" or a CreatedAt UTC cannot hold must not break it, nor crash."""
    import json
    import re

    out = tmp_path / "gl.json"
    assert main(["gate", "--quiet", "--report", _edge_report(tmp_path, moment),
                 "--max-high", "9", "--gitlab-report", str(out)]) == 0
    scan = json.loads(out.read_text())["scan"]
    assert re.fullmatch(_GITLAB_TIME, scan["start_time"]), scan["start_time"]
    assert re.fullmatch(_GITLAB_TIME, scan["end_time"])
    assert scan["start_time"] <= scan["end_time"]


@pytest.mark.parametrize("moment", EDGE_TIMES)
def test_calendar_edges_in_asff(moment: str) -> None:
    """ASFF timestamps are ISO 8601 with a four-digit year; a time UTC cannot hold is no time
    (the scan time then is now), never an OverflowError."""
    import datetime as dt
    import json
    import re

    from scangate.aws.asff import Destination, build_records
    from scangate.report import parse_report

    doc = image_report([vuln(severity="HIGH")])
    doc["CreatedAt"] = moment
    doc["Metadata"]["ImageID"] = "sha256:" + "c" * 64
    doc["Results"][0]["Vulnerabilities"][0].update(PublishedDate=moment, LastModifiedDate=moment)
    now = dt.datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=dt.UTC)
    destination = Destination(
        account_id="123456789012", region="us-east-1", partition="aws",
        product_arn="arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default")
    (record,) = build_records([parse_report(json.dumps(doc).encode(), "r.json")], destination,
                              now).records
    stamp = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
    for key in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"):
        assert re.fullmatch(stamp, record[key]), (key, record[key])
    text = json.dumps(record)
    assert "1-01-01T" not in text.replace("0001-01-01T", "")
