"""10-cors: read a victim's account cross-origin, with their cookie — then allow only the
origins you trust.

Every check works over HTTP or in a real browser against running apps: the lab's app
(``urls["main"]``), the attacker's page (``urls["attacker"]``) and the legitimate frontend
(``urls["frontend"]``), each its own origin. The victim's login comes from the lab-only
route ``/api/_lab/victim`` (what the victim types into their own browser).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import httpx

from labkit.attacks.cors import (
    ORIGIN_BATTERY,
    CrossOriginRead,
    cors_check,
    cross_origin_reads,
    origin_of,
    probe_origin,
)
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition

__all__ = ["APP_ORIGIN", "LAB"]

LAB = LabDefinition("10-cors", "10 · CORS", "labkit.sandbox.apps.cors")

APP_ORIGIN = "https://app.example.com"
ACCOUNT, VICTIM, LOGIN = "/api/account", "/api/_lab/victim", "/api/auth/login"
#: Methods the API never needs cross-origin; a preflight for them must fail.
UNNEEDED_METHODS = ("DELETE", "PATCH")
#: Browsers cap the preflight cache (Firefox 24 h, Chromium 2 h); longer is a mistake.
MAX_AGE_LIMIT_S = 86400
#: The https origins the browser can be made to visit (the spoofed attacker pages).
BROWSER_SPOOFS = ("reflected", "suffix", "prefix", "regex")


# -- helpers the checks share ------------------------------------------------------------
def _victim(target: Target) -> tuple[str, str]:
    with target.client() as client:
        body = client.get(VICTIM).json()
    return str(body["email"]), str(body["password"])


def _session(client: httpx.Client, victim: tuple[str, str]) -> dict[str, str]:
    """The victim logs in; returns their cookies (the session cookie a browser would hold)."""
    response = client.post(LOGIN, json={"email": victim[0], "password": victim[1]})
    if response.status_code != 200:
        raise RuntimeError(f"the victim could not log in (HTTP {response.status_code})")
    return dict(response.cookies)


def _account(client: httpx.Client, victim: tuple[str, str]) -> dict[str, object]:
    token = client.post(LOGIN, json={"email": victim[0], "password": victim[1]}).json()
    headers = {"Authorization": f"Bearer {token['accessToken']}"}
    return dict(client.get(ACCOUNT, headers=headers).json())


def _fault(client: httpx.Client) -> str:
    """The app's ``labkitFault`` when the learner's settings could not be used, else ""."""
    response = client.get(ACCOUNT)
    if response.status_code != 500:
        return ""
    try:
        return str(response.json().get("labkitFault", "the app answered 500"))
    except ValueError:
        return "the app answered 500"


def _is_origin(text: str) -> bool:
    parts = urlsplit(text)
    return text == "null" or (
        parts.scheme in ("http", "https") and bool(parts.netloc) and text == origin_of(text)
    )


# -- attacks -----------------------------------------------------------------------------
@LAB.check(
    "steal-account",
    title="Read the victim's account from the attacker's origin, in a browser",
    kind="attack",
    hints=(
        "lab.urls['attacker'] is the attacker's page; lab.urls['main'] the API.",
        "cors.cross_origin_reads(lab.urls['main'], lab.urls['attacker'], victim=victim) logs "
        "the victim in, then opens the attacker's page, which fetches /api/account with "
        "credentials.",
        "Hand in the account the attacker page read: reads[0].body",
    ),
    answer_help="the account dict the attacker's page read",
)
def steal_account(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, dict):
        return Verdict(False, f"expected the account dict, got {type(ctx.answer).__name__}")
    attacker = ctx.target.urls.get("attacker")
    if not attacker:
        return Verdict(False, "this lab has no attacker page (is this the 10-cors app?)")
    victim = _victim(ctx.target)
    findings = Findings()
    with ctx.target.client() as client:
        real = _account(client, victim)
        probe = probe_origin(client, origin_of(attacker), cookies=_session(client, victim))
    findings.expect(
        ctx.answer.get("recoveryCode") == real.get("recoveryCode")
        and ctx.answer.get("email") == victim[0],
        "that is not the victim's account (compare the email and recovery code)",
        f"you hold {victim[0]}'s recovery code and IBAN",
    )
    findings.expect(
        probe.readable,
        f"the API does not let {origin_of(attacker)} read with credentials",
        f"the API answered Origin {probe.origin} with Access-Control-Allow-Origin "
        f"{probe.allow_origin!r} and Allow-Credentials {probe.allow_credentials!r}",
    )
    return findings.verdict(
        "the attacker's page read the victim's account", "the account was not stolen yet"
    )


def _gateway_check(gateway: str, expectation: str) -> Callable[[CheckContext], Verdict]:
    def run(ctx: CheckContext) -> Verdict:
        origin = ctx.answer
        if not isinstance(origin, str) or not _is_origin(origin):
            return Verdict(
                False,
                f"expected an origin such as 'https://host', got {origin!r}",
                ("an origin is scheme://host[:port]: no path, no trailing slash",),
            )
        host = urlsplit(origin).hostname
        if origin == APP_ORIGIN:
            return Verdict(False, f"{APP_ORIGIN} is the real frontend: find an attacker's origin")
        if gateway == "http" and not (origin.startswith("http://") and host == "app.example.com"):
            return Verdict(False, expectation)
        if gateway != "http" and host == "app.example.com":
            return Verdict(False, expectation)
        victim = _victim(ctx.target)
        path = f"/api/legacy/{gateway}/account"
        with ctx.target.client() as client:
            cookies = _session(client, victim)
            probe = probe_origin(client, origin, path=path, cookies=cookies)
            headers = {
                "Origin": origin,
                "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            }
            response = client.get(path, headers=headers)
        findings = Findings()
        findings.expect(
            probe.readable and response.status_code == 200,
            f"the {gateway} gateway did not let {origin} read (Access-Control-Allow-Origin "
            f"{probe.allow_origin!r}); {expectation}",
            f"{path} answered Origin {origin} with Access-Control-Allow-Origin "
            f"{probe.allow_origin!r} and credentials allowed: a page there reads the account",
        )
        if findings.problems == [] and "Origin" not in probe.vary:
            findings.saw("no Vary: Origin either — a cache may serve this answer to others")
        return findings.verdict(
            f"the {gateway} mistake lets {origin} read the account", f"{origin} got nothing"
        )

    run.__name__ = f"{gateway}_origin"
    return run


for _gateway, _title, _expectation, _hints in (
    (
        "null",
        "Get through a gateway that trusts the 'null' origin",
        "this gateway trusts one special origin that any page can produce",
        (
            "Which Origin does a sandboxed iframe send?",
            "cors.probe_origin(lab.client, 'null', path='/api/legacy/null/account')",
        ),
    ),
    (
        "suffix",
        "Get through a gateway that checks the end of the origin",
        "the suffix gateway wants an origin that ENDS like the app's — on a host you register",
        (
            "It checks origin.endswith('app.example.com'). Who else's name ends like that?",
            "Try 'https://evilapp.example.com'.",
        ),
    ),
    (
        "prefix",
        "Get through a gateway that checks the start of the origin",
        "the prefix gateway wants an origin that STARTS like the app's — on a host you own",
        (
            "It checks origin.startswith('https://app.example.com').",
            "A domain can start with app.example.com and end with your own: "
            "'https://app.example.com.evil.net'.",
        ),
    ),
    (
        "regex",
        "Get through a gateway whose regex has unescaped dots",
        "the regex gateway wants a host that matches app.example.com with other characters "
        "where the dots are",
        (
            "In a regex, '.' matches any character.",
            "Try 'https://appxexample.com' — a domain anyone can register.",
        ),
    ),
    (
        "http",
        "Get through a gateway that ignores the scheme",
        "the http gateway wants the app's host over plain http",
        (
            "The host is checked, not the scheme.",
            "Try 'http://app.example.com': anyone on the victim's Wi-Fi can inject into it.",
        ),
    ),
):
    LAB.check(
        f"{_gateway}-origin",
        title=_title,
        kind="attack",
        hints=_hints,
        answer_help="an origin string, e.g. 'https://host.example'",
    )(_gateway_check(_gateway, _expectation))


# -- fix checks --------------------------------------------------------------------------
def _refused_origins(patched: Target) -> dict[str, str]:
    origins = {f"{name} ({origin})": origin for name, origin in ORIGIN_BATTERY.items()}
    attacker = patched.urls.get("attacker")
    if attacker:
        origins[f"attacker sandbox ({origin_of(attacker)})"] = origin_of(attacker)
    return origins


def _trusted_origins(patched: Target) -> list[str]:
    frontend = patched.urls.get("frontend")
    return [APP_ORIGIN] + ([origin_of(frontend)] if frontend else [])


def _battery(patched: Target, findings: Findings) -> None:
    """The origin battery over HTTP: refused origins get no ACAO; trusted ones theirs."""
    victim = _victim(patched)
    with patched.client() as client:
        cookies = _session(client, victim)
        refused = []
        for label, origin in _refused_origins(patched).items():
            for preflight in (None, "PUT"):
                probe = probe_origin(client, origin, preflight=preflight, cookies=cookies)
                kind = "preflight for PUT" if preflight else "GET"
                if probe.allow_origin is not None:
                    findings.fail(
                        f"{label}: {kind} {ACCOUNT} answered Access-Control-Allow-Origin "
                        f"{probe.allow_origin!r} — it must be absent for an untrusted origin"
                    )
                elif preflight is None:
                    refused.append(label.split(" ")[0])
                if preflight is None and "origin" not in probe.vary.lower():
                    findings.fail(f"{label}: GET {ACCOUNT} has no Vary: Origin")
        if refused:
            findings.saw(f"no Access-Control-Allow-Origin for: {', '.join(refused)}")
        for origin in _trusted_origins(patched):
            probe = probe_origin(client, origin, cookies=cookies)
            if findings.expect(
                probe.allow_origin == origin and probe.allow_credentials == "true",
                f"the trusted origin {origin} must get Access-Control-Allow-Origin {origin!r} "
                f"and Allow-Credentials 'true' (got {probe.allow_origin!r}, "
                f"{probe.allow_credentials!r})",
                f"{origin} is allowed, with credentials",
            ):
                findings.expect(
                    "origin" in probe.vary.lower(),
                    f"the answer to {origin} has no Vary: Origin (caches would reuse it)",
                    f"Vary: {probe.vary}",
                )


def _preflight(patched: Target, findings: Findings) -> None:
    """Preflights: the frontend's PUT passes; other methods and headers do not; bounded cache."""
    frontend = patched.urls.get("frontend")
    origin = origin_of(frontend) if frontend else APP_ORIGIN
    base = {"Origin": origin}
    with patched.client() as client:
        ok = client.options(
            ACCOUNT,
            headers={
                **base,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        methods = {
            m.strip().upper()
            for m in ok.headers.get("access-control-allow-methods", "").split(",")
            if m.strip()
        }
        passed = 200 <= ok.status_code < 300 and cors_check(ok.headers, origin, credentials=True)
        if findings.expect(
            passed and "PUT" in methods,
            f"the frontend's preflight (PUT, Content-Type from {origin}) failed: HTTP "
            f"{ok.status_code}, Allow-Origin {ok.headers.get('access-control-allow-origin')!r}, "
            f"Allow-Methods {ok.headers.get('access-control-allow-methods')!r}",
            f"the frontend may PUT (Allow-Methods: {', '.join(sorted(methods))})",
        ):
            extra = sorted(set(UNNEEDED_METHODS) & methods) or (["*"] if "*" in methods else [])
            findings.expect(
                not extra,
                f"Allow-Methods includes {', '.join(extra)}: list only what the API serves "
                "cross-origin (GET, PUT)",
            )
            age = ok.headers.get("access-control-max-age")
            findings.expect(
                age is not None and age.isdigit() and 0 < int(age) <= MAX_AGE_LIMIT_S,
                f"Access-Control-Max-Age is {age!r}: set a bounded preflight cache "
                f"(1 to {MAX_AGE_LIMIT_S} s)",
                f"preflights cached for {age} s",
            )
        for method, header in (("DELETE", "content-type"), ("PUT", "x-evil-header")):
            response = client.options(
                ACCOUNT,
                headers={
                    **base,
                    "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": header,
                },
            )
            allowed_methods = response.headers.get("access-control-allow-methods", "")
            allowed_headers = response.headers.get("access-control-allow-headers", "").lower()
            browser_ok = (
                200 <= response.status_code < 300
                and cors_check(response.headers, origin, credentials=True)
                and (method in allowed_methods.upper() or allowed_methods == "*")
                and (header in allowed_headers or allowed_headers == "*")
            )
            findings.expect(
                not browser_ok,
                f"a preflight for {method} with header {header} passes: allow only the methods "
                "and headers the frontend uses",
                f"a preflight for {method} + {header} is refused",
            )


def _browser(patched: Target, findings: Findings) -> None:
    """The real exploit, replayed: attacker pages read nothing; the frontend still works."""
    attacker, frontend = patched.urls.get("attacker"), patched.urls.get("frontend")
    if not attacker or not frontend:
        findings.fail("the patched lab has no attacker page or frontend to test with")
        return
    pages: Sequence[str] = (
        "attacker",
        "null",
        *(ORIGIN_BATTERY[name] for name in BROWSER_SPOOFS),
    )
    reads = cross_origin_reads(
        patched.url, attacker, victim=_victim(patched), pages=pages, frontend_url=frontend
    )
    via = reads[0].via if reads else "?"
    findings.saw(f"replayed in {via}")
    for read in reads:
        if read.page == "frontend":
            findings.expect(
                read.stolen and read.wrote == 200,
                f"the legitimate frontend {read.origin} can no longer use the API "
                f"({_outcome(read)}; PUT {read.wrote})",
                f"the frontend {read.origin} reads and updates the account",
            )
        else:
            findings.expect(
                not read.readable,
                f"a page on {read.origin} could still read the response ({_outcome(read)})",
                f"{read.origin}: blocked",
            )


def _outcome(read: CrossOriginRead) -> str:
    if read.readable:
        return f"HTTP {read.status}"
    return read.error or "blocked"


Step = Callable[[Target, Findings], None]


def _fix_verdict(ctx: CheckContext, *steps: Step, passed: str, failed: str) -> Verdict:
    patched = ctx.require_patched()
    with patched.client() as client:
        fault = _fault(client)
    if fault:
        return Verdict(False, "your cors_settings could not be used", (fault,))
    findings = Findings()
    for step in steps:
        step(patched, findings)
    return findings.verdict(passed, failed)


FIX_HINTS = (
    "cors_settings(trusted_origins) returns the keyword arguments of Starlette's "
    "CORSMiddleware: allow_origins, allow_credentials, allow_methods, allow_headers, max_age.",
    "allow_origins must be the exact list you were given — no '*', no regex, no 'null'.",
    "The frontend reads with cookies (allow_credentials=True), sends PUT with JSON "
    "(allow_methods=['GET', 'PUT'], allow_headers=['Content-Type', 'Authorization']); "
    "max_age=600.",
)


@LAB.check(
    "origin-battery",
    title="Only the trusted origins get Access-Control-Allow-Origin",
    kind="fix",
    fixes=("cors_settings",),
    hints=FIX_HINTS,
)
def origin_battery(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        _battery,
        passed="every untrusted origin is refused; the trusted ones read with credentials",
        failed="your policy still answers an untrusted origin",
    )


@LAB.check(
    "preflight",
    title="Preflights: the frontend's PUT only, a bounded cache",
    kind="fix",
    fixes=("cors_settings",),
    hints=FIX_HINTS,
)
def preflight(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        _preflight,
        passed="preflights allow what the frontend needs and nothing more",
        failed="the preflight policy is wrong",
    )


@LAB.check(
    "browser-exploit",
    title="The browser exploit fails; the frontend still works",
    kind="fix",
    fixes=("cors_settings",),
    hints=FIX_HINTS,
)
def browser_exploit(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        _browser,
        passed="in the browser, attacker pages read nothing and the frontend still works",
        failed="the browser still leaks the account (or the frontend broke)",
    )


@LAB.check(
    "verify",
    title="Replay every attack and the legitimate flows against your fix",
    kind="fix",
    fixes=("cors_settings",),
    hints=FIX_HINTS,
)
def verify(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        _battery,
        _preflight,
        _browser,
        passed="the origin battery, the preflights and the browser exploit all fail; "
        "the frontend works",
        failed="an attack still works against your fix (or the frontend broke)",
    )
