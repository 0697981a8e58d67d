"""Grade an app's security headers the way the MDN HTTP Observatory does (a faithful subset).

Sources, read for this module (MPL-2.0 code, re-expressed here, not copied):

* MDN, "HTTP Observatory — Tests & scoring",
  https://developer.mozilla.org/en-US/observatory/docs/tests_and_scoring
* github.com/mdn/mdn-http-observatory: ``src/grader/charts.js`` (modifiers, grade chart),
  ``src/scanner/index.js`` (baseline 100, extra credit only when the score without bonuses
  is at least 90), ``src/analyzer/cspParser.js`` and ``src/analyzer/tests/*.js`` (each test).

Graded, with the Observatory's modifiers: Content-Security-Policy (header and
``<meta http-equiv>``), cookies, CORS (an ``OPTIONS`` preflight from a foreign origin),
Referrer-Policy, Strict-Transport-Security, Subresource Integrity (``<script src>`` only),
X-Content-Type-Options, X-Frame-Options (``frame-ancestors`` counts), and
Cross-Origin-Resource-Policy. Not graded: redirection from port 80 to 443 (a loopback
sandbox has no port-80 twin; that is the TLS proxy's job) and HSTS preloading.

One deliberate extension, said in the report: the Observatory only sees cookies set while
it fetches ``/`` and ``/robots.txt``; :func:`scan` can also grade the cookies a login sets
(``more=``). Like the Observatory, scan the ``https://`` URL of a site: HSTS is graded only
there (a plain-HTTP scan scores ``hsts-not-implemented-no-https``).

This is an audit tool: it reads headers and never defends anything.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

__all__ = [
    "CORS_ORIGIN",
    "GRADE_CHART",
    "MINIMUM_SCORE_FOR_EXTRA_CREDIT",
    "REFERRER_PRIVATE",
    "Cookie",
    "ObservatoryReport",
    "TestResult",
    "grade_for",
    "grade_responses",
    "parse_csp",
    "parse_set_cookie",
    "scan",
]

#: The Origin the Observatory's CORS preflight carries (its retriever's ``corsOrigin``).
CORS_ORIGIN = "https://http-observatory.security.mozilla.org"
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90
#: Score rounded down to a multiple of 5 (capped at 100) -> letter (charts.js GRADE_CHART).
GRADE_CHART: dict[int, str] = {
    100: "A+", 95: "A", 90: "A", 85: "A-", 80: "B+", 75: "B", 70: "B", 65: "B-",
    60: "C+", 55: "C", 50: "C", 45: "C-", 40: "D+", 35: "D", 30: "D", 25: "D-",
    20: "F", 15: "F", 10: "F", 5: "F", 0: "F",
}  # fmt: skip

#: Every result this module can give, with the Observatory's score modifier.
MODIFIERS: dict[str, int] = {
    "csp-implemented-with-no-unsafe-default-src-none": 10,
    "csp-implemented-with-no-unsafe": 5,
    "csp-implemented-with-unsafe-inline-in-style-src-only": 0,
    "csp-implemented-with-insecure-scheme-in-passive-content-only": -10,
    "csp-implemented-with-unsafe-eval": -10,
    "csp-implemented-with-unsafe-inline": -20,
    "csp-implemented-with-insecure-scheme": -20,
    "csp-header-invalid": -25,
    "csp-not-implemented": -25,
    "cookies-secure-with-httponly-sessions-and-samesite": 5,
    "cookies-secure-with-httponly-sessions": 0,
    "cookies-not-found": 0,
    "cookies-without-secure-flag-but-protected-by-hsts": -5,
    "cookies-session-without-secure-flag-but-protected-by-hsts": -10,
    "cookies-without-secure-flag": -20,
    "cookies-samesite-flag-invalid": -20,
    "cookies-anticsrf-without-samesite-flag": -20,
    "cookies-session-without-httponly-flag": -30,
    "cookies-session-without-secure-flag": -40,
    "cross-origin-resource-sharing-not-implemented": 0,
    "cross-origin-resource-sharing-implemented-with-public-access": 0,
    "cross-origin-resource-sharing-implemented-with-restricted-access": 0,
    "cross-origin-resource-sharing-implemented-with-universal-access": -50,
    "referrer-policy-private": 5,
    "referrer-policy-not-implemented": 0,
    "referrer-policy-unsafe": -5,
    "referrer-policy-header-invalid": -5,
    "hsts-implemented-max-age-at-least-six-months": 0,
    "hsts-implemented-max-age-less-than-six-months": -10,
    "hsts-not-implemented": -20,
    "hsts-header-invalid": -20,
    "hsts-not-implemented-no-https": -20,
    "sri-implemented-and-all-scripts-loaded-securely": 5,
    "sri-implemented-and-external-scripts-loaded-securely": 5,
    "sri-not-implemented-response-not-html": 0,
    "sri-not-implemented-but-no-scripts-loaded": 0,
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": 0,
    "sri-not-implemented-but-external-scripts-loaded-securely": -5,
    "sri-implemented-but-external-scripts-not-loaded-securely": -20,
    "sri-not-implemented-and-external-scripts-not-loaded-securely": -50,
    "x-content-type-options-nosniff": 0,
    "x-content-type-options-not-implemented": -5,
    "x-content-type-options-header-invalid": -5,
    "x-frame-options-implemented-via-csp": 5,
    "x-frame-options-sameorigin-or-deny": 0,
    "x-frame-options-allow-from-origin": 0,
    "x-frame-options-not-implemented": -20,
    "x-frame-options-header-invalid": -20,
    "cross-origin-resource-policy-not-implemented": 0,
    "cross-origin-resource-policy-implemented-with-same-origin": 10,
    "cross-origin-resource-policy-implemented-with-same-site": 10,
    "cross-origin-resource-policy-implemented-with-cross-origin": 0,
    "cross-origin-resource-policy-header-invalid": -5,
}

_DANGEROUSLY_BROAD = frozenset(
    {"ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"}
)
_UNSAFE_INLINE = frozenset({"'unsafe-inline'", "data:"})
_BROAD_OR_INLINE = _DANGEROUSLY_BROAD | _UNSAFE_INLINE
_PASSIVE = ("img-src", "media-src")
_NONCE_OR_HASH = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")
_META_FORBIDDEN = ("frame-ancestors", "report-uri", "sandbox")  # HTML: not from <meta>
_DUPLICATES_ALLOWED = frozenset({"report-uri", "report-to"})
_SHORTEST_POLICY = len("img-src") - 1
_SIX_MONTHS = 15_552_000  # the Observatory's "white lie" for 15768000
REFERRER_PRIVATE = (
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
)
_REFERRER_UNSAFE = (
    "origin",
    "origin-when-cross-origin",
    "unsafe-url",
    "no-referrer-when-downgrade",
)
_SESSION_NAMES = ("login", "sess")
_COOKIE_ORDER = (  # cookies.js "goodness", best first: a worse finding replaces a better one
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
)


class CspInvalid(ValueError):
    """A Content-Security-Policy the Observatory cannot parse (duplicate directive...)."""


# -- parsing ------------------------------------------------------------------------------
def parse_csp(policies: Iterable[str]) -> dict[str, set[str]]:
    """Directive -> sources of one or more policies (cspParser.js, simplified).

    Names and sources are lower-cased; a ``*-src`` directive with no source means
    ``'none'``. A directive named twice in one policy makes it invalid (:class:`CspInvalid`),
    except ``report-uri``/``report-to``. Several policies are all enforced, so a directive
    set by more than one keeps only the sources every one of them allows (exact matches;
    the Observatory also merges path prefixes).
    """
    merged: dict[str, set[str]] = {}
    for policy in (p.replace("\r", "").replace("\n", "").strip() for p in policies):
        if len(policy) < _SHORTEST_POLICY:
            raise CspInvalid(f"invalid policy: {policy!r}")
        seen: set[str] = set()
        for entry in policy.split(";"):
            parts = entry.split()
            if not parts:
                continue
            name = parts[0].lower()
            if name in seen:
                if name in _DUPLICATES_ALLOWED:
                    continue
                raise CspInvalid(f"directive {name} appears twice in one policy")
            seen.add(name)
            sources = {s.lower() for s in parts[1:]}
            if not sources and name.endswith("-src"):
                sources = {"'none'"}
            merged[name] = (merged[name] & sources or {"'none'"}) if name in merged else sources
    return merged


@dataclass(frozen=True)
class Cookie:
    """One ``Set-Cookie`` (RFC 6265 §5.2): its name and the attributes graded here."""

    name: str
    secure: bool
    httponly: bool
    samesite: str | None  # as written (None when absent)


def parse_set_cookie(header: str) -> Cookie:
    """Parse one ``Set-Cookie`` header value (RFC 6265 §5.2, attributes case-insensitive)."""
    pair, *attributes = header.split(";")
    name = pair.split("=", 1)[0].strip()
    secure = httponly = False
    samesite: str | None = None
    for attribute in attributes:
        key, _, value = attribute.strip().partition("=")
        key = key.strip().lower()
        if key == "secure":
            secure = True
        elif key == "httponly":
            httponly = True
        elif key == "samesite":
            samesite = value.strip()
    return Cookie(name, secure, httponly, samesite)


class _HeadScan(HTMLParser):
    """``<meta http-equiv>`` values and ``<script src>`` elements of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.http_equiv: dict[str, list[str]] = {}
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k.lower(): v for k, v in attrs}
        if tag == "meta" and attributes.get("http-equiv") and attributes.get("content"):
            key = str(attributes["http-equiv"]).lower()
            self.http_equiv.setdefault(key, []).append(str(attributes["content"]))
        elif tag == "script":
            self.scripts.append(attributes)


