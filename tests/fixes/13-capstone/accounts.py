"""13 accounts part: password storage (row 2), login enumeration (row 5), auth rate limits
(row 6) — wrong fixes a hurried developer writes, and right ones unlike the reference."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from typing import Any

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from labkit.patterns import passwords as reference
from tests.fixes.corpus import Fixes, right, wrong

LEGACY = {32: hashlib.md5, 64: hashlib.sha256}
HEX = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}")
INVALID = {"error": "Invalid email or password"}


def _legacy_ok(password: str, stored: str) -> bool:
    digest = LEGACY[len(stored)](password.encode()).hexdigest()
    return hmac.compare_digest(digest, stored.lower())


# -- row 2: password storage -----------------------------------------------------------------
def argon2_trio(hasher: PasswordHasher) -> Fixes:
    """hash/verify/needs_rehash around ``hasher``, legacy MD5 and SHA-256 accepted."""

    def verify_password(password: str, stored: str) -> bool:
        if HEX.fullmatch(stored):
            return _legacy_ok(password, stored)
        try:
            return hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(stored: str) -> bool:
        if HEX.fullmatch(stored):
            return True
        try:
            return hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    return {
        "hash_password": hasher.hash,
        "verify_password": verify_password,
        "needs_rehash": needs_rehash,
    }


def bcrypt_trio(cost: int = 12) -> Fixes:
    """bcrypt over base64(SHA-256(password)) (OWASP's pre-hash), as a class."""

    class Bcrypt:
        def _pre(self, password: str) -> bytes:
            return base64.b64encode(hashlib.sha256(password.encode()).digest())

        def hash_password(self, password: str) -> str:
            return bcrypt.hashpw(self._pre(password), bcrypt.gensalt(cost)).decode()

        def verify_password(self, password: str, stored: str) -> bool:
            if HEX.fullmatch(stored):
                return _legacy_ok(password, stored)
            if not stored.startswith("$2"):
                return False
            return bcrypt.checkpw(self._pre(password), stored.encode())

        def needs_rehash(self, stored: str) -> bool:
            return not stored.startswith(f"$2b${cost:02d}$")

    scheme = Bcrypt()
    return {
        "hash_password": scheme.hash_password,
        "verify_password": scheme.verify_password,
        "needs_rehash": scheme.needs_rehash,
    }


OWASP = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)


@wrong("fix-fast-password-hash", breaks="salted")
def unsalted_sha256() -> Fixes:
    """SHA-256 of the password, no salt: equal passwords, equal rows, cracked at once."""

    def hash_password(password: str) -> str:
        return hashlib.sha256(password.encode()).hexdigest()

    return {
        "hash_password": hash_password,
        "verify_password": lambda password, stored: _legacy_ok(password, stored),
        "needs_rehash": lambda stored: len(stored) == 32,
    }


@wrong("fix-fast-password-hash", breaks="slow-hash")
def salted_sha256() -> Fixes:
    """A random salt and one SHA-256: salted, but a GPU still tries billions a second."""

    def hash_password(password: str) -> str:
        salt = secrets.token_hex(16)
        return f"sha256${salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"

    def verify_password(password: str, stored: str) -> bool:
        if HEX.fullmatch(stored):
            return _legacy_ok(password, stored)
        _, salt, digest = stored.split("$")
        return hmac.compare_digest(hashlib.sha256((salt + password).encode()).hexdigest(), digest)

    return {
        "hash_password": hash_password,
        "verify_password": verify_password,
        "needs_rehash": lambda stored: bool(HEX.fullmatch(stored)),
    }


@wrong("fix-fast-password-hash", breaks="legacy-login")
def forgets_the_legacy_rows() -> Fixes:
    """argon2id only: every seeded account (MD5 and SHA-256 rows) is locked out."""
    fixes = argon2_trio(OWASP)

    def verify_password(password: str, stored: str) -> bool:
        try:
            return OWASP.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    return {**fixes, "verify_password": verify_password}


