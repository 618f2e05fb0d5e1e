"""GET/POST /verify: good tokens pass; expired, tampered, foreign and 'alg: none' ones do not."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from flask import Flask

from user_authenticator.app import EXTENSION_KEY


def _claims(app: Flask, **overrides: Any) -> dict[str, Any]:
    config = app.extensions[EXTENSION_KEY].config
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": config.jwt_issuer,
        "aud": config.jwt_audience,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "jti": "0123456789abcdef",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _reason(response: Any) -> str:
    assert response.status_code == 401, response.get_json()
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    return str(response.get_json()["reason"])


def test_valid_token_returns_claims(api: Any) -> None:
    token = api.token("alice")
    response = api.verify(token)
    assert response.status_code == 200
    body = response.get_json()
    assert body["active"] is True
    assert body["claims"]["sub"] == "alice"


def test_post_accepts_token_in_json_body_or_header(api: Any, client: Any) -> None:
    token = api.token("alice")
    assert client.post("/verify", json={"token": token}).status_code == 200
    response = client.post("/verify", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_post_with_wrong_body_is_400(client: Any) -> None:
    assert client.post("/verify", json={"jwt": "x"}).status_code == 400
    assert client.post("/verify", data="token=x").status_code == 415


def test_missing_token_is_401_with_challenge(client: Any) -> None:
    response = client.get("/verify")
    assert response.status_code == 401
    assert response.get_json() == {"error": "missing_token"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="user-authenticator"'
    assert client.get("/verify", headers={"Authorization": "Basic YTpi"}).status_code == 401


def test_expired_token_is_rejected(api: Any, app: Flask) -> None:
    past = int(time.time()) - 3600
    token = jwt.encode(_claims(app, iat=past, exp=past + 60), api.secret, algorithm="HS256")
    assert _reason(api.verify(token)) == "token_expired"


def test_expiry_uses_only_a_small_leeway(api: Any, app: Flask) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(app, iat=now - 100, exp=now - 30), api.secret, algorithm="HS256")
    assert _reason(api.verify(token)) == "token_expired"


def test_tampered_payload_is_rejected(api: Any) -> None:
    header, _payload, signature = api.token("alice").split(".")
    forged_payload = _b64(
        {**jwt.decode(api.token("alice"), options={"verify_signature": False}), "sub": "admin"}
    )
    assert _reason(api.verify(f"{header}.{forged_payload}.{signature}")) == "bad_signature"


def test_tampered_signature_is_rejected(api: Any) -> None:
    header, payload, signature = api.token("alice").split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert _reason(api.verify(f"{header}.{payload}.{flipped}")) == "bad_signature"


def test_token_signed_with_another_secret_is_rejected(api: Any, app: Flask) -> None:
    token = jwt.encode(_claims(app), "another-secret-that-is-also-long-enough!!", algorithm="HS256")
    assert _reason(api.verify(token)) == "bad_signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_rejected(api: Any, app: Flask, alg: str) -> None:
    unsigned = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(_claims(app))}."
    assert _reason(api.verify(unsigned)) == "algorithm_not_allowed"


# PyJWT warns that this key is short for HS512; the point is the same key under another alg.
@pytest.mark.filterwarnings("ignore:The HMAC key is")
def test_other_hmac_algorithm_is_rejected(api: Any, app: Flask) -> None:
    token = jwt.encode(_claims(app), api.secret, algorithm="HS512")
    assert _reason(api.verify(token)) == "algorithm_not_allowed"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "some-other-service"}, "wrong_audience"),
        ({"iss": "someone-else"}, "wrong_issuer"),
        ({"jti": None}, "missing_claim"),
        ({"sub": None}, "missing_claim"),
        ({"exp": None}, "missing_claim"),
    ],
)
def test_claims_are_enforced(api: Any, app: Flask, overrides: dict[str, Any], reason: str) -> None:
    token = jwt.encode(_claims(app, **overrides), api.secret, algorithm="HS256")
    assert _reason(api.verify(token)) == reason


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "....", "e30.e30.e30"])
def test_garbage_is_rejected(api: Any, token: str) -> None:
    assert _reason(api.verify(token)) in {"malformed_token", "algorithm_not_allowed"}


def test_oversized_token_is_rejected(api: Any) -> None:
    assert _reason(api.verify("a" * 5000)) == "token_too_large"
