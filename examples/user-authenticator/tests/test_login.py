"""POST /login: credentials check, token contents, constant-time path for unknown users."""

from __future__ import annotations

import time
from typing import Any

import argon2
import jwt
import pytest
from flask import Flask

from user_authenticator.app import EXTENSION_KEY


def test_login_returns_signed_short_lived_token(api: Any, app: Flask) -> None:
    api.register("alice")
    before = int(time.time())
    response = api.login("alice")
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert response.headers["Cache-Control"] == "no-store"

    config = app.extensions[EXTENSION_KEY].config
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    claims = jwt.decode(
        body["access_token"],
        api.secret,
        algorithms=["HS256"],
        audience=config.jwt_audience,
        issuer=config.jwt_issuer,
    )
    assert claims["sub"] == "alice"
    assert set(claims) == {"iss", "aud", "sub", "iat", "exp", "jti"}
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 900


def test_each_token_has_a_fresh_jti(api: Any) -> None:
    api.register("alice")
    first = jwt.decode(api.login().get_json()["access_token"], options={"verify_signature": False})
    second = jwt.decode(api.login().get_json()["access_token"], options={"verify_signature": False})
    assert first["jti"] != second["jti"]


def test_ttl_is_configurable(app_factory: Any) -> None:
    app = app_factory(token_ttl_seconds=60)
    client = app.test_client()
    client.post("/register", json={"username": "alice", "password": "correct horse battery"})
    response = client.post(
        "/login", json={"username": "alice", "password": "correct horse battery"}
    )
    assert response.get_json()["expires_in"] == 60


def test_wrong_password_is_401(api: Any) -> None:
    api.register("alice")
    response = api.login("alice", "not the right password")
    assert response.status_code == 401
    assert response.get_json() == {"error": "invalid_credentials"}


def test_unknown_user_gets_the_same_answer_after_a_real_verify(
    api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unknown-user path must run argon2 too, or response times reveal who exists."""
    calls: list[str] = []
    real_verify = argon2.PasswordHasher.verify

    def counting_verify(self: argon2.PasswordHasher, hash: str, password: str) -> bool:
        calls.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting_verify)
    api.register("alice")
    known = api.login("alice", "not the right password")
    unknown = api.login("mallory", "not the right password")
    assert known.status_code == unknown.status_code == 401
    assert known.get_json() == unknown.get_json()
    assert len(calls) == 2
    assert all(h.startswith("$argon2id$") for h in calls)


def test_login_checks_only_the_upper_password_bound(api: Any) -> None:
    api.register("alice")
    assert api.login("alice", "short").status_code == 401  # no policy hints at login
    assert api.login("alice", "").status_code == 400
    assert api.login("alice", "x" * 129).status_code == 400


def test_login_rejects_non_json(client: Any) -> None:
    response = client.post("/login", data="username=alice&password=x")
    assert response.status_code == 415


def test_old_hash_parameters_are_upgraded_on_login(app_factory: Any) -> None:
    cheap = app_factory()
    cheap.test_client().post(
        "/register", json={"username": "alice", "password": "correct horse battery"}
    )
    stronger = app_factory(argon2_time_cost=2)
    store = stronger.extensions[EXTENSION_KEY].store
    old_hash = store.get("alice").password_hash
    response = stronger.test_client().post(
        "/login", json={"username": "alice", "password": "correct horse battery"}
    )
    assert response.status_code == 200
    new_hash = store.get("alice").password_hash
    assert new_hash != old_hash
    assert ",t=2," in new_hash