@wrong("fix-fast-password-hash", breaks="legacy-login")
def md5_legacy_only() -> Fixes:
    """Legacy rows recognised by length 32 only: the SHA-256 rows can no longer log in."""
    fixes = argon2_trio(OWASP)

    def verify_password(password: str, stored: str) -> bool:
        if len(stored) == 32:
            return _legacy_ok(password, stored)
        try:
            return OWASP.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    return {**fixes, "verify_password": verify_password}


@wrong("fix-fast-password-hash", breaks="upgrade-at-login")
def never_rehashes() -> Fixes:
    """Legacy rows still log in, but needs_rehash never says so: MD5 stays in the table."""
    return {**argon2_trio(OWASP), "needs_rehash": lambda stored: False}


@wrong("fix-fast-password-hash", breaks="verifies")
def verify_raises_on_mismatch() -> Fixes:
    """argon2's verify() raises VerifyMismatchError on a wrong password; not caught."""
    fixes = argon2_trio(OWASP)

    def verify_password(password: str, stored: str) -> bool:
        if HEX.fullmatch(stored):
            return _legacy_ok(password, stored)
        return OWASP.verify(stored, password)

    return {**fixes, "verify_password": verify_password}


@wrong("fix-fast-password-hash", breaks="long-passwords")
def bcrypt_truncating() -> Fixes:
    """bcrypt cost 12 on the first 72 bytes 'to avoid bcrypt 5's ValueError'."""

    def hash_password(password: str) -> str:
        return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(12)).decode()

    def verify_password(password: str, stored: str) -> bool:
        if HEX.fullmatch(stored):
            return _legacy_ok(password, stored)
        return bcrypt.checkpw(password.encode()[:72], stored.encode())

    return {
        "hash_password": hash_password,
        "verify_password": verify_password,
        "needs_rehash": lambda stored: not stored.startswith("$2b$12$"),
    }


@right("fix-fast-password-hash")
def argon2_library_defaults() -> Fixes:
    """argon2-cffi's own defaults (64 MiB, t=3), above OWASP's first setting."""
    return argon2_trio(PasswordHasher())


@right("fix-fast-password-hash")
def bcrypt_prehashed_class() -> Fixes:
    """bcrypt cost 12 over a SHA-256 pre-hash, as a class."""
    return bcrypt_trio()


# -- row 5: one answer for unknown users and wrong passwords ------------------------------------
def make_login(
    verify: Callable[[str, str], bool], dummy: str
) -> Callable[[str, str, Any], tuple[int, dict[str, Any]]]:
    """01's login around ``verify`` and a dummy hash made by the same scheme."""

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        ok = verify(password, user.password_hash if user is not None else dummy)
        if user is None or not ok:
            return 401, dict(INVALID)
        return 200, {"email": user.email, "role": user.role}

    return login


def owasp_login() -> Callable[[str, str, Any], tuple[int, dict[str, Any]]]:
    """A login for the shop's rows: legacy hex digests and argon2id at OWASP's setting."""
    trio = argon2_trio(OWASP)
    return make_login(trio["verify_password"], OWASP.hash(secrets.token_urlsafe(24)))


