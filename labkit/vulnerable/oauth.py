"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

An OAuth 2.0 authorization server and client as they are too often written (lab 04-oauth):
PKCE optional and ``plain`` accepted, redirect URIs matched "leniently", codes that can be
redeemed again, by anyone, forever, the implicit and password grants still on, and a client
that sends ``state`` and ``nonce`` but never compares them.
Secure twin: :mod:`labkit.patterns.oauth`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = [
    "check_nonce",
    "check_state",
    "flow_allowed",
    "redeem_code",
    "validate_redirect_uri",
    "verify_pkce",
]


class _Codes(Protocol):
    def get(self, code: str) -> dict[str, Any] | None: ...


def validate_redirect_uri(registered: str, requested: str) -> bool:
    """True when ``requested`` starts with the registered host and contains its path.

    Compares lower-cased and without the scheme, accepts any port ("so that dev servers and
    http/https both keep working") and any path around the registered one.

    Flaw: lax matching — prefix, ``..``, ``@`` (user info before the real host), extra query,
    case, scheme and port tricks all pass, so the code (or token) goes where the attacker's URI
    points.
    Exploited in: 04-oauth (redirect_uri tricks: code sent to the attacker).
    Secure twin: labkit.patterns.oauth.validate_redirect_uri.
    """
    want = registered.lower().split("://", 1)[-1]
    got = requested.lower().split("://", 1)[-1]
    host, _, path = want.partition("/")
    return got.startswith(host.split(":")[0]) and f"/{path}" in got


def verify_pkce(verifier: str | None, challenge: str | None, method: str | None) -> bool:
    """True unless a verifier was sent and does not match the challenge.

    Flaw: PKCE is optional (no verifier, or no challenge, means "fine") and ``plain`` —
    also the default when the method is left out — compares the verifier to the challenge
    itself, which anyone who saw the authorization request knows.
    Exploited in: 04-oauth (code interception without PKCE; ``plain`` PKCE downgrade).
    Secure twin: labkit.patterns.oauth.verify_pkce.
    """
    if verifier is None or challenge is None:
        return True
    if method in (None, "plain"):
        return verifier == challenge
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge


def redeem_code(
    codes: _Codes, code: str, client_id: str, redirect_uri: str | None
) -> dict[str, Any] | None:
    """The record of ``code`` if it exists.

    Flaw: the code is read, not taken (reusable), never expires, and is not bound to the
    client it was issued to nor to the redirect URI of the authorization request.
    Exploited in: 04-oauth (code reused; code redeemed by another client).
    Secure twin: labkit.patterns.oauth.redeem_code.
    """
    return codes.get(code)


def flow_allowed(flow: str) -> bool:
    """True for every flow the server knows: authorization code, implicit, password.

    Flaw: the implicit grant puts the access token in the redirect URL (history, Referer,
    logs, the attacker's page), and the password grant hands the user's password to clients.
    Exploited in: 04-oauth (implicit flow token leaked through the URL).
    Secure twin: labkit.patterns.oauth.flow_allowed.
    """
    return True


def check_state(expected: str | None, returned: str | None) -> bool:
    """True: the client sends a ``state`` but never compares what comes back.

    Flaw: an unsolicited callback carrying the attacker's own code is accepted.
    Exploited in: 04-oauth (login CSRF: the victim is logged into the attacker's account).
    Secure twin: labkit.patterns.oauth.check_state.
    """
    return True


def check_nonce(expected: str | None, claims: Mapping[str, Any]) -> bool:
    """True: the client sends a ``nonce`` but never compares the ID token's.

    Flaw: any valid ID token ever issued to this client logs its holder in as its subject.
    Exploited in: 04-oauth (replayed ID token accepted).
    Secure twin: labkit.patterns.oauth.check_nonce.
    """
    return True
