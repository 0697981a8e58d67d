"""Server-side sessions and their cookie, done right (lab 03-sessions).

Follows the OWASP Session Management Cheat Sheet, ASVS 5.0 V7 (session management) and
V3.3 (cookie setup), and RFC 6265bis (cookies):

* a session id is a random *reference* to state kept on the server: 256 bits from
  :mod:`secrets` (ASVS 7.2.3 asks for at least 128 bits from a CSPRNG);
* the store keys sessions by the SHA-256 of the id, so a leaked store holds no usable id
  (the ids have far more than 112 bits of entropy, so a fast hash is enough: ASVS 6.5.2);
* a new id at login and at every privilege change, the old one deleted (ASVS 7.2.4:
  this is what stops session fixation);
* idle and absolute timeouts (ASVS 7.3.1, 7.3.2); logout deletes the session on the
  server (ASVS 7.4.1) — clearing the cookie alone leaves a stolen copy working;
* the cookie: ``__Host-session=<id>; Path=/; Secure; HttpOnly; SameSite=Strict``.

Two stores share one protocol: :class:`SqliteSessionStore` (a table in a SQLite file, the
default) and :class:`RedisSessionStore` (redis-py; what several app processes share).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

__all__ = [
    "ABSOLUTE_TIMEOUT_S",
    "COOKIE_NAME",
    "IDLE_TIMEOUT_S",
    "ID_BYTES",
    "RedisSessionStore",
    "SessionRecord",
    "SessionStore",
    "SqliteSessionStore",
    "clearing_cookie",
    "end_session",
    "id_digest",
    "new_session_id",
    "session_cookie",
    "session_expired",
    "start_session",
]

#: ``__Host-``: the browser only accepts it with Secure, Path=/ and no Domain (RFC 6265bis
#: §4.1.3.2), so a sibling subdomain cannot plant or shadow it (ASVS 3.3.3).
COOKIE_NAME = "__Host-session"
#: 32 random bytes = 256 bits; ``token_urlsafe`` encodes them as 43 base64url characters.
ID_BYTES = 32
#: OWASP: 2-5 minutes for high-value applications, 15-30 for low-risk ones.
IDLE_TIMEOUT_S = 15 * 60
#: OWASP: 4-8 hours for an office-day application.
ABSOLUTE_TIMEOUT_S = 8 * 60 * 60


@dataclass(frozen=True)
class SessionRecord:
    """What the server remembers about a session (never the id itself).

    ``email`` is ``None`` for an anonymous (pre-login) session. Times are seconds since
    the epoch on the app's clock. ``data`` holds free-form string labels.
    """

    email: str | None
    created: float
    last_seen: float
    elevated: bool = False
    data: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> SessionRecord:
        return cls(**json.loads(text))

    def seen(self, now: float) -> SessionRecord:
        return replace(self, last_seen=now)


class SessionStore(Protocol):
    """Where sessions live: keyed by session id (stored as its SHA-256), thread-safe."""

    def put(self, session_id: str, record: SessionRecord) -> None: ...

    def get(self, session_id: str) -> SessionRecord | None: ...

    def delete(self, session_id: str) -> bool: ...

    def delete_user(self, email: str) -> int: ...

    def records(self) -> list[tuple[str, SessionRecord]]: ...

    def close(self) -> None: ...


def id_digest(session_id: str) -> str:
    """The store key of ``session_id``: its SHA-256, hex."""
    return hashlib.sha256(session_id.encode()).hexdigest()


# -- stores -----------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY,
    email TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_email ON sessions (email);
"""


class SqliteSessionStore:
    """Sessions in their own table of a SQLite file (the lab's database by default).

    ``connect`` opens a short-lived connection that commits on success (default: a plain
    ``sqlite3.connect(path)``); a lab passes its database's own, which bounds every query.
    """

    def __init__(
        self,
        path: str | Path,
        connect: Callable[[], AbstractContextManager[sqlite3.Connection]] | None = None,
    ) -> None:
        self.path = Path(path)
        self._opener = connect
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self._opener is not None:
            with self._opener() as db:
                yield db
            return
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    def put(self, session_id: str, record: SessionRecord) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO sessions (id_sha256, email, record) VALUES (?, ?, ?)",
                (id_digest(session_id), record.email, record.to_json()),
            )

    def get(self, session_id: str) -> SessionRecord | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT record FROM sessions WHERE id_sha256 = ?", (id_digest(session_id),)
            ).fetchone()
        return SessionRecord.from_json(row[0]) if row else None

    def delete(self, session_id: str) -> bool:
        with self._connect() as db:
            cursor = db.execute(
                "DELETE FROM sessions WHERE id_sha256 = ?", (id_digest(session_id),)
            )
        return cursor.rowcount > 0

    def delete_user(self, email: str) -> int:
        with self._connect() as db:
            cursor = db.execute("DELETE FROM sessions WHERE email = ?", (email,))
        return cursor.rowcount

    def records(self) -> list[tuple[str, SessionRecord]]:
        with self._connect() as db:
            rows = db.execute("SELECT id_sha256, record FROM sessions ORDER BY rowid").fetchall()
        return [(digest, SessionRecord.from_json(text)) for digest, text in rows]

    def close(self) -> None:
        """Nothing to release: the file belongs to whoever made it."""

    def __repr__(self) -> str:
        return f"<SqliteSessionStore {self.path}>"


