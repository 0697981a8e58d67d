"""07-injection: a members directory on a real SQLite database.

Routes (CURRICULUM): ``POST /api/users {email,name,age?}`` → 201 the stored user / 400
``{"errors": {"formErrors", "fieldErrors"}}`` / 409 ``{"error"}`` / 413 ``{"error"}``;
``GET /api/users?email=...`` → ``{"users": [...]}``; ``POST /api/auth/login
{email,password}`` → ``{"accessToken"}`` / 401 ``{"error": "Invalid email or password"}``;
``GET /api/auth/me`` (Bearer) → who the token belongs to.
Lab-only: ``GET /api/_lab/dump`` (the users table, hashes included, as a breach would expose
it; names cut to 200 characters with their full ``nameLength``) and ``GET /api/_lab/accounts``
(the seeded logins, which their owners know), ``POST /api/_lab/members {"users": [{email,
name, age?}]}`` (stores members directly, parameterized, whatever their characters: the
checks seed look-ups with it without going through the learner's code).

The vulnerable app returns SQLite's own error message in a 500 (``{"error": "Database
error", "detail": ...}``): deterministic, so outside scanners such as sqlmap see a stable
target. No rate limit anywhere, on purpose: this app is a target.

Replaceable parts: ``find_users(db, email)``, ``create_user(db, user)``,
``find_login(db, email, password)`` (each gets a :class:`sqlite3.Connection` that knows the
SQL function ``password_matches(password, password_hash)``), ``validate_user(data)`` →
``(clean, None)`` or ``(None, errors)``, and ``body_too_large(content_length, received)``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from labkit.patterns import passwords as secure_passwords
from labkit.patterns import validation as safe
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.bearer import BearerAuth
from labkit.sandbox.fixes import FixFault, FixSlot, plug_fixes
from labkit.sandbox.sqlite_guard import SqlLimit
from labkit.sandbox.store import LabStore
from labkit.vulnerable import validation as weak

__all__ = ["MEMBERS", "PUBLIC_COLUMNS", "SLOTS", "STAFF_PROFILES", "create_app"]

PUBLIC_COLUMNS = safe.PUBLIC_COLUMNS
DUMP_NAME_CHARS = 200

SLOTS = {
    "find_users": FixSlot("find_users", list, "find_users(db, email: str) -> list[rows]"),
    "create_user": FixSlot("create_user", int, "create_user(db, user: dict) -> int (new id)"),
    "find_login": FixSlot(
        "find_login", list, "find_login(db, email: str, password: str) -> list[rows]"
    ),
    "validate_user": FixSlot(
        "validate_user", tuple, "validate_user(data) -> (clean_dict, None) | (None, errors)"
    ),
    "body_too_large": FixSlot(
        "body_too_large", bool, "body_too_large(content_length: int | None, received: int) -> bool"
    ),
}

#: Name and age of the seeded staff (alice is user 1: the first row of the table).
STAFF_PROFILES = {
    "alice@example.com": ("Alice Martin", 34),
    "bob@example.com": ("Bob Okafor", 41),
    "carol@example.com": ("Carol Nguyen", 29),
}
#: Members who signed up (no password: they cannot log in). Apostrophes are legitimate.
MEMBERS = (
    ("siobhan.obrien@example.com", "Siobhan O'Brien", 38),
    ("o'neill@example.com", "Liam O'Neill", 27),
    ("dana@example.com", "Dana Whitfield", None),
)

_BY_ID = "SELECT id, email, name, age, role FROM users WHERE id = ?"
_SCHEMA = (
    "ALTER TABLE users ADD COLUMN name TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE users ADD COLUMN age INTEGER",
)


class Credentials(BaseModel):
    email: str = Field(max_length=255)
    password: str = Field(max_length=1024)


class Member(BaseModel):
    email: str = Field(max_length=255)
    name: str = Field(max_length=200)
    age: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)  # SQLite's INTEGER


class Members(BaseModel):
    users: list[Member] = Field(max_length=50)


def _password_matches(password: Any, stored: Any) -> int:
    """SQL function ``password_matches(password, password_hash)``: 1 for a match, else 0."""
    if not isinstance(stored, str) or not stored.startswith("$argon2"):
        return 0  # members have no password ('')
    return int(secure_passwords.verify_password(str(password), stored))


def _set_profiles(store: LabStore, profiles: Mapping[str, tuple[str, int | None]]) -> None:
    with store.connect() as db:
        for email, (name, age) in profiles.items():
            db.execute("UPDATE users SET name = ?, age = ? WHERE email = ?", (name, age, email))


def _add_members(store: LabStore, members: list[tuple[str, str, int | None]]) -> list[int]:
    """Store members the way the staff are stored (an account, then its profile): viewers
    without a password. Not through ``create_user``, whose reference is 07's answer."""
    ids = [store.add_user(email, "viewer", "").id for email, _, _ in members]
    _set_profiles(store, {email: (name, age) for email, name, age in members})
    return ids


