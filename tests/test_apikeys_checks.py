"""05-api-keys: every check fails on the stub and on a plausible wrong answer or fix, and
passes on the reference — judged through the real lab, over HTTP."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labkit.attacks.apikeys import keys_in_log, log_in
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.patterns import apikeys as secure
from labkit.sandbox.apps.apikeys import _secure_authenticate
from tests.labs import running_lab

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "05-api-keys") as opened:
        yield opened


def mentions(result: CheckResult, text: str) -> bool:
    return text in repr(result)


def not_written(*args: Any) -> Any:
    raise NotImplementedError


def auth(lab: Lab, who: str) -> dict[str, str]:
    return log_in(lab.client, lab.users[who].email, lab.users[who].password)


def new_key(lab: Lab, who: str, scopes: list[str]) -> dict[str, Any]:
    response = lab.client.post("/api/keys", json={"scopes": scopes}, headers=auth(lab, who))
    assert response.status_code == 201, response.text
    return dict(response.json())


# -- the learner's possible fixes --------------------------------------------------------
REFERENCE: dict[str, Callable[..., Any]] = {
    "generate_key": secure.generate_api_key,
    "hash_key": secure.hash_api_key,
    "read_api_key": secure.read_api_key,
    "authenticate": _secure_authenticate,
    "redact_url": secure.redact_url,
}
KEY_SYSTEM = {k: REFERENCE[k] for k in ("generate_key", "hash_key", "authenticate")}


# -- attack checks -----------------------------------------------------------------------
ATTACKS = ("leaked-table", "query-log", "revoked-key", "missing-scope", "old-key")


@pytest.mark.parametrize("check_id", ATTACKS)
def test_attack_checks_fail_on_the_stub(lab: Lab, check_id: str) -> None:
    result = lab.check(check_id, None)
    assert not result.passed
    assert mentions(result, "expected the API key as a string")


@pytest.mark.parametrize("check_id", ATTACKS)
def test_attack_checks_fail_on_a_fresh_harmless_key(lab: Lab, check_id: str) -> None:
    """A key the learner just made with full rights is none of the five exploits."""
    if check_id == "leaked-table":
        answer = "lk_live_not-in-the-table"
    else:
        answer = str(new_key(lab, "alice", ["reports:read", "reports:write"])["key"])
    assert not lab.check(check_id, answer).passed


def test_leaked_table_passes_with_a_key_from_the_dump(lab: Lab) -> None:
    leak = lab.client.get("/api/_lab/dump").json()["api_keys"]
    result = lab.check("leaked-table", leak[0]["key_hash"])
    assert result.passed, repr(result)


def test_query_log_passes_with_the_harvested_key(lab: Lab) -> None:
    lab.client.post("/api/_lab/partner-job")
    lines = lab.client.get("/api/_lab/access-log").json()["lines"]
    result = lab.check("query-log", keys_in_log(lines)[-1])
    assert result.passed, repr(result)


def test_revoked_key_passes_after_a_revocation(lab: Lab) -> None:
    created = new_key(lab, "alice", ["reports:read"])
    lab.client.delete(f"/api/keys/{created['id']}", headers=auth(lab, "alice"))
    result = lab.check("revoked-key", created["key"])
    assert result.passed, repr(result)


def test_missing_scope_passes_with_a_read_only_key(lab: Lab) -> None:
    result = lab.check("missing-scope", new_key(lab, "carol", ["reports:read"])["key"])
    assert result.passed, repr(result)


def test_old_key_passes_with_the_key_from_the_old_config(lab: Lab) -> None:
    content = lab.client.get("/api/_lab/old-config").json()["content"]
    result = lab.check("old-key", content.split("REPORTS_API_KEY=")[1].split()[0])
    assert result.passed, repr(result)
    assert mentions(result, "expired 35 days ago")


# -- key-format --------------------------------------------------------------------------
def test_key_format_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("key-format", generate_key=not_written)
    assert not result.passed
    assert mentions(result, "generate_key is not written yet")


def test_key_format_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("key-format", generate_key=secure.generate_api_key)
    assert result.passed, repr(result)


# -- hashed-at-rest ----------------------------------------------------------------------
def test_hashed_at_rest_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("hashed-at-rest", hash_key=not_written)
    assert not result.passed
    assert mentions(result, "hash_key is not written yet")


def test_hashed_at_rest_passes_on_sha256(lab: Lab) -> None:
    result = lab.check("hashed-at-rest", hash_key=secure.hash_api_key)
    assert result.passed, repr(result)
    assert mentions(result, "stored as SHA-256(key)")


def test_hashed_at_rest_passes_with_the_whole_reference(lab: Lab) -> None:
    result = lab.check("hashed-at-rest", **KEY_SYSTEM)
    assert result.passed, repr(result)


def test_a_dumped_sha256_table_yields_no_usable_key(lab: Lab) -> None:
    """The issue's own test: dump the reference app's table, try every value in it."""
    box = lab.patched(**KEY_SYSTEM)
    try:
        client = box.client
        key = client.post(
            "/api/keys", json={"scopes": ["reports:read"]},
            headers=log_in(client, "alice@example.com", _password(client, "alice")),
        ).json()["key"]  # fmt: skip
        rows = client.get("/api/_lab/dump").json()["api_keys"]
        values = {str(v) for row in rows for v in row.values()}
        assert hashlib.sha256(key.encode()).hexdigest() in values and key not in values
        statuses = {client.get("/api/v1/reports", headers={"X-API-Key": v}).status_code
                    for v in values}  # fmt: skip
        assert statuses == {401}
        assert client.get("/api/v1/reports", headers={"X-API-Key": key}).status_code == 200
    finally:
        box.stop()


def _password(client: Any, who: str) -> str:
    accounts = client.get("/api/_lab/accounts").json()
    return next(a["password"] for a in accounts if a["email"].startswith(who))


# -- revoke-expire -----------------------------------------------------------------------
def test_revoke_expire_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("revoke-expire", **{**KEY_SYSTEM, "authenticate": not_written})
    assert not result.passed
    assert mentions(result, "authenticate is not written yet")


def test_revoke_expire_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("revoke-expire", **KEY_SYSTEM)
    assert result.passed, repr(result)


# -- scopes ------------------------------------------------------------------------------
def test_scopes_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("scopes", **{**KEY_SYSTEM, "authenticate": not_written})
    assert not result.passed
    assert mentions(result, "authenticate is not written yet")


def test_scopes_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("scopes", **KEY_SYSTEM)
    assert result.passed, repr(result)


# -- rotation ----------------------------------------------------------------------------
def test_rotation_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("rotation", **{**KEY_SYSTEM, "authenticate": not_written})
    assert not result.passed


def test_rotation_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("rotation", **KEY_SYSTEM)
    assert result.passed, repr(result)
    assert mentions(result, "the old and the new key both work")


# -- query-string ------------------------------------------------------------------------
QUERY_REFERENCE = {k: REFERENCE[k] for k in ("generate_key", "read_api_key", "redact_url")}


def test_query_string_fails_on_the_stub(lab: Lab) -> None:
    stub = {**QUERY_REFERENCE, "read_api_key": not_written, "redact_url": not_written}
    result = lab.check("query-string", **stub)
    assert not result.passed
    assert mentions(result, "read_api_key is not written yet")


def test_query_string_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("query-string", **QUERY_REFERENCE)
    assert result.passed, repr(result)


# -- verify ------------------------------------------------------------------------------
BATTERIES = ("key format", "storage", "revocation and expiry", "scopes", "rotation",
             "query string and logs")  # fmt: skip


def test_verify_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("verify", **REFERENCE)
    assert result.passed, repr(result)
    for battery in BATTERIES:
        assert mentions(result, f"{battery}: every attack refused")


def test_verify_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("verify", **{name: not_written for name in REFERENCE})
    assert not result.passed


def test_verify_needs_all_five_functions(lab: Lab) -> None:
    result = lab.check("verify", **KEY_SYSTEM)
    assert not result.passed
    assert result.summary == "this check needs your functions read_api_key, redact_url"


# -- the learner's own exploits, written from building blocks (as the solved notebook does) --
def use_leaked_keys(client: Any) -> list[str]:
    table = client.get("/api/_lab/dump").json()["api_keys"]
    return [
        row["key_hash"]
        for row in table
        if client.get("/api/v1/reports", headers={"X-API-Key": row["key_hash"]}).status_code == 200
    ]


def find_keys(lines: list[str]) -> list[str]:
    pattern = r"[?&](?:api_?key|key|token|access_token)=([^&\s\"]+)"
    return list(dict.fromkeys(re.findall(pattern, "\n".join(lines), flags=re.IGNORECASE)))


def test_hand_written_exploits_pass_the_attack_checks(lab: Lab) -> None:
    assert lab.check("leaked-table", use_leaked_keys(lab.client)[0]).passed
    lab.client.post("/api/_lab/partner-job")
    found = find_keys(lab.client.get("/api/_lab/access-log").json()["lines"])
    assert any(lab.check("query-log", key).passed for key in found)


def test_hand_written_exploits_find_nothing_on_the_reference_fix(lab: Lab) -> None:
    fixed = lab.patched(**REFERENCE)
    assert use_leaked_keys(fixed.client) == []
    fixed.client.post("/api/_lab/partner-job")
    found = find_keys(fixed.client.get("/api/_lab/access-log").json()["lines"])
    assert found and all(
        fixed.client.get("/api/v1/reports", headers={"X-API-Key": k}).status_code == 401
        for k in found
    )
