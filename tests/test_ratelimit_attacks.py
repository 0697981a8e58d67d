"""11-rate-limiting: the attack battery against the secure app (every attack refused) and the
vulnerable shop and its staging hot-fix (each attack works); legitimate use works on all."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from labkit.attacks import bruteforce as bf
from labkit.exercises.labs.ratelimit import parse_policy_field
from labkit.sandbox.apps.ratelimit import TRUSTED_PROXY, create_app
from labkit.sandbox.lab_server import LabServer
from labkit.wordlists import common_passwords

WORDS = common_passwords(300)


@pytest.fixture(scope="module")
def vulnerable(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[LabServer]:
    server = LabServer(create_app(), name="rl-vulnerable").start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("LABKIT_REDIS_URL", raising=False)
        yield patch


@pytest.fixture
def secure(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[LabServer]:
    """A fresh secure app per test: each attack starts from full quotas."""
    server = LabServer(create_app(secure=True), name="rl-secure").start()
    try:
        yield server
    finally:
        server.close()


def new_user(url: str) -> tuple[str, str]:
    with bf.client_from(url) as client:
        account = client.post("/api/_lab/users").json()
    return account["email"], account["password"]


def login(client: httpx.Client, email: str, password: str, xff: str | None = None) -> int:
    headers = {"X-Forwarded-For": xff} if xff else {}
    response = client.post(
        "/api/auth/login", json={"email": email, "password": password}, headers=headers
    )
    return response.status_code


# -- the vulnerable shop and staging ---------------------------------------------------------
def test_vulnerable_brute_force_succeeds(vulnerable: LabServer) -> None:
    with bf.client_from(vulnerable.url) as client:
        result = bf.brute_force(client, "carol@example.com", WORDS)
    assert result.password is not None and result.statuses[429] == 0
    assert vulnerable.state.extras["limiter"] == "none"


def test_staging_falls_to_each_trick(vulnerable: LabServer) -> None:
    with bf.client_from(vulnerable.urls["staging"]) as staging:
        leak = staging.get("/api/_lab/leaked-credentials").json()
        found, statuses = bf.stuff_credentials(staging, leak, rotate_ip=True)
        assert len(found) == 4 and statuses[429] == 0
        assert bf.brute_force(staging, "carol@example.com", WORDS).blocked
        result = bf.brute_force(staging, "carol@example.com", WORDS, rotate_ip=True, vary_case=True)
        assert result.password is not None
        key = staging.post("/api/_lab/api-clients").json()["apiKey"]
        events = bf.boundary_burst(
            staging, "/api/_lab/burst", limit=10, window=1, headers={"X-API-Key": key}
        )
        assert bf.allowed_per_window(events, 1) >= 15
        response = staging.get("/api/v1/items")
    assert "ratelimit-limit" in response.headers and "ratelimit-policy" not in response.headers


def test_legitimate_use_on_vulnerable(vulnerable: LabServer) -> None:
    alice = vulnerable.state.users["alice"]
    with bf.client_from(vulnerable.url) as client:
        response = client.post(
            "/api/auth/login", json={"email": alice.email, "password": alice.password}
        )
        token = response.json()["accessToken"]
        me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["role"] == "admin"


# -- the secure app ----------------------------------------------------------------------------
def test_secure_brute_force_fails_within_budget(secure: LabServer) -> None:
    with bf.client_from(secure.url) as client:
        for tricks in ({}, {"rotate_ip": True}, {"rotate_ip": True, "vary_case": True}):
            result = bf.brute_force(client, "carol@example.com", WORDS, **tricks)
            assert result.password is None and result.attempts <= 6, (tricks, result)
    with bf.client_from(secure.url, TRUSTED_PROXY) as proxy:  # a botnet behind the proxy
        result = bf.brute_force(proxy, "dana@example.com", WORDS, rotate_ip=True)
    assert result.blocked and result.attempts <= 6


def test_secure_refuses_stuffing_and_spoofing(secure: LabServer) -> None:
    with bf.client_from(secure.url) as client:
        leak = client.get("/api/_lab/leaked-credentials").json()
        _, statuses = bf.stuff_credentials(client, leak, rotate_ip=True)
    assert statuses[200] + statuses[401] == 5 and statuses[429] == len(leak) - 5
    with bf.client_from(secure.url, TRUSTED_PROXY) as proxy:
        real = bf.random_ip()
        codes = [
            login(proxy, f"x{n}@example.com", "guess", f"{bf.random_ip()}, {real}")
            for n in range(8)
        ]
    assert codes[5:] == [429, 429, 429]


def test_secure_headers(secure: LabServer) -> None:
    email, password = new_user(secure.url)
    with bf.client_from(secure.url) as client:
        first = client.post("/api/auth/login", json={"email": email, "password": "no"})
        for _ in range(4):
            client.post("/api/auth/login", json={"email": email, "password": "no"})
        refused = client.post("/api/auth/login", json={"email": email, "password": password})
        items = client.get("/api/v1/items")
    assert parse_policy_field(first.headers["ratelimit-policy"]) == {
        "login": {"q": "5", "w": "900"}
    }
    assert parse_policy_field(first.headers["ratelimit"])["login"]["r"] == "4"
    assert refused.status_code == 429
    assert refused.json() == {"error": "Too many login attempts. Try again later."}
    assert (
        refused.headers["retry-after"]
        == parse_policy_field(refused.headers["ratelimit"])["login"]["t"]
    )
    assert parse_policy_field(items.headers["ratelimit-policy"]) == {
        "items": {"q": "60", "w": "60"}
    }


def test_secure_items_limit_per_api_client(secure: LabServer) -> None:
    with bf.client_from(secure.url, TRUSTED_PROXY) as proxy:
        key = proxy.post("/api/_lab/api-clients").json()["apiKey"]
        codes = [
            proxy.get(
                "/api/v1/items", headers={"X-API-Key": key, "X-Forwarded-For": bf.random_ip()}
            ).status_code
            for _ in range(61)
        ]
        bad = proxy.get("/api/v1/items", headers={"X-API-Key": "lk_made_up"})
    assert codes[:60] == [200] * 60 and codes[60] == 429
    assert bad.status_code == 401


def test_secure_site_wide_limit(secure: LabServer) -> None:
    with bf.client_from(secure.url) as client:
        codes = [client.get("/api/me").status_code for _ in range(101)]
    assert codes[:100] == [401] * 100 and codes[100] == 429


def test_secure_boundary_burst_refused(secure: LabServer) -> None:
    with bf.client_from(secure.url) as client:
        key = client.post("/api/_lab/api-clients").json()["apiKey"]
        bf.boundary_burst(client, "/api/_lab/burst", limit=10, window=1, headers={"X-API-Key": key})
        log = client.get("/api/_lab/burst-log", params={"api_key": key}).json()
    times = sorted(log["allowed"])
    assert all(b - a >= 0.9 for a, b in zip(times, times[10:], strict=False))  # 0.1 s slack


def test_legitimate_use_on_secure(secure: LabServer) -> None:
    alice = secure.state.users["alice"]
    with bf.client_from(secure.url) as client:
        assert login(client, alice.email, "typo") == 401
        response = client.post(
            "/api/auth/login", json={"email": alice.email.upper(), "password": alice.password}
        )
        token = response.json()["accessToken"]
        assert (
            client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )
    with bf.client_from(secure.url, TRUSTED_PROXY) as proxy:  # customers behind the proxy
        for n in range(8):
            email, password = new_user(secure.url)
            assert login(proxy, email, password, f"198.51.100.{n + 1}") == 200
