"""labkit.sandbox.server: real uvicorn servers on real loopback sockets, in threads."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from labkit.sandbox.server import LOOPBACK, Sandbox, SandboxError


async def hello_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """A minimal ASGI app: 200 'hello' everywhere, an exception on /boom."""
    assert scope["type"] == "http"
    if scope["path"] == "/boom":
        raise RuntimeError("the app broke on purpose")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


def named_app(label: str):  # type: ignore[no-untyped-def]
    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": label.encode()})

    return app


def raw_get(port: int, path: str = "/") -> tuple[int, bytes]:
    """One GET over a fresh connection (http.client: no SSL context, no pool)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def listening_addresses(port: int) -> set[str]:
    """Local IPv4/IPv6 addresses with a LISTEN socket on ``port``, read from /proc/net."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                if len(address) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    found.add(address)
    return found


def assert_port_free(port: int) -> None:
    """Nobody listens on ``port`` any more: we can bind and listen on it ourselves."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def box() -> Iterator[Sandbox]:
    sandbox = Sandbox(hello_app, name="test").start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


# -- binding and addresses -------------------------------------------------------------
def test_binds_loopback_only(box: Sandbox) -> None:
    assert box._server is not None
    sockets = [s for server in box._server.servers for s in server.sockets]
    assert sockets, "the server has no listening socket"
    assert {s.getsockname()[0] for s in sockets} == {"127.0.0.1"}
    assert listening_addresses(box.port) == {"127.0.0.1"}


def test_starts_and_serves(box: Sandbox) -> None:
    assert box.running
    assert raw_get(box.port) == (200, b"hello")


def test_url_port_and_client(box: Sandbox) -> None:
    assert isinstance(box.port, int) and box.port > 0
    assert box.url == f"http://127.0.0.1:{box.port}"
    assert str(box.client.base_url).rstrip("/") == box.url
    assert box.client.get("/").text == "hello"
    assert box.client is box.client  # one client, reused
    assert repr(box) == f"<Sandbox test {box.url}>"


