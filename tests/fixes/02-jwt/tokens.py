"""02 tokens: wrong and right ways to issue and verify access and refresh tokens."""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
from joserfc import jwt as jose_jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey

from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")


TYPES = P.TYPES
REQUIRED = P.REQUIRED


def _typed(decoded: dict[str, Any], typ: str) -> dict[str, Any]:
    if decoded["header"].get("typ") != TYPES[typ]:
        raise jwt.InvalidTokenError("wrong token type")
    return P.check_lifetime(decoded["payload"], typ)


@wrong("tokens", breaks="iss-aud", also=("verify",))
def iss_and_aud_not_verified() -> Fixes:
    """verify_aud and verify_iss switched off ("the audience check kept failing")."""

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        decoded = jwt.decode_complete(
            token, keys[typ], algorithms=["HS256"], leeway=30,
            options={"require": ["exp", "iat", "sub"], "verify_aud": False, "verify_iss": False},
        )  # fmt: skip
        return _typed(decoded, typ)

    return P.parts(verify_token=verify_token)


@wrong("tokens", breaks="hs256-only")
def algorithm_from_the_header() -> Fixes:
    """algorithms=[header["alg"]]: the token picks its own algorithm."""

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        alg = jwt.get_unverified_header(token)["alg"]
        decoded = jwt.decode_complete(
            token, keys[typ], algorithms=[alg], audience=keys["audience"],
            issuer=keys["issuer"], leeway=30, options={"require": REQUIRED},
        )  # fmt: skip
        return _typed(decoded, typ)

    return P.parts(verify_token=verify_token)


@wrong("tokens", breaks="hs256-only")
def hmac_and_rsa_allowed() -> Fixes:
    """algorithms=["HS256", "RS256", "ES256"] "for the other services": one key for all."""

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        decoded = jwt.decode_complete(
            token, keys[typ], algorithms=["HS256", "RS256", "ES256"], audience=keys["audience"],
            issuer=keys["issuer"], leeway=30, options={"require": REQUIRED},
        )  # fmt: skip
        return _typed(decoded, typ)

    return P.tokens(verify_token=verify_token)


@wrong("tokens", breaks="signature")
def any_of_our_keys() -> Fixes:
    """Tries keys["access"], then keys["refresh"]: "it is one of ours either way"."""

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        for key in (keys["access"], keys["refresh"]):
            try:
                decoded = jwt.decode_complete(
                    token, key, algorithms=["HS256"], audience=keys["audience"],
                    issuer=keys["issuer"], leeway=30, options={"require": REQUIRED},
                )  # fmt: skip
            except jwt.InvalidSignatureError:
                continue
            return _typed(decoded, typ)
        raise jwt.InvalidSignatureError("no key matches")

    return P.parts(verify_token=verify_token)


@wrong("tokens", breaks="exp-required")
def exp_not_required() -> Fixes:
    """No options={"require": ...}: PyJWT checks exp only when the token has one."""

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        decoded = jwt.decode_complete(
            token, keys[typ], algorithms=["HS256"], audience=keys["audience"],
            issuer=keys["issuer"], leeway=30,
        )  # fmt: skip
        if decoded["header"].get("typ") != TYPES[typ]:
            raise jwt.InvalidTokenError("wrong token type")
        return decoded["payload"]

    return P.parts(verify_token=verify_token)


@wrong("tokens", breaks="exp-required")
def leeway_of_hours() -> Fixes:
    """leeway=3 hours "for clock skew between servers"."""

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        decoded = jwt.decode_complete(
            token, keys[typ], algorithms=["HS256"], audience=keys["audience"],
            issuer=keys["issuer"], leeway=3 * 3600, options={"require": REQUIRED},
        )  # fmt: skip
        return _typed(decoded, typ)

    return P.tokens(verify_token=verify_token)


@wrong("tokens", breaks="lifetime")
def any_lifetime_accepted() -> Fixes:
    """Checks everything but exp - iat: a token minted to live ten years is fine."""

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        decoded = jwt.decode_complete(
            token, keys[typ], algorithms=["HS256"], audience=keys["audience"],
            issuer=keys["issuer"], leeway=30, options={"require": REQUIRED},
        )  # fmt: skip
        if decoded["header"].get("typ") != TYPES[typ]:
            raise jwt.InvalidTokenError("wrong token type")
        return decoded["payload"]

    return P.parts(verify_token=verify_token)


@wrong("tokens", breaks="lifetime")
def day_long_access_tokens() -> Fixes:
    """Access tokens that live a day "so nobody has to refresh"."""

    def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        pair = P.issue_tokens(user, keys)
        claims = jwt.decode(pair["accessToken"], options={"verify_signature": False})
        claims["exp"] = claims["iat"] + 24 * 3600
        access = jwt.encode(claims, keys["access"], "HS256", headers={"typ": "at+jwt"})
        return {**pair, "accessToken": access}

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        decoded = jwt.decode_complete(
            token, keys[typ], algorithms=["HS256"], audience=keys["audience"],
            issuer=keys["issuer"], leeway=30, options={"require": REQUIRED},
        )  # fmt: skip
        if decoded["header"].get("typ") != TYPES[typ]:
            raise jwt.InvalidTokenError("wrong token type")
        return decoded["payload"]

    return {"issue_tokens": issue_tokens, "verify_token": verify_token}


@wrong("tokens", breaks="typed")
def one_key_no_typ() -> Fixes:
    """One key for both kinds of token and no typ check: a refresh token opens /api/me."""

    def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        return P.issue_tokens(user, {**keys, "refresh": keys["access"]})

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        claims = jwt.decode(
            token, keys["access"], algorithms=["HS256"], audience=keys["audience"],
            issuer=keys["issuer"], leeway=30, options={"require": REQUIRED},
        )  # fmt: skip
        return P.check_lifetime(claims, typ)

    return {"issue_tokens": issue_tokens, "verify_token": verify_token}


