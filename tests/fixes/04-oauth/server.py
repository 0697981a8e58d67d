"""04 pkce, redirect-uri-exact, codes and flows: wrong and right fixes of the authorization
server's four functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

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


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


# -- verify_pkce ---------------------------------------------------------------------------
@wrong("pkce", breaks="no-crash", also=("verify",))
def pkce_raises_on_none() -> Fixes:
    """Hashes the verifier without asking if there is one: None.encode() raises (a 500)."""

    def verify_pkce(verifier: Any, challenge: Any, method: Any) -> bool:
        return method == "S256" and hmac.compare_digest(_s256(verifier), challenge)

    return _verify(verify_pkce=verify_pkce)


@wrong("pkce", breaks="s256-only")
def pkce_plain_accepted() -> Fixes:
    """Required, but 'plain' (and a missing method, plain by default) still accepted."""

    def verify_pkce(verifier: Any, challenge: Any, method: Any) -> bool:
        if not verifier or not challenge or not UNRESERVED.fullmatch(verifier):
            return False
        if method in (None, "plain"):
            return hmac.compare_digest(verifier, challenge)
        return method == "S256" and hmac.compare_digest(_s256(verifier), challenge)

    return _verify(verify_pkce=verify_pkce)


@wrong("pkce", breaks="pkce-required")
def pkce_optional() -> Fixes:
    """S256 done right when both sides are there — and skipped when either is missing."""

    def verify_pkce(verifier: Any, challenge: Any, method: Any) -> bool:
        if verifier is None or challenge is None:
            return True
        return method == "S256" and hmac.compare_digest(_s256(verifier), challenge)

    return _verify(verify_pkce=verify_pkce)


@wrong("pkce", breaks="pkce-required")
def pkce_downgrade() -> Fixes:
    """Insists on a verifier only when the code had a challenge: no challenge, no questions."""

    def verify_pkce(verifier: Any, challenge: Any, method: Any) -> bool:
        if challenge is None:
            return True
        return (
            isinstance(verifier, str)
            and method == "S256"
            and hmac.compare_digest(_s256(verifier), challenge)
        )

    return {"verify_pkce": verify_pkce}


@wrong("pkce", breaks="verifier-matches")
def pkce_challenge_compared_to_verifier() -> Fixes:
    """S256 only, but compares the challenge with the verifier itself (plain's rule)."""

    def verify_pkce(verifier: Any, challenge: Any, method: Any) -> bool:
        return method == "S256" and isinstance(verifier, str) and verifier == challenge

    return _verify(verify_pkce=verify_pkce)


@wrong("pkce", breaks="verifier-matches")
def pkce_prefix_compare() -> Fixes:
    """Compares the first 32 characters of the hash 'which is plenty' — and of anything else."""

    def verify_pkce(verifier: Any, challenge: Any, method: Any) -> bool:
        if method != "S256" or not isinstance(verifier, str) or not isinstance(challenge, str):
            return False
        return challenge.startswith(_s256(verifier)[:32]) or verifier.startswith(challenge[:8])

    return {"verify_pkce": verify_pkce}


@wrong("pkce", breaks="verifier-format")
def pkce_any_verifier_length() -> Fixes:
    """S256 right, but no check of the verifier's length or characters (RFC 7636 §4.1)."""

    def verify_pkce(verifier: Any, challenge: Any, method: Any) -> bool:
        if not (isinstance(verifier, str) and isinstance(challenge, str)) or method != "S256":
            return False
        return hmac.compare_digest(_s256(verifier), challenge)

    return _verify(verify_pkce=verify_pkce)


@wrong("pkce", breaks="s256-redeems")
def pkce_keeps_padding() -> Fixes:
    """base64url *with* its '=' padding: never equal to a real S256 challenge."""

    def verify_pkce(verifier: Any, challenge: Any, method: Any) -> bool:
        if not (isinstance(verifier, str) and isinstance(challenge, str)) or method != "S256":
            return False
        if not UNRESERVED.fullmatch(verifier):
            return False
        digest = hashlib.sha256(verifier.encode()).digest()
        return hmac.compare_digest(base64.urlsafe_b64encode(digest).decode(), challenge)

    return _verify(verify_pkce=verify_pkce)


@wrong("pkce", breaks="s256-redeems")
def pkce_hexdigest() -> Fixes:
    """SHA-256 as hex instead of base64url: the RFC's own example fails."""

    def verify_pkce(verifier: Any, challenge: Any, method: Any) -> bool:
        if not (isinstance(verifier, str) and isinstance(challenge, str)) or method != "S256":
            return False
        return hashlib.sha256(verifier.encode()).hexdigest() == challenge

    return {"verify_pkce": verify_pkce}


@right("pkce", also=("verify",))
def pkce_authlib_class() -> Fixes:
    """A class; Authlib's create_s256_code_challenge, a plain == (timing is not the risk)."""

    class Pkce:
        allowed = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

        def __call__(self, verifier: Any, challenge: Any, method: Any) -> bool:
            if method != "S256" or not verifier or not challenge:
                return False
            if not 43 <= len(verifier) <= 128 or not set(verifier) <= self.allowed:
                return False
            return create_s256_code_challenge(verifier) == challenge

    return _verify(verify_pkce=Pkce())


@right("pkce")
def pkce_hand_made_b64() -> Fixes:
    """Hand-made base64url of the digest, padding stripped, secrets.compare_digest."""

    def verify_pkce(verifier: Any, challenge: Any, method: Any) -> bool:
        if (verifier, challenge) == (None, None) or method != "S256":
            return False
        if (
            not isinstance(verifier, str)
            or re.fullmatch(r"[\w.~-]{43,128}", verifier, re.A) is None
        ):
            return False
        expected = _s256(verifier)
        return isinstance(challenge, str) and secrets.compare_digest(expected, challenge)

    return {"verify_pkce": verify_pkce}


# -- validate_redirect_uri -----------------------------------------------------------------
@wrong("redirect-uri-exact", breaks="no-prefix-match", also=("verify",))
def redirect_startswith() -> Fixes:
    """requested.startswith(registered): sub-paths and '..' pass."""
    return _verify(
        validate_redirect_uri=lambda registered, requested: requested.startswith(registered)
    )


@wrong("redirect-uri-exact", breaks="no-prefix-match")
def redirect_regex() -> Fixes:
    """re.match(registered, requested): a prefix match, and every '.' a wildcard."""
    return {
        "validate_redirect_uri": lambda registered, requested: bool(re.match(registered, requested))
    }


@wrong("redirect-uri-exact", breaks="whole-string")
def redirect_case_insensitive() -> Fixes:
    """Exact, but lower-cased 'because URLs are case-insensitive' (paths are not)."""

    def validate_redirect_uri(registered: str, requested: str) -> bool:
        return requested.lower() == registered.lower()

    return _verify(validate_redirect_uri=validate_redirect_uri)


@wrong("redirect-uri-exact", breaks="whole-string")
def redirect_without_query() -> Fixes:
    """Compares scheme, host and path; query and fragment 'are only parameters'."""

    def validate_redirect_uri(registered: str, requested: str) -> bool:
        a, b = urlsplit(registered), urlsplit(requested)
        return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)

    return {"validate_redirect_uri": validate_redirect_uri}


