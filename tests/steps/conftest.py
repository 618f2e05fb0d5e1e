"""Fixtures for the pipeline-step tests (push, deploy, assume-role).

AWS is a real moto server on loopback (moto_session and moto: tests/support/aws_fixtures.py),
reset before each test; the registry is the real distribution registry on 127.0.0.1:5000 that
tools/setup/30-docker.sh starts.
"""

from __future__ import annotations

import pytest

# The role session name is built from these (scangate.aws.identity): the runner's own must not
# leak into tests that check it.
_CI_JOB_IDS = ("CI_JOB_ID", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "CODEBUILD_BUILD_ID")


@pytest.fixture
def aws_env(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared isolation from real AWS, and no CI job identity either."""
    for name in _CI_JOB_IDS:
        monkeypatch.delenv(name, raising=False)
