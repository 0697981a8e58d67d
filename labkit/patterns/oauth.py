"""OAuth 2.0 authorization code flow with PKCE, and OpenID Connect ID tokens, done right
(lab 04-oauth).

Follows RFC 6749 (OAuth 2.0), RFC 7636 (PKCE), RFC 9700 (OAuth 2.0 Security Best Current
Practice) and OpenID Connect Core 1.0:

* the authorization code flow only: the implicit grant and the resource owner password
  grant are refused (RFC 9700 §2.1.2, §2.4);
* PKCE with ``S256`` only, required for every code (RFC 9700 §2.1.1; RFC 7636 §4.2, §4.6),
  using Authlib's :func:`create_s256_code_challenge`;
* redirect URIs compared by exact string match, never "starts with" (RFC 9700 §4.1.3);
* codes single-use, valid for at most 10 minutes and bound to the client, the redirect URI
  and the PKCE challenge (RFC 6749 §4.1.2, §4.1.3); a second redemption revokes what the
  first one issued;
* the client's ``state`` is bound to its session and used once (RFC 6749 §10.12), and the
  ID token's ``nonce`` is checked against the one the session sent (OIDC Core §3.1.3.7);
* ID tokens signed with ES256 by a per-server key published as a JWKS (PyJWT, cryptography).

Checks answer ``bool`` / ``None``; :func:`verify_id_token` raises :class:`OAuthError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "ACCESS_TOKEN_TTL_S",
    "CODE_TTL_S",
    "ID_TOKEN_ALG",
    "ID_TOKEN_TTL_S",
    "CodeStore",
    "OAuthError",
    "SigningKey",
    "check_nonce",
    "check_state",
    "flow_allowed",
    "new_pkce_pair",
    "new_state",
    "redeem_code",
    "validate_redirect_uri",
    "verify_id_token",
    "verify_pkce",
]

#: RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
CODE_TTL_S = 600
ACCESS_TOKEN_TTL_S = 3600
ID_TOKEN_TTL_S = 300
ID_TOKEN_ALG = "ES256"  # noqa: S105  (an algorithm name, not a secret)
#: RFC 7636 §4.1: code_verifier = 43*128unreserved (ALPHA / DIGIT / "-" / "." / "_" / "~").
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
#: The only flow this server offers (RFC 9700 §2.1.2: no implicit; §2.4: no password grant).
ALLOWED_FLOWS = frozenset({"authorization_code"})


class OAuthError(Exception):
    """A token, code or response that must not be accepted (one type for every reason)."""


# -- the authorization server ----------------------------------------------------------------
def validate_redirect_uri(registered: str, requested: str) -> bool:
    """True only when ``requested`` is exactly the ``registered`` redirect URI.

    RFC 9700 §4.1.3: "exact string matching" — no prefixes, no path normalisation, no extra
    query, no case folding, no other scheme or port. A mismatch gets an error page, never a
    redirect (RFC 6749 §4.1.2.1).
    """
    return isinstance(requested, str) and requested == registered


def verify_pkce(verifier: str | None, challenge: str | None, method: str | None) -> bool:
    """True when ``verifier`` proves possession for an ``S256`` ``challenge`` (RFC 7636 §4.6).

    No challenge, no verifier, a malformed verifier or the ``plain`` method all fail: PKCE is
    required for every code (RFC 9700 §2.1.1) and ``plain`` gives nothing to an attacker who
    saw the authorization request (RFC 7636 §7.2).
    """
    if not (isinstance(verifier, str) and isinstance(challenge, str)) or method != "S256":
        return False
    if _VERIFIER.fullmatch(verifier) is None:
        return False
    return hmac.compare_digest(create_s256_code_challenge(verifier), challenge)


def redeem_code(
    codes: CodeStore, code: str, client_id: str, redirect_uri: str | None
) -> dict[str, Any] | None:
    """The code's record if ``client_id`` may redeem it now with ``redirect_uri``, else None.

    Single use: the record is taken out of the store atomically (a second attempt finds
    nothing, and the store revokes what the first one issued). The code is bound to the client
    it was issued to and to the exact redirect URI of the authorization request (RFC 6749
    §4.1.3), and it expires after :data:`CODE_TTL_S` (RFC 6749 §4.1.2).
    """
    record = codes.pop(code)
    if record is None:
        return None
    if record["client_id"] != client_id or record["redirect_uri"] != redirect_uri:
        return None
    if time.time() - record["issued_at"] > CODE_TTL_S:
        return None
    return record


def flow_allowed(flow: str) -> bool:
    """True for the authorization code flow; False for ``implicit`` and ``password``."""
    return flow in ALLOWED_FLOWS


# -- the client ------------------------------------------------------------------------------
def new_state() -> str:
    """An unguessable value for ``state`` or ``nonce`` (256 bits)."""
    return secrets.token_urlsafe(32)


def new_pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, code_challenge)`` for ``S256`` (RFC 7636 §4.1, §4.2)."""
    verifier = secrets.token_urlsafe(48)  # 64 characters, all unreserved
    return verifier, create_s256_code_challenge(verifier)


