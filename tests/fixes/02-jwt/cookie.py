"""02 cookie: wrong and right refresh cookies."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime
from http.cookies import SimpleCookie

from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")

ATTRS = "HttpOnly; Secure; SameSite=Strict; Path=/api/auth/refresh; Max-Age=604800"


@wrong("cookie", breaks="cookie-name", also=("verify",))
def snake_case_name() -> Fixes:
    """The cookie is called refresh_token: the refresh route never sees it."""
    return P.parts(refresh_cookie=lambda token: f"refresh_token={token}; {ATTRS}")


@wrong("cookie", breaks="http-only")
def readable_by_scripts() -> Fixes:
    """No HttpOnly: any XSS reads the 7-day token."""
    return P.parts(
        refresh_cookie=lambda token: (
            f"refreshToken={token}; Secure; SameSite=Strict; Path=/api/auth/refresh; Max-Age=604800"
        )
    )


@wrong("cookie", breaks="secure")
def sent_over_http() -> Fixes:
    """No Secure: the cookie travels over plain HTTP too."""
    return P.parts(
        refresh_cookie=lambda token: (
            f"refreshToken={token}; HttpOnly; SameSite=Strict; Path=/api/auth/refresh; "
            "Max-Age=604800"
        )
    )


@wrong("cookie", breaks="same-site")
def samesite_lax() -> Fixes:
    """SameSite=Lax, the browser default: top-level cross-site navigations still carry it."""

    def refresh_cookie(token: str) -> str:
        return f"refreshToken={token}; HttpOnly; Secure; SameSite=Lax; Path=/api/auth/refresh; Max-Age=604800"  # noqa: E501

    return P.parts(refresh_cookie=refresh_cookie)


@wrong("cookie", breaks="narrow-path")
def path_root() -> Fixes:
    """Path=/: every request to the API carries the refresh token."""
    return P.parts(
        refresh_cookie=lambda token: (
            f"refreshToken={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=604800"
        )
    )


@wrong("cookie", breaks="narrow-path")
def with_domain() -> Fixes:
    """A Domain attribute: every subdomain of the host gets the cookie too."""
    return {"refresh_cookie": lambda token: f"refreshToken={token}; {ATTRS}; Domain=127.0.0.1"}


@wrong("cookie", breaks="cookie-lifetime")
def thirty_days() -> Fixes:
    """Max-Age of 30 days: the cookie outlives the 7-day token it holds."""
    return P.parts(refresh_cookie=lambda token: f"refreshToken={token}; {ATTRS[:-6]}2592000")


@wrong("cookie", breaks="cookie-lifetime")
def session_cookie() -> Fixes:
    """Neither Max-Age nor Expires."""
    return {
        "refresh_cookie": lambda token: (
            f"refreshToken={token}; HttpOnly; Secure; SameSite=Strict; Path=/api/auth/refresh"
        )
    }


@right("cookie")
def simple_cookie() -> Fixes:
    """The standard library's http.cookies builds it (its own attribute order and casing)."""

    def refresh_cookie(token: str) -> str:
        jar: SimpleCookie = SimpleCookie()
        jar["refreshToken"] = token
        morsel = jar["refreshToken"]
        morsel.update({"httponly": True, "secure": True, "samesite": "Strict",
                       "path": "/api/auth/refresh", "max-age": 7 * 24 * 3600})  # fmt: skip
        return morsel.OutputString()

    return {"refresh_cookie": refresh_cookie}


@right("cookie", also=("verify",))
def lowercase_with_expires() -> Fixes:
    """Lower-case attributes and an Expires date 7 days ahead instead of Max-Age."""

    def refresh_cookie(token: str) -> str:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
        expires = format_datetime(until, usegmt=True)
        return (f"refreshToken={token}; path=/api/auth/refresh; expires={expires}; "
                "samesite=strict; secure; httponly")  # fmt: skip

    return P.parts(refresh_cookie=refresh_cookie)


@right("cookie")
def secure_prefix() -> Fixes:
    """The __Secure- prefix: browsers refuse the cookie unless it is Secure, from HTTPS."""
    return {"refresh_cookie": lambda token: f"__Secure-refreshToken={token}; {ATTRS}"}


@wrong("cookie", breaks="narrow-path")
def host_prefix() -> Fixes:
    """The __Host- prefix, which demands Path=/: every route of the API gets the token."""
    return {
        "refresh_cookie": lambda token: (
            f"__Host-refreshToken={token}; HttpOnly; Secure; SameSite=Strict; Path=/; "
            "Max-Age=604800"
        )
    }
