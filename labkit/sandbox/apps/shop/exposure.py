"""BrokenShop's flaws outside the twelve rows, and their secure twins (13-capstone bonus).

Five parts no learner slot replaces (the audit credits each as a bonus finding; the secure
shop uses the functions of this module, the broken one :mod:`labkit.vulnerable.shop_exposure`):

- ``accept_email(email) -> error | None`` — sign-up (``POST /api/auth/register``);
- ``can_read_order(owner_id, claims) -> bool`` — ``GET /api/orders/{order_id}``;
- ``public_profile(row) -> dict`` — what the friend lookup (``GET /api/users``) shows;
- ``database_error(exc) -> dict`` — the 500 body after a database error;
- ``validation_errors(errors) -> list`` — the errors of every 422, installed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from labkit.sandbox.apps.base import finite_json
from labkit.sandbox.apps.shop.core import Shop
from labkit.sandbox.fixes import FixSlot
from labkit.vulnerable import shop_exposure as weak

__all__ = ["MAX_EMAIL_CHARS", "SECURE", "SLOTS", "VULNERABLE", "install"]

#: RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
MAX_EMAIL_CHARS = 254
#: What a 422 may say about each error: where and what, never the input itself.
ERROR_FIELDS = ("type", "loc", "msg")


def accept_email(email: str) -> str | None:
    """An error for an email longer than any address can be (254 characters), else None."""
    if len(email) > MAX_EMAIL_CHARS:
        return f"email: at most {MAX_EMAIL_CHARS} characters"
    return None


def can_read_order(owner_id: str, claims: Mapping[str, Any]) -> bool:
    """Its owner, or an admin (OWASP API1: check the object, not only the login)."""
    return str(owner_id) == str(claims.get("sub")) or claims.get("role") == "admin"


def public_profile(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a customer needs to send a gift card: who (id, email, name), nothing more."""
    return {k: row[k] for k in ("id", "email", "name") if k in row}


def database_error(exc: Exception) -> dict[str, Any]:
    """A generic 500: the details go to the server's log, never to the client (CWE-209)."""
    return {"error": "Internal server error"}


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each error's type, location and message; the input stays out of the answer."""
    return [{k: e[k] for k in ERROR_FIELDS if k in e} for e in errors]


SLOTS: dict[str, FixSlot] = {}
SECURE: dict[str, Any] = {
    "accept_email": accept_email,
    "can_read_order": can_read_order,
    "public_profile": public_profile,
    "database_error": database_error,
    "validation_errors": validation_errors,
}
VULNERABLE: dict[str, Any] = {
    "accept_email": weak.accept_email,
    "can_read_order": weak.can_read_order,
    "public_profile": weak.public_profile,
    "database_error": weak.database_error,
    "validation_errors": weak.validation_errors,
}


def install(shop: Shop) -> None:
    """The shop's 422 answer, through ``validation_errors``."""
    shape = shop.parts["validation_errors"]

    async def unprocessable(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        body = finite_json(jsonable_encoder(shape(list(errors))))  # an echoed NaN is a string
        return JSONResponse({"errors": body}, status_code=422)

    shop.app.add_exception_handler(RequestValidationError, unprocessable)
