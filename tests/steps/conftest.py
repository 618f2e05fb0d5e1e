"""Fixtures for the pipeline-step tests (push, deploy, assume-role).

AWS is a real moto server on loopback (tests/support/moto_server.py), reset before each test; the
registry is the real distribution registry on 127.0.0.1:5000 that tools/setup/30-docker.sh starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.moto_server import MotoServer, run_moto_server


@pytest.fixture(scope="session")
def moto_session() -> Iterator[MotoServer]:
    with run_moto_server() as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real AWS configuration or CI identity leaks in."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE",
                 "CI_JOB_ID", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "CODEBUILD_BUILD_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture
def moto(moto_session: MotoServer, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    moto_session.reset()
    for key, value in moto_session.env().items():
        monkeypatch.setenv(key, value)
    return moto_session
