"""12-headers: every attack succeeds in Chromium against the vulnerable app and fails against
``create_app(secure=True)``; the legitimate flows work on both; the no-browser SIMULATION
reaches the same verdicts; the middleware and pattern behave as documented."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from labkit.attacks import observatory, xss
from labkit.browser import run_in_browser
from labkit.patterns import headers as secure
from labkit.sandbox.apps.headers import SHARE_BUTTON, create_app
from labkit.sandbox.lab_server import LabServer
from labkit.sandbox.tls import client_context
from labkit.vulnerable import headers as weak

ATTACKS = ("reflected XSS cookie theft", "clickjacking", "MIME sniffing", "Referer leak")


def serve(secure_app: bool) -> Iterator[LabServer]:
    server = LabServer(create_app(secure=secure_app), name="12-headers-test").start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def vulnerable() -> Iterator[LabServer]:
    yield from serve(False)


@pytest.fixture(scope="module")
def reference() -> Iterator[LabServer]:
    yield from serve(True)


def stealer_upload(server: LabServer) -> str:
    code = xss.stealer_code(server.urls["attacker"])
    return xss._upload(server.url, code)


def battery(server: LabServer, browser: Any) -> dict[str, xss.Probe]:
    victim, attacker = server.url, server.urls["attacker"]
    steal = xss.search_url(victim, xss.cookie_stealer(attacker))
    framing = xss.clickjack_page(
        victim + "/profile", top=SHARE_BUTTON["top"], left=SHARE_BUTTON["left"]
    )
    with httpx.Client(base_url=attacker, trust_env=False) as client:
        hosted = attacker + client.post("/api/_lab/pages", json={"html": framing}).json()["url"]
    sniffed = xss.search_url(victim, xss.script_include(stealer_upload(server)))
    probes = [
        xss.steal_cookie(victim, attacker, steal, browser=browser),
        xss.clickjack(victim, attacker, hosted, browser=browser),
        xss.sniff_upload(victim, browser=browser),
        xss.referer_leak(victim, attacker, browser=browser),
        xss.reflected_xss(victim, browser=browser),
        xss.steal_cookie(victim, attacker, sniffed, extra_csp="script-src 'self'", browser=browser),
        xss.steal_cookie(victim, attacker, steal, extra_csp="script-src 'self'", browser=browser),
    ]
    names = [
        *ATTACKS,
        "encoding",
        "sniffed past script-src 'self'",
        "inline past script-src 'self'",
    ]
    return dict(zip(names, probes, strict=True))


@pytest.mark.browser
def test_every_attack_works_against_the_vulnerable_app(
    vulnerable: LabServer, chromium_path: str
) -> None:
    probes = run_in_browser(lambda b: battery(vulnerable, b), timeout=240)
    for name in (*ATTACKS, "encoding", "sniffed past script-src 'self'"):
        assert probes[name].succeeded, probes[name]
        assert probes[name].via.startswith("Chromium")
    assert probes["clickjacking"].data == {"rendered": True, "clicked_through": True}
    assert set(probes["encoding"].data["ran"]) == {"element", "script", "attribute"}
    # CSP 'self' alone stops the inline payload, not the sniffed upload: nosniff is needed too
    assert not probes["inline past script-src 'self'"].succeeded


@pytest.mark.browser
def test_every_attack_fails_against_the_secure_app(
    reference: LabServer, chromium_path: str
) -> None:
    probes = run_in_browser(lambda b: battery(reference, b), timeout=240)
    for name, probe in probes.items():
        assert not probe.succeeded, (name, probe)
    assert "frame-ancestors" in probes["clickjacking"].evidence
    assert "MIME type" in probes["MIME sniffing"].evidence
    assert probes["Referer leak"].evidence.endswith(reference.url + "/")  # the origin, only


@pytest.mark.parametrize("secure_app", [False, True])
def test_simulation_reaches_the_browser_verdicts(
    secure_app: bool, vulnerable: LabServer, reference: LabServer
) -> None:
    server = reference if secure_app else vulnerable
    victim, attacker = server.url, server.urls["attacker"]
    steal = xss.search_url(victim, xss.cookie_stealer(attacker))
    probes = [
        xss.simulate_steal_cookie(victim, steal),
        xss.simulate_clickjack(victim, attacker + "/"),
        xss.simulate_sniff_upload(victim),
        xss.simulate_referer_leak(victim),
        xss.simulate_reflected_xss(victim),
    ]
    for probe in probes:
        assert probe.simulated and "SIMULATION" in repr(probe)
        assert probe.succeeded is not secure_app, probe


@pytest.mark.browser
@pytest.mark.parametrize("secure_app", [False, True])
def test_legitimate_flows(
    secure_app: bool, vulnerable: LabServer, reference: LabServer, chromium_path: str
) -> None:
    from labkit.exercises.labs.headers import _browser_login

    server = reference if secure_app else vulnerable
    with httpx.Client(base_url=server.url, trust_env=False) as client:
        assert "The Book of Tea" in client.get("/", params={"q": "tea"}).text
        victim = client.get("/api/_lab/victim").json()
        token = client.post("/api/auth/login", json=victim).json()["accessToken"]
        bearer = {"Authorization": f"Bearer {token}"}
        url = client.post(
            "/api/uploads", json={"filename": "a.txt", "content": "x < y"}, headers=bearer
        )
        served = client.get(url.json()["url"])
        assert served.text == "x < y" and served.headers["content-type"].startswith("text/plain")
        assert client.put("/api/profile", json={"public": True}, headers=bearer).json()["public"]
        client.post("/api/auth/forgot", json={"email": victim["email"]})
        link = client.get("/api/_lab/mailbox").json()["link"]
        token = link.split("token=")[1]
        assert client.get(f"/api/auth/reset/{token}").json() == {"email": victim["email"]}
        new = {"token": token, "password": "a new long passphrase"}
        assert client.post("/api/auth/reset", json=new).status_code == 200
        assert client.get("/api/_lab/victim").json()["password"] == new["password"]
        email, password = victim["email"], new["password"]
    shown, _ = run_in_browser(lambda b: _browser_login(b, server.url, email, password))
    assert shown == email  # the site's own script (login.js) still runs under the CSP


def test_secure_app_headers_and_cookie(reference: LabServer, vulnerable: LabServer) -> None:
    with httpx.Client(base_url=reference.url, trust_env=False) as client:
        plain = client.get("/")
        spoofed = client.get("/", headers={"X-Forwarded-Proto": "https"})
        missing = client.get("/nowhere")
        login = client.post("/api/auth/login", json=client.get("/api/_lab/victim").json())
        ca = client.get("/api/_lab/ca.pem").text
    https = reference.urls["https"]
    with httpx.Client(verify=client_context(cadata=ca), trust_env=False) as client:
        tls = client.get(https + "/")
    assert https.startswith("https://")
    assert "strict-transport-security" not in plain.headers  # RFC 6797 §7.2
    assert "strict-transport-security" not in spoofed.headers  # no proxy is trusted here
    assert tls.headers["strict-transport-security"] == secure.HSTS
    report = observatory.scan(https + "/", ca_pem=ca, more=[login])
    assert (report.score, report.grade) == (130, "A+")
    assert missing.status_code == 404 and missing.headers["x-content-type-options"] == "nosniff"
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
    with httpx.Client(base_url=vulnerable.url, trust_env=False) as client:
        weak_login = client.post("/api/auth/login", json=client.get("/api/_lab/victim").json())
        page = client.get("/", params={"q": '"><b>x'})
    assert "httponly" not in weak_login.headers["set-cookie"].lower()
    assert "samesite" not in weak_login.headers["set-cookie"].lower()
    assert "content-security-policy" not in page.headers
    assert '"><b>x' in page.text


def response_headers(app: Any, scheme: str) -> httpx.Headers:
    """Call an ASGI app once and return the headers of its response start message."""
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/",
             "query_string": b"", "headers": [], "scheme": scheme}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return httpx.Headers([(k.decode(), v.decode()) for k, v in start["headers"]])


def test_middleware_heads_every_response_and_validates_its_policy() -> None:
    def page(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hi", headers={"X-Frame-Options": "ALLOWALL"})

    headed = secure.SecurityHeaders(Starlette(routes=[Route("/", page)]))
    plain, tls = response_headers(headed, "http"), response_headers(headed, "https")
    assert plain.get_list("x-frame-options") == ["DENY"]  # one policy for the whole site
    assert plain["content-security-policy"] == secure.CONTENT_SECURITY_POLICY
    assert "strict-transport-security" not in plain
    assert tls["strict-transport-security"] == secure.HSTS
    with pytest.raises(ValueError, match="invalid value"):
        secure.SecurityHeaders(headed, policy=lambda https: {"X-Evil": "a\r\nSet-Cookie: x=1"})
    with pytest.raises(ValueError, match="header name"):
        secure.SecurityHeaders(headed, policy=lambda https: {"Bad Name": "x"})


def test_escape_and_the_vulnerable_twin() -> None:
    assert secure.escape('<a href="x">\'&') == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;"
    assert weak.no_escape("<script>") == "<script>"
    assert "Content-Security-Policy" not in weak.legacy_headers(True)
    assert weak.legacy_cookie_options()["samesite"] is None


def test_csp_helpers_follow_the_spec() -> None:
    policies = xss.parse_policies(["default-src 'self'; frame-ancestors 'none'"])
    origin = "http://127.0.0.1:8000"
    assert not xss.csp_allows(policies, "inline", origin)
    assert xss.csp_allows(policies, "script", origin, origin + "/uploads/a.txt")
    assert not xss.csp_allows(policies, "script", origin, "http://127.0.0.1:9000/x.js")
    assert not xss.csp_allows(policies, "frame-ancestor", origin, "http://127.0.0.1:9000/")
    self_frames = xss.parse_policies(["frame-ancestors 'self' https://*.example.com"])
    assert xss.csp_allows(self_frames, "frame-ancestor", origin, origin + "/")
    assert xss.csp_allows(self_frames, "frame-ancestor", origin, "https://a.example.com/")
    assert not xss.csp_allows(self_frames, "frame-ancestor", origin, "https://example.org/")
    xfo = httpx.Headers({"X-Frame-Options": "SAMEORIGIN"})
    assert xss.framing_allowed(xfo, origin + "/p", origin + "/")
    assert not xss.framing_allowed(xfo, origin + "/p", "http://127.0.0.1:9/")
    assert xss.framing_allowed(httpx.Headers({"X-Frame-Options": "ALLOWALL"}), origin, "http://x/")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("no-referrer-when-downgrade", "http://a.test/reset?token=t"),
        ("unsafe-url", "http://a.test/reset?token=t"),
        ("strict-origin-when-cross-origin", "http://a.test/"),
        ("no-referrer", ""),
        ("same-origin", ""),
    ],
)
def test_referrer_for(policy: str, expected: str) -> None:
    assert (
        xss.referrer_for(policy, "http://a.test/reset?token=t#frag", "http://b.test/help")
        == expected
    )
    assert xss.referrer_for("strict-origin", "https://a.test/x", "http://b.test/") == ""


def test_vulnerable_module_is_labelled() -> None:
    from labkit.vulnerable import BANNER

    assert " ".join((weak.__doc__ or "").split()).startswith(BANNER)
    for name in weak.__all__:
        doc = " ".join((getattr(weak, name).__doc__ or "").split())
        assert "Flaw:" in doc and "Exploited in: 12-headers" in doc, name
        assert "Secure twin: labkit.patterns.headers." in doc, name


CSRF_PAGE = """<!doctype html><form id=f method=post action="{target}/profile/visibility">
<input type=hidden name=public value=1></form>
<script>document.getElementById("f").submit()</script>"""


@pytest.mark.browser
@pytest.mark.parametrize("secure_app", [False, True])
def test_forms_refuse_cross_site_posts_but_work_on_their_page(
    secure_app: bool, vulnerable: LabServer, reference: LabServer, chromium_path: str
) -> None:
    """Clickjacking is the way in: a plain cross-site form post is refused (``Origin``)."""
    server = reference if secure_app else vulnerable
    victim, attacker = server.url, server.urls["attacker"]
    with httpx.Client(base_url=attacker, trust_env=False) as client:
        hosted = client.post("/api/_lab/pages", json={"html": CSRF_PAGE.format(target=victim)})
    csrf_page = attacker + hosted.json()["url"]

    def work(browser: Any) -> tuple[bool, str]:
        ctx, home = xss._logged_in(browser, victim)
        try:
            home.evaluate(xss._FETCH_PROFILE, {"public": False})
            attack = ctx.new_page()
            xss._open(attack, csrf_page)
            public = bool(home.evaluate(xss._FETCH_PROFILE, None)["public"])
            link = xss._reset_link(victim)
            page = ctx.new_page()
            page.goto(link)
            page.fill("input[name=password]", "a brand new passphrase")
            with page.expect_navigation():
                page.click("form button")
            return public, page.url
        finally:
            ctx.close()

    public, landed = run_in_browser(work, timeout=120)
    assert not public  # the cross-site post was refused
    assert landed == victim + "/login"
    with httpx.Client(base_url=victim, trust_env=False) as client:
        assert client.get("/api/_lab/victim").json()["password"] == "a brand new passphrase"


@pytest.mark.browser
def test_thefts_in_one_logged_in_profile_are_judged_per_visit(
    vulnerable: LabServer, chromium_path: str
) -> None:
    """``victim_session`` shares alice's login between probes: a harmless link opened after a
    successful theft in the same profile is not credited with the earlier loot."""
    victim, attacker = vulnerable.url, vulnerable.urls["attacker"]
    stealer = xss.search_url(victim, xss.cookie_stealer(attacker))
    harmless = xss.search_url(victim, "tea")

    def work(b: Any) -> tuple[xss.Probe, xss.Probe]:
        with xss.victim_session(b, victim) as session:
            stolen = xss.steal_cookie(victim, attacker, stealer, browser=b, session=session)
            after = xss.steal_cookie(victim, attacker, harmless, browser=b, session=session)
        return stolen, after

    stolen, after = run_in_browser(work)
    assert stolen.succeeded, stolen
    assert not after.succeeded and after.data["cookie"] == stolen.data["cookie"], after
