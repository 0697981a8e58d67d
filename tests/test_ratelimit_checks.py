"""11-rate-limiting: every check fails on the stub and passes on the reference (wrong and right
fixes: the corpus, tests/fixes/11-rate-limiting/) — judged through the real lab, over HTTP."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from typing import Any

import pytest

from labkit.attacks import bruteforce as bf
from labkit.exercises.check import CheckResult, Findings, Target
from labkit.exercises.lab import Lab
from labkit.exercises.labs import ratelimit as checks
from labkit.exercises.registry import get_lab
from labkit.patterns import ratelimit as secure
from labkit.wordlists import common_passwords

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_HOME", str(tmp_path_factory.mktemp("labkit-home")))
        patch.delenv("LABKIT_REDIS_URL", raising=False)
        opened = Lab(get_lab("11-rate-limiting"))
        try:
            yield opened
        finally:
            opened.close()


def not_written(*args: Any) -> Any:
    raise NotImplementedError


REFERENCE = {
    "client_ip": secure.client_ip,
    "login_keys": secure.login_keys,
    "new_limiter": secure.new_limiter,
    "rate_limit_headers": secure.rate_limit_headers,
}


def failed(result: CheckResult, *needles: str) -> bool:
    text = repr(result)
    return not result.passed and all(n in text for n in needles)


# -- attack checks -------------------------------------------------------------------------
def test_brute_force_check(lab: Lab) -> None:
    found = bf.brute_force(lab.client, "carol@example.com", common_passwords(300))
    assert found.password is not None, found
    assert found.statuses[429] == 0
    assert lab.check("brute-force", found.password).passed
    assert failed(lab.check("brute-force", None), "expected")
    assert failed(lab.check("brute-force", "password"), "does not log in")


def test_attacks_on_staging(lab: Lab) -> None:
    staging = bf.client_from(lab.urls["staging"])
    leak = staging.get("/api/_lab/leaked-credentials").json()
    _, statuses = bf.stuff_credentials(staging, leak)
    assert statuses[429] > 0  # from one address, staging's per-IP limit bites
    found, statuses = bf.stuff_credentials(staging, leak, rotate_ip=True)
    assert statuses[429] == 0 and len(found) >= 3
    assert lab.check("credential-stuffing", found).passed
    assert failed(lab.check("credential-stuffing", []), "at least 3")
    assert failed(lab.check("credential-stuffing", "nope"), "expected")

    words = common_passwords(300)
    assert bf.brute_force(staging, "carol@example.com", words, rotate_ip=True).blocked
    carol = bf.brute_force(staging, "carol@example.com", words, rotate_ip=True, vary_case=True)
    assert carol.password is not None, carol
    assert lab.check("case-variants", carol.password).passed
    assert failed(lab.check("case-variants", "wrong"), "does not log in")

    key = staging.post("/api/_lab/api-clients").json()["apiKey"]
    events = bf.boundary_burst(
        staging, "/api/_lab/burst", limit=10, window=1, headers={"X-API-Key": key}
    )
    assert bf.allowed_per_window(events, 1) > 10
    assert lab.check("window-burst", key).passed
    fresh = staging.post("/api/_lab/api-clients").json()["apiKey"]
    assert failed(lab.check("window-burst", fresh), "at most 0")
    assert failed(lab.check("window-burst", 42), "expected")


# -- fix checks (wrong and right fixes: tests/fixes/11-rate-limiting/) ---------------------
@pytest.mark.parametrize(
    ("check_id", "slot"),
    [
        ("login-limit", "login_keys"),
        ("account-case", "login_keys"),
        ("trusted-proxy", "client_ip"),
        ("headers", "rate_limit_headers"),
        ("moving-window", "new_limiter"),
        ("verify", "login_keys"),
    ],
)
def test_fix_checks_fail_on_the_stub_and_pass_on_the_reference(
    lab: Lab, check_id: str, slot: str
) -> None:
    assert failed(lab.check(check_id, **{**REFERENCE, slot: not_written}), "not written yet")
    result = lab.check(check_id, **REFERENCE)
    assert result.passed, result


def test_checks_need_their_functions(lab: Lab) -> None:
    assert failed(lab.check("verify", login_keys=secure.login_keys), "needs your functions")


def test_a_failed_verdict_replays_with_its_seed(lab: Lab) -> None:
    def first_entry(peer: str, forwarded: str | None, trusted: Any) -> str:
        return forwarded.split(",")[0].strip() if forwarded and peer in trusted else peer

    first = lab.check("trusted-proxy", client_ip=first_entry)
    seed = int(repr(first).rsplit("seed=", 1)[1].rstrip(")"))
    again = lab.check("trusted-proxy", client_ip=first_entry, seed=seed)
    assert failed(first, "[rightmost-hop]") and failed(again, "[rightmost-hop]")


def test_run_never_hands_out_an_address_twice() -> None:
    run = checks.Run(Target("http://127.0.0.1:9"), Findings(), random.Random(7))
    addresses = [run.ip() for _ in range(700)]
    assert len(set(addresses)) == len(addresses)
    assert all(ipaddress.ip_address(a) for a in addresses)


def test_peak_spans_counts_only_decisions_surely_within_one_window() -> None:
    # ten decisions, each stretched by a busy server: none surely within 1 s of the 11th
    slow = [[n * 0.05, n * 0.05 + 0.3] for n in range(10)] + [[1.0, 1.3]]
    assert checks._peak_spans(slow, 1.0) == 10
    burst = [[n * 0.01, n * 0.01 + 0.001] for n in range(19)]  # a fixed window's boundary
    assert checks._peak_spans(burst, 1.0) == 19


def test_login_ignores_case_and_surrounding_whitespace(lab: Lab) -> None:
    user = next(iter(lab.users.values()))
    response = lab.client.post(
        "/api/auth/login", json={"email": f" {user.email.upper()}\t", "password": user.password}
    )
    assert response.status_code == 200, response.text


def test_a_patched_limiter_has_a_replica_on_the_same_storage(lab: Lab) -> None:
    app = lab.patched(new_limiter=secure.new_limiter)
    assert set(lab._patched[-1].urls) == {"main", "replica"}
    assert "process memory" in lab._patched[-1].state.extras["limiter"]
    assert app.running
