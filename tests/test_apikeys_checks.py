"""05-api-keys: every check fails on the stub and on a plausible wrong answer or fix, and
passes on the reference — judged through the real lab, over HTTP."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import bcrypt
import pytest

from labkit.attacks.apikeys import keys_in_log, log_in
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.patterns import apikeys as secure
from labkit.sandbox.apps.apikeys import _secure_authenticate
from labkit.vulnerable import apikeys as weak
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


def prefix_without_checksum() -> str:
    return secure.KEY_PREFIX + secrets.token_hex(18)


def prefix_and_timestamp() -> str:
    """Right shape and checksum, but the body is a zero-padded clock reading."""
    import time

    body = f"{time.time_ns():030d}"
    return secure.KEY_PREFIX + body + secure.checksum(body)


def base64_at_rest(key: str) -> str:
    return base64.b64encode(key.encode()).decode()


def bcrypt_at_rest(key: str) -> str:
    return bcrypt.hashpw(key.encode(), bcrypt.gensalt(4)).decode()


def scopes_unchecked(api_key: Any, scope: str, find_key: Any, now: float) -> tuple[int, dict]:
    """Hashed lookup, revocation and expiry — but any scope goes."""
    if not api_key:
        return 401, {"error": "API key required"}
    record = find_key(api_key)
    if record is None or not secure.is_usable(record, now):
        return 401, {"error": "Invalid API key"}
    return 200, {"client": record.name, "keyId": record.id}


def revocation_ignored(api_key: Any, scope: str, find_key: Any, now: float) -> tuple[int, dict]:
    """Expiry and scope checked; ``revoked_at`` never read."""
    if not api_key:
        return 401, {"error": "API key required"}
    record = find_key(api_key)
    if record is None or record.expires_at is None or now >= record.expires_at:
        return 401, {"error": "Invalid API key"}
    if scope not in record.scopes:
        return 403, {"error": "Insufficient permissions"}
    return 200, {"client": record.name, "keyId": record.id}


def expiry_ignored(api_key: Any, scope: str, find_key: Any, now: float) -> tuple[int, dict]:
    """The catalogue's middleware plus scopes: revocation checked, expiry never."""
    if not api_key:
        return 401, {"error": "API key required"}
    record = find_key(api_key)
    if record is None or record.revoked_at is not None:
        return 401, {"error": "Invalid API key"}
    if scope not in record.scopes:
        return 403, {"error": "Insufficient permissions"}
    return 200, {"client": record.name, "keyId": record.id}


def redact_named_only(url: str) -> str:
    """Redacts ``api_key=`` but not a key under any other name."""
    head, _, query = url.partition("?")
    pairs = [p if not p.startswith("api_key=") else "api_key=REDACTED" for p in query.split("&")]
    return f"{head}?{'&'.join(pairs)}" if query else head


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


def test_key_format_fails_on_a_prefix_without_checksum(lab: Lab) -> None:
    result = lab.check("key-format", generate_key=prefix_without_checksum)
    assert not result.passed
    assert mentions(result, "are not the CRC32 checksum of the body")


def test_key_format_fails_on_the_twins_64_bit_keys(lab: Lab) -> None:
    result = lab.check("key-format", generate_key=weak.generate_api_key)
    assert not result.passed
    assert mentions(result, "does not start with the prefix 'lk_live_'")


def test_key_format_fails_on_a_timestamp_body(lab: Lab) -> None:
    result = lab.check("key-format", generate_key=prefix_and_timestamp)
    assert not result.passed
    assert mentions(result, "the body must be random")


def test_key_format_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("key-format", generate_key=secure.generate_api_key)
    assert result.passed, repr(result)


# -- hashed-at-rest ----------------------------------------------------------------------
def test_hashed_at_rest_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("hashed-at-rest", hash_key=not_written)
    assert not result.passed
    assert mentions(result, "hash_key is not written yet")


def test_hashed_at_rest_fails_on_plaintext(lab: Lab) -> None:
    result = lab.check("hashed-at-rest", hash_key=weak.hash_api_key)
    assert not result.passed
    assert mentions(result, "the table stores the key itself")
    assert mentions(result, "from the leaked table work as keys")


def test_hashed_at_rest_fails_on_base64(lab: Lab) -> None:
    result = lab.check("hashed-at-rest", hash_key=base64_at_rest)
    assert not result.passed
    assert mentions(result, "or an encoding of it")