def test_browser_url_without_proxy(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    assert box.browser_url == f"http://127.0.0.1:{box.port}/"


@pytest.mark.parametrize("prefix", ["/user/ada/", "/user/ada"])
def test_browser_url_behind_jupyterhub(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", prefix)
    assert box.browser_url == f"/user/ada/proxy/{box.port}/"


# -- lifecycle -------------------------------------------------------------------------
def test_start_is_idempotent_and_returns_self() -> None:
    sandbox = Sandbox(hello_app)
    try:
        assert sandbox.start() is sandbox
        port, thread = sandbox.port, sandbox._thread
        assert sandbox.start() is sandbox
        assert sandbox.port == port
        assert sandbox._thread is thread
    finally:
        sandbox.stop()


def test_stop_is_idempotent_and_frees_the_port() -> None:
    sandbox = Sandbox(hello_app).start()
    port = sandbox.port
    sandbox.client.get("/")
    sandbox.stop()
    sandbox.stop()
    assert not sandbox.running
    assert_port_free(port)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", trust_env=False, timeout=2)


def test_stop_before_start_is_a_no_op() -> None:
    Sandbox(hello_app).stop()


def test_port_of_a_stopped_sandbox_raises() -> None:
    sandbox = Sandbox(hello_app, name="idle")
    with pytest.raises(SandboxError, match="idle is not running"):
        _ = sandbox.port
    sandbox.start()
    sandbox.stop()
    with pytest.raises(SandboxError, match="not running"):
        _ = sandbox.port
    with pytest.raises(SandboxError):
        _ = sandbox.url
    assert repr(sandbox) == "<Sandbox idle stopped>"


def test_context_manager() -> None:
    with Sandbox(hello_app) as sandbox:
        assert sandbox.running
        port = sandbox.port
        assert raw_get(port) == (200, b"hello")
    assert not sandbox.running
    assert_port_free(port)


def test_restart_keeps_the_app() -> None:
    sandbox = Sandbox(named_app("same app")).start()
    try:
        sandbox.restart()
        assert sandbox.running
        assert raw_get(sandbox.port) == (200, b"same app")
    finally:
        sandbox.stop()


def test_many_cycles_leak_no_threads_sockets_or_ports() -> None:
    # warm up once so lazily created, process-wide objects do not count as leaks
    with Sandbox(hello_app) as warm:
        raw_get(warm.port)
    threads_before, fds_before = threading.active_count(), open_fds()
    ports = []
    for _ in range(100):
        sandbox = Sandbox(hello_app).start()
        ports.append(sandbox.port)
        assert raw_get(sandbox.port) == (200, b"hello")
        sandbox.stop()
    # <=: a thread of an earlier test (anyio's worker threads) may finish meanwhile
    assert threading.active_count() <= threads_before
    assert [t.name for t in threading.enumerate() if t.name == "labkit-sandbox"] == []
    assert open_fds() <= fds_before + 3
    for port in set(ports):
        assert_port_free(port)


def test_several_sandboxes_answer_independently() -> None:
    boxes = [Sandbox(named_app(f"app-{i}"), name=f"box{i}").start() for i in range(3)]
    try:
        assert len({b.port for b in boxes}) == 3
        results: dict[int, list[str]] = {}

        def hammer(index: int) -> None:
            results[index] = [boxes[index].client.get("/").text for _ in range(20)]

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for index in range(3):
            assert results[index] == [f"app-{index}"] * 20
        boxes[1].stop()
        assert boxes[0].client.get("/").text == "app-0"
        assert boxes[2].client.get("/").text == "app-2"
    finally:
        for b in boxes:
            b.stop()


# -- an app that raises ----------------------------------------------------------------
def test_app_exception_is_a_quiet_500_and_keep_alive_survives(
    box: Sandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    client = box.client
    assert client.get("/").status_code == 200
    broken = client.get("/boom")
    assert broken.status_code == 500
    assert broken.json() == {"error": "Internal server error"}
    after = client.get("/")  # the same client and connection pool: no ReadError
    assert after.status_code == 200
    assert after.text == "hello"
    last = box.traffic.last(2)
    assert [(e.path, e.status, e.error) for e in last] == [
        ("/boom", 500, "RuntimeError"),
        ("/", 200, ""),
    ]
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


def test_fastapi_exception_is_a_quiet_500(capfd: pytest.CaptureFixture[str]) -> None:
    app = FastAPI()

    @app.get("/boom")
    def boom() -> dict[str, str]:
        raise ValueError("broken route")

    @app.get("/fine")
    def fine() -> dict[str, str]:
        return {"ok": "yes"}

    with Sandbox(app) as sandbox:
        client = sandbox.client
        assert client.get("/boom").status_code == 500
        assert client.get("/fine").json() == {"ok": "yes"}
        assert client.get("/boom").status_code == 500
        assert client.get("/fine").status_code == 200
        # recorded in the order the client sent them, even though Starlette re-raises
        # after sending its 500 (the error is filled in when the app gives up)
        assert [(e.path, e.status) for e in sandbox.traffic] == [
            ("/boom", 500),
            ("/fine", 200),
            ("/boom", 500),
            ("/fine", 200),
        ]
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if [e.error for e in sandbox.traffic] == ["ValueError", "", "ValueError", ""]:
                break
            time.sleep(0.01)
        assert [e.error for e in sandbox.traffic] == ["ValueError", "", "ValueError", ""]
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


# -- failures --------------------------------------------------------------------------
def test_taken_port_fails_fast_with_a_clear_message() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        sandbox = Sandbox(hello_app, name="clash", port=port)
        started = time.monotonic()
        with pytest.raises(SandboxError) as info:
            sandbox.start()
        assert time.monotonic() - started < 5
        message = str(info.value)
        assert "clash" in message
        assert f"127.0.0.1:{port}" in message
        assert not sandbox.running


def test_bind_lost_to_a_race_still_fails_fast_and_quietly(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # another process may take the port between the early probe and uvicorn's own bind:
    # skip the probe to reach that path, where the server thread ends instead of serving
    monkeypatch.setattr(Sandbox, "_check_port_free", lambda self: None)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(SandboxError) as info:
            Sandbox(hello_app, name="race", port=port).start()
        assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"race: the server stopped before it was ready on 127.0.0.1:{port}" in message
    assert "address already in use" in message  # uvicorn's reason, not a traceback
    assert capfd.readouterr() == ("", "")


def test_explicit_free_port_is_used() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    with Sandbox(hello_app, port=port) as sandbox:
        assert sandbox.port == port
        assert raw_get(port) == (200, b"hello")


def test_unstopped_sandbox_does_not_hang_interpreter_exit() -> None:
    code = textwrap.dedent(
        """
        from labkit.sandbox.server import Sandbox
        from fastapi import FastAPI
        app = FastAPI()

        @app.get("/")
        def root():
            return {"ok": True}

        box = Sandbox(app).start()
        assert box.client.get("/").status_code == 200
        print(box.port)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=10,
        env={**os.environ, "PYTHONWARNINGS": "default"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    port = int(done.stdout.strip())
    assert_port_free(port)


def test_docs_behind_jupyter_server_proxy_load_openapi_through_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/api/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    with Sandbox(app) as box:
        prefix = f"/user/ada/proxy/{box.port}"
        assert box.browser_url == prefix + "/"
        assert f"{prefix}/openapi.json" in box.client.get("/docs").text
        assert box.client.get("/api/ping").json() == {"ok": True}


def test_large_blocks_go_back_to_the_os_on_glibc() -> None:
    import platform

    from labkit.sandbox.malloc import return_large_blocks_to_os

    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert return_large_blocks_to_os() is expected


def test_forwarded_headers_from_clients_are_not_trusted() -> None:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, str]:
        return {
            "scheme": request.url.scheme,
            "client": request.client.host if request.client else "",
        }

    with Sandbox(app) as box:
        spoofed = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        assert box.client.get("/whoami", headers=spoofed).json() == {
            "scheme": "http",
            "client": "127.0.0.1",
        }
