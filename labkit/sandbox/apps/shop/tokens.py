"""BrokenShop's tokens: what a login answers, and who a request is.

STUB (owned by the tokens work): vulnerable behaviour only, no slots yet.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
from fastapi import Request
from fastapi.responses import JSONResponse

from labkit.sandbox.apps.shop.core import Shop
from labkit.sandbox.fixes import FixSlot
from labkit.sandbox.store import UserRecord

SLOTS: dict[str, FixSlot] = {}
SECURE: dict[str, Any] = {}
VULNERABLE: dict[str, Any] = {}


class Unauthorized(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def install(shop: Shop) -> None:
    secret = secrets.token_hex(32)

    def login_response(user: UserRecord) -> JSONResponse:
        now = int(time.time())
        claims = {"sub": str(user.id), "email": user.email, "role": user.role, "iat": now}
        access = jwt.encode({**claims, "typ": "access", "exp": now + 900}, secret, "HS256")
        refresh = jwt.encode({**claims, "typ": "refresh", "exp": now + 30 * 86400}, secret)
        return JSONResponse({"accessToken": access, "refreshToken": refresh})

    def current_user(request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if not token:
            raise Unauthorized("Missing token")
        try:
            return dict(jwt.decode(token, secret, algorithms=["HS256"]))
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("Invalid token") from exc

    async def on_unauthorized(request: Request, exc: Exception) -> JSONResponse:
        error = exc.error if isinstance(exc, Unauthorized) else "Invalid token"
        return JSONResponse({"error": error}, status_code=401)

    shop.app.add_exception_handler(Unauthorized, on_unauthorized)
    shop.login_response = login_response
    shop.current_user = current_user
