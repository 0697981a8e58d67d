"""05 revoke-expire, scopes and rotation: wrong and right ``authenticate`` functions."""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable
from typing import Any

from labkit.patterns import apikeys as reference
from tests.fixes.corpus import Fixes, right, wrong

Result = tuple[int, dict[str, Any]]
REQUIRED: Result = (401, {"error": "API key required"})
INVALID: Result = (401, {"error": "Invalid API key"})
FORBIDDEN: Result = (403, {"error": "Insufficient permissions"})
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SHAPE = re.compile(r"lk_live_([0-9A-Za-z]{30})([0-9A-Za-z]{6})")


def _checksum(body: str) -> str:
    number, digits = zlib.crc32(body.encode()), ""
    for _ in range(6):
        number, digit = divmod(number, 62)
        digits = BASE62[digit] + digits
    return digits


def _well_formed(key: str) -> bool:
    match = SHAPE.fullmatch(key)
    return bool(match) and _checksum(match.group(1)) == match.group(2)


def _system(authenticate: Callable[..., Result]) -> Fixes:
    return {
        "generate_key": reference.generate_api_key,
        "hash_key": reference.hash_api_key,
        "authenticate": authenticate,
    }


def _whole(authenticate: Callable[..., Result]) -> Fixes:
    """All five functions (for verify): the reference key system with this authenticate."""
    return {
        **_system(authenticate),
        "read_api_key": reference.read_api_key,
        "redact_url": reference.redact_url,
    }


def _checked(
    usable: Callable[[Any, float], bool] = reference.is_usable,
    allowed: Callable[[Any, str], bool] = lambda record, scope: scope in record.scopes,
    well_formed: Callable[[str], bool] = _well_formed,
    missing_scope: Result = FORBIDDEN,
) -> Callable[..., Result]:
    """An authenticate built from its parts: each wrong fix swaps one part."""

    def authenticate(api_key: Any, scope: str, find_key: Any, now: float) -> Result:
        if not api_key:
            return REQUIRED
        record = find_key(api_key) if well_formed(api_key) else None
        if record is None or not usable(record, now):
            return INVALID
        if not allowed(record, scope):
            return missing_scope
        return 200, {"client": record.name, "keyId": record.id}

    return authenticate


# -- revoke-expire -----------------------------------------------------------------------
@wrong("revoke-expire", breaks="revoked", also=("verify",))
def revocation_ignored() -> Fixes:
    """Expiry and scope checked, revoked_at never read."""
    return _whole(_checked(usable=lambda r, now: r.expires_at is not None and now < r.expires_at))


@wrong("revoke-expire", breaks="expired")
def expiry_ignored() -> Fixes:
    """The catalogue's middleware plus scopes: revocation checked, expiry never."""
    return _whole(_checked(usable=lambda r, now: r.revoked_at is None))


@wrong("revoke-expire", breaks="expired")
def no_expiry_means_forever() -> Fixes:
    """A key without expires_at is taken to live forever."""
    return _system(
        _checked(
            usable=lambda r, now: (
                r.revoked_at is None and (r.expires_at is None or now < r.expires_at)
            )
        )
    )


@wrong("revoke-expire", breaks="expired")
def own_clock() -> Fixes:
    """time.time() instead of the app's now: the lab's clock moves, the key never expires."""
    return _system(
        _checked(
            usable=lambda r, now: (
                r.revoked_at is None and r.expires_at is not None and time.time() < r.expires_at
            )
        )
    )


@wrong("revoke-expire", breaks="one-401")
def says_why() -> Fixes:
    """Tells a revoked key apart: 401 "API key revoked" (an oracle for a key thief)."""
    inner = _checked()

    def authenticate(api_key: Any, scope: str, find_key: Any, now: float) -> Result:
        record = find_key(api_key) if api_key and _well_formed(api_key) else None
        if record is not None and record.revoked_at is not None:
            return 401, {"error": "API key revoked"}
        return inner(api_key, scope, find_key, now)

    return _whole(authenticate)


@wrong("revoke-expire", breaks="well-formed-first")
def no_format_check() -> Fixes:
    """Every value goes to the table, prefix and checksum never checked."""
    return _whole(_checked(well_formed=lambda key: True))


@wrong("revoke-expire", breaks="revoked")
def caches_answers() -> Fixes:
    """Remembers every key that worked (to spare the database): a revoked key lives on."""
    inner = _checked()
    cache: dict[tuple[str, str], Result] = {}

    def authenticate(api_key: Any, scope: str, find_key: Any, now: float) -> Result:
        if (api_key, scope) in cache:
            return cache[api_key, scope]
        result = inner(api_key, scope, find_key, now)
        if result[0] == 200:
            cache[api_key, scope] = result
        return result

    return _system(authenticate)


