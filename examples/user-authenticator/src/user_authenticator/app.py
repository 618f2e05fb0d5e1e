"""The Flask application factory: wires config, storage, hashing, tokens and routes."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)
from werkzeug.middleware.proxy_fix import ProxyFix

from user_authenticator import jsonlog
from user_authenticator.config import Config
from user_authenticator.passwords import Passwords
from user_authenticator.ratelimit import SlidingWindowLimiter, retry_after_header
from user_authenticator.store import UserExistsError, UserStore
from user_authenticator.tokens import TokenError, TokenService
from user_authenticator.validation import (
    PASSWORD_MAX_CHARS,
    ValidationError,
    check_new_password,
    check_username,
    parse_credentials,
)

EXTENSION_KEY = "user_authenticator"
MAX_BODY_BYTES = 8 * 1024  # credentials and a token fit many times over
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class Services:
    config: Config
    store: UserStore
    passwords: Passwords
    tokens: TokenService
    login_limiter: SlidingWindowLimiter
    log: logging.Logger


def create_app(config: Config | None = None) -> Flask:
    """Build the WSGI app. Without a config, reads it from the environment (see README)."""
    config = Config.from_env() if config is None else config
    log = jsonlog.configure(config.log_level)
    store = UserStore(config.database_path)
    store.initialize()
    services = Services(
        config=config,
        store=store,
        passwords=Passwords(
            config.argon2_time_cost, config.argon2_memory_kib, config.argon2_parallelism
        ),
        tokens=TokenService(
            config.jwt_secret, config.jwt_issuer, config.jwt_audience, config.token_ttl_seconds
        ),
        login_limiter=SlidingWindowLimiter(config.login_max_attempts, config.login_window_seconds),
        log=log,
    )
    if config.dev_mode:
        log.warning("dev_mode", extra={"fields": {"detail": "throw-away JWT secret if unset"}})

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions[EXTENSION_KEY] = services
    if config.trusted_proxy_hops:
        # Without this the client IP of every request is the proxy's, and one attacker
        # would lock out every user behind it (or nobody, per IP). Only trust known hops.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=config.trusted_proxy_hops, x_proto=config.trusted_proxy_hops
        )
    _register_hooks(app, services)
    _register_routes(app, services)
    log.info("started", extra={"fields": {"db": str(config.database_path)}})
    return app


def _register_hooks(app: Flask, svc: Services) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
        response.headers["Referrer-Policy"] = "no-referrer"
        started = g.get("started")
        # Path only: a query string could carry a token someone pasted into a URL.
        svc.log.info(
            "request",
            extra={
                "fields": {
                    "request_id": g.get("request_id"),
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2)
                    if started is not None
                    else None,
                    "client_ip": request.remote_addr,
                    "user_agent": request.user_agent.string[:200],
                }
            },
        )
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        name = (exc.name or "error").lower().replace(" ", "_")
        return jsonify(error=name, message=exc.description), code

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> tuple[Response, int]:
        svc.log.error(
            "unhandled_error",
            extra={"fields": {"request_id": g.get("request_id"), "type": type(exc).__name__}},
            exc_info=exc,
        )
        return jsonify(error="internal_error"), 500


def _register_routes(app: Flask, svc: Services) -> None:
    def event(name: str, **fields: Any) -> None:
        svc.log.info(name, extra={"fields": {"request_id": g.get("request_id"), **fields}})

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        try:
            svc.store.ping()
        except sqlite3.Error as exc:
            svc.log.warning("not_ready", extra={"fields": {"type": type(exc).__name__}})
            return jsonify(status="unavailable"), 503
        return jsonify(status="ready"), 200

    @app.post("/register")
    def register() -> tuple[Response, int]:
        try:
            creds = parse_credentials(_json_body())
            check_username(creds.username)
            check_new_password(creds.password, creds.username)
        except ValidationError as exc:
            return _invalid(exc)
        try:
            svc.store.add(creds.username, svc.passwords.hash(creds.password))
        except UserExistsError:
            return jsonify(error="username_taken"), 409
        event("user_registered", username=creds.username)
        return jsonify(username=creds.username), 201

    @app.post("/login")
    def login() -> tuple[Response, int] | Response:
        try:
            creds = parse_credentials(_json_body())
            check_username(creds.username)
        except ValidationError as exc:
            return _invalid(exc)
        # Only the upper bound here: it caps argon2's work, and a later change to the
        # registration rules must not lock out users whose passwords predate it.
        if not 0 < len(creds.password) <= PASSWORD_MAX_CHARS:
            return _invalid(ValidationError("password", "has an invalid length"))

        key = (creds.username, request.remote_addr or "unknown")
        wait = svc.login_limiter.hit(key)
        if wait:
            event("login_rate_limited", username=creds.username, client_ip=key[1])
            response = jsonify(error="too_many_attempts")
            response.headers["Retry-After"] = retry_after_header(wait)
            return response, 429

        user = svc.store.get(creds.username)
        if not svc.passwords.verify(user.password_hash if user else None, creds.password):
            event("login_failed", username=creds.username, client_ip=key[1])
            return jsonify(error="invalid_credentials"), 401
        assert user is not None  # verify() is never True without a stored hash
        svc.login_limiter.reset(key)
        if svc.passwords.needs_rehash(user.password_hash):
            svc.store.update_hash(user.id, svc.passwords.hash(creds.password))
        event("login_succeeded", username=user.username)
        return jsonify(
            access_token=svc.tokens.issue(user.username),
            token_type="Bearer",  # noqa: S106 - the OAuth 2.0 token type, not a secret
            expires_in=svc.tokens.ttl_seconds,
        )

    @app.route("/verify", methods=["GET", "POST"])
    def verify() -> tuple[Response, int]:
        token = _bearer_token()
        if token is None and request.method == "POST" and request.content_length:
            body = _json_body()
            if not isinstance(body, dict) or set(body) != {"token"}:
                return _invalid(ValidationError("body", 'must be {"token": "<jwt>"}'))
            token = body["token"] if isinstance(body["token"], str) else None
        if not token:
            response = jsonify(error="missing_token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="user-authenticator"'
            return response, 401
        try:
            claims = svc.tokens.verify(token)
        except TokenError as exc:
            event("token_rejected", reason=exc.reason)
            response = jsonify(error="invalid_token", reason=exc.reason)
            response.headers["WWW-Authenticate"] = (
                f'Bearer realm="user-authenticator", error="invalid_token", '
                f'error_description="{exc.reason}"'
            )
            return response, 401
        return jsonify(active=True, claims=claims), 200


def _json_body() -> Any:
    """The parsed JSON body; 415 unless the client says it sends JSON, 400 if it is not.

    The body is read with an explicit bound: Werkzeug before 2.3 applies MAX_CONTENT_LENGTH
    to form parsing only, and this service must hold its limits on the old pins as well.
    """
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:  # chunked bodies carry no Content-Length
        raise RequestEntityTooLarge()
    try:
        return json.loads(data)
    except ValueError:
        raise BadRequest("The request body is not valid JSON.") from None


def _bearer_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _invalid(exc: ValidationError) -> tuple[Response, int]:
    return jsonify(error="validation_failed", field=exc.field, message=exc.message), 400
