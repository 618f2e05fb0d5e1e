"""One real moto server per session for the monitor tests, reset before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.monitor.world import World
from tests.support.moto_server import MotoServer, run_moto_server

EVENTBRIDGE_ARRAYS = Path(__file__).resolve().parent / "moto_eventbridge_arrays"


@pytest.fixture(scope="session")
def moto_session() -> Iterator[MotoServer]:
    """With moto's pattern matcher taught EventBridge's array rules (see its sitecustomize)."""
    pythonpath = os.pathsep.join(
        p for p in (str(EVENTBRIDGE_ARRAYS), os.environ.get("PYTHONPATH", "")) if p)
    with run_moto_server({"PYTHONPATH": pythonpath}) as server:
        yield server


@pytest.fixture
def moto(moto_session: MotoServer, monkeypatch: pytest.MonkeyPatch,
         tmp_path: Path) -> MotoServer:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    moto_session.reset()
    for key, value in moto_session.env().items():
        monkeypatch.setenv(key, value)
    return moto_session


@pytest.fixture
def world(moto: MotoServer) -> World:
    return World.create(moto)
