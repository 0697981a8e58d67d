"""10-cors: read a victim's account cross-origin, with their cookie — then allow only the
origins you trust.

Every check works over HTTP or in a real browser against running apps: the lab's app
(``urls["main"]``), the attacker's page (``urls["attacker"]``) and the legitimate frontend
(``urls["frontend"]``), each its own origin. The victim's login comes from the lab-only
route ``/api/_lab/victim`` (what the victim types into their own browser).
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from labkit.attacks.cors import (
    ORIGIN_BATTERY,
    CrossOriginRead,
    cors_check,
    cross_origin_reads,
    origin_of,
    probe_origin,
    run_page_script,
)
from labkit.browser import BrowserUnavailable
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules

__all__ = ["APP_ORIGIN", "LAB"]

LAB = LabDefinition("10-cors", "10 · CORS", "labkit.sandbox.apps.cors", uses_browser=True)

APP_ORIGIN = "https://app.example.com"
ACCOUNT, VICTIM, LOGIN = "/api/account", "/api/_lab/victim", "/api/auth/login"
#: Browsers cap the preflight cache (Firefox 24 h, Chromium 2 h); longer is a mistake.
MAX_AGE_LIMIT_S = 86400
#: The https origins the browser can be made to visit (the spoofed attacker pages).
BROWSER_SPOOFS = ("reflected", "suffix", "prefix", "regex")
GATEWAYS = ("null", "suffix", "prefix", "regex", "http")
DEFAULT_PORTS = {"http": 80, "https": 443}
#: Top-level domains an attacker can register under, for judging attack answers: every
#: two-letter country code, and the generic ones people actually buy. A name under any other
#: last label (``.evil``, ``.attacker``, ``.local``, ``.test``) cannot be bought: no browser
#: ever reaches such an origin on the Internet.
_GENERIC = (
    "com net org info biz name pro xyz online site website store shop app dev page io ai co "
    "me tv cc ws cloud tech live blog news club top icu fun space digital email link click "
    "today world life one zone agency group company network systems solutions services "
    "bank money finance pay security codes tools software host hosting web center media"
)
GENERIC_TLDS = frozenset(_GENERIC.split())
#: RFC 2606 / RFC 6761 names that can never be registered.
RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local", "internal"})


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


def _not_sent_by_browsers(origin: str) -> str:
    """Why a browser would never send ``origin`` from a page an attacker can have, or ""
    (RFC 6454 §6.2 serialization: lower case, no userinfo, no default port; a host under a
    top-level domain anyone can register)."""
    if origin == "null":
        return ""
    parts = urlsplit(origin)
    try:
        port = parts.port
    except ValueError:
        return "its port is not a number"
    host = parts.hostname or ""
    if "@" in parts.netloc:
        return "an Origin header never carries userinfo (user@): the browser sends scheme://host"
    if port is not None and port == DEFAULT_PORTS.get(parts.scheme):
        return (
            f"a browser leaves out the default port: it sends {parts.scheme}://{host}, not :{port}"
        )
    if origin != origin.lower():
        return "a browser sends the host in lower case"
    labels = host.split(".")
    tld = labels[-1]
    if len(labels) < 2 or not all(labels):
        return f"{host!r} is not a domain anyone can register (no public top-level domain)"
    if tld in RESERVED_TLDS or not (tld in GENERIC_TLDS or (len(tld) == 2 and tld.isalpha())):
        return (
            f"'.{tld}' is not a top-level domain anyone can register, so no attacker page can "
            f"have {host} (use a name under .com, .net, .io or a country code)"
        )
    return ""


# -- attacks -----------------------------------------------------------------------------
STEAL_HINTS = (
    "The victim's browser sends her session cookie with a cross-origin request only when the "
    "page asks for it, and lets the page read the answer only when the API's CORS headers "
    "allow the page's origin with credentials — this API allows every origin.",
    "fetch(api + '/api/account', {credentials: 'include'}) from the attacker's page; await "
    "the response's .json() and return it (your script is the body of an async function, "
    "with `api` the bank's URL).",
    "The attacker page of labkit.attacks.cors.ATTACKER_PAGE does exactly this (its steal() "
    "function): return await (await fetch(api + '/api/account', {credentials: 'include'}))"
    ".json()",
)


def _leaked(value: Any, account: Mapping[str, Any]) -> bool:
    """The script's result holds the victim's private data (her recovery code)."""
    code = str(account.get("recoveryCode") or "")
    return bool(code) and code in json.dumps(value)


@LAB.check(
    "steal-account",
    title="Read the victim's account from the attacker's origin, in a browser",
    kind="attack",
    hints=STEAL_HINTS,
    answer_help="the JavaScript your attacker page runs (a str): the body of an async "
    "function of `api`, returning what it read",
)
def steal_account(ctx: CheckContext) -> Verdict:
    script = ctx.answer
    if not isinstance(script, str) or not script.strip():
        return Verdict(False, f"expected your page's JavaScript as a string, got {script!r}")
    attacker = ctx.target.urls.get("attacker")
    if not attacker:
        return Verdict(False, "this lab has no attacker page (is this the 10-cors app?)")
    victim = _victim(ctx.target)
    with ctx.target.client() as client:
        real = _account(client, victim)
    try:
        run = run_page_script(ctx.target.url, attacker, script, victim=victim)[0]
    except BrowserUnavailable as exc:
        return Verdict(False, "this check runs your script in Chromium, and there is none", (
            str(exc),))  # fmt: skip
    findings = Findings()
    findings.saw(f"the victim logged in, then opened the attacker's page {run.origin} ({run.via})")
    if not run.ok:
        findings.fail(f"your script threw: {run.error}")
    else:
        findings.expect(
            _leaked(run.value, real),
            f"your script returned {json.dumps(run.value)[:120]}: that is not the victim's "
            "account (return what the API answered, with her cookie)",
            f"your page read {victim[0]}'s account: recovery code {real.get('recoveryCode')}, "
            f"IBAN {real.get('iban')}",
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
        unreal = _not_sent_by_browsers(origin)
        if unreal:
            return Verdict(
                False,
                f"no browser would send Origin {origin!r} from an attacker's page",
                (unreal,),
            )
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


PROBE_HINT = (
    "Try a candidate over HTTP: lab.client.get('/api/legacy/<name>/account', headers="
    "{'Origin': candidate}); it gets through when Access-Control-Allow-Origin equals it "
    "and Access-Control-Allow-Credentials is 'true'."
)


def _last_hint(name: str) -> str:
    return (
        f"labkit.attacks.cors.ORIGIN_BATTERY[{name!r}] is {ORIGIN_BATTERY[name]!r}, and "
        "labkit.attacks.cors.probe_origin(lab.client, origin, path=...) tries it."
    )


for _gateway, _title, _expectation, _hints in (
    (
        "null",
        "Get through a gateway that trusts the 'null' origin",
        "this gateway trusts one special origin that any page can produce",
        (
            "Some pages have no origin of their own to send: a sandboxed iframe, a data: URL, a "
            "local file. What does the browser put in their Origin header?",
            PROBE_HINT,
            _last_hint("null"),
        ),
    ),
    (
        "suffix",
        "Get through a gateway that checks the end of the origin",
        "the suffix gateway wants an origin that ENDS like the app's — on a host you register",
        (
            "It checks origin.endswith('app.example.com'). A string check is not a domain "
            "check: which names you could register end with those characters?",
            PROBE_HINT,
            _last_hint("suffix"),
        ),
    ),
    (
        "prefix",
        "Get through a gateway that checks the start of the origin",
        "the prefix gateway wants an origin that STARTS like the app's — on a host you own",
        (
            "It checks origin.startswith('https://app.example.com'). Whose domain can start "
            "with app.example.com? Yours, if the labels after it are your domain.",
            PROBE_HINT,
            _last_hint("prefix"),
        ),
    ),
    (
        "regex",
        "Get through a gateway whose regex has unescaped dots",
        "the regex gateway wants a host that matches app.example.com with other characters "
        "where the dots are",
        (
            "In a regex, '.' matches any character: which registrable domains does "
            "^https://app.example.com$ match besides the app's?",
            PROBE_HINT,
            _last_hint("regex"),
        ),
    ),
    (
        "http",
        "Get through a gateway that ignores the scheme",
        "the http gateway wants the app's host over plain http",
        (
            "The host is checked, not the scheme. A page over plain http can be written by "
            "anyone on the victim's network (a café Wi-Fi).",
            PROBE_HINT,
            _last_hint("http"),
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


def _trusted_origins(patched: Target) -> list[str]:
    frontend = patched.urls.get("frontend")
    return [APP_ORIGIN] + ([origin_of(frontend)] if frontend else [])


# -- fix checks: the rules ---------------------------------------------------------------
ONLY_TRUSTED = Rule(
    "only-trusted",
    "Allow no origin but the trusted ones: another subdomain, port or scheme of a trusted "
    "origin, a look-alike host (app.example.com.evil.net, evilapp.example.com, "
    "appxexample.com), an origin you added yourself, or null gets no Access-Control-Allow-Origin "
    "— on a GET or a preflight, on every route (no '*', no allow_origin_regex that matches "
    "anything else).",
)
TRUSTED_ALLOWED = Rule(
    "trusted-allowed",
    "Allow every origin in trusted_origins exactly as given (any sequence: list, tuple...): "
    "each gets Access-Control-Allow-Origin equal to itself.",
)
CREDENTIALS = Rule(
    "credentials",
    "Allow credentials (allow_credentials=True): the frontend reads with its session cookie, "
    "so a trusted origin gets Access-Control-Allow-Credentials: true.",
)
ORIGIN_RULES = (ONLY_TRUSTED, TRUSTED_ALLOWED, CREDENTIALS)
PREFLIGHT_RULES = (
    Rule(
        "preflight-put",
        "Let the frontend's preflight pass: a PUT with Content-Type from a trusted origin "
        "(allow_methods with GET and PUT, allow_headers with Content-Type).",
    ),
    Rule(
        "methods-limited",
        "Allow no method the API does not serve cross-origin: only GET, PUT (and HEAD); a "
        "preflight for DELETE, PATCH, POST or any other method fails (no '*').",
    ),
    Rule(
        "headers-limited",
        "Allow no request header the frontend does not send: only Content-Type and "
        "Authorization (Starlette adds the CORS-safelisted Accept, Accept-Language, "
        "Content-Language); a preflight asking for any other header fails (no '*').",
    ),
    Rule(
        "max-age",
        f"max_age is a whole number of seconds from 0 (no caching) to {MAX_AGE_LIMIT_S} "
        "(Firefox's cap; Chromium caps at 7200).",
    ),
)
FRONTEND_WORKS = Rule(
    "frontend-works",
    "Keep the legitimate frontend working in the browser: it reads the account with its "
    "cookie and saves it back with a JSON PUT.",
)
BROWSER_RULES = (ONLY_TRUSTED, FRONTEND_WORKS)

#: Labels a team adds to an allowlist "for a while" (the seed's own list has admin.).
COMMON_LABELS = ("www", "admin", "api", "staging", "dev", "beta")
DEV_PORTS = (3000, 4200, 5173, 8000, 8080)
#: Headers the frontend never sends but a lax allowlist often lets through.
TEMPTING_HEADERS = ("x-requested-with", "x-api-key", "x-csrf-token", "x-http-method-override")


# -- fix checks: generated origins -------------------------------------------------------
def _word(rng: random.Random, size: int = 6) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(size))


def _split(origin: str) -> tuple[str, str, int | None]:
    parts = urlsplit(origin)
    return parts.scheme, parts.hostname or "", parts.port


def _join(scheme: str, host: str, port: int | None = None) -> str:
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def _is_ip(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host


def _hostile_origins(
    trusted: Sequence[str], attacker: str | None, rng: random.Random
) -> dict[str, str]:
    """Origins that must NOT be allowed, generated around each trusted one: other
    subdomains, ports, schemes, look-alike and regex-metacharacter hosts, userinfo, null."""
    found: dict[str, str] = {"null": "null", **{v: k for k, v in ORIGIN_BATTERY.items()}}
    if attacker:
        found[origin_of(attacker)] = "the attacker's sandbox"
    for origin in trusted:
        scheme, host, port = _split(origin)
        other = "http" if scheme == "https" else "https"
        found[_join(other, host, port)] = "other scheme"
        found[_join(scheme, host, rng.randrange(1024, 65536))] = "other port"
        found[_join(scheme, host, None if port else 8443)] = "other port"
        found[f"{scheme}://{_word(rng, 4)}@{host}" + (f":{port}" if port else "")] = "userinfo"
        found[f"{scheme}://{host}.{_word(rng)}.com"] = "look-alike (suffix added)"
        if _is_ip(host):
            found[_join(scheme, "localhost", port)] = "other host (localhost)"
            found[_join(scheme, f"127.0.0.{rng.randrange(2, 255)}", port)] = "other address"
            for dev in DEV_PORTS:
                found[_join("http", host, dev)] = "a dev server port"
                found[_join("http", "localhost", dev)] = "a dev server port"
            continue
        labels = host.split(".")
        for label in (*COMMON_LABELS, _word(rng)):
            found[_join(scheme, f"{label}.{host}", port)] = "subdomain"
            if len(labels) > 2:
                found[_join(scheme, ".".join([label, *labels[1:]]), port)] = "sibling"
        found[_join(scheme, ".".join(labels[1:]), port)] = "parent domain"
        found[_join(scheme, f"{_word(rng)}{host}", port)] = "look-alike (prefix added)"
        found[_join(scheme, f"{_word(rng, 4)}-{host}", port)] = "look-alike (prefix added)"
        found[_join(scheme, f"{host}.{_word(rng, 4)}", port)] = "look-alike (label added)"
        for dot in [i for i, c in enumerate(host) if c == "."]:
            swapped = host[:dot] + rng.choice(string.ascii_lowercase) + host[dot + 1 :]
            found[_join(scheme, swapped, port)] = "a '.' a regex matches"
    for origin in trusted:
        found.pop(origin, None)
    return {origin: label for origin, label in found.items()}


# -- fix checks: the learner's own exploits, replayed ------------------------------------
@dataclass(frozen=True)
class Exploits:
    """The learner's attacks, handed to a fix check as plain data: the attacker page's script
    (Attack 1) and the bypass origins (Attacks 2-6), each with the path of its gateway."""

    script: str | None = None
    origins: tuple[tuple[str, str], ...] = ()
    note: str = ""


NONE = Exploits()
EXPLOITS_SHAPE = "{'script': your page's JavaScript, 'origins': {gateway: origin, ...}}"


def _exploits(answer: Any) -> Exploits:
    if answer is None:
        return Exploits()
    if not isinstance(answer, Mapping):
        return Exploits(note=f"expected {EXPLOITS_SHAPE}, got {type(answer).__name__}")
    script = answer.get("script")
    origins = answer.get("origins") or {}
    if isinstance(origins, Mapping):
        items = [(str(k), v) for k, v in origins.items()]
    elif isinstance(origins, (list, tuple)):
        items = [("", v) for v in origins]
    else:
        items = []
    pairs = tuple(
        dict.fromkeys(
            (origin, f"/api/legacy/{gateway}/account" if gateway in GATEWAYS else ACCOUNT)
            for gateway, origin in items
            if isinstance(origin, str) and _is_origin(origin)
        )
    )
    return Exploits(script if isinstance(script, str) and script.strip() else None, pairs)


def _replay_origins(
    client: httpx.Client,
    mine: Exploits,
    trusted: Sequence[str],
    cookies: dict[str, str],
    findings: Findings,
) -> None:
    """The learner's bypass origins, each on its gateway and on /api/account."""
    origins = [(o, path) for o, path in mine.origins if o not in trusted]
    if not origins:
        return
    through = []
    for origin, path in origins:
        for route in dict.fromkeys((path, ACCOUNT)):
            for preflight in (None, "PUT"):
                probe = probe_origin(
                    client, origin, path=route, preflight=preflight, cookies=cookies
                )
                if probe.allow_origin is not None:
                    through.append(f"{origin} ({'preflight' if preflight else 'GET'} {route})")
    findings.expect(
        not through,
        f"your own bypass origins from Attacks 2-6 still get Access-Control-Allow-Origin: "
        f"{', '.join(through[:3])}",
        f"your {len(origins)} bypass origins from Attacks 2-6, replayed on their gateways: "
        "all refused now",
        rule="only-trusted",
    )


