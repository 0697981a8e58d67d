"""The traffic inspector: every request and response through a sandbox, in a bounded log.

``record_traffic`` wraps an ASGI app. It also shields the server: an exception escaping the
app becomes a 500 (or is swallowed when the response already started), so uvicorn neither
prints a traceback into the running notebook cell nor closes the keep-alive connection that
the learner's ``httpx.Client`` is about to reuse.
"""

from __future__ import annotations

import dataclasses
import html
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from labkit.sandbox.header_review import HeaderNote, review_headers

__all__ = ["SECURITY_HEADERS", "Exchange", "TrafficLog", "record_traffic"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Response headers worth a reviewer's eye; the inspector highlights them.
SECURITY_HEADERS = (
    "set-cookie",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "vary",
    "content-security-policy",
    "strict-transport-security",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
    "location",
    "www-authenticate",
)
_INTERNAL_ERROR = json.dumps({"error": "Internal server error"}).encode()


@dataclass(frozen=True)
class Exchange:
    """One request and its response, as seen on the wire."""

    method: str
    path: str
    query: str
    status: int
    request_headers: tuple[tuple[str, str], ...]
    response_headers: tuple[tuple[str, str], ...]
    duration_ms: float
    error: str = ""

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def security_headers(self) -> list[tuple[str, str]]:
        """The security-relevant response headers, in the order sent."""
        return [(k, v) for k, v in self.response_headers if k in SECURITY_HEADERS]

    def header_notes(self) -> list[HeaderNote]:
        """Each security header judged good or weak, and those an HTML page lacks."""
        return review_headers(self.response_headers, SECURITY_HEADERS)

    def line(self) -> str:
        text = f"{self.method:<7} {self.target}  -> {self.status}  ({self.duration_ms:.1f} ms)"
        if self.error:
            text += f"  [app raised {self.error}]"
        return text


@dataclass
class TrafficLog:
    """A bounded, thread-safe ring buffer of :class:`Exchange` records."""

    maxlen: int = 500
    _items: deque[Exchange] = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._items = deque(maxlen=self.maxlen)

    def append(self, exchange: Exchange) -> None:
        with self._lock:
            self._items.append(exchange)

    def replace(self, old: Exchange, new: Exchange) -> None:
        """Swap ``old`` (by identity) for ``new``; nothing happens if it was already evicted."""
        with self._lock:
            for index, item in enumerate(self._items):
                if item is old:
                    self._items[index] = new
                    return

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __iter__(self) -> Iterator[Exchange]:
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def last(self, n: int = 20) -> list[Exchange]:
        with self._lock:
            return list(self._items)[-n:]

    def __repr__(self) -> str:
        return render_text(self.last())

    def _repr_html_(self) -> str:
        return render_html(self.last())


_TEXT_MARK = {"good": "", "info": "", "weak": "  <- weak: ", "missing": ""}
#: Background and border of a header by verdict (good: green, weak: amber, missing: red).
_HTML_STYLE = {
    "good": "background:#dafbe1;border-left:3px solid #1a7f37",
    "info": "background:#f6f8fa;border-left:3px solid #8c959f",
    "weak": "background:#fff8c5;border-left:3px solid #9a6700",
    "missing": "background:#ffebe9;border-left:3px solid #cf222e",
}
_LEGEND = (
    "<span style='{good};padding:0 4px'>good</span> "
    "<span style='{weak};padding:0 4px'>weak</span> "
    "<span style='{missing};padding:0 4px'>missing</span>"
).format(**_HTML_STYLE)


def _note_text(note: HeaderNote) -> str:
    if note.value is None:
        return f"          missing: {note.name}"
    mark = f"{_TEXT_MARK[note.verdict]}{note.reason}" if note.verdict == "weak" else ""
    return f"          {note.name}: {note.value}{mark}"


def render_text(exchanges: list[Exchange]) -> str:
    """Plain-text view: one line per exchange, its security headers indented below it (weak
    values say why; an HTML page lists the headers it lacks)."""
    if not exchanges:
        return "(no traffic yet)"
    lines: list[str] = []
    for ex in exchanges:
        lines.append(ex.line())
        lines.extend(_note_text(note) for note in ex.header_notes())
    return "\n".join(lines)


def _note_html(note: HeaderNote) -> str:
    shown = "(missing)" if note.value is None else note.value
    title = f" title='{html.escape(note.reason, quote=True)}'" if note.reason else ""
    reason = f" <i>— {html.escape(note.reason)}</i>" if note.verdict == "weak" else ""
    return (
        f"<div style='{_HTML_STYLE[note.verdict]};padding:1px 4px;margin:1px 0'{title}>"
        f"<code>{html.escape(note.name)}: {html.escape(shown)}</code>{reason}</div>"
    )


def render_html(exchanges: list[Exchange]) -> str:
    """HTML table that fits its box: long values wrap, the security headers come right after
    the status (so they stay in view), each one green (good), amber (weak) or red (missing)."""
    if not exchanges:
        return "<div class='labkit-traffic'><em>No traffic yet.</em></div>"
    rows = []
    for ex in exchanges:
        colour = "#1a7f37" if ex.status < 400 else ("#9a6700" if ex.status < 500 else "#cf222e")
        headers = "".join(_note_html(note) for note in ex.header_notes())
        rows.append(
            f"<tr><td><b>{html.escape(ex.method)}</b></td>"
            f"<td style='word-break:break-all'><code>{html.escape(ex.target)}</code></td>"
            f"<td style='color:{colour}'><b>{ex.status}</b></td>"
            f"<td style='word-break:break-all;white-space:normal'>{headers}</td>"
            f"<td style='white-space:nowrap'>{ex.duration_ms:.1f} ms</td></tr>"
        )
    return (
        "<div class='labkit-traffic' style='max-width:100%;overflow-x:auto'>"
        "<table style='table-layout:fixed;width:100%;border-collapse:collapse'>"
        "<colgroup><col style='width:4.5em'><col style='width:30%'><col style='width:4em'>"
        "<col><col style='width:5.5em'></colgroup>"
        "<tr><th>method</th><th>path</th><th>status</th>"
        f"<th>security headers ({_LEGEND})</th><th>time</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


def _decode(headers: list[tuple[bytes, bytes]] | None) -> tuple[tuple[str, str], ...]:
    return tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers or ())


def record_traffic(app: ASGIApp, log: TrafficLog) -> ASGIApp:
    """Wrap ``app`` so each HTTP exchange is appended to ``log`` and exceptions become 500s.

    An exchange is recorded the moment its response is complete, *before* the last body
    chunk goes out, so a client sending requests one after another always finds them in
    the log in that order (an app may keep running after its response, e.g. Starlette's
    error middleware re-raises after sending the 500).
    """

    async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        response: dict[str, Any] = {"status": 0, "headers": None, "error": ""}
        entry: list[Exchange] = []

        def exchange() -> Exchange:
            return Exchange(
                method=scope.get("method", ""),
                path=scope.get("path", ""),
                query=scope.get("query_string", b"").decode("latin-1"),
                status=response["status"],
                request_headers=_decode(scope.get("headers")),
                response_headers=_decode(response["headers"]),
                duration_ms=(time.perf_counter() - started) * 1000,
                error=response["error"],
            )

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = message.get("headers")
            complete = message["type"] == "http.response.body" and not message.get("more_body")
            if complete and not entry:
                entry.append(exchange())
                log.append(entry[0])
            await send(message)

        try:
            await app(scope, receive, send_and_record)
        except Exception as exc:  # the app's fault must not reach uvicorn (see module doc)
            response["error"] = type(exc).__name__
            if not response["status"]:
                headers = [(b"content-type", b"application/json")]
                await send_and_record(
                    {"type": "http.response.start", "status": 500, "headers": headers}
                )
                await send_and_record({"type": "http.response.body", "body": _INTERNAL_ERROR})
        if not entry:  # no complete response (the app returned early or broke mid-stream)
            log.append(exchange())
        elif response["error"] and not entry[0].error:  # it raised after responding
            log.replace(entry[0], dataclasses.replace(entry[0], error=response["error"]))

    return recorded
