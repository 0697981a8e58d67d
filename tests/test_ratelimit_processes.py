"""11-rate-limiting: real processes. In memory each counts alone (twice the allowance); sharing
one real Redis they enforce one limit — `labkit serve --secure` replicas too, by default. The
lab's private Redis has a random password: without it a client can do nothing."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from labkit.attacks import bruteforce as bf
from labkit.patterns import ratelimit as secure
from labkit.sandbox.apps.ratelimit import NAMESPACE_ENV, REDIS_ENV, private_redis, serve_processes

pytestmark = pytest.mark.redis
REPO = Path(__file__).resolve().parents[1]


def allowed(urls: list[str], email: str, attempts: int = 12) -> int:
    clients = [bf.client_from(url) for url in urls]
    try:
        return sum(status != 429 for _, status in bf.spread_attempts(clients, email, attempts))
    finally:
        for client in clients:
            client.close()


def test_memory_doubles_redis_enforces_one_limit(password_redis_url: str) -> None:
    with serve_processes({"memory": None, "redis": password_redis_url}) as urls:
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


def test_student_edition_processes_share_redis_without_the_reference(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The student edition does not ship new_limiter: its processes run the hot-fix with a
    fixed window on the storage they are given (the lesson is the storage), built here."""
    from labkit import edition
    from labkit.sandbox.apps import ratelimit as app_module
    from labkit.sandbox.apps.base import lab_state

    monkeypatch.setattr(edition, "STUDENT", True)
    monkeypatch.setenv(REDIS_ENV, redis_url)
    monkeypatch.setenv(NAMESPACE_ENV, f"edition-{secrets.token_hex(4)}")
    monkeypatch.delenv(app_module.SECURE_ENV, raising=False)
    monkeypatch.setattr(secure, "new_limiter", None)  # as if left out
    app = app_module.process_app()
    try:
        assert lab_state(app).extras["limiter"] == "FixedWindowRateLimiter in redis"
    finally:
        lab_state(app).close()
    first, second = (app_module.shared_fixed_window(redis_url) for _ in range(2))
    item, key = secure.LOGIN.item, ("labkit:test:edition", secrets.token_hex(4))
    hits = [limiter.hit(item, *key) for limiter in (first, second) * 3]
    assert hits == [True] * 5 + [False]  # one count across both limiters


@pytest.fixture()
def password_redis_url() -> Iterator[str]:
    """The lab's own private Redis (``private_redis``): its URL carries the password."""
    with private_redis() as url:
        if url is None:
            pytest.skip("redis-server not on PATH")
        yield url


def test_private_redis_starts_and_stops(password_redis_url: str) -> None:
    limiter = secure.new_limiter(password_redis_url)
    assert limiter.hit(secure.BURST.item, "labkit:test:private")


def _without_password(url: str, *command: bytes) -> bytes:
    """``command`` sent to the Redis of ``url`` by a client that does not know the password."""
    parts = urlsplit(url)
    request = b"*%d\r\n" % len(command) + b"".join(b"$%d\r\n%s\r\n" % (len(c), c) for c in command)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
        s.sendall(request)
        return s.recv(256)


def test_private_redis_refuses_a_client_without_its_password(password_redis_url: str) -> None:
    parts = urlsplit(password_redis_url)
    assert parts.password and len(parts.password) >= 24
    owner = redis.Redis.from_url(password_redis_url)
    owner.set("labkit:test:kept", "1")
    for command in ((b"PING",), (b"FLUSHALL",), (b"SET", b"labkit:test:kept", b"0")):
        assert _without_password(password_redis_url, *command).startswith(b"-NOAUTH")
    locked = _without_password(password_redis_url, b"CONFIG", b"SET", b"requirepass", b"x")
    assert locked.startswith(b"-ERR unknown command")  # renamed away: refused before AUTH
    stranger = redis.Redis(host=parts.hostname, port=parts.port)
    with pytest.raises(redis.AuthenticationError):
        stranger.flushall()
    assert owner.get("labkit:test:kept") == b"1"  # nothing was flushed
    with pytest.raises(redis.ResponseError, match="unknown command"):
        owner.config_set("dir", "/tmp")  # CONFIG is off even for the owner
    owner.close()


def test_the_password_is_not_on_any_command_line(password_redis_url: str) -> None:
    """``ps`` shows every user every command line: the password is passed in a file."""
    secret = urlsplit(password_redis_url).password
    assert secret is not None
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert secret.encode() not in cmdline.read_bytes(), cmdline
        except OSError:
            continue  # the process ended


def _serve(redis_url: str, namespace: str | None = None) -> tuple[subprocess.Popen[str], str]:
    """`labkit serve 11-rate-limiting --secure` on ``redis_url``; (process, its URL)."""
    env = {k: v for k, v in os.environ.items() if k != NAMESPACE_ENV}
    env[REDIS_ENV] = redis_url
    if namespace is not None:
        env[NAMESPACE_ENV] = namespace
    process = subprocess.Popen(
        [sys.executable, "-m", "labkit", "serve", "11-rate-limiting", "--secure"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    banner = process.stdout.readline().strip()
    if not banner.startswith("Serving 11-rate-limiting (secure) at "):
        process.kill()
        raise AssertionError(f"unexpected banner {banner!r}: {process.stderr.read()}")  # type: ignore[union-attr]
    return process, banner.rsplit(" ", 1)[1]


def test_labkit_serve_replicas_on_one_redis_enforce_one_limit(password_redis_url: str) -> None:
    """Two `labkit serve --secure` on one Redis share one limit by default (the namespace is
    stable per lab); a third with LABKIT_REDIS_NAMESPACE counts apart. LABKIT_REDIS_URL
    carries the password of the lab's private Redis."""
    url = password_redis_url
    served = [_serve(url), _serve(url), _serve(url, "isolated")]
    try:
        nobody = f"nobody-{secrets.token_hex(4)}@example.com"  # any account: attempts count
        replicas = [url for _, url in served[:2]]
        assert allowed(replicas, nobody) == secure.LOGIN.quota
        assert allowed([served[2][1]], nobody) == secure.LOGIN.quota
    finally:
        for process, _ in served:
            process.send_signal(signal.SIGINT)
        for process, _ in served:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