def _replay_script(patched: Target, attacker: str, mine: Exploits, findings: Findings) -> None:
    """The learner's attacker page (Attack 1), from the attacker's origin, a null iframe and
    one of their own https bypass origins, against the fix (the battery's pages cover the
    other spoofed origins; each costs a page load)."""
    if mine.script is None:
        return
    trusted = _trusted_origins(patched)
    spoofs = [o for o, _ in mine.origins if o.startswith("https://") and o not in trusted]
    pages = list(dict.fromkeys(["attacker", "null", *spoofs[:1]]))
    victim = _victim(patched)
    try:
        runs = run_page_script(patched.url, attacker, mine.script, victim=victim, pages=pages)
    except BrowserUnavailable:
        findings.saw("(your attacker page needs Chromium: not replayed)")
        return
    with patched.client() as client:
        account = _account(client, victim)
    leaked = [run.origin for run in runs if run.ok and _leaked(run.value, account)]
    refused = "; ".join(
        f"{run.origin}: {'threw ' + run.error[:40] if not run.ok else 'read nothing'}"
        for run in runs[:3]
    )
    findings.expect(
        not leaked,
        f"your attacker page from Attack 1 still reads the victim's account from "
        f"{', '.join(leaked)}",
        f"your attacker page from Attack 1 is now refused ({refused}"
        f"{'; ...' if len(runs) > 3 else ''})",
        rule="only-trusted",
    )


