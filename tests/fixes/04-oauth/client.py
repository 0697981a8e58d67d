"""04 state and nonce: wrong and right fixes of the client web app's two checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from labkit.patterns import oauth as secure
from tests.fixes.corpus import Fixes, right, wrong

PARTS = (
    "validate_redirect_uri",
    "verify_pkce",
    "redeem_code",
    "flow_allowed",
    "check_state",
    "check_nonce",
)


def _verify(**parts: Any) -> Fixes:
    """The reference's six functions, except ``parts`` (``verify`` needs all six)."""
    return {**{name: getattr(secure, name) for name in PARTS}, **parts}


# -- check_state ---------------------------------------------------------------------------
@wrong("state", breaks="unsolicited-refused", also=("verify",))
def state_equal() -> Fixes:
    """expected == returned: None == None for a callback nobody asked for."""
    return _verify(check_state=lambda expected, returned: expected == returned)


@wrong("state", breaks="unsolicited-refused")
def state_only_if_expected() -> Fixes:
    """Compares only when a login is in progress ('nothing to compare otherwise')."""
    return {
        "check_state": lambda expected, returned: (
            expected is None or hmac.compare_digest(expected, returned or "")
        )
    }


@wrong("state", breaks="state-matches")
def state_present() -> Fixes:
    """'Both are there': never compared."""
    return _verify(check_state=lambda expected, returned: bool(expected) and returned is not None)


@wrong("state", breaks="state-matches")
def state_substring() -> Fixes:
    """returned in expected: the empty string and every prefix pass."""

    def check_state(expected: Any, returned: Any) -> bool:
        return isinstance(expected, str) and isinstance(returned, str) and returned in expected

    return {"check_state": check_state}


@wrong("state", breaks="client-login")
def state_bytes_vs_str() -> Fixes:
    """Compares the str with its bytes: never equal, nobody can log in."""

    def check_state(expected: Any, returned: Any) -> bool:
        return bool(expected) and returned is not None and expected == returned.encode()

    return _verify(check_state=check_state)


@right("state", also=("verify",))
def state_secrets_compare() -> Fixes:
    """secrets.compare_digest on the strings, after type checks."""

    def check_state(expected: Any, returned: Any) -> bool:
        if not isinstance(expected, str) or not isinstance(returned, str) or not expected:
            return False
        return secrets.compare_digest(expected, returned)

    return _verify(check_state=check_state)


@right("state")
def state_class() -> Fixes:
    """A class that compares SHA-256 digests of both values."""

    class State:
        def __call__(self, expected: Any, returned: Any) -> bool:
            if expected is None or returned is None:
                return False
            a, b = (hashlib.sha256(str(v).encode()).digest() for v in (expected, returned))
            return bool(expected) and hmac.compare_digest(a, b)

    return {"check_state": State()}


# -- check_nonce ---------------------------------------------------------------------------
@wrong("nonce", breaks="nonce-required", also=("verify",))
def nonce_if_present() -> Fixes:
    """Compares the nonce when the token has one; a token without one passes."""

    def check_nonce(expected: Any, claims: Mapping[str, Any]) -> bool:
        return claims.get("nonce") is None or claims.get("nonce") == expected

    return _verify(check_nonce=check_nonce)


@wrong("nonce", breaks="nonce-required")
def nonce_if_expected() -> Fixes:
    """Compares only when this session sent a nonce."""
    return {
        "check_nonce": lambda expected, claims: expected is None or claims.get("nonce") == expected
    }


@wrong("nonce", breaks="nonce-matches")
def nonce_prefix() -> Fixes:
    """Compares the first 16 characters 'which is enough entropy'."""

    def check_nonce(expected: Any, claims: Mapping[str, Any]) -> bool:
        nonce = claims.get("nonce")
        if not isinstance(expected, str) or not isinstance(nonce, str):
            return False
        return nonce.lower()[:16] == expected.lower()[:16]

    return _verify(check_nonce=check_nonce)


@wrong("nonce", breaks="no-crash")
def nonce_key_error() -> Fixes:
    """claims['nonce'] without asking if it is there: a token without one is a 500."""

    def check_nonce(expected: Any, claims: Mapping[str, Any]) -> bool:
        return expected is not None and hmac.compare_digest(claims["nonce"], expected)

    return {"check_nonce": check_nonce}


@wrong("nonce", breaks="client-login")
def nonce_hashed() -> Fixes:
    """Compares the token's nonce with SHA-256(expected) ('send the hash, keep the value')."""

    def check_nonce(expected: Any, claims: Mapping[str, Any]) -> bool:
        if not isinstance(expected, str):
            return False
        return claims.get("nonce") == hashlib.sha256(expected.encode()).hexdigest()

    return _verify(check_nonce=check_nonce)


@right("nonce", also=("verify",))
def nonce_secrets_compare() -> Fixes:
    """secrets.compare_digest after type checks, claims read with .get."""

    def check_nonce(expected: Any, claims: Mapping[str, Any]) -> bool:
        nonce = claims.get("nonce")
        return (
            isinstance(expected, str)
            and isinstance(nonce, str)
            and bool(expected)
            and secrets.compare_digest(expected.encode(), nonce.encode())
        )

    return _verify(check_nonce=check_nonce)


@right("nonce")
def nonce_class() -> Fixes:
    """A class; a missing key caught as KeyError, then a plain == (timing is not the risk)."""

    class Nonce:
        def __call__(self, expected: Any, claims: Mapping[str, Any]) -> bool:
            try:
                return bool(expected) and claims["nonce"] == expected
            except KeyError:
                return False

    return {"check_nonce": Nonce()}
