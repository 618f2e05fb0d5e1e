"""Argon2id hashing, with a dummy hash so unknown users cost as much as known ones."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verifying a login for a user that does not exist runs against this hash, made with
        # the same parameters, so response time does not reveal whether a username exists.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when the password matches; with password_hash=None, burns the same time."""
        known = password_hash is not None
        try:
            self._hasher.verify(
                self._dummy_hash if password_hash is None else password_hash, password
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return known

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with older parameters than the configured ones."""
        return self._hasher.check_needs_rehash(password_hash)
