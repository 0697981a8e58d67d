"""Password storage, policy and login done right (lab 01-passwords).

Follows the OWASP Password Storage Cheat Sheet and NIST SP 800-63B-4:

* argon2id with at least the OWASP minimum (m=19 MiB, t=2, p=1), a fresh salt
  per hash; bcrypt cost 12 as the alternative, with the password pre-hashed so
  nothing past 72 bytes is lost and a long password is never a 500;
* legacy unsalted MD5 / SHA-256 hashes still verify (constant-time) so those
  accounts log in once and :func:`needs_rehash` moves them to argon2id;
* policy: 12 to 128 characters, a blocklist of common passwords, and no
  composition rules;
* :func:`authenticate` does the same hash work for unknown users (dummy hash),
  so neither the answer nor its timing reveals which accounts exist.

Functions answer with ``bool`` / ``list`` / ``None`` rather than raising for a
wrong password or a malformed hash.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from typing import Any

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from labkit.wordlists import common_passwords

__all__ = [
    "ARGON2_MEMORY_KIB",
    "ARGON2_PARALLELISM",
    "ARGON2_TIME_COST",
    "BCRYPT_ROUNDS",
    "DEFAULT_PEPPER",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "authenticate",
    "dummy_hash",
    "hash_password",
    "hash_password_bcrypt",
    "needs_rehash",
    "validate_password",
    "verify_password",
]

# NIST SP 800-63B-4 allows 8 with MFA and asks for 15 when the password is the
# only factor; 12 is the seed's choice. The maximum must be at least 64.
MIN_LENGTH = 12
MAX_LENGTH = 128

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 minimum.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19456
ARGON2_PARALLELISM = 1

# OWASP: bcrypt work factor of 10 or more; 12 here.
BCRYPT_ROUNDS = 12
BCRYPT_MIN_ROUNDS = 10
BCRYPT_MAX_ROUNDS = 31

# The pepper keys the HMAC pre-hash for bcrypt. A real app loads it from secrets
# management (vault, KMS), never from source: this one is published with the
# workbook and is NOT secret. It only shows where a pepper goes.
DEFAULT_PEPPER = b"labkit-01-passwords-demo-pepper-not-secret"

_HASHER = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    type=Type.ID,
)
_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def hash_password(password: str) -> str:
    """Return an argon2id hash (salted, OWASP parameters) of ``password``."""
    return _HASHER.hash(password)


def _prehash(password: str, pepper: bytes) -> bytes:
    # OWASP: base64(hmac-sha384(pepper, password)) is 64 bytes, under bcrypt's
    # 72-byte limit, and base64 has no NUL byte to end the input early.
    if not pepper:
        raise ValueError("pepper must not be empty")
    digest = hmac.new(pepper, password.encode(), hashlib.sha384).digest()
    return base64.b64encode(digest)


def hash_password_bcrypt(
    password: str, *, rounds: int = BCRYPT_ROUNDS, pepper: bytes = DEFAULT_PEPPER
) -> str:
    """Return a bcrypt hash of the HMAC-SHA384 pre-hash of ``password`` (any length)."""
    if not BCRYPT_MIN_ROUNDS <= rounds <= BCRYPT_MAX_ROUNDS:
        raise ValueError(
            f"bcrypt rounds must be {BCRYPT_MIN_ROUNDS}..{BCRYPT_MAX_ROUNDS}, got {rounds}"
        )
    return bcrypt.hashpw(_prehash(password, pepper), bcrypt.gensalt(rounds)).decode()


def _verify_legacy_hex(password: str, stored: str, algorithm: str) -> bool:
    # Legacy compatibility only: lets old accounts log in once to be upgraded.
    digest = hashlib.new(algorithm, password.encode(), usedforsecurity=False).hexdigest()
    return hmac.compare_digest(digest, stored.lower())


def verify_password(password: str, stored: str, *, pepper: bytes = DEFAULT_PEPPER) -> bool:
    """Check ``password`` against an argon2, pre-hashed bcrypt or legacy MD5/SHA-256 hash.

    Never raises for a wrong password or a malformed hash: both are ``False``.
    """
    if stored.startswith("$argon2"):
        try:
            return _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    if stored.startswith("$2"):
        try:
            return bcrypt.checkpw(_prehash(password, pepper), stored.encode())
        except ValueError:
            return False
    if _MD5_HEX.fullmatch(stored):
        return _verify_legacy_hex(password, stored, "md5")
    if _SHA256_HEX.fullmatch(stored):
        return _verify_legacy_hex(password, stored, "sha256")
    return False


def needs_rehash(stored: str) -> bool:
    """Return True unless ``stored`` is argon2id with the current parameters.

    Call after a successful :func:`verify_password` and store
    :func:`hash_password` of the password just checked.
    """
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@functools.cache
def _blocklist() -> frozenset[str]:
    return frozenset(common_passwords())


def validate_password(password: str) -> list[str]:
    """Return the policy errors for ``password`` (empty when accepted).

    Length counts Unicode code points (NIST SP 800-63B-4), so spaces and emoji
    are welcome; the only content rule is the common-password blocklist.
    """
    errors: list[str] = []
    if len(password) < MIN_LENGTH:
        errors.append(f"Minimum {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        errors.append(f"Maximum {MAX_LENGTH} characters")
    if password.lower() in _blocklist():
        errors.append("This password is too common")
    return errors


@functools.cache
def dummy_hash() -> str:
    """Return an argon2id hash of a random secret, computed once, for unknown users."""
    return hash_password(secrets.token_urlsafe(32))


def authenticate(email: str, password: str, find_user: Callable[[str], Any]) -> Any | None:
    """Return the user whose password matches, else None; ``find_user(email)`` may be None.

    An unknown user is verified against :func:`dummy_hash`, so both failures cost
    one argon2 verification (the first call also computes the dummy hash once).
    """
    user = find_user(email)
    stored = user.password_hash if user is not None else dummy_hash()
    verified = verify_password(password, stored)
    return user if user is not None and verified else None
