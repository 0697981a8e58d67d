"""A whole, correct 01 login system written for the corpus (argon2id at OWASP's minimum, so
``verify`` runs fast): a wrong case replaces one part of it with its mistake."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from labkit.wordlists import common_passwords
from tests.fixes.corpus import Fixes

HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
BLOCKLIST = frozenset(common_passwords())
REFUSED = {"error": "Invalid email or password"}


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    if len(stored) == 32:
        return hmac.compare_digest(hashlib.md5(password.encode()).hexdigest(), stored)
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return len(stored) == 32 or HASHER.check_needs_rehash(stored)


def validate_password(password: str) -> list[str]:
    errors = []
    if not 12 <= len(password) <= 128:
        errors.append("12 to 128 characters")
    if password.lower() in BLOCKLIST:
        errors.append("too common")
    return errors


def make_login(hasher: Any = hash_password, verifier: Any = verify_password) -> Any:
    """The login, with its dummy hash made once by ``hasher`` (the system's own)."""
    dummy = hasher("no account has this password")

    def login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
        user = find_user(email)
        ok = verifier(password, user.password_hash if user else dummy)
        if user is None or not ok:
            return 401, REFUSED
        return 200, {"email": user.email, "role": user.role}

    return login


def system(**parts: Any) -> Fixes:
    """All five functions, ``parts`` replacing some of them (the login's dummy hash is made
    with the ``hash_password`` given, as the notebook asks)."""
    whole: Fixes = {
        "hash_password": hash_password,
        "verify_password": verify_password,
        "needs_rehash": needs_rehash,
        "validate_password": validate_password,
    }
    whole.update(parts)
    if "login" not in whole:
        whole["login"] = make_login(whole["hash_password"], whole["verify_password"])
    return whole