# -- results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestResult:
    """One Observatory test: its name, result id and score modifier."""

    test: str
    result: str
    passed: bool
    data: str = ""

    @property
    def modifier(self) -> int:
        return MODIFIERS[self.result]

    def __repr__(self) -> str:
        mark = "pass" if self.passed else "FAIL"
        return f"{self.modifier:+4d}  {mark}  {self.test:<31} {self.result}"


@dataclass(frozen=True)
class ObservatoryReport:
    """A graded scan: score, letter grade, and every test with its modifier."""

    url: str
    score: int
    grade: str
    tests: tuple[TestResult, ...]
    notes: tuple[str, ...] = field(default=())

    def result(self, test: str) -> TestResult:
        return next(t for t in self.tests if t.test == test)

    def summary(self) -> str:
        return f"score {self.score}, grade {self.grade}"

    def __repr__(self) -> str:
        lines = [f"MDN HTTP Observatory rules (labkit subset): {self.url} — {self.summary()}"]
        lines += [f"  {t!r}" for t in self.tests]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def grade_for(score: int) -> tuple[int, str]:
    """(score floored at 0, letter): round down to a multiple of 5, cap at 100."""
    score = max(score, 0)
    return score, GRADE_CHART[min(score - score % 5, 100)]


# -- the tests ---------------------------------------------------------------------------
def _policies(values: Iterable[str]) -> list[str]:
    return [policy.strip() for value in values for policy in value.split(",")]


