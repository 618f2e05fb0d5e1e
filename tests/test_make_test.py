"""`make test` (what .ci/run runs) runs every test exactly once: two pytest stages on parallel
workers whose marker expressions split the suite in two, `not slow` and `slow`."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.support import xdist_groups

pytest_plugins = ["pytester"]

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
        assert argv[argv.index("-n") + 1] == "4" and argv[argv.index("--dist") + 1] == "loadgroup"
        # xdist would otherwise reorder the groups by size, undoing tests/support/xdist_groups.
        assert "--no-loadscope-reorder" in argv, argv
        assert any(a.startswith("--durations") for a in argv), argv
        # pytest caches its assert rewriting only as .pyc: with PYTHONDONTWRITEBYTECODE set (as
        # on this host) every worker of both stages would rewrite every test module again.
        assert argv[:3] == ["env", "-u", "PYTHONDONTWRITEBYTECODE"], argv
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


SHARING = """
import pytest

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def image():
    return "built once"

@pytest.fixture(scope="module")
def run(image):
    return image

@pytest.fixture(scope="session")
def per_worker():
    return "cheap"

@pytest.fixture
def scratch():
    return "per test"

def test_a(run): pass
def test_b(image, scratch): pass
def test_c(per_worker, scratch): pass
def test_d(per_worker): pass

class TestShared:
    @pytest.fixture(scope="class")
    def pipeline(self):
        return "one pipeline"

    def test_e(self, pipeline): pass
    def test_f(self, pipeline): pass
"""


def _names(groups: dict[str, str]) -> dict[str, str]:
    """test name -> its group's first test (the file's path left out of both)."""
    return {nodeid.rsplit("::", 1)[1]: group.split("::", 1)[1] for nodeid, group in groups.items()}


def test_slow_tests_share_a_worker_only_through_a_shared_module_or_class_fixture(
    pytester: pytest.Pytester,
) -> None:
    """test_a and test_b share `image` (test_a through `run`): one group, built once; test_c
    and test_d share only a session fixture (per worker anyway) and function ones (per test):
    a group each; the class fixture ties test_e to test_f."""
    groups = _names(xdist_groups.xdist_groups(pytester.getitems(SHARING)))
    assert groups == {"test_a": "test_a", "test_b": "test_a", "test_c": "test_c",
                      "test_d": "test_d", "test_e": "TestShared::test_e",
                      "test_f": "TestShared::test_e"}, groups


def test_fast_tests_stay_with_their_file(pytester: pytest.Pytester) -> None:
    items = pytester.getitems(SHARING.replace("pytestmark = pytest.mark.slow", ""))
    groups = xdist_groups.xdist_groups(items)
    assert set(groups.values()) == {items[0].nodeid.split("::")[0]}, groups


def test_slow_groups_start_first_in_the_measured_order(pytester: pytest.Pytester) -> None:
    """SLOW_FIRST decides which slow groups start first; the others follow, most tests first."""
    items = pytester.getitems(SHARING)
    groups = xdist_groups.xdist_groups(items)
    module = items[0].nodeid.split("::")[0]
    original = xdist_groups.SLOW_FIRST
    try:
        xdist_groups.SLOW_FIRST = (f"{module}::test_d", f"{module}::test_c")
        xdist_groups.order(items, groups)
    finally:
        xdist_groups.SLOW_FIRST = original
    names = [item.nodeid.rsplit("::", 1)[1] for item in items]
    # test_d, test_c named; then the two-test groups in collection order.
    assert names == ["test_d", "test_c", "test_a", "test_b", "test_e", "test_f"], names


def test_fast_files_named_in_fast_first_start_first(pytester: pytest.Pytester) -> None:
    """FAST_FIRST puts a heavy file of few tests before the files with more tests; without it,
    the most tests first."""
    pytester.makepyfile(test_many="def test_1(): pass\ndef test_2(): pass\ndef test_3(): pass\n",
                        test_heavy="def test_h(): pass\n")
    items, _ = pytester.inline_genitems()
    groups = xdist_groups.xdist_groups(items)
    original = xdist_groups.FAST_FIRST
    try:
        xdist_groups.order(items, groups)
        assert [item.name for item in items] == ["test_1", "test_2", "test_3", "test_h"]
        xdist_groups.FAST_FIRST = ("test_heavy.py",)
        xdist_groups.order(items, groups)
    finally:
        xdist_groups.FAST_FIRST = original
    assert [item.name for item in items] == ["test_h", "test_1", "test_2", "test_3"]


CHAINED = """
import pytest

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def first():
    return 1

@pytest.fixture(scope="module")
def second():
    return 2

def test_p(first): pass
def test_q(second): pass
def test_r(first, second): pass
"""


def test_a_group_is_named_after_its_first_test_whatever_links_it(
    pytester: pytest.Pytester,
) -> None:
    """test_r links test_p (through `first`) to test_q (through `second`): one group, named
    after test_p, the first collected, never after whichever link was found last. xdist
    refuses a run whose workers name a group differently, and each worker hashes strings
    with its own seed."""
    groups = _names(xdist_groups.xdist_groups(pytester.getitems(CHAINED)))
    assert groups == {"test_p": "test_p", "test_q": "test_p", "test_r": "test_p"}, groups


def test_every_worker_names_the_groups_alike(pytester: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The real thing: three xdist workers (three hash seeds) collect the chained module under
    --dist loadgroup and agree (xdist stops with "Different tests were collected" otherwise)."""
    # The workers run in pytester's directory: they find this repository's `tests` package
    # through PYTHONPATH (`make test` sets none; a clean clone has nothing else on the path).
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH", "")])))
    pytester.makeconftest(
        "import pytest\n"
        "from tests.support import xdist_groups\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_collection_modifyitems(config, items):\n"
        "    if config.getoption('loadgroup', default=False):\n"
        "        groups = xdist_groups.xdist_groups(items)\n"
        "        for item in items:\n"
        "            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))\n"
    )
    pytester.makepyfile(test_chained=CHAINED)
    result = pytester.runpytest_subprocess("-n", "3", "--dist", "loadgroup", "-p", "xdist")
    result.assert_outcomes(passed=3)
