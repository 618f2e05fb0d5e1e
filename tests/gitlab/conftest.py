"""Fixtures of the GitLab template tests: gitlab-ci-local, and a package index for image builds."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.gitlab import glci

EXAMPLE_DIR = glci.REPO_ROOT / "examples" / "user-authenticator"


@pytest.fixture(scope="session")
def gitlab_ci_local() -> Path:
    """gitlab-ci-local 4.60.1 from .tools/node. Missing is a broken setup: FAIL, never skip."""
    if not glci.gitlab_ci_local_available():
        pytest.fail(f"{glci.GITLAB_CI_LOCAL} is missing: {glci.SETUP_HINT}")
    version = subprocess.run(
        [str(glci.GITLAB_CI_LOCAL), "--version"], capture_output=True, text=True, timeout=60,
    ).stdout.strip()
    if version != glci.GITLAB_CI_LOCAL_VERSION:
        pytest.fail(f"gitlab-ci-local is {version!r}, expected {glci.GITLAB_CI_LOCAL_VERSION}: "
                    f"{glci.SETUP_HINT}")
    if shutil.which("rsync") is None:
        pytest.fail("gitlab-ci-local needs rsync: run `make setup` (tools/setup/10-apt.sh)")
    return glci.GITLAB_CI_LOCAL




