"""Which tests `make test` keeps on one xdist worker (`--dist loadgroup`), and in what order.

A module, package or class fixture is set up once per worker that runs a test using it, so two
tests sharing one belong on the same worker. `--dist loadfile` guarantees that by keeping a whole
file together, which is right for the fast stage (its files are many and short) and wrong for
the slow one: tests/github/test_act_pipeline.py holds five independent act runs (a fork pull
request alone takes minutes) that loadfile ran one after the other on one worker while the
others sat idle, and tests/gitlab/test_pipeline.py four independent pipelines.

So every test gets an `xdist_group`: a fast test its file (what loadfile did); a slow test the
tests of its file it is linked to through a shared module/package/class-scoped fixture,
transitively (the connected component), so an expensive fixture is still built once while the
act runs and pipelines that share nothing run on different workers. xdist hands out groups in
collection order (`--no-loadscope-reorder`): the slow groups first, in SLOW_FIRST's order (the
runs measured longest start first), then the rest, the groups with most tests first.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

# The order slow groups start in (a test's node id prefix; a group takes its tests' best rank;
# tests named nowhere here come after, the groups with most tests first). xdist gives each of
# the 4 workers one group (the 1st to 4th here), then at once a second one to each worker whose
# first has at most two tests left (xdist's loadscope: it tops a worker up at two pending), and
# so on as workers drain. The stage is CPU-bound (4 workers on 2 cores), so the order only
# decides the tail: the longest groups first and every long one named, so that none starts
# last. Measured at 3e43561 (slow stage, 4 workers, this 2-core machine shared with other
# runs; setup and call, wall): the GitLab pipelines (one fixture, one group) about 310 s; the
# fork pull request's act run 260 s (it builds the act tests' shared virtualenv); the demo
# 175 s; the other repository's act run 157 s; the expiry storm 146 s; the buildspec 105 s;
# the monitor package 95 s; the broken image's, review's and scan-only act runs about 90 s
# each; the source install 65 s; the thousand events 59 s; then 45 s and less. A crude
# simulation of xdist's scheduling with these numbers (a group's time split evenly over its
# tests, 4 workers on 2 cores) puts this order 0.6% above the CPU-bound limit, and the one
# before (which named neither the source install nor the thousand events) 2.7% above.
SLOW_FIRST = (
    "tests/gitlab/test_pipeline.py::test_clean",
    "tests/github/test_act_pipeline.py::test_fork_pull_request",
    "tests/test_demo.py",
    "tests/github/test_act_pipeline.py::test_caller_in_another_repository",
    "tests/monitor/test_expiry_storm.py",
    "tests/monitor/test_buildspec.py",
    "tests/monitor/test_package.py",
    "tests/github/test_act_pipeline.py::test_one_broken_image",
    "tests/gate/test_review_act.py",
    "tests/github/test_act_pipeline.py::test_scan_only",
    "tests/gitlab/test_source_install.py",
    "tests/monitor/test_thousand_events.py",
    "tests/github/test_act_pipeline.py",
    "tests/gate/test_vex_sbom_trivy.py",
)
# The fast stage's files that start before the others (by CPU, not by test count: few tests
# each, but a cold mypy, one checkov run, Trivy's first analysis of the base image, the moto
# templates), so that none of them makes the stage's tail; the others follow, most tests first.
FAST_FIRST = (
    "tests/templates/test_scanners.py",
    "tests/test_lint.py",
    "tests/templates/test_aws_moto.py",
    "tests/test_trivydb.py",
)
SHARED_SCOPES = frozenset({"module", "package", "class"})


def _shared_fixtures(item: pytest.Item) -> set[str]:
    """The names of the module/package/class-scoped fixtures a test uses (directly or not)."""
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of a test's fixtures
    if info is None:
        return set()
    found = set()
    for name in info.names_closure:
        definitions = info.name2fixturedefs.get(name)
        if definitions and definitions[-1].scope in SHARED_SCOPES:
            found.add(f"{definitions[-1].baseid}::{name}")
    return found


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def xdist_groups(items: Sequence[pytest.Item], slow: str = "slow") -> dict[str, str]:
    """node id -> group name: a fast test's file; a slow test's file and the first test of its
    connected component (tests linked by shared fixtures)."""
    groups: dict[str, str] = {}
    by_file: dict[str, list[pytest.Item]] = {}
    for item in items:
        if item.get_closest_marker(slow) is None:
            groups[item.nodeid] = _file(item)
        else:
            by_file.setdefault(_file(item), []).append(item)
    for path, tests in by_file.items():
        parent = list(range(len(tests)))  # union-find over the file's slow tests
        owner: dict[str, int] = {}
        for i, item in enumerate(tests):
            for fixture in sorted(_shared_fixtures(item)):
                if fixture in owner:
                    parent[_root(parent, i)] = _root(parent, owner[fixture])
                else:
                    owner[fixture] = i
        # Named after the component's first test in collection order, whatever order the links
        # were found in: every worker must name every group alike, or xdist refuses the run.
        first: dict[int, int] = {}
        for i in range(len(tests)):
            first.setdefault(_root(parent, i), i)
        for i, item in enumerate(tests):
            name = tests[first[_root(parent, i)]].nodeid.split("::", 1)[1]
            # '@' ends a node id's group for xdist; keep it out of the name.
            groups[item.nodeid] = f"{path}::{name}".replace("@", "_")
    return groups


def _rank(nodeid: str, first: Sequence[str]) -> int:
    for rank, prefix in enumerate(first):
        if nodeid.startswith(prefix):
            return rank
    return len(first)


def order(items: list[pytest.Item], groups: dict[str, str], slow: str = "slow") -> None:
    """Sort in place: the slow groups first, by SLOW_FIRST; then the fast ones, by FAST_FIRST;
    then the other groups, the most tests first (what xdist's own loadscope reorder did for
    loadfile); each group's tests together, in collection order."""
    position = {item.nodeid: i for i, item in enumerate(items)}
    rank: dict[str, int] = {}
    size: dict[str, int] = {}
    for item in items:
        group = groups[item.nodeid]
        fast = item.get_closest_marker(slow) is None
        mine = (len(SLOW_FIRST) + 1 + _rank(item.nodeid, FAST_FIRST) if fast
                else _rank(item.nodeid, SLOW_FIRST))
        rank[group] = min(rank.get(group, mine), mine)
        size[group] = size.get(group, 0) + 1
        position.setdefault(group, position[item.nodeid])
    items.sort(key=lambda item: (rank[groups[item.nodeid]], -size[groups[item.nodeid]],
                                 position[groups[item.nodeid]], position[item.nodeid]))
