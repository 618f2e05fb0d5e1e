"""Login rate limiting: per (username, client IP), sliding window, 429 with Retry-After."""

from __future__ import annotations

from typing import Any

from user_authenticator.ratelimit import SlidingWindowLimiter, retry_after_header


def _fail(api: Any, username: str = "alice", ip: str = "192.0.2.10") -> Any:
    return api.login(username, "wrong password, again", ip=ip)


def test_sixth_attempt_in_window_is_429_with_retry_after(api: Any, logs: Any) -> None:
    api.register("alice")
    for _ in range(5):
        assert _fail(api).status_code == 401
    response = _fail(api)
    assert response.status_code == 429
    assert response.get_json() == {"error": "too_many_attempts"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Even the right password waits: the limit is on attempts, not on failures alone.
    assert api.login("alice").status_code == 429
    assert len(logs.events("login_rate_limited")) == 2


def test_limit_is_per_username_and_ip(api: Any) -> None:
    api.register("alice")
    api.register("bob")
    for _ in range(5):
        _fail(api, "alice", "192.0.2.10")
    assert _fail(api, "alice", "192.0.2.10").status_code == 429
    assert _fail(api, "alice", "198.51.100.7").status_code == 401  # other IP
    assert _fail(api, "bob", "192.0.2.10").status_code == 401  # other user
    assert api.login("alice", ip="198.51.100.7").status_code == 200


def test_success_clears_the_window(api: Any) -> None:
    api.register("alice")
    for _ in range(4):
        _fail(api)
    assert api.login("alice").status_code == 200
    for _ in range(5):
        assert _fail(api).status_code == 401
    assert _fail(api).status_code == 429


def test_unknown_users_are_limited_too(api: Any) -> None:
    for _ in range(5):
        assert _fail(api, "mallory").status_code == 401
    assert _fail(api, "mallory").status_code == 429


def test_proxy_hops_make_forwarded_client_ip_count(app_factory: Any) -> None:
    client = app_factory(trusted_proxy_hops=1, login_max_attempts=1).test_client()
    body = {"username": "alice", "password": "wrong password, again"}
    first = {"X-Forwarded-For": "203.0.113.1"}
    assert client.post("/login", json=body, headers=first).status_code == 401
    assert client.post("/login", json=body, headers=first).status_code == 429
    other = {"X-Forwarded-For": "203.0.113.2"}
    assert client.post("/login", json=body, headers=other).status_code == 401


def test_window_slides() -> None:
    now = [1000.0]
    limiter = SlidingWindowLimiter(max_attempts=2, window_seconds=10, clock=lambda: now[0])
    key = ("alice", "192.0.2.10")
    assert limiter.hit(key) == 0
    now[0] += 4
    assert limiter.hit(key) == 0
    now[0] += 1
    assert limiter.hit(key) == 5.0  # first attempt leaves the window at t=1010
    now[0] += 5
    assert limiter.hit(key) == 0  # t=1010: the first attempt has slid out
    assert limiter.hit(key) == 4.0  # the second (t=1004) is still in


def test_rejected_attempts_do_not_extend_the_window() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(max_attempts=1, window_seconds=10, clock=lambda: now[0])
    key = ("alice", "192.0.2.10")
    limiter.hit(key)
    for _ in range(20):
        now[0] += 0.4
        assert limiter.hit(key) > 0
    now[0] = 10.0
    assert limiter.hit(key) == 0


def test_memory_is_bounded() -> None:
    limiter = SlidingWindowLimiter(max_attempts=1, window_seconds=60, max_keys=3)
    for name in ("a", "b", "c", "d"):
        limiter.hit((name, "ip"))
    assert limiter.hit(("a", "ip")) == 0  # evicted, so counted afresh
    assert limiter.hit(("d", "ip")) > 0


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_header(0.001) == "1"
    assert retry_after_header(1.2) == "2"
    assert retry_after_header(59.0) == "59"
