"""POST /register: input validation, storage, duplicates."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from user_authenticator.app import EXTENSION_KEY


def test_register_creates_user_with_argon2id_hash(api: Any, app: Flask) -> None:
    response = api.register("alice")
    assert response.status_code == 201
    assert response.get_json() == {"username": "alice"}
    db = app.extensions[EXTENSION_KEY].config.database_path
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute(
            "SELECT password_hash FROM users WHERE username = ?", ("alice",)
        ).fetchone()
    assert stored.startswith("$argon2id$")
    assert api.password not in stored


def test_duplicate_username_is_409(api: Any) -> None:
    assert api.register("alice").status_code == 201
    response = api.register("alice", "another long passphrase 42")
    assert response.status_code == 409
    assert response.get_json() == {"error": "username_taken"}


@pytest.mark.parametrize(
    "username",
    ["ab", "a" * 33, "Alice", "al ice", "-alice", "alice-", "al/ice", "al'ice", "ålice", ""],
)
def test_bad_usernames_are_400(api: Any, username: str) -> None:
    response = api.register(username)
    assert response.status_code == 400
    assert response.get_json()["field"] == "username"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short pass1", "characters"),  # 11 characters
        ("x" * 129, "characters"),
        ("aaaaaabbbbbbaaaa", "different characters"),
        ("my name is alice, ok?", "username"),
        ("Password1234", "too common"),
        ("tab\there-is-bad", "control"),
    ],
)
def test_weak_passwords_are_400(api: Any, password: str, reason: str) -> None:
    response = api.register("alice", password)
    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == "password"
    assert reason in body["message"]


def test_password_limits_are_inclusive(api: Any) -> None:
    assert api.register("alice", "abcdefghij12").status_code == 201  # exactly 12
    assert api.register("bob", "abcdefghij" * 12 + "12345678").status_code == 201  # 128


def test_form_encoded_body_is_415(client: FlaskClient) -> None:
    response = client.post("/register", data={"username": "alice", "password": "x" * 20})
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported_media_type"


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post(
        "/register", data='{"username": "alice",', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"


@pytest.mark.parametrize(
    "body",
    [
        ["alice", "pw"],
        {"username": "alice"},
        {"username": "alice", "password": 123456789012},
        {"username": ["alice"], "password": "long enough password"},
        {"username": "alice", "password": "long enough password", "admin": True},
    ],
)
def test_wrong_body_shapes_are_400(client: FlaskClient, body: Any) -> None:
    response = client.post("/register", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "validation_failed"


def test_oversized_body_is_413(client: FlaskClient) -> None:
    response = client.post("/register", json={"username": "alice", "password": "p" * 10_000})
    assert response.status_code == 413


def test_wrong_method_is_json_405(client: FlaskClient) -> None:
    response = client.get("/register")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"
