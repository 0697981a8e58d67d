"""01 no-enumeration: logins that tell (or do not tell) who has an account."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import bcrypt
from argon2 import PasswordHasher

from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")
REFUSED, hash_password, system, verify_password = (
    P.REFUSED, P.hash_password, P.system, P.verify_password
)  # fmt: skip

GOOD = {"hash_password": hash_password, "verify_password": verify_password}
DUMMY = hash_password("a dummy password nobody has")


def _login(dummy_for_unknown: Any) -> Fixes:
    """A login that verifies ``dummy_for_unknown()`` for an unknown user."""

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        stored = user.password_hash if user is not None else dummy_for_unknown()
        if not verify_password(password, stored) or user is None:
            return 401, REFUSED
        return 200, {"email": user.email, "role": user.role}

    return system(login=login)


@wrong("no-enumeration", breaks="same-answer", also=("verify",))
def not_found_for_unknown_users() -> Fixes:
    """404 for an unknown email ('REST says the resource does not exist'), 401 otherwise."""

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        if user is None:
            verify_password(password, DUMMY)
            return 404, REFUSED
        if not verify_password(password, user.password_hash):
            return 401, REFUSED
        return 200, {"email": user.email, "role": user.role}

    return system(login=login)


@wrong("no-enumeration", breaks="same-answer")
def two_messages() -> Fixes:
    """Both 401 and a dummy hash, but the unknown email gets its own message."""

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        ok = verify_password(password, user.password_hash if user else DUMMY)
        if user is None:
            return 401, {"error": "Invalid email or password."}
        if not ok:
            return 401, REFUSED
        return 200, {"email": user.email, "role": user.role}

    return system(login=login)


@wrong("no-enumeration", breaks="same-work")
def no_dummy_hash() -> Fixes:
    """One message, but an unknown email returns at once: no hash work at all."""

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        if user is None or not verify_password(password, user.password_hash):
            return 401, REFUSED
        return 200, {"email": user.email, "role": user.role}

    return system(login=login)


@wrong("no-enumeration", breaks="same-work")
def dummy_hashed_per_call() -> Fixes:
    """The dummy hash is made on every call: an unknown email costs a hash AND a verify."""
    return _login(lambda: hash_password("dummy password"))


@wrong("no-enumeration", breaks="same-work")
def dummy_from_a_cheaper_hasher() -> Fixes:
    """The dummy is argon2id with 1 MiB and one pass: 'it is only a dummy'."""
    dummy = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("dummy")
    return _login(lambda: dummy)


@wrong("no-enumeration", breaks="same-work")
def dummy_in_a_fast_scheme() -> Fixes:
    """The dummy is a SHA-256 hex digest: the verifier rejects it without hashing."""
    dummy = hashlib.sha256(b"dummy").hexdigest()
    return _login(lambda: dummy)


@wrong("no-enumeration", breaks="same-work")
def sleep_instead_of_hashing() -> Fixes:
    """An unknown email sleeps as long as a verification usually takes."""

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        if user is None:
            time.sleep(0.03)
            return 401, REFUSED
        if not verify_password(password, user.password_hash):
            return 401, REFUSED
        return 200, {"email": user.email, "role": user.role}

    return system(login=login)


@wrong("no-enumeration", breaks="logs-in")
def answers_with_the_whole_row() -> Fixes:
    """On success the whole user row goes back, password hash included."""

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        ok = verify_password(password, user.password_hash if user else DUMMY)
        if user is None or not ok:
            return 401, REFUSED
        return 200, {"email": user.email, "role": user.role, "hash": user.password_hash}

    return system(login=login)


@wrong("no-enumeration", breaks="logs-in")
def refuses_everyone() -> Fixes:
    """Verifies the dummy for everybody: nobody can tell accounts apart, nobody logs in."""

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        verify_password(password, DUMMY)
        return 401, REFUSED

    return system(login=login)


@right("no-enumeration")
def bcrypt_system_as_a_class() -> Fixes:
    """bcrypt cost 10 over a SHA-256 pre-hash, a class holding the dummy, a list returned."""

    def prehash(password: str) -> bytes:
        return hashlib.sha256(password.encode()).hexdigest().encode()

    class Accounts:
        dummy = bcrypt.hashpw(prehash("nobody"), bcrypt.gensalt(10)).decode()

        def hash_password(self, password: str) -> str:
            return bcrypt.hashpw(prehash(password), bcrypt.gensalt(10)).decode()

        def verify_password(self, password: str, stored: str) -> bool:
            return stored.startswith("$2") and bcrypt.checkpw(prehash(password), stored.encode())

        def login(self, email: str, password: str, find_user: Any) -> list[Any]:
            user = find_user(email)
            matched = self.verify_password(password, user.password_hash if user else self.dummy)
            if user and matched:
                return [200, {"email": user.email, "role": user.role}]
            return [401, dict(REFUSED)]

    accounts = Accounts()
    return {
        "hash_password": accounts.hash_password,
        "verify_password": accounts.verify_password,
        "login": accounts.login,
    }


@right("no-enumeration", also=("verify",))
def early_return_after_the_dummy() -> Fixes:
    """An unknown user is refused early, after verifying against the module's dummy hash."""

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        if user is None:
            verify_password(password, DUMMY)
            return 401, REFUSED
        if verify_password(password, user.password_hash):
            return 200, {"email": user.email, "role": user.role}
        return 401, REFUSED

    return {**system(login=login), **GOOD}
