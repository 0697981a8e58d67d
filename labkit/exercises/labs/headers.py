"""12-headers: steal a cookie, frame a page, sniff an upload, read a Referer — then head it off.

The attacks are judged in headless Chromium (:mod:`labkit.attacks.xss`): a victim logs in
and falls for the attack; the check looks at what the attacker's site received. Without
Chromium the probes fall back to a labelled SIMULATION (the standards' algorithms over
HTTP), and every verdict says so; under ``CI=true`` a simulated verdict is a failure, so
CI proves the browser path. Headers are read by parsing them (CSP directives and sources,
HSTS ``max-age``, the last valid Referrer-Policy token), never by substring, and graded by
the MDN HTTP Observatory's rules (:mod:`labkit.attacks.observatory`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx

from labkit.attacks import observatory, xss
from labkit.attacks.observatory import parse_set_cookie
from labkit.attacks.xss import Probe
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.sandbox.tls import client_context

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["LAB", "OBSERVATORY_MINIMUM", "grade"]

LAB = LabDefinition("12-headers", "12 · Security headers and CSP", "labkit.sandbox.apps.headers")

#: A grade of A or better (MDN HTTP Observatory chart): 90 points.
OBSERVATORY_MINIMUM = 90
#: The Observatory's "six months" (15768000, rounded down as its analyzer does).
HSTS_MINIMUM = 15_552_000
PRIVATE_REFERRER = observatory.REFERRER_PRIVATE
FOREIGN = "https://evil.example"
SELF_ONLY = frozenset({"'self'", "'none'"})
LEGIT_QUERIES = ("<b>tea</b>", "Pride & Prejudice", 'Tom\'s "best" café ☕')


# -- plumbing --------------------------------------------------------------------------------
def _attacker(target: Target) -> str:
    return target.urls.get("attacker", "")


def _fault(response: httpx.Response) -> str:
    try:
        fault = response.json().get("labkitFault", "")
    except (ValueError, AttributeError):
        return ""
    return f" — {fault}" if fault else ""


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def _probes(
    work: Callable[[Browser], list[Probe]], simulate: Callable[[], list[Probe]], findings: Findings
) -> list[Probe]:
    """Run the probes in Chromium, or (no Chromium) their SIMULATION — said in the verdict."""
    probes = xss.browser_or_simulation(work, simulate, timeout=180)
    if any(p.simulated for p in probes):
        if _ci():
            findings.fail("CI=true: no Chromium found, and CI must judge in a real browser")
        findings.saw(
            "judged by SIMULATION: no Chromium here (labkit doctor says how to install one); "
            "the verdict follows the standards' algorithms, not a real browser"
        )
    return probes


def _victim(target: Target) -> tuple[str, str]:
    with target.client() as client:
        victim = client.get("/api/_lab/victim").json()
    return victim["email"], victim["password"]


def _login(client: httpx.Client, target: Target) -> httpx.Response:
    email, password = _victim(target)
    return client.post("/api/auth/login", json={"email": email, "password": password})


# -- header battery --------------------------------------------------------------------------
def _csp_problems(values: Sequence[str], origin: str) -> list[str]:
    if not values:
        return ["no Content-Security-Policy header"]
    policies = xss.parse_policies(values)
    problems = []
    if not any(
        set(p.get("default-src", ["*"])) <= SELF_ONLY and "default-src" in p for p in policies
    ):
        problems.append("CSP: default-src must be 'self' (or 'none')")
    if xss.csp_allows(policies, "inline", origin):
        problems.append("CSP: inline scripts are allowed (script-src/default-src with "
                        "'unsafe-inline', or no script-src/default-src at all)")  # fmt: skip
    if xss.csp_allows(policies, "script", origin, f"{FOREIGN}/x.js"):
        problems.append("CSP: scripts from any other origin are allowed")
    if any("'unsafe-eval'" in p.get("script-src", p.get("default-src", [])) for p in policies):
        problems.append("CSP: script-src allows 'unsafe-eval'")
    objects = [p.get("object-src", p.get("default-src")) for p in policies]
    if not any(o is not None and set(o) <= SELF_ONLY for o in objects):
        problems.append("CSP: object-src (or default-src) must be 'none' or 'self'")
    if not any("frame-ancestors" in p for p in policies):
        problems.append("CSP: no frame-ancestors directive (any site may frame this page)")
    elif xss.csp_allows(policies, "frame-ancestor", origin, FOREIGN + "/"):
        problems.append("CSP: frame-ancestors lets other origins frame this page")
    return problems


def _hsts_problems(values: Sequence[str], https: bool) -> list[str]:
    if not https:  # RFC 6797 §7.2: never over plain HTTP
        return ["Strict-Transport-Security sent over plain HTTP (RFC 6797 §7.2)"] if values else []
    if len(values) != 1:
        return [f"Strict-Transport-Security over HTTPS: expected one header, got {len(values)}"]
    ages = []
    for directive in values[0].split(";"):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            ages.append(value.strip().strip('"'))
    if len(ages) != 1 or not ages[0].isdigit():
        return [f"Strict-Transport-Security needs exactly one numeric max-age: {values[0]!r}"]
    if int(ages[0]) < HSTS_MINIMUM:
        return [f"Strict-Transport-Security max-age={ages[0]} is under six months ({HSTS_MINIMUM})"]
    return []


def _header_problems(response: httpx.Response, https: bool, origin: str) -> list[str]:
    headers = response.headers
    problems = _csp_problems(headers.get_list("content-security-policy"), origin)
    nosniff = headers.get_list("x-content-type-options")
    if [v.strip().lower() for v in nosniff] != ["nosniff"]:
        problems.append(f"X-Content-Type-Options must be exactly nosniff, got {nosniff or None}")
    tokens = [t.strip().lower() for v in headers.get_list("referrer-policy") for t in v.split(",")]
    valid = [t for t in tokens if t in xss.REFERRER_POLICIES]  # the last valid one applies
    if not valid or valid[-1] not in PRIVATE_REFERRER:
        problems.append(
            f"Referrer-Policy must be one of {', '.join(PRIVATE_REFERRER)}, "
            f"got {headers.get('referrer-policy')!r}"
        )
    problems += _hsts_problems(headers.get_list("strict-transport-security"), https)
    if headers.get("cross-origin-opener-policy", "").strip().lower() != "same-origin":
        problems.append("Cross-Origin-Opener-Policy must be same-origin")
    corp = headers.get("cross-origin-resource-policy", "").strip().lower()
    if corp not in ("same-origin", "same-site"):
        problems.append("Cross-Origin-Resource-Policy must be same-origin (or same-site)")
    xfo = headers.get("x-frame-options")
    if xfo is not None and xfo.strip().lower() not in ("deny", "sameorigin"):
        problems.append(f"X-Frame-Options {xfo!r} is not DENY or SAMEORIGIN (browsers ignore it)")
    return problems


def _https_client(target: Target) -> httpx.Client:
    """A client for the app's HTTPS twin, trusting the lab's CA (fetched as plain data)."""
    with target.client() as client:
        ca = client.get("/api/_lab/ca.pem").text
    verify = client_context(cadata=ca)
    return httpx.Client(base_url=target.urls["https"], verify=verify, trust_env=False, timeout=30)


def _header_battery(target: Target, findings: Findings) -> None:
    """Every kind of response, over HTTP and over HTTPS (the app's TLS twin)."""
    with target.client() as plain, _https_client(target) as tls:
        login = _login(plain, target)
        if not findings.expect(
            login.status_code == 200, f"the victim could not log in: {login.status_code}"
        ):
            return
        bearer = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        upload = plain.post(
            "/api/uploads", json={"filename": "a.txt", "content": "hello"}, headers=bearer
        )
        paths = ["/", "/?q=tea", "/profile", "/login", "/static/login.js", "/static/site.css",
                 "/api/profile", "/no-such-page"]  # fmt: skip
        if upload.status_code == 201:
            paths.append(upload.json()["url"])
        seen: dict[str, list[str]] = {}
        for path in paths:
            for https, client in ((False, plain), (True, tls)):
                response = client.get(path)
                if response.status_code == 500:
                    findings.fail(f"GET {path} answered 500{_fault(response)}")
                    return
                for problem in _header_problems(response, https, target.url):
                    seen.setdefault(problem, []).append(path + (" (https)" if https else ""))
    for problem, where in seen.items():
        findings.fail(f"{problem} — on {', '.join(where[:3])}{' …' if len(where) > 3 else ''}")
    findings.saw(f"{len(paths)} routes, over HTTP and HTTPS: every header parsed and checked")


def grade(target: Target, *, with_login: bool = False) -> observatory.ObservatoryReport:
    """The app's HTTPS twin graded by the MDN HTTP Observatory's rules (and, ``with_login``,
    the cookie its login sets)."""
    with _https_client(target) as client:
        more = [_login(client, target)] if with_login else []
        return observatory.scan(target.urls["https"] + "/", more=more, client=client)


def _grade(target: Target, findings: Findings, *, with_login: bool) -> None:
    report = grade(target, with_login=with_login)
    failed = [t for t in report.tests if t.modifier < 0]
    summary = f"MDN HTTP Observatory rules: {report.summary()}"
    findings.expect(
        report.score >= OBSERVATORY_MINIMUM,
        f"{summary}; an A needs {OBSERVATORY_MINIMUM}. Penalties: "
        + "; ".join(f"{t.test} {t.modifier:+d} ({t.result})" for t in failed),
        summary + (" (login cookies graded too)" if with_login else ""),
    )


# -- legitimate flows --------------------------------------------------------------------------
class _Page(HTMLParser):
    """The search page's shape: (tag, attribute names) in order, the input's value and the
    results heading's text, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shape: list[tuple[str, tuple[str, ...]]] = []
        self.value: str | None = None
        self.heading = ""
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.shape.append((tag, tuple(sorted(name for name, _ in attrs))))
        attributes = dict(attrs)
        if tag == "input" and attributes.get("id") == "q":
            self.value = attributes.get("value")
        self._in_heading = tag == "h2" and attributes.get("id") == "results-for"

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_heading = False

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self.heading += data


def _parse(client: httpx.Client, q: str) -> tuple[httpx.Response, _Page]:
    response = client.get("/", params={"q": q})
    page = _Page()
    page.feed(response.text)
    return response, page


def _encoding_battery(target: Target, findings: Findings) -> None:
    """Payloads must leave the page's shape alone; legitimate text must round-trip exactly."""
    with target.client() as client:
        _, baseline = _parse(client, f"zz{secrets.token_hex(3)}")
        payloads = xss.xss_payloads("labkitProbe")
        for context, payload in payloads.items():
            response, page = _parse(client, payload)
            if response.status_code != 200:
                findings.fail(f"the search for a {context} payload answered "
                              f"{response.status_code}{_fault(response)}")  # fmt: skip
                continue
            findings.expect(
                page.shape == baseline.shape,
                f"the {context} payload {payload!r} changed the page's HTML (new elements or "
                "attributes): it is not encoded for that context",
            )
        for q in LEGIT_QUERIES:
            response, page = _parse(client, q)
            findings.expect(
                page.value == q and page.heading == f"Results for {q}",
                f"searching {q!r} does not show it as typed (input value {page.value!r}, "
                f"heading {page.heading!r}): not encoded, or encoded twice",
            )
        tea = client.get("/", params={"q": "tea"}).text
        findings.expect("The Book of Tea" in tea, "searching 'tea' no longer finds The Book of Tea")
    findings.saw("payloads in element and attribute context stayed text; searches show as typed")


def _browser_login(browser: Browser, victim_url: str, email: str, password: str) -> str:
    """Log in through the site's own form and script; the email /profile then shows."""
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(victim_url + "/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("#submit")
        page.wait_for_url(victim_url + "/profile", timeout=10_000)
        shown = page.text_content("#email") or ""
    except Exception as exc:  # playwright TimeoutError: the script or the cookie failed
        shown = f"(no profile: {type(exc).__name__})"
    finally:
        ctx.close()
    return shown


def _login_flow_probe(target: Target) -> Callable[[Browser], Probe]:
    email, password = _victim(target)

    def work(browser: Browser) -> Probe:
        shown = _browser_login(browser, target.url, email, password)
        ok = shown == email
        evidence = f"/profile shows {shown!r}"
        return Probe("legitimate login", ok, evidence, f"Chromium {browser.version}")

    return work


def _login_flow_simulated(target: Target) -> Probe:
    with target.client() as client:
        login = _login(client, target)
        cookies = [parse_set_cookie(c) for c in login.headers.get_list("set-cookie")]
        script = client.get("/static/login.js")
        ok = login.status_code == 200 and any(c.name == "session" for c in cookies)
        ok = ok and not xss.mime_blocks_script(script.headers)
        token = login.json().get("accessToken", "") if ok else ""
        profile = client.get("/profile", headers={"Cookie": f"session={token}"})
        ok = ok and profile.status_code == 200
    return Probe("legitimate login", ok, f"/profile answered {profile.status_code}", xss.SIMULATION)


def _expect_blocked(
    findings: Findings, probes: Sequence[Probe], *, legit: Sequence[str] = ()
) -> None:
    for probe in probes:
        if probe.attack in legit:
            findings.expect(probe.succeeded, f"{probe.attack} broke: {probe.evidence}", repr(probe))
        else:
            findings.expect(not probe.succeeded, f"{probe!r}", repr(probe))


# -- attacks ----------------------------------------------------------------------------------
def _answer_url(ctx: CheckContext) -> str | Verdict:
    answer = ctx.answer
    if not isinstance(answer, str) or not answer.startswith(ctx.target.url + "/"):
        return Verdict(False, f"expected a URL on the lab app ({ctx.target.url}/...), "
                              f"got {type(answer).__name__}")  # fmt: skip
    return answer


@LAB.check(
    "steal-cookie",
    title="Steal the victim's session cookie with a reflected XSS link",
    kind="attack",
    hints=(
        "The search page prints q twice without encoding. Try lab.client.get('/', "
        "params={'q': '<b>hi</b>'}).text.",
        "xss.cookie_stealer(lab.urls['attacker']) is a <script> that sends document.cookie "
        "to the attacker's /steal.",
        "Hand in xss.search_url(lab.url, payload): the victim, logged in, opens it.",
    ),
    answer_help="a URL on the lab app that the victim opens",
)
def steal_cookie(ctx: CheckContext) -> Verdict:
    url = _answer_url(ctx)
    if isinstance(url, Verdict):
        return url
    findings = Findings()
    victim, attacker = ctx.target.url, _attacker(ctx.target)
    (probe,) = _probes(
        lambda b: [xss.steal_cookie(victim, attacker, url, browser=b)],
        lambda: [xss.simulate_steal_cookie(victim, url)],
        findings,
    )
    findings.expect(probe.succeeded, repr(probe), repr(probe))
    if probe.succeeded and not probe.simulated:
        with ctx.target.client() as client:
            profile = client.get(
                "/api/profile", headers={"Cookie": f"session={probe.data['cookie']}"}
            )
        findings.expect(
            profile.status_code == 200,
            "the stolen cookie does not open the victim's account",
            f"with the stolen cookie, /api/profile answers as {profile.json().get('email')}",
        )
    return findings.verdict(
        "the victim's session cookie reached the attacker's site",
        "the attacker's site did not receive the victim's session cookie",
    )


@LAB.check(
    "clickjack",
    title="Make the victim click the profile's hidden button through a frame",
    kind="attack",
    hints=(
        "lab.client.get('/static/site.css').text says where #share sits on /profile.",
        "xss.clickjack_page(lab.url + '/profile', top=..., left=...) frames it over a decoy.",
        "Hand in the page's HTML; the check hosts it on the attacker's site and the victim "
        "clicks #prize.",
    ),
    answer_help="the HTML of your attacker page (with a #prize element to click)",
)
def clickjack(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str) or "<iframe" not in ctx.answer.lower():
        return Verdict(False, "expected the HTML of an attacker page with an <iframe>")
    attacker = _attacker(ctx.target)
    with httpx.Client(base_url=attacker, trust_env=False, timeout=30) as client:
        hosted = client.post("/api/_lab/pages", json={"html": ctx.answer})
    if hosted.status_code != 200:
        return Verdict(False, f"the attacker's site refused the page: {hosted.text[:120]}")
    page_url = attacker + hosted.json()["url"]
    findings = Findings()
    victim = ctx.target.url
    (probe,) = _probes(
        lambda b: [xss.clickjack(victim, attacker, page_url, browser=b)],
        lambda: [xss.simulate_clickjack(victim, page_url)],
        findings,
    )
    done = (
        probe.data.get("rendered", False) if probe.simulated else probe.data.get("clicked_through")
    )
    findings.expect(bool(done), repr(probe), repr(probe))
    return findings.verdict(
        "the victim's own click changed her profile, through your frame",
        "the click did not go through to the framed page",
    )


@LAB.check(
    "sniff-upload",
    title="Run an uploaded text file as a script, past script-src 'self'",
    kind="attack",
    hints=(
        "Upload JavaScript as a .txt file: POST /api/uploads {filename, content} (log in "
        "first); the app serves it as text/plain.",
        "Inject xss.script_include(upload_url) through the search page: no inline code.",
        "The check adds script-src 'self' to the app's pages: only same-origin files run.",
    ),
    answer_help="a URL on the lab app whose page includes your upload with <script src>",
)
def sniff_upload(ctx: CheckContext) -> Verdict:
    url = _answer_url(ctx)
    if isinstance(url, Verdict):
        return url
    findings = Findings()
    victim, attacker = ctx.target.url, _attacker(ctx.target)
    policy = "script-src 'self'"
    (probe,) = _probes(
        lambda b: [xss.steal_cookie(victim, attacker, url, extra_csp=policy, browser=b)],
        lambda: [xss.simulate_steal_cookie(victim, url, extra_csp=policy)],
        findings,
    )
    findings.expect(probe.succeeded, repr(probe), repr(probe))
    with ctx.target.client() as client:
        page = client.get(url)
    uploads = [s for s in _script_sources(page.text) if urlsplit(s).path.startswith("/uploads/")]
    findings.expect(
        bool(uploads),
        "the page includes no /uploads/ file with <script src>",
        f"under script-src 'self' (added by the check) the browser ran {uploads[:1]}, "
        "served as text/plain without nosniff",
    )
    return findings.verdict(
        "a text/plain upload ran as a script on the app's origin",
        "no uploaded file ran as a script",
    )


class _ScriptSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        src = dict(attrs).get("src")
        if tag == "script" and src:
            self.found.append(src)


def _script_sources(html: str) -> list[str]:
    parser = _ScriptSources()
    parser.feed(html)
    return parser.found


@LAB.check(
    "referer-leak",
    title="Read the victim's password-reset token from a Referer",
    kind="attack",
    hints=(
        "xss.referer_leak(lab.url, lab.urls['attacker']) plays the victim: she opens her "
        "reset link and clicks 'help centre'.",
        "xss.loot(lab.urls['attacker'], 'referer') is the help centre's log.",
        "The token is the ?token= of the Referer URL: urllib.parse helps.",
    ),
    answer_help="the reset token (a string)",
)
def referer_leak(ctx: CheckContext) -> Verdict:
    token = ctx.answer
    if not isinstance(token, str) or not token:
        return Verdict(False, f"expected the reset token as a string, got {type(token).__name__}")
    referers = [e["value"] for e in xss.loot(_attacker(ctx.target), "referer")]
    leaked = [r for r in referers if parse_qs(urlsplit(r).query).get("token") == [token]]
    findings = Findings()
    findings.expect(
        bool(leaked),
        "this token never reached the help centre in a Referer",
        f"the help centre received it in Referer: {leaked[0][:80] if leaked else ''}",
    )
    with ctx.target.client() as client:
        status = client.get(f"/api/auth/reset/{token}")
    findings.expect(
        status.status_code == 200,
        "the token is not (or no longer) a valid reset token",
        f"it resets the password of {status.json().get('email', '?')}",
    )
    return findings.verdict(
        "the reset token leaked to a third party in the Referer",
        "the token did not leak through a Referer, or is not valid",
    )


# -- fixes ------------------------------------------------------------------------------------
@LAB.check(
    "headers",
    title="One middleware: CSP, nosniff, Referrer-Policy, HSTS over HTTPS, COOP/CORP",
    kind="fix",
    fixes=("security_headers",),
    hints=(
        "Return a dict of header name -> value; add Strict-Transport-Security only when "
        "https is True (RFC 6797 §7.2).",
        "CSP: default-src 'self', no 'unsafe-inline' for scripts, object-src 'none', "
        "frame-ancestors 'none'.",
        "Referrer-Policy: strict-origin-when-cross-origin; X-Content-Type-Options: nosniff; "
        "Cross-Origin-Opener-Policy and -Resource-Policy: same-origin.",
    ),
)
def headers(ctx: CheckContext) -> Verdict:
    patched = ctx.require_patched()
    findings = Findings()
    _header_battery(patched, findings)
    victim, attacker = patched.url, _attacker(patched)
    url = xss.search_url(victim, xss.cookie_stealer(attacker))
    login = _login_flow_probe(patched)

    def work(b: Browser) -> list[Probe]:
        return [
            xss.steal_cookie(victim, attacker, url, browser=b),
            xss.clickjack(victim, attacker, browser=b),
            xss.sniff_upload(victim, browser=b),
            xss.referer_leak(victim, attacker, browser=b),
            login(b),
        ]

    def simulate() -> list[Probe]:
        return [
            xss.simulate_steal_cookie(victim, url),
            xss.simulate_clickjack(victim, attacker + "/"),
            xss.simulate_sniff_upload(victim),
            xss.simulate_referer_leak(victim),
            _login_flow_simulated(patched),
        ]

    _expect_blocked(findings, _probes(work, simulate, findings), legit=("legitimate login",))
    _grade(patched, findings, with_login=False)
    return findings.verdict(
        "the browser now refuses the XSS, the frame, the sniffed upload and the leak",
        "the headers do not hold yet: see which header or attack below",
    )


@LAB.check(
    "cookie",
    title="A session cookie no script can read",
    kind="fix",
    fixes=("session_cookie",),
    hints=(
        "Return the keyword arguments for set_cookie: httponly, secure, samesite, path.",
        "HttpOnly hides the cookie from document.cookie; Secure keeps it off plain HTTP "
        "(browsers treat http://127.0.0.1 as secure); SameSite='lax' keeps it home.",
        "path='/' so /profile still gets it.",
    ),
)
def cookie(ctx: CheckContext) -> Verdict:
    patched = ctx.require_patched()
    findings = Findings()
    with patched.client() as client:
        login = _login(client, patched)
    if not findings.expect(
        login.status_code == 200, f"login answered {login.status_code}{_fault(login)}"
    ):
        return findings.verdict("", "the login is broken")
    sessions = [parse_set_cookie(c) for c in login.headers.get_list("set-cookie")]
    session = next((c for c in sessions if c.name == "session"), None)
    if session is None:
        return Verdict(False, "the login sets no session cookie")
    findings.expect(session.httponly, "the session cookie lacks HttpOnly", "HttpOnly")
    findings.expect(session.secure, "the session cookie lacks Secure", "Secure")
    findings.expect(
        (session.samesite or "").lower() in ("lax", "strict"),
        f"SameSite must be Lax or Strict, got {session.samesite!r}",
        f"SameSite={session.samesite}",
    )
    victim, attacker = patched.url, _attacker(patched)
    url = xss.search_url(victim, xss.cookie_stealer(attacker))
    login_flow = _login_flow_probe(patched)
    probes = _probes(
        lambda b: [xss.steal_cookie(victim, attacker, url, browser=b), login_flow(b)],
        lambda: [xss.simulate_steal_cookie(victim, url), _login_flow_simulated(patched)],
        findings,
    )
    _expect_blocked(findings, probes, legit=("legitimate login",))
    return findings.verdict(
        "the XSS still runs here, but finds no session cookie to steal",
        "the session cookie is still within reach",
    )


@LAB.check(
    "encoding",
    title="Encode output: the search page shows what was typed, and runs none of it",
    kind="fix",
    fixes=("escape",),
    hints=(
        'Every value goes into element text AND into value="...": & < > " \' all matter.',
        "html.escape(text, quote=True) is the standard library's answer (OWASP XSS "
        "Prevention rules 1 and 2).",
        "Escape once: escaping twice shows &amp;lt; to the reader.",
    ),
)
def encoding(ctx: CheckContext) -> Verdict:
    patched = ctx.require_patched()
    findings = Findings()
    _encoding_battery(patched, findings)
    victim = patched.url
    probes = _probes(
        lambda b: [xss.reflected_xss(victim, browser=b)],
        lambda: [xss.simulate_reflected_xss(victim)],
        findings,
    )
    _expect_blocked(findings, probes)
    return findings.verdict(
        "payloads stay text even with CSP switched off; searches show as typed",
        "the search page still turns input into markup",
    )


@LAB.check(
    "verify",
    title="Replay every attack against your full fix",
    kind="fix",
    fixes=("security_headers", "session_cookie", "escape"),
    hints=("Run the three fix checks above first: this one replays all of them together.",),
)
def verify(ctx: CheckContext) -> Verdict:
    patched = ctx.require_patched()
    findings = Findings()
    _header_battery(patched, findings)
    _encoding_battery(patched, findings)
    with patched.client() as client:
        login = _login(client, patched)
        sessions = [parse_set_cookie(c) for c in login.headers.get_list("set-cookie")]
        findings.expect(
            any(c.name == "session" and c.httponly and c.secure for c in sessions),
            "the session cookie must be HttpOnly and Secure",
        )
        legit_upload = client.post(
            "/api/uploads",
            json={"filename": "notes.txt", "content": "2 + 2 < 5"},
            headers={"Authorization": f"Bearer {login.json().get('accessToken', '')}"},
        )
        served = client.get(legit_upload.json()["url"]) if legit_upload.status_code == 201 else None
        findings.expect(
            served is not None and served.text == "2 + 2 < 5",
            "uploading and downloading a text file no longer works",
        )
    if findings.problems:
        return findings.verdict("", "the fix is not complete yet")
    victim, attacker = patched.url, _attacker(patched)
    steal = xss.search_url(victim, xss.cookie_stealer(attacker))
    login_flow = _login_flow_probe(patched)

    def work(b: Browser) -> list[Probe]:
        return [
            xss.steal_cookie(victim, attacker, steal, browser=b),
            xss.steal_cookie(victim, attacker, steal, bypass_csp=True, browser=b),
            xss.reflected_xss(victim, browser=b),
            xss.clickjack(victim, attacker, browser=b),
            xss.sniff_upload(victim, browser=b),
            xss.referer_leak(victim, attacker, browser=b),
            login_flow(b),
        ]

    def simulate() -> list[Probe]:
        return [
            xss.simulate_steal_cookie(victim, steal),
            xss.simulate_steal_cookie(victim, steal, bypass_csp=True),
            xss.simulate_reflected_xss(victim),
            xss.simulate_clickjack(victim, attacker + "/"),
            xss.simulate_sniff_upload(victim),
            xss.simulate_referer_leak(victim),
            _login_flow_simulated(patched),
        ]

    _expect_blocked(findings, _probes(work, simulate, findings), legit=("legitimate login",))
    _grade(patched, findings, with_login=True)
    return findings.verdict(
        "every attack fails in the browser, the site still works, and the headers grade A",
        "the replay found a way in",
    )
