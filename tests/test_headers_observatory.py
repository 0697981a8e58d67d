"""The MDN HTTP Observatory scorer (labkit.attacks.observatory): each test's result and
modifier for known headers, the grade chart and the extra-credit rule — no server needed."""

from __future__ import annotations

import httpx
import pytest

from labkit.attacks import observatory
from labkit.attacks.observatory import CspInvalid, grade_for, grade_responses, parse_csp
from labkit.patterns.headers import SESSION_COOKIE, security_headers

URL = "http://127.0.0.1:8000/"


def page(
    headers: dict[str, str] | list[tuple[str, str]], body: str = "<p>hi</p>"
) -> httpx.Response:
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    return httpx.Response(
        200,
        headers=[("content-type", "text/html; charset=utf-8"), *items],
        text=body,
        request=httpx.Request("GET", URL),
    )


def result(test: str, headers: dict[str, str], *, https: bool = True, body: str = "<p>") -> str:
    return grade_responses(page(headers, body), https=https).result(test).result


@pytest.mark.parametrize(
    ("csp", "expected"),
    [
        (None, "csp-not-implemented"),
        ("default-src 'self'", "csp-implemented-with-no-unsafe"),
        ("default-src 'none'; script-src 'self'",
         "csp-implemented-with-no-unsafe-default-src-none"),
        ("default-src 'self'; script-src 'self' 'unsafe-inline'",
         "csp-implemented-with-unsafe-inline"),
        ("script-src 'self' 'nonce-abc' 'unsafe-inline'; object-src 'none'",
         "csp-implemented-with-unsafe-inline-in-style-src-only"),  # style-src falls back to *
        ("default-src 'self'; style-src 'self' 'unsafe-inline'",
         "csp-implemented-with-unsafe-inline-in-style-src-only"),
        ("default-src 'self'; script-src 'self' 'unsafe-eval'", "csp-implemented-with-unsafe-eval"),
        ("default-src 'self' http://cdn.example", "csp-implemented-with-insecure-scheme"),
        ("default-src 'self'; img-src http:",
         "csp-implemented-with-insecure-scheme-in-passive-content-only"),
        ("default-src https:", "csp-implemented-with-unsafe-inline"),  # dangerously broad
        ("frame-ancestors 'none'", "csp-implemented-with-unsafe-inline"),  # script-src is *
        ("default-src 'self'; default-src 'none'", "csp-header-invalid"),  # duplicate directive
        ("a", "csp-header-invalid"),
    ],
)  # fmt: skip
def test_csp_results(csp: str | None, expected: str) -> None:
    assert (
        result("content-security-policy", {} if csp is None else {"Content-Security-Policy": csp})
        == expected
    )


def test_csp_from_meta_counts_but_frame_ancestors_only_from_a_header() -> None:
    policy = "default-src 'self'; frame-ancestors 'none'"
    meta = f"<meta http-equiv='Content-Security-Policy' content=\"{policy}\">"
    report = grade_responses(page({}, meta), https=True)
    assert report.result("content-security-policy").result == "csp-implemented-with-no-unsafe"
    assert report.result("x-frame-options").result == "x-frame-options-not-implemented"


def test_parse_csp_merges_policies_and_empty_source_lists() -> None:
    csp = parse_csp(["default-src 'self' https://a.example; img-src", "default-src 'self'"])
    assert csp == {"default-src": {"'self'"}, "img-src": {"'none'"}}
    with pytest.raises(CspInvalid):
        parse_csp(["script-src 'self'; SCRIPT-SRC 'none'"])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "x-frame-options-not-implemented"),
        ({"X-Frame-Options": "DENY"}, "x-frame-options-sameorigin-or-deny"),
        ({"X-Frame-Options": "sameorigin"}, "x-frame-options-sameorigin-or-deny"),
        ({"X-Frame-Options": "ALLOW-FROM https://a.example"}, "x-frame-options-allow-from-origin"),
        ({"X-Frame-Options": "yes please"}, "x-frame-options-header-invalid"),
        (
            {"Content-Security-Policy": "frame-ancestors 'none'"},
            "x-frame-options-implemented-via-csp",
        ),
    ],
)
def test_x_frame_options(headers: dict[str, str], expected: str) -> None:
    assert result("x-frame-options", headers) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "referrer-policy-not-implemented"),
        ("strict-origin-when-cross-origin", "referrer-policy-private"),
        ("no-referrer", "referrer-policy-private"),
        ("unsafe-url", "referrer-policy-unsafe"),
        ("no-referrer-when-downgrade", "referrer-policy-unsafe"),
        ("no-referrer, unsafe-url", "referrer-policy-unsafe"),  # the last valid token wins
        ("unsafe-url, nonsense", "referrer-policy-unsafe"),
        ("nonsense", "referrer-policy-header-invalid"),
    ],
)
def test_referrer_policy(value: str | None, expected: str) -> None:
    assert (
        result("referrer-policy", {} if value is None else {"Referrer-Policy": value}) == expected
    )