def _is_broad(source: str) -> bool:
    return any(source.startswith(broad) for broad in _DANGEROUSLY_BROAD)


def _csp_test(
    headers: httpx.Headers, meta: Mapping[str, list[str]], https: bool
) -> tuple[TestResult, dict[str, set[str]] | None]:
    # RFC 9110 §5.3: several header lines are one comma-separated list of policies
    header_policies = _policies(headers.get_list("content-security-policy"))
    meta_policies = _policies(meta.get("content-security-policy", []))
    try:
        csp = parse_csp(header_policies + meta_policies)
        header_only = parse_csp(header_policies) if header_policies else {}
    except CspInvalid as exc:
        return TestResult("content-security-policy", "csp-header-invalid", False, str(exc)), None
    meta_only = parse_csp(meta_policies) if meta_policies else {}
    for name in _META_FORBIDDEN:
        meta_only.pop(name, None)
    if not header_only and not meta_only:
        return TestResult("content-security-policy", "csp-not-implemented", False), None
    default = csp.get("default-src")
    script = set(csp.get("script-src") or default or {"*"})
    style = set(csp.get("style-src") or default or {"*"})
    objects = set(csp.get("object-src") or default or {"*"})
    for sources in (script, style):  # a nonce or hash makes browsers ignore 'unsafe-inline'
        if any(s.startswith(_NONCE_OR_HASH) for s in sources):
            sources.discard("'unsafe-inline'")
    result: str | None = None
    if any(s.startswith(_NONCE_OR_HASH) for s in script) and "'strict-dynamic'" in script:
        kept = {s for s in script if s not in ("'self'", "'unsafe-inline'")}
        script = {s for s in kept if not _is_broad(s)}
    elif "'strict-dynamic'" in script:
        result = "csp-header-invalid"
    active = [s for d, v in csp.items() if d not in (*_PASSIVE, "script-src") for s in v]
    active += list(script)
    passive = [s for d in _PASSIVE for s in (csp.get(d) or default or set())]
    insecure = ("http:", "ftp:")
    checks = (  # csp.js, in its order: the first that holds is the result
        (
            bool(script & _BROAD_OR_INLINE or objects & _DANGEROUSLY_BROAD),
            "csp-implemented-with-unsafe-inline",
        ),
        (
            https and any(s.startswith(insecure) for s in active),
            "csp-implemented-with-insecure-scheme",
        ),
        ("'unsafe-eval'" in script | style, "csp-implemented-with-unsafe-eval"),
        (
            https and any(s.startswith(insecure) for s in passive),
            "csp-implemented-with-insecure-scheme-in-passive-content-only",
        ),
        (bool(style & _BROAD_OR_INLINE), "csp-implemented-with-unsafe-inline-in-style-src-only"),
        (default == {"'none'"}, "csp-implemented-with-no-unsafe-default-src-none"),
        (True, "csp-implemented-with-no-unsafe"),
    )
    if result is None:  # the first finding in the Observatory's order (the last always holds)
        result = next(name for condition, name in checks if condition)
    passed = result in (
        "csp-implemented-with-no-unsafe",
        "csp-implemented-with-no-unsafe-default-src-none",
        "csp-implemented-with-unsafe-inline-in-style-src-only",
        "csp-implemented-with-insecure-scheme-in-passive-content-only",
    )
    data = "; ".join(f"{d} {' '.join(sorted(v))}" for d, v in sorted(csp.items()))
    return TestResult("content-security-policy", result, passed, data), header_only