@wrong("fix-login-enumeration", breaks="same-answer")
def status_tells() -> Fixes:
    """The same message, but 404 for an unknown email: the status still tells."""
    login = owasp_login()

    def distinct(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        if find_user(email) is None:
            return 404, dict(INVALID)
        return login(email, password, find_user)

    return {"login": distinct}


@wrong("fix-login-enumeration", breaks="same-answer")
def message_tells() -> Fixes:
    """'No such account' for an unknown email, 'Invalid password' for a wrong one."""
    login = owasp_login()

    def helpful(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        if find_user(email) is None:
            return 401, {"error": "No account with that email"}
        status, body = login(email, password, find_user)
        return (status, body) if status == 200 else (401, {"error": "Invalid password"})

    return {"login": helpful}


@wrong("fix-login-enumeration", breaks="same-work")
def no_dummy_hash() -> Fixes:
    """One message, but an unknown email returns at once: the time tells who exists."""
    verify = argon2_trio(OWASP)["verify_password"]

    def quick(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        if user is None or not verify(password, user.password_hash):
            return 401, dict(INVALID)
        return 200, {"email": user.email, "role": user.role}

    return {"login": quick}


@wrong("fix-login-enumeration", breaks="logs-in")
def argon2_rows_only() -> Fixes:
    """Checks argon2id rows only: every account still on a legacy row is refused."""

    def verify(password: str, stored: str) -> bool:
        try:
            return OWASP.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    return {"login": make_login(verify, OWASP.hash("dummy"))}


class Authenticator:
    """login as a class: the dummy hash made once, lazily, by the same hasher."""

    def __init__(self) -> None:
        self.hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
        self._dummy: str | None = None

    def check(self, password: str, stored: str) -> bool:
        if HEX.fullmatch(stored):
            return _legacy_ok(password, stored)
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def __call__(self, email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_hex(16))
        user = find_user(email)
        good = self.check(password, self._dummy if user is None else user.password_hash)
        if good and user is not None:
            return 200, {"email": user.email, "role": user.role}
        return 401, {"error": "Invalid email or password"}


@right("fix-login-enumeration")
def authenticator_class() -> Fixes:
    """A callable class with a lazily made dummy hash."""
    return {"login": Authenticator()}


@right("fix-login-enumeration")
def patterns_verify_with_dummy() -> Fixes:
    """labkit's own verify_password (legacy rows and argon2id) with a module dummy hash."""
    return {"login": make_login(reference.verify_password, reference.hash_password("x" * 20))}


@right("fix-login-enumeration")
def dummy_of_argon2_defaults() -> Fixes:
    """Row 2 kept at argon2-cffi's defaults (64 MiB, t=3): the dummy costs more than the
    shop's OWASP-minimum rows here, and exactly what every row costs once row 2 is in."""
    hasher = PasswordHasher()
    verify = argon2_trio(hasher)["verify_password"]
    return {"login": make_login(verify, hasher.hash(secrets.token_urlsafe(24)))}


# -- row 6: rate limits on login and sign-up ---------------------------------------------------
@wrong("fix-no-auth-rate-limit", breaks="per-account")
def ip_only() -> Fixes:
    """Per address only: a botnet guesses one account without limit."""
    return {"login_keys": lambda ip, email: [f"ip:{ip}"]}


@wrong("fix-no-auth-rate-limit", breaks="per-ip")
def account_only() -> Fixes:
    """Per account only: one address tries a thousand accounts once each."""
    return {"login_keys": lambda ip, email: [f"account:{email.strip().casefold()}"]}


@wrong("fix-no-auth-rate-limit", breaks="case-folded")
def case_sensitive_account() -> Fixes:
    """The email as typed: Dana@Shop.Example gets a fresh quota."""
    return {"login_keys": lambda ip, email: [f"ip:{ip}", f"account:{email}"]}


@wrong("fix-no-auth-rate-limit", breaks="per-account")
def one_key_per_pair() -> Fixes:
    """One key for (address, account): neither a botnet nor one stuffing address is stopped."""
    return {"login_keys": lambda ip, email: [f"{ip}|{email.strip().casefold()}"]}


@wrong("fix-no-auth-rate-limit", breaks="no-lockout")
def one_global_key() -> Fixes:
    """A key for the whole login besides the others: five failures lock everybody out."""
    return {"login_keys": lambda ip, email: ["login", f"ip:{ip}", email.strip().casefold()]}


@right("fix-no-auth-rate-limit")
def tuple_of_keys() -> Fixes:
    """A tuple where a list is asked for, the account as a digest."""

    def login_keys(ip: str, email: str) -> tuple[str, ...]:
        account = hashlib.sha256(email.strip().casefold().encode()).hexdigest()
        return (f"addr/{ip}", f"acct/{account}")

    return {"login_keys": login_keys}


@right("fix-no-auth-rate-limit")
def lower_and_strip() -> Fixes:
    """str.lower() for the account (enough for ASCII emails), keys in another order."""
    return {"login_keys": lambda ip, email: [email.strip().lower(), "client " + ip]}
