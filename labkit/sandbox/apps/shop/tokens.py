"""BrokenShop's tokens and secrets: what a login answers, who a request is, who pays.

Three rows of the summary live here:

* **jwt-in-localstorage** — the vulnerable login answers ``{accessToken, refreshToken}``
  (the front end, ``/static/app.js``, keeps both in ``localStorage``) and
  ``POST /api/auth/refresh`` takes ``{"refreshToken"}`` from the JSON body. With
  ``refresh_cookie(token) -> str`` (02's slot) the body carries only ``accessToken``, the
  refresh token travels in that ``Set-Cookie``, and refresh reads only the cookie.
  Refresh tokens are single use in every mode (each refresh rotates).
* **symmetric-jwt** — a second service, ``shipping`` (``urls["shipping"]``), verifies the
  shop's access tokens (``GET /api/shipments``). Vulnerable: both hold one HS256 secret and
  shipping's ``GET /debug/config`` prints it; a token forged with it opens the shop's
  ``GET /api/admin/orders``. Fixed with 02's slots ``issue_tokens(user, keys)`` and
  ``verify_token(token, typ, keys)``, now given ES256 keys: the shop's ``keys`` hold
  ``access`` (P-256 private key), ``public``, ``refresh`` (32 bytes), ``issuer``,
  ``audience``, ``kid``; shipping calls the same ``verify_token`` with only ``public``,
  ``issuer``, ``audience``, ``kid``. The shop publishes ``GET /.well-known/jwks.json``.
* **hardcoded-secret** — ``POST /api/webhooks/payment`` (the provider's HMAC-SHA256 of the
  body in ``X-Signature: sha256=<hex>``) marks an order paid. Vulnerable: the secret is a
  literal in ``payments.py``, whose source is public (``/api/_lab/source``). Fixed with
  ``webhook_secret(env) -> str``: read ``PAYMENT_WEBHOOK_SECRET`` (the deployment holds a
  fresh, rotated value), refuse a missing or weak one.

Orders: ``POST /api/orders {item, quantity}``, ``GET /api/orders``, ``GET /api/orders/{id}``
(owner or admin), ``GET /api/admin/orders`` (admin). Lab-only: ``/api/_lab/source``,
``/api/_lab/vault`` (what the secrets manager holds), ``POST /api/_lab/provider/pay
{orderId}`` (the provider signs a genuine event), ``POST /api/_lab/boot {env}`` (would the
shop start with this environment?), ``/api/_lab/token-log`` (an expired admin token),
``POST /api/_lab/sign {claims, header}`` (a token signed with the shop's own access key:
another audience's or issuer's token).
The refresh cookie may have any name: the shop reads the one ``refresh_cookie`` sets.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from functools import partial
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from fastapi import Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from labkit.patterns import service_tokens, webhooks
from labkit.patterns import tokens as secure_tokens
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.apps.shop.core import Shop
from labkit.sandbox.apps.shop.source import source_files
from labkit.sandbox.fixes import FixFault, FixSlot
from labkit.sandbox.store import UserRecord
from labkit.vulnerable import shop_tokens as weak

__all__ = ["ADMIN_ORDERS", "ISSUER", "SLOTS", "WEBHOOK"]

ISSUER = "https://shop.labkit.example"
AUDIENCE = "https://api.shop.labkit.example"
LOGIN, REFRESH, WEBHOOK = "/api/auth/login", "/api/auth/refresh", "/api/webhooks/payment"
ADMIN_ORDERS = "/api/admin/orders"
PRICE_CENTS = 1999

SLOTS: dict[str, FixSlot] = {
    "refresh_cookie": FixSlot("refresh_cookie", str, "refresh_cookie(token: str) -> str"),
    "issue_tokens": FixSlot(
        "issue_tokens", dict, "issue_tokens(user: dict, keys: dict) -> {accessToken, refreshToken}"
    ),
    "verify_token": FixSlot(
        "verify_token",
        dict,
        "verify_token(token: str, typ: str, keys: dict) -> dict (claims); "
        "raise jwt.InvalidTokenError to reject",
        passes=(jwt.InvalidTokenError,),
    ),
    "webhook_secret": FixSlot(
        "webhook_secret", str, "webhook_secret(env: Mapping[str, str]) -> str"
    ),
}
SECURE: dict[str, Any] = {
    "refresh_cookie": secure_tokens.refresh_cookie,
    "issue_tokens": service_tokens.issue_tokens,
    "verify_token": service_tokens.verify_token,
    "webhook_secret": webhooks.webhook_secret,
}
#: No ``refresh_cookie``: the vulnerable shop hands the refresh token out in JSON.
VULNERABLE: dict[str, Any] = {
    "issue_tokens": weak.issue_tokens,
    "verify_token": weak.verify_token,
    "webhook_secret": weak.webhook_secret,
}

MEMORY_SCRIPT = """\
let accessToken = null;  // in memory only: gone with the tab, out of reach of storage reads
async function login(email, password) {
  const r = await fetch("/api/auth/login", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({email, password})});
  accessToken = (await r.json()).accessToken;  // the refresh token is an HttpOnly cookie
}
async function refresh() {
  const r = await fetch("/api/auth/refresh", {method: "POST", credentials: "same-origin"});
  accessToken = (await r.json()).accessToken;
}
"""

_ORDERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    item TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    total_cents INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
);
"""