def check_state(expected: str | None, returned: str | None) -> bool:
    """True when the callback's ``state`` is the one this session sent (RFC 6749 §10.12).

    ``expected`` is taken out of the session before the call, so each value works once.
    No login in progress (``expected is None``) means the callback is unsolicited: refuse.
    """
    if not (isinstance(expected, str) and isinstance(returned, str)) or not expected:
        return False
    return hmac.compare_digest(expected.encode(), returned.encode())


def check_nonce(expected: str | None, claims: Mapping[str, Any]) -> bool:
    """True when the ID token's ``nonce`` is the one this session sent (OIDC Core §3.1.3.7).

    A token without a nonce, or any token when the session sent none, is a replay.
    """
    nonce = claims.get("nonce") if isinstance(claims, Mapping) else None
    if not (isinstance(expected, str) and isinstance(nonce, str)) or not expected:
        return False
    return hmac.compare_digest(expected.encode(), nonce.encode())


# -- ID tokens -------------------------------------------------------------------------------
class SigningKey:
    """An ES256 key pair for ID tokens, published as a JWKS with its RFC 7638 thumbprint."""

    def __init__(self) -> None:
        self._private = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._private.public_key()))
        # RFC 7638 §3.2: the thumbprint hashes the required members in lexicographic order.
        canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).digest()
        self.kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        self._public_jwk = {**jwk, "kid": self.kid, "use": "sig", "alg": ID_TOKEN_ALG}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [dict(self._public_jwk)]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self._private, ID_TOKEN_ALG, headers={"kid": self.kid})


def verify_id_token(
    token: str, jwks: Mapping[str, Any], *, issuer: str, audience: str
) -> dict[str, Any]:
    """The claims of a valid ID token (OIDC Core §3.1.3.7 steps 2–10); raises OAuthError.

    The algorithm comes from our allowlist, never from the token header; the key from the
    server's JWKS by ``kid``. ``nonce`` is checked separately with :func:`check_nonce`.
    """
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = jwt.PyJWKSet.from_dict(dict(jwks))[kid]
        return jwt.decode(
            token,
            key.key,
            algorithms=[ID_TOKEN_ALG],
            audience=audience,
            issuer=issuer,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
        raise OAuthError(f"invalid ID token: {exc}") from exc


# -- codes -----------------------------------------------------------------------------------
class CodeStore:
    """Authorization codes of one server, safe to use from many threads.

    :meth:`pop` is the atomic "redeem once": a code it has handed out once is remembered,
    and a second attempt calls ``on_reuse(code)`` so the server can revoke the tokens the
    first redemption issued (RFC 6749 §4.1.2). :meth:`get` reads without redeeming.
    """

    def __init__(self, on_reuse: Callable[[str], None] | None = None) -> None:
        self._live: dict[str, dict[str, Any]] = {}
        self._redeemed: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._on_reuse = on_reuse

    def issue(self, record: Mapping[str, Any]) -> str:
        """Store ``record`` (``issued_at`` is set now) under a fresh unguessable code."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._live[code] = {**record, "issued_at": time.time()}
        return code

    def get(self, code: str) -> dict[str, Any] | None:
        """A copy of the record of ``code``, redeemed or not; the code stays usable."""
        with self._lock:
            record = self._live.get(code) or self._redeemed.get(code)
        return dict(record) if record is not None else None

    def pop(self, code: str) -> dict[str, Any] | None:
        """Redeem ``code``: its record the first time, ``None`` ever after."""
        with self._lock:
            record = self._live.pop(code, None)
            if record is not None:
                self._redeemed[code] = record
                return dict(record)
            reused = code in self._redeemed
        if reused and self._on_reuse is not None:
            self._on_reuse(code)
        return None

    def age(self, code: str, seconds: float) -> bool:
        """Make ``code`` ``seconds`` older (the lab's clock; a test cannot wait 10 minutes)."""
        with self._lock:
            record = self._live.get(code) or self._redeemed.get(code)
            if record is None:
                return False
            record["issued_at"] -= seconds
        return True

    def records(self) -> dict[str, dict[str, Any]]:
        """Every code issued so far with its record (for the lab's log)."""
        with self._lock:
            return {c: dict(r) for c, r in {**self._redeemed, **self._live}.items()}
