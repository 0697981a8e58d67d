"""Access and refresh tokens for many services (13-capstone), as plain functions.

The same contract as 02-jwt's ``issue_tokens(user, keys)`` / ``verify_token(token, typ,
keys)``, for a system where *other services* verify the issuer's access tokens: access
tokens are **ES256** (RFC 7518 §3.4), signed with a P-256 private key that only the issuer
holds; verifiers get :func:`verifier_keys` — the public key and the names, nothing that
signs — or fetch it from the issuer's JWKS (RFC 7517 §5). A verifier that leaks its
configuration leaks nothing that mints a token. Refresh tokens stay HS256 with the
issuer's own key: only the issuer ever reads them.

``keys`` is a dict: ``access`` (P-256 private key, issuer only), ``public`` (its public
key), ``refresh`` (32 random bytes, issuer only), ``issuer``, ``audience``, ``kid``.
Everything else follows :mod:`labkit.patterns.tokens` (RFC 8725): a hard-coded algorithm
list, explicit ``typ``, required ``exp``/``iat``/``sub``/``iss``/``aud``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from labkit.patterns.tokens import (
    ACCESS_TTL,
    LEEWAY,
    REFRESH_TTL,
    REQUIRED_CLAIMS,
    TOKEN_TYPES,
    TokenError,
)

__all__ = ["generate_keys", "issue_tokens", "jwks", "verifier_keys", "verify_token"]

#: The only entries a verifying service receives.
PUBLIC_ENTRIES = ("public", "issuer", "audience", "kid")


def generate_keys(*, issuer: str, audience: str) -> dict[str, Any]:
    """Fresh keys for the issuer: a P-256 pair for access tokens, 32 bytes for refresh."""
    private = ec.generate_private_key(ec.SECP256R1())
    return {
        "access": private,
        "public": private.public_key(),
        "refresh": secrets.token_bytes(32),
        "issuer": issuer,
        "audience": audience,
        "kid": "shop-" + secrets.token_hex(4),
    }


def verifier_keys(keys: Mapping[str, Any]) -> dict[str, Any]:
    """What another service may hold: the public key and the names, never a signing key."""
    return {name: keys[name] for name in PUBLIC_ENTRIES}


def jwks(keys: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The issuer's public JWKS (RFC 7517 §5)."""
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(keys["public"], as_dict=True)
    return {"keys": [{**jwk, "kid": keys["kid"], "use": "sig", "alg": "ES256"}]}


def issue_tokens(user: Mapping[str, Any], keys: Mapping[str, Any]) -> dict[str, str]:
    """An ES256 access token (15 min) and an HS256 refresh token (7 days), both typed."""
    now = int(time.time())
    names = {"iss": keys["issuer"], "aud": keys["audience"], "iat": now}
    sub, ver = str(user["id"]), int(user.get("tokenVersion", 0))
    access = jwt.encode(
        {**names, "sub": sub, "role": user["role"], "ver": ver,
         "exp": now + int(ACCESS_TTL.total_seconds())},
        keys["access"],
        algorithm="ES256",
        headers={"typ": TOKEN_TYPES["access"], "kid": keys["kid"]},
    )  # fmt: skip
    refresh = jwt.encode(
        {**names, "sub": sub, "ver": ver, "jti": secrets.token_urlsafe(16),
         "fam": user.get("family") or secrets.token_urlsafe(16),
         "exp": now + int(REFRESH_TTL.total_seconds())},
        keys["refresh"],
        algorithm="HS256",
        headers={"typ": TOKEN_TYPES["refresh"]},
    )  # fmt: skip
    return {"accessToken": access, "refreshToken": refresh}


def verify_token(token: str, typ: str, keys: Mapping[str, Any]) -> dict[str, Any]:
    """The claims of a genuine token of type ``typ``; :class:`TokenError` otherwise.

    Access tokens: ES256 with the public key only (so a verifier needs nothing secret);
    refresh tokens: HS256 with the issuer's refresh key. The header never picks either.
    """
    key, algorithm = (keys["public"], "ES256") if typ == "access" else (keys["refresh"], "HS256")
    try:
        decoded = jwt.decode_complete(
            token,
            key,
            algorithms=[algorithm],
            audience=keys["audience"],
            issuer=keys["issuer"],
            leeway=LEEWAY,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("expired", str(exc)) from exc
    except jwt.PyJWTError as exc:
        raise TokenError("invalid", f"{type(exc).__name__}: {exc}") from exc
    if decoded["header"].get("typ") != TOKEN_TYPES.get(typ):
        raise TokenError("invalid", f"not an {typ} token")
    return decoded["payload"]
