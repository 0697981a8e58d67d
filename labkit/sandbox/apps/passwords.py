"""01-passwords: a shop that moved from MD5 to bcrypt badly.

Routes (CURRICULUM): ``POST /api/auth/register {email,password}`` → 201 / 400 ``{"errors"}``;
``POST /api/auth/login {email,password}`` → 200 / 401 ``{"error"}``.
Lab-only (what a breach or an old system would expose): ``GET /api/_lab/dump`` (the users
table), ``GET /api/_lab/candidates`` (emails from a leaked mailing list, some of them
customers), ``POST /api/_lab/legacy-user`` (an account from before the migration, or one hashed with
weaker argon2id settings), ``GET /api/_lab/login-costs`` (the server's CPU and wall time of
each recent call of ``login``: a timing probe that a busy machine cannot blur).

Replaceable parts: ``hash_password``, ``verify_password``, ``needs_rehash``,
``validate_password`` and ``login(email, password, find_user) -> (status, body)``.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from functools import partial
from typing import Any, Literal

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from labkit.patterns import passwords as secure_passwords
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.fixes import FixSlot, plug_fixes
from labkit.sandbox.store import LabStore, UserRecord
from labkit.vulnerable import passwords as weak_passwords
from labkit.wordlists import seed_passwords

__all__ = ["SLOTS", "create_app"]

CUSTOMERS = (
    "amara",
    "bruno",
    "chen",
    "dilnoza",
    "emeka",
    "fatima",
    "gustav",
    "hana",
    "ines",
    "jonas",
    "kofi",
    "lena",
    "mateo",
    "nadia",
    "oskar",
    "priya",
    "quentin",
    "rosa",
    "sami",
    "tomas",
)
DECOYS = (
    "ava",
    "ben",
    "clara",
    "dev",
    "elif",
    "farid",
    "greta",
    "hugo",
    "ivy",
    "jun",
    "kai",
    "lucia",
    "milo",
    "noor",
    "omar",
    "pia",
    "raj",
    "sofia",
    "theo",
    "uma",
)
CUSTOMER_DOMAIN = "shop.example"
LEAKED_PASSWORD_POOL = 2000  # customers pick from the 2,000 most common passwords
#: argon2id below every OWASP setting: an account stored before the parameters were raised.
WEAK_ARGON2 = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
LOGIN_COSTS_KEPT = 256

SLOTS = {
    "hash_password": FixSlot("hash_password", str, "hash_password(password: str) -> str"),
    "verify_password": FixSlot(
        "verify_password", bool, "verify_password(password: str, stored: str) -> bool"
    ),
    "needs_rehash": FixSlot("needs_rehash", bool, "needs_rehash(stored: str) -> bool"),
    "validate_password": FixSlot(
        "validate_password", (list, tuple), "validate_password(password: str) -> list[str]"
    ),
    "login": FixSlot(
        "login", (tuple, list), "login(email: str, password: str, find_user) -> tuple[int, dict]"
    ),
}


class Credentials(BaseModel):
    email: str
    password: str


class LegacyAccount(Credentials):
    scheme: Literal["md5", "sha256", "argon2id-weak"] = "md5"


def _secure_login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
    user = secure_passwords.authenticate(email, password, find_user)
    if user is None:
        return 401, {"error": "Invalid email or password"}
    return 200, {"email": user.email, "role": user.role}


def _parts(secure: bool, fixes: dict[str, Any]) -> dict[str, Any]:
    if secure:
        defaults: dict[str, Any] = {
            "hash_password": secure_passwords.hash_password,
            "verify_password": secure_passwords.verify_password,
            "needs_rehash": secure_passwords.needs_rehash,
            "validate_password": secure_passwords.validate_password,
            "login": _secure_login,
        }
    else:
        defaults = {
            "hash_password": weak_passwords.hash_password,
            "verify_password": weak_passwords.verify_password,
            "needs_rehash": lambda stored: False,
            "validate_password": weak_passwords.validate_password,
        }
    parts = plug_fixes(SLOTS, defaults, fixes)
    if "login" not in parts:  # the enumerating login, checking hashes with the chosen verifier
        parts["login"] = partial(weak_passwords.login, verify=parts["verify_password"])
    return parts


def _seed(store: LabStore, secure: bool) -> tuple[Any, list[str]]:
    """Staff with random passwords, customers with common ones; returns (users, candidates).

    The vulnerable shop still stores every account as unsalted MD5 or SHA-256 (its
    pre-migration legacy); the secure shop stores argon2id.
    """
    rng = secrets.SystemRandom()
    legacy = (weak_passwords.hash_password_md5, weak_passwords.hash_password_sha256)
    users = store.seed_staff(
        secure_passwords.hash_password if secure else weak_passwords.hash_password_md5
    )
    pool = seed_passwords(LEAKED_PASSWORD_POOL)
    chosen = rng.sample(pool, len(CUSTOMERS) - 2)
    chosen += rng.sample(chosen, 2)  # two customers share a password with someone else
    rng.shuffle(chosen)
    for index, (name, password) in enumerate(zip(CUSTOMERS, chosen, strict=True)):
        hasher = secure_passwords.hash_password if secure else legacy[index % 2]
        store.add_user(f"{name}@{CUSTOMER_DOMAIN}", "customer", hasher(password))
    picked = rng.sample(CUSTOMERS, 8)
    candidates = [f"{n}@{CUSTOMER_DOMAIN}" for n in picked + list(rng.sample(DECOYS, 12))]
    rng.shuffle(candidates)
    return users, candidates


def add_breach_routes(app: FastAPI, store: LabStore) -> None:
    """01's lab-only routes: ``GET /api/_lab/dump`` (the users table, as a breach shows it)
    and ``POST /api/_lab/legacy-user {email, password, scheme}`` (an account from before the
    migration, stored as unsalted MD5 or SHA-256, or as argon2id below OWASP's settings)."""

    @app.get("/api/_lab/dump", include_in_schema=False)
    def dump() -> dict[str, list[dict[str, Any]]]:
        return {"users": [_public(u) for u in store.all_users()]}

    @app.post("/api/_lab/legacy-user", status_code=201, include_in_schema=False)
    def legacy_user(body: LegacyAccount) -> Any:
        if store.find_user(body.email) is not None:
            return JSONResponse({"errors": ["Email already registered"]}, status_code=400)
        hasher = {
            "md5": weak_passwords.hash_password_md5,
            "sha256": weak_passwords.hash_password_sha256,
            "argon2id-weak": WEAK_ARGON2.hash,
        }[body.scheme]
        store.add_user(body.email, "customer", hasher(body.password))
        return {"email": body.email, "scheme": body.scheme}


def create_app(secure: bool = False, **fixes: Any) -> Any:
    """The 01-passwords shop; ``secure=True`` is the reference, keyword fixes plug in yours."""
    parts = _parts(secure, fixes)
    store = LabStore("01-passwords")
    users, candidates = _seed(store, secure)
    state = LabState(secure=secure, users=users, store=store)
    app = new_lab_app("01-passwords", secure=secure, state=state)

    @app.post("/api/auth/register", status_code=201, response_model=None)
    def register(body: Credentials) -> Any:
        errors = [str(e) for e in parts["validate_password"](body.password)]
        if store.find_user(body.email) is not None:
            errors.append("Email already registered")
        if errors:
            return JSONResponse({"errors": errors}, status_code=400)
        store.add_user(body.email, "customer", parts["hash_password"](body.password))
        return {"email": body.email}

    costs: deque[dict[str, Any]] = deque(maxlen=LOGIN_COSTS_KEPT)

    @app.post("/api/auth/login", response_model=None)
    def login(body: Credentials) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        status, payload = parts["login"](body.email, body.password, store.find_user)
        costs.append(
            {
                "email": body.email,
                "cpuMs": (time.process_time() - cpu) * 1000,
                "wallMs": (time.perf_counter() - wall) * 1000,
            }
        )
        if status == 200:
            user = store.find_user(body.email)
            if user is not None and parts["needs_rehash"](user.password_hash):
                store.set_password_hash(user.email, parts["hash_password"](body.password))
        return JSONResponse(payload, status_code=int(status))

    @app.get("/api/_lab/login-costs", include_in_schema=False)
    def login_costs() -> list[dict[str, Any]]:
        """What each recent ``login`` call cost the server: CPU time of the whole process
        (hash work, whichever thread does it) and wall time, oldest first."""
        return list(costs)

    @app.get("/api/_lab/candidates", include_in_schema=False)
    def mailing_list() -> list[str]:
        return candidates

    add_breach_routes(app, store)

    return app


def _public(user: UserRecord) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "password_hash": user.password_hash,
    }
