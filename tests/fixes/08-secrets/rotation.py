"""08 rotation: keyring signing and verification that break the rotation, and right ones."""

from typing import Any

import jwt
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")

REQUIRE = {"require": ["exp", "iat", "sub"]}


def _kid(token: str) -> Any:
    return jwt.get_unverified_header(token).get("kid")


@wrong("rotation", breaks="verify-signature", also=("verify",))
def previous_key_unchecked() -> Fixes:
    """Tokens of the previous key are decoded without their signature ("they are old ones
    anyway, and the key is going away"): during the overlap any forged token passes."""

    def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
        try:
            key = keyring.keys.get(_kid(token))
            if key is None or key.status not in P.ACCEPTED:
                return None
            if key.status == "previous":
                return jwt.decode(token, options={"verify_signature": False, **REQUIRE})
            return jwt.decode(
                token, key.secret.get_secret_value(), algorithms=["HS256"], options=REQUIRE
            )
        except jwt.PyJWTError:
            return None

    return P.parts(verify_token=verify_token)


@wrong("rotation", breaks="accept-both")
def active_key_only() -> Fixes:
    """Swaps keys without an overlap: only the active key verifies."""

    def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
        secret = keyring.keys[keyring.active_kid].secret.get_secret_value()
        try:
            return jwt.decode(token, secret, algorithms=["HS256"], options=REQUIRE)
        except jwt.PyJWTError:
            return None

    return P.parts(verify_token=verify_token)


@wrong("rotation", breaks="accept-both")
def next_key_not_yet() -> Fixes:
    """Accepts active and previous keys, not one that is still rolling out (next)."""

    def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
        try:
            key = keyring.keys.get(_kid(token))
            if key is None or key.status not in ("active", "previous"):
                return None
            return jwt.decode(
                token, key.secret.get_secret_value(), algorithms=["HS256"], options=REQUIRE
            )
        except jwt.PyJWTError:
            return None

    return {"sign_token": P.sign_token, "verify_token": verify_token}


@wrong("rotation", breaks="refuse-retired")
def status_never_checked() -> Fixes:
    """Picks the key by kid and never looks at its status: retired keys still verify."""

    def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
        try:
            key = keyring.keys.get(_kid(token))
            if key is None:
                return None
            return jwt.decode(
                token, key.secret.get_secret_value(), algorithms=["HS256"], options=REQUIRE
            )
        except jwt.PyJWTError:
            return None

    return P.parts(sign_token=P.sign_token, verify_token=verify_token)


@wrong("rotation", breaks="refuse-retired")
def every_key_without_kid() -> Fixes:
    """A token without kid is tried against every key the ring ever had ("old clients")."""

    def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
        try:
            if _kid(token) is not None:
                return P.verify_token(token, keyring)
            for key in keyring.keys.values():
                try:
                    return jwt.decode(
                        token, key.secret.get_secret_value(), algorithms=["HS256"], options=REQUIRE
                    )
                except jwt.InvalidSignatureError:
                    continue
        except jwt.PyJWTError:
            return None
        return None

    return {"sign_token": P.sign_token, "verify_token": verify_token}


@wrong("rotation", breaks="kid-header")
def no_kid_in_header() -> Fixes:
    """Signs with the active key but names no key: verifiers must guess."""

    def sign_token(claims: dict[str, Any], keyring: Any) -> str:
        secret = keyring.keys[keyring.active_kid].secret.get_secret_value()
        return jwt.encode(claims, secret, algorithm="HS256")

    return P.parts(sign_token=sign_token, verify_token=P.verify_token)


@wrong("rotation", breaks="kid-header")
def signs_with_the_newest() -> Fixes:
    """Signs with the newest key, even one still rolling out (step 2)."""

    def sign_token(claims: dict[str, Any], keyring: Any) -> str:
        newest = max(keyring.keys.values(), key=lambda k: k.created_at)
        return jwt.encode(
            claims, newest.secret.get_secret_value(), algorithm="HS256", headers={"kid": newest.kid}
        )

    return {"sign_token": sign_token, "verify_token": P.verify_token}


@wrong("rotation", breaks="hs256-only")
def algorithm_from_the_header() -> Fixes:
    """algorithms=[header["alg"]]: HS512 (or anything PyJWT knows) is fine too."""

    def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
        try:
            secret = P.key_for(token, keyring)
            if secret is None:
                return None
            alg = jwt.get_unverified_header(token)["alg"]
            return jwt.decode(token, secret, algorithms=[alg], options=REQUIRE)
        except jwt.PyJWTError:
            return None

    return P.parts(sign_token=P.sign_token, verify_token=verify_token)


@wrong("rotation", breaks="required-claims")
def exp_not_required() -> Fixes:
    """No options={"require": ...}: a token without exp never expires."""

    def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
        try:
            secret = P.key_for(token, keyring)
            return None if secret is None else jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None

    return P.parts(sign_token=P.sign_token, verify_token=verify_token)


@wrong("rotation", breaks="no-crash")
def raises_on_garbage() -> Fixes:
    """Lets PyJWT's errors escape: a malformed token is a 500, not a 401."""

    def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
        secret = P.key_for(token, keyring)
        if secret is None:
            return None
        return jwt.decode(token, secret, algorithms=["HS256"], options=REQUIRE)

    return {"sign_token": P.sign_token, "verify_token": verify_token}


class JoseKeyring:
    """Sign and verify with joserfc; the accepted statuses in one place."""

    accepted = frozenset({"next", "active", "previous"})

    def sign(self, claims: dict[str, Any], keyring: Any) -> str:
        kid = keyring.active_kid
        key = OctKey.import_key(keyring.keys[kid].secret.get_secret_value())
        return jose_jwt.encode({"alg": "HS256", "kid": kid, "typ": "JWT"}, claims, key)

    def verify(self, token: str, keyring: Any) -> dict[str, Any] | None:
        try:
            kid = _kid(token)
        except jwt.PyJWTError:
            return None
        entry = keyring.keys.get(kid) if isinstance(kid, str) else None
        if entry is None or entry.status not in self.accepted:
            return None
        try:
            decoded = jose_jwt.decode(
                token, OctKey.import_key(entry.secret.get_secret_value()), algorithms=["HS256"]
            )
            jose_jwt.JWTClaimsRegistry(
                exp={"essential": True}, iat={"essential": True}, sub={"essential": True}
            ).validate(decoded.claims)
        except (JoseError, ValueError):
            return None
        return dict(decoded.claims)


@right("rotation", also=("verify",))
def joserfc_class() -> Fixes:
    """Another library (joserfc), in a class."""
    ring = JoseKeyring()
    return P.parts(sign_token=ring.sign, verify_token=ring.verify)


@right("rotation")
def accepted_dict_and_leeway() -> Fixes:
    """The accepted keys as a dict comprehension first, then PyJWT with a 10 s leeway."""

    def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
        usable = {kid: k for kid, k in keyring.keys.items() if k.status != "retired"}
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if kid not in usable:
                return None
            return jwt.decode(
                token,
                usable[kid].secret.get_secret_value(),
                algorithms=("HS256",),
                leeway=10,
                options=REQUIRE,
            )
        except (jwt.PyJWTError, TypeError):
            return None

    return {"sign_token": P.sign_token, "verify_token": verify_token}