def test_hashed_at_rest_fails_on_a_salted_slow_hash(lab: Lab) -> None:
    result = lab.check("hashed-at-rest", hash_key=bcrypt_at_rest)
    assert not result.passed
    assert mentions(result, "hash_key must give the same value every time")


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


def test_revoke_expire_fails_when_revocation_is_ignored(lab: Lab) -> None:
    result = lab.check("revoke-expire", **{**KEY_SYSTEM, "authenticate": revocation_ignored})
    assert not result.passed
    assert mentions(result, "a revoked key got 200")
    assert not mentions(result, "expired key got")


def test_revoke_expire_fails_when_expiry_is_ignored(lab: Lab) -> None:
    result = lab.check("revoke-expire", **{**KEY_SYSTEM, "authenticate": expiry_ignored})
    assert not result.passed
    assert mentions(result, "a 1-day key still works 2 days later")
    assert not mentions(result, "a revoked key got")


def test_revoke_expire_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("revoke-expire", **KEY_SYSTEM)
    assert result.passed, repr(result)


# -- scopes ------------------------------------------------------------------------------
def test_scopes_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("scopes", **{**KEY_SYSTEM, "authenticate": not_written})
    assert not result.passed
    assert mentions(result, "authenticate is not written yet")


def test_scopes_fails_when_hashed_but_unchecked(lab: Lab) -> None:
    result = lab.check("scopes", **{**KEY_SYSTEM, "authenticate": scopes_unchecked})
    assert not result.passed
    assert mentions(result, "a read-only key may not write: got 201, expected 403")
    assert mentions(result, "a write-only key may not read: got 200, expected 403")


def test_scopes_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("scopes", **KEY_SYSTEM)
    assert result.passed, repr(result)


# -- rotation ----------------------------------------------------------------------------
def test_rotation_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("rotation", **{**KEY_SYSTEM, "authenticate": not_written})
    assert not result.passed


def test_rotation_fails_when_revocation_is_ignored(lab: Lab) -> None:
    result = lab.check("rotation", **{**KEY_SYSTEM, "authenticate": revocation_ignored})
    assert not result.passed
    assert mentions(result, "after revoking the old key: old 200, new 200")


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


def test_query_string_fails_when_the_url_key_is_accepted(lab: Lab) -> None:
    result = lab.check("query-string", **{**QUERY_REFERENCE, "read_api_key": weak.read_api_key})
    assert not result.passed
    assert mentions(result, "?api_key=<valid key> got 200")
    assert not mentions(result, "the access log holds the key")  # redaction is right


def test_query_string_fails_when_keys_are_logged(lab: Lab) -> None:
    result = lab.check("query-string", **{**QUERY_REFERENCE, "redact_url": weak.redact_url})
    assert not result.passed
    assert mentions(result, "the access log holds the key")
    assert not mentions(result, "?api_key=<valid key> got")  # refusal is right


def test_query_string_fails_when_only_api_key_is_redacted(lab: Lab) -> None:
    result = lab.check("query-string", **{**QUERY_REFERENCE, "redact_url": redact_named_only})
    assert not result.passed
    assert mentions(result, "debug=lk_live_")


def test_query_string_fails_when_the_log_is_emptied(lab: Lab) -> None:
    result = lab.check("query-string", **{**QUERY_REFERENCE, "redact_url": lambda url: "-"})
    assert not result.passed
    assert mentions(result, "ordinary query parameters vanished from the log")


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


@pytest.mark.parametrize(
    ("part", "wrong", "complaint"),
    [
        ("hash_key", weak.hash_api_key, "from the leaked table work as keys"),
        ("authenticate", scopes_unchecked, "a read-only key may not write"),
        ("authenticate", revocation_ignored, "a revoked key got 200"),
        ("generate_key", prefix_without_checksum, "are not the CRC32 checksum"),
    ],
    ids=["plaintext", "scopes-unchecked", "revocation-ignored", "no-checksum"],
)
def test_verify_fails_when_one_part_is_wrong(
    lab: Lab, part: str, wrong: Callable[..., Any], complaint: str
) -> None:
    result = lab.check("verify", **{**REFERENCE, part: wrong})
    assert not result.passed
    assert mentions(result, complaint)


def test_verify_needs_all_five_functions(lab: Lab) -> None:
    result = lab.check("verify", **KEY_SYSTEM)
    assert not result.passed
    assert result.summary == "this check needs your functions read_api_key, redact_url"
