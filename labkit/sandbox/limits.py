"""What no single client may do to a sandbox: hold the kernel's file descriptors, trickle a
request forever, or send a body that fills its memory.

A sandbox runs inside the learner's kernel, so its limits are the kernel's: one process, an
fd limit of often 1,024, the hub's 1–2 GB of memory. uvicorn alone has no header or body read
timeout and no connection cap, and the app reads whatever body it is sent. Four guards:

* :class:`GuardedH11Protocol` closes a connection whose request has not fully arrived within
  :data:`REQUEST_READ_S` (slowloris), and keeps the connections of this process under
  :func:`connection_cap`: at the cap a new connection replaces the oldest one stuck
  mid-request, so a flood neither exhausts the kernel's fds nor locks the learner out;
* :func:`cap_body` answers 413 to a body over :data:`BODY_CEILING_BYTES` — at once when it
  declares its length, as soon as the count passes it when it is streamed. It never buffers,
  so an app's own body limit (the lesson of 07 and 13) still sees the body as it arrives;
  the ceiling only bounds what that lesson can be made to read;
* :func:`raise_fd_limit` lifts the soft fd limit to the hard one, once;
* only the kernel's own user gets in (:mod:`labkit.sandbox.peer`): a connection from another
  user's process gets ``403 Forbidden`` and is closed before the app sees a byte of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from labkit.sandbox import peer

__all__ = [
    "ACCEPT_BURST",
    "BODY_CEILING_BYTES",
    "MAX_CONNECTIONS",
    "MAX_REFUSING",
    "REQUEST_READ_S",
    "GuardedH11Protocol",
    "cap_body",
    "connection_cap",
    "raise_fd_limit",
]

#: A request (headers and body) must arrive within this many seconds of its first byte.
REQUEST_READ_S = 30.0
#: Open connections to all the sandboxes of this process at once (at most half the fd limit:
#: see :func:`connection_cap`).
MAX_CONNECTIONS = 512
#: Connections accepted per wake-up of the event loop (uvicorn's ``backlog``: asyncio accepts
#: up to that many sockets before any of them reaches the cap, 2,048 by default).
ACCEPT_BURST = 64
#: No lab needs a bigger body: 07 and 13 probe body caps with a few MB.
BODY_CEILING_BYTES = 16 * 1024 * 1024
#: Connections of other users being answered 403 at once; more are closed without an answer.
MAX_REFUSING = 64
#: A refused connection is closed this many seconds after it opened, answered or not.
REFUSAL_LINGER_S = 2.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_open: dict[GuardedH11Protocol, None] = {}  # counted connections, oldest first
_open_lock = threading.Lock()
_WAITING = (h11.IDLE, h11.SEND_BODY)  # the client has not finished sending its request


def _evictable() -> GuardedH11Protocol | None:
    """The oldest connection stuck mid-request, else the oldest idle one (None: all busy)."""
    waiting = [c for c in _open if c.conn.their_state in _WAITING and not c.cycle_running]
    partial = [c for c in waiting if c.partial]
    return (partial or waiting or [None])[0]


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request read deadline and a per-process connection cap.

    At the cap, a new connection takes the place of the oldest one stuck mid-request (or
    idle): a flood of half-open requests cannot lock the learner's own client out.
    """

    _read_deadline: asyncio.TimerHandle | None = None
    _counted = False
    partial = False  # bytes of a request arrived, the request is not complete

    @property
    def cycle_running(self) -> bool:
        """True while the app handles a request of this connection."""
        return self.cycle is not None and not self.cycle.response_complete

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        here, there = transport.get_extra_info("sockname"), transport.get_extra_info("peername")
        if not peer.allowed(here, there):  # another user: the app never sees it
            _refuse(transport, self.loop)
            return
        with _open_lock:
            victim = _evictable() if len(_open) >= connection_cap() else None
            full = len(_open) >= connection_cap() and victim is None
            if not full:
                _open[self] = None
                self._counted = True
        if full:  # every slot serves a request: refuse at once, the fd is freed now
            transport.close()
            return
        if victim is not None:
            victim.evict()
        super().connection_made(transport)
        self._arm()

    def evict(self) -> None:
        with _open_lock:
            _open.pop(self, None)
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._read_deadline is None and self.conn.their_state in _WAITING:
            self._arm()  # the next request on a kept-alive connection has begun
        super().data_received(data)
        self.partial = self.conn.their_state in _WAITING
        if not self.partial:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted:
            with _open_lock:
                _open.pop(self, None)
            self._counted = False
            super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._read_deadline = self.loop.call_later(REQUEST_READ_S, self._too_slow)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        if self.conn.their_state in _WAITING and not self.transport.is_closing():
            self.transport.close()


FORBIDDEN = b"this lab sandbox belongs to another user\n"
_FORBIDDEN_RESPONSE = (
    b"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(FORBIDDEN), FORBIDDEN)
)
_refusing = 0


class _Refusal(asyncio.Protocol):
    """Answers 403 once the request's headers are in (so the client reads it, rather than a
    reset), then closes; discards all it is sent; gone after :data:`REFUSAL_LINGER_S`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.answered = False
        self.tail = b""
        self.received = 0
        self.transport: Any = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.timer = self.loop.call_later(REFUSAL_LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        if self.answered:
            return
        self.received += len(data)
        seen, self.tail = self.tail + data, (self.tail + data)[-3:]
        if b"\r\n\r\n" in seen or b"\n\n" in seen or self.received > 65536:
            self.answer()

    def eof_received(self) -> bool:
        self.answer()
        return False

    def answer(self) -> None:
        if self.answered or self.transport.is_closing():
            return
        self.answered = True
        self.transport.write(_FORBIDDEN_RESPONSE)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # wait for the client to read it and hang up
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        global _refusing
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        with _open_lock:
            _refusing -= 1


def _refuse(transport: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Hand ``transport`` to a :class:`_Refusal` (at most :data:`MAX_REFUSING` at a time)."""
    global _refusing
    with _open_lock:
        busy = _refusing >= MAX_REFUSING
        if not busy:
            _refusing += 1
    if busy:
        transport.abort()
        return
    refusal = _Refusal(loop)
    transport.set_protocol(refusal)
    refusal.connection_made(transport)


_TOO_LARGE = json.dumps({"error": "Request body too large for the sandbox"}).encode()


async def _send_413(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": _TOO_LARGE})


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value)
    return None


def cap_body(app: ASGIApp, ceiling: int = BODY_CEILING_BYTES) -> ASGIApp:
    """Wrap ``app`` so no request body over ``ceiling`` bytes reaches it (413 instead)."""

    async def capped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > ceiling:
            await _send_413(send)
            return
        state = {"received": 0, "over": False, "started": False}

        async def counting_receive() -> Message:
            if state["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > ceiling:
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["over"]:  # whatever the app answers to a cut-off body, the client gets 413
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await _send_413(send)
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await app(scope, counting_receive, guarded_send)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await _send_413(send)

    return capped


def connection_cap() -> int:
    """:data:`MAX_CONNECTIONS`, or less where the fd limit is low: half of it, less a burst."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft // 2 - ACCEPT_BURST))


_raised = False


def raise_fd_limit() -> None:
    """Lift this process's soft limit on open files to its hard limit (once)."""
    global _raised
    if _raised:
        return
    _raised = True
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
