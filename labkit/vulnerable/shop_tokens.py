"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

BrokenShop's tokens and secrets (13-capstone): one HS256 secret shared by the shop and every
service that verifies its tokens, a front end that keeps both tokens in ``localStorage``, a
service that prints its configuration, and a payment-webhook secret written into the code.
Secure twins: :mod:`labkit.patterns.service_tokens`, :mod:`labkit.patterns.tokens`
(``refresh_cookie``) and :mod:`labkit.patterns.webhooks`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import jwt

__all__ = ["FRONTEND_SCRIPT", "debug_config", "issue_tokens", "verify_token", "webhook_secret"]

ACCESS_TTL_S = 15 * 60
REFRESH_TTL_S = 30 * 24 * 3600

#: The shop's front end after login.
#: Flaw: both tokens in localStorage — any script on the page (one XSS, one compromised
#: npm package) reads them, and a refresh token there is a 30-day login for the attacker.
#: Exploited in: 13-capstone (jwt-in-localstorage).
#: Secure twin: labkit.patterns.tokens.refresh_cookie (HttpOnly cookie; access in memory).
FRONTEND_SCRIPT = """\
async function login(email, password) {
  const r = await fetch("/api/auth/login", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({email, password})});
  const {accessToken, refreshToken} = await r.json();
  localStorage.setItem("accessToken", accessToken);    // any script can read these
  localStorage.setItem("refreshToken", refreshToken);
}
async function refresh() {
  const r = await fetch("/api/auth/refresh", {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({refreshToken: localStorage.getItem("refreshToken")})});
  const {accessToken, refreshToken} = await r.json();
  localStorage.setItem("accessToken", accessToken);
  localStorage.setItem("refreshToken", refreshToken);
}
"""


def issue_tokens(user: Mapping[str, Any], keys: Mapping[str, Any]) -> dict[str, str]:
    """Access and refresh tokens, HS256 with the one secret every service shares.

    Flaw: a symmetric key verifies *and* signs, so every service that can check a token can
    also mint one — for any user, any role; the weakest service's leak is the shop's leak.
    Exploited in: 13-capstone (symmetric-jwt: the shipping service's debug page leaks it).
    Secure twin: labkit.patterns.service_tokens.issue_tokens.
    """
    now = int(time.time())
    base = {"sub": str(user["id"]), "email": user["email"], "role": user["role"], "iat": now}
    return {
        "accessToken": jwt.encode(
            {**base, "typ": "access", "exp": now + ACCESS_TTL_S}, keys["access"], "HS256"
        ),
        "refreshToken": jwt.encode(
            {**base, "typ": "refresh", "jti": secrets.token_urlsafe(8), "exp": now + REFRESH_TTL_S},
            keys["access"],
            "HS256",
        ),
    }


def verify_token(token: str, typ: str, keys: Mapping[str, Any]) -> dict[str, Any]:
    """The claims of an HS256 token signed with the shared secret.

    Flaw: anyone holding the shared secret passes — the shop cannot tell its own tokens from
    ones a verifying service (or whoever robbed it) signed.
    Exploited in: 13-capstone (symmetric-jwt). Secure twin:
    labkit.patterns.service_tokens.verify_token.
    """
    claims = jwt.decode(token, keys["access"], algorithms=["HS256"])
    if claims.get("typ") != typ:
        raise jwt.InvalidTokenError(f"not an {typ} token")
    return dict(claims)


def debug_config(env: Mapping[str, str]) -> dict[str, Any]:
    """What an internal service's ``/debug/config`` shows: its whole environment.

    Flaw: "internal" services are less guarded (no auth on debug routes); anything secret in
    their configuration is one request away.
    Exploited in: 13-capstone (symmetric-jwt: the shared JWT secret leaks from shipping).
    Secure twin: labkit.patterns.service_tokens.verifier_keys — once a verifier holds only
    public keys, its leak mints nothing (and debug routes stay off in production).
    """
    return {"service": "shipping", "debug": True, "env": dict(env)}


def webhook_secret(env: Mapping[str, str], hardcoded: str = "") -> str:
    """The payment-webhook secret, as written in the shop's ``payments.py``.

    Flaw: the secret is a literal in the source (``hardcoded``), not the environment; the
    repository went public, and the literal stays in its history forever.
    Exploited in: 13-capstone (hardcoded-secret: scan the source, sign a fake "paid" event).
    Secure twin: labkit.patterns.webhooks.webhook_secret.
    """
    return hardcoded
