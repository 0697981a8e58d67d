"""03 cookie-flags and cookie-browser: wrong and right Set-Cookie values for the session."""

from __future__ import annotations

import base64
from http.cookies import SimpleCookie
from typing import Any

from labkit.patterns import sessions as secure
from labkit.vulnerable import sessions as weak
from tests.fixes.corpus import Fixes, right, wrong


def _verify(**parts: Any) -> Fixes:
    """The reference's five functions, except ``parts`` (``verify`` needs all five)."""
    return {
        "new_session_id": secure.new_session_id,
        "start_session": secure.start_session,
        "session_cookie": secure.session_cookie,
        "end_session": secure.end_session,
        "session_expired": secure.session_expired,
        **parts,
    }


def _cookie(attributes: str) -> Fixes:
    return {"session_cookie": lambda session_id: f"{attributes.format(session_id)}"}


@wrong("cookie-flags", breaks="http-only", also=("cookie-browser", "verify"))
def no_http_only() -> Fixes:
    """Everything but HttpOnly: the injected script reads it."""
    return _verify(**_cookie("__Host-session={}; Path=/; Secure; SameSite=Strict"))


@wrong("cookie-flags", breaks="http-only")
def the_vulnerable_cookie() -> Fixes:
    """The app's own cookie: sessionid=<id>; Path=/ and nothing else."""
    return {"session_cookie": weak.session_cookie}


@wrong("cookie-flags", breaks="secure", also=("verify",))
def no_secure() -> Fixes:
    """HttpOnly and SameSite, no Secure (and so no __Host- prefix either)."""
    return _verify(**_cookie("session={}; Path=/; HttpOnly; SameSite=Strict"))


@wrong("cookie-flags", breaks="same-site", also=("cookie-browser", "verify"))
def same_site_none() -> Fixes:
    """SameSite=None; Secure: 'so the payment provider's POST back keeps the session'."""
    return _verify(**_cookie("__Host-session={}; Path=/; Secure; HttpOnly; SameSite=None"))


@wrong("cookie-flags", breaks="same-site", also=("cookie-browser",))
def same_site_left_out() -> Fixes:
    """No SameSite: a bet on the browser's default (Chromium's Lax+POST window lets it ride)."""
    return _cookie("__Host-session={}; Path=/; Secure; HttpOnly")


@wrong("cookie-flags", breaks="host-prefix")
def no_prefix() -> Fixes:
    """Every flag, but a plain name: a sibling subdomain can plant or shadow it."""
    return _verify(**_cookie("session={}; Path=/; Secure; HttpOnly; SameSite=Strict"))


@wrong("cookie-flags", breaks="host-prefix")
def host_prefix_with_domain() -> Fixes:
    """__Host- with Domain=localhost: browsers drop it, and the prefix promises no Domain."""
    return _cookie("__Host-session={}; Path=/; Domain=localhost; Secure; HttpOnly; SameSite=Strict")


@wrong("cookie-flags", breaks="host-prefix")
def host_prefix_with_api_path() -> Fixes:
    """__Host- scoped to Path=/api: 'the cookie is only needed by the API'."""
    return _cookie("__Host-session={}; Path=/api; Secure; HttpOnly; SameSite=Strict")


@wrong("cookie-browser", breaks="browser-keeps", also=("verify",))
def host_prefix_without_secure() -> Fixes:
    """__Host- without Secure: Chromium refuses to store it, nobody can sign in."""
    return _verify(**_cookie("__Host-session={}; Path=/; HttpOnly; SameSite=Strict"))


@wrong("cookie-flags", breaks="round-trip")
def base64_encoded_value() -> Fixes:
    """Base64-encodes the id 'to make it cookie-safe': the app never finds the session."""

    def session_cookie(session_id: str) -> str:
        value = base64.urlsafe_b64encode(session_id.encode()).decode()
        return f"__Host-session={value}; Path=/; Secure; HttpOnly; SameSite=Strict"

    return _verify(session_cookie=session_cookie)


@right("cookie-flags", also=("cookie-browser", "verify"))
def lax_lowercase_attributes() -> Fixes:
    """SameSite=Lax, attributes lower-case and in another order (names are case-insensitive)."""
    return _verify(**_cookie("__Host-sid={}; samesite=lax; httponly; secure; path=/"))


@right("cookie-flags", also=("cookie-browser",))
def simple_cookie() -> Fixes:
    """The standard library's http.cookies.SimpleCookie writes the header."""

    def session_cookie(session_id: str) -> str:
        jar: SimpleCookie = SimpleCookie()
        jar["__Host-wallet"] = session_id
        morsel = jar["__Host-wallet"]
        morsel.update({"path": "/", "secure": True, "httponly": True, "samesite": "Strict"})
        return morsel.OutputString()

    return {"session_cookie": session_cookie}