@wrong("redirect-uri-exact", breaks="whole-string")
def redirect_trailing_slash() -> Fixes:
    """Exact up to a trailing slash, 'so both spellings work'."""
    return {
        "validate_redirect_uri": lambda registered, requested: (
            requested.rstrip("/") == registered.rstrip("/")
        )
    }


@wrong("redirect-uri-exact", breaks="same-origin")
def redirect_host_and_path() -> Fixes:
    """Same hostname and path: port, scheme and userinfo ignored."""

    def validate_redirect_uri(registered: str, requested: str) -> bool:
        a, b = urlsplit(registered), urlsplit(requested)
        return (a.hostname, a.path, a.query) == (b.hostname, b.path, b.query) and not b.fragment

    return _verify(validate_redirect_uri=validate_redirect_uri)


@wrong("redirect-uri-exact", breaks="registered-works")
def redirect_identity() -> Fixes:
    """'is' instead of '==': two equal strings from different places are not the same object."""

    def validate_redirect_uri(registered: str, requested: str) -> bool:
        return requested is registered

    return _verify(validate_redirect_uri=validate_redirect_uri)


@right("redirect-uri-exact", also=("verify",))
def redirect_compare_digest() -> Fixes:
    """hmac.compare_digest of the two URIs as bytes."""

    def validate_redirect_uri(registered: str, requested: str) -> bool:
        return hmac.compare_digest(registered.encode(), requested.encode())

    return _verify(validate_redirect_uri=validate_redirect_uri)


@right("redirect-uri-exact")
def redirect_membership() -> Fixes:
    """A class holding the registration as a one-element set; membership is exact equality."""

    class Registered:
        def __call__(self, registered: str, requested: str) -> bool:
            return isinstance(requested, str) and requested in {registered}

    return {"validate_redirect_uri": Registered()}


# -- redeem_code ---------------------------------------------------------------------------
def _bound(record: dict[str, Any] | None, client_id: str, redirect_uri: Any) -> bool:
    return (
        record is not None
        and record["client_id"] == client_id
        and record["redirect_uri"] == redirect_uri
    )


@wrong("codes", breaks="single-use", also=("verify",))
def codes_read_not_taken() -> Fixes:
    """Bound and short-lived, but read with codes.get: redeemable again and again."""

    def redeem_code(codes: Any, code: str, client_id: str, redirect_uri: Any) -> Any:
        record = codes.get(code)
        if not _bound(record, client_id, redirect_uri):
            return None
        return record if time.time() - record["issued_at"] <= 600 else None

    return _verify(redeem_code=redeem_code)


@wrong("codes", breaks="bound-to-client")
def codes_any_client() -> Fixes:
    """Single-use and short-lived, but any client may redeem it."""

    def redeem_code(codes: Any, code: str, client_id: str, redirect_uri: Any) -> Any:
        record = codes.pop(code)
        if record is None or record["redirect_uri"] != redirect_uri:
            return None
        return record if time.time() - record["issued_at"] <= 600 else None

    return _verify(redeem_code=redeem_code)


