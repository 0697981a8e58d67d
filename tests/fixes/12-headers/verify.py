"""12 verify: whole fixes written unlike the reference, which must pass every replay."""

from __future__ import annotations

import secrets

import markupsafe

from tests.fixes.corpus import Fixes, right


@right("verify")
def nonce_class_and_markupsafe() -> Fixes:
    """A fresh nonce per response, X-Frame-Options for framing, MarkupSafe, SameSite=Strict."""

    def security_headers(https: bool) -> dict[str, str]:
        nonce = secrets.token_urlsafe(18)
        headers = {
            "Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action 'self'; script-src 'self' 'nonce-{nonce}'",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Cross-Origin-Resource-Policy": "same-origin",
        }
        if https:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        return headers

    return {
        "security_headers": security_headers,
        "session_cookie": lambda: {"httponly": True, "secure": True, "samesite": "strict"},
        "escape": lambda text: str(markupsafe.escape(text)),
    }


@right("verify")
def table_driven() -> Fixes:
    """Headers from a table, a translate() table for encoding, cookie options as a dict."""
    table = {
        "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
        "img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'self'; "
        "frame-ancestors 'none'",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-site",
    }
    codes = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})
    return {
        "security_headers": lambda https: {
            **table,
            **({"strict-transport-security": "max-age=15552000"} if https else {}),
        },
        "session_cookie": lambda: dict(httponly=True, secure=True, samesite="lax", path="/"),
        "escape": lambda text: text.translate(codes),
    }
