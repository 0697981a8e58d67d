"""12 cookie: the session cookie's attributes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from labkit.patterns import headers as reference
from tests.fixes.corpus import Fixes, right, wrong


def whole(**options: Any) -> Fixes:
    """The reference headers and encoding, with a session cookie made of ``options``."""
    return {
        "security_headers": reference.security_headers,
        "session_cookie": lambda: dict(options),
        "escape": reference.escape,
    }


@wrong("cookie", breaks="cookie-httponly", also=("verify",))
def no_httponly() -> Fixes:
    """Secure and SameSite, but readable by document.cookie."""
    return whole(secure=True, samesite="lax", path="/")


@wrong("cookie", breaks="cookie-secure")
def not_secure() -> Fixes:
    """HttpOnly and SameSite, Secure left out ("it is only localhost")."""
    return whole(httponly=True, samesite="lax", path="/")


@wrong("cookie", breaks="cookie-samesite")
def samesite_none() -> Fixes:
    """SameSite=None (with Secure, so the browser keeps it): every site's requests carry it."""
    return whole(httponly=True, secure=True, samesite="none", path="/")


@wrong("cookie", breaks="cookie-works")
def path_api() -> Fixes:
    """Scoped to path='/api' ("it is an API token"): the /profile page never gets it."""
    return whole(httponly=True, secure=True, samesite="lax", path="/api")


@wrong("cookie", breaks="cookie-works")
def max_age_zero() -> Fixes:
    """max_age=0 ("a session cookie"): Max-Age=0 deletes it the moment it is set."""
    return whole(httponly=True, secure=True, samesite="strict", path="/", max_age=0)


@right("cookie")
def strict_with_expiry() -> Fixes:
    """SameSite=Strict, capitalised, with an absolute expiry half an hour away."""
    expires = datetime.now(UTC) + timedelta(minutes=30)
    return whole(httponly=True, secure=True, samesite="Strict", path="/", expires=expires)


@right("cookie")
def options_object() -> Fixes:
    """Options built with dict() once and copied per call, max_age of the access token."""
    options = dict(path="/", secure=True, httponly=True, samesite="lax", max_age=15 * 60)
    return {**whole(), "session_cookie": lambda: options.copy()}
