"""13 tokens part: the refresh cookie (row 1), the webhook secret (row 3), ES256 between the
shop and shipping (row 11) — wrong fixes a hurried developer writes, and right ones unlike
the reference."""

from __future__ import annotations

import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.cookies import SimpleCookie
from typing import Any, ClassVar

import jwt
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OctKey

from labkit.patterns import service_tokens
from tests.fixes.corpus import Fixes, right, wrong

WEEK = 7 * 24 * 3600
ENV = "PAYMENT_WEBHOOK_SECRET"


# -- row 1: the refresh cookie ---------------------------------------------------------------
def _cookie(token: str, **changes: str | None) -> str:
    """The reference attributes, with some changed (None drops one)."""
    attributes: dict[str, str | None] = {
        "HttpOnly": "",
        "Secure": "",
        "SameSite": "Strict",
        "Path": "/api/auth/refresh",
        "Max-Age": str(WEEK),
    }
    attributes.update(changes)
    parts = [f"refreshToken={token}"]
    parts += [
        name if value == "" else f"{name}={value}"
        for name, value in attributes.items()
        if value is not None
    ]
    return "; ".join(parts)


@wrong("fix-jwt-in-localstorage", breaks="httponly")
def cookie_without_httponly() -> Fixes:
    """Everything but HttpOnly: any script (and any XSS) reads the refresh token."""
    return {"refresh_cookie": lambda token: _cookie(token, HttpOnly=None)}


@wrong("fix-jwt-in-localstorage", breaks="cookie-scope")
def cookie_on_every_path() -> Fixes:
    """Path=/ 'so the SPA can see it': every request carries the refresh token."""
    return {"refresh_cookie": lambda token: _cookie(token, Path="/")}


@wrong("fix-jwt-in-localstorage", breaks="cookie-scope")
def cookie_for_the_parent_domain() -> Fixes:
    """Domain=127.0.0.1 added 'for the subdomains': the cookie is no longer host-only."""
    return {"refresh_cookie": lambda token: _cookie(token, Domain="127.0.0.1")}


@wrong("fix-jwt-in-localstorage", breaks="samesite")
def same_site_none() -> Fixes:
    """SameSite=None 'because the frontend is on another port': sent cross-site again."""
    return {"refresh_cookie": lambda token: _cookie(token, SameSite="None")}


@wrong("fix-jwt-in-localstorage", breaks="secure")
def cookie_without_secure() -> Fixes:
    """No Secure 'so it works on localhost': the token travels over plain HTTP too."""
    return {"refresh_cookie": lambda token: _cookie(token, Secure=None)}


@wrong("fix-jwt-in-localstorage", breaks="cookie-lifetime")
def cookie_for_thirty_days() -> Fixes:
    """Max-Age of 30 days, as the old localStorage token lived: past the seven-day limit."""
    return {"refresh_cookie": lambda token: _cookie(token, **{"Max-Age": str(30 * 24 * 3600)})}


@wrong("fix-jwt-in-localstorage", breaks="cookie-carries-token")
def cookie_carries_a_digest() -> Fixes:
    """'Never put a token in a cookie': the SHA-256 of the token instead — refresh breaks."""
    import hashlib

    return {"refresh_cookie": lambda token: _cookie(hashlib.sha256(token.encode()).hexdigest())}


@right("fix-jwt-in-localstorage")
def secure_prefix_cookie() -> Fixes:
    """A __Secure- cookie, attributes in another order and case, one day."""

    def refresh_cookie(token: str) -> str:
        return (
            f"__Secure-refresh={token}; path=/api/auth/refresh; secure; httponly; "
            "samesite=strict; max-age=86400"
        )

    return {"refresh_cookie": refresh_cookie}


@right("fix-jwt-in-localstorage")
def simple_cookie_lax_with_expires() -> Fixes:
    """http.cookies.SimpleCookie, SameSite=Lax (refresh is a POST) and an Expires date."""

    def refresh_cookie(token: str) -> str:
        jar: SimpleCookie = SimpleCookie()
        jar["rt"] = token
        morsel = jar["rt"]
        morsel["path"] = "/api/auth/refresh"
        morsel["secure"] = True
        morsel["httponly"] = True
        morsel["samesite"] = "Lax"
        morsel["expires"] = format_datetime(datetime.now(UTC) + timedelta(days=3), usegmt=True)
        return morsel.OutputString()

    return {"refresh_cookie": refresh_cookie}


