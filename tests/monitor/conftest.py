"""One real moto server per session for the monitor tests, reset before each test.

``moto`` (reset, boto3 pointed at it, real AWS configuration kept out) is the shared fixture of
tests/support/aws_fixtures.py, over the ``moto_session`` defined here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.monitor.world import World
from tests.support.moto_server import MotoServer, run_moto_server

MOTO_SERVER_SITE = Path(__file__).resolve().parent / "moto_server_site"


@pytest.fixture(scope="session")
def moto_session() -> Iterator[MotoServer]:
    """With moto's pattern matcher taught EventBridge's array rules, and its SQS receive spared
    building every queue attribute per message (moto_server_site/sitecustomize.py)."""
    pythonpath = os.pathsep.join(
        p for p in (str(MOTO_SERVER_SITE), os.environ.get("PYTHONPATH", "")) if p)
    with run_moto_server({"PYTHONPATH": pythonpath}) as server:
        yield server


@pytest.fixture
def world(moto: MotoServer) -> World:
    return World.create(moto)
