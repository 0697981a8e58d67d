"""01-passwords: every check fails on the stub and on a plausible wrong answer, and passes on
the reference — judged through the real lab, over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from typing import Any

import bcrypt
import pytest

from labkit.attacks.cracking import crack_unsalted
from labkit.attacks.timing import probe_logins
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.exercises.registry import get_lab
from labkit.patterns import passwords as secure
from labkit.vulnerable import passwords as weak

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_HOME", str(tmp_path_factory.mktemp("labkit-home")))
        # Lab(), not open_lab(): a lab this module owns, which no other test's open_lab()
        # of the same id can replace (and stop) half-way through, e.g. under xdist
        opened = Lab(get_lab("01-passwords"))
        try:
            yield opened
        finally:
            opened.close()


def leak(lab: Lab) -> dict[str, str]:
    users = lab.client.get("/api/_lab/dump").json()["users"]
    return {u["email"]: u["password_hash"] for u in users}


def mentions(result: CheckResult, text: str) -> bool:
    return text in repr(result)


def not_written(*args: Any) -> Any:
    raise NotImplementedError


# -- the learner's possible answers ------------------------------------------------------
def reference_login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
    user = secure.authenticate(email, password, find_user)
    if user is None:
        return 401, {"error": "Invalid email or password"}
    return 200, {"email": user.email, "role": user.role}


def login_without_dummy_hash(
    email: str, password: str, find_user: Any
) -> tuple[int, dict[str, Any]]:
    """Same message for both failures, but an unknown user costs no hashing."""
    user = find_user(email)
    if user is None:
        return 401, {"error": "Invalid email or password"}
    if not secure.verify_password(password, user.password_hash):
        return 401, {"error": "Invalid email or password"}
    return 200, {"email": user.email, "role": user.role}


def sha256_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def sha256_verify(password: str, stored: str) -> bool:
    return hashlib.sha256(password.encode()).hexdigest() == stored


def bcrypt4_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4)).decode()


def bcrypt4_verify(password: str, stored: str) -> bool:
    if stored.startswith("$2"):
        return bcrypt.checkpw(password.encode()[:72], stored.encode())
    return hmac.compare_digest(hashlib.md5(password.encode()).hexdigest(), stored.lower())


def bcrypt_needs_rehash(stored: str) -> bool:
    return not stored.startswith("$2")


def length_only_policy(password: str) -> list[str]:
    errors = []
    if len(password) < 12:
        errors.append("Minimum 12 characters")
    if len(password) > 128:
        errors.append("Maximum 128 characters")
    return errors


REFERENCE_HASHING = {
    "hash_password": secure.hash_password,
    "verify_password": secure.verify_password,
    "needs_rehash": secure.needs_rehash,
}
# The policy checks only register accounts: argon2id (~25 ms) stores them faster than the
# vulnerable app's bcrypt cost 12 (~250 ms). Any extra fix of the lab may be plugged in.
FAST_STORAGE = {"hash_password": secure.hash_password}
REFERENCE_ALL = {
    **REFERENCE_HASHING,
    "validate_password": secure.validate_password,
    "login": reference_login,
}


# -- crack-leak --------------------------------------------------------------------------
def test_crack_leak_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("crack-leak", {})
    assert not result.passed
    assert mentions(result, "you logged in as 0 of")


def test_crack_leak_fails_on_a_wrong_type(lab: Lab) -> None:
    assert not lab.check("crack-leak", ["alice@example.com"]).passed


def test_crack_leak_fails_with_only_md5_cracked(lab: Lab) -> None:
    md5_only = {email: h for email, h in leak(lab).items() if len(h) == 32}
    cracked = crack_unsalted(md5_only)
    assert cracked  # the attack itself works
    result = lab.check("crack-leak", cracked)
    assert not result.passed
    assert mentions(result, "crack both kinds of hash")


def test_crack_leak_passes_on_a_real_crack(lab: Lab) -> None:
    result = lab.check("crack-leak", crack_unsalted(leak(lab)))
    assert result.passed, repr(result)


# -- enumerate-users ---------------------------------------------------------------------
def existing_from_messages(lab: Lab) -> list[str]:
    candidates = lab.client.get("/api/_lab/candidates").json()
    answers = probe_logins(lab.client, candidates)
    return [email for email, (_, body) in answers.items() if body["error"] == "Invalid password"]


def test_enumerate_users_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("enumerate-users", [])
    assert not result.passed
    assert mentions(result, "existing account(s) missing from your list")


def test_enumerate_users_fails_on_all_candidates(lab: Lab) -> None:
    candidates = lab.client.get("/api/_lab/candidates").json()
    result = lab.check("enumerate-users", candidates)
    assert not result.passed
    assert mentions(result, "12 email(s) in your list have no account")


def test_enumerate_users_passes_on_the_enumerated_list(lab: Lab) -> None:
    found = existing_from_messages(lab)
    assert len(found) == 8
    result = lab.check("enumerate-users", found)
    assert result.passed, repr(result)


# -- bcrypt-72 ---------------------------------------------------------------------------
LONG_PREFIX = "Correct-Horse-9 " * 5  # 80 bytes; passes the legacy composition rules


@pytest.fixture(scope="module")
def long_account(lab: Lab) -> tuple[str, str, str]:
    """An account registered on the vulnerable app with an 80-byte password (bcrypt, cost 12)."""
    email = f"long-{secrets.token_hex(4)}@shop.example"
    first, second = LONG_PREFIX + "first ending", LONG_PREFIX + "another ending"
    response = lab.client.post("/api/auth/register", json={"email": email, "password": first})
    assert response.status_code == 201, response.text
    return email, first, second


def test_bcrypt_72_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("bcrypt-72", None)
    assert not result.passed
    assert mentions(result, "expected a tuple (email, password_a, password_b)")


def test_bcrypt_72_fails_on_two_equal_passwords(
    lab: Lab, long_account: tuple[str, str, str]
) -> None:
    email, first, _ = long_account
    result = lab.check("bcrypt-72", (email, first, first))
    assert not result.passed
    assert mentions(result, "the two passwords are the same")


def test_bcrypt_72_fails_when_the_passwords_differ_early(
    lab: Lab, long_account: tuple[str, str, str]
) -> None:
    email, first, _ = long_account
    result = lab.check("bcrypt-72", (email, first, "X" + first[1:]))
    assert not result.passed
    assert mentions(result, "login statuses: [200, 401]")


def test_bcrypt_72_passes_on_a_real_collision(lab: Lab, long_account: tuple[str, str, str]) -> None:
    result = lab.check("bcrypt-72", long_account)
    assert result.passed, repr(result)
    assert mentions(result, "they share the first 80 bytes")


# -- hashing -----------------------------------------------------------------------------
def test_hashing_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check(
        "hashing", hash_password=not_written, verify_password=not_written, needs_rehash=not_written
    )
    assert not result.passed
    assert mentions(result, "hash_password is not written yet")


def test_hashing_fails_on_unsalted_sha256(lab: Lab) -> None:
    result = lab.check(
        "hashing",
        hash_password=sha256_hash,
        verify_password=sha256_verify,
        needs_rehash=lambda stored: False,
    )
    assert not result.passed
    assert mentions(result, "the same password gave the same hash twice")
    assert mentions(result, "stored hash looks like sha256")


def test_hashing_fails_on_bcrypt_cost_4(lab: Lab) -> None:
    result = lab.check(
        "hashing",
        hash_password=bcrypt4_hash,
        verify_password=bcrypt4_verify,
        needs_rehash=bcrypt_needs_rehash,
    )
    assert not result.passed
    assert mentions(result, "stored hash looks like bcrypt {'cost': 4}")


def test_hashing_fails_on_truncating_bcrypt_cost_12(lab: Lab) -> None:
    result = lab.check(
        "hashing",
        hash_password=weak.hash_password,
        verify_password=weak.verify_password,
        needs_rehash=bcrypt_needs_rehash,
    )
    assert not result.passed
    assert mentions(result, "input is truncated")
    assert not mentions(result, "same hash twice")  # salted and slow: only the truncation


def test_hashing_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("hashing", **REFERENCE_HASHING)
    assert result.passed, repr(result)


# -- policy ------------------------------------------------------------------------------
def test_policy_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("policy", validate_password=not_written, **FAST_STORAGE)
    assert not result.passed
    assert mentions(result, "validate_password is not written yet")


def test_policy_fails_on_composition_rules(lab: Lab) -> None:
    result = lab.check("policy", validate_password=weak.validate_password, **FAST_STORAGE)
    assert not result.passed
    assert mentions(result, "a passphrase with spaces ('correct horse battery staple') was refused")


def test_policy_fails_without_a_blocklist(lab: Lab) -> None:
    result = lab.check("policy", validate_password=length_only_policy, **FAST_STORAGE)
    assert not result.passed
    assert mentions(result, "the common password")
    assert not mentions(result, "was refused")  # the length rules themselves are right


def test_policy_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("policy", validate_password=secure.validate_password, **FAST_STORAGE)
    assert result.passed, repr(result)


# -- no-enumeration ----------------------------------------------------------------------
def test_no_enumeration_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check(
        "no-enumeration",
        login=not_written,
        hash_password=secure.hash_password,
        verify_password=secure.verify_password,
    )
    assert not result.passed
    assert mentions(result, "login is not written yet")


def test_no_enumeration_fails_without_a_dummy_hash(lab: Lab) -> None:
    result = lab.check(
        "no-enumeration",
        login=login_without_dummy_hash,
        hash_password=secure.hash_password,
        verify_password=secure.verify_password,
    )
    assert not result.passed
    assert mentions(result, "verify a dummy hash for unknown users")
    assert not mentions(result, "the responses must be identical")  # the messages match


def test_no_enumeration_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check(
        "no-enumeration",
        login=reference_login,
        hash_password=secure.hash_password,
        verify_password=secure.verify_password,
    )
    assert result.passed, repr(result)


# -- verify ------------------------------------------------------------------------------
def test_verify_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("verify", **REFERENCE_ALL)
    assert result.passed, repr(result)
    for battery in ("hash storage", "password policy", "enumeration"):
        assert mentions(result, f"{battery}: every attack refused")


def test_verify_fails_when_one_part_is_wrong(lab: Lab) -> None:
    result = lab.check("verify", **{**REFERENCE_ALL, "validate_password": weak.validate_password})
    assert not result.passed
    assert mentions(result, "11 characters was not refused")
    assert mentions(result, "'correct horse battery staple') was refused")
    for other in ("stored hash", "truncated", "legacy", "dummy hash", "identical 401"):
        assert not mentions(result, other)  # storage and login are the reference: no complaint


def test_verify_needs_all_five_functions(lab: Lab) -> None:
    result = lab.check("verify", **REFERENCE_HASHING)
    assert not result.passed
    assert result.summary == "this check needs your functions validate_password, login"
