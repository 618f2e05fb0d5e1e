"""Fixtures for the UserAuthenticator tests.

The service is not installed into the project venv; its source directory is put on sys.path
here, so `pytest` works from the repository root and from this folder alike. There is no
__init__.py in this folder on purpose: the repository's own `tests` package owns that name.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

EXAMPLE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(EXAMPLE_DIR / "src"))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from werkzeug.test import TestResponse  # noqa: E402

from user_authenticator import Config, create_app  # noqa: E402
from user_authenticator.jsonlog import LOGGER_NAME, JsonFormatter  # noqa: E402

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
PASSWORD = "correct horse battery staple"


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    """A config with cheap argon2 parameters: the tests check behaviour, not hashing cost."""
    values: dict[str, Any] = {
        "jwt_secret": SECRET,
        "database_path": tmp_path / "users.db",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "argon2_parallelism": 1,
        "login_max_attempts": 5,
        "login_window_seconds": 60,
    }
    values.update(overrides)
    return Config(**values)


@pytest.fixture
def app_factory(tmp_path: Path) -> Callable[..., Flask]:
    def build(**overrides: Any) -> Flask:
        app = create_app(make_config(tmp_path, **overrides))
        app.testing = True
        return app

    return build


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class LogCapture:
    """Collects the service's JSON log lines while a test runs."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == name]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    handler = logging.StreamHandler(capture.buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        yield capture
    finally:
        logger.removeHandler(handler)


class Api:
    """Shorthands for the calls most tests make; fixtures, not imports, so no module names
    from this folder have to be importable."""

    secret = SECRET
    password = PASSWORD

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def register(self, username: str = "alice", password: str = PASSWORD) -> TestResponse:
        return self.client.post("/register", json={"username": username, "password": password})

    def login(
        self, username: str = "alice", password: str = PASSWORD, ip: str = "192.0.2.10"
    ) -> TestResponse:
        return self.client.post(
            "/login",
            json={"username": username, "password": password},
            environ_overrides={"REMOTE_ADDR": ip},
        )

    def token(self, username: str = "alice") -> str:
        """Register (if needed) and log in; returns the access token."""
        self.register(username)
        response = self.login(username)
        assert response.status_code == 200, response.get_json()
        return str(response.get_json()["access_token"])

    def verify(self, token: str) -> TestResponse:
        return self.client.get("/verify", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)