# -- row 11: ES256 between the shop and shipping --------------------------------------------
def _verify(**overrides: Any) -> Any:
    """The reference verifier with some jwt.decode arguments changed."""

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        key, alg = (keys["public"], "ES256") if typ == "access" else (keys["refresh"], "HS256")
        arguments: dict[str, Any] = {
            "algorithms": [alg],
            "audience": keys["audience"],
            "issuer": keys["issuer"],
            "leeway": 30,
            "options": {"require": ["exp", "iat", "sub"]},
        }
        arguments.update(overrides)
        decoded = jwt.decode_complete(token, key, **arguments)
        if decoded["header"].get("typ") != {"access": "at+jwt", "refresh": "refresh+jwt"}[typ]:
            raise jwt.InvalidTokenError(f"not an {typ} token")
        return dict(decoded["payload"])

    return verify_token


def _tokens(**verify_overrides: Any) -> Fixes:
    return {
        "issue_tokens": service_tokens.issue_tokens,
        "verify_token": _verify(**verify_overrides),
    }


@wrong("fix-symmetric-jwt", breaks="iss-aud")
def iss_and_aud_switched_off() -> Fixes:
    """options={'verify_aud': False, 'verify_iss': False} 'because shipping has another
    audience': a token for any audience, from any issuer, signed with the key, passes."""
    return _tokens(options={"verify_aud": False, "verify_iss": False})


@wrong("fix-symmetric-jwt", breaks="expiry")
def expiry_switched_off() -> Fixes:
    """verify_exp off 'while debugging clock skew': an expired admin token still works."""
    return _tokens(options={"verify_exp": False})


@wrong("fix-symmetric-jwt", breaks="pinned-alg")
def algorithm_from_the_header() -> Fixes:
    """The token's own header picks the algorithm (and the key is the public PEM)."""
    from cryptography.hazmat.primitives import serialization

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        alg = jwt.get_unverified_header(token).get("alg", "ES256")
        if typ == "refresh":
            key: Any = keys.get("refresh", b"")
        else:
            key = keys["public"].public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        options = {"verify_signature": alg.lower() != "none"}
        return dict(
            jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=keys["audience"],
                issuer=keys["issuer"],
                options=options,
            )
        )

    return {"issue_tokens": service_tokens.issue_tokens, "verify_token": verify_token}


@wrong("fix-symmetric-jwt", breaks="asymmetric")
def hs256_pasted_from_02() -> Fixes:
    """02's HS256 solution pasted unchanged, with keys['refresh'] for both token types."""

    def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "sub": str(user["id"]),
            "role": user["role"],
            "iat": now,
            "iss": keys["issuer"],
            "aud": keys["audience"],
        }
        return {
            "accessToken": jwt.encode({**claims, "exp": now + 900}, keys["refresh"], "HS256"),
            "refreshToken": jwt.encode(
                {**claims, "exp": now + WEEK, "jti": secrets.token_hex(8)},
                keys["refresh"],
                "HS256",
                headers={"typ": "refresh+jwt"},
            ),
        }

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        return dict(
            jwt.decode(
                token,
                keys.get("refresh", b""),
                algorithms=["HS256"],
                audience=keys["audience"],
                issuer=keys["issuer"],
            )
        )

    return {"issue_tokens": issue_tokens, "verify_token": verify_token}


@wrong("fix-symmetric-jwt", breaks="token-type")
def any_key_that_fits() -> Fixes:
    """Tries the public key, then the refresh key: whichever verifies wins, so a refresh
    token passes as an access token."""

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        tries = [(keys["public"], "ES256")]
        if "refresh" in keys:
            tries.append((keys["refresh"], "HS256"))
        for key, alg in tries:
            try:
                return dict(
                    jwt.decode(
                        token,
                        key,
                        algorithms=[alg],
                        audience=keys["audience"],
                        issuer=keys["issuer"],
                    )
                )
            except jwt.InvalidTokenError:
                continue
        raise jwt.InvalidTokenError("no key fits")

    return {"issue_tokens": service_tokens.issue_tokens, "verify_token": verify_token}


