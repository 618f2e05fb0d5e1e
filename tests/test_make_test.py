"""`make test` (what .ci/run runs) runs every test exactly once: two pytest stages on parallel
workers whose marker expressions split the suite in two, `not slow` and `slow`."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _stages() -> list[list[str]]:
    """The pytest command lines of `make test`, as make would run them (-n: print only)."""
    out = subprocess.run(["make", "-n", "test", "TEST_WORKERS=4"], cwd=REPO, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [shlex.split(line.split("||")[0]) for line in out.splitlines()
            if re.search(r"-m pytest\b", line)]


def test_ci_runs_make_test() -> None:
    assert re.search(r"^make test$", (REPO / ".ci" / "run").read_text(), re.MULTILINE)


def test_make_test_is_two_parallel_stages_that_split_the_suite() -> None:
    stages = _stages()
    assert len(stages) == 2, stages
    markers = []
    for argv in stages:
        assert argv[argv.index("-n") + 1] == "4" and argv[argv.index("--dist") + 1] == "loadfile"
        assert any(a.startswith("--durations") for a in argv), argv
        last = len(argv) - 1 - argv[::-1].index("-m")  # the first -m is `python -m pytest`
        markers.append(argv[last + 1])
    assert markers == ["not slow", "slow"], markers


@pytest.mark.parametrize("markers, stage", [(set(), "not slow"), ({"docker"}, "not slow"),
                                            ({"slow"}, "slow"), ({"slow", "docker"}, "slow")])
def test_every_test_falls_in_exactly_one_stage(markers: set[str], stage: str) -> None:
    """pytest's own marker-expression evaluator, on each kind of test."""
    from _pytest.mark.expression import Expression

    chosen = [e for e in ("not slow", "slow")
              if Expression.compile(e).evaluate(lambda name: name in markers)]
    assert chosen == [stage]


def test_the_parallel_plugin_is_installed() -> None:
    import xdist

    assert xdist.__version__
