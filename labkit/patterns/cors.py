"""CORS with an explicit allowlist, on Starlette's CORSMiddleware (lab 10-cors).

The catalogue's pattern: a fixed list of trusted origins compared *exactly* with the
request's ``Origin``, credentials allowed only for them, a short list of methods and
headers, a bounded preflight cache — and no ``"*"``, no ``null``, no pattern matching.

    app.add_middleware(CORSMiddleware, **cors_settings(["https://app.example.com"]))

Standards: the Fetch standard's CORS protocol (https://fetch.spec.whatwg.org/#http-cors-protocol
and its CORS check, #cors-check), OWASP ASVS 5.0 V3.4.2 ("the Access-Control-Allow-Origin
header is a fixed value or validated against an allowlist"), PortSwigger's CORS research.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

__all__ = [
    "ALLOWED_HEADERS",
    "ALLOWED_METHODS",
    "APP_ORIGIN",
    "MAX_AGE_S",
    "cors_settings",
    "install_cors",
    "is_allowed_origin",
    "serialized_origin",
]

#: The production frontend of the lab's API (the seed's ``https://myapp.com``).
APP_ORIGIN = "https://app.example.com"
#: What the frontend does cross-origin: read the account, update it. Nothing else.
ALLOWED_METHODS: tuple[str, ...] = ("GET", "PUT")
#: Request headers a cross-origin caller may send (the seed's list).
ALLOWED_HEADERS: tuple[str, ...] = ("Content-Type", "Authorization")
#: Preflight cache lifetime. Browsers cap it anyway (Chromium 2 h, Firefox 24 h); a short
#: cache means a removed origin loses access soon.
MAX_AGE_S = 600

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def serialized_origin(origin: str) -> str:
    """``origin`` if it is a serialized origin fit for an allowlist, else :class:`ValueError`.

    A serialized origin is ``scheme "://" host [":" port]`` — no path, no trailing slash
    (RFC 6454 §6.2): browsers send exactly that, and the comparison is by string.
    Refused: ``"*"`` and ``"null"`` (opaque origins: sandboxed iframes, ``data:`` and
    ``file:`` pages — anyone can make one), and plain ``http`` except on loopback: a network
    attacker can put script into any http page (the lab's own sandboxes are http loopback).
    """
    if not isinstance(origin, str) or origin in {"*", "null"}:
        raise ValueError(f"{origin!r} cannot be an allowed origin: list real origins")
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc or origin != f"{parts.scheme}://{parts.netloc}":
        raise ValueError(f"{origin!r} is not a serialized origin (scheme://host[:port])")
    if origin != origin.lower():
        raise ValueError(f"{origin!r}: browsers send origins in lower case")
    host = parts.netloc.rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK_HOSTS):
        raise ValueError(f"{origin!r}: only https origins (http only on loopback)")
    return origin


def is_allowed_origin(origin: str | None, allowed: Iterable[str]) -> bool:
    """Exact comparison with the allowlist — what CORSMiddleware does with ``allow_origins``.

    Never ``endswith`` / ``startswith`` / ``in`` on a string, never an unanchored or
    unescaped regex: each of those lets an attacker-registered origin through.
    """
    return origin is not None and origin in frozenset(allowed)


def cors_settings(
    allowed_origins: Iterable[str],
    *,
    methods: Iterable[str] = ALLOWED_METHODS,
    headers: Iterable[str] = ALLOWED_HEADERS,
    max_age: int = MAX_AGE_S,
    credentials: bool = True,
) -> dict[str, Any]:
    """Keyword arguments for Starlette's ``CORSMiddleware``: the seed's allowlist pattern.

    ``allow_origins`` is an explicit list (Starlette then answers a trusted origin with
    exactly that origin and ``Vary: Origin``, and a refused one with no
    ``Access-Control-Allow-Origin`` at all). Wildcards are refused here because with
    credentials Starlette turns ``"*"`` into "reflect any origin".
    """
    origins = [serialized_origin(o) for o in allowed_origins]
    if not origins:
        raise ValueError("list at least one allowed origin")
    methods, headers = list(methods), list(headers)
    if "*" in methods or "*" in headers:
        raise ValueError("name the methods and headers; '*' allows everything")
    if not 0 <= max_age <= 86400:
        raise ValueError("max_age must be between 0 and 86400 seconds")
    return {
        "allow_origins": origins,
        "allow_credentials": credentials,
        "allow_methods": methods,
        "allow_headers": headers,
        "max_age": max_age,
    }


def install_cors(app: FastAPI, allowed_origins: Iterable[str], **options: Any) -> None:
    """Add CORSMiddleware to ``app`` with :func:`cors_settings`."""
    app.add_middleware(CORSMiddleware, **cors_settings(allowed_origins, **options))
