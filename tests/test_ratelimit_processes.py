"""11-rate-limiting: two real uvicorn processes. In memory each counts alone (twice the
allowance); sharing one real Redis they enforce one limit."""

from __future__ import annotations

import pytest

from labkit.attacks import bruteforce as bf
from labkit.patterns import ratelimit as secure
from labkit.sandbox.apps.ratelimit import private_redis, serve_processes

pytestmark = pytest.mark.redis


def allowed(urls: list[str], email: str, attempts: int = 12) -> int:
    clients = [bf.client_from(url) for url in urls]
    try:
        return sum(status != 429 for _, status in bf.spread_attempts(clients, email, attempts))
    finally:
        for client in clients:
            client.close()


def test_memory_doubles_redis_enforces_one_limit(redis_url: str) -> None:
    with serve_processes({"memory": None, "redis": redis_url}) as urls:
        assert allowed(urls["memory"], "carol@example.com") == 2 * secure.LOGIN.quota
        assert allowed(urls["redis"], "carol@example.com") == secure.LOGIN.quota
        assert allowed(urls["redis"], "Carol@Example.COM") == 0  # same account, same counters


def test_hotfix_processes_ignore_redis(redis_url: str) -> None:
    """The hot-fix's limiter keeps counting in memory even when Redis is configured."""
    with serve_processes({"hotfix": redis_url}, secure=False) as urls:
        assert allowed(urls["hotfix"], "carol@example.com") == 2 * secure.LOGIN.quota


def test_redis_limiter_shared_in_process(redis_url: str) -> None:
    """Two limiters on one Redis (as in two processes) share their counters."""
    first, second = secure.new_limiter(redis_url), secure.new_limiter(redis_url)
    checks = [(secure.LOGIN, "account:test-shared")]
    decisions = [
        secure.consume(limiter, checks, namespace="labkit:test:shared")
        for limiter in (first, second) * 3
    ]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[-1].remaining == 0 and 0 < decisions[-1].reset <= secure.LOGIN.window


def test_private_redis_starts_and_stops() -> None:
    with private_redis() as url:
        if url is None:
            pytest.skip("redis-server not on PATH")
        limiter = secure.new_limiter(url)
        assert limiter.hit(secure.BURST.item, "labkit:test:private")
