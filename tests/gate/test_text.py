"""Text for people: one_line's fast path agrees with its definition; nothing from a report can
inject Markdown or terminal escapes; the JSON summary names each waived finding."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from scangate._cli import main
from scangate.outputs.text import md_code, md_link, one_line, printable, truncate

from tests.support.dates import LATER, SOON
from tests.support.reports import fs_report, image_report, secret, vuln, write

# Every character str.split() treats as whitespace, some that it does not, and plain letters.
ALPHABET = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2000\u2028\u3000\u200bab-"


def test_one_line_is_split_and_join() -> None:
    rng = random.Random(20261123)
    for _ in range(50_000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 10)))
        assert one_line(text) == " ".join(text.split()), repr(text)


def test_one_line_keeps_a_clean_line_as_is() -> None:
    text = "already one line, with punctuation: (a) [b] {c}"
    assert one_line(text) is text


def test_truncate_says_so() -> None:
    assert truncate("abc", 5) == "abc"
    cut = truncate("x" * 100, 40)
    assert len(cut) == 40 and cut.endswith("[truncated by scangate]")


# --- what people read: the Markdown summary and the terminal ---------------------------------

HOSTILE = "x\n# Approved\n[click](https://evil.example) <img src=x onerror=alert(1)> | `a`"
ANSI = "\x1b[2K\r\x1b[32mscangate: gate PASS\x1b[0m\x1b]8;;https://evil\x07\u202e\x9b"


def _markdown_text_outside_code(markdown: str) -> str:
    """The Markdown with every code span removed: what GitHub would interpret."""
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", markdown)


def test_report_text_cannot_inject_markdown(tmp_path: Path) -> None:
    report = write(tmp_path / "r.json", image_report([
        vuln("CVE-2024-1", pkg=HOSTILE, installed=HOSTILE, fixed=HOSTILE, severity="CRITICAL",
             PrimaryURL="javascript:alert(1)"),
        vuln("CVE-2024-2", pkg="zlib", severity="CRITICAL",
             PrimaryURL="https://avd.example/x) [pwn](https://evil.example"),
    ], name=HOSTILE))
    out = tmp_path / "s.md"
    assert main(["gate", "--quiet", "--report", report, "--summary-md", str(out)]) == 1
    markdown = out.read_text(encoding="utf-8")
    outside = _markdown_text_outside_code(markdown)
    assert "evil.example" not in outside and "javascript:" not in outside
    assert "<img" not in outside and "Approved" not in outside
    assert not any(line.startswith("# ") for line in markdown.splitlines())
    assert "\x1b" not in markdown
    # Every table row still has its 6 cells: no '|' from a report splits one.
    rows = [line for line in markdown.splitlines() if line.startswith("| CRITICAL | `")]
    assert len(rows) == 2
    for row in rows:
        assert len(re.findall(r"(?<!\\)\|", row)) == 7


def test_md_code_and_links() -> None:
    assert md_code("openssl") == "`openssl`"
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x") == "`` `x ``"
    assert md_code("a|b") == "`a\\|b`"
    assert md_code("") == "-"
    assert md_link("CVE-1", "https://a.example/x(1)") == "[`CVE-1`](https://a.example/x%281%29)"
    for bad in ("javascript:alert(1)", "https://a b", "data:text/html,x", "//evil"):
        assert md_link("CVE-1", bad) == "`CVE-1`"


def test_printable_removes_escapes_and_controls() -> None:
    assert printable(ANSI) == " scangate: gate PASS"  # the CR is a space, not a line start
    assert printable("plain text") == "plain text"
    assert printable("tab\tand\nnewline") == "tab and newline"
    assert printable("ünï") == "ünï"


def test_terminal_output_has_no_escape_sequences(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    report = write(tmp_path / "r.json", fs_report([
        {"Target": ANSI, "Class": "secret", "Secrets": [secret(rule=ANSI)]},
    ]))
    image = write(tmp_path / "i.json", image_report(
        [vuln(ANSI, pkg=ANSI, installed=ANSI, fixed=ANSI, severity="CRITICAL")]))
    main(["gate", "--report", report, "--report", image])
    out = capsys.readouterr().out
    lines = out.splitlines()
    # The verdict line is scangate's own; every other line is indented, none made by a report.
    assert lines[0].startswith("scangate: gate FAIL")
    assert all(line.startswith("  ") for line in lines[1:])
    assert not any(c in out for c in "\x1b\r\x9b\u202e")
    assert all(ch.isprintable() for line in out.splitlines() for ch in line)


def test_json_summary_lists_each_waived_finding(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "version: 1\nwaivers:\n"
        "  - {id: CVE-1, package: openssl, reason: 'not reachable; SEC-42', "
        "expires: " + SOON + "}\n"
        "  - {id: aws-access-key-id, reason: 'test fixture key', expires: " + LATER + "}\n",
        encoding="utf-8")
    image = write(tmp_path / "i.json", image_report([vuln("CVE-1", severity="CRITICAL"),
                                                     vuln("CVE-1", pkg="zlib")]))
    files = write(tmp_path / "f.json", fs_report(
        [{"Target": "tests/key.txt", "Class": "secret", "Secrets": [secret()]}]))
    out = tmp_path / "s.json"
    assert main(["gate", "--quiet", "--report", image, "--report", files,
                 "--policy", str(tmp_path / "p.yaml"), "--json-summary", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["waived"] == 2
    waived = {(w["id"], w["package"], w["target"]): w for w in doc["waived_findings"]}
    assert set(waived) == {("CVE-1", "openssl", "registry.example/app:1.0 (debian 12.5)"),
                           ("aws-access-key-id", "", "tests/key.txt")}
    assert waived[("CVE-1", "openssl", "registry.example/app:1.0 (debian 12.5)")][
        "reason"] == "not reachable; SEC-42"
    assert waived[("aws-access-key-id", "", "tests/key.txt")]["expires"] == LATER