def _hsts_test(headers: httpx.Headers, https: bool) -> TestResult:
    name = "strict-transport-security"
    if not https:
        return TestResult(name, "hsts-not-implemented-no-https", False)
    values = headers.get_list("strict-transport-security")
    if not values:
        return TestResult(name, "hsts-not-implemented", False)
    data = values[0][:1024]
    max_age: int | None = None
    if "," in data:  # the header was sent twice
        return TestResult(name, "hsts-header-invalid", False, data)
    for parameter in (p.strip().lower() for p in data.split(";")):
        if parameter.startswith("max-age="):
            digits = parameter[8:128].strip().strip('"')
            max_age = int(digits) if digits.isdigit() else None
    if max_age is None:
        return TestResult(name, "hsts-header-invalid", False, data)
    if max_age < _SIX_MONTHS:
        return TestResult(name, "hsts-implemented-max-age-less-than-six-months", False, data)
    return TestResult(name, "hsts-implemented-max-age-at-least-six-months", True, data)


def _cookies_test(set_cookies: Sequence[str], hsts_passed: bool) -> TestResult:
    name = "cookies"
    if not set_cookies:
        return TestResult(name, "cookies-not-found", True)
    result: str | None = None

    def worse(candidate: str) -> None:
        nonlocal result
        if result is None or _COOKIE_ORDER.index(candidate) > _COOKIE_ORDER.index(result):
            result = candidate

    missing_samesite = False
    for raw in set_cookies:
        cookie = parse_set_cookie(raw)
        samesite = None if cookie.samesite is None else cookie.samesite.lower()
        if samesite is not None and samesite not in ("lax", "strict", "none"):
            worse("cookies-samesite-flag-invalid")
        session = any(part in cookie.name.lower() for part in _SESSION_NAMES)
        if not cookie.secure and samesite == "none":
            worse("cookies-samesite-flag-invalid")
        if not cookie.secure:
            worse(
                "cookies-without-secure-flag-but-protected-by-hsts"
                if hsts_passed
                else "cookies-without-secure-flag"
            )
        if "csrf" in cookie.name.lower() and not samesite:
            worse("cookies-anticsrf-without-samesite-flag")
        if session and not cookie.secure:
            worse(
                "cookies-session-without-secure-flag-but-protected-by-hsts"
                if hsts_passed
                else "cookies-session-without-secure-flag"
            )
        if session and not cookie.httponly:
            worse("cookies-session-without-httponly-flag")
        missing_samesite = missing_samesite or not samesite
    if result is None:
        result = (
            "cookies-secure-with-httponly-sessions"
            if missing_samesite
            else "cookies-secure-with-httponly-sessions-and-samesite"
        )
    passed = result in (
        "cookies-secure-with-httponly-sessions",
        "cookies-secure-with-httponly-sessions-and-samesite",
    )
    data = "; ".join(sorted({parse_set_cookie(c).name for c in set_cookies}))
    return TestResult(name, result, passed, data)


