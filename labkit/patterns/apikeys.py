"""API keys for machines, done right (lab 05-api-keys).

The key format follows GitHub's token format (github.blog, "Behind GitHub's new
authentication token formats", 2021): a recognisable prefix, a random body from a CSPRNG
and a CRC32 checksum, so a secret scanner can find a key in code or logs and pre-validate
it offline with almost no false positives::

    lk_live_ 4Qm...(30 base62 characters, ~178 bits)... Ab12Cd
    prefix   random body                                CRC32 of the body, 6 base62 chars

At rest only ``SHA-256(key)`` is stored (the catalogue's pattern). A fast hash is enough
here: a slow password hash exists to slow down guessing of *low-entropy* secrets, and a
178-bit random key cannot be guessed at any speed — OWASP ASVS 5.0 §6.5.2 draws the line at
112 bits for stored secrets (below: a password hash; above: a standard hash function).
Lookup is by that digest, so the database compares values an attacker cannot steer, and
the match is re-checked with :func:`hmac.compare_digest`.

A key is accepted only from the ``X-API-Key`` header (a URL ends up in access logs, proxy
logs, browser history and ``Referer``: OWASP REST Security Cheat Sheet, "Sensitive
information in HTTP requests"; RFC 6750 §5.3), only while unrevoked and unexpired, and
only for the scopes it was given. A client may hold several active keys, which is what
makes rotation painless: issue the new key, deploy it, then revoke the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import string
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "ALPHABET",
    "BODY_LENGTH",
    "CHECKSUM_LENGTH",
    "KEY_PREFIX",
    "MAX_LIFETIME_DAYS",
    "REDACTED",
    "SECRET_PARAMS",
    "ApiKey",
    "authenticate",
    "checksum",
    "find_api_keys",
    "generate_api_key",
    "has_scope",
    "hash_api_key",
    "is_usable",
    "key_bits",
    "looks_like_api_key",
    "match_digest",
    "read_api_key",
    "redact_url",
]

KEY_PREFIX = "lk_live_"
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase  # base62
BODY_LENGTH = 30  # 30 * log2(62) ~ 178.6 bits, comfortably above the 128-bit floor
CHECKSUM_LENGTH = 6  # 62**6 > 2**32: any CRC32 fits
MAX_LIFETIME_DAYS = 90
HEADER = "x-api-key"
REDACTED = "REDACTED"
#: Query parameters whose value is a credential whatever it looks like.
SECRET_PARAMS = frozenset({"api_key", "apikey", "key", "token", "access_token", "secret"})

_KEY_RE = re.compile(
    re.escape(KEY_PREFIX) + f"[0-9A-Za-z]{{{BODY_LENGTH + CHECKSUM_LENGTH}}}(?![0-9A-Za-z])"
)


@dataclass(frozen=True)
class ApiKey:
    """A row of the keys table: everything but the key itself (only its digest is kept).

    Times are POSIX seconds; ``expires_at`` None means "never", which
    :func:`is_usable` refuses.
    """

    id: int
    owner: str
    name: str
    key_hash: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: float | None
    revoked_at: float | None = None


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    """The 6-character base62 CRC32 of a key's random body."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def generate_api_key(prefix: str = KEY_PREFIX) -> str:
    """A new key: ``prefix`` + 30 CSPRNG base62 characters + their CRC32 checksum."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return f"{prefix}{body}{checksum(body)}"


def key_bits(body_length: int = BODY_LENGTH) -> float:
    """Entropy in bits of a random base62 body of ``body_length`` characters."""
    return body_length * math.log2(len(ALPHABET))


def looks_like_api_key(text: str) -> bool:
    """True when ``text`` has this format *and* a valid checksum (offline, no database).

    A scanner uses this to report a leaked key with near-zero false positives; a server
    uses it to refuse garbage before touching the database.
    """
    if not isinstance(text, str) or _KEY_RE.fullmatch(text) is None:
        return False
    rest = text[len(KEY_PREFIX) :]
    body, check = rest[:BODY_LENGTH], rest[BODY_LENGTH:]
    return hmac.compare_digest(checksum(body), check)


def find_api_keys(text: str) -> list[str]:
    """Every well-formed key (valid checksum) in ``text``: a tiny secret scanner."""
    return [m.group(0) for m in _KEY_RE.finditer(text) if looks_like_api_key(m.group(0))]


def hash_api_key(key: str) -> str:
    """SHA-256 of the key, hex: what the keys table stores and is searched by."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def read_api_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key from the ``X-API-Key`` header only; a key in the URL is never accepted.

    ``headers`` must have lower-case names (as Starlette gives them). ``query`` is
    ignored on purpose: a credential in a URL is already leaked to every log it passed.
    """
    value = headers.get(HEADER)
    return value if value else None


def redact_url(url: str) -> str:
    """``url`` fit for an access log: secret parameters and anything key-shaped redacted."""
    parts = urlsplit(url)
    pairs = [
        (name, REDACTED if name.lower() in SECRET_PARAMS else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    query = urlencode(pairs, safe=REDACTED)
    cleaned = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    return _KEY_RE.sub(REDACTED, cleaned)


def is_usable(key: ApiKey, now: float) -> bool:
    """Not revoked and not expired at ``now``; a key without an expiry is not usable."""
    return key.revoked_at is None and key.expires_at is not None and now < key.expires_at


def has_scope(key: ApiKey, scope: str) -> bool:
    """True when ``scope`` is one of the key's scopes (exact match, no wildcards)."""
    return scope in key.scopes


def authenticate(
    api_key: str | None,
    scope: str,
    find_key: Callable[[str], Any],
    now: float,
) -> tuple[int, dict[str, Any]]:
    """The catalogue's ``authenticateApiKey`` plus scope, expiry and revocation: ``(status, body)``.

    ``find_key(key)`` returns the :class:`ApiKey` whose digest matches, or None.
    Every failure of the key itself is the same 401 (no oracle telling revoked from
    unknown); a valid key without the scope gets 403 (RFC 9110 §15.5.4).
    """
    if not api_key:
        return 401, {"error": "API key required"}
    record = find_key(api_key) if looks_like_api_key(api_key) else None
    if record is None or not is_usable(record, now):
        return 401, {"error": "Invalid API key"}
    if not has_scope(record, scope):
        return 403, {"error": "Insufficient permissions"}
    return 200, {"client": record.name, "keyId": record.id}


def match_digest(candidates: Iterable[ApiKey], digest: str) -> ApiKey | None:
    """The candidate whose stored digest equals ``digest``, compared in constant time."""
    found = None
    for candidate in candidates:
        if hmac.compare_digest(candidate.key_hash.encode(), digest.encode()):
            found = candidate
    return found
