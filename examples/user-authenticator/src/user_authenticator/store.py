"""User storage in SQLite. Every statement is parameterized; no SQL is built from input."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
)
"""


class StoreError(RuntimeError):
    """The database cannot be opened or set up."""


class UserExistsError(Exception):
    """The username is already taken."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    password_hash: str


class UserStore:
    """One short-lived connection per operation, so it is safe across gunicorn threads."""

    def __init__(self, path: Path, timeout_seconds: float = 5.0) -> None:
        self._path = path
        self._timeout = timeout_seconds

    def initialize(self) -> None:
        """Create the schema; fails loudly at start-up if the path is not writable."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                # WAL lets readers (login) go on while a writer (register) commits.
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            # sqlite's own message ("unable to open database file") names neither the path
            # nor the usual cause, a directory the service's user cannot write to.
            raise StoreError(
                f"cannot open database {self._path}: {exc}; its directory must exist and be "
                f"writable by uid {os.getuid()} (set DATABASE_URL to move it)"
            ) from exc

    def ping(self) -> None:
        """Raise sqlite3.Error unless the database answers a trivial query."""
        with self._connect() as conn:
            conn.execute("SELECT 1 FROM users LIMIT 1").fetchall()

    def add(self, username: str, password_hash: str) -> User:
        try:
            with self._connect() as conn:
                cur = conn.execute(
                    "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)",
                    (username, password_hash, int(time.time())),
                )
                user_id = cur.lastrowid
        except sqlite3.IntegrityError:
            raise UserExistsError(username) from None
        assert user_id is not None
        return User(id=user_id, username=username, password_hash=password_hash)

    def get(self, username: str) -> User | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT id, username, password_hash FROM users WHERE username = ?", (username,)
            ).fetchone()
        if row is None:
            return None
        return User(id=int(row[0]), username=str(row[1]), password_hash=str(row[2]))

    def update_hash(self, user_id: int, password_hash: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self._path, timeout=self._timeout)
        try:
            with conn:  # commits on success, rolls back on error
                yield conn
        finally:
            conn.close()
