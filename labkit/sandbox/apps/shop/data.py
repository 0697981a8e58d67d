"""BrokenShop's data: saved payment cards, the friend lookup and the partner API.

Three rows of the seed's "Common Anti-Patterns Summary" live here, each the subject of an
earlier lab whose plug-in functions (same names, same signatures) fix it:

- **Rolling your own crypto** (09-encryption). ``POST /api/cards {number, holder}`` saves a
  card for the logged-in user (201 ``{"id", "holder", "last4", "masked"}``, 400
  ``{"errors"}`` for a number that is not one); ``GET /api/cards`` → ``{"cards": [...]}``
  and ``GET /api/cards/{id}`` (owner only: 403/404) show it masked to its last four
  digits, which the shop decrypts to know. A stored card that is not authentic answers 409
  ``{"error": "Card failed integrity check"}`` (as 09 does). The number is encrypted with
  ``encrypt_record(plaintext, record_id, key_id, key)`` and read with
  ``decrypt_record(stored, record_id, keyring)``, ``record_id`` being ``"card:<id>"``;
  the broken shop uses a home-made SHA-256 stream cipher
  (:mod:`labkit.vulnerable.shop_data`). alice has a card on file.
- **Trusting user input** (07-injection). ``GET /api/users?email=`` (logged in: "send a
  gift card to a friend" finds the friend) → ``{"users": [{"id", "email", "name", "age",
  "role"}]}``, through ``find_users(db, email)``. As in 07, ``db`` is a
  :class:`sqlite3.Connection` on which ``users`` has 07's columns: the shop keeps names and
  ages in ``profiles`` and shows them through a temporary view ``users`` (users + profile).
  The broken shop pastes the email into the SQL and prints SQLite's error in a 500.
- **Same API key forever** (05-api-keys). 05's routes: ``POST /api/keys {"scopes",
  "name"?, "expiresInDays"?}`` (logged in; a role caps the scopes), ``GET /api/keys``,
  ``DELETE /api/keys/{id}``, and the partner API ``GET /api/v1/reports`` (scope
  ``reports:read``) / ``POST /api/v1/reports {"title"}`` (``reports:write``) with the key in
  ``X-API-Key`` (401 ``{"error": "API key required" | "Invalid API key"}``, 403
  ``{"error": "Insufficient permissions"}``), checked by
  ``authenticate(api_key, scope, find_key, now)``. Keys are generated and stored (SHA-256)
  the secure way in both shops: only ``authenticate`` is broken — it ignores expiry,
  revocation and scopes (:func:`labkit.vulnerable.apikeys.authenticate`).

Lab-only routes (``include_in_schema=False``): ``PUT /api/_lab/cards/{id}`` (overwrite a
stored card: an attacker with write access to the database), ``GET
/api/_lab/cards/keyring`` and ``POST /api/_lab/cards/rotate`` (the card keys),
``GET /api/_lab/old-config`` (a partner's year-old integration log, on a shared drive, with
its key in it) and ``GET/POST /api/_lab/clock`` (the API keys' clock; ``{"advanceDays": n}``
moves it forward) — the last two with 05's names, so 05's batteries replay unchanged.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from labkit.patterns import apikeys as secure_keys
from labkit.patterns import crypto as secure_crypto
from labkit.patterns import validation as safe
from labkit.sandbox.apps.apikeys import (
    DAY,
    KEYS_SCHEMA,
    READ,
    ROLE_SCOPES,
    SCOPES,
    Advance,
    KeyTable,
    LabClock,
    NewKey,
    SeededClient,
    add_report_routes,
)
from labkit.sandbox.apps.apikeys import SLOTS as APIKEY_SLOTS
from labkit.sandbox.apps.encryption import SLOTS as ENCRYPTION_SLOTS
from labkit.sandbox.apps.injection import PUBLIC_COLUMNS, STAFF_PROFILES
from labkit.sandbox.apps.injection import SLOTS as INJECTION_SLOTS
from labkit.sandbox.apps.shop.core import LAB_ROUTES, Shop
from labkit.sandbox.fixes import FixFault, FixSlot
from labkit.vulnerable import apikeys as weak_keys
from labkit.vulnerable import shop_data as weak_cards
from labkit.vulnerable import validation as weak_sql

__all__ = [
    "CARDS",
    "INTEGRITY_ERROR",
    "INTEGRITY_STATUS",
    "LEAKED_PARTNER",
    "SECURE",
    "SLOTS",
    "VULNERABLE",
    "install",
    "luhn_valid",
    "new_card_number",
]

CARDS = "/api/cards"
INTEGRITY_ERROR = "Card failed integrity check"
#: A stored card that is not authentic: 409 (as 09), not 5xx — a 5xx is a crash.
INTEGRITY_STATUS = 409
#: The partner whose key sits in last year's integration log (expired 35 days ago).
LEAKED_PARTNER = "acme-marketplace"
#: Machine clients that hold keys when the shop opens (05's dataclass: name, owner, scopes,
#: age in days, lifetime in days).
PARTNERS = (
    SeededClient("warehouse-sync", "alice@example.com", SCOPES, 20, 90),
    SeededClient("price-comparison", "carol@example.com", (READ,), 10, 90),
    SeededClient(LEAKED_PARTNER, "bob@example.com", SCOPES, 400, 365),
)
REPORTS = (
    "Sales by partner, Q1",
    "Returns by product line",
    "Top customers (confidential)",
    "Spring campaign mailing list (confidential)",
)

SLOTS: dict[str, FixSlot] = {
    "encrypt_record": ENCRYPTION_SLOTS["encrypt_record"],
    "decrypt_record": ENCRYPTION_SLOTS["decrypt_record"],
    "find_users": INJECTION_SLOTS["find_users"],
    "authenticate": APIKEY_SLOTS["authenticate"],
}
SECURE: dict[str, Any] = {
    "encrypt_record": secure_crypto.encrypt_record,
    "decrypt_record": secure_crypto.decrypt_record,
    "find_users": safe.find_users,
    "authenticate": secure_keys.authenticate,
}
VULNERABLE: dict[str, Any] = {
    "encrypt_record": weak_cards.encrypt_record,
    "decrypt_record": weak_cards.decrypt_record,
    "find_users": weak_sql.find_users,
    "authenticate": weak_keys.authenticate,
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL,
    holder TEXT NOT NULL,
    stored TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS profiles (
    user_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    age INTEGER
);
"""
#: What ``find_users`` sees as ``users``: 07's columns (the profile joined in).
_USERS_VIEW = (
    "CREATE TEMP VIEW users AS SELECT u.*, COALESCE(p.name, '') AS name, p.age AS age "
    "FROM main.users AS u LEFT JOIN main.profiles AS p ON p.user_id = u.id"
)
_SEPARATORS = re.compile(r"[ -]")


