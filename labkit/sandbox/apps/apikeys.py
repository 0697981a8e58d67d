"""05-api-keys: a reports API that machines call with keys.

Routes (CURRICULUM): ``POST /api/keys {"scopes": [...], "name"?, "expiresInDays"?}`` (a
logged-in user; 201 ``{"id", "key", "scopes", ...}``, the key shown once),
``GET /api/keys`` (your keys, never their secrets), ``DELETE /api/keys/{id}`` (204),
``GET /api/v1/reports`` (scope ``reports:read``), ``POST /api/v1/reports {"title"}`` (scope
``reports:write``). Keys travel in ``X-API-Key``: 401 ``{"error": "API key required"}`` /
``{"error": "Invalid API key"}``, 403 ``{"error": "Insufficient permissions"}``.
Users log in with ``POST /api/auth/login {email,password}`` → ``{"accessToken"}`` and send
``Authorization: Bearer``.

Lab-only routes play what the lab needs from outside: ``GET /api/_lab/dump`` (the leaked
keys table), ``GET /api/_lab/access-log`` (the log everyone in ops can read),
``POST /api/_lab/partner-job`` (a partner's nightly job calls the API),
``GET /api/_lab/old-config`` (a config file from last year), ``GET/POST /api/_lab/clock``
(the app's clock; ``{"advanceDays": n}`` moves it forward), ``GET /api/_lab/accounts``,
``POST /api/_lab/keys {"scopes", "name"?, "owner"?, "expiresAt"?, "revokedAt"?, "key"?}``
(issues a key, or stores the given one, with any scopes and times through the app's
``generate_key`` and ``hash_key``: the checks need keys the public route cannot make) and
``GET /api/_lab/lookups`` (how many times the app has looked a key up in the table).

Replaceable parts: ``generate_key()``, ``hash_key(key)``, ``read_api_key(headers, query)``,
``authenticate(api_key, scope, find_key, now)`` and ``redact_url(url)``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from labkit.patterns import apikeys as secure_keys
from labkit.patterns import passwords as secure_passwords
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.fixes import FixFault, FixSlot, plug_fixes
from labkit.sandbox.store import LabStore, UserRecord
from labkit.vulnerable import apikeys as weak_keys

__all__ = ["ROLE_SCOPES", "SCOPES", "SEEDED_CLIENTS", "SLOTS", "create_app"]

DAY = 86400.0
READ, WRITE = "reports:read", "reports:write"
SCOPES = (READ, WRITE)
#: The scopes a user of each role may put on a key (a key never exceeds its owner).
ROLE_SCOPES = {"admin": SCOPES, "editor": SCOPES, "viewer": (READ,)}
LOGIN_TTL_S = 3600
ACCESS_LOG_LINES = 500
PARTNER, LEGACY = "partner-acme", "legacy-export"


@dataclass(frozen=True)
class SeededClient:
    name: str
    owner: str
    scopes: tuple[str, ...]
    age_days: int
    lifetime_days: int


#: Machine clients that already hold keys when the app starts.
SEEDED_CLIENTS = (
    SeededClient("billing-service", "alice@example.com", SCOPES, 20, 90),
    SeededClient("dashboard", "carol@example.com", (READ,), 10, 90),
    SeededClient(PARTNER, "bob@example.com", (READ,), 30, 90),
    SeededClient(LEGACY, "bob@example.com", SCOPES, 400, 365),  # expired 35 days ago
)

SLOTS = {
    "generate_key": FixSlot("generate_key", str, "generate_key() -> str"),
    "hash_key": FixSlot("hash_key", str, "hash_key(key: str) -> str"),
    "read_api_key": FixSlot(
        "read_api_key", (str, type(None)), "read_api_key(headers: dict, query: dict) -> str | None"
    ),
    "authenticate": FixSlot(
        "authenticate", tuple, "authenticate(api_key, scope, find_key, now) -> tuple[int, dict]"
    ),
    "redact_url": FixSlot("redact_url", str, "redact_url(url: str) -> str"),
}

#: The keys and reports tables (BrokenShop serves the same partner API).
KEYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS api_keys_by_hash ON api_keys (key_hash);
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""
_REPORTS = ("Q1 revenue", "Q2 revenue", "Churn by region", "Top customers (confidential)")


class Credentials(BaseModel):
    email: str
    password: str


class NewKey(BaseModel):
    scopes: list[str]
    name: str = Field(default="my-script", min_length=1, max_length=60)
    expiresInDays: int = Field(default=secure_keys.MAX_LIFETIME_DAYS, ge=1, le=365)


class NewReport(BaseModel):
    title: str = Field(min_length=1, max_length=200)


#: Lab-only times stay where datetime can show them, whatever the clock's offset (#14).
LAB_TIME_MAX = 221_845_392_000.0  # 9000-01-01
#: How far the lab clock may move in all (798 moves of 10 years made every route 500).
CLOCK_MAX_OFFSET_DAYS = 36_500


class LabKey(BaseModel):
    scopes: list[str] = Field(max_length=8)
    name: str = Field(default="lab-probe", min_length=1, max_length=60)
    owner: str = "alice@example.com"
    expiresAt: float | None = Field(default=None, ge=0, le=LAB_TIME_MAX, allow_inf_nan=False)
    revokedAt: float | None = Field(default=None, ge=0, le=LAB_TIME_MAX, allow_inf_nan=False)
    key: str | None = Field(default=None, max_length=200)  # store this key instead of a new one


class Advance(BaseModel):
    advanceDays: float = Field(ge=0, le=3650, allow_inf_nan=False)


class LabClock:
    """The app's clock: real time plus an offset the lab can move forward, at most
    :data:`CLOCK_MAX_OFFSET_DAYS` in all (an offset past it raises ValueError and is not kept:
    every app sharing this clock keeps working)."""

    def __init__(self) -> None:
        self._offset = 0.0

    @property
    def offset(self) -> float:
        return self._offset

    @offset.setter
    def offset(self, value: float) -> None:
        if not 0 <= value <= CLOCK_MAX_OFFSET_DAYS * DAY:  # NaN fails too
            raise ValueError(f"the lab clock moves at most {CLOCK_MAX_OFFSET_DAYS} days in all")
        self._offset = value

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, body: Advance) -> Any:
        """What ``POST /api/_lab/clock`` answers (05 and the capstone): the clock, or a 422
        past :data:`CLOCK_MAX_OFFSET_DAYS` in all (the offset is then kept as it was)."""
        if self.offset / DAY + body.advanceDays > CLOCK_MAX_OFFSET_DAYS:
            error = {
                "loc": ["body", "advanceDays"],
                "msg": f"the lab clock moves at most {CLOCK_MAX_OFFSET_DAYS} days in all "
                f"(it is {self.offset / DAY:g} days ahead)",
                "type": "lab_clock_limit",
            }
            return JSONResponse({"errors": [error]}, status_code=422)
        self.offset += body.advanceDays * DAY
        return {"now": self.now(), "offsetDays": self.offset / DAY}


class KeyTable:
    """The ``api_keys`` table: rows in, :class:`~labkit.patterns.apikeys.ApiKey` out."""

    def __init__(self, store: LabStore) -> None:
        self.store = store

    def add(self, owner: str, name: str, key_hash: str, scopes: tuple[str, ...], created: float,
            expires: float | None) -> secure_keys.ApiKey:  # fmt: skip
        with self.store.connect() as db:
            cursor = db.execute(
                "INSERT INTO api_keys (owner, name, key_hash, scopes, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (owner, name, key_hash, json.dumps(list(scopes)), created, expires),
            )
        return secure_keys.ApiKey(
            int(cursor.lastrowid or 0), owner, name, key_hash, scopes, created, expires
        )

    def by_hash(self, key_hash: str) -> list[secure_keys.ApiKey]:
        return self._select(_BY["hash"], (key_hash,))

    def by_owner(self, owner: str) -> list[secure_keys.ApiKey]:
        return self._select(_BY["owner"], (owner,))

    def get(self, key_id: int) -> secure_keys.ApiKey | None:
        rows = self._select(_BY["id"], (key_id,))
        return rows[0] if rows else None

    def revoke(self, key_id: int, when: float) -> None:
        with self.store.connect() as db:
            db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (when, key_id),
            )

    def all(self) -> list[secure_keys.ApiKey]:
        return self._select(_BY["all"], ())

    def _select(self, query: str, args: tuple[Any, ...]) -> list[secure_keys.ApiKey]:
        with self.store.connect() as db:
            rows = db.execute(query, args).fetchall()
        return [_record(row) for row in rows]


def _record(row: Any) -> secure_keys.ApiKey:
    return secure_keys.ApiKey(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        key_hash=row["key_hash"],
        scopes=tuple(json.loads(row["scopes"])),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


_BY = {
    "hash": "SELECT * FROM api_keys WHERE key_hash = ? ORDER BY id",
    "owner": "SELECT * FROM api_keys WHERE owner = ? ORDER BY id",
    "id": "SELECT * FROM api_keys WHERE id = ?",
    "all": "SELECT * FROM api_keys ORDER BY id",
}


class Logins:
    """Who is logged in: opaque random access tokens kept server-side (RFC 6750 bearer).

    Login is not this lab's lesson; this is the one place to swap for the shared token
    pattern of lab 02 (``user_for`` is all the routes use).
    """

    def __init__(self, store: LabStore) -> None:
        self._store = store
        self._tokens: dict[str, tuple[str, float]] = {}

    def login(self, email: str, password: str) -> str | None:
        user = secure_passwords.authenticate(email, password, self._store.find_user)
        if user is None:
            return None
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (user.email, time.monotonic() + LOGIN_TTL_S)
        return token

    def user_for(self, authorization: str | None) -> tuple[UserRecord | None, str]:
        """The user behind ``Authorization: Bearer <token>``, or None and the 401 message."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None, "Missing token"
        email, expires = self._tokens.get(token.strip(), ("", 0.0))
        user = self._store.find_user(email) if time.monotonic() < expires else None
        return user, "" if user else "Invalid token"


