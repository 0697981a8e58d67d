"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

API keys as the reports service first shipped them (lab 05-api-keys): short keys from a
non-cryptographic PRNG with no recognisable shape, stored as they are, accepted from the
query string, logged in full, and checked only for existence — not for revocation, expiry
or scope. Secure twin: :mod:`labkit.patterns.apikeys`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["authenticate", "generate_api_key", "hash_api_key", "read_api_key", "redact_url"]

KEY_BITS = 64


def generate_api_key() -> str:
    """A 16-hex-digit key from :mod:`random` (Mersenne Twister).

    Flaw: 64 bits from a predictable PRNG, no prefix and no checksum, so no scanner can
    tell a leaked key from any other hex string.
    Exploited in: 05-api-keys (key format check).
    Secure twin: labkit.patterns.apikeys.generate_api_key.
    """
    return f"{random.getrandbits(KEY_BITS):016x}"  # the flaw on display


def hash_api_key(key: str) -> str:
    """What the keys table stores for ``key``: the key itself.

    Flaw: plaintext at rest, so a leaked table (backup, replica, SQL injection) is a
    list of working credentials.
    Exploited in: 05-api-keys (leaked keys table used directly).
    Secure twin: labkit.patterns.apikeys.hash_api_key.
    """
    return key


def read_api_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key from ``X-API-Key``, or else from ``?api_key=`` ("easier for scripts").

    Flaw: a key in the URL lands in access logs, proxies, browser history and ``Referer``.
    Exploited in: 05-api-keys (keys harvested from the access log).
    Secure twin: labkit.patterns.apikeys.read_api_key.
    """
    return headers.get("x-api-key") or query.get("api_key") or None


def redact_url(url: str) -> str:
    """The URL as the access log writes it: unchanged.

    Flaw: credentials in query strings are written to the log in full.
    Exploited in: 05-api-keys (keys harvested from the access log).
    Secure twin: labkit.patterns.apikeys.redact_url.
    """
    return url


def authenticate(
    api_key: str | None,
    scope: str,
    find_key: Callable[[str], Any],
    now: float,
) -> tuple[int, dict[str, Any]]:
    """Accept any key the table knows: ``(status, body)``.

    Flaw: ignores ``revoked_at`` and ``expires_at`` and never checks ``scope`` — a revoked
    key, a key from last year and a read-only key all do everything.
    Exploited in: 05-api-keys (revoked key still works, missing scope check, one key forever).
    Secure twin: labkit.patterns.apikeys.authenticate.
    """
    if not api_key:
        return 401, {"error": "API key required"}
    record = find_key(api_key)
    if record is None:
        return 401, {"error": "Invalid API key"}
    return 200, {"client": record.name, "keyId": record.id}
