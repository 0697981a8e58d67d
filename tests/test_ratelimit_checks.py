"""11-rate-limiting: every check fails on the stub and on plausible wrong fixes, and passes on the
reference — judged through the real lab, over HTTP."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

import pytest
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from labkit.attacks import bruteforce as bf
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.exercises.registry import get_lab
from labkit.patterns import ratelimit as secure
from labkit.vulnerable import ratelimit as weak
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


# -- plausible wrong fixes -----------------------------------------------------------------
def ip_only(ip: str, email: str) -> list[str]:
    return [f"ip:{ip}"]


def account_only(ip: str, email: str) -> list[str]:
    return [f"account:{email.lower()}"]


def trust_anyone(peer: str, forwarded_for: str | None, trusted: Collection[str]) -> str:
    return weak.client_ip(peer, forwarded_for, trusted)


def ignore_header(peer: str, forwarded_for: str | None, trusted: Collection[str]) -> str:
    return peer


def leftmost_from_proxy(peer: str, forwarded_for: str | None, trusted: Collection[str]) -> str:
    if forwarded_for and peer in trusted:
        return forwarded_for.split(",")[0].strip()
    return peer


def fixed_window(storage_uri: str) -> RateLimiter:
    return FixedWindowRateLimiter(storage_from_string(storage_uri))


def no_retry_after(*args: Any) -> dict[str, str]:
    headers = secure.rate_limit_headers(*args)
    headers.pop("Retry-After", None)
    return headers


def epoch_reset(
    policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
) -> dict[str, str]:
    import time

    return secure.rate_limit_headers(
        policy, quota, window, remaining, int(time.time()) + reset, refused
    )


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


# -- fix checks ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fix", "needle"),
    [
        (not_written, "not written yet"),
        (ip_only, "guessing one account from many addresses"),
        (account_only, "credential stuffing from one address"),
    ],
    ids=["stub", "per-ip-only", "per-account-only"],
)
def test_login_limit_fails(lab: Lab, fix: Any, needle: str) -> None:
    assert failed(lab.check("login-limit", login_keys=fix), needle)


def test_login_limit_passes(lab: Lab) -> None:
    result = lab.check("login-limit", login_keys=secure.login_keys)
    assert result.passed, result


def test_account_case(lab: Lab) -> None:
    assert failed(lab.check("account-case", login_keys=not_written), "not written yet")
    assert failed(lab.check("account-case", login_keys=weak.login_keys), "case-changed")
    result = lab.check("account-case", login_keys=secure.login_keys)
    assert result.passed, result


@pytest.mark.parametrize(
    ("fix", "needle"),
    [
        (not_written, "not written yet"),
        (trust_anyone, "sent straight to the app"),
        (leftmost_from_proxy, "passed through the proxy"),
        (ignore_header, "share the proxy's quota"),
    ],
    ids=["stub", "trust-anyone", "leftmost-entry", "ignore-header"],
)
def test_trusted_proxy_fails(lab: Lab, fix: Any, needle: str) -> None:
    assert failed(lab.check("trusted-proxy", client_ip=fix), needle)


def test_trusted_proxy_passes(lab: Lab) -> None:
    result = lab.check("trusted-proxy", client_ip=secure.client_ip)
    assert result.passed, result


@pytest.mark.parametrize(
    ("fix", "needle"),
    [
        (not_written, "not written yet"),
        (weak.rate_limit_headers, "RateLimit-Policy is None"),
        (no_retry_after, "Retry-After ''"),
        (epoch_reset, "RateLimit is"),
    ],
    ids=["stub", "draft-6", "no-retry-after", "epoch-reset"],
)
def test_headers_fails(lab: Lab, fix: Any, needle: str) -> None:
    assert failed(lab.check("headers", rate_limit_headers=fix), needle)


def test_headers_passes(lab: Lab) -> None:
    result = lab.check("headers", rate_limit_headers=secure.rate_limit_headers)
    assert result.passed, result


def test_moving_window(lab: Lab) -> None:
    assert failed(lab.check("moving-window", new_limiter=not_written), "not written yet")
    assert failed(lab.check("moving-window", new_limiter=fixed_window), "fixed window")
    result = lab.check("moving-window", new_limiter=secure.new_limiter)
    assert result.passed, result


@pytest.mark.parametrize(
    ("wrong", "needle"),
    [
        ({}, None),
        ({"login_keys": not_written}, "not written yet"),
        ({"login_keys": account_only}, "credential stuffing"),
        ({"client_ip": trust_anyone}, "straight to the app"),
        ({"new_limiter": fixed_window}, "fixed window"),
    ],
    ids=["reference", "stub", "per-account-only", "trust-anyone", "fixed-window"],
)
def test_verify(lab: Lab, wrong: dict[str, Any], needle: str | None) -> None:
    result = lab.check("verify", **{**REFERENCE, **wrong})
    if needle is None:
        assert result.passed, result
    else:
        assert failed(result, needle)


def test_checks_need_their_functions(lab: Lab) -> None:
    assert failed(lab.check("verify", login_keys=secure.login_keys), "needs your functions")
