"""Access and refresh tokens done right (lab 02-jwt), on PyJWT.

Follows RFC 8725 (JWT Best Current Practices) and the catalogue's pattern:

* **short-lived access tokens** (15 min) and **refresh tokens** (7 days) signed with
  *separate keys* and explicitly typed in the JOSE header (``at+jwt``, RFC 9068 §2.1, and
  ``refresh+jwt``; RFC 8725 §3.11), so one can never be used as the other;
* verification with a **hard-coded algorithm list** (RFC 8725 §3.1): the ``alg`` header
  only selects among algorithms we chose, never ``none``, never HMAC with a public key;
* ``exp``, ``iat`` and ``sub`` **required**, ``iss`` and ``aud`` checked (RFC 8725 §3.8,
  §3.9), a small leeway for clock skew;
* HMAC keys of at least 32 bytes (RFC 7518 §3.2): a short key is a ``ValueError``;
* **revocation** by ``tokenVersion`` (``ver``): logout bumps the user's version and every
  token issued before dies; refresh tokens are **rotated** and single use: reusing a rotated
  one is taken as theft and revokes its whole family (OAuth 2.0 Security BCP, RFC 9700 §4.14.2);
* an **ES256** variant for many services: the issuer signs with a private key and publishes
  a JWKS (RFC 7517); other services verify with :class:`JwksVerifier` and hold no secret.

Every verification failure raises one exception type, :class:`TokenError`, whose
``reason`` is ``"missing"``, ``"expired"`` or ``"invalid"`` and whose ``body`` is the
seed's 401 JSON body.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "ACCESS_TTL",
    "LEEWAY",
    "MIN_HMAC_KEY_BYTES",
    "REFRESH_COOKIE",
    "REFRESH_TTL",
    "TOKEN_TYPES",
    "JwksVerifier",
    "MemoryRevocations",
    "RevocationStore",
    "TokenError",
    "TokenKeys",
    "TokenService",
    "bearer_token",
    "clear_refresh_cookie",
    "refresh_cookie",
]

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=7)
#: Clock skew tolerated on ``exp``/``iat`` (RFC 7519 §4.1.4 allows "a small leeway").
LEEWAY = timedelta(seconds=30)
#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
MIN_HMAC_KEY_BYTES = 32
#: JOSE ``typ`` per token type (RFC 8725 §3.11 explicit typing; ``at+jwt`` from RFC 9068).
TOKEN_TYPES: dict[str, str] = {"access": "at+jwt", "refresh": "refresh+jwt"}
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud")
#: The refresh cookie of the catalogue's pattern: script-proof, HTTPS-only, never sent
#: cross-site, and only to the one route that needs it.
REFRESH_COOKIE = "refreshToken"
REFRESH_PATH = "/api/auth/refresh"

Reason = Literal["missing", "expired", "invalid"]
_MESSAGES: dict[str, str] = {
    "missing": "Missing token",
    "expired": "Token expired",
    "invalid": "Invalid token",
}


class TokenError(jwt.InvalidTokenError):
    """The one error of this module: the token is missing, expired or invalid.

    ``reason`` says which; ``body`` is the 401 JSON body to send (``{"error": ...}``).
    The ``detail`` says why, for logs only: never send it to the client (no oracle).
    A subclass of :class:`jwt.InvalidTokenError`, so code catching PyJWT errors catches it.
    """

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail or _MESSAGES[reason])
        self.reason: Reason = reason
        self.detail = detail

    @property
    def body(self) -> dict[str, str]:
        return {"error": _MESSAGES[self.reason]}


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1)."""
    if not authorization:
        raise TokenError("missing")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("missing", "not a Bearer authorization")
    return token.strip()


# -- keys ----------------------------------------------------------------------------------
SigningKey = bytes | ec.EllipticCurvePrivateKey


def _check_hmac_key(name: str, key: bytes) -> None:
    if not isinstance(key, bytes):
        raise TypeError(f"{name} must be bytes (use secrets.token_bytes(32)), got {type(key)}")
    if len(key) < MIN_HMAC_KEY_BYTES:
        raise ValueError(
            f"{name} is {len(key)} bytes; HS256 needs at least {MIN_HMAC_KEY_BYTES} random "
            "bytes (RFC 7518 §3.2), e.g. secrets.token_bytes(32) from a secrets manager"
        )


