"""Session fixtures for the real peers every test area shares: Trivy, Docker, the registry.

The Docker fixtures FAIL (not skip) when the engine or registry is missing: CI runs `make test`,
which runs `make setup` first, so a missing peer is a broken setup that must not pass silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import docker as docker_support
from tests.support import xdist_groups
from tests.support.aws_fixtures import aws_env, moto, moto_session  # noqa: F401 - fixtures
from tests.support.trivy import CACHE_DIR, db_digest, ensure_db, run_trivy
from tools.pkgindex import PackageIndexError, serve_index

# aws_env, moto, moto_session (imported above): one definition for every area that talks to
# AWS; an area's conftest may override one (tests/steps's aws_env, tests/monitor's moto_session).

TrivyRunner = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def trivy_cache_dir() -> Path:
    """`.tools/trivy-cache` holding the offline DB built from tools/trivydb/fixtures."""
    return ensure_db(CACHE_DIR)


@pytest.fixture(scope="session")
def trivy_db_digest(trivy_cache_dir: Path) -> str:
    """`sha256:<hex>` of that offline DB, for `scangate scan --db-digest` (which refuses a scan
    of an unverified DB)."""
    return db_digest(trivy_cache_dir)


@pytest.fixture(scope="session")
def trivy(trivy_cache_dir: Path) -> TrivyRunner:
    """`trivy("fs", path)` / `trivy("image", "--input", tar)` -> report dict (offline, JSON)."""

    def run(subcommand: str, *args: str | Path, **kwargs: Any) -> dict[str, Any]:
        return run_trivy(subcommand, *args, cache_dir=trivy_cache_dir, **kwargs)

    return run


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """Asserts the Docker engine answers and the local base image exists; returns BASE_IMAGE."""
    if not docker_support.docker_available():
        pytest.fail(f"no Docker engine answers `docker info`: {docker_support.SETUP_HINT}")
    if not docker_support.image_exists(docker_support.BASE_IMAGE):
        hint = docker_support.SETUP_HINT
        pytest.fail(f"base image {docker_support.BASE_IMAGE} is missing: {hint}")
    return docker_support.BASE_IMAGE


@pytest.fixture(scope="session")
def registry(docker_engine: str) -> str:
    """Asserts the local registry answers on /v2/; returns its host:port (127.0.0.1:5000)."""
    if not docker_support.registry_available():
        url, hint = docker_support.REGISTRY_URL, docker_support.SETUP_HINT
        pytest.fail(f"no registry answers {url}/v2/: {hint}")
    return docker_support.REGISTRY


@pytest.fixture(scope="session")
def package_index() -> Iterator[str]:
    """A PEP 503 index on 127.0.0.1 serving every file the example's two requirements files pin.

    Containers here cannot verify the TLS route to the public index (only the host trusts it), so
    image builds install from this index (`--network host`, the Dockerfile's PIP_INDEX_URL); the
    hashes in the requirements files still decide what is installed. See tools/pkgindex.
    Shared: one URL for every worker and run, so every build of the example after the first
    takes its layers from Docker's cache instead of installing the packages again.
    """
    example = Path(__file__).resolve().parents[1] / "examples" / "user-authenticator"
    requirements = [example / "requirements.txt", example / "requirements-vulnerable.txt"]
    try:
        # The base image's Python (Debian 12's 3.11), not the host's, picks the wheels.
        with serve_index(requirements, python_version="3.11", shared=True) as url:
            yield url
    except PackageIndexError as exc:
        pytest.fail(str(exc))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups from the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup` (make test): group and order tests (tests/support/xdist_groups)."""
    if not config.getoption("loadgroup", default=False):  # set by xdist on its workers
        return
    groups = xdist_groups.xdist_groups(items)
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    xdist_groups.order(items, groups)
