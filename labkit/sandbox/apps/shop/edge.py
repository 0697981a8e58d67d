"""BrokenShop's edge: what every request meets around the shop's own code — HTTPS, CORS, the
request body's size — and the catalogue, whose reviews are the shop's free text.

Three rows of the seed's "Common Anti-Patterns Summary" live here:

- ``cors-wildcard`` (lab 10): ``cors({ origin: '*' })`` — the broken shop's CORS policy
  reflects any origin with credentials, so any page reads a visitor's account.
  Slot ``cors_settings(trusted_origins: list[str]) -> dict`` (10's: the keyword arguments
  of Starlette's ``CORSMiddleware``). The shop's web frontend is :data:`APP_ORIGIN`, the
  same origin 10 trusted, so 10's origin battery applies unchanged.
- ``no-https-redirect`` (lab 09): the plain-HTTP listener serves the whole shop, no HSTS.
  Slots ``effective_scheme(scheme, peer, forwarded_proto, trusted_proxies) -> str`` and
  ``security_headers(scheme) -> dict[str, str]`` (09's); the redirect decision is 09's:
  a request whose effective scheme is not ``https`` is sent, with 308, to the same path
  and query on the configured HTTPS origin. Several ``X-Forwarded-Proto`` header lines
  reach ``effective_scheme`` as one comma-separated value (RFC 9110 §5.3), in order.
- ``no-length-limits`` (lab 07): reviews of any size, of any shape, are stored.
  Slots ``validate_review(data) -> (clean_dict, None) | (None, errors)`` (07's
  ``validate_user`` shape) and ``body_too_large(content_length, received) -> bool`` (07's;
  it guards every request body of the shop, 413 ``{"error"}``).

Routes: ``GET /api/status`` (09's: public, ``{"ok", "connection"}``); ``GET /api/account``
(the logged-in customer: ``id``, ``email``, ``role``, ``address``) and
``PUT /api/account {address}``; ``GET /api/products``; ``GET /api/products/{product_id}``
(with its reviews); ``POST /api/reviews {productId, rating, text}`` (logged in) → 201, or
400 ``{"errors": ...}``. Lab-only: ``GET /api/_lab/victim`` (10's: the victim's login).
The lab-only routes stay outside the three policies, so a broken fix cannot hide the
evidence (as in 09).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labkit.patterns import cors as secure_cors
from labkit.patterns import transport as secure_transport
from labkit.patterns import validation as secure_validation
from labkit.sandbox.apps.cors import SLOTS as CORS_SLOTS
from labkit.sandbox.apps.cors import CorsPolicy
from labkit.sandbox.apps.encryption import SLOTS as ENCRYPTION_SLOTS
from labkit.sandbox.apps.injection import SLOTS as INJECTION_SLOTS
from labkit.sandbox.apps.shop.core import LAB_ROUTES, TRUSTED_PROXIES, Shop, connection
from labkit.sandbox.fixes import FixFault, FixSlot
from labkit.vulnerable import cors as weak_cors
from labkit.vulnerable import shop_edge as weak_edge
from labkit.vulnerable import validation as weak_validation

__all__ = [
    "APP_ORIGIN",
    "MAX_REVIEW_CHARS",
    "SECURE",
    "SLOTS",
    "VULNERABLE",
    "Review",
    "install",
    "validate_review",
]

#: The shop's web frontend: the one origin its API trusts (10's ``https://app.example.com``).
APP_ORIGIN = secure_cors.APP_ORIGIN
MAX_REVIEW_CHARS = 2000
MAX_ADDRESS_CHARS = 200

SLOTS: dict[str, FixSlot] = {  # the earlier labs' own slots: learners bring their functions
    "cors_settings": CORS_SLOTS["cors_settings"],
    "effective_scheme": ENCRYPTION_SLOTS["effective_scheme"],
    "security_headers": ENCRYPTION_SLOTS["security_headers"],
    "validate_review": FixSlot(
        "validate_review", tuple, "validate_review(data) -> (clean_dict, None) | (None, errors)"
    ),
    "body_too_large": INJECTION_SLOTS["body_too_large"],
}


class Review(BaseModel):
    """The body of ``POST /api/reviews`` (the reference schema): strict types, a bounded
    text (trimmed before its length is checked), a rating from 1 to 5, no other field."""

    model_config = ConfigDict(extra="forbid", strict=True)

    productId: Annotated[int, Field(ge=1)]
    rating: Annotated[int, Field(ge=1, le=5)]
    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REVIEW_CHARS)
    ]


def validate_review(data: Any) -> tuple[dict[str, Any], None] | tuple[None, dict[str, Any]]:
    """Validate a ``POST /api/reviews`` body against :class:`Review` (zod-style errors)."""
    return secure_validation.safe_parse(Review, data)


SECURE: dict[str, Any] = {
    "cors_settings": secure_cors.cors_settings,
    "effective_scheme": secure_transport.effective_scheme,
    "security_headers": secure_transport.security_headers,
    "validate_review": validate_review,
    "body_too_large": secure_validation.body_too_large,
}
VULNERABLE: dict[str, Any] = {
    "cors_settings": lambda trusted: weak_cors.reflect_any_origin_settings(),
    "effective_scheme": weak_edge.assume_https,
    "security_headers": weak_edge.no_security_headers,
    "validate_review": weak_validation.validate_user,  # "accept the body as it is"
    "body_too_large": weak_validation.body_too_large,
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    rating INTEGER,
    text TEXT
);
CREATE TABLE IF NOT EXISTS addresses (
    user_id INTEGER PRIMARY KEY,
    address TEXT NOT NULL
);
"""