@wrong("codes", breaks="bound-to-redirect-uri")
def codes_redirect_optional() -> Fixes:
    """Compares the redirect_uri only when the token request sends one."""

    def redeem_code(codes: Any, code: str, client_id: str, redirect_uri: Any) -> Any:
        record = codes.pop(code)
        if record is None or record["client_id"] != client_id:
            return None
        if redirect_uri and record["redirect_uri"] != redirect_uri:
            return None
        return record if time.time() - record["issued_at"] <= 600 else None

    return _verify(redeem_code=redeem_code)


@wrong("codes", breaks="bound-to-redirect-uri")
def codes_redirect_prefix() -> Fixes:
    """The token request's redirect_uri must only start with the one of the authorization."""

    def redeem_code(codes: Any, code: str, client_id: str, redirect_uri: Any) -> Any:
        record = codes.pop(code)
        if record is None or record["client_id"] != client_id:
            return None
        if not str(redirect_uri).startswith(record["redirect_uri"]):
            return None
        return record if time.time() - record["issued_at"] <= 600 else None

    return {"redeem_code": redeem_code}


@wrong("codes", breaks="expires")
def codes_live_an_hour() -> Fixes:
    """Single-use and bound, but valid for an hour."""

    def redeem_code(codes: Any, code: str, client_id: str, redirect_uri: Any) -> Any:
        record = codes.pop(code)
        if not _bound(record, client_id, redirect_uri):
            return None
        return record if time.time() - record["issued_at"] <= 3600 else None

    return _verify(redeem_code=redeem_code)


@wrong("codes", breaks="expires")
def codes_milliseconds() -> Fixes:
    """The 10 minutes written in milliseconds: 600,000 'seconds'."""

    def redeem_code(codes: Any, code: str, client_id: str, redirect_uri: Any) -> Any:
        record = codes.pop(code)
        if not _bound(record, client_id, redirect_uri):
            return None
        return record if time.time() - record["issued_at"] <= 600_000 else None

    return {"redeem_code": redeem_code}


@wrong("codes", breaks="fresh-code-redeems")
def codes_expiry_inverted() -> Fixes:
    """The expiry test upside down: every fresh code is 'expired'."""

    def redeem_code(codes: Any, code: str, client_id: str, redirect_uri: Any) -> Any:
        record = codes.pop(code)
        if not _bound(record, client_id, redirect_uri):
            return None
        if record["issued_at"] + 600 > time.time():
            return None
        return record

    return _verify(redeem_code=redeem_code)


@right("codes", also=("verify",))
def codes_datetime_five_minutes() -> Fixes:
    """A class; 5 minutes (shorter is allowed), datetime arithmetic, compare_digest."""

    class Redeemer:
        ttl = timedelta(minutes=5)

        def __call__(self, codes: Any, code: str, client_id: str, redirect_uri: Any) -> Any:
            record = codes.pop(code)
            if record is None or not isinstance(redirect_uri, str):
                return None
            same = hmac.compare_digest(record["client_id"], client_id) and hmac.compare_digest(
                record["redirect_uri"], redirect_uri
            )
            issued = datetime.fromtimestamp(record["issued_at"], UTC)
            fresh = datetime.now(UTC) - issued <= self.ttl
            return record if same and fresh else None

    return _verify(redeem_code=Redeemer())


@right("codes")
def codes_tuple_compare() -> Fixes:
    """Pops first, then one tuple comparison and the RFC's 600 seconds."""

    def redeem_code(codes: Any, code: str, client_id: str, redirect_uri: Any) -> Any:
        record = codes.pop(code) or {}
        wanted = (client_id, redirect_uri)
        if (record.get("client_id"), record.get("redirect_uri")) != wanted:
            return None
        return record if time.time() - record["issued_at"] <= secure.CODE_TTL_S else None

    return {"redeem_code": redeem_code}


# -- flow_allowed --------------------------------------------------------------------------
@wrong("flows", breaks="no-password-grant", also=("verify",))
def flows_without_implicit() -> Fixes:
    """Turns the implicit flow off, forgets the password grant."""
    return _verify(flow_allowed=lambda flow: flow != "implicit")


@wrong("flows", breaks="no-implicit")
def flows_without_password() -> Fixes:
    """Turns the password grant off, forgets the implicit flow."""
    return _verify(flow_allowed=lambda flow: flow != "password")


@wrong("flows", breaks="code-flow")
def flows_response_type_name() -> Fixes:
    """Allows 'code' (the response_type) — the app asks about 'authorization_code'."""
    return _verify(flow_allowed=lambda flow: flow == "code")


@right("flows", also=("verify",))
def flows_mapping() -> Fixes:
    """A dict of the flows this server offers."""
    offered = {"authorization_code": True}
    return _verify(flow_allowed=lambda flow: offered.get(flow, False))


@right("flows")
def flows_class() -> Fixes:
    """A class with a frozenset."""

    class Flows:
        allowed = frozenset({"authorization_code"})

        def __call__(self, flow: str) -> bool:
            return flow in self.allowed

    return {"flow_allowed": Flows()}