# -- fix checks: the batteries -----------------------------------------------------------
def _paths(rng: random.Random) -> list[str]:
    return [ACCOUNT, *(f"/api/legacy/{g}/account" for g in rng.sample(GATEWAYS, 2))]


def _battery(
    patched: Target, rng: random.Random, findings: Findings, mine: Exploits = NONE
) -> None:
    """The allowed set, compared with the trusted list: every trusted origin allowed with
    credentials, nothing else allowed — on GET and preflight, on several routes."""
    trusted = _trusted_origins(patched)
    hostile = _hostile_origins(trusted, patched.urls.get("attacker"), rng)
    paths = _paths(rng)
    victim = _victim(patched)
    allowed: dict[str, str] = {}
    unvaried: list[str] = []
    with patched.client() as client:
        cookies = _session(client, victim)
        for origin, label in hostile.items():
            path = rng.choice(paths)
            for preflight in (None, "PUT"):
                probe = probe_origin(
                    client, origin, path=path, preflight=preflight, cookies=cookies
                )
                kind = f"preflight {path}" if preflight else f"GET {path}"
                if probe.allow_origin is not None:
                    allowed.setdefault(origin, f"{origin} ({label}, on {kind})")
                if preflight is None and "origin" not in probe.vary.lower():
                    unvaried.append(f"{origin} on {path}")
        _judge_allowed(allowed, len(hostile), findings)
        _replay_origins(client, mine, trusted, cookies, findings)
        findings.expect(
            not unvaried,
            f"no Vary: Origin on the answer to {', '.join(unvaried[:2])}: a cache would serve "
            "it to other origins",
            rule="only-trusted",
        )
        for origin in trusted:
            _judge_trusted(client, origin, cookies, rng.choice(paths), findings)