@dataclass(frozen=True)
class TokenKeys:
    """The keys and names a :class:`TokenService` signs with.

    ``access`` is an HMAC key (HS256, one service) or a P-256 private key (ES256, many
    services verifying with the public JWKS). ``refresh`` is always an HMAC key: only the
    issuer ever verifies a refresh token. The two must differ.
    """

    access: SigningKey
    refresh: bytes
    issuer: str = "https://auth.labkit.example"
    audience: str = "https://api.labkit.example"
    kid: str = field(default_factory=lambda: "at-" + secrets.token_hex(4))

    def __post_init__(self) -> None:
        if isinstance(self.access, ec.EllipticCurvePrivateKey):
            if not isinstance(self.access.curve, ec.SECP256R1):
                raise ValueError("ES256 needs a P-256 (secp256r1) key (RFC 7518 §3.4)")
        else:
            _check_hmac_key("access key", self.access)
        _check_hmac_key("refresh key", self.refresh)
        if self.access == self.refresh:
            raise ValueError("access and refresh tokens must be signed with different keys")

    @classmethod
    def generate(cls, *, asymmetric: bool = False, **names: str) -> TokenKeys:
        """Fresh random keys: HS256 (default) or ES256 (``asymmetric=True``) access tokens."""
        access: SigningKey = (
            ec.generate_private_key(ec.SECP256R1()) if asymmetric else secrets.token_bytes(32)
        )
        return cls(access=access, refresh=secrets.token_bytes(32), **names)

    @property
    def access_algorithm(self) -> str:
        return "ES256" if isinstance(self.access, ec.EllipticCurvePrivateKey) else "HS256"

    def access_verification_key(self) -> Any:
        if isinstance(self.access, ec.EllipticCurvePrivateKey):
            return self.access.public_key()
        return self.access

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWKS (RFC 7517 §5) for ES256 access keys; empty for HS256."""
        if not isinstance(self.access, ec.EllipticCurvePrivateKey):
            return {"keys": []}
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.access.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "ES256"}]}


# -- revocation ----------------------------------------------------------------------------
class RevocationStore(Protocol):
    """Server-side state that makes logout and refresh rotation real.

    ``token_version(sub)`` is the user's current version (``ver`` claim); ``revoke_all``
    bumps it. ``use_once(jti)`` is True the first time a refresh token id is presented and
    False ever after (it must be atomic); ``revoke_family`` kills every refresh token
    descending from one login. Keep used ids until their token expires, then purge them.
    """

    def token_version(self, sub: str) -> int: ...
    def revoke_all(self, sub: str) -> None: ...
    def use_once(self, jti: str) -> bool: ...
    def revoke_family(self, family: str) -> None: ...
    def family_revoked(self, family: str) -> bool: ...


class MemoryRevocations:
    """A :class:`RevocationStore` in one process's memory (tests, one-process apps)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._used: set[str] = set()
        self._families: set[str] = set()

    def token_version(self, sub: str) -> int:
        with self._lock:
            return self._versions.get(sub, 0)

    def revoke_all(self, sub: str) -> None:
        with self._lock:
            self._versions[sub] = self._versions.get(sub, 0) + 1

    def use_once(self, jti: str) -> bool:
        with self._lock:
            if jti in self._used:
                return False
            self._used.add(jti)
            return True

    def revoke_family(self, family: str) -> None:
        with self._lock:
            self._families.add(family)

    def family_revoked(self, family: str) -> bool:
        with self._lock:
            return family in self._families