def _secure_authenticate(
    api_key: str | None, scope: str, find_key: Callable[[str], Any], now: float
) -> tuple[int, dict[str, Any]]:
    return secure_keys.authenticate(api_key, scope, find_key, now)


def _parts(secure: bool, fixes: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    twin: Any = secure_keys if secure else weak_keys
    defaults: dict[str, Callable[..., Any]] = {
        "generate_key": twin.generate_api_key,
        "hash_key": twin.hash_api_key,
        "read_api_key": twin.read_api_key,
        "authenticate": _secure_authenticate if secure else weak_keys.authenticate,
        "redact_url": twin.redact_url,
    }
    return plug_fixes(SLOTS, defaults, fixes)


def _auth_result(value: tuple[Any, ...]) -> tuple[int, dict[str, Any]]:
    if len(value) != 2 or not isinstance(value[0], int) or not isinstance(value[1], dict):
        raise FixFault("authenticate must return a tuple (status: int, body: dict)")
    return value[0], value[1]


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


def add_report_routes(
    app: FastAPI,
    store: LabStore,
    api_client: Callable[[Request, str], tuple[int, dict[str, Any]]],
    clock: LabClock,
) -> None:
    """The API the keys are for (05's contract): ``GET /api/v1/reports`` (``reports:read``)
    and ``POST /api/v1/reports {"title"}`` (``reports:write``); ``api_client(request, scope)``
    is the app's key check, ``(status, body)``."""

    @app.get("/api/v1/reports", response_model=None)
    def list_reports(request: Request) -> Any:
        status, body = api_client(request, READ)
        if status != 200:
            return JSONResponse(body, status_code=status)
        with store.connect() as db:
            rows = db.execute("SELECT id, title, created_by FROM reports ORDER BY id").fetchall()
        reports = [{"id": r["id"], "title": r["title"], "createdBy": r["created_by"]} for r in rows]
        return {"client": body.get("client"), "reports": reports}

    @app.post("/api/v1/reports", status_code=201, response_model=None)
    def add_report(body: NewReport, request: Request) -> Any:
        status, auth = api_client(request, WRITE)
        if status != 200:
            return JSONResponse(auth, status_code=status)
        author = str(auth.get("client", "unknown"))
        with store.connect() as db:
            cursor = db.execute(
                "INSERT INTO reports (title, created_by, created_at) VALUES (?, ?, ?)",
                (body.title, author, clock.now()),
            )
        return {"id": cursor.lastrowid, "title": body.title, "createdBy": author}


def create_app(secure: bool = False, **fixes: Any) -> Any:
    """The 05-api-keys reports API; ``secure=True`` is the reference, fixes plug in yours."""
    parts = _parts(secure, fixes)
    store = LabStore("05-api-keys")
    store.execute_script(KEYS_SCHEMA)
    users = store.seed_staff(secure_passwords.hash_password)
    table, clock, logins = KeyTable(store), LabClock(), Logins(store)
    access_log: deque[str] = deque(maxlen=ACCESS_LOG_LINES)
    seeded: dict[str, str] = {}  # client name -> plaintext key, known only to the lab
    seed_lock = threading.Lock()
    generate_seed_key = (secure_keys if secure else weak_keys).generate_api_key
    with store.connect() as db:
        db.executemany(
            "INSERT INTO reports (title, created_by, created_at) VALUES (?, 'analytics', ?)",
            [(title, time.time()) for title in _REPORTS],
        )
    state = LabState(secure=secure, users=users, store=store)
    state.extras["api key header"] = "X-API-Key"
    app = new_lab_app("05-api-keys", secure=secure, state=state)

    def seed_keys() -> None:
        """Issue the seeded clients' keys on first use, stored with the app's ``hash_key``
        (a learner's function must not run, and fail, while the app is being built)."""
        with seed_lock:
            if seeded:
                return
            now = clock.now()
            plain = {c.name: generate_seed_key() for c in SEEDED_CLIENTS}
            hashed = {name: parts["hash_key"](key) for name, key in plain.items()}
            for c in SEEDED_CLIENTS:
                created = now - c.age_days * DAY
                table.add(c.owner, c.name, hashed[c.name], c.scopes, created,
                          created + c.lifetime_days * DAY)  # fmt: skip
            seeded.update(plain)

    lookups = [0]  # how many times a key was looked up (lab-only /api/_lab/lookups)

    def find_key(api_key: str) -> secure_keys.ApiKey | None:
        lookups[0] += 1
        if not isinstance(api_key, str) or not api_key:
            return None
        digest = parts["hash_key"](api_key)
        return secure_keys.match_digest(table.by_hash(digest), digest)

    def api_client(request: Request, scope: str) -> tuple[int, dict[str, Any]]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        api_key = parts["read_api_key"](headers, dict(request.query_params))
        return _auth_result(parts["authenticate"](api_key, scope, find_key, clock.now()))

    def log_line(request: Request, status: int) -> str:
        target = request.scope["path"]
        query = request.scope.get("query_string", b"").decode("latin-1")
        if query:
            target += f"?{query}"
        try:
            target = parts["redact_url"](target)
        except FixFault as exc:
            target = f"!! redact_url fault: {exc}"
        client = request.client.host if request.client else "-"
        stamp = _iso(clock.now())
        return f'{client} - - [{stamp}] "{request.method} {target} HTTP/1.1" {status}'

    @app.middleware("http")
    async def seed_and_log(request: Request, call_next: Callable[..., Any]) -> Response:
        try:
            await run_in_threadpool(seed_keys)
        except FixFault as exc:
            return JSONResponse(
                {"error": "Internal server error", "labkitFault": str(exc)}, status_code=500
            )
        response = await call_next(request)
        if not request.scope["path"].startswith("/api/_lab/"):
            access_log.append(await run_in_threadpool(log_line, request, response.status_code))
        return response

    # -- users -----------------------------------------------------------------------------
    @app.post("/api/auth/login", response_model=None)
    def login(body: Credentials) -> Any:
        token = logins.login(body.email, body.password)
        if token is None:
            return JSONResponse({"error": "Invalid email or password"}, status_code=401)
        return {"accessToken": token}

    # -- keys ------------------------------------------------------------------------------
    @app.post("/api/keys", status_code=201, response_model=None)
    def create_key(body: NewKey, request: Request) -> Any:
        user, problem = logins.user_for(request.headers.get("authorization"))
        if user is None:
            return JSONResponse({"error": problem}, status_code=401)
        unknown = [s for s in body.scopes if s not in SCOPES]
        if unknown or not body.scopes:
            errors = [f"Unknown scope {s!r}" for s in unknown] or ["At least one scope"]
            return JSONResponse({"errors": errors}, status_code=400)
        if not set(body.scopes) <= set(ROLE_SCOPES.get(user.role, ())):
            return JSONResponse({"error": "Insufficient permissions"}, status_code=403)
        if body.expiresInDays > secure_keys.MAX_LIFETIME_DAYS:
            limit = f"expiresInDays: at most {secure_keys.MAX_LIFETIME_DAYS}"
            return JSONResponse({"errors": [limit]}, status_code=400)
        key = parts["generate_key"]()
        scopes = tuple(dict.fromkeys(body.scopes))
        now = clock.now()
        record = table.add(user.email, body.name, parts["hash_key"](key), scopes, now,
                           now + body.expiresInDays * DAY)  # fmt: skip
        return {"id": record.id, "key": key, "scopes": list(scopes), "name": record.name,
                "expiresAt": _iso(record.expires_at)}  # fmt: skip

    @app.get("/api/keys", response_model=None)
    def list_keys(request: Request) -> Any:
        user, problem = logins.user_for(request.headers.get("authorization"))
        if user is None:
            return JSONResponse({"error": problem}, status_code=401)
        now = clock.now()
        return {"keys": [
            {"id": k.id, "name": k.name, "scopes": list(k.scopes), "createdAt": _iso(k.created_at),
             "expiresAt": _iso(k.expires_at), "revoked": k.revoked_at is not None,
             "expired": k.expires_at is not None and k.expires_at <= now}
            for k in table.by_owner(user.email)
        ]}  # fmt: skip

    @app.delete("/api/keys/{key_id}", status_code=204, response_model=None)
    def revoke_key(key_id: int, request: Request) -> Any:
        user, problem = logins.user_for(request.headers.get("authorization"))
        if user is None:
            return JSONResponse({"error": problem}, status_code=401)
        record = table.get(key_id)
        if record is None or (record.owner != user.email and user.role != "admin"):
            return JSONResponse({"error": "API key not found"}, status_code=404)
        table.revoke(key_id, clock.now())
        return Response(status_code=204)

    # -- the API the keys are for ----------------------------------------------------------
    add_report_routes(app, store, api_client, clock)

    # -- lab-only --------------------------------------------------------------------------
    @app.get("/api/_lab/dump", include_in_schema=False)
    def dump() -> dict[str, list[dict[str, Any]]]:
        return {"api_keys": [
            {"id": k.id, "owner": k.owner, "name": k.name, "key_hash": k.key_hash,
             "scopes": list(k.scopes), "created_at": k.created_at, "expires_at": k.expires_at,
             "revoked_at": k.revoked_at}
            for k in table.all()
        ]}  # fmt: skip

    @app.get("/api/_lab/access-log", include_in_schema=False)
    def read_access_log() -> dict[str, list[str]]:
        return {"lines": list(access_log)}

    @app.post("/api/_lab/partner-job", include_in_schema=False)
    def partner_job(request: Request) -> dict[str, Any]:
        host, port = request.scope["server"]
        url = f"http://{host}:{port}/api/v1/reports"
        key = seeded[PARTNER]
        # the partner followed the old docs ("?api_key="); the secure app's docs say header
        where = "header" if secure else "query"
        request_args: dict[str, Any] = (
            {"headers": {"X-API-Key": key}} if secure else {"params": {"api_key": key}}
        )
        with httpx.Client(trust_env=False, timeout=10) as partner:
            status = partner.get(url, **request_args).status_code
        return {"client": PARTNER, "status": status, "keyIn": where}

    @app.get("/api/_lab/old-config", include_in_schema=False)
    def old_config() -> dict[str, str]:
        stamp = _iso(clock.now() - 400 * DAY)
        content = (
            f"# nightly export, set up by a contractor on {stamp}\n"
            "REPORTS_API_URL=/api/v1/reports\n"
            f"REPORTS_API_KEY={seeded[LEGACY]}\n"
        )
        return {"path": "deploy/legacy-export.env", "content": content}

    @app.get("/api/_lab/clock", include_in_schema=False)
    def read_clock() -> dict[str, float]:
        return {"now": clock.now(), "offsetDays": clock.offset / DAY}

    @app.post("/api/_lab/clock", include_in_schema=False)
    def advance_clock(body: Advance) -> Any:
        return clock.advance(body)

    @app.post("/api/_lab/keys", include_in_schema=False)
    def lab_key(body: LabKey) -> dict[str, Any]:
        key = body.key or parts["generate_key"]()
        now = clock.now()
        record = table.add(body.owner, body.name, parts["hash_key"](key), tuple(body.scopes),
                           now, body.expiresAt)  # fmt: skip
        if body.revokedAt is not None:
            table.revoke(record.id, body.revokedAt)
        return {"id": record.id, "key": key}

    @app.get("/api/_lab/lookups", include_in_schema=False)
    def lookup_count() -> dict[str, int]:
        return {"lookups": lookups[0]}

    @app.get("/api/_lab/accounts", include_in_schema=False)
    def accounts() -> list[dict[str, str]]:
        return [{"email": u.email, "role": u.role, "password": u.password} for u in users.values()]

    return app
