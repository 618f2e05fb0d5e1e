"""scangate.artifacts.newest, how `scangate results` and `deploy-job` read the artifacts a by-id
download put in one directory each: this run's newest `<prefix>-<attempt>`, never one named
above this attempt, never a guess between two names for one attempt."""

from __future__ import annotations

from pathlib import Path

import pytest
from scangate.artifacts import ArtifactError, newest
from scangate.commands.artifact import _attempt
from scangate.errors import OutputError
from scangate.step_outputs import append_outputs

PREFIX = "scangate-image-api-1a2b3c4d"


def store(tmp_path: Path, *names: str) -> Path:
    downloads = tmp_path / "downloads"
    for name in names:
        (downloads / name).mkdir(parents=True)
        (downloads / name / "image.json").write_text(name, encoding="utf-8")
    return downloads


def pick(downloads: Path, attempt: int) -> str | None:
    found = newest(downloads, PREFIX, attempt)
    return None if found is None else found.name


def test_the_newest_attempt_not_above_this_one(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    downloads = store(tmp_path, f"{PREFIX}-1", f"{PREFIX}-2", f"{PREFIX}-3",
                      f"{PREFIX}-x-2",  # another image, named api-x, whose name starts alike
                      "scangate-image-api-1a2b3c4d2-1")
    assert pick(downloads, 2) == f"{PREFIX}-2"
    assert f"ignoring artifact {PREFIX}-3" in capsys.readouterr().err


def test_nothing_rather_than_a_later_attempt(tmp_path: Path) -> None:
    assert pick(store(tmp_path, f"{PREFIX}-2", f"{PREFIX}-0"), 1) is None
    assert pick(tmp_path / "absent", 1) is None


def test_two_names_for_one_attempt_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="both claim attempt 2"):
        pick(store(tmp_path, f"{PREFIX}-2", f"{PREFIX}-02"), 3)


@pytest.mark.parametrize("attempt", ["0", "", "two", "-1"])
def test_the_attempt_is_a_run_attempt(attempt: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        _attempt(attempt)


def test_an_output_never_spans_lines(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="output-dir"):
        append_outputs(str(tmp_path / "o"), ["decision=fail", "output-dir=/x\ndecision=pass"])
    assert not (tmp_path / "o").exists()