@wrong("fix-symmetric-jwt", breaks="tokens-work")
def verifier_needs_the_refresh_key() -> Fixes:
    """Reads keys['refresh'] up front for every token: shipping, which holds only the
    public key, cannot verify anything."""
    reference = _verify()

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        keys["refresh"]
        return reference(token, typ, keys)

    return {"issue_tokens": service_tokens.issue_tokens, "verify_token": verify_token}


@wrong("fix-symmetric-jwt", breaks="expiry")
def day_long_access_tokens() -> Fixes:
    """Access tokens for 24 hours 'so customers stay logged in': past the 15 minutes."""

    def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        pair = service_tokens.issue_tokens(user, keys)
        now = int(time.time())
        claims = jwt.decode(pair["accessToken"], options={"verify_signature": False})
        pair["accessToken"] = jwt.encode(
            {**claims, "iat": now, "exp": now + 24 * 3600},
            keys["access"],
            algorithm="ES256",
            headers={"typ": "at+jwt", "kid": keys["kid"]},
        )
        return pair

    return {"issue_tokens": issue_tokens, "verify_token": _verify()}


class JoseTokens:
    """joserfc instead of PyJWT: ES256 access, HS256 refresh, claims checked by hand."""

    TYPES: ClassVar[dict[str, str]] = {"access": "at+jwt", "refresh": "refresh+jwt"}

    def issue_tokens(self, user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        now = int(time.time())
        base = {"sub": str(user["id"]), "iat": now, "iss": keys["issuer"], "aud": keys["audience"]}
        access_key = ECKey.import_key(keys["access"])
        access = jose_jwt.encode(
            {"alg": "ES256", "typ": self.TYPES["access"], "kid": keys["kid"]},
            {**base, "role": user["role"], "exp": now + 600},
            access_key,
            algorithms=["ES256"],
        )
        refresh = jose_jwt.encode(
            {"alg": "HS256", "typ": self.TYPES["refresh"]},
            {**base, "jti": secrets.token_urlsafe(12), "fam": user["family"], "exp": now + 86400},
            OctKey.import_key(keys["refresh"]),
            algorithms=["HS256"],
        )
        return {"accessToken": access, "refreshToken": refresh}

    def verify_token(self, token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        if typ == "access":
            key: Any = ECKey.import_key(keys["public"])
            alg = "ES256"
        else:
            key, alg = OctKey.import_key(keys["refresh"]), "HS256"
        try:
            decoded = jose_jwt.decode(token, key, algorithms=[alg])
        except (JoseError, ValueError) as exc:
            raise jwt.InvalidTokenError(str(exc)) from exc
        claims, header = dict(decoded.claims), decoded.header
        now = time.time()
        exp, iat = claims.get("exp"), claims.get("iat")
        if header.get("typ") != self.TYPES[typ] or header.get("alg") != alg:
            raise jwt.InvalidTokenError("wrong token type")
        if claims.get("iss") != keys["issuer"] or claims.get("aud") != keys["audience"]:
            raise jwt.InvalidTokenError("wrong issuer or audience")
        if not isinstance(exp, int) or not isinstance(iat, int) or exp < now - 10:
            raise jwt.ExpiredSignatureError("expired")
        if "sub" not in claims:
            raise jwt.InvalidTokenError("no subject")
        return claims


@right("fix-symmetric-jwt")
def joserfc_class() -> Fixes:
    """joserfc (another JOSE library), a class, 10-minute access tokens, no leeway to speak
    of."""
    tokens = JoseTokens()
    return {"issue_tokens": tokens.issue_tokens, "verify_token": tokens.verify_token}


@right("fix-symmetric-jwt")
def pyjwt_decode_then_typ() -> Fixes:
    """PyJWT's decode() with every claim required, and the header's typ checked after the
    signature (5-minute access tokens, one-day refresh tokens)."""

    def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
        now = int(time.time())
        names = {"iss": keys["issuer"], "aud": keys["audience"], "iat": now, "nbf": now}
        access = jwt.encode(
            {**names, "sub": str(user["id"]), "role": user["role"], "exp": now + 300},
            keys["access"],
            algorithm="ES256",
            headers={"typ": "at+jwt", "kid": keys["kid"]},
        )
        refresh = jwt.encode(
            {
                **names,
                "sub": str(user["id"]),
                "fam": user["family"],
                "jti": secrets.token_hex(16),
                "exp": now + 86400,
            },
            keys["refresh"],
            algorithm="HS256",
            headers={"typ": "refresh+jwt"},
        )
        return {"accessToken": access, "refreshToken": refresh}

    def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
        want = {
            "access": ("at+jwt", "ES256", "public"),
            "refresh": ("refresh+jwt", "HS256", "refresh"),
        }[typ]
        claims = jwt.decode(
            token,
            keys[want[2]],
            algorithms=[want[1]],
            audience=keys["audience"],
            issuer=keys["issuer"],
            leeway=5,
            options={"require": ["exp", "iat", "nbf", "sub", "iss", "aud"]},
        )
        if jwt.get_unverified_header(token).get("typ") != want[0]:
            raise jwt.InvalidTokenError("wrong type")
        return dict(claims)

    return {"issue_tokens": issue_tokens, "verify_token": verify_token}


# -- row 3: the webhook secret ---------------------------------------------------------------
def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _strict(value: str) -> str:
    if len(value) < 32:
        raise ValueError(f"{ENV} is missing or shorter than 32 characters")
    if any(w in value.lower() for w in ("changeme", "secret", "password", "example")):
        raise ValueError(f"{ENV} is a placeholder")
    if _entropy(value) < 3.0:
        raise ValueError(f"{ENV} is a repetition")
    return value


@wrong("fix-hardcoded-secret", breaks="fail-fast")
def fallback_literal() -> Fixes:
    """The environment first, a 'dev' literal otherwise: a deployment without the variable
    starts and signs with a value in the source."""
    return {"webhook_secret": lambda env: env.get(ENV) or "whsec_local_dev_fallback_Zq81mKx0"}


@wrong("fix-hardcoded-secret", breaks="fail-fast")
def length_only() -> Fixes:
    """Only a length check: 'changeme' * 4 is 32 characters and starts the shop."""

    def webhook_secret(env: Mapping[str, str]) -> str:
        value = env.get(ENV, "")
        if len(value) < 32:
            raise ValueError(f"{ENV} is too short")
        return value

    return {"webhook_secret": webhook_secret}


@wrong("fix-hardcoded-secret", breaks="never-echo")
def echoes_the_value() -> Fixes:
    """Refuses weak values — and prints them in the error (and so in the logs)."""

    def webhook_secret(env: Mapping[str, str]) -> str:
        value = env.get(ENV)
        try:
            return _strict(value or "")
        except ValueError as exc:
            raise ValueError(f"{ENV}={value!r} refused: {exc}") from None

    return {"webhook_secret": webhook_secret}


@wrong("fix-hardcoded-secret", breaks="secret-from-env")
def only_whsec_secrets() -> Fixes:
    """'Stripe secrets start with whsec_': a strong hex or base64url secret is refused."""

    def webhook_secret(env: Mapping[str, str]) -> str:
        value = _strict(env.get(ENV, ""))
        if not value.startswith("whsec_"):
            raise ValueError(f"{ENV} is not a provider secret (whsec_...)")
        return value

    return {"webhook_secret": webhook_secret}


class SecretSetting:
    """A settings object: distinct characters instead of entropy, a placeholder regex."""

    PLACEHOLDER = re.compile(r"change.?me|secret|password|example", re.IGNORECASE)

    def __call__(self, env: Mapping[str, str]) -> str:
        value = env.get(ENV)
        if value is None or not value.strip():
            raise RuntimeError(f"{ENV} is not set: refusing to start")
        if len(value) < 32 or len(set(value)) < 10:
            raise RuntimeError(f"{ENV} is too short or not random enough")
        if self.PLACEHOLDER.search(value):
            raise RuntimeError(f"{ENV} looks like a placeholder")
        return value


@right("fix-hardcoded-secret")
def settings_object() -> Fixes:
    """A callable settings class: at least 32 characters, 10 distinct ones, no placeholder."""
    return {"webhook_secret": SecretSetting()}


@right("fix-hardcoded-secret")
def entropy_with_key_error() -> Fixes:
    """env[...] (a KeyError when missing), then the reference's strength tests."""

    def webhook_secret(env: Mapping[str, str]) -> str:
        try:
            value = env[ENV]
        except KeyError:
            raise LookupError(f"{ENV} missing") from None
        return _strict(value)

    return {"webhook_secret": webhook_secret}
