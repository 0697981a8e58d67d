"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

How the bookshop of lab 12-headers shipped its pages: HTML built with f-strings (no
output encoding), a session cookie any script can read, and a header set from an old
tutorial — no Content-Security-Policy, nothing against framing or MIME sniffing, and the
pre-2020 browser default ``no-referrer-when-downgrade`` written down explicitly, so full
URLs (tokens included) go to every other site over HTTP. Secure twin:
:mod:`labkit.patterns.headers`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["legacy_cookie_options", "legacy_headers", "no_escape"]


def legacy_headers(https: bool) -> dict[str, str]:
    """The header set of an old tutorial.

    Flaw: no CSP (injected scripts run, any page may frame this one), no ``nosniff``, and a
    Referrer-Policy that sends the full URL to other origins. Exploited in: 12-headers
    (cookie theft by reflected XSS, clickjacking, MIME sniffing, Referer leak). Secure twin:
    labkit.patterns.headers.security_headers.
    """
    return {
        "Referrer-Policy": "no-referrer-when-downgrade",
        "X-Powered-By": "ExampleBooks/1.0 (FastAPI)",
    }


def legacy_cookie_options() -> dict[str, Any]:
    """Session cookie options: a path and a lifetime, nothing else.

    Flaw: no HttpOnly (``document.cookie`` hands it to any injected script), no Secure, no
    SameSite. Exploited in: 12-headers (cookie theft). Secure twin:
    labkit.patterns.headers.SESSION_COOKIE.
    """
    # samesite=None: no SameSite attribute at all (Starlette would default to Lax)
    return {"path": "/", "max_age": 24 * 3600, "samesite": None}


def no_escape(text: str) -> str:
    """What an f-string template does with user input: nothing.

    Flaw: ``<script>`` in a query becomes a script in the page; ``"`` ends an attribute.
    Exploited in: 12-headers (reflected XSS). Secure twin: labkit.patterns.headers.escape.
    """
    return text
