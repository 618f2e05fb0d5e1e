"""The moto fixtures every AWS-facing test area shares (imported by tests/conftest.py).

``moto_session`` is one real moto server per session (tests/support/moto_server.py); ``moto``
resets it and points boto3 at it, with ``aws_env`` keeping real AWS configuration out. An area
that needs more overrides a fixture in its conftest: tests/steps removes the CI job identity,
tests/monitor starts its server with a patched pattern matcher.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.moto_server import MotoServer, run_moto_server

# What could point boto3 at a real account or identity instead of the moto server.
AMBIENT_AWS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
               "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE")


@pytest.fixture(scope="session")
def moto_session() -> Iterator[MotoServer]:
    with run_moto_server() as server:
        yield server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real AWS configuration leaks in: no profile, no config files, fixed test credentials."""
    for name in AMBIENT_AWS:
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