def _judge_allowed(allowed: dict[str, str], total: int, findings: Findings) -> None:
    shown = "; ".join(list(allowed.values())[:3])
    more = f" and {len(allowed) - 3} more" if len(allowed) > 3 else ""
    findings.expect(
        not allowed,
        f"{len(allowed)} of {total} origins that are not trusted got "
        f"Access-Control-Allow-Origin: {shown}{more} — allow exactly the trusted origins",
        f"{total} generated origins (other subdomains, ports, schemes, look-alikes, userinfo, "
        "null): none allowed",
        rule="only-trusted",
    )


def _judge_trusted(
    client: httpx.Client, origin: str, cookies: dict[str, str], path: str, findings: Findings
) -> None:
    probe = probe_origin(client, origin, path=path, cookies=cookies)
    if not findings.expect(
        probe.allow_origin == origin,
        f"the trusted origin {origin} got Access-Control-Allow-Origin {probe.allow_origin!r} "
        f"on GET {path}: it must be {origin!r}",
        rule="trusted-allowed",
    ):
        return
    if findings.expect(
        probe.allow_credentials == "true",
        f"the trusted origin {origin} got Access-Control-Allow-Credentials "
        f"{probe.allow_credentials!r}: the frontend reads with its cookie — 'true'",
        f"{origin} is allowed, with credentials",
        rule="credentials",
    ):
        findings.expect(
            "origin" in probe.vary.lower(),
            f"the answer to {origin} has no Vary: Origin (caches would reuse it)",
            rule="only-trusted",
        )