def _cors_test(preflight: httpx.Response | None) -> TestResult:
    name = "cross-origin-resource-sharing"
    allow = preflight.headers.get("access-control-allow-origin") if preflight else None
    if preflight is None or allow is None:
        return TestResult(name, "cross-origin-resource-sharing-not-implemented", True)
    value = allow[:256].strip().lower()
    credentials = preflight.headers.get("access-control-allow-credentials", "")
    if value == "*":
        result = "cross-origin-resource-sharing-implemented-with-public-access"
    elif allow == preflight.request.headers.get("origin") and credentials.strip().lower() == "true":
        result = "cross-origin-resource-sharing-implemented-with-universal-access"
    else:
        result = "cross-origin-resource-sharing-implemented-with-restricted-access"
    return TestResult(name, result, not result.endswith("universal-access"), value)


def _referrer_test(headers: httpx.Headers, meta: Mapping[str, list[str]]) -> TestResult:
    name = "referrer-policy"
    values = headers.get_list("referrer-policy") + meta.get("referrer-policy", [])
    if not values:
        return TestResult(name, "referrer-policy-not-implemented", True)
    data = ", ".join(values)
    tokens = [token.strip().lower() for token in data.split(",")]
    valid = [token for token in tokens if token in REFERRER_PRIVATE + _REFERRER_UNSAFE]
    policy = valid[-1] if valid else ""  # the last valid token wins (Referrer Policy §4.1)
    if policy in REFERRER_PRIVATE:
        return TestResult(name, "referrer-policy-private", True, data)
    if policy in _REFERRER_UNSAFE:
        return TestResult(name, "referrer-policy-unsafe", False, data)
    return TestResult(name, "referrer-policy-header-invalid", False, data)


def _sri_test(page: httpx.Response, scripts: Sequence[Mapping[str, str | None]]) -> TestResult:
    name = "subresource-integrity"
    if page.headers.get("content-type", "").split(";")[0].strip() not in (
        "text/html",
        "application/xhtml+xml",
    ):
        return TestResult(name, "sri-not-implemented-response-not-html", True)
    external = [s for s in scripts if s.get("src")]
    if not external:
        return TestResult(name, "sri-not-implemented-but-no-scripts-loaded", True)
    base = urlsplit(str(page.url))
    outside = []
    for script in external:
        target = urlsplit(urljoin(str(page.url), str(script["src"])))
        if target.hostname != base.hostname:
            outside.append((target.scheme, bool(script.get("integrity"))))
    if not outside:
        with_sri = all(s.get("integrity") for s in external)
        result = (
            "sri-implemented-and-all-scripts-loaded-securely"
            if with_sri
            else "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
        )
        return TestResult(name, result, True)
    insecure = any(scheme != "https" for scheme, _ in outside)
    with_sri = all(has for _, has in outside)
    result = {
        (False, True): "sri-implemented-and-external-scripts-loaded-securely",
        (False, False): "sri-not-implemented-but-external-scripts-loaded-securely",
        (True, True): "sri-implemented-but-external-scripts-not-loaded-securely",
        (True, False): "sri-not-implemented-and-external-scripts-not-loaded-securely",
    }[(insecure, with_sri)]
    return TestResult(name, result, MODIFIERS[result] >= 0)


def _xcto_test(headers: httpx.Headers) -> TestResult:
    name = "x-content-type-options"
    value = headers.get("x-content-type-options")
    if value is None:
        return TestResult(name, "x-content-type-options-not-implemented", False)
    if value.split(",")[0].strip().lower() == "nosniff":
        return TestResult(name, "x-content-type-options-nosniff", True, value)
    return TestResult(name, "x-content-type-options-header-invalid", False, value)


