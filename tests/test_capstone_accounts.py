"""13-capstone, accounts part: fast password hashes, login enumeration, no auth rate limit.

Each fix-<id> check fails on the stub and passes on the reference (wrong fixes:
tests/fixes/13-capstone/); the three fixes work alone and together, and the seeded staff log
in whatever is fixed. The audit (each row's exploit shown on BrokenShop, not on the secure
shop) is tested in test_capstone_audit.py.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labkit.exercises.capstone import accounts as checks
from labkit.exercises.check import CheckResult, Findings, Target
from labkit.exercises.lab import Lab
from labkit.exercises.registry import get_lab
from labkit.patterns import passwords as secure
from labkit.patterns import ratelimit as secure_limits
from labkit.sandbox.apps.shop import create_app
from labkit.sandbox.apps.shop.accounts import CUSTOMER_DOMAIN, CUSTOMERS, WEAK_CUSTOMER
from labkit.sandbox.lab_server import LabServer
from labkit.wordlists import common_passwords
from tests.labs import running_lab, served

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point

AP = {ap.id: ap for ap in checks.ANTI_PATTERNS}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "13-capstone") as opened:
        yield opened


@pytest.fixture(scope="module")
def reference_shop() -> Iterator[Target]:
    with served(create_app(secure=True), "13-capstone-secure") as target:
        yield target


def mentions(result: CheckResult, text: str) -> bool:
    return text in repr(result)


# -- the learner's possible fixes ----------------------------------------------------------
def not_written(*args: Any) -> Any:
    raise NotImplementedError


def reference_login(email: str, password: str, find_user: Any) -> tuple[int, dict[str, Any]]:
    user = secure.authenticate(email, password, find_user)
    if user is None:
        return 401, {"error": "Invalid email or password"}
    return 200, {"email": user.email, "role": user.role}


REFERENCE: dict[str, dict[str, Callable[..., Any]]] = {
    "fast-password-hash": {
        "hash_password": secure.hash_password,
        "verify_password": secure.verify_password,
        "needs_rehash": secure.needs_rehash,
    },
    "login-enumeration": {"login": reference_login},
    "no-auth-rate-limit": {"login_keys": secure_limits.login_keys},
}
STUBS = {ap_id: dict.fromkeys(fixes, not_written) for ap_id, fixes in REFERENCE.items()}


# -- the rows ------------------------------------------------------------------------------
def test_the_three_rows_are_registered() -> None:
    lab_def = get_lab("13-capstone")
    for ap_id in AP:
        assert f"fix-{ap_id}" in lab_def.checks
        assert lab_def.checks[f"fix-{ap_id}"].fixes == tuple(REFERENCE[ap_id])


# -- fix checks ----------------------------------------------------------------------------
@pytest.mark.parametrize("ap_id", sorted(REFERENCE))
def test_fix_fails_on_the_stub(lab: Lab, ap_id: str) -> None:
    result = lab.check(f"fix-{ap_id}", **STUBS[ap_id])
    assert not result.passed
    assert mentions(result, "is not written yet (it raises NotImplementedError)"), result


@pytest.mark.parametrize("ap_id", sorted(REFERENCE))
def test_fix_passes_on_the_reference(lab: Lab, ap_id: str) -> None:
    result = lab.check(f"fix-{ap_id}", **REFERENCE[ap_id])
    assert result.passed, result


@pytest.mark.parametrize("ap_id", sorted(REFERENCE))
def test_replay_passes_on_the_reference_shop(reference_shop: Target, ap_id: str) -> None:
    findings = Findings()
    AP[ap_id].replay(reference_shop, findings, random.Random(0))
    assert not findings.problems, findings.problems


def test_all_three_fixes_together() -> None:
    fixes = {name: fn for part in REFERENCE.values() for name, fn in part.items()}
    server = LabServer(create_app(**fixes), name="13-capstone-accounts-all").start()
    try:
        target = Target(server.url, server.urls)
        for ap in checks.ANTI_PATTERNS:
            findings = Findings()
            ap.replay(target, findings, random.Random(0))
            assert not findings.problems, (ap.id, findings.problems)
    finally:
        server.close()


COMBINATIONS = [
    combo
    for n in range(len(REFERENCE) + 1)
    for combo in itertools.combinations(sorted(REFERENCE), n)
]


@pytest.mark.parametrize("fixed", COMBINATIONS, ids=lambda c: "+".join(c) or "none")
def test_seeded_staff_log_in_whatever_is_fixed(fixed: tuple[str, ...]) -> None:
    fixes = {name: fn for ap_id in fixed for name, fn in REFERENCE[ap_id].items()}
    server = LabServer(create_app(**fixes), name="13-capstone-accounts-combo").start()
    try:
        target = Target(server.url, server.urls)
        with target.client() as client:
            for user in server.state.users.values():
                for _ in range(2):  # again after a legacy row was upgraded
                    response = client.post(
                        "/api/auth/login", json={"email": user.email, "password": user.password}
                    )
                    assert response.status_code == 200, (user.email, response.text)
    finally:
        server.close()


# -- the vulnerable shop's own flows -------------------------------------------------------
def test_vulnerable_shop_accounts(lab: Lab) -> None:
    client = lab.client
    assert sorted(lab.users) == ["alice@example.com", "bob@example.com", "carol@example.com"]
    rows = {u["email"]: u["password_hash"] for u in client.get("/api/_lab/breach").json()["users"]}
    customers = [f"{n}@{CUSTOMER_DOMAIN}" for n in CUSTOMERS]
    assert set(customers) <= set(rows)
    assert len({rows[c] for c in customers}) == len(customers) - 1  # two share a password
    account = {"email": "new-customer@shop.example", "password": "hunter2 hunter2"}
    assert client.post("/api/auth/register", json=account).status_code in (201, 400)
    for _ in range(8):  # no limit: failures are never refused
        assert client.post("/api/auth/login", json={**account, "password": "x"}).status_code == 401
    assert client.post("/api/auth/login", json=account).status_code == 200
    alice = lab.users["alice"]
    ok = client.post("/api/auth/login", json={"email": alice.email, "password": alice.password})
    assert ok.status_code == 200


def test_the_weak_customer_is_always_in_the_first_hundred_guesses() -> None:
    """The brute-force exploit tries the 100 most common passwords: dana's must be there in
    every seeding (and never one of the 20 most obvious), the others' never there."""
    from labkit.sandbox.apps.shop.accounts import _seed
    from labkit.sandbox.store import LabStore
    from labkit.vulnerable.passwords import hash_password_md5, hash_password_sha256

    top = common_passwords(100)
    by_hash = {h(p): p for p in top for h in (hash_password_md5, hash_password_sha256)}
    for _ in range(40):
        store = LabStore("13-capstone-seed-test")
        try:
            _seed(store, secure=False)
            rows = {u.email: u.password_hash for u in store.all_users()}
        finally:
            store.close()
        assert by_hash.get(rows[WEAK_CUSTOMER]) in top[20:]
        others = [e for e in rows if e.endswith("@shop.example") and e != WEAK_CUSTOMER]
        assert not any(rows[e] in by_hash for e in others)
