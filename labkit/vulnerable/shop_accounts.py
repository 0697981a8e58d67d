"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

BrokenShop's accounts (lab 13-capstone) reuse the broken password storage and login of
:mod:`labkit.vulnerable.passwords`; the two parts here are what the shop adds: a login that
counts nothing (no rate-limit keys at all) and legacy hashes that are never upgraded.
Secure twins: :func:`labkit.patterns.ratelimit.login_keys` and
:func:`labkit.patterns.passwords.needs_rehash`.
"""

from __future__ import annotations

__all__ = ["login_keys", "needs_rehash"]


def login_keys(ip: str, email: str) -> list[str]:
    """No key for any attempt: the limiter never counts a login or a registration.

    Flaw: no rate limiting on auth — guesses and sign-ups are unlimited.
    Exploited in: 13-capstone (brute-force a customer's password through POST /api/auth/login).
    Secure twin: labkit.patterns.ratelimit.login_keys.
    """
    return []


def needs_rehash(stored: str) -> bool:
    """Never: an account stored as unsalted MD5 or SHA-256 stays that way forever.

    Flaw: legacy fast hashes are never moved to a slow, salted one at login.
    Exploited in: 13-capstone (the breach still cracks accounts that logged in since the fix).
    Secure twin: labkit.patterns.passwords.needs_rehash.
    """
    return False
