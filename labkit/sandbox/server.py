"""Run any ASGI app live on 127.0.0.1, in a background thread of the current process.

A notebook kernel already runs an event loop, so ``uvicorn.run()`` cannot be called from a
cell, and serving on the kernel's loop would deadlock a synchronous ``httpx`` call from the
same cell. A :class:`Sandbox` therefore runs ``uvicorn.Server.run`` in a daemon thread with
its own loop. uvicorn binds the socket itself (port 0, the OS picks a free port): handing it
a socket we bound ourselves costs ~44 ms a response (Nagle + delayed ACK).

Nothing the server logs reaches a notebook cell: uvicorn's loggers go to a null handler and an
exception inside the app becomes a 500 recorded by the traffic inspector (see ``shield``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import socket
import ssl
import threading
import time
import weakref
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from labkit.sandbox.inspector import TrafficLog, record_traffic
from labkit.sandbox.limits import ACCEPT_BURST, GuardedH11Protocol, cap_body, raise_fd_limit
from labkit.sandbox.malloc import return_large_blocks_to_os

__all__ = ["LOOPBACK", "Sandbox", "SandboxError"]

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 5.0
CLIENT_TIMEOUT_S = 30.0
_TICK_S = 0.1

_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {
        name: {"handlers": ["null"], "level": "WARNING", "propagate": False}
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
    },
}

_live: weakref.WeakSet[Sandbox] = weakref.WeakSet()


class SandboxError(RuntimeError):
    """The sandbox could not start (port taken, app broken) or was used while stopped."""


class _ThreadServer(uvicorn.Server):
    """uvicorn's server, made to stop in milliseconds when asked from another thread.

    uvicorn polls ``should_exit`` every 100 ms and sleeps 100 ms more while shutting down:
    fine for a process, slow for a notebook that starts and stops sandboxes per check.
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _TICK_S)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 1)
        state = self.server_state
        while (state.connections or state.tasks) and loop.time() < deadline:
            await asyncio.sleep(0.002)
        for task in state.tasks:
            task.cancel()

    def request_exit(self) -> None:
        """Thread-safe: ask the server to stop now."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)


def _serve(server: uvicorn.Server, failure: list[BaseException]) -> None:
    """Thread target: run the server; keep why it ended early instead of printing it.

    uvicorn ends a failed startup (port taken) with ``sys.exit()``, the bind error being the
    exit's context; any other hook than the default would print that as a thread crash.
    """
    try:
        server.run()
    except BaseException as exc:
        cause = exc.__context__ if isinstance(exc, SystemExit) else None
        failure.append(cause or exc)


def _proxy_prefix() -> str | None:
    """The jupyter-server-proxy prefix on JupyterHub/Binder, else None."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if not prefix:
        return None
    return prefix if prefix.endswith("/") else prefix + "/"


