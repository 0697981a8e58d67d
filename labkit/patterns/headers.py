"""Security headers as one middleware, plus output encoding — the seed's ``helmet()`` in Python.

    app.add_middleware(SecurityHeaders)                  # every response, every route
    response.set_cookie("session", token, **SESSION_COOKIE)
    f"<h2>Results for {escape(q)}</h2>"                  # or Jinja2 with autoescape

What each header does, and the standard behind it:

* ``Content-Security-Policy`` (W3C CSP Level 3): ``default-src 'self'`` — the page may only
  load from its own origin; no ``'unsafe-inline'`` for scripts, so an injected ``<script>`` or
  ``onerror=`` does not run; ``object-src 'none'``, ``base-uri 'none'``,
  ``form-action 'self'``; ``frame-ancestors 'none'`` — no other page may frame this one
  (clickjacking; it replaces ``X-Frame-Options``, RFC 7034, still sent for old browsers).
* ``X-Content-Type-Options: nosniff`` (Fetch standard): a ``text/plain`` upload is never run
  as a script, nor a ``text/html`` one shown as a page.
* ``Referrer-Policy: strict-origin-when-cross-origin`` (W3C Referrer Policy): other origins
  learn the origin at most, never the path or query (tokens in URLs stay home).
* ``Strict-Transport-Security`` (RFC 6797): only over HTTPS — §7.2 forbids sending it over
  plain HTTP, where a man in the middle could forge or strip it anyway. Behind a TLS proxy the
  app learns the scheme from ``X-Forwarded-Proto``, trusted from the proxy's address only
  (uvicorn's ``--forwarded-allow-ips``).
* ``Cross-Origin-Opener-Policy: same-origin`` and ``Cross-Origin-Resource-Policy: same-origin``
  (HTML, Fetch): no cross-origin window keeps a handle on ours; no other origin embeds our
  responses (Spectre-style leaks).

Headers are computed once, when the middleware is built; ``__call__`` only copies them into
each response start message, replacing any value a route set (one policy for the whole site).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "HSTS",
    "SESSION_COOKIE",
    "SecurityHeaders",
    "escape",
    "security_headers",
    "validate_headers",
]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",  # fallback for every fetch directive
        "script-src 'self'",  # files from this origin only: no inline, no eval
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",  # no plugins
        "base-uri 'none'",  # an injected <base> cannot re-point relative URLs
        "form-action 'self'",  # forms post home only
        "frame-ancestors 'none'",  # nobody frames us (clickjacking)
    )
)
#: One year, subdomains included (RFC 6797 §6.1); add ``preload`` only after hstspreload.org.
HSTS = "max-age=31536000; includeSubDomains"

#: Keyword arguments for Starlette's ``Response.set_cookie`` for a session cookie:
#: script cannot read it (HttpOnly), it never travels over plain HTTP (Secure: browsers
#: treat http://127.0.0.1 as a secure context, so this works on the loopback lab too), and
#: other sites' requests do not carry it (SameSite=Lax). RFC 6265bis §4.1.2.
SESSION_COOKIE: dict[str, Any] = {
    "httponly": True,
    "secure": True,
    "samesite": "lax",
    "path": "/",
    "max_age": 15 * 60,
}

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 §5.6.2 field name


def security_headers(https: bool) -> dict[str, str]:
    """The header set for every response; HSTS only when the request came over HTTPS."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",  # for browsers without CSP frame-ancestors
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def escape(text: str) -> str:
    """Encode text for HTML element content *and* quoted attribute values.

    ``html.escape(quote=True)`` turns ``& < > " '`` into character references (OWASP XSS
    Prevention Cheat Sheet, rules 1 and 2). Escaping ``<`` alone is not enough: in
    ``value="..."`` a ``"`` ends the attribute and starts the attacker's.
    """
    return html.escape(text, quote=True)


def validate_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Header pairs as ASGI bytes; ``ValueError`` for a bad name or a CR/LF in a value."""
    pairs = []
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(f"not a valid header name: {name!r}")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ValueError(f"header {name} has an invalid value: {value!r}")
        pairs.append((name.lower().encode("latin-1"), value.strip().encode("latin-1")))
    return pairs


class SecurityHeaders:
    """Pure ASGI middleware adding the security header set to every HTTP response.

    ``policy(https)`` gives the headers for a request made over HTTPS or not; it is called
    twice, here, so a broken policy fails when the app is built, not on a request.
    """

    def __init__(
        self, app: ASGIApp, *, policy: Callable[[bool], Mapping[str, str]] = security_headers
    ) -> None:
        self.app = app
        self._plain = validate_headers(policy(False))
        self._tls = validate_headers(policy(True))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._tls if scope.get("scheme") == "https" else self._plain

        async def send_headed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    headers[name.decode("latin-1")] = value.decode("latin-1")
            await send(message)

        await self.app(scope, receive, send_headed)
