"""Config.from_env: refuses to start without a proper secret; parses DATABASE_URL and limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from user_authenticator import Config, ConfigError, create_app
from user_authenticator.config import parse_database_url

SECRET = "s" * 32


def test_missing_secret_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="AUTH_JWT_SECRET is not set"):
        Config.from_env({})


def test_create_app_without_config_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AUTH_JWT_SECRET", raising=False)
    monkeypatch.delenv("AUTH_DEV_MODE", raising=False)
    with pytest.raises(ConfigError):
        create_app()
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("AUTH_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("AUTH_ARGON2_MEMORY_KIB", "8192")
    app = create_app()
    assert app.test_client().get("/readyz").status_code == 200
    assert (tmp_path / "env.db").exists()


def test_dev_mode_generates_a_throwaway_secret() -> None:
    first = Config.from_env({"AUTH_DEV_MODE": "1"})
    second = Config.from_env({"AUTH_DEV_MODE": "true"})
    assert first.dev_mode and len(first.jwt_secret) >= 32
    assert first.jwt_secret != second.jwt_secret


def test_short_secret_is_refused_even_in_dev_mode() -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        Config.from_env({"AUTH_JWT_SECRET": "too-short", "AUTH_DEV_MODE": "1"})


def test_secret_is_not_in_repr() -> None:
    assert SECRET not in repr(Config.from_env({"AUTH_JWT_SECRET": SECRET}))


def test_env_values_are_read() -> None:
    config = Config.from_env(
        {
            "AUTH_JWT_SECRET": SECRET,
            "DATABASE_URL": "sqlite:////data/users.db",
            "AUTH_TOKEN_TTL_SECONDS": "120",
            "AUTH_LOGIN_MAX_ATTEMPTS": "3",
            "AUTH_LOGIN_WINDOW_SECONDS": "30",
            "AUTH_JWT_ISSUER": "iss",
            "AUTH_JWT_AUDIENCE": "aud",
            "AUTH_TRUSTED_PROXY_HOPS": "1",
            "LOG_LEVEL": "debug",
        }
    )
    assert config.database_path == Path("/data/users.db")
    assert (config.token_ttl_seconds, config.login_max_attempts) == (120, 3)
    assert config.login_window_seconds == 30
    assert (config.jwt_issuer, config.jwt_audience) == ("iss", "aud")
    assert config.trusted_proxy_hops == 1
    assert config.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTH_TOKEN_TTL_SECONDS", "5"),
        ("AUTH_TOKEN_TTL_SECONDS", "ten"),
        ("AUTH_LOGIN_MAX_ATTEMPTS", "0"),
        ("AUTH_ARGON2_MEMORY_KIB", "1024"),
    ],
)
def test_bad_numbers_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env({"AUTH_JWT_SECRET": SECRET, name: value})


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///users.db", Path("users.db")),
        ("sqlite:///./var/users.db", Path("var/users.db")),
        ("sqlite:////data/users.db", Path("/data/users.db")),
    ],
)
def test_database_urls(url: str, path: Path) -> None:
    assert parse_database_url(url) == path


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://db/users",
        "sqlite://",
        "sqlite:///",
        "sqlite:///:memory:",
        "users.db",
        "sqlite:///users.db?mode=ro",
    ],
)
def test_unsupported_database_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        parse_database_url(url)
