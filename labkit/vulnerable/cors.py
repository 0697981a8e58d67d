"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

CORS as the lab's API got it wrong (lab 10-cors): Starlette told to allow ``"*"`` with
credentials (which reflects *any* origin), and five hand-written origin checks, each one
a mistake found again and again in real code (PortSwigger, "Exploiting CORS
misconfigurations"). :class:`HandRolledCORS` applies such a check the way hand-written
middleware usually does: it reflects the origin, allows credentials, and forgets
``Vary: Origin``. Secure twin: :mod:`labkit.patterns.cors`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "HANDWRITTEN_CHECKS",
    "HandRolledCORS",
    "prefix_match",
    "reflect_any_origin_settings",
    "regex_unescaped",
    "scheme_blind",
    "suffix_match",
    "trusts_null",
]

APP_ORIGIN = "https://app.example.com"
_UNESCAPED = re.compile(r"^https://app.example.com$")  # the dots match any character


def reflect_any_origin_settings() -> dict[str, Any]:
    """CORSMiddleware keyword arguments that read as "allow everyone".

    Flaw: with ``allow_credentials=True``, Starlette answers ``"*"`` by reflecting the
    request's ``Origin`` (a literal ``*`` would be refused by browsers for credentialed
    requests, https://fetch.spec.whatwg.org/#cors-check), ``null`` included — any page
    reads the victim's data.
    Exploited in: 10-cors (steal-account). Secure twin: labkit.patterns.cors.cors_settings.
    """
    return {
        "allow_origins": ["*"],
        "allow_credentials": True,
        "allow_methods": ["*"],
        "allow_headers": ["*"],
    }


def trusts_null(origin: str) -> bool:
    """The app's origin, plus ``null`` "for local files and embedded widgets".

    Flaw: ``Origin: null`` is sent by sandboxed iframes, ``data:`` URLs and redirects — any
    attacker page can produce it. Exploited in: 10-cors (null-origin).
    Secure twin: labkit.patterns.cors.is_allowed_origin.
    """
    return origin in (APP_ORIGIN, "null")


def suffix_match(origin: str) -> bool:
    """Any origin ending in ``app.example.com``.

    Flaw: ``https://evilapp.example.com`` (or ``https://notapp.example.com``) ends the same
    way; a suffix check without the dot boundary is an allowlist of strangers.
    Exploited in: 10-cors (suffix-origin). Secure twin: labkit.patterns.cors.is_allowed_origin.
    """
    return origin.endswith("app.example.com")


def prefix_match(origin: str) -> bool:
    """Any origin starting with ``https://app.example.com``.

    Flaw: ``https://app.example.com.evil.net`` starts the same way and is the attacker's
    domain. Exploited in: 10-cors (prefix-origin).
    Secure twin: labkit.patterns.cors.is_allowed_origin.
    """
    return origin.startswith(APP_ORIGIN)


def regex_unescaped(origin: str) -> bool:
    """``re.match(r"^https://app.example.com$", origin)``.

    Flaw: the dots are not escaped, so ``.`` matches any character and
    ``https://appxexample.com`` — a domain anyone can register — passes.
    Exploited in: 10-cors (regex-origin). Secure twin: labkit.patterns.cors.is_allowed_origin.
    """
    return _UNESCAPED.match(origin) is not None


def scheme_blind(origin: str) -> bool:
    """Any origin whose host is ``app.example.com``, whatever the scheme.

    Flaw: ``http://app.example.com`` is trusted too; whoever sits on the victim's network
    (café Wi-Fi) injects script into that plain-http page and reads the API through it.
    Exploited in: 10-cors (http-origin). Secure twin: labkit.patterns.cors.serialized_origin.
    """
    return urlsplit(origin).hostname == "app.example.com"


#: The five hand-written checks, by the name of the mistake.
HANDWRITTEN_CHECKS: dict[str, Callable[[str], bool]] = {
    "null": trusts_null,
    "suffix": suffix_match,
    "prefix": prefix_match,
    "regex": regex_unescaped,
    "http": scheme_blind,
}


class HandRolledCORS:
    """ASGI middleware: reflect ``Origin`` with credentials when ``is_allowed(origin)``.

    Flaw: whatever ``is_allowed`` lets through can read credentialed responses, preflights
    allow every method and header, and ``Vary: Origin`` is missing (a shared cache may serve
    one origin's CORS answer to another). Exploited in: 10-cors (the origin battery).
    Secure twin: labkit.patterns.cors.install_cors.
    """

    def __init__(self, app: ASGIApp, is_allowed: Callable[[str], bool]) -> None:
        self.app = app
        self.is_allowed = is_allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        trusted = origin is not None and self.is_allowed(origin)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            reply = PlainTextResponse("OK" if trusted else "Disallowed CORS origin")
            if trusted and origin is not None:
                reply.headers.update(
                    {
                        "Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Credentials": "true",
                        "Access-Control-Allow-Methods": headers["access-control-request-method"],
                        "Access-Control-Allow-Headers": headers.get(
                            "access-control-request-headers", ""
                        ),
                    }
                )
            await reply(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and trusted and origin is not None:
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = origin
                out["Access-Control-Allow-Credentials"] = "true"
            await send(message)

        await self.app(scope, receive, send_with_cors)
