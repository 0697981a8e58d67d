"""The lab database: a real SQLite file per sandbox, in a temporary directory of its own.

Every connection to it comes from :meth:`LabStore.connect`, fenced by the store's
:class:`~labkit.sandbox.sqlite_guard.SqliteGuard` (time, value size, rows, disk; stopped when
the store closes): one place, whether a lab's own queries, its session table or the learner's
SQL (07, 13) run on it.

Every lab that has users seeds the same three staff accounts (alice admin, bob editor, carol
viewer) with passwords generated fresh for each store, so answers cannot be copied between
runs or learners. How a password is *stored* is up to the lab app (that is lesson 01), so the
store takes the hash function as an argument.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from labkit.sandbox.sqlite_guard import SqliteGuard

__all__ = ["STAFF", "LabStore", "SeedUser", "UserRecord", "Users", "generate_password"]

#: The seeded accounts of every lab: (email, role).
STAFF: tuple[tuple[str, str], ...] = (
    ("alice@example.com", "admin"),
    ("bob@example.com", "editor"),
    ("carol@example.com", "viewer"),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL DEFAULT 'viewer',
    password_hash TEXT NOT NULL,
    token_version INTEGER NOT NULL DEFAULT 0
);
"""


def generate_password(words: int = 4) -> str:
    """A random passphrase-like password (~80 bits), e.g. ``'k3vQ-9zPa-Lm2x-T7cw'``."""
    return "-".join(secrets.token_urlsafe(6)[:4] for _ in range(words)) + secrets.choice("!#%+")


@dataclass(frozen=True)
class SeedUser:
    """A seeded account as the notebook sees it (the plaintext password is known here)."""

    email: str
    role: str
    password: str


@dataclass(frozen=True)
class UserRecord:
    """A row of the users table, as the app sees it (only the hash is stored)."""

    id: int
    email: str
    role: str
    password_hash: str
    token_version: int = 0


class Users(Mapping[str, SeedUser]):
    """Seeded accounts by email; ``users["alice"]`` also works."""

    def __init__(self, seeds: list[SeedUser]) -> None:
        self._by_email = {u.email: u for u in seeds}

    def __getitem__(self, key: str) -> SeedUser:
        if key in self._by_email:
            return self._by_email[key]
        for email, user in self._by_email.items():
            if email.split("@")[0] == key:
                return user
        raise KeyError(f"no seeded user {key!r}; try one of {sorted(self._by_email)}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_email)

    def __len__(self) -> int:
        return len(self._by_email)

    def __repr__(self) -> str:
        return "\n".join(f"{u.email:<20} {u.role:<7} {u.password}" for u in self.values())


class LabStore:
    """A SQLite database file in a fresh temp dir; ``close()`` stops its queries and deletes it.

    ``guard`` holds the limits of every connection (tests may lower ``guard.budget_s``).
    """

    def __init__(self, name: str = "lab") -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=f"labkit-{name}-"))
        self.path = self._dir / "lab.sqlite3"
        self.guard = SqliteGuard()
        with self.connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def connect(self, *, any_thread: bool = False) -> Iterator[sqlite3.Connection]:
        """A short-lived connection (commit on success), rows as :class:`sqlite3.Row`.

        Fenced by :attr:`guard` (issue #14): a statement past a limit raises
        :class:`~labkit.sandbox.sqlite_guard.SqlLimit`, naming it, even when it surfaces
        wrapped (a learner function's fault). ``any_thread`` lets another thread use the
        connection meanwhile (a learner's function runs in a guard thread while the request's
        thread waits for it).
        """
        db = sqlite3.connect(self.path, timeout=10, check_same_thread=not any_thread)
        db.row_factory = sqlite3.Row
        # A throwaway temp file: no fsync per commit (a commit stays atomic; only a power cut
        # could lose it). On a busy disk the fsyncs were half of a capstone check's wall time.
        db.execute("PRAGMA synchronous = OFF")
        budget = self.guard.apply(db)
        try:
            with db:
                yield db
        except Exception as exc:
            budget.raise_if_stopped(exc)
            raise
        finally:
            db.close()

    def execute_script(self, sql: str) -> None:
        with self.connect() as db:
            db.executescript(sql)

    def seed_staff(self, hash_password: Callable[[str], str]) -> Users:
        """Create alice, bob and carol with fresh random passwords hashed by ``hash_password``."""
        seeds = [SeedUser(email, role, generate_password()) for email, role in STAFF]
        for seed in seeds:
            self.add_user(seed.email, seed.role, hash_password(seed.password))
        return Users(seeds)

    def add_user(self, email: str, role: str, password_hash: str) -> UserRecord:
        with self.connect() as db:
            cursor = db.execute(
                "INSERT INTO users (email, role, password_hash) VALUES (?, ?, ?)",
                (email, role, password_hash),
            )
            user_id = cursor.lastrowid
        return UserRecord(int(user_id or 0), email, role, password_hash)

    def find_user(self, email: str) -> UserRecord | None:
        with self.connect() as db:
            row = db.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
        return UserRecord(**dict(row)) if row else None

    def set_password_hash(self, email: str, password_hash: str) -> None:
        with self.connect() as db:
            db.execute("UPDATE users SET password_hash = ? WHERE email = ?", (password_hash, email))

    def all_users(self) -> list[UserRecord]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM users ORDER BY id").fetchall()
        return [UserRecord(**dict(r)) for r in rows]

    def close(self) -> None:
        self.guard.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<LabStore {self.path}>"