# -- card numbers ----------------------------------------------------------------------------
def luhn_valid(digits: str) -> bool:
    """True for a string of digits whose last one is its Luhn check digit (ISO/IEC 7812-1)."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def new_card_number(prefix: str = "4", length: int = 16) -> str:
    """A random card number with a valid Luhn check digit (a test card, nobody's money)."""
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


class NewCard(BaseModel):
    number: str = Field(min_length=12, max_length=23)
    holder: str = Field(min_length=1, max_length=100)


def _fault(exc: FixFault) -> JSONResponse:
    return JSONResponse(
        {"error": "Internal server error", "labkitFault": str(exc)}, status_code=500
    )


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


def install(shop: Shop) -> None:
    """Add the cards, the friend lookup and the partner API to the shop."""
    shop.store.execute_script(_SCHEMA + KEYS_SCHEMA)  # 05's keys and reports tables
    _install_cards(shop)
    _install_lookup(shop)
    _install_partner_api(shop)


# -- saved cards (homemade-crypto) -------------------------------------------------------------
class CardVault:
    """The cards table and its keys: every number goes through the two crypto slots."""

    def __init__(self, shop: Shop) -> None:
        self.store, self.parts = shop.store, shop.parts
        self.keyring = secure_crypto.Keyring.generate()
        self.lock = threading.Lock()
        #: Every number as it was saved (card id -> digits), for the keyed audit check only.
        self.saved: dict[int, str] = {}

    def seal(self, card_id: int, number: str) -> None:
        with self.lock:
            key_id = self.keyring.primary
            key = self.keyring.keys[key_id]
        stored = self.parts["encrypt_record"](number.encode(), f"card:{card_id}", key_id, key)
        try:
            text = json.dumps(dict(stored))
        except (TypeError, ValueError) as exc:
            raise FixFault(
                f"encrypt_record returned a dict that is not JSON ({exc}): store bytes as "
                "base64 text"
            ) from None
        self.put(card_id, text)

    def put(self, card_id: int, text: str) -> None:
        with self.store.connect() as db:
            db.execute("UPDATE cards SET stored = ? WHERE id = ?", (text, card_id))

    def add(self, owner_id: int, holder: str, number: str) -> int:
        with self.store.connect() as db:
            cursor = db.execute(
                "INSERT INTO cards (owner_id, holder) VALUES (?, ?)", (owner_id, holder)
            )
            card_id = int(cursor.lastrowid or 0)
        self.saved[card_id] = number
        self.seal(card_id, number)
        return card_id

    def rows(self, owner_id: int | None = None, card_id: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM cards", ()
        if card_id is not None:
            sql, args = sql + " WHERE id = ?", (card_id,)
        elif owner_id is not None:
            sql, args = sql + " WHERE owner_id = ?", (owner_id,)
        with self.store.connect() as db:
            return [dict(r) for r in db.execute(sql + " ORDER BY id", args).fetchall()]

    def view(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        """The card as its owner sees it (last four digits), or None if not authentic."""
        try:
            stored = json.loads(row["stored"])
        except ValueError:
            stored = {}
        with self.lock:
            keys = dict(self.keyring.keys)
        plaintext = self.parts["decrypt_record"](
            dict(stored) if isinstance(stored, dict) else {}, f"card:{row['id']}", keys
        )
        if plaintext is None:
            return None
        last4 = plaintext.decode("utf-8", "replace")[-4:]
        return {"id": row["id"], "holder": row["holder"], "last4": last4, "masked": f"•••• {last4}"}

    def keyring_view(self) -> dict[str, Any]:
        with self.lock:
            return {"primary": self.keyring.primary, "keyIds": sorted(self.keyring.keys)}


def _install_cards(shop: Shop) -> None:
    app, store = shop.app, shop.store
    assert shop.current_user is not None, "install tokens before data"
    claims = Depends(shop.current_user)
    vault = CardVault(shop)
    seeded: list[bool] = []
    seed_lock = threading.Lock()

    def seed() -> None:
        """alice's card, written with the shop's own encryption on first use (a learner's
        function must not run, and fail, while the shop is being built). One attempt."""
        with seed_lock:
            if seeded:
                return
            seeded.append(True)
            alice = store.find_user("alice@example.com")
            if alice is not None:
                vault.add(alice.id, STAFF_PROFILES["alice@example.com"][0], new_card_number())

    @app.middleware("http")
    async def seed_cards(request: Request, call_next: Callable[..., Any]) -> Response:
        path = request.scope["path"]
        if path.startswith(LAB_ROUTES):  # the breach shows alice's card too
            with contextlib.suppress(FixFault):  # a broken fix shows on the card routes
                await run_in_threadpool(seed)
        elif path.startswith(CARDS):
            try:
                await run_in_threadpool(seed)
            except FixFault as exc:
                return _fault(exc)
        return await call_next(request)

    @app.post(CARDS, status_code=201, response_model=None)
    def save_card(body: NewCard, user: dict[str, Any] = claims) -> Any:
        number = _SEPARATORS.sub("", body.number)
        if not (12 <= len(number) <= 19 and luhn_valid(number)):
            return JSONResponse(
                {"errors": ["number: not a valid card number (12-19 digits, Luhn check)"]},
                status_code=400,
            )
        card_id = vault.add(int(user["sub"]), body.holder, number)
        return {"id": card_id, "holder": body.holder, "last4": number[-4:],
                "masked": f"•••• {number[-4:]}"}  # fmt: skip

    @app.get(CARDS, response_model=None)
    def my_cards(user: dict[str, Any] = claims) -> Any:
        cards = []
        for row in vault.rows(owner_id=int(user["sub"])):
            shown = vault.view(row)
            cards.append(shown or {"id": row["id"], "holder": row["holder"],
                                   "error": INTEGRITY_ERROR})  # fmt: skip
        return {"cards": cards}

    @app.get(CARDS + "/{card_id}", response_model=None)
    def one_card(card_id: int, user: dict[str, Any] = claims) -> Any:
        rows = vault.rows(card_id=card_id)
        if not rows:
            return JSONResponse({"error": "Card not found"}, status_code=404)
        if str(rows[0]["owner_id"]) != str(user["sub"]):
            return JSONResponse({"error": "Insufficient permissions"}, status_code=403)
        shown = vault.view(rows[0])
        if shown is None:
            return JSONResponse({"error": INTEGRITY_ERROR}, status_code=INTEGRITY_STATUS)
        return shown

    @app.put("/api/_lab/cards/{card_id}", include_in_schema=False, response_model=None)
    def overwrite_card(card_id: int, stored: dict[str, Any]) -> Any:
        if not vault.rows(card_id=card_id):
            return JSONResponse({"error": "Card not found"}, status_code=404)
        vault.put(card_id, json.dumps(stored))
        return {"id": card_id, "stored": stored}

    @app.get("/api/_lab/cards/numbers", include_in_schema=False)
    def card_numbers() -> list[dict[str, Any]]:
        """Every saved number in clear, with its owner: what the audit judges a recovered
        card against (closed to exploits in the audit's keyed shops)."""
        rows = {row["id"]: row for row in vault.rows()}
        return [{"id": i, "ownerId": rows[i]["owner_id"], "number": n}
                for i, n in sorted(vault.saved.items()) if i in rows]  # fmt: skip

    @app.get("/api/_lab/cards/keyring", include_in_schema=False)
    def card_keyring() -> dict[str, Any]:
        return vault.keyring_view()

    @app.post("/api/_lab/cards/rotate", include_in_schema=False)
    def rotate_card_key() -> dict[str, Any]:
        with vault.lock:
            vault.keyring.rotate()
        return vault.keyring_view()


# -- the friend lookup (trusting-input) --------------------------------------------------------
def _row_dict(row: Any) -> dict[str, Any]:
    if isinstance(row, sqlite3.Row):
        return {key: row[key] for key in row.keys()}  # noqa: SIM118 (a Row is no dict)
    if isinstance(row, Mapping):
        return dict(row)
    raise FixFault(f"find_users returned a {type(row).__name__} in its list; expected rows")


def _install_lookup(shop: Shop) -> None:
    app, store = shop.app, shop.store
    assert shop.current_user is not None, "install tokens before data"
    claims = Depends(shop.current_user)
    rng = secrets.SystemRandom()
    with store.connect() as db:
        for email, (name, _) in STAFF_PROFILES.items():  # ages drawn afresh for every shop
            user = db.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
            if user is not None:
                db.execute(
                    "INSERT OR REPLACE INTO profiles (user_id, name, age) VALUES (?, ?, ?)",
                    (user["id"], name, rng.randint(21, 69)),
                )

    @contextmanager
    def database() -> Iterator[sqlite3.Connection]:
        # any_thread: a learner's function runs in a guard thread while the
        # request thread waits for it (one user at a time), as in 07; the store's guard bounds
        # the SQL in time, memory, rows and disk, and stops it at close (#14)
        with store.connect(any_thread=True) as db:
            db.execute(_USERS_VIEW)
            yield db

    @app.get("/api/users", response_model=None)
    def find_friend(email: str = Query(max_length=255), user: dict[str, Any] = claims) -> Any:
        try:
            with database() as db:
                found = [_row_dict(row) for row in shop.parts["find_users"](db, email)]
        except sqlite3.Error as exc:  # the broken shop prints SQLite's message (debug builds)
            return JSONResponse(shop.parts["database_error"](exc), status_code=500)
        shown = shop.parts["public_profile"]
        return {"users": [shown({k: row[k] for k in PUBLIC_COLUMNS if k in row}) for row in found]}


# -- the partner API (eternal-api-key) ---------------------------------------------------------
def _install_partner_api(shop: Shop) -> None:
    app, store, parts = shop.app, shop.store, shop.parts
    assert shop.current_user is not None, "install tokens before data"
    claims = Depends(shop.current_user)
    table, clock = KeyTable(store), LabClock()
    leaked: dict[str, str] = {}
    now = clock.now()
    for partner in PARTNERS:  # keys made and stored the right way: only the check is broken
        key = secure_keys.generate_api_key()
        created = now - partner.age_days * DAY
        table.add(partner.owner, partner.name, secure_keys.hash_api_key(key), partner.scopes,
                  created, created + partner.lifetime_days * DAY)  # fmt: skip
        if partner.name == LEAKED_PARTNER:
            leaked["key"], leaked["created"] = key, _iso(created) or ""
    with store.connect() as db:
        db.executemany(
            "INSERT INTO reports (title, created_by, created_at) VALUES (?, 'analytics', ?)",
            [(title, now) for title in REPORTS],
        )

    def find_key(api_key: str) -> secure_keys.ApiKey | None:
        if not isinstance(api_key, str) or not api_key:
            return None
        digest = secure_keys.hash_api_key(api_key)
        return secure_keys.match_digest(table.by_hash(digest), digest)

    def api_client(request: Request, scope: str) -> tuple[int, dict[str, Any]]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        api_key = secure_keys.read_api_key(headers, {})  # the header only (05's lesson)
        value = parts["authenticate"](api_key, scope, find_key, clock.now())
        if len(value) != 2 or not isinstance(value[0], int) or not isinstance(value[1], dict):
            raise FixFault("authenticate must return a tuple (status: int, body: dict)")
        return value[0], value[1]

    @app.post("/api/keys", status_code=201, response_model=None)
    def create_key(body: NewKey, user: dict[str, Any] = claims) -> Any:
        unknown = [s for s in body.scopes if s not in SCOPES]
        if unknown or not body.scopes:
            errors = [f"Unknown scope {s!r}" for s in unknown] or ["At least one scope"]
            return JSONResponse({"errors": errors}, status_code=400)
        if not set(body.scopes) <= set(ROLE_SCOPES.get(str(user.get("role")), ())):
            return JSONResponse({"error": "Insufficient permissions"}, status_code=403)
        if body.expiresInDays > secure_keys.MAX_LIFETIME_DAYS:
            limit = f"expiresInDays: at most {secure_keys.MAX_LIFETIME_DAYS}"
            return JSONResponse({"errors": [limit]}, status_code=400)
        key = secure_keys.generate_api_key()
        scopes = tuple(dict.fromkeys(body.scopes))
        created = clock.now()
        record = table.add(str(user["email"]), body.name, secure_keys.hash_api_key(key), scopes,
                           created, created + body.expiresInDays * DAY)  # fmt: skip
        return {"id": record.id, "key": key, "scopes": list(scopes), "name": record.name,
                "expiresAt": _iso(record.expires_at)}  # fmt: skip

    @app.get("/api/keys", response_model=None)
    def list_keys(user: dict[str, Any] = claims) -> Any:
        at = clock.now()
        return {"keys": [
            {"id": k.id, "name": k.name, "scopes": list(k.scopes), "createdAt": _iso(k.created_at),
             "expiresAt": _iso(k.expires_at), "revoked": k.revoked_at is not None,
             "expired": k.expires_at is not None and k.expires_at <= at}
            for k in table.by_owner(str(user["email"]))
        ]}  # fmt: skip

    @app.delete("/api/keys/{key_id}", status_code=204, response_model=None)
    def revoke_key(key_id: int, user: dict[str, Any] = claims) -> Any:
        record = table.get(key_id)
        if record is None or (record.owner != user.get("email") and user.get("role") != "admin"):
            return JSONResponse({"error": "API key not found"}, status_code=404)
        table.revoke(key_id, clock.now())
        return Response(status_code=204)

    add_report_routes(app, store, api_client, clock)  # 05's partner API, unchanged

    @app.get("/api/_lab/old-config", include_in_schema=False)
    def old_config() -> dict[str, str]:
        """A partner's integration log from last year, found on a shared drive."""
        stamp = leaked["created"]
        content = (
            f"# {LEAKED_PARTNER} ↔ BrokenShop integration, set up by a contractor\n"
            f"[{stamp}] INFO  sync: starting nightly export\n"
            f"[{stamp}] DEBUG config: REPORTS_API_URL=/api/v1/reports\n"
            f"[{stamp}] DEBUG config: REPORTS_API_KEY={leaked['key']}\n"
            f"[{stamp}] INFO  sync: GET /api/v1/reports -> 200 (4 reports)\n"
        )
        return {"path": f"shared/partners/{LEAKED_PARTNER}/integration.log", "content": content}

    @app.get("/api/_lab/clock", include_in_schema=False)
    def read_clock() -> dict[str, float]:
        return {"now": clock.now(), "offsetDays": clock.offset / DAY}

    @app.post("/api/_lab/clock", include_in_schema=False)
    def advance_clock(body: Advance) -> Any:
        return clock.advance(body)  # 05's bound: a 422 past 36,500 days in all (#14)