# -- the service ---------------------------------------------------------------------------
class TokenService:
    """Issues, verifies, rotates and revokes access/refresh token pairs.

    ``user`` mappings carry ``id``, ``role`` and ``tokenVersion`` (as the users table).
    Every ``verify_*`` method raises :class:`TokenError` and nothing else.
    """

    def __init__(
        self,
        keys: TokenKeys,
        revocations: RevocationStore | None = None,
        *,
        access_ttl: timedelta = ACCESS_TTL,
        refresh_ttl: timedelta = REFRESH_TTL,
        leeway: timedelta = LEEWAY,
    ) -> None:
        if leeway > timedelta(minutes=1):
            raise ValueError("a leeway over a minute turns expiry into a suggestion")
        self.keys = keys
        self.revocations: RevocationStore = revocations or MemoryRevocations()
        self.access_ttl, self.refresh_ttl, self.leeway = access_ttl, refresh_ttl, leeway
        # PyJWT raises InvalidKeyError instead of warning for a short HMAC key
        self._jwt = jwt.PyJWT(options={"enforce_minimum_key_length": True})

    # issuing ---------------------------------------------------------------------------
    def issue_tokens(self, user: Mapping[str, Any], *, family: str | None = None) -> dict[str, str]:
        """A fresh ``{"accessToken", "refreshToken"}`` pair; ``family`` continues a rotation."""
        now = int(time.time())
        sub, version = str(user["id"]), int(user.get("tokenVersion", 0))
        access = {"sub": sub, "role": user["role"], "ver": version, "iat": now}
        refresh = {
            "sub": sub,
            "ver": version,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "fam": family or secrets.token_urlsafe(16),
        }
        return {
            "accessToken": self.sign(
                {**access, "exp": now + int(self.access_ttl.total_seconds())}, typ="access"
            ),
            "refreshToken": self.sign(
                {**refresh, "exp": now + int(self.refresh_ttl.total_seconds())}, typ="refresh"
            ),
        }

    def sign(self, claims: Mapping[str, Any], *, typ: Literal["access", "refresh"]) -> str:
        """Sign ``claims`` as a token of type ``typ`` (``iss``/``aud`` added when absent)."""
        body = {"iss": self.keys.issuer, "aud": self.keys.audience, **claims}
        if typ == "access":
            key: Any = self.keys.access
            alg, headers = self.keys.access_algorithm, {"typ": TOKEN_TYPES["access"]}
            if alg == "ES256":
                headers["kid"] = self.keys.kid
        else:
            key, alg, headers = self.keys.refresh, "HS256", {"typ": TOKEN_TYPES["refresh"]}
        return self._jwt.encode(body, key, algorithm=alg, headers=headers)

    # verifying -------------------------------------------------------------------------
    def decode(self, token: str, typ: Literal["access", "refresh"]) -> dict[str, Any]:
        """Signature, algorithm, type and registered claims; no revocation lookup."""
        if typ == "access":
            key, algorithms = self.keys.access_verification_key(), [self.keys.access_algorithm]
        else:
            key, algorithms = self.keys.refresh, ["HS256"]
        try:
            decoded = self._jwt.decode_complete(
                token,
                key,
                algorithms=algorithms,  # hard-coded: the header never chooses (RFC 8725 §3.1)
                audience=self.keys.audience,
                issuer=self.keys.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:  # checked after the signature: genuine
            raise TokenError("expired", str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise TokenError("invalid", f"{type(exc).__name__}: {exc}") from exc
        if decoded["header"].get("typ") != TOKEN_TYPES[typ]:
            raise TokenError("invalid", f"not an {typ} token (typ {decoded['header'].get('typ')})")
        return decoded["payload"]

    def check_not_revoked(self, claims: Mapping[str, Any]) -> None:
        """Reject tokens from before a logout; consume a refresh token (rotation).

        Presenting a refresh token twice means two parties hold it: the family dies
        (RFC 9700 §4.14.2).
        """
        sub = str(claims["sub"])
        if claims.get("ver") != self.revocations.token_version(sub):
            raise TokenError("invalid", "revoked by logout")
        if "jti" not in claims:  # an access token: version check only
            return
        family = str(claims.get("fam", ""))
        if not family or self.revocations.family_revoked(family):
            raise TokenError("invalid", "refresh family revoked")
        if not self.revocations.use_once(str(claims["jti"])):
            self.revocations.revoke_family(family)
            raise TokenError("invalid", "refresh token reused: family revoked")

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a valid, unrevoked access token, or :class:`TokenError`."""
        claims = self.decode(token, "access")
        self.check_not_revoked(claims)
        return claims

    def refresh(
        self, token: str, load_user: Callable[[str], Mapping[str, Any] | None]
    ) -> dict[str, str]:
        """Rotate: consume ``token`` and return a new pair in the same family."""
        claims = self.decode(token, "refresh")
        self.check_not_revoked(claims)
        user = load_user(str(claims["sub"]))
        if user is None:
            raise TokenError("invalid", "unknown subject")
        return self.issue_tokens(user, family=str(claims["fam"]))

    def logout(self, claims: Mapping[str, Any]) -> None:
        """Revoke every token of ``claims["sub"]`` (all devices: tokenVersion + 1)."""
        self.revocations.revoke_all(str(claims["sub"]))


def refresh_cookie(token: str, *, max_age: timedelta = REFRESH_TTL) -> str:
    """The ``Set-Cookie`` value for a refresh token, exactly as the catalogue's pattern."""
    return (
        f"{REFRESH_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; "
        f"Path={REFRESH_PATH}; Max-Age={int(max_age.total_seconds())}"
    )


def clear_refresh_cookie() -> str:
    """The ``Set-Cookie`` value that deletes the refresh cookie at logout."""
    return refresh_cookie("", max_age=timedelta(0))


# -- many services: ES256 + JWKS -----------------------------------------------------------
class JwksVerifier:
    """Verify ES256 access tokens of another service from its published JWKS.

    Holds no secret: it fetches the issuer's public keys (PyJWKClient, cached, refetched on
    an unknown ``kid``) and accepts only ES256 tokens typed ``at+jwt`` for its audience.
    """

    def __init__(self, jwks_url: str, *, issuer: str, audience: str) -> None:
        if not jwks_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("fetch a JWKS over HTTPS (plain HTTP only on loopback)")
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=True, timeout=5)
        self.issuer, self.audience = issuer, audience

    def verify(self, token: str) -> dict[str, Any]:
        try:
            signing_key = self._client.get_signing_key_from_jwt(token)
            decoded = jwt.decode_complete(
                token,
                signing_key.key,
                algorithms=["ES256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("expired", str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise TokenError("invalid", f"{type(exc).__name__}: {exc}") from exc
        if decoded["header"].get("typ") != TOKEN_TYPES["access"]:
            raise TokenError("invalid", "not an access token")
        return decoded["payload"]