@wrong("tokens", breaks="typed")
def keys_apart_typ_unchecked() -> Fixes:
    """A key per type, so "typ is redundant": a typ-less or mistyped token still passes."""

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        claims = jwt.decode(
            token, keys[typ], algorithms=["HS256"], audience=keys["audience"],
            issuer=keys["issuer"], leeway=30, options={"require": REQUIRED},
        )  # fmt: skip
        return P.check_lifetime(claims, typ)

    return P.parts(verify_token=verify_token)


@wrong("tokens", breaks="issue-contract")
def password_as_key() -> Fixes:
    """Ignores keys and signs with a memorable password, on both sides."""
    weak = {"access": b"changeme", "refresh": b"changeme2"}

    def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        return P.issue_tokens(user, {**keys, **weak})

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        return P.verify_token(token, typ, {**keys, **weak})

    return P.parts(issue_tokens=issue_tokens, verify_token=verify_token)


@wrong("tokens", breaks="accepts-valid")
def own_random_keys() -> Fixes:
    """Random keys of its own, made at import: another service's valid token is refused."""
    mine = {"access": secrets.token_bytes(32), "refresh": secrets.token_bytes(32)}

    def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        return P.issue_tokens(user, {**keys, **mine})

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        return P.verify_token(token, typ, {**keys, **mine})

    return P.parts(issue_tokens=issue_tokens, verify_token=verify_token)


@right("tokens", also=("verify",))
def joserfc_class() -> Fixes:
    """Another library (joserfc) in a class: aud as a list, zero leeway, application/at+jwt."""

    class Tokens:
        def __init__(self) -> None:
            self.lifetimes = {"access": 900, "refresh": 604800}
            self.types = {"access": {"at+jwt", "application/at+jwt"}, "refresh": {"refresh+jwt"}}

        def issue(self, user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
            now = int(time.time())
            base = {"sub": str(user["id"]), "iss": keys["issuer"], "aud": [keys["audience"]],
                    "iat": now, "ver": user["tokenVersion"]}  # fmt: skip
            extra = {"access": {"role": user["role"]},
                     "refresh": {"jti": secrets.token_hex(16), "fam": user["family"]}}  # fmt: skip
            return {
                f"{typ}Token": jose_jwt.encode(
                    {"alg": "HS256", "typ": sorted(self.types[typ])[-1]},
                    {**base, **extra[typ], "exp": now + self.lifetimes[typ]},
                    OctKey.import_key(keys[typ]),
                )
                for typ in ("access", "refresh")
            }

        def verify(self, token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
            try:
                got = jose_jwt.decode(token, OctKey.import_key(keys[typ]), algorithms=["HS256"])
                registry = jose_jwt.JWTClaimsRegistry(
                    leeway=0,
                    iss={"essential": True, "value": keys["issuer"]},
                    aud={"essential": True, "value": keys["audience"]},
                    sub={"essential": True},
                    exp={"essential": True},
                    iat={"essential": True},
                )
                registry.validate(got.claims)
            except ExpiredTokenError as exc:
                raise jwt.ExpiredSignatureError(str(exc)) from exc
            except (JoseError, ValueError) as exc:
                raise jwt.InvalidTokenError(str(exc)) from exc
            claims = dict(got.claims)
            if got.header.get("typ") not in self.types[typ]:
                raise jwt.InvalidTokenError("wrong token type")
            if not isinstance(claims["sub"], str) or (
                "nbf" in claims and claims["nbf"] > time.time()
            ):
                raise jwt.InvalidTokenError("bad sub or not yet valid")
            if claims["exp"] - claims["iat"] > self.lifetimes[typ]:
                raise jwt.InvalidTokenError("lives too long")
            return claims

    tokens = Tokens()
    return P.parts(issue_tokens=tokens.issue, verify_token=tokens.verify)


@right("tokens")
def pyjwt_instance_with_explicit_checks() -> Fixes:
    """A PyJWT instance, claims checked by hand after the signature, leeway 60 s; times are
    floats (a NumericDate may have a fraction, RFC 7519 §2)."""
    decoder = jwt.PyJWT(options={"require": ["exp", "iat", "sub", "iss", "aud"]})

    def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        now = time.time()
        common = {"sub": str(user["id"]), "ver": user["tokenVersion"], "iat": now,
                  "iss": keys["issuer"], "aud": keys["audience"]}  # fmt: skip
        claims = {
            "access": {**common, "role": user["role"], "exp": now + 600},
            "refresh": {**common, "jti": secrets.token_urlsafe(24), "fam": user["family"],
                        "exp": now + 3 * 86400},
        }  # fmt: skip
        return {
            f"{typ}Token": jwt.encode(claims[typ], keys[typ], "HS256", headers={"typ": TYPES[typ]})
            for typ in ("access", "refresh")
        }

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        if jwt.get_unverified_header(token).get("typ") != TYPES[typ]:
            raise jwt.InvalidTokenError("wrong token type")
        claims = decoder.decode(
            token, key=keys[typ], algorithms=("HS256",), audience=keys["audience"],
            issuer=keys["issuer"], leeway=60,
        )  # fmt: skip
        if not 0 < claims["exp"] - claims["iat"] <= P.LIFETIMES[typ]:
            raise jwt.InvalidTokenError("lifetime out of range")
        return claims

    return {"issue_tokens": issue_tokens, "verify_token": verify_token}
