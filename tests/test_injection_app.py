"""07-injection app: the whole payload battery against both apps over real HTTP, the other
attacks (oversized, wrong types, stacked), legitimate flows on both, and the properties that
make ``labkit serve 07-injection`` a fair target for outside scanners."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import httpx
import pytest

from labkit.attacks import injection as inj
from labkit.exercises.check import Findings
from labkit.exercises.labs import injection as checks
from labkit.sandbox.apps.injection import create_app
from labkit.sandbox.lab_server import LabServer


def serve(secure: bool) -> Iterator[httpx.Client]:
    server = LabServer(create_app(secure=secure), name=f"07-test-{secure}").start()
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as client:
            yield client
    finally:
        server.close()


@pytest.fixture(scope="module")
def vulnerable() -> Iterator[httpx.Client]:
    yield from serve(secure=False)


@pytest.fixture(scope="module")
def fixed() -> Iterator[httpx.Client]:
    yield from serve(secure=True)


def password_of(client: httpx.Client, email: str) -> str:
    return {a["email"]: a["password"] for a in client.get("/api/_lab/accounts").json()}[email]


# -- the battery -------------------------------------------------------------------------
def test_the_battery_has_at_least_twenty_payloads_each_with_a_goal() -> None:
    assert len(inj.PAYLOADS) >= 20
    assert len({p.id for p in inj.PAYLOADS}) == len(inj.PAYLOADS)
    assert all(p.goal for p in inj.PAYLOADS)
    assert {p.route for p in inj.PAYLOADS} == {"lookup", "login", "create"}


@pytest.mark.parametrize("payload", inj.PAYLOADS, ids=lambda p: p.id)
def test_every_payload_finds_something_in_the_vulnerable_app(
    vulnerable: httpx.Client, payload: inj.Payload
) -> None:
    outcome = inj.replay(vulnerable, payload)
    assert outcome.found, repr(outcome)


@pytest.mark.parametrize("payload", inj.PAYLOADS, ids=lambda p: p.id)
def test_no_payload_finds_anything_in_the_secure_app(
    fixed: httpx.Client, payload: inj.Payload
) -> None:
    outcome = inj.replay(fixed, payload)
    assert not outcome.found, repr(outcome)
    assert outcome.status < 500


@pytest.mark.parametrize("seed", [1, 2])
def test_the_secure_app_passes_every_check_battery(fixed: httpx.Client, seed: int) -> None:
    findings = Findings()
    for battery in checks.BATTERIES.values():
        battery(fixed, findings, random.Random(seed))
    assert not findings.problems, findings.problems


# -- the attacks one by one, vulnerable vs secure ----------------------------------------
def test_auth_bypass_logs_in_as_alice_only_when_vulnerable(
    vulnerable: httpx.Client, fixed: httpx.Client
) -> None:
    response = inj.login(vulnerable, "' OR '1'='1", "no password at all")
    token = response.json()["accessToken"]
    me = vulnerable.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (me["email"], me["role"]) == ("alice@example.com", "admin")
    refused = inj.login(fixed, "' OR '1'='1", "no password at all")
    assert refused.status_code == 401
    assert refused.json() == {"error": "Invalid email or password"}


def test_union_reads_hashes_only_when_vulnerable(
    vulnerable: httpx.Client, fixed: httpx.Client
) -> None:
    assert inj.column_count(vulnerable) == 7
    rows = inj.union_read(
        vulnerable,
        "SELECT id, email, role, password_hash, token_version, password_hash, age "
        "FROM users WHERE role = 'admin'",
    )
    assert rows[0]["name"].startswith("$argon2id$")
    with pytest.raises(ValueError, match="never failed"):
        inj.column_count(fixed, limit=8)
    assert inj.union_read(fixed, "SELECT 1") == []


def test_blind_extraction_reads_a_value_from_yes_and_no(
    vulnerable: httpx.Client, fixed: httpx.Client
) -> None:
    expression = "SELECT role FROM users ORDER BY id LIMIT 1"
    assert inj.blind_extract(inj.lookup_oracle(vulnerable, "alice@example.com"), expression) == (
        "admin"
    )
    assert inj.blind_extract(inj.lookup_oracle(fixed, "alice@example.com"), expression) == ""


def test_stacked_queries_are_refused_by_sqlite3_execute(vulnerable: httpx.Client) -> None:
    response = inj.lookup(vulnerable, inj.STACKED)
    assert response.status_code == 500
    assert "You can only execute one statement at a time" in response.json()["detail"]
    assert inj.lookup(vulnerable, "alice@example.com").json()["users"]


def test_oversized_names_are_stored_only_when_vulnerable(
    vulnerable: httpx.Client, fixed: httpx.Client
) -> None:
    body = {"email": inj.fresh_email(), "name": "x" * 3_000_000}
    assert inj.create(vulnerable, body).status_code == 201
    refused = inj.create(fixed, body)
    assert refused.status_code == 413
    assert refused.json() == {"error": "Request body too large"}
    assert inj.lookup(fixed, body["email"]).json() == {"users": []}


def test_a_streamed_body_is_cut_off_by_the_secure_app(fixed: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "stream@evil.example", "name": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = fixed.post(
        "/api/users", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_wrong_types_are_stored_only_when_vulnerable(
    vulnerable: httpx.Client, fixed: httpx.Client
) -> None:
    body = {"email": inj.fresh_email(), "name": "Type Test", "age": "abc"}
    assert inj.create(vulnerable, body).json()["age"] == "abc"
    refused = inj.create(fixed, {**body, "email": inj.fresh_email()})
    assert refused.status_code == 400
    errors = refused.json()["errors"]
    assert errors["formErrors"] == []
    assert errors["fieldErrors"]["age"] == ["Input should be a valid integer"]


def test_the_secure_app_answers_zod_shaped_errors(fixed: httpx.Client) -> None:
    response = inj.create(fixed, {"email": "nope", "name": " ", "age": 9, "role": "admin"})
    assert response.status_code == 400
    assert set(response.json()["errors"]["fieldErrors"]) == {"email", "name", "age", "role"}
    malformed = fixed.post(
        "/api/users", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json() == {
        "errors": {"formErrors": ["Malformed JSON body"], "fieldErrors": {}}
    }


# -- legitimate use ----------------------------------------------------------------------
@pytest.mark.parametrize("secure", [False, True], ids=["vulnerable", "secure"])
def test_plain_data_works_on_both(
    vulnerable: httpx.Client, fixed: httpx.Client, secure: bool
) -> None:
    client = fixed if secure else vulnerable
    email = inj.fresh_email("member")
    created = inj.create(client, {"email": email, "name": "Ada Lovelace", "age": 36})
    assert created.status_code == 201
    assert created.json() | {"id": 0} == {
        "id": 0,
        "email": email,
        "name": "Ada Lovelace",
        "age": 36,
        "role": "viewer",
    }
    assert [u["name"] for u in inj.lookup(client, email).json()["users"]] == ["Ada Lovelace"]
    again = inj.create(client, {"email": email, "name": "Ada Lovelace"})
    assert again.status_code == 409
    alice = password_of(client, "alice@example.com")
    assert inj.login(client, "alice@example.com", alice).status_code == 200
    assert inj.login(client, "alice@example.com", alice + "x").status_code == 401
    assert inj.login(client, "nobody@example.com", alice).status_code == 401


def test_apostrophes_break_the_vulnerable_app_and_not_the_secure_one(
    vulnerable: httpx.Client, fixed: httpx.Client
) -> None:
    body = {"email": inj.fresh_email("irish"), "name": "Siobhan O'Brien"}
    broken = inj.create(vulnerable, body)
    assert broken.status_code == 500  # the same bug that lets the injection in
    assert inj.lookup(vulnerable, "o'neill@example.com").status_code == 500
    assert inj.create(fixed, body).json()["name"] == "Siobhan O'Brien"
    assert len(inj.lookup(fixed, "o'neill@example.com").json()["users"]) == 1


def test_the_legitimate_batteries_fail_on_the_vulnerable_app(vulnerable: httpx.Client) -> None:
    findings = Findings()
    for name in ("lookup", "sign-up", "login"):
        checks.BATTERIES[name](vulnerable, findings, random.Random(3))
    shown = "\n".join(findings.problems)
    for rule in ("lookup-exact", "insert-verbatim", "login-exact"):
        assert f"[{rule}]" in shown, shown


# -- a fair target for outside scanners --------------------------------------------------
def test_errors_are_deterministic_and_nothing_is_rate_limited(vulnerable: httpx.Client) -> None:
    bodies = {inj.lookup(vulnerable, "alice@example.com'").text for _ in range(3)}
    assert len(bodies) == 1
    assert json.loads(bodies.pop())["error"] == "Database error"
    statuses = {inj.login(vulnerable, "nobody@example.com", "x").status_code for _ in range(30)}
    assert statuses == {401}


def test_the_lookup_hides_password_columns_even_from_select_star(vulnerable: httpx.Client) -> None:
    user = inj.lookup(vulnerable, "alice@example.com").json()["users"][0]
    assert set(user) == {"id", "email", "name", "age", "role"}
