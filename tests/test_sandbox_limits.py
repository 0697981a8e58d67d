"""No single client takes down a learner's kernel: half-open requests, too many connections,
bodies of hundreds of MB (issue: sandboxes nobody else can touch)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from labkit.sandbox import limits
from labkit.sandbox.apps import welcome
from labkit.sandbox.server import Sandbox

pytestmark = pytest.mark.slow

MB = 1024 * 1024


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox(welcome.create_app(secure=True), name="limits") as sandbox:
        yield sandbox


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _half_open(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    sock.sendall(b"GET /api/hello HTTP/1.1\r\nHost: x\r\n")  # no blank line: never finishes
    return sock


def test_a_request_that_never_finishes_is_cut_off(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "REQUEST_READ_S", 0.5)
    box.client.get("/api/hello")  # a fresh connection made after the patch
    with _half_open(_address(box.url)) as sock:
        sock.settimeout(5)
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 3
    assert box.client.get("/api/hello").status_code == 200


def test_a_slow_but_steady_upload_inside_the_deadline_is_served(box: Sandbox) -> None:
    def trickle() -> Iterator[bytes]:
        for part in (b'{"name": ', b'"Ada"', b"}"):
            time.sleep(0.2)
            yield part

    response = box.client.post(
        "/api/greet", content=trickle(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200


KERNEL = textwrap.dedent(
    """
    import resource, sys, tempfile
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))  # a usual kernel's limit
    from labkit.sandbox.apps import welcome
    from labkit.sandbox.server import Sandbox
    box = Sandbox(welcome.create_app(secure=True), name="kernel").start()
    print(box.url, flush=True)
    for line in sys.stdin:  # one probe per line: a request and a file, as a cell would
        try:
            ok = box.client.get("/api/hello").status_code == 200
            with tempfile.TemporaryFile() as handle:
                handle.write(b"x")
            print("ok" if ok else "bad status", flush=True)
        except Exception as exc:
            print(f"{type(exc).__name__}: {exc}", flush=True)
    """
)


def test_1100_half_open_requests_do_not_exhaust_the_kernels_file_descriptors() -> None:
    kernel = subprocess.Popen(
        [sys.executable, "-c", KERNEL],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert kernel.stdin is not None and kernel.stdout is not None

    def probe() -> str:
        kernel.stdin.write("probe\n")  # type: ignore[union-attr]
        kernel.stdin.flush()  # type: ignore[union-attr]
        return kernel.stdout.readline().strip()  # type: ignore[union-attr]

    try:
        address = _address(kernel.stdout.readline().strip())
        with contextlib.ExitStack() as stack:
            for _ in range(1100):
                with contextlib.suppress(OSError):
                    stack.enter_context(_half_open(address))
            assert probe() == "ok"  # while the attack holds its sockets open
        assert probe() == "ok"  # and after
    finally:
        kernel.kill()
        kernel.wait(10)


def test_a_body_declared_over_the_ceiling_is_refused_before_it_is_read(box: Sandbox) -> None:
    with socket.create_connection(_address(box.url), timeout=5) as sock:
        sock.sendall(
            b"POST /api/greet HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 314572800\r\n\r\n"
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 413 ")


def test_a_streamed_300_mb_body_is_stopped_at_the_ceiling(box: Sandbox) -> None:
    process = psutil.Process()
    before = process.memory_info().rss
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        chunk = b" " * MB
        while sent < 300 * MB:
            sent += len(chunk)
            yield chunk

    try:
        response = httpx.post(
            f"{box.url}/api/greet",
            content=chunks(),
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection while the client still writes
    assert sent < 100 * MB, f"the client could send {sent // MB} MB"
    assert process.memory_info().rss - before < 150 * MB
    assert box.client.get("/api/hello").status_code == 200


def test_a_body_under_the_ceiling_reaches_the_app(box: Sandbox) -> None:
    padded = b'{"name": "Ada"' + b" " * (2 * MB) + b"}"
    response = box.client.post(
        "/api/greet", content=padded, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
