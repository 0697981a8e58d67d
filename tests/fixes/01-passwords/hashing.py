"""01 hashing: wrong and right ways to store passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from tests.fixes.corpus import Fixes, right, wrong

LEGACY_LENGTH = 32


def _legacy_ok(password: str, stored: str) -> bool:
    return hmac.compare_digest(hashlib.md5(password.encode()).hexdigest(), stored)


def _argon2(hasher: PasswordHasher) -> Fixes:
    def verify_password(password: str, stored: str) -> bool:
        if len(stored) == LEGACY_LENGTH:
            return _legacy_ok(password, stored)
        try:
            return hasher.verify(stored, password)
        except VerificationError:
            return False

    def needs_rehash(stored: str) -> bool:
        return len(stored) == LEGACY_LENGTH or hasher.check_needs_rehash(stored)

    return {
        "hash_password": hasher.hash,
        "verify_password": verify_password,
        "needs_rehash": needs_rehash,
    }


@wrong("hashing", breaks="salted")
def unsalted_sha256() -> Fixes:
    """SHA-256 of the password: fast and unsalted, equal passwords give equal hashes."""

    def hash_password(password: str) -> str:
        return hashlib.sha256(password.encode()).hexdigest()

    def verify_password(password: str, stored: str) -> bool:
        if len(stored) == LEGACY_LENGTH:
            return _legacy_ok(password, stored)
        return hmac.compare_digest(hash_password(password), stored)

    return {
        "hash_password": hash_password,
        "verify_password": verify_password,
        "needs_rehash": lambda stored: len(stored) == LEGACY_LENGTH,
    }


@wrong("hashing", breaks="slow-hash")
def argon2_below_owasp() -> Fixes:
    """argon2id, but with 8 MiB and one pass: well under every OWASP setting."""
    return _argon2(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))


@wrong("hashing", breaks="long-passwords")
def bcrypt_truncating() -> Fixes:
    """bcrypt cost 12 that cuts the input to 72 bytes to avoid bcrypt 5's ValueError."""

    def hash_password(password: str) -> str:
        return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(12)).decode()

    def verify_password(password: str, stored: str) -> bool:
        if len(stored) == LEGACY_LENGTH:
            return _legacy_ok(password, stored)
        return bcrypt.checkpw(password.encode()[:72], stored.encode())

    return {
        "hash_password": hash_password,
        "verify_password": verify_password,
        "needs_rehash": lambda stored: not stored.startswith("$2"),
    }


@wrong("hashing", breaks="verifies")
def verify_raises_on_mismatch() -> Fixes:
    """argon2's verify() raises VerifyMismatchError for a wrong password; not caught."""
    hasher = PasswordHasher()
    fixes = _argon2(hasher)

    def verify_password(password: str, stored: str) -> bool:
        if len(stored) == LEGACY_LENGTH:
            return _legacy_ok(password, stored)
        return hasher.verify(stored, password)

    return {**fixes, "verify_password": verify_password}


@wrong("hashing", breaks="legacy-login")
def no_legacy_branch() -> Fixes:
    """argon2id only: the old MD5 accounts can no longer log in."""
    hasher = PasswordHasher()

    def verify_password(password: str, stored: str) -> bool:
        try:
            return hasher.verify(stored, password)
        except Exception:
            return False

    return {**_argon2(hasher), "verify_password": verify_password}


@wrong("hashing", breaks="upgrade-at-login")
def never_rehash() -> Fixes:
    """Legacy accounts log in, but needs_rehash always says no: MD5 stays in the table."""
    return {**_argon2(PasswordHasher()), "needs_rehash": lambda stored: False}


@right("hashing")
def argon2_library_defaults() -> Fixes:
    """argon2-cffi's own defaults (argon2id, 64 MiB, t=3), above OWASP's minimum."""
    return _argon2(PasswordHasher())


@right("hashing")
def bcrypt_prehashed() -> Fixes:
    """bcrypt cost 12 over base64(HMAC-free SHA-256) of the password, as OWASP describes."""

    def prehash(password: str) -> bytes:
        return base64.b64encode(hashlib.sha256(password.encode()).digest())

    class Bcrypt:
        def hash_password(self, password: str) -> str:
            return bcrypt.hashpw(prehash(password), bcrypt.gensalt(12)).decode()

        def verify_password(self, password: str, stored: str) -> bool:
            if not stored.startswith("$2"):
                return len(stored) == LEGACY_LENGTH and _legacy_ok(password, stored)
            return bcrypt.checkpw(prehash(password), stored.encode())

        def needs_rehash(self, stored: str) -> bool:
            return not stored.startswith("$2b$12$")

    scheme = Bcrypt()
    return {
        "hash_password": scheme.hash_password,
        "verify_password": scheme.verify_password,
        "needs_rehash": scheme.needs_rehash,
    }