PRODUCTS = (
    ("Trail tent (2 people)", 18900, "Three seasons, 2.1 kg, pitches in five minutes."),
    ("Stunt kite", 4500, "Dual-line, ripstop nylon, for winds of 10 to 40 km/h."),
    ("The bee-keeper's handbook", 2400, "Everything about bees, from the first hive on."),
    ("Enamel camping mug", 1200, "350 ml, survives the campfire and the dishwasher."),
)
ADDRESSES = {
    "alice@example.com": "1 Admin Way, 10115 Berlin",
    "bob@example.com": "22 Editor Street, 75002 Paris",
    "carol@example.com": "3 Viewer Lane, 1010 Wien",
}


class AddressChange(BaseModel):
    address: str = Field(min_length=1, max_length=MAX_ADDRESS_CHARS)


def _fault(exc: FixFault) -> JSONResponse:
    return JSONResponse(
        {"error": "Internal server error", "labkitFault": str(exc)}, status_code=500
    )


def _errors(field: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": {"formErrors": [], "fieldErrors": {field: [message]}}}, status_code=400
    )


def _is_lab(scope: Scope) -> bool:
    return scope["type"] != "http" or str(scope.get("path", "")).startswith(LAB_ROUTES)


# -- the three policies, as ASGI middleware (the lab's own routes are left alone) ---------
class HttpsPolicy:
    """09's HTTPS policy: redirect what did not arrive over HTTPS, add the security headers.

    The scheme comes from the learner's ``effective_scheme`` (the connection's own, from the
    listening port, and ``X-Forwarded-Proto`` from the client), the headers from
    ``security_headers``. The redirect goes to the configured HTTPS origin, never to one
    built from the request's ``Host``.
    """

    def __init__(self, app: ASGIApp, shop: Shop) -> None:
        self.app = app
        self.shop = shop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_lab(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        own_scheme, peer = connection(request, self.shop.state)
        parts = self.shop.parts
        try:
            scheme = await run_in_threadpool(
                parts["effective_scheme"],
                own_scheme,
                peer,
                ", ".join(request.headers.getlist("x-forwarded-proto")) or None,
                TRUSTED_PROXIES,
            )
            headers = await run_in_threadpool(parts["security_headers"], scheme)
            extra = [
                (str(name).lower().encode("latin-1"), str(value).encode("latin-1"))
                for name, value in headers.items()
            ]
        except FixFault as exc:
            await _fault(exc)(scope, receive, send)
            return
        except (UnicodeError, AttributeError) as exc:
            fault = FixFault(f"security_headers returned a header that cannot be sent: {exc}")
            await _fault(fault)(scope, receive, send)
            return
        if scheme != "https":
            main = self.shop.state.urls.get("main", "")
            origin = main if main.startswith("https://") else "https://127.0.0.1"
            query = scope.get("query_string", b"").decode("latin-1")
            target = secure_transport.https_redirect_url(origin, scope["path"], query)
            redirect = RedirectResponse(target, status_code=secure_transport.REDIRECT_STATUS)
            redirect.raw_headers.extend(extra)
            await redirect(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in extra:
                    out[name.decode("latin-1")] = value.decode("latin-1")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CorsGate:
    """10's CORS policy (``CORSMiddleware`` with the learner's settings, see
    :class:`labkit.sandbox.apps.cors.CorsPolicy`); settings that could not be made answer
    every request 500 with ``labkitFault``."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy) -> None:
        self.app = app
        self.policy = policy
        self.cors = None if policy.fault else CORSMiddleware(app, **policy.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_lab(scope):
            await self.app(scope, receive, send)
        elif self.cors is None:
            await _fault(FixFault(self.policy.fault))(scope, receive, send)
        else:
            await self.cors(scope, receive, send)


class BodyGate(secure_validation.BodySizeLimit):
    """07's body size limit (``BodySizeLimit`` with the learner's ``body_too_large``) on every
    route of the shop; a learner function failing on the declared length answers 500."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_lab(scope):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await super().__call__(scope, receive, tracked)
        except FixFault as exc:
            if started:
                raise
            await _fault(exc)(scope, receive, send)


#: The documented body of ``POST /api/reviews`` (the route reads it itself, so that the
#: validation is the learner's ``validate_review``, not FastAPI's).
_REVIEW_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "productId": {"type": "integer"},
                    "rating": {"type": "integer"},
                    "text": {"type": "string"},
                },
                "required": ["productId", "rating", "text"],
            }
        }
    },
}


