"""02-jwt: a correct set of the five functions, for corpus cases that get one part wrong.

Not a case file (it declares no case); the case files load it by path.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

TYPES = {"access": "at+jwt", "refresh": "refresh+jwt"}
LIFETIMES = {"access": 15 * 60, "refresh": 7 * 24 * 3600}
REQUIRED = ["exp", "iat", "sub", "iss", "aud"]


def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
    now = int(time.time())
    common = {"sub": str(user["id"]), "ver": user["tokenVersion"], "iss": keys["issuer"],
              "aud": keys["audience"], "iat": now}  # fmt: skip
    access = {**common, "role": user["role"], "exp": now + LIFETIMES["access"]}
    refresh = {**common, "jti": secrets.token_urlsafe(16), "fam": user["family"],
               "exp": now + LIFETIMES["refresh"]}  # fmt: skip
    return {
        "accessToken": jwt.encode(access, keys["access"], "HS256", headers={"typ": "at+jwt"}),
        "refreshToken": jwt.encode(
            refresh, keys["refresh"], "HS256", headers={"typ": "refresh+jwt"}
        ),
    }


def check_lifetime(claims: dict[str, Any], typ: str) -> dict[str, Any]:
    if claims["exp"] - claims["iat"] > LIFETIMES[typ]:
        raise jwt.InvalidTokenError("lives longer than its type allows")
    return claims


def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
    decoded = jwt.decode_complete(
        token, keys[typ], algorithms=["HS256"], audience=keys["audience"],
        issuer=keys["issuer"], leeway=30, options={"require": REQUIRED},
    )  # fmt: skip
    if decoded["header"].get("typ") != TYPES[typ]:
        raise jwt.InvalidTokenError("wrong token type")
    return check_lifetime(decoded["payload"], typ)


def check_not_revoked(claims: dict[str, Any], ledger: Any) -> None:
    if claims.get("ver") != ledger.token_version(claims["sub"]):
        raise jwt.InvalidTokenError("revoked")
    if "fam" in claims:
        if ledger.family_revoked(claims["fam"]):
            raise jwt.InvalidTokenError("family revoked")
        if not ledger.use_once(claims["jti"]):
            ledger.revoke_family(claims["fam"])
            raise jwt.InvalidTokenError("reused")


def logout(claims: dict[str, Any], ledger: Any) -> None:
    ledger.revoke_all(claims["sub"])


def refresh_cookie(token: str) -> str:
    return (
        f"refreshToken={token}; HttpOnly; Secure; SameSite=Strict; "
        "Path=/api/auth/refresh; Max-Age=604800"
    )


def parts(**replaced: Any) -> dict[str, Any]:
    """The five functions, with some replaced."""
    return {
        "issue_tokens": issue_tokens,
        "verify_token": verify_token,
        "check_not_revoked": check_not_revoked,
        "logout": logout,
        "refresh_cookie": refresh_cookie,
        **replaced,
    }


def tokens(**replaced: Any) -> dict[str, Any]:
    return {"issue_tokens": issue_tokens, "verify_token": verify_token, **replaced}


def revocation(**replaced: Any) -> dict[str, Any]:
    return {**tokens(), "check_not_revoked": check_not_revoked, "logout": logout, **replaced}