class RedisSessionStore:
    """Sessions in Redis under ``prefix`` (one prefix per app, so apps never collide).

    Keys: ``<prefix>s:<sha256>`` holds the record (JSON), ``<prefix>u:<email>`` the set of
    that user's session digests (for "log out everywhere"). Every key expires after
    ``ttl_s`` real seconds, so an abandoned session cannot outlive the absolute timeout.
    ``close()`` deletes every key under the prefix and closes the connections.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        ttl_s: int = ABSOLUTE_TIMEOUT_S,
    ) -> None:
        try:
            import redis
        except ImportError as exc:  # a dependency of labkit, but say what to do
            raise RuntimeError("the Redis session store needs redis-py: pip install redis") from exc
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        self.prefix = prefix or f"labkit:sessions:{secrets.token_hex(6)}:"
        self.ttl_s = ttl_s
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._redis.ping()  # fail now, with redis-py's message, if the server is not there

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}s:{id_digest(session_id)}"

    def _user_key(self, email: str) -> str:
        return f"{self.prefix}u:{email.lower()}"

    def put(self, session_id: str, record: SessionRecord) -> None:
        pipe = self._redis.pipeline()
        pipe.set(self._key(session_id), record.to_json(), ex=self.ttl_s)
        if record.email:
            pipe.sadd(self._user_key(record.email), id_digest(session_id))
            pipe.expire(self._user_key(record.email), self.ttl_s)
        pipe.execute()

    def get(self, session_id: str) -> SessionRecord | None:
        text = self._redis.get(self._key(session_id))
        return SessionRecord.from_json(text) if text else None

    def delete(self, session_id: str) -> bool:
        record = self.get(session_id)
        pipe = self._redis.pipeline()
        pipe.delete(self._key(session_id))
        if record is not None and record.email:
            pipe.srem(self._user_key(record.email), id_digest(session_id))
        return bool(pipe.execute()[0])

    def delete_user(self, email: str) -> int:
        digests = self._redis.smembers(self._user_key(email))
        keys = [f"{self.prefix}s:{d}" for d in digests]
        deleted = self._redis.delete(*keys) if keys else 0
        self._redis.delete(self._user_key(email))
        return int(deleted)

    def records(self) -> list[tuple[str, SessionRecord]]:
        found = []
        start = len(self.prefix) + 2
        for key in self._redis.scan_iter(match=f"{self.prefix}s:*", count=500):
            text = self._redis.get(key)
            if text:
                found.append((key[start:], SessionRecord.from_json(text)))
        return sorted(found, key=lambda item: item[1].created)

    def close(self) -> None:
        keys = list(self._redis.scan_iter(match=f"{self.prefix}*", count=500))
        if keys:
            self._redis.delete(*keys)
        self._redis.close()

    def __repr__(self) -> str:
        return f"<RedisSessionStore {self.prefix}*>"


# -- the session life cycle -------------------------------------------------------------
def new_session_id() -> str:
    """A fresh session id: 256 bits from the OS CSPRNG, base64url (43 characters)."""
    return secrets.token_urlsafe(ID_BYTES)


def start_session(
    store: SessionStore,
    old_id: str | None,
    record: SessionRecord,
    *,
    new_id: Callable[[], str] = new_session_id,
) -> str:
    """Store ``record`` under a brand-new id and return it; delete ``old_id`` first.

    Called at login and at every privilege change. Whatever id the browser brought — one
    the attacker planted, or the server's own pre-login id — dies here, so knowing it is
    worth nothing afterwards (session fixation, OWASP Session Management CS "Renew the
    Session ID After Any Privilege Level Change").
    """
    if old_id:
        store.delete(old_id)
    session_id = new_id()
    store.put(session_id, record)
    return session_id


def session_cookie(session_id: str) -> str:
    """The ``Set-Cookie`` value carrying ``session_id``.

    ``HttpOnly``: no script can read it (an XSS cannot steal it). ``Secure``: only sent over
    HTTPS (browsers also allow http://localhost). ``SameSite=Strict``: never sent with a
    request another site starts, so a cross-site form cannot ride it. No ``Max-Age``: the
    cookie ends with the browser session; the server enforces the timeouts.
    """
    return f"{COOKIE_NAME}={session_id}; Path=/; Secure; HttpOnly; SameSite=Strict"


def clearing_cookie(set_cookie: str) -> str:
    """A ``Set-Cookie`` value that deletes the cookie ``set_cookie`` set.

    Same name, path and attributes (a ``__Host-`` cookie can only be overwritten by another
    ``__Host-`` cookie), an empty value and ``Max-Age=0``.
    """
    name, _, rest = set_cookie.partition("=")
    attributes = [
        part.strip()
        for part in rest.split(";")[1:]
        if part.strip() and part.split("=")[0].strip().lower() not in ("max-age", "expires")
    ]
    return "; ".join([f"{name.strip()}=", *attributes, "Max-Age=0"])


def end_session(store: SessionStore, session_id: str) -> None:
    """Logout: delete the session on the server, so every copy of the id stops working."""
    store.delete(session_id)


def session_expired(
    created: float,
    last_seen: float,
    now: float,
    *,
    idle_s: float = IDLE_TIMEOUT_S,
    absolute_s: float = ABSOLUTE_TIMEOUT_S,
) -> bool:
    """True when the session was idle too long or has lived too long, whatever its activity."""
    return now - last_seen >= idle_s or now - created >= absolute_s