_PAYMENTS_LEAKY = '''"""BrokenShop payments: the provider calls POST /api/webhooks/payment."""
import hashlib
import hmac

# from the payment provider's dashboard (live mode)
PAYMENT_WEBHOOK_SECRET = "{secret}"


def verify(body: bytes, signature: str) -> bool:
    mac = hmac.new(PAYMENT_WEBHOOK_SECRET.encode(), body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), signature)
'''
_PAYMENTS_CLEAN = '''"""BrokenShop payments: the provider calls POST /api/webhooks/payment."""
import hashlib
import hmac
import os

from shop.config import webhook_secret

# from the secrets manager, via the environment; the app refuses to start without it
PAYMENT_WEBHOOK_SECRET = webhook_secret(os.environ)


def verify(body: bytes, signature: str) -> bool:
    mac = hmac.new(PAYMENT_WEBHOOK_SECRET.encode(), body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), signature)
'''


class Unauthorized(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class RefreshBody(BaseModel):
    refreshToken: str | None = None


class NewOrder(BaseModel):
    item: str = Field(min_length=1, max_length=100)
    quantity: int = Field(default=1, ge=1, le=100)


class PayRequest(BaseModel):
    orderId: int


class SignRequest(BaseModel):
    claims: dict[str, Any]
    header: dict[str, Any] = Field(default_factory=dict)


class BootRequest(BaseModel):
    env: dict[str, str]


def _pem(public: Any) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class _Keys:
    """The shop's key material: one shared HS256 secret (vulnerable), or ES256 (fixed)."""

    def __init__(self, shop: Shop) -> None:
        self.asymmetric = shop.secure or bool({"issue_tokens", "verify_token"} & shop.fixed)
        if self.asymmetric:
            self.shop = service_tokens.generate_keys(issuer=ISSUER, audience=AUDIENCE)
            self.shipping = service_tokens.verifier_keys(self.shop)
            self.env = {"SHOP_ISSUER": ISSUER, "SHOP_JWKS_URL": "(starting)",
                        "SHOP_PUBLIC_KEY": _pem(self.shop["public"])}  # fmt: skip
        else:
            shared = secrets.token_urlsafe(32)
            self.shop = {"access": shared.encode(), "refresh": shared.encode(),
                         "issuer": ISSUER, "audience": AUDIENCE}  # fmt: skip
            self.shipping = self.shop  # the same secret: whoever verifies can sign
            self.env = {"SHOP_ISSUER": ISSUER, "SHOP_JWT_SECRET": shared}
        self.env.update({"CARRIER_API": "https://api.carrier.example/v2", "LOG_LEVEL": "debug"})

    def jwks(self) -> dict[str, Any]:
        return service_tokens.jwks(self.shop) if self.asymmetric else {"keys": []}

    def expired_admin(self, admin: UserRecord) -> str:
        """An admin access token two days old, signed with the shop's real key."""
        then = int(time.time()) - 2 * 24 * 3600
        claims = {"sub": str(admin.id), "email": admin.email, "role": admin.role,
                  "iat": then, "exp": then + 900}  # fmt: skip
        if not self.asymmetric:
            return jwt.encode({**claims, "typ": "access"}, self.shop["access"], "HS256")
        claims.update(ver=admin.token_version, iss=ISSUER, aud=AUDIENCE)
        headers = {"typ": secure_tokens.TOKEN_TYPES["access"], "kid": self.shop["kid"]}
        return jwt.encode(claims, self.shop["access"], "ES256", headers=headers)


def install(shop: Shop) -> None:
    """Tokens (login answer, refresh, who is calling), orders, the webhook, shipping."""
    app, store, parts = shop.app, shop.store, shop.parts
    store.execute_script(_ORDERS_SCHEMA)
    keys = _Keys(shop)
    used_refresh: set[str] = set()

    # -- tokens ---------------------------------------------------------------------------
    def verify(token: str, typ: str, key_set: dict[str, Any]) -> dict[str, Any]:
        try:
            claims = parts["verify_token"](token, typ, dict(key_set))
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token expired") from exc
        except jwt.InvalidTokenError as exc:  # the slot's contract: a rejection, not a fault
            raise Unauthorized("Invalid token") from exc
        if claims.get("sub") is None:
            raise Unauthorized("Invalid token")
        return dict(claims)

    def identity(claims: dict[str, Any]) -> dict[str, Any]:
        user = find_by_id(claims["sub"])
        email = claims.get("email") or (user.email if user else None)
        role = claims.get("role") or (user.role if user else None)
        return {**claims, "sub": str(claims["sub"]), "email": email, "role": role}

    def find_by_id(sub: Any) -> UserRecord | None:
        with store.connect() as db:
            row = db.execute("SELECT * FROM users WHERE id = ?", (str(sub),)).fetchone()
        return UserRecord(**dict(row)) if row else None

    def bearer(request: Request) -> str:
        try:
            return secure_tokens.bearer_token(request.headers.get("authorization"))
        except secure_tokens.TokenError as exc:
            raise Unauthorized(exc.body["error"]) from exc

    def issue(user: UserRecord, family: str | None = None) -> dict[str, str]:
        person = {"id": user.id, "email": user.email, "role": user.role,
                  "tokenVersion": user.token_version,
                  "family": family or secrets.token_urlsafe(16)}  # fmt: skip
        pair = parts["issue_tokens"](person, dict(keys.shop))
        if not all(isinstance(pair.get(k), str) for k in ("accessToken", "refreshToken")):
            raise FixFault("issue_tokens must return {'accessToken': str, 'refreshToken': str}")
        return pair

    def with_tokens(pair: dict[str, str]) -> JSONResponse:
        if not shop.uses("refresh_cookie"):  # the SPA stores both in localStorage
            return JSONResponse(pair)
        response = JSONResponse({"accessToken": pair["accessToken"]})
        response.headers.append("set-cookie", parts["refresh_cookie"](pair["refreshToken"]))
        return response

    def cookie_name() -> str:
        """The name of the learner's refresh cookie (any name: ``refreshToken``,
        ``__Secure-refresh``...), read from the ``Set-Cookie`` value it makes."""
        made = parts["refresh_cookie"]("probe")
        return made.split(";", 1)[0].partition("=")[0].strip()

    def login_response(user: UserRecord) -> JSONResponse:
        return with_tokens(issue(user))

    def current_user(request: Request) -> dict[str, Any]:
        return identity(verify(bearer(request), "access", keys.shop))

    async def on_unauthorized(request: Request, exc: Exception) -> JSONResponse:
        error = exc.error if isinstance(exc, Unauthorized) else "Invalid token"
        return JSONResponse({"error": error}, status_code=401)

    app.add_exception_handler(Unauthorized, on_unauthorized)
    shop.login_response = login_response
    shop.current_user = current_user
    user = Depends(current_user)

    @app.post(REFRESH, response_model=None)
    def refresh(request: Request, body: RefreshBody | None = None) -> Any:
        if shop.uses("refresh_cookie"):
            token = request.cookies.get(cookie_name())
        else:
            token = body.refreshToken if body else None
        if not token:
            raise Unauthorized("Missing token")
        claims = verify(token, "refresh", keys.shop)
        digest = hashlib.sha256(token.encode()).hexdigest()
        user = find_by_id(claims["sub"])
        if digest in used_refresh or user is None:
            raise Unauthorized("Invalid token")
        used_refresh.add(digest)  # single use: every refresh rotates
        family = claims.get("fam") if isinstance(claims.get("fam"), str) else None
        return with_tokens(issue(user, family))

    @app.get("/.well-known/jwks.json")
    def published_keys() -> dict[str, Any]:
        return keys.jwks()

    @app.get("/static/app.js", include_in_schema=False)
    def front_end() -> PlainTextResponse:
        script = MEMORY_SCRIPT if shop.uses("refresh_cookie") else weak.FRONTEND_SCRIPT
        return PlainTextResponse(script, media_type="text/javascript")

    @app.get("/api/_lab/token-log", include_in_schema=False)
    def token_log() -> list[dict[str, str]]:
        admin = next(u for u in store.all_users() if u.role == "admin")
        return [{"kind": "expired", "request": f"GET {ADMIN_ORDERS}",
                 "authorization": f"Bearer {keys.expired_admin(admin)}"}]  # fmt: skip

    @app.post("/api/_lab/sign", include_in_schema=False)
    def sign(body: SignRequest) -> dict[str, str]:
        """A token signed with the shop's own access key (ES256 once fixed): what another
        audience or issuer of the same key holder would receive (checks probe iss/aud)."""
        alg = "ES256" if keys.asymmetric else "HS256"
        header = {**body.header, "alg": alg}
        return {"token": jwt.encode(body.claims, keys.shop["access"], alg, headers=header)}

    _install_orders(shop, user)
    _install_payments(shop)
    shop.state.companions["shipping"] = _shipping_app(shop, keys, verify, identity)

    def started(urls: dict[str, str]) -> None:
        shop.state.extras["shipping"] = urls.get("shipping", "")
        if keys.asymmetric:
            keys.env["SHOP_JWKS_URL"] = f"{urls['main']}/.well-known/jwks.json"

    shop.state.on_started.append(started)


def _order(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "item": row["item"], "quantity": row["quantity"],
            "total": row["total_cents"] / 100, "status": row["status"]}  # fmt: skip


def _install_orders(shop: Shop, user: Any) -> None:
    app, store = shop.app, shop.store

    @app.post("/api/orders", status_code=201)
    def create_order(body: NewOrder, claims: dict[str, Any] = user) -> dict[str, Any]:
        with store.connect() as db:
            cursor = db.execute(
                "INSERT INTO orders (user_id, item, quantity, total_cents) VALUES (?, ?, ?, ?)",
                (claims["sub"], body.item, body.quantity, body.quantity * PRICE_CENTS),
            )
            row = db.execute("SELECT * FROM orders WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return _order(row)

    @app.get("/api/orders")
    def my_orders(claims: dict[str, Any] = user) -> list[dict[str, Any]]:
        with store.connect() as db:
            rows = db.execute("SELECT * FROM orders WHERE user_id = ?", (claims["sub"],))
            return [_order(r) for r in rows.fetchall()]

    @app.get("/api/orders/{order_id}", response_model=None)
    def one_order(order_id: int, claims: dict[str, Any] = user) -> Any:
        with store.connect() as db:
            row = db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is None or not shop.parts["can_read_order"](row["user_id"], claims):
            return JSONResponse({"error": "Order not found"}, status_code=404)
        return _order(row)

    @app.get(ADMIN_ORDERS, response_model=None)
    def all_orders(claims: dict[str, Any] = user) -> Any:
        if claims.get("role") != "admin":
            return JSONResponse({"error": "Insufficient permissions"}, status_code=403)
        with store.connect() as db:
            rows = db.execute("SELECT * FROM orders ORDER BY id").fetchall()
        return [{**_order(r), "userId": r["user_id"]} for r in rows]


def _install_payments(shop: Shop) -> None:
    app, store, parts = shop.app, shop.store, shop.parts
    literal = "whsec_" + secrets.token_urlsafe(24)  # in payments.py, and so in the public repo
    env = {webhooks.WEBHOOK_SECRET_ENV: "whsec_" + secrets.token_urlsafe(32), "APP_ENV": "prod"}
    rotated = shop.secure or "webhook_secret" in shop.fixed
    provider_secret = env[webhooks.WEBHOOK_SECRET_ENV] if rotated else literal
    loader = parts["webhook_secret"]
    if loader is weak.webhook_secret:
        loader = partial(weak.webhook_secret, hardcoded=literal)

    @app.post(WEBHOOK, response_model=None)
    async def payment_webhook(request: Request) -> Any:
        body = await request.body()
        signature = request.headers.get(webhooks.SIGNATURE_HEADER)
        if not signature:
            return JSONResponse({"error": "Missing signature"}, status_code=401)
        secret = await run_in_threadpool(loader, dict(env))
        if not webhooks.verify_webhook(body, signature, secret):
            return JSONResponse({"error": "Invalid signature"}, status_code=401)
        try:
            event = json.loads(body)
            order_id = int(event["orderId"])
        except (ValueError, TypeError, KeyError):
            return JSONResponse({"errors": ["expected {type, orderId}"]}, status_code=400)
        if event.get("type") != "payment.succeeded":
            return {"received": True}
        with store.connect() as db:
            db.execute("UPDATE orders SET status = 'paid' WHERE id = ?", (order_id,))
        return {"received": True, "orderId": order_id, "status": "paid"}

    @app.get("/api/_lab/source", include_in_schema=False)
    def source() -> dict[str, Any]:
        """The shop's repository, public by mistake: a slice of the code it runs."""
        leaky = _PAYMENTS_LEAKY.format(secret=literal)
        files = source_files(shop)
        if not rotated:
            return {"files": {**files, "shop/payments.py": leaky}, "history": []}
        old = {"commit": "3f9c2e1", "message": "Payments: provider webhook",
               "files": {"shop/payments.py": leaky}}  # fmt: skip
        return {"files": {**files, "shop/payments.py": _PAYMENTS_CLEAN}, "history": [old]}

    @app.get("/api/_lab/vault", include_in_schema=False)
    def vault() -> dict[str, str]:
        return {webhooks.WEBHOOK_SECRET_ENV: env[webhooks.WEBHOOK_SECRET_ENV]}

    @app.post("/api/_lab/provider/pay", include_in_schema=False, response_model=None)
    def provider_pay(body: PayRequest) -> Any:
        with store.connect() as db:
            row = db.execute("SELECT * FROM orders WHERE id = ?", (body.orderId,)).fetchone()
        if row is None:
            return JSONResponse({"error": "Order not found"}, status_code=404)
        event = {"id": "evt_" + secrets.token_hex(8), "type": "payment.succeeded",
                 "orderId": row["id"], "amount": row["total_cents"]}  # fmt: skip
        raw = json.dumps(event)
        return {"body": raw, "signature": webhooks.sign_webhook(raw.encode(), provider_secret)}

    @app.post("/api/_lab/boot", include_in_schema=False)
    def boot(body: BootRequest) -> dict[str, Any]:
        try:  # only the loader runs: what it accepts here, the shop would start with
            loader(dict(body.env))
        except Exception as exc:  # the point: does it refuse, and what does it say?
            message = str(exc) if isinstance(exc, FixFault) else f"{type(exc).__name__}: {exc}"
            return {"started": False, "error": message}
        return {"started": True, "error": ""}


def _shipping_app(shop: Shop, keys: _Keys, verify: Any, identity: Any) -> Any:
    """The shipping service: verifies the shop's access tokens with what it holds."""
    app = new_lab_app("BrokenShop shipping", secure=shop.secure, state=LabState(shop.secure))
    store = shop.store

    async def on_unauthorized(request: Request, exc: Exception) -> JSONResponse:
        error = exc.error if isinstance(exc, Unauthorized) else "Invalid token"
        return JSONResponse({"error": error}, status_code=401)

    app.add_exception_handler(Unauthorized, on_unauthorized)

    @app.get("/api/shipments")
    def shipments(request: Request) -> dict[str, Any]:
        try:
            token = secure_tokens.bearer_token(request.headers.get("authorization"))
        except secure_tokens.TokenError as exc:
            raise Unauthorized(exc.body["error"]) from exc
        claims = identity(verify(token, "access", keys.shipping))
        query, args = "SELECT * FROM orders WHERE status = 'paid'", ()
        if claims.get("role") != "admin":
            query, args = query + " AND user_id = ?", (claims["sub"],)
        with store.connect() as db:
            rows = db.execute(query, args).fetchall()
        return {"shipments": [{"orderId": r["id"], "status": "label created"} for r in rows]}

    @app.get("/debug/config")
    def debug_config() -> dict[str, Any]:
        return weak.debug_config(keys.env)

    return app
