"""Service configuration, read once from the environment and then immutable."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# HS256 keys shorter than the hash output (32 bytes) weaken the MAC (RFC 7518 section 3.2).
MIN_SECRET_BYTES = 32
_TRUE = {"1", "true", "yes", "on"}


class ConfigError(ValueError):
    """The environment describes a configuration the service refuses to run with."""


@dataclass(frozen=True)
class Config:
    jwt_secret: str = field(repr=False)
    database_path: Path
    jwt_issuer: str = "user-authenticator"
    jwt_audience: str = "user-authenticator-clients"
    token_ttl_seconds: int = 900
    login_max_attempts: int = 5
    login_window_seconds: int = 60
    # Number of reverse proxies in front of the service whose X-Forwarded-For is trusted.
    trusted_proxy_hops: int = 0
    # OWASP's Argon2id baseline (19 MiB, 2 passes, 1 lane): about a tenth of a second per
    # hash on a small VM, and the memory a login costs stays small with several threads.
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    argon2_parallelism: int = 1
    log_level: str = "INFO"
    dev_mode: bool = False

    def __post_init__(self) -> None:
        if len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"AUTH_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes; "
                "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        _check_range("AUTH_TOKEN_TTL_SECONDS", self.token_ttl_seconds, 30, 86400)
        _check_range("AUTH_LOGIN_MAX_ATTEMPTS", self.login_max_attempts, 1, 1000)
        _check_range("AUTH_LOGIN_WINDOW_SECONDS", self.login_window_seconds, 1, 86400)
        _check_range("AUTH_TRUSTED_PROXY_HOPS", self.trusted_proxy_hops, 0, 5)
        _check_range("AUTH_ARGON2_TIME_COST", self.argon2_time_cost, 1, 20)
        _check_range("AUTH_ARGON2_MEMORY_KIB", self.argon2_memory_kib, 8192, 1048576)
        _check_range("AUTH_ARGON2_PARALLELISM", self.argon2_parallelism, 1, 16)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Build the configuration from environment variables (see README for the list)."""
        env = os.environ if env is None else env
        dev_mode = env.get("AUTH_DEV_MODE", "").strip().lower() in _TRUE
        secret = env.get("AUTH_JWT_SECRET", "")
        if not secret:
            if not dev_mode:
                raise ConfigError(
                    "AUTH_JWT_SECRET is not set; set it (32+ bytes) or set AUTH_DEV_MODE=1 "
                    "to run with a throw-away secret"
                )
            # Dev only: tokens die with the process, which is what a throw-away secret means.
            secret = secrets.token_urlsafe(48)
        return cls(
            jwt_secret=secret,
            database_path=parse_database_url(
                env.get("DATABASE_URL", "sqlite:///user-authenticator.db")
            ),
            jwt_issuer=env.get("AUTH_JWT_ISSUER", cls.jwt_issuer),
            jwt_audience=env.get("AUTH_JWT_AUDIENCE", cls.jwt_audience),
            token_ttl_seconds=_int(env, "AUTH_TOKEN_TTL_SECONDS", cls.token_ttl_seconds),
            login_max_attempts=_int(env, "AUTH_LOGIN_MAX_ATTEMPTS", cls.login_max_attempts),
            login_window_seconds=_int(env, "AUTH_LOGIN_WINDOW_SECONDS", cls.login_window_seconds),
            trusted_proxy_hops=_int(env, "AUTH_TRUSTED_PROXY_HOPS", cls.trusted_proxy_hops),
            argon2_time_cost=_int(env, "AUTH_ARGON2_TIME_COST", cls.argon2_time_cost),
            argon2_memory_kib=_int(env, "AUTH_ARGON2_MEMORY_KIB", cls.argon2_memory_kib),
            argon2_parallelism=_int(env, "AUTH_ARGON2_PARALLELISM", cls.argon2_parallelism),
            log_level=env.get("LOG_LEVEL", cls.log_level).upper(),
            dev_mode=dev_mode,
        )


def parse_database_url(url: str) -> Path:
    """Accept sqlite:///relative/path and sqlite:////absolute/path (SQLAlchemy's spelling)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(
            f"DATABASE_URL {url!r} is not supported; use sqlite:///relative.db or "
            "sqlite:////absolute/path.db"
        )
    path = url[len(prefix) :]
    if path == ":memory:" or "?" in path:
        # An in-memory DB would be private to each connection, so users would vanish.
        raise ConfigError(f"DATABASE_URL {url!r} must name a file")
    return Path(path)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range [{low}, {high}]")
