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

EVENTBRIDGE_ARRAYS = Path(__file__).resolve().parent / "moto_eventbridge_arrays"


@pytest.fixture(scope="session")
def moto_session() -> Iterator[MotoServer]:
    """With moto's pattern matcher taught EventBridge's array rules (see its sitecustomize)."""
    pythonpath = os.pathsep.join(
        p for p in (str(EVENTBRIDGE_ARRAYS), os.environ.get("PYTHONPATH", "")) if p)
    with run_moto_server({"PYTHONPATH": pythonpath}) as server:
        yield server


@pytest.fixture
def world(moto: MotoServer) -> World:
    return World.create(moto)
