"""01-passwords: every check fails on the stub and on a plausible wrong answer, and passes on
the reference — judged through the real lab, over HTTP."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

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


# -- timing-oracle -----------------------------------------------------------------------
def failed_login_ms(lab: Lab, email: str) -> float:
    start = time.perf_counter()
    lab.client.post("/api/auth/login", json={"email": email, "password": "Wrong-guess-1!"})
    return (time.perf_counter() - start) * 1000


def test_timing_oracle_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("timing-oracle", {})
    assert not result.passed
    assert mentions(result, "expected a dict {email: [milliseconds, ...]}")


def test_timing_oracle_fails_with_too_few_samples(
    lab: Lab, long_account: tuple[str, str, str]
) -> None:
    result = lab.check("timing-oracle", {long_account[0]: [250.0], "nobody@evil.example": [2.0]})
    assert not result.passed
    assert mentions(result, "5 or more attempts each")


def test_timing_oracle_fails_without_an_existing_account(lab: Lab) -> None:
    result = lab.check("timing-oracle", {"a@evil.example": [2.0] * 5, "b@evil.example": [3.0] * 5})
    assert not result.passed
    assert mentions(result, "none of yours exist")


def test_timing_oracle_fails_when_the_times_do_not_tell_them_apart(
    lab: Lab, long_account: tuple[str, str, str]
) -> None:
    times = {long_account[0]: [5.0] * 5, "nobody@evil.example": [4.0] * 5}
    result = lab.check("timing-oracle", times)
    assert not result.passed
    assert mentions(result, "your times do not tell them apart")


def test_timing_oracle_passes_on_real_measurements(
    lab: Lab, long_account: tuple[str, str, str]
) -> None:
    emails = [f"nobody-{secrets.token_hex(4)}@evil.example", long_account[0]]
    times: dict[str, list[float]] = {email: [] for email in emails}
    for _ in range(5):  # interleaved
        for email in emails:
            times[email].append(failed_login_ms(lab, email))
    result = lab.check("timing-oracle", times)
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


def test_hashing_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("hashing", **REFERENCE_HASHING)
    assert result.passed, repr(result)


# -- policy ------------------------------------------------------------------------------
def test_policy_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("policy", validate_password=not_written, **FAST_STORAGE)
    assert not result.passed
    assert mentions(result, "validate_password is not written yet")


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
    assert mentions(result, "[min-length] 11 characters")
    assert mentions(result, "[no-composition] an all-lowercase passphrase")
    for rule in ("salted", "slow-hash", "long-passwords", "legacy-login", "upgrade-at-login",
                 "same-answer", "same-work", "logs-in"):  # fmt: skip
        assert not mentions(result, f"[{rule}]")  # storage and login are the reference


def test_verify_needs_all_five_functions(lab: Lab) -> None:
    result = lab.check("verify", **REFERENCE_HASHING)
    assert not result.passed
    assert result.summary == "this check needs your functions validate_password, login"