@pytest.mark.parametrize(
    ("value", "https", "expected"),
    [
        (
            "max-age=31536000; includeSubDomains",
            True,
            "hsts-implemented-max-age-at-least-six-months",
        ),
        ("max-age=15552000", True, "hsts-implemented-max-age-at-least-six-months"),
        ("max-age=86400", True, "hsts-implemented-max-age-less-than-six-months"),
        ("includeSubDomains", True, "hsts-header-invalid"),
        (None, True, "hsts-not-implemented"),
        ("max-age=31536000", False, "hsts-not-implemented-no-https"),
    ],
)
def test_hsts(value: str | None, https: bool, expected: str) -> None:
    headers = {} if value is None else {"Strict-Transport-Security": value}
    assert result("strict-transport-security", headers, https=https) == expected


def cookies_result(*set_cookies: str, hsts: bool = False) -> str:
    headers = [("set-cookie", c) for c in set_cookies]
    if hsts:
        headers.append(("strict-transport-security", "max-age=31536000"))
    return grade_responses(page(headers), https=True).result("cookies").result


def test_cookies() -> None:
    assert cookies_result() == "cookies-not-found"
    good = "session=a; Secure; HttpOnly; SameSite=Lax"
    assert cookies_result(good) == "cookies-secure-with-httponly-sessions-and-samesite"
    assert cookies_result("session=a; Secure; HttpOnly") == "cookies-secure-with-httponly-sessions"
    assert (
        cookies_result("session=a; Secure; SameSite=Lax") == "cookies-session-without-httponly-flag"
    )
    assert cookies_result("session=a; Path=/") == "cookies-session-without-secure-flag"
    assert cookies_result("session=a; HttpOnly", hsts=True) == (
        "cookies-session-without-secure-flag-but-protected-by-hsts"
    )
    assert cookies_result("theme=dark") == "cookies-without-secure-flag"
    assert (
        cookies_result("theme=dark; Secure; SameSite=Sideways") == "cookies-samesite-flag-invalid"
    )
    assert cookies_result("csrftoken=x; Secure") == "cookies-anticsrf-without-samesite-flag"


def test_cors_preflight() -> None:
    def preflight(headers: dict[str, str]) -> httpx.Response:
        request = httpx.Request("OPTIONS", URL, headers={"Origin": observatory.CORS_ORIGIN})
        return httpx.Response(200, headers=headers, request=request)

    def cors(headers: dict[str, str] | None) -> str:
        answer = None if headers is None else preflight(headers)
        report = grade_responses(page({}), https=True, preflight=answer)
        return report.result("cross-origin-resource-sharing").result

    assert cors(None) == "cross-origin-resource-sharing-not-implemented"
    assert cors({"Access-Control-Allow-Origin": "*"}).endswith("public-access")
    reflected = {"Access-Control-Allow-Origin": observatory.CORS_ORIGIN,
                 "Access-Control-Allow-Credentials": "true"}  # fmt: skip
    assert cors(reflected).endswith("universal-access")
    assert cors({"Access-Control-Allow-Origin": "https://app.example"}).endswith(
        "restricted-access"
    )


def test_corp_xcto_and_sri() -> None:
    assert result(
        "cross-origin-resource-policy", {"Cross-Origin-Resource-Policy": "same-site"}
    ).endswith("same-site")
    assert result(
        "cross-origin-resource-policy", {"Cross-Origin-Resource-Policy": "nope"}
    ).endswith("invalid")
    assert result("x-content-type-options", {"X-Content-Type-Options": "nosniff"}).endswith(
        "nosniff"
    )
    assert result("x-content-type-options", {"X-Content-Type-Options": "sniff"}).endswith("invalid")
    external = "<script src='http://cdn.example/x.js'></script>"
    assert result("subresource-integrity", {}, body=external).endswith("not-loaded-securely")
    own = "<script src='/static/app.js'></script>"
    assert result("subresource-integrity", {}, body=own) == (
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
    )


def test_grade_chart_and_extra_credit() -> None:
    assert grade_for(135) == (135, "A+")
    assert grade_for(94) == (94, "A")
    assert grade_for(89) == (89, "A-")
    assert grade_for(25) == (25, "D-")
    assert grade_for(-15) == (0, "F")
    # bonuses count only when the score without them is at least 90 (scanner/index.js)
    small_penalty = {**security_headers(True), "X-Content-Type-Options": "sniffing"}
    assert grade_responses(page(small_penalty), https=True).score == 120  # 95 >= 90: +25
    no_hsts = {k: v for k, v in security_headers(True).items() if "Strict" not in k}
    no_bonus = grade_responses(page(no_hsts), https=True)
    assert (no_bonus.score, no_bonus.grade) == (80, "B+")  # 80 < 90: the +25 do not count
    full = grade_responses(page(security_headers(True)), https=True)
    assert (full.score, full.grade) == (125, "A+")


def test_reference_set_and_cookie_grade_a_plus() -> None:
    login = httpx.Response(
        200,
        headers=[("set-cookie", "session=x; HttpOnly; Secure; SameSite=lax; Path=/")],
        request=httpx.Request("POST", URL),
    )
    assert SESSION_COOKIE["httponly"] and SESSION_COOKIE["secure"]
    report = grade_responses(page(security_headers(True)), https=True, more=[login])
    assert (report.score, report.grade) == (130, "A+")
    assert "A+" in repr(report)
    bare = grade_responses(page({}), https=False)
    assert (bare.score, bare.grade) == (30, "D")  # -25 CSP, -20 HSTS, -5 XCTO, -20 XFO