def _xfo_test(headers: httpx.Headers, header_csp: Mapping[str, set[str]] | None) -> TestResult:
    name = "x-frame-options"
    value = headers.get("x-frame-options")
    if value is None:
        result = "x-frame-options-not-implemented"
    elif value.split(",")[0].strip().lower() in ("deny", "sameorigin"):
        result = "x-frame-options-sameorigin-or-deny"
    elif value.strip().lower().startswith("allow-from"):
        result = "x-frame-options-allow-from-origin"
    else:
        result = "x-frame-options-header-invalid"
    if header_csp and "frame-ancestors" in header_csp:  # only from a header, never <meta>
        result = "x-frame-options-implemented-via-csp"
    return TestResult(name, result, MODIFIERS[result] >= 0, value or "")


def _corp_test(headers: httpx.Headers) -> TestResult:
    name = "cross-origin-resource-policy"
    value = headers.get("cross-origin-resource-policy")
    if value is None:
        return TestResult(name, "cross-origin-resource-policy-not-implemented", True)
    kind = value[:256].strip().lower()
    result = {
        "same-site": "cross-origin-resource-policy-implemented-with-same-site",
        "same-origin": "cross-origin-resource-policy-implemented-with-same-origin",
        "cross-origin": "cross-origin-resource-policy-implemented-with-cross-origin",
    }.get(kind, "cross-origin-resource-policy-header-invalid")
    return TestResult(name, result, MODIFIERS[result] >= 0, value)


# -- putting it together ------------------------------------------------------------------
def grade_responses(
    page: httpx.Response,
    *,
    https: bool,
    preflight: httpx.Response | None = None,
    more: Sequence[httpx.Response] = (),
    notes: Sequence[str] = (),
) -> ObservatoryReport:
    """Grade responses already fetched: ``page`` (the site's ``/``), the CORS ``preflight``,
    and ``more`` responses whose cookies count too (``/robots.txt``, a login)."""
    scan_html = _HeadScan()
    if "html" in page.headers.get("content-type", ""):
        scan_html.feed(page.text)
    headers = page.headers
    csp, header_csp = _csp_test(headers, scan_html.http_equiv, https)
    hsts = _hsts_test(headers, https)
    set_cookies = [c for r in (page, *more) for c in r.headers.get_list("set-cookie")]
    tests = (
        csp,
        _cookies_test(set_cookies, hsts.passed),
        _cors_test(preflight),
        _referrer_test(headers, scan_html.http_equiv),
        hsts,
        _sri_test(page, scan_html.scripts),
        _xcto_test(headers),
        _xfo_test(headers, header_csp),
        _corp_test(headers),
    )
    with_bonus = 100 + sum(t.modifier for t in tests)
    penalties_only = 100 + sum(t.modifier for t in tests if t.modifier < 0)
    raw = with_bonus if penalties_only >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else penalties_only
    score, grade = grade_for(raw)
    return ObservatoryReport(str(page.url), score, grade, tests, tuple(notes))


def scan(
    url: str,
    *,
    more: Sequence[httpx.Response] = (),
    client: httpx.Client | None = None,
    ca_pem: str | None = None,
) -> ObservatoryReport:
    """Fetch ``url`` (the page), ``/robots.txt`` and a CORS preflight, and grade them.

    ``url`` should be the site's ``https://`` address (HSTS is graded there only); a private
    CA (a lab's) is trusted with ``ca_pem``, or pass your own ``client``. ``more``: extra
    responses whose ``Set-Cookie`` headers are graded too (e.g. a login's).
    """
    https = urlsplit(url).scheme == "https"
    notes = ["not graded: redirection to https (the proxy's job) and HSTS preloading"]
    if more:
        notes.append(f"cookies of {len(more)} more response(s) graded (the Observatory: / only)")
    own = client is None
    verify = ssl.create_default_context(cadata=ca_pem) if ca_pem else True
    http = client or httpx.Client(timeout=30.0, trust_env=False, verify=verify)
    try:
        accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        page = http.get(url, headers={"Accept": accept})
        robots = http.get(urljoin(url, "/robots.txt"), headers={"Accept": "text/plain,*/*;q=0.8"})
        preflight = http.options(
            url, headers={"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "GET"}
        )
    finally:
        if own:
            http.close()
    return grade_responses(
        page, https=https, preflight=preflight, more=(robots, *more), notes=notes
    )
