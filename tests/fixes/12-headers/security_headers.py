"""12 headers: the header set one middleware adds to every response."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from labkit.patterns import headers as reference
from tests.fixes.corpus import Fixes, right, wrong


def whole(**part: Any) -> Fixes:
    """All three functions: the reference, with ``part`` replaced (so verify can run too)."""
    return {
        "security_headers": reference.security_headers,
        "session_cookie": lambda: dict(reference.SESSION_COOKIE),
        "escape": reference.escape,
        **part,
    }


def with_csp(csp: str | Callable[[], str], **changes: str | None) -> Fixes:
    """The reference set with another CSP (a string, or made per response) and ``changes``
    (a header set to None is left out)."""

    def security_headers(https: bool) -> dict[str, str]:
        headers = reference.security_headers(https)
        headers["Content-Security-Policy"] = csp() if callable(csp) else csp
        for name, value in changes.items():
            headers.pop(name.replace("_", "-"), None)
            if value is not None:
                headers[name.replace("_", "-")] = value
        return headers

    return whole(security_headers=security_headers)


BASE = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
FRAMES = "frame-ancestors 'none'"


@wrong("headers", breaks="csp-nonce", also=("verify",))
def static_nonce() -> Fixes:
    """A nonce, as the tutorials say — but the same 'nonce-r4nd0m' on every response."""
    return with_csp(f"{BASE}; script-src 'self' 'nonce-r4nd0m'; {FRAMES}")


@wrong("headers", breaks="csp-nonce")
def nonce_per_process() -> Fixes:
    """A long random nonce drawn once, when the module loads: the same on every page."""
    nonce = secrets.token_urlsafe(18)
    return with_csp(f"{BASE}; script-src 'self' 'nonce-{nonce}'; {FRAMES}")


@wrong("headers", breaks="csp-nonce")
def short_fresh_nonce() -> Fixes:
    """A fresh nonce per response, but only 32 bits (token_hex(4)): guessable."""
    return with_csp(lambda: f"{BASE}; script-src 'self' 'nonce-{secrets.token_hex(4)}'; {FRAMES}")


@wrong("headers", breaks="csp-scripts")
def unsafe_inline() -> Fixes:
    """'unsafe-inline' in script-src and no nonce: every injected script runs."""
    return with_csp(f"{BASE}; script-src 'self' 'unsafe-inline'; {FRAMES}")


@wrong("headers", breaks="csp-scripts")
def script_src_star() -> Fixes:
    """script-src * 'unsafe-eval' ("so the CDN works"): any origin's script."""
    return with_csp(f"{BASE}; script-src * 'unsafe-eval'; {FRAMES}")


@wrong("headers", breaks="csp-scripts")
def any_https_script() -> Fixes:
    """script-src 'self' https: — every HTTPS origin on the web may serve scripts."""
    return with_csp(f"{BASE}; script-src 'self' https:; {FRAMES}")


@wrong("headers", breaks="csp-defaults")
def no_base_uri_or_form_action() -> Fixes:
    """default-src and script-src right, but no base-uri / form-action (no fallback)."""
    return with_csp(f"default-src 'self'; script-src 'self'; object-src 'none'; {FRAMES}")


@wrong("headers", breaks="no-framing")
def frame_ancestors_star() -> Fixes:
    """frame-ancestors * "for partners' embeds" beside X-Frame-Options DENY: CSP wins."""
    return with_csp(f"{BASE}; script-src 'self'; frame-ancestors *")


@wrong("headers", breaks="no-framing")
def no_frame_protection() -> Fixes:
    """Neither frame-ancestors nor X-Frame-Options."""
    return with_csp(f"{BASE}; script-src 'self'", X_Frame_Options=None)


@wrong("headers", breaks="nosniff")
def no_nosniff() -> Fixes:
    """Everything but X-Content-Type-Options: a text/plain upload runs as a script."""
    return with_csp(f"{BASE}; script-src 'self'; {FRAMES}", X_Content_Type_Options=None)


@wrong("headers", breaks="referrer")
def referrer_unsafe_url() -> Fixes:
    """Referrer-Policy: unsafe-url — the full URL, reset token included, to everyone."""
    return with_csp(f"{BASE}; script-src 'self'; {FRAMES}", Referrer_Policy="unsafe-url")


@wrong("headers", breaks="referrer")
def referrer_no_downgrade() -> Fixes:
    """no-referrer-when-downgrade (the old default): full URLs to every HTTPS/loopback site."""
    policy = "no-referrer-when-downgrade"
    return with_csp(f"{BASE}; script-src 'self'; {FRAMES}", Referrer_Policy=policy)


@wrong("headers", breaks="hsts-https-only")
def hsts_always() -> Fixes:
    """Strict-Transport-Security on every response, plain HTTP included."""
    return whole(security_headers=lambda https: reference.security_headers(True))


@wrong("headers", breaks="hsts-max-age")
def hsts_one_day() -> Fixes:
    """HSTS over HTTPS only, but max-age=86400: one day."""

    def security_headers(https: bool) -> dict[str, str]:
        headers = reference.security_headers(https)
        if https:
            headers["Strict-Transport-Security"] = "max-age=86400; includeSubDomains"
        return headers

    return whole(security_headers=security_headers)


@wrong("headers", breaks="isolation")
def no_cross_origin_policies() -> Fixes:
    """No Cross-Origin-Opener-Policy, no Cross-Origin-Resource-Policy."""
    return with_csp(
        f"{BASE}; script-src 'self'; {FRAMES}",
        Cross_Origin_Opener_Policy=None,
        Cross_Origin_Resource_Policy=None,
    )


@wrong("headers", breaks="site-works")
def script_src_none() -> Fixes:
    """script-src 'none': no XSS, but the login page's own script is refused too."""
    return with_csp(f"{BASE}; script-src 'none'; {FRAMES}")


@right("headers")
def fresh_nonce_and_frame_options() -> Fixes:
    """A class: a fresh 128-bit nonce per response beside 'unsafe-inline' (ignored by CSP3
    browsers when a nonce is present), framing refused by X-Frame-Options alone."""

    class Headers:
        def __call__(self, https: bool) -> dict[str, str]:
            nonce = secrets.token_urlsafe(16)
            headers = {
                "Content-Security-Policy": f"{BASE}; script-src 'self' 'nonce-{nonce}' "
                "'unsafe-inline'",
                "X-Frame-Options": "SAMEORIGIN",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin",
                "Cross-Origin-Opener-Policy": "same-origin",
                "Cross-Origin-Resource-Policy": "same-site",
            }
            if https:
                headers["Strict-Transport-Security"] = "max-age=63072000; preload"
            return headers

    return whole(security_headers=Headers())


@right("headers")
def default_none_allowlist() -> Fixes:
    """default-src 'none' and an explicit allowlist per directive, no-referrer, 2-year HSTS."""
    directives = [
        ("default-src", "'none'"), ("script-src", "'self'"), ("style-src", "'self'"),
        ("img-src", "'self'"), ("connect-src", "'self'"), ("object-src", "'none'"),
        ("base-uri", "'self'"), ("form-action", "'self'"), ("frame-ancestors", "'self'"),
    ]  # fmt: skip
    csp = "; ".join(" ".join(pair) for pair in directives)

    def security_headers(https: bool) -> dict[str, str]:
        pairs = [
            ("Content-Security-Policy", csp),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
        ]
        if https:
            pairs.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
        return dict(pairs)

    return whole(security_headers=security_headers)