def _seed(store: LabStore) -> Any:
    with store.connect() as db:
        for statement in _SCHEMA:
            db.execute(statement)
    users = store.seed_staff(secure_passwords.hash_password)
    _set_profiles(store, STAFF_PROFILES)
    _add_members(store, list(MEMBERS))
    return users


def _row_dict(row: Any, slot: str) -> dict[str, Any]:
    if isinstance(row, sqlite3.Row):
        return {key: row[key] for key in row.keys()}  # noqa: SIM118 (a Row is no dict)
    if isinstance(row, Mapping):
        return dict(row)
    raise FixFault(f"{slot} returned a {type(row).__name__} in its list; expected sqlite3.Row")


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in PUBLIC_COLUMNS if key in row}


def _parse_errors(message: str) -> dict[str, Any]:
    return {"formErrors": [message], "fieldErrors": {}}


def create_app(secure: bool = False, **fixes: Any) -> Any:
    """The 07-injection directory; ``secure=True`` is the reference, keyword fixes plug in yours."""
    defaults = {
        "find_users": weak.find_users,
        "create_user": weak.create_user,
        "find_login": weak.find_login,
        "validate_user": weak.validate_user,
        "body_too_large": weak.body_too_large,
    }
    if secure:
        defaults = {name: getattr(safe, name) for name in defaults}
    parts = plug_fixes(SLOTS, defaults, fixes)

    store = LabStore("07-injection")
    users = _seed(store)
    state = LabState(secure=secure, users=users, store=store)
    state.on_started.append(
        lambda urls: state.extras.update(
            scanner=f"sqlmap -u '{urls['main']}/api/users?email=x' --batch --dbms=sqlite"
        )
    )
    app = new_lab_app("07-injection", secure=secure, state=state)
    auth = BearerAuth.for_store(store)
    auth.install(app)
    safe.install_body_limit(app, parts["body_too_large"])
    dummy = secure_passwords.dummy_hash()

    @contextmanager
    def database() -> Iterator[sqlite3.Connection]:
        # any_thread: a learner's query function runs in a guard thread (see
        # labkit.sandbox.fixes) while the request thread waits for it: one user at a time.
        # The store's guard bounds the learner's SQL in time, memory, rows and disk (#14).
        with store.connect(any_thread=True) as db:
            db.create_function("password_matches", 2, _password_matches)
            yield db

    def db_error(exc: sqlite3.Error) -> JSONResponse:
        body = {"error": "Internal server error"}
        if not secure:  # the vulnerable app prints SQLite's message, as many debug builds do
            body = {"error": "Database error", "detail": f"{type(exc).__name__}: {exc}"}
        if isinstance(exc, SqlLimit):  # a limit of the lab, not of the app: say it
            body["labkitNote"] = str(exc)
        return JSONResponse(body, status_code=500)

    def rows(slot: str, found: list[Any]) -> list[dict[str, Any]]:
        return [_row_dict(row, slot) for row in found]

    @app.get("/api/users", response_model=None)
    def lookup(email: str = Query(max_length=255) if secure else Query()) -> Any:
        try:
            with database() as db:
                found = rows("find_users", parts["find_users"](db, email))
        except sqlite3.Error as exc:
            return db_error(exc)
        return {"users": [_public(row) for row in found]}

    @app.post("/api/users", status_code=201, response_model=None)
    async def create(request: Request) -> Any:
        try:
            data = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return JSONResponse({"errors": _parse_errors("Malformed JSON body")}, status_code=400)
        return await run_in_threadpool(create_user, data)

    def create_user(data: Any) -> Any:
        outcome = parts["validate_user"](data)
        if len(outcome) != 2:
            raise FixFault("validate_user must return a pair: (clean_dict, None) or (None, errors)")
        clean, errors = outcome
        if errors:  # whatever shape the learner chose, as JSON (str() for the odd object)
            body = json.loads(json.dumps({"errors": errors}, default=str))
            return JSONResponse(body, status_code=400)
        if isinstance(clean, BaseModel):
            clean = clean.model_dump()
        if not isinstance(clean, Mapping):
            raise FixFault(f"validate_user returned {type(clean).__name__} as clean data")
        try:
            with database() as db:
                if parts["find_users"](db, clean.get("email")):
                    return JSONResponse({"error": "Email already registered"}, status_code=409)
                new_id = parts["create_user"](db, clean)
                stored = db.execute(_BY_ID, (new_id,)).fetchone()
        except sqlite3.Error as exc:
            return db_error(exc)
        if stored is None:
            return _public(dict(clean)) | {"id": new_id}
        return _public(_row_dict(stored, "create_user"))

    @app.post("/api/auth/login", response_model=None)
    def login(body: Credentials) -> Any:
        try:
            with database() as db:
                found = rows("find_login", parts["find_login"](db, body.email, body.password))
        except sqlite3.Error as exc:
            return db_error(exc)
        if not found:
            secure_passwords.verify_password(body.password, dummy)  # same cost as a wrong password
            return JSONResponse({"error": "Invalid email or password"}, status_code=401)
        user = found[0]
        pair = auth.service.issue_tokens(
            {
                "id": user.get("id"),
                "role": user.get("role"),
                "tokenVersion": user.get("token_version", 0),
            }
        )
        return {"accessToken": pair["accessToken"]}

    @app.get("/api/auth/me", response_model=None)
    def me(claims: dict[str, Any] = Depends(auth.current_user)) -> Any:  # noqa: B008
        with store.connect() as db:
            row = db.execute(_BY_ID, (claims["sub"],)).fetchone()
        if row is None:
            return JSONResponse({"error": "User not found"}, status_code=404)
        return _public(_row_dict(row, "me"))

    @app.get("/api/_lab/dump", include_in_schema=False)
    def dump() -> dict[str, list[dict[str, Any]]]:
        with store.connect() as db:
            table = db.execute("SELECT * FROM users ORDER BY id").fetchall()
        out = []
        for row in table:
            record = _row_dict(row, "dump")
            name = record.get("name")
            if isinstance(name, str):
                record["nameLength"] = len(name)
                record["name"] = name[:DUMP_NAME_CHARS]
            out.append(record)
        return {"users": out}

    @app.post("/api/_lab/members", include_in_schema=False)
    def add_members(body: Members) -> dict[str, list[int]]:
        members = [(member.email, member.name, member.age) for member in body.users]
        return {"ids": _add_members(store, members)}

    @app.get("/api/_lab/accounts", include_in_schema=False)
    def accounts() -> list[dict[str, str]]:
        return [{"email": u.email, "role": u.role, "password": u.password} for u in users.values()]

    return app