# -- scopes ------------------------------------------------------------------------------
@wrong("scopes", breaks="scope-403")
def scopes_unchecked() -> Fixes:
    """Revocation and expiry checked, any scope goes."""
    return _system(_checked(allowed=lambda record, scope: True))


@wrong("scopes", breaks="scope-exact", also=("verify",))
def scope_substring() -> Fixes:
    """scope in ' '.join(record.scopes): a substring test."""
    return _whole(_checked(allowed=lambda record, scope: scope in " ".join(record.scopes)))


@wrong("scopes", breaks="scope-exact")
def scope_any_case() -> Fixes:
    """Scopes compared lower-cased: REPORTS:WRITE grants reports:write."""
    return _system(
        _checked(allowed=lambda r, scope: scope.lower() in {s.lower() for s in r.scopes})
    )


@wrong("scopes", breaks="scope-exact")
def scope_wildcards() -> Fixes:
    """Supports 'reports:*' and '*' (a feature nobody asked for)."""

    def allowed(record: Any, scope: str) -> bool:
        resource = scope.split(":")[0]
        return bool({scope, f"{resource}:*", "*"} & set(record.scopes))

    return _system(_checked(allowed=allowed))


@wrong("scopes", breaks="scope-403")
def resource_only() -> Fixes:
    """Compares only the part before ':': a read-only key writes."""
    return _system(
        _checked(
            allowed=lambda r, scope: scope.split(":")[0] in {s.split(":")[0] for s in r.scopes}
        )
    )


@wrong("scopes", breaks="scope-403")
def missing_scope_is_401() -> Fixes:
    """A missing scope answered 401: the client is told its key is invalid."""
    return _whole(_checked(missing_scope=INVALID))


# -- rotation ----------------------------------------------------------------------------
@wrong("rotation", breaks="overlap", also=("verify",))
def newest_key_wins() -> Fixes:
    """Remembers the newest key id seen per client and refuses older ones: no overlap."""
    inner = _checked()
    newest: dict[str, int] = {}

    def authenticate(api_key: Any, scope: str, find_key: Any, now: float) -> Result:
        status, body = inner(api_key, scope, find_key, now)
        if status != 200:
            return status, body
        if body["keyId"] < newest.setdefault(body["client"], body["keyId"]):
            return INVALID
        newest[body["client"]] = body["keyId"]
        return status, body

    return _whole(authenticate)


@wrong("rotation", breaks="retire")
def rotation_never_revokes() -> Fixes:
    """The old key keeps working after DELETE: revoked_at never read."""
    return revocation_ignored.make()


@wrong("rotation", breaks="retire")
def rotation_never_expires() -> Fixes:
    """The old key keeps working after its expiry: expires_at never read."""
    return expiry_ignored.make()


# -- right -------------------------------------------------------------------------------
@right("revoke-expire", also=("scopes", "rotation", "verify"))
def gate_class() -> Fixes:
    """A class with early returns, its own key-shape regex and a frozenset of scopes."""

    class Gate:
        def __call__(self, api_key: Any, scope: str, find_key: Any, now: float) -> Result:
            if api_key is None or api_key == "":
                return REQUIRED
            if not _well_formed(api_key):
                return INVALID
            record = find_key(api_key)
            if record is None or record.revoked_at is not None:
                return INVALID
            if record.expires_at is None or record.expires_at <= now:
                return INVALID
            if scope not in frozenset(record.scopes):
                return FORBIDDEN
            return 200, {"client": record.name, "keyId": record.id}

    return _whole(Gate())


@right("revoke-expire", also=("scopes", "rotation"))
def table_of_reasons() -> Fixes:
    """Every reason to refuse in one list, the first that applies wins."""

    def authenticate(api_key: Any, scope: str, find_key: Any, now: float) -> Result:
        if not api_key:
            return REQUIRED
        record = find_key(api_key) if reference.looks_like_api_key(api_key) else None
        dead = [
            record is None,
            record is not None and record.revoked_at is not None,
            record is not None and not (record.expires_at or 0) > now,
        ]
        if any(dead):
            return INVALID
        if not any(granted == scope for granted in record.scopes):
            return FORBIDDEN
        return 200, {"client": record.name, "keyId": record.id}

    return _system(authenticate)
