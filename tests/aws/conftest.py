"""Fixtures for the AWS tests (moto_session, aws_env, moto: tests/support/aws_fixtures.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


@pytest.fixture
def cli() -> Callable[[list[str]], int]:
    """``scangate._cli.main``, as CI calls it."""
    from scangate import _cli

    return _cli.main
