"""`scangate notify --gate-exit-code-file/--error-if-exists`: the GitLab notify job's reading of
the report job's record (gate-job run --exit-code-file) and of the override check's marker."""

from __future__ import annotations

from pathlib import Path

import pytest
from scangate._cli import build_parser, main
from scangate.commands.notify import gate_exit_code


def code_of(*argv: str) -> int | None:
    args = build_parser(["notify"]).parse_args(["notify", *argv])
    return gate_exit_code(args)


@pytest.mark.parametrize(("recorded", "expected"), [
    ("0\n", 0), ("1\n", 1), ("2\n", 2), ("3", 3), ("", 2), ("pass", 2), ("1\n2\n", 2),
    ("\xff", 2), (None, 2),
])
def test_the_recorded_code_or_an_error(tmp_path: Path, recorded: str | None,
                                       expected: int) -> None:
    record = tmp_path / "gate-exit-code"
    if recorded is not None:
        record.write_bytes(recorded.encode("latin-1"))
    assert code_of("--gate-exit-code-file", str(record)) == expected


def test_a_marker_makes_it_an_error_and_two_sources_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record, marker = tmp_path / "code", tmp_path / "marker"
    record.write_text("0\n")
    assert code_of("--gate-exit-code-file", str(record), "--error-if-exists", str(marker)) == 0
    marker.write_text("overridden\n")
    assert code_of("--gate-exit-code-file", str(record), "--error-if-exists", str(marker)) == 2
    assert code_of("--gate-exit-code", "0", "--error-if-exists", str(marker)) == 2
    assert main(["notify", "--sns-topic-arn", "arn:aws:sns:eu-west-1:123456789012:t",
                 "--gate-exit-code", "0", "--gate-exit-code-file", str(record)]) == 2
    assert "not both" in capsys.readouterr().err