def _allowed_list(value: str | None) -> set[str]:
    return {v.strip().lower() for v in (value or "").split(",") if v.strip()}


def _preflight_passes(
    response: httpx.Response, origin: str, method: str, header: str | None
) -> bool:
    """The Fetch standard's CORS-preflight check, for one method and one header."""
    methods = {
        m.upper() for m in _allowed_list(response.headers.get("access-control-allow-methods"))
    }
    headers = _allowed_list(response.headers.get("access-control-allow-headers"))
    return (
        200 <= response.status_code < 300
        and cors_check(response.headers, origin, credentials=True)
        and (method in methods or method in ("GET", "HEAD", "POST"))
        and (header is None or header.lower() in headers)
    )


def _ask(client: httpx.Client, origin: str, method: str, header: str | None) -> httpx.Response:
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if header:
        headers["Access-Control-Request-Headers"] = header
    return client.options(ACCOUNT, headers=headers)


def _preflight(
    patched: Target, rng: random.Random, findings: Findings, mine: Exploits = NONE
) -> None:
    """Preflights: the frontend's PUT passes; other methods and headers do not; bounded cache."""
    origin = rng.choice(_trusted_origins(patched))
    with patched.client() as client:
        ok = _ask(client, origin, "PUT", "content-type")
        if not findings.expect(
            _preflight_passes(ok, origin, "PUT", "content-type"),
            f"the frontend's preflight (PUT with Content-Type from {origin}) failed: HTTP "
            f"{ok.status_code}, Allow-Origin {ok.headers.get('access-control-allow-origin')!r}, "
            f"Allow-Methods {ok.headers.get('access-control-allow-methods')!r}",
            "the frontend may PUT with Content-Type",
            rule="preflight-put",
        ):
            return
        age = ok.headers.get("access-control-max-age")
        findings.expect(
            age is not None and age.isdigit() and int(age) <= MAX_AGE_LIMIT_S,
            f"Access-Control-Max-Age is {age!r}: a whole number of seconds from 0 to "
            f"{MAX_AGE_LIMIT_S}",
            f"preflights cached for {age} s",
            rule="max-age",
        )
        custom = _word(rng, 5).upper()
        methods = ["DELETE", "PATCH", "POST", custom]
        passed = [
            m for m in methods if _preflight_passes(_ask(client, origin, m, None), origin, m, None)
        ]
        findings.expect(
            not passed,
            f"a preflight for {', '.join(passed)} passes: allow only GET and PUT",
            f"preflights for {', '.join(methods)} fail",
            rule="methods-limited",
        )
        names = [*TEMPTING_HEADERS, f"x-{_word(rng)}", _word(rng, 8)]
        lax = [
            h for h in names if _preflight_passes(_ask(client, origin, "PUT", h), origin, "PUT", h)
        ]
        findings.expect(
            not lax,
            f"a PUT preflight asking for {', '.join(lax[:3])} passes: allow only the headers "
            "the frontend sends (Content-Type, Authorization)",
            f"preflights asking for {len(names)} other headers ({names[0]}, ...) fail",
            rule="headers-limited",
        )


