"""Input rules for usernames and passwords, and the JSON body shape the API accepts."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

# Lower-case ASCII only, so 'Alice' and 'alice' (or look-alike Unicode) cannot be two accounts.
USERNAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{1,30})[a-z0-9]")
PASSWORD_MIN_CHARS = 12
# Bounded so a megabyte "password" cannot make argon2 (and us) chew on it.
PASSWORD_MAX_CHARS = 128
PASSWORD_MIN_DISTINCT = 6
# The handful that survive the length rule and top every breach list.
_COMMON = frozenset(
    {
        "123456789012",
        "1234567890123",
        "passwordpassword",
        "password1234",
        "password12345",
        "qwertyuiop12",
        "qwertyuiopasdf",
        "iloveyou1234",
        "letmeinletmein",
        "adminadminadmin",
        "changemechangeme",
        "welcome12345",
    }
)


class ValidationError(ValueError):
    """Input that the API refuses, with a message safe to show the client."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def parse_credentials(body: Any) -> Credentials:
    """Accept exactly {"username": str, "password": str}; anything else is a 400."""
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object")
    unknown = sorted(set(body) - {"username", "password"})
    if unknown:
        raise ValidationError("body", f"unknown fields: {', '.join(unknown)}")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str):
        raise ValidationError("username", "is required and must be a string")
    if not isinstance(password, str):
        raise ValidationError("password", "is required and must be a string")
    return Credentials(username=username, password=password)


def check_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise ValidationError(
            "username",
            "must be 3-32 characters of a-z, 0-9, '.', '_' or '-', "
            "starting and ending with a letter or digit",
        )
    return username


def check_password_bounds(password: str) -> None:
    """The length bounds alone: what login checks, so it never reveals the full policy."""
    if not PASSWORD_MIN_CHARS <= len(password) <= PASSWORD_MAX_CHARS:
        raise ValidationError(
            "password", f"must be {PASSWORD_MIN_CHARS}-{PASSWORD_MAX_CHARS} characters"
        )
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        raise ValidationError("password", "must not contain control characters")


def check_new_password(password: str, username: str) -> None:
    """Length, variety and a tiny deny-list: NIST SP 800-63B style, no composition rules."""
    check_password_bounds(password)
    if len(set(password)) < PASSWORD_MIN_DISTINCT:
        raise ValidationError(
            "password", f"must use at least {PASSWORD_MIN_DISTINCT} different characters"
        )
    if username in password.lower():
        raise ValidationError("password", "must not contain the username")
    if password.lower() in _COMMON:
        raise ValidationError("password", "is too common")
