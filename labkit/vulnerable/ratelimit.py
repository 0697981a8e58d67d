"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

Rate limiting as a hurried hot-fix does it (lab 11-rate-limiting): the client IP read from
``X-Forwarded-For`` whoever sent it, the account key exactly as typed, a fixed window kept in
the memory of one process, and the old draft-6 headers without ``Retry-After``.
Secure twin: :mod:`labkit.patterns.ratelimit`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter

__all__ = ["client_ip", "hash_password_fast", "login_keys", "new_limiter", "rate_limit_headers"]


def client_ip(peer: str, forwarded_for: str | None, trusted_proxies: Collection[str]) -> str:
    """The first address in ``X-Forwarded-For`` if there is one, else the peer.

    Flaw: the header is taken from anyone, and its leftmost entry is whatever the client wrote.
    Exploited in: 11-rate-limiting (a new X-Forwarded-For per request, a fresh quota per request).
    Secure twin: labkit.patterns.ratelimit.client_ip.
    """
    if forwarded_for:
        first = forwarded_for.split(",")[0].strip()
        if first:
            return first
    return peer


def login_keys(ip: str, email: str) -> list[str]:
    """Per-IP and per-account keys, the account exactly as typed.

    Flaw: ``Carol@Example.com`` and ``carol@example.com`` get separate quotas for one account.
    Exploited in: 11-rate-limiting (case-changing usernames).
    Secure twin: labkit.patterns.ratelimit.login_keys.
    """
    return [f"ip:{ip}", f"account:{email}"]


def new_limiter(storage_uri: str = "memory://") -> RateLimiter:
    """A fixed-window limiter in this process's memory, whatever storage was configured.

    Flaw: a fixed window allows twice the quota around a boundary, and memory storage is per
    process, so N processes allow N times the quota.
    Exploited in: 11-rate-limiting (burst at a window boundary; two processes double it).
    Secure twin: labkit.patterns.ratelimit.new_limiter.
    """
    return FixedWindowRateLimiter(MemoryStorage())


def rate_limit_headers(
    policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
) -> dict[str, str]:
    """The draft-6 fields express-rate-limit's ``standardHeaders: true`` sends, and no more.

    Flaw: superseded field names (RateLimit-Limit/-Remaining/-Reset, draft -06), no policy
    window, and no ``Retry-After`` on 429, so a client cannot tell when to come back.
    Exploited in: 11-rate-limiting (headers check).
    Secure twin: labkit.patterns.ratelimit.rate_limit_headers.
    """
    return {
        "RateLimit-Limit": str(quota),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
    }


def hash_password_fast(password: str) -> str:
    """One SHA-256 of ``password`` (so the brute-force lab answers in microseconds).

    Flaw: a fast, unsalted hash; here it only keeps online guessing quick, the lesson of this
    lab being the missing limit, not the hash (lab 01 is about the hash).
    Exploited in: 11-rate-limiting (wordlist brute force of the login).
    Secure twin: labkit.patterns.passwords.hash_password.
    """
    return hashlib.sha256(password.encode()).hexdigest()