class Sandbox:
    """A live ASGI app on ``http://127.0.0.1:<port>`` in a background thread.

    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> with Sandbox(app) as box:
    ...     box.client.get("/docs").status_code
    200

    ``start()`` and ``stop()`` are idempotent; every sandbox still running at interpreter exit
    is stopped. ``host`` may only be changed by ``labkit serve`` (which asks for consent).
    """

    def __init__(
        self,
        app: Any,
        *,
        name: str = "sandbox",
        port: int = 0,
        host: str = LOOPBACK,
        traffic_size: int = 500,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
        ssl_ca_file: str | None = None,
    ) -> None:
        self.name = name
        self.app = app
        self.traffic = TrafficLog(maxlen=traffic_size)
        self._host = host
        self._requested_port = port
        self._ssl = (ssl_certfile, ssl_keyfile)
        self._ca_file = ssl_ca_file
        self._server: _ThreadServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._client: httpx.Client | None = None
        self._root_path = ""
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Start serving (no-op when already running) and return self."""
        with self._lock:
            if self.running:
                return self
            self._check_port_free()
            certfile, keyfile = self._ssl
            raise_fd_limit()
            config = uvicorn.Config(
                self._behind_proxy(record_traffic(cap_body(self.app), self.traffic)),
                http=GuardedH11Protocol,  # request read deadline, connection cap (limits.py)
                backlog=ACCEPT_BURST,
                host=self._host,
                port=self._requested_port,
                log_config=_LOG_CONFIG,
                log_level="warning",
                access_log=False,
                lifespan="off",
                ws="none",
                proxy_headers=False,  # never trust X-Forwarded-* from clients (labs 09, 11)
                timeout_graceful_shutdown=1,
                ssl_certfile=certfile,
                ssl_keyfile=keyfile,
            )
            server = _ThreadServer(config)
            failure: list[BaseException] = []
            thread = threading.Thread(
                target=_serve, args=(server, failure), name=f"labkit-{self.name}", daemon=True
            )
            thread.start()
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not server.started:
                if not thread.is_alive():
                    reason = f": {failure[0]}" if failure else ""
                    raise SandboxError(
                        f"{self.name}: the server stopped before it was ready on "
                        f"{self._host}:{self._requested_port}{reason}"
                    )
                if time.monotonic() > deadline:
                    server.should_exit = True
                    thread.join(SHUTDOWN_TIMEOUT_S)
                    raise SandboxError(f"{self.name}: not ready after {STARTUP_TIMEOUT_S:.0f} s")
                time.sleep(0.001)
            self._server, self._thread = server, thread
            self._port = server.servers[0].sockets[0].getsockname()[1]
            prefix = _proxy_prefix()
            self._root_path = f"{prefix}proxy/{self._port}" if prefix else ""
            _live.add(self)
            return self

    def stop(self) -> None:
        """Stop serving, close the client and free the port (no-op when stopped)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None or thread is None:
                return
            server.request_exit()
            thread.join(SHUTDOWN_TIMEOUT_S)
            if thread.is_alive():
                server.force_exit = True
                thread.join(SHUTDOWN_TIMEOUT_S)
            _live.discard(self)

    def restart(self) -> Sandbox:
        """Stop and start again on a new port (the app object and its state are kept)."""
        self.stop()
        return self.start()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        if self._port is None or not self.running:
            raise SandboxError(f"{self.name} is not running: call start() first")
        return self._port

    @property
    def scheme(self) -> str:
        return "https" if self._ssl[0] else "http"

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53211``."""
        host = LOOPBACK if self._host in ("0.0.0.0", "::") else self._host  # noqa: S104
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def browser_url(self) -> str:
        """URL for the learner's own browser: through jupyter-server-proxy on JupyterHub/Binder."""
        prefix = _proxy_prefix()
        return f"{prefix}proxy/{self.port}/" if prefix else self.url + "/"

    @property
    def client(self) -> httpx.Client:
        """An ``httpx.Client`` with ``base_url`` set; ignores proxy variables (loopback only)."""
        if self._client is None:
            verify: ssl.SSLContext | bool = True
            if self._ca_file:  # a lab CA: trust exactly it, hostname checks on
                verify = ssl.create_default_context(cafile=self._ca_file)
            self._client = httpx.Client(
                base_url=self.url, timeout=CLIENT_TIMEOUT_S, trust_env=False, verify=verify
            )
        return self._client

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"<Sandbox {self.name} {state}>"

    # -- helpers -------------------------------------------------------------------------
    def _behind_proxy(self, app: Any) -> Any:
        """Tell the app its public prefix on JupyterHub/Binder, so FastAPI's ``/docs`` page
        loads ``openapi.json`` through jupyter-server-proxy (which strips the prefix)."""

        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            if self._root_path and scope["type"] == "http":
                scope = {**scope, "root_path": self._root_path}
            await app(scope, receive, send)

        return asgi

    def _check_port_free(self) -> None:
        """Fail fast with a clear message when an explicit port is taken."""
        if not self._requested_port:
            return
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self._host, self._requested_port))
            except OSError as exc:
                raise SandboxError(
                    f"{self.name}: cannot listen on {self._host}:{self._requested_port}: "
                    f"{exc.strerror or exc}"
                ) from exc


@atexit.register
def _stop_all() -> None:
    for box in list(_live):
        box.stop()


logging.getLogger("uvicorn.error").propagate = False
return_large_blocks_to_os()
