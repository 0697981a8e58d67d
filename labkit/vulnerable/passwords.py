"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

Password storage, policy and login as the legacy app did them (lab 01-passwords):
unsalted fast hashes, bcrypt that silently drops everything past 72 bytes,
composition rules instead of a blocklist, and a login whose message and timing
reveal which accounts exist. Secure twin: :mod:`labkit.patterns.passwords`.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable
from typing import Any

import bcrypt

__all__ = [
    "hash_password",
    "hash_password_md5",
    "hash_password_sha256",
    "login",
    "validate_password",
    "verify_password",
]

BCRYPT_ROUNDS = 12
BCRYPT_MAX_BYTES = 72
MIN_LENGTH = 8

_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def hash_password_md5(password: str) -> str:
    """Return the unsalted MD5 hex digest of ``password`` (the legacy leak).

    Flaw: fast, unsalted hash; equal passwords give equal hashes.
    Exploited in: 01-passwords (crack the leaked users table, equal-hash groups).
    Secure twin: labkit.patterns.passwords.hash_password.
    """
    return hashlib.md5(password.encode()).hexdigest()


def hash_password_sha256(password: str) -> str:
    """Return the unsalted SHA-256 hex digest of ``password``.

    Flaw: fast, unsalted hash; a stronger digest does not make it a password hash.
    Exploited in: 01-passwords (crack the leaked users table, guesses per second).
    Secure twin: labkit.patterns.passwords.hash_password.
    """
    return hashlib.sha256(password.encode()).hexdigest()


def hash_password(password: str) -> str:
    """Return a bcrypt (cost 12) hash of the first 72 bytes of ``password``.

    bcrypt 4.x truncated silently; bcrypt 5 raises instead, so the twin truncates
    by hand to reproduce the old behaviour.

    Flaw: bytes after the 72nd are ignored, so long passwords sharing a prefix collide.
    Exploited in: 01-passwords (bcrypt's 72-byte limit).
    Secure twin: labkit.patterns.passwords.hash_password.
    """
    secret = password.encode()[:BCRYPT_MAX_BYTES]
    return bcrypt.hashpw(secret, bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def verify_password(password: str, stored: str) -> bool:
    """Check ``password`` against an MD5, SHA-256 or bcrypt ``stored`` hash.

    Flaw: hex digests compared with ``==`` (not constant-time), bcrypt input truncated.
    Exploited in: 01-passwords (cracking the leak, the 72-byte limit).
    Secure twin: labkit.patterns.passwords.verify_password.
    """
    if _MD5_HEX.fullmatch(stored):
        return hash_password_md5(password) == stored.lower()
    if _SHA256_HEX.fullmatch(stored):
        return hash_password_sha256(password) == stored.lower()
    if stored.startswith("$2"):
        try:
            return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], stored.encode())
        except ValueError:
            return False
    return False


def validate_password(password: str) -> list[str]:
    """Return the policy errors for ``password`` (empty when accepted).

    Flaw: composition rules (forbidden by NIST SP 800-63B), no maximum, no blocklist.
    Exploited in: 01-passwords (policy battery: "Password1!" passes, passphrases fail).
    Secure twin: labkit.patterns.passwords.validate_password.
    """
    errors: list[str] = []
    if len(password) < MIN_LENGTH:
        errors.append(f"Minimum {MIN_LENGTH} characters")
    if not any(c.isdigit() for c in password):
        errors.append("Must contain a digit")
    if not any(c.isupper() for c in password):
        errors.append("Must contain an uppercase letter")
    if not any(c in string.punctuation for c in password):
        errors.append("Must contain a symbol")
    return errors


def login(
    email: str,
    password: str,
    find_user: Callable[[str], Any],
    *,
    verify: Callable[[str, str], bool] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Log in and return ``(status, body)``; ``find_user(email)`` returns a user or None.

    ``verify`` checks a password against a stored hash (default: this module's
    ``verify_password``), so an app can keep this login while its hashing is fixed.

    Flaw: distinct messages and no hash work for unknown users (enumeration by both).
    Exploited in: 01-passwords (user enumeration by message and by timing).
    Secure twin: labkit.patterns.passwords.authenticate.
    """
    user = find_user(email)
    if user is None:
        return 401, {"error": "No such user"}
    if not (verify or verify_password)(password, user.password_hash):
        return 401, {"error": "Invalid password"}
    return 200, {"email": user.email, "role": user.role}