# -- the routes ---------------------------------------------------------------------------
def _scalar(value: Any) -> Any:
    """What SQLite can bind: the broken shop stores whatever it was sent, as text if need be."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    return json.dumps(value, default=str)


def install(shop: Shop) -> None:
    """Seed the catalogue, add the routes and the three policies."""
    app, store, parts = shop.app, shop.store, shop.parts
    assert shop.current_user is not None, "the tokens part installs first"
    claims = Depends(shop.current_user)
    store.execute_script(_SCHEMA)
    with store.connect() as db:
        db.executemany(
            "INSERT INTO products (name, price_cents, description) VALUES (?, ?, ?)", PRODUCTS
        )
        for user in store.all_users():
            if user.email in ADDRESSES:
                db.execute(
                    "INSERT OR REPLACE INTO addresses (user_id, address) VALUES (?, ?)",
                    (user.id, ADDRESSES[user.email]),
                )
        bob = store.find_user("bob@example.com")
        if bob is not None:
            db.execute(
                "INSERT INTO reviews (product_id, user_id, rating, text) VALUES (1, ?, 5, ?)",
                (bob.id, "Survived a night of storm on the ridge. Worth every cent."),
            )

    # the policies: body size innermost, then CORS, then HTTPS (outermost: it runs first)
    policy = CorsPolicy(parts["cors_settings"])
    policy.update([APP_ORIGIN])
    app.add_middleware(BodyGate, too_large=parts["body_too_large"])
    app.add_exception_handler(secure_validation.BodyTooLarge, _too_large)
    app.add_middleware(CorsGate, policy=policy)
    app.add_middleware(HttpsPolicy, shop=shop)
    shop.lab_facts["allowed origins"] = APP_ORIGIN

    @app.get("/api/status")
    def status(request: Request) -> dict[str, Any]:
        """Public: is the shop up, and over which scheme did this request arrive."""
        return {"ok": True, "connection": connection(request, shop.state)[0]}

    # -- the account -------------------------------------------------------------------
    def account_of(user: dict[str, Any]) -> dict[str, Any] | None:
        with store.connect() as db:
            row = db.execute(
                "SELECT u.id, u.email, u.role, a.address FROM users u "
                "LEFT JOIN addresses a ON a.user_id = u.id WHERE u.id = ?",
                (_scalar(user.get("sub")),),
            ).fetchone()
        if row is None:
            return None
        return {"id": row["id"], "email": row["email"], "role": row["role"],
                "address": row["address"] or ""}  # fmt: skip

    @app.get("/api/account", response_model=None)
    def read_account(user: dict[str, Any] = claims) -> Any:
        """The logged-in customer's profile: email, role, saved delivery address."""
        account = account_of(user)
        if account is None:
            return JSONResponse({"error": "Invalid token"}, status_code=401)
        return account

    @app.put("/api/account", response_model=None)
    def update_account(body: AddressChange, user: dict[str, Any] = claims) -> Any:
        """Save a new delivery address."""
        account = account_of(user)
        if account is None:
            return JSONResponse({"error": "Invalid token"}, status_code=401)
        with store.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO addresses (user_id, address) VALUES (?, ?)",
                (account["id"], body.address),
            )
        return {**account, "address": body.address}

    # -- the catalogue -----------------------------------------------------------------
    def product(db: sqlite3.Connection, product_id: Any) -> dict[str, Any] | None:
        row = db.execute(
            "SELECT id, name, price_cents, description FROM products WHERE id = ?",
            (_scalar(product_id),),
        ).fetchone()
        if row is None:
            return None
        return {"id": row["id"], "name": row["name"], "priceCents": row["price_cents"],
                "description": row["description"]}  # fmt: skip

    @app.get("/api/products")
    def list_products() -> list[dict[str, Any]]:
        """The catalogue."""
        with store.connect() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM products ORDER BY id")]
            return [p for i in ids if (p := product(db, i)) is not None]

    @app.get("/api/products/{product_id}", response_model=None)
    def show_product(product_id: int) -> Any:
        """One product, with its reviews."""
        with store.connect() as db:
            found = product(db, product_id)
            if found is None:
                return JSONResponse({"error": "Product not found"}, status_code=404)
            rows = db.execute(
                "SELECT r.id, r.rating, r.text, u.email FROM reviews r "
                "LEFT JOIN users u ON u.id = r.user_id WHERE r.product_id = ? ORDER BY r.id",
                (product_id,),
            ).fetchall()
        reviews = [
            {"id": r["id"], "rating": r["rating"], "text": r["text"], "author": r["email"]}
            for r in rows
        ]
        return {**found, "reviews": reviews}

    @app.post(
        "/api/reviews",
        status_code=201,
        response_model=None,
        openapi_extra={"requestBody": _REVIEW_BODY},
    )
    async def post_review(request: Request, user: dict[str, Any] = claims) -> Any:
        """Review a product: ``{productId, rating (1-5), text}``."""
        try:
            data = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return JSONResponse(
                {"errors": {"formErrors": ["Malformed JSON body"], "fieldErrors": {}}},
                status_code=400,
            )
        return await run_in_threadpool(add_review, data, user)

    def add_review(data: Any, user: dict[str, Any]) -> Any:
        outcome = parts["validate_review"](data)
        if len(outcome) != 2:
            raise FixFault(
                "validate_review must return a pair: (clean_dict, None) or (None, errors)"
            )
        clean, errors = outcome
        if errors:  # whatever shape the learner chose, as JSON
            body = json.loads(json.dumps({"errors": errors}, default=str))
            return JSONResponse(body, status_code=400)
        if isinstance(clean, BaseModel):
            clean = clean.model_dump()
        if not isinstance(clean, Mapping):
            raise FixFault(f"validate_review returned {type(clean).__name__} as clean data")
        with store.connect() as db:
            if product(db, clean.get("productId")) is None:
                return _errors("productId", "No such product")
            cursor = db.execute(
                "INSERT INTO reviews (product_id, user_id, rating, text) VALUES (?, ?, ?, ?)",
                (
                    _scalar(clean.get("productId")),
                    _scalar(user.get("sub")),
                    _scalar(clean.get("rating")),
                    _scalar(clean.get("text")),
                ),
            )
            review_id = int(cursor.lastrowid or 0)
        return JSONResponse(
            {
                "id": review_id,
                "productId": clean.get("productId"),
                "rating": clean.get("rating"),
                "text": clean.get("text"),
                "author": user.get("email"),
            },
            status_code=201,
        )

    # -- lab-only ----------------------------------------------------------------------
    @app.get("/api/_lab/victim", include_in_schema=False)
    def victim() -> dict[str, str]:
        """10's victim: the login alice types into her own browser."""
        alice = shop.state.users["alice@example.com"]
        return {"email": alice.email, "password": alice.password}


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    # Connection: close — the rest of an unread body must not be taken for the next request
    return JSONResponse(
        {"error": "Request body too large"}, status_code=413, headers={"Connection": "close"}
    )
