"""GET /healthz (process alive) and GET /readyz (database reachable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from user_authenticator.app import EXTENSION_KEY
from user_authenticator.store import StoreError


def test_healthz(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_when_db_is_reachable(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def test_readyz_is_503_when_db_is_gone(app: Flask, client: Any, logs: Any) -> None:
    db = app.extensions[EXTENSION_KEY].config.database_path
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    db.mkdir()  # a directory where the file was: sqlite cannot open it
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}
    assert client.get("/healthz").status_code == 200  # alive, just not ready
    assert logs.events("not_ready")


def test_unknown_path_is_json_404(client: Any) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_security_headers_on_every_response(client: Any) -> None:
    for response in (client.get("/healthz"), client.get("/nope")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Request-ID"]


def test_unusable_database_path_stops_start_up_with_a_clear_error(
    app_factory: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"cannot open database .*not-a-directory/users\.db"):
        app_factory(database_path=blocker / "users.db")
