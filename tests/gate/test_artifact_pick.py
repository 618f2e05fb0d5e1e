"""`scangate artifact pick` (actions/latest-artifact): this run's newest `<prefix>-<attempt>`,
never one named above this attempt, never a guess between two names for one attempt."""

from __future__ import annotations

from pathlib import Path

import pytest
from scangate._cli import main
from scangate.errors import OutputError
from scangate.step_outputs import append_outputs

PREFIX = "scangate-image-api-1a2b3c4d"


def store(tmp_path: Path, *names: str) -> Path:
    downloads = tmp_path / "downloads"
    for name in names:
        (downloads / name).mkdir(parents=True)
        (downloads / name / "image.json").write_text(name, encoding="utf-8")
    return downloads


def pick(tmp_path: Path, downloads: Path, attempt: str) -> tuple[int, dict[str, str], Path]:
    out, dest = tmp_path / "github_output", tmp_path / "dest"
    tmp_path.mkdir(exist_ok=True)
    try:
        code = main(["artifact", "pick", "--prefix", PREFIX, "--downloads", str(downloads),
                     "--dest", str(dest), "--attempt", attempt, "--outputs", str(out)])
    except SystemExit as exc:  # argparse refuses the value
        code = int(str(exc.code))
    got = dict(line.split("=", 1) for line in out.read_text().splitlines()) if out.exists() else {}
    return code, got, dest


def test_the_newest_attempt_not_above_this_one(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    downloads = store(tmp_path, f"{PREFIX}-1", f"{PREFIX}-2", f"{PREFIX}-3",
                      f"{PREFIX}-x-2",  # another image, named api-x, whose name starts alike
                      "scangate-image-api-1a2b3c4d2-1")
    code, got, dest = pick(tmp_path, downloads, "2")
    assert (code, got) == (0, {"found": "true", "name": f"{PREFIX}-2"})
    assert (dest / "image.json").read_text() == f"{PREFIX}-2"
    assert f"ignoring artifact {PREFIX}-3" in capsys.readouterr().err


def test_nothing_rather_than_a_later_attempt(tmp_path: Path) -> None:
    code, got, dest = pick(tmp_path, store(tmp_path, f"{PREFIX}-2", f"{PREFIX}-0"), "1")
    assert (code, got) == (0, {"found": "false", "name": ""})
    assert not dest.exists()
    assert pick(tmp_path / "none", tmp_path / "absent", "1")[1]["found"] == "false"


def test_two_names_for_one_attempt_are_refused(tmp_path: Path) -> None:
    code, got, _ = pick(tmp_path, store(tmp_path, f"{PREFIX}-2", f"{PREFIX}-02"), "3")
    assert code == 2 and got == {}


@pytest.mark.parametrize("attempt", ["0", "", "two", "-1"])
def test_the_attempt_is_a_run_attempt(tmp_path: Path, attempt: str) -> None:
    assert pick(tmp_path, store(tmp_path, f"{PREFIX}-1"), attempt)[0] == 2


def test_an_output_never_spans_lines(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="output-dir"):
        append_outputs(str(tmp_path / "o"), ["decision=fail", "output-dir=/x\ndecision=pass"])
    assert not (tmp_path / "o").exists()
