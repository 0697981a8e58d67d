"""01 hashing: wrong and right ways to store passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError

from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")

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


@wrong("hashing", breaks="salted", also=("verify",))
def unsalted_sha256() -> Fixes:
    """SHA-256 of the password: fast and unsalted, equal passwords give equal hashes."""

    def hash_password(password: str) -> str:
        return hashlib.sha256(password.encode()).hexdigest()

    def verify_password(password: str, stored: str) -> bool:
        if len(stored) == LEGACY_LENGTH:
            return _legacy_ok(password, stored)
        return hmac.compare_digest(hash_password(password), stored)

    return P.system(
        hash_password=hash_password,
        verify_password=verify_password,
        needs_rehash=lambda stored: len(stored) == LEGACY_LENGTH,
    )


@wrong("hashing", breaks="slow-hash")
def argon2_below_owasp() -> Fixes:
    """argon2id, but with 8 MiB and one pass: well under every OWASP setting."""
    return P.system(**_argon2(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)))


@wrong("hashing", breaks="slow-hash")
def argon2i_instead_of_argon2id() -> Fixes:
    """argon2i with OWASP's memory and passes: the wrong variant (OWASP names argon2id)."""
    return _argon2(PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.I))


@wrong("hashing", breaks="long-passwords")
def bcrypt_truncating() -> Fixes:
    """bcrypt cost 10 that cuts the input to 72 bytes to avoid bcrypt 5's ValueError."""

    def hash_password(password: str) -> str:
        return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(10)).decode()

    def verify_password(password: str, stored: str) -> bool:
        if len(stored) == LEGACY_LENGTH:
            return _legacy_ok(password, stored)
        return bcrypt.checkpw(password.encode()[:72], stored.encode())

    return P.system(
        hash_password=hash_password,
        verify_password=verify_password,
        needs_rehash=lambda stored: not stored.startswith("$2"),
    )


@wrong("verify", breaks="long-passwords")
def bcrypt_refusing_long_passwords_in_the_policy() -> Fixes:
    """bcrypt cost 10 without pre-hash; the policy refuses more than 72 bytes instead."""

    def hash_password(password: str) -> str:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(10)).decode()

    def verify_password(password: str, stored: str) -> bool:
        if len(stored) == LEGACY_LENGTH:
            return _legacy_ok(password, stored)
        return len(password.encode()) <= 72 and bcrypt.checkpw(password.encode(), stored.encode())

    def validate_password(password: str) -> list[str]:
        errors = P.validate_password(password)
        if len(password.encode()) > 72:
            errors.append("At most 72 bytes")
        return errors

    return P.system(
        hash_password=hash_password,
        verify_password=verify_password,
        needs_rehash=lambda stored: not stored.startswith("$2b$10$"),
        validate_password=validate_password,
    )


@wrong("hashing", breaks="verifies")
def verify_raises_on_mismatch() -> Fixes:
    """argon2's verify() raises VerifyMismatchError for a wrong password; not caught."""
    hasher = P.HASHER
    fixes = _argon2(hasher)

    def verify_password(password: str, stored: str) -> bool:
        if len(stored) == LEGACY_LENGTH:
            return _legacy_ok(password, stored)
        return hasher.verify(stored, password)

    return P.system(**{**fixes, "verify_password": verify_password})


@wrong("hashing", breaks="verifies")
def legacy_accounts_let_in() -> Fixes:
    """'Legacy accounts are upgraded at login anyway': an MD5 row accepts any password."""
    fixes = _argon2(PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1))
    inner = fixes["verify_password"]

    def verify_password(password: str, stored: str) -> bool:
        return len(stored) == LEGACY_LENGTH or inner(password, stored)

    return {**fixes, "verify_password": verify_password}


@wrong("hashing", breaks="legacy-login")
def no_legacy_branch() -> Fixes:
    """argon2id only: the old MD5 accounts can no longer log in."""
    hasher = P.HASHER

    def verify_password(password: str, stored: str) -> bool:
        try:
            return hasher.verify(stored, password)
        except Exception:
            return False

    return P.system(**{**_argon2(hasher), "verify_password": verify_password})


@wrong("hashing", breaks="upgrade-at-login")
def never_rehash() -> Fixes:
    """Legacy accounts log in, but needs_rehash always says no: MD5 stays in the table."""
    return P.system(needs_rehash=lambda stored: False)


@wrong("hashing", breaks="upgrade-at-login")
def rehash_legacy_hex_only() -> Fixes:
    """needs_rehash knows MD5 but not weaker argon2id settings: old argon2 rows stay weak."""
    hasher = P.HASHER
    return {**_argon2(hasher), "needs_rehash": lambda stored: not stored.startswith("$argon2")}


@right("hashing", also=("verify",))
def argon2_library_defaults() -> Fixes:
    """argon2-cffi's own defaults (argon2id, 64 MiB, t=3), above OWASP's minimum."""
    return P.system(**_argon2(PasswordHasher()))


@right("hashing")
def bcrypt_prehashed() -> Fixes:
    """bcrypt cost 10 over base64(SHA-256) of the password, as OWASP describes; a class."""

    def prehash(password: str) -> bytes:
        return base64.b64encode(hashlib.sha256(password.encode()).digest())

    class Bcrypt:
        def hash_password(self, password: str) -> str:
            return bcrypt.hashpw(prehash(password), bcrypt.gensalt(10)).decode()

        def verify_password(self, password: str, stored: str) -> bool:
            if not stored.startswith("$2"):
                return len(stored) == LEGACY_LENGTH and _legacy_ok(password, stored)
            return bcrypt.checkpw(prehash(password), stored.encode())

        def needs_rehash(self, stored: str) -> bool:
            return not stored.startswith("$2b$10$")

    scheme = Bcrypt()
    return {
        "hash_password": scheme.hash_password,
        "verify_password": scheme.verify_password,
        "needs_rehash": scheme.needs_rehash,
    }