def _browser(
    patched: Target, rng: random.Random, findings: Findings, mine: Exploits = NONE
) -> None:
    """The real exploit, replayed: attacker pages read nothing; the frontend still works."""
    attacker, frontend = patched.urls.get("attacker"), patched.urls.get("frontend")
    if not attacker or not frontend:
        findings.fail("the patched lab has no attacker page or frontend to test with")
        return
    pages: Sequence[str] = (
        "attacker",
        "null",
        *(ORIGIN_BATTERY[name] for name in BROWSER_SPOOFS),
        f"https://{_word(rng)}.{urlsplit(APP_ORIGIN).hostname}",
    )
    reads = cross_origin_reads(
        patched.url, attacker, victim=_victim(patched), pages=pages, frontend_url=frontend
    )
    via = reads[0].via if reads else "?"
    findings.saw(f"replayed in {via}")
    leaks = []
    for read in reads:
        if read.page == "frontend":
            findings.expect(
                read.stolen and read.wrote == 200,
                f"the legitimate frontend {read.origin} can no longer use the API "
                f"({_outcome(read)}; PUT {read.wrote})",
                f"the frontend {read.origin} reads and updates the account",
                rule="frontend-works",
            )
        elif read.readable:
            leaks.append(f"{read.origin} ({_outcome(read)})")
    attackers = [read.origin for read in reads if read.page != "frontend"]
    findings.expect(
        not leaks,
        f"pages on {', '.join(leaks[:4])}{' and more' if len(leaks) > 4 else ''} could still "
        "read the response",
        f"blocked: {', '.join(attackers)}",
        rule="only-trusted",
    )
    _replay_script(patched, attacker, mine, findings)


