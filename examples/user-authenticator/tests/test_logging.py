"""Structured logs: one JSON line per request, and never a password or a token."""

from __future__ import annotations

from typing import Any


def test_one_json_line_per_request(client: Any, logs: Any) -> None:
    client.get("/healthz?probe=1", headers={"X-Request-ID": "abc-123"})
    client.get("/nope")
    requests = logs.events("request")
    assert len(requests) == 2
    first = requests[0]
    assert first["method"] == "GET"
    assert first["path"] == "/healthz"  # no query string
    assert first["status"] == 200
    assert first["request_id"] == "abc-123"
    assert isinstance(first["duration_ms"], float)
    assert {"ts", "level", "logger", "client_ip"} <= set(first)
    assert requests[1]["status"] == 404


def test_unsafe_request_ids_are_replaced(client: Any, logs: Any) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": 'x" injected'})
    (line,) = logs.events("request")
    assert line["request_id"] != 'x" injected'
    assert response.headers["X-Request-ID"] == line["request_id"]


def test_no_secrets_in_logs(api: Any, logs: Any) -> None:
    token = api.token("alice")
    api.verify(token)
    api.verify(token + "x")
    api.login("alice", "a wrong password guess")
    text = logs.buffer.getvalue()
    for secret in (api.password, "a wrong password guess", token, api.secret):
        assert secret not in text
    assert [e["username"] for e in logs.events("login_failed")] == ["alice"]
    assert logs.events("login_succeeded")
    assert logs.events("token_rejected")[0]["reason"] == "bad_signature"
