"""13-capstone, the data part (homemade-crypto, trusting-input, eternal-api-key): each fix check
fails on the stub and passes on the reference written out as in the notebook (wrong fixes:
tests/fixes/13-capstone/); each replay passes on the secure shop and fails on the broken one.
The audit (each row's exploit shown on the broken shop, not on the secure one) is tested in
test_capstone_audit.py."""

from __future__ import annotations

import base64
import json
import os
import random
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from labkit.exercises.capstone import data
from labkit.exercises.check import Findings, Target
from labkit.exercises.lab import Lab
from labkit.sandbox.apps.shop import create_app
from tests.labs import running_lab, served

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point

AP = {ap.id: ap for ap in data.ANTI_PATTERNS}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "13-capstone") as opened:
        yield opened


@pytest.fixture(scope="module")
def secure() -> Iterator[Target]:
    with served(create_app(secure=True), "13-capstone-secure") as target:
        yield target


def broken(lab: Lab) -> Target:
    return Target(lab.url, lab.urls)


def login(lab: Lab, who: str) -> dict[str, str]:
    user = lab.users[who]
    response = lab.client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


# -- the learner's possible fixes, the references as the notebook writes them out --------------
def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
    nonce = os.urandom(12)
    aad = json.dumps([record_id, key_id]).encode()
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return {
        "keyId": key_id,
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }


def decrypt_record(stored: dict, record_id: str, keyring: dict[str, bytes]) -> bytes | None:
    key_id = stored.get("keyId")
    if not isinstance(key_id, str) or key_id not in keyring:
        return None
    try:
        nonce = base64.b64decode(stored["nonce"], validate=True)
        sealed = base64.b64decode(stored["ciphertext"], validate=True)
        aad = json.dumps([record_id, key_id]).encode()
        return AESGCM(keyring[key_id]).decrypt(nonce, sealed, aad)
    except (KeyError, TypeError, ValueError, InvalidTag):
        return None


def find_users(db: sqlite3.Connection, email: str) -> list[sqlite3.Row]:
    return db.execute(
        "SELECT id, email, name, age, role FROM users WHERE email = ?", (email,)
    ).fetchall()


def authenticate(
    api_key: str | None, scope: str, find_key: Callable[[str], Any], now: float
) -> tuple[int, dict[str, Any]]:
    if not api_key:
        return 401, {"error": "API key required"}
    record = find_key(api_key)
    if (
        record is None
        or record.revoked_at is not None
        or record.expires_at is None
        or now >= record.expires_at
    ):
        return 401, {"error": "Invalid API key"}
    if scope not in record.scopes:
        return 403, {"error": "Insufficient permissions"}
    return 200, {"client": record.name, "keyId": record.id}


def stub(*args: Any) -> Any:
    raise NotImplementedError


REFERENCE: dict[str, dict[str, Callable[..., Any]]] = {
    "homemade-crypto": {"encrypt_record": encrypt_record, "decrypt_record": decrypt_record},
    "trusting-input": {"find_users": find_users},
    "eternal-api-key": {"authenticate": authenticate},
}


# -- fix-<id>: stub, wrong fixes, reference -----------------------------------------------------
@pytest.mark.parametrize("ap_id", sorted(REFERENCE))
def test_fix_fails_on_the_stub(lab: Lab, ap_id: str) -> None:
    result = lab.check(f"fix-{ap_id}", **{name: stub for name in REFERENCE[ap_id]})
    assert not result.passed and "NotImplementedError" in repr(result), result


@pytest.mark.parametrize("ap_id", sorted(REFERENCE))
def test_fix_passes_on_the_reference(lab: Lab, ap_id: str) -> None:
    result = lab.check(f"fix-{ap_id}", **REFERENCE[ap_id])
    assert result.passed, result


@pytest.mark.parametrize("ap_id", sorted(REFERENCE))
def test_replay_passes_on_the_secure_shop(secure: Target, ap_id: str) -> None:
    findings = Findings()
    AP[ap_id].replay(secure, findings, random.Random(0))
    verdict = findings.verdict("passed", "failed")
    assert verdict.passed, verdict


@pytest.mark.parametrize("ap_id", sorted(REFERENCE))
def test_replay_fails_on_the_broken_shop(lab: Lab, ap_id: str) -> None:
    findings = Findings()
    AP[ap_id].replay(broken(lab), findings, random.Random(0))
    assert findings.problems


# -- the broken shop's legitimate flows -------------------------------------------------------
def test_broken_shop_cards_lookup_and_keys_work(lab: Lab) -> None:
    bob = login(lab, "bob")
    saved = lab.client.post(
        "/api/cards", json={"number": "5555-5555-5555-4444", "holder": "Bob"}, headers=bob
    )
    assert saved.status_code == 201 and saved.json()["last4"] == "4444"
    listed = lab.client.get("/api/cards", headers=bob).json()["cards"]
    assert any(c["id"] == saved.json()["id"] and c["last4"] == "4444" for c in listed)
    other = lab.client.get(f"/api/cards/{saved.json()['id']}", headers=login(lab, "carol"))
    assert other.status_code == 403
    bad = lab.client.post("/api/cards", json={"number": "4242424242424241", "holder": "B"},
                          headers=bob)  # fmt: skip
    assert bad.status_code == 400 and "errors" in bad.json()
    assert lab.client.get("/api/users", params={"email": "bob@example.com"}).status_code == 401
    found = lab.client.get("/api/users", params={"email": "bob@example.com"}, headers=bob)
    assert [u["name"] for u in found.json()["users"]] == ["Bob Okafor"]
    key = lab.client.post("/api/keys", json={"scopes": ["reports:read"]}, headers=bob).json()
    reports = lab.client.get("/api/v1/reports", headers={"X-API-Key": key["key"]})
    assert reports.status_code == 200 and reports.json()["reports"]
    assert lab.client.get("/api/v1/reports").json() == {"error": "API key required"}