def _outcome(read: CrossOriginRead) -> str:
    if read.readable:
        return f"HTTP {read.status}"
    return read.error or "blocked"


Step = Callable[[Target, random.Random, Findings, Exploits], None]


def _fix_verdict(ctx: CheckContext, *steps: Step, passed: str, failed: str) -> Verdict:
    patched = ctx.require_patched()
    with patched.client() as client:
        fault = _fault(client)
    if fault:  # the runner names the cause once, under [no-crash]
        return Verdict(False, "your cors_settings could not be used")
    findings = Findings()
    mine = _exploits(ctx.answer)
    if mine.note:
        findings.saw(f"(your exploits were not replayed: {mine.note})")
    for step in steps:
        step(patched, ctx.rng, findings, mine)
    return findings.verdict(passed, failed)


FIX_HINTS = (
    "cors_settings(trusted_origins) returns the keyword arguments of Starlette's "
    "CORSMiddleware: allow_origins, allow_credentials, allow_methods, allow_headers, max_age.",
    "allow_origins is the list you were given, as it is — no '*', no regex, no 'null', "
    "nothing added.",
    "The frontend reads with cookies (allow_credentials=True), sends PUT with JSON "
    "(allow_methods=['GET', 'PUT'], allow_headers=['Content-Type', 'Authorization']); "
    "max_age from 0 to 86400, e.g. 600.",
)


@LAB.check(
    "origin-battery",
    title="Only the trusted origins get Access-Control-Allow-Origin",
    kind="fix",
    fixes=("cors_settings",),
    rules=ORIGIN_RULES,
    hints=FIX_HINTS,
)
def origin_battery(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        _battery,
        passed="every untrusted origin is refused; the trusted ones read with credentials",
        failed="your policy still answers an untrusted origin (or refuses a trusted one)",
    )


@LAB.check(
    "preflight",
    title="Preflights: the frontend's PUT only, a bounded cache",
    kind="fix",
    fixes=("cors_settings",),
    rules=PREFLIGHT_RULES,
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
    rules=BROWSER_RULES,
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
    rules=merge_rules(ORIGIN_RULES, PREFLIGHT_RULES, BROWSER_RULES),
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
