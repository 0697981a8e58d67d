"""labkit.sandbox.inspector: what went over the wire, bounded, filtered and escaped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labkit.sandbox.header_review import review_headers
from labkit.sandbox.inspector import (
    SECURITY_HEADERS,
    Exchange,
    TrafficLog,
    render_html,
    render_text,
)
from labkit.sandbox.server import Sandbox

RESPONSE_HEADERS = [
    (b"content-type", b"text/plain"),
    (b"Set-Cookie", b"sid=abc; HttpOnly; Secure; SameSite=Lax"),
    (b"x-custom", b"not interesting"),
    (b"Content-Security-Policy", b"default-src 'self'"),
    (b"strict-transport-security", b"max-age=63072000"),
    (b"ratelimit", b"limit=10, remaining=9, reset=60"),
    (b"retry-after", b"60"),
    (b"server", b"uvicorn"),
]


async def headers_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    status = 404 if scope["path"].startswith("/missing") else 200
    await send({"type": "http.response.start", "status": status, "headers": RESPONSE_HEADERS})
    await send({"type": "http.response.body", "body": b"body"})


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(headers_app, name="inspected", traffic_size=5) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def empty_log(box: Sandbox) -> None:
    box.traffic.clear()


def exchange(path: str, status: int = 200, **overrides: object) -> Exchange:
    fields: dict[str, object] = {
        "method": "GET",
        "path": path,
        "query": "",
        "status": status,
        "request_headers": (("host", "127.0.0.1:1"),),
        "response_headers": (("content-type", "text/plain"),),
        "duration_ms": 1.25,
    }
    fields.update(overrides)
    return Exchange(**fields)  # type: ignore[arg-type]


def test_exchanges_are_recorded(box: Sandbox) -> None:
    box.client.post("/api/items", params={"page": "2", "q": "a b"}, headers={"X-Trace": "t1"})
    box.client.get("/missing")
    first, second = box.traffic.last()
    assert (first.method, first.path, first.query, first.status) == (
        "POST",
        "/api/items",
        "page=2&q=a+b",
        200,
    )
    assert first.target == "/api/items?page=2&q=a+b"
    assert ("x-trace", "t1") in first.request_headers
    assert ("host", f"127.0.0.1:{box.port}") in first.request_headers
    assert ("x-custom", "not interesting") in first.response_headers
    assert first.duration_ms >= 0
    assert first.error == ""
    assert (second.method, second.target, second.status) == ("GET", "/missing", 404)
    assert len(box.traffic) == 2


def test_ring_buffer_is_bounded(box: Sandbox) -> None:
    for n in range(12):
        box.client.get(f"/r/{n}")
    assert len(box.traffic) == 5
    assert [e.path for e in box.traffic] == [f"/r/{n}" for n in range(7, 12)]
    assert [e.path for e in box.traffic.last(2)] == ["/r/10", "/r/11"]


def test_security_headers_are_filtered_in_order(box: Sandbox) -> None:
    box.client.get("/")
    (recorded,) = box.traffic.last()
    assert recorded.security_headers() == [
        ("set-cookie", "sid=abc; HttpOnly; Secure; SameSite=Lax"),
        ("content-security-policy", "default-src 'self'"),
        ("strict-transport-security", "max-age=63072000"),
        ("ratelimit", "limit=10, remaining=9, reset=60"),
        ("retry-after", "60"),
    ]
    for boring in ("content-type", "x-custom", "server"):
        assert boring not in SECURITY_HEADERS


def test_text_view_lists_requests_and_security_headers(box: Sandbox) -> None:
    box.client.get("/", params={"x": "1"})
    text = repr(box.traffic)
    assert text.splitlines()[0].startswith("GET     /?x=1  -> 200  (")
    assert "          set-cookie: sid=abc; HttpOnly; Secure; SameSite=Lax" in text
    assert "          content-security-policy: default-src 'self'" in text
    assert "          strict-transport-security: max-age=63072000" in text
    assert "x-custom" not in text
    assert "server: uvicorn" not in text


def test_text_view_is_deterministic() -> None:
    items = [
        exchange(
            "/login",
            302,
            method="POST",
            response_headers=(("location", "/home"), ("set-cookie", "sid=1"), ("x-a", "b")),
        ),
        exchange("/boom", 500, query="id=7", duration_ms=10.0, error="RuntimeError"),
    ]
    expected = (
        "POST    /login  -> 302  (1.2 ms)\n"
        "          location: /home\n"
        "          set-cookie: sid=1  <- weak: no httponly, secure, samesite\n"
        "GET     /boom?id=7  -> 500  (10.0 ms)  [app raised RuntimeError]"
    )
    assert render_text(items) == expected
    assert render_text(items) == render_text(list(items))
    assert render_text([]) == "(no traffic yet)"
    log = TrafficLog(maxlen=3)
    assert repr(log) == "(no traffic yet)"
    for item in items:
        log.append(item)
    assert repr(log) == expected


def test_html_view_escapes_what_the_client_sent(box: Sandbox) -> None:
    box.client.get("/<script>alert(1)</script>")
    (recorded,) = box.traffic.last()
    assert recorded.path == "/<script>alert(1)</script>"
    page = box.traffic._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "labkit-traffic" in page


def test_html_view_escapes_headers() -> None:
    item = exchange(
        "/",
        response_headers=(("set-cookie", "x=<img src=x onerror=alert(1)>"),),
        method="<b>",
    )
    page = render_html([item])
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;" in page
    assert "No traffic yet" in render_html([])


def test_replace_swaps_by_identity() -> None:
    log = TrafficLog(maxlen=2)
    first, second = exchange("/a"), exchange("/a")
    log.append(first)
    log.append(second)
    log.replace(second, exchange("/b"))
    assert [e.path for e in log] == ["/a", "/b"]
    log.replace(exchange("/gone"), exchange("/c"))  # not in the log: nothing happens
    assert [e.path for e in log] == ["/a", "/b"]


# -- the header review: good, weak, missing ----------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "weak_because"),
    [
        ("referrer-policy", "unsafe-url", "leaks full URLs"),
        ("referrer-policy", "strict-origin-when-cross-origin", ""),
        ("referrer-policy", "no-referrer, unsafe-url", "leaks full URLs"),
        ("content-security-policy", "script-src 'self' 'unsafe-inline'", "'unsafe-inline'"),
        ("content-security-policy", "script-src 'nonce-abc' 'unsafe-inline'", ""),
        ("content-security-policy", "default-src *", "scripts from anywhere"),
        ("content-security-policy", "default-src 'self'", ""),
        ("strict-transport-security", "max-age=300", "under 31536000"),
        ("strict-transport-security", "max-age=63072000; includeSubDomains", ""),
        ("set-cookie", "sid=1; Secure; SameSite=Lax", "no httponly"),
        ("set-cookie", "sid=1; HttpOnly; Secure; SameSite=Strict", ""),
        ("x-frame-options", "ALLOW-FROM https://x.example", "DENY or SAMEORIGIN"),
        ("access-control-allow-origin", "*", "any page may read"),
        ("access-control-allow-origin", "https://app.example", ""),
    ],
)
def test_each_header_is_judged_good_or_weak(name: str, value: str, weak_because: str) -> None:
    [note] = review_headers(((name, value),), SECURITY_HEADERS)
    assert note.verdict == ("weak" if weak_because else "good"), note
    assert weak_because in note.reason


def test_an_html_page_lists_the_headers_it_lacks_and_an_api_answer_does_not() -> None:
    page = (("content-type", "text/html; charset=utf-8"), ("x-content-type-options", "nosniff"))
    missing = [n.name for n in review_headers(page, SECURITY_HEADERS) if n.verdict == "missing"]
    assert missing == ["content-security-policy", "referrer-policy", "x-frame-options"]
    framed = (*page, ("content-security-policy", "frame-ancestors 'none'; default-src 'self'"))
    assert "x-frame-options" not in {n.name for n in review_headers(framed, SECURITY_HEADERS)}
    api = (("content-type", "application/json"),)
    assert review_headers(api, SECURITY_HEADERS) == []


def test_the_html_view_fits_its_box_and_colours_each_verdict() -> None:
    item = exchange(
        "/" + "very-long-path/" * 100,
        response_headers=(
            ("content-type", "text/html"),
            ("referrer-policy", "unsafe-url"),
            ("x-content-type-options", "nosniff"),
        ),
    )
    page = render_html([item])
    assert "overflow-x:auto" in page and "table-layout:fixed" in page
    assert page.index("security headers") < page.index("<th>time</th>")
    assert "#9a6700" in page and "leaks full URLs" in page  # weak: amber, with its reason
    assert "content-security-policy: (missing)" in page and "#cf222e" in page
    assert "x-content-type-options: nosniff" in page and "#1a7f37" in page
