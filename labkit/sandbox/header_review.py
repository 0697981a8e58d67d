"""A reviewer's first glance at a response's security headers: good, weak or missing.

The traffic inspector marks each header so a learner sees at once what to look at. This is a
quick triage, not the graded verdict (12's checks and the Observatory-style grader decide
that): a weak value names the reason, and an HTML page lists the headers it lacks.
Sources: OWASP HTTP Headers Cheat Sheet, MDN HTTP Observatory, RFC 6797 (HSTS), CSP Level 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["HeaderNote", "review_headers"]

Verdict = Literal["good", "weak", "missing", "info"]

#: HSTS shorter than this protects little (OWASP and the Observatory ask for >= 1 year).
HSTS_MIN_S = 31_536_000
LEAKY_REFERRER = {"unsafe-url", "no-referrer-when-downgrade", "origin-when-cross-origin"}
#: Headers an HTML page should carry (a JSON API answer needs none of the framing/CSP ones).
PAGE_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy")


@dataclass(frozen=True)
class HeaderNote:
    """One header's verdict: ``value`` is None for a missing header."""

    name: str
    value: str | None
    verdict: Verdict
    reason: str = ""


def _csp(value: str) -> str:
    directives = {
        part.split()[0].lower(): part.split()[1:] for part in value.split(";") if part.split()
    }
    scripts = directives.get("script-src", directives.get("default-src", []))
    nonce = any(s.startswith(("'nonce-", "'sha")) for s in scripts)
    if any(s in ("*", "http:", "https:", "data:") for s in scripts):
        return "scripts from anywhere"
    if "'unsafe-inline'" in scripts and not nonce:
        return "'unsafe-inline' scripts: XSS runs"
    if not scripts:
        return "no script-src or default-src"
    return ""


def _cookie(value: str) -> str:
    attributes = {a.strip().split("=")[0].lower() for a in value.split(";")[1:]}
    missing = [a for a in ("httponly", "secure", "samesite") if a not in attributes]
    return f"no {', '.join(missing)}" if missing else ""


def _hsts(value: str) -> str:
    match = re.search(r"max-age\s*=\s*\"?(\d+)", value, re.I)
    if not match:
        return "no max-age"
    return f"max-age under {HSTS_MIN_S} s (1 year)" if int(match.group(1)) < HSTS_MIN_S else ""


def _weakness(name: str, value: str, credentials: bool) -> str:
    lowered = value.strip().lower()
    if name == "content-security-policy":
        return _csp(value)
    if name == "set-cookie":
        return _cookie(value)
    if name == "strict-transport-security":
        return _hsts(value)
    if name == "referrer-policy":
        policy = lowered.split(",")[-1].strip()  # the last one a browser knows wins
        return f"{policy} leaks full URLs to other sites" if policy in LEAKY_REFERRER else ""
    if name == "x-content-type-options":
        return "" if lowered == "nosniff" else "only 'nosniff' means anything"
    if name == "x-frame-options":
        return "" if lowered in ("deny", "sameorigin") else "use DENY or SAMEORIGIN"
    if name == "access-control-allow-origin":
        if lowered in ("*", "null"):
            return f"any page may read this ({value.strip()})"
        return "with credentials: is this origin on your allowlist?" if credentials else ""
    return ""


def review_headers(
    headers: tuple[tuple[str, str], ...] | list[tuple[str, str]], watched: tuple[str, ...]
) -> list[HeaderNote]:
    """A note for each ``watched`` header present, then one per header an HTML page lacks."""
    present = {k.lower(): v for k, v in headers}
    credentials = present.get("access-control-allow-credentials", "").lower() == "true"
    notes = []
    for name, value in headers:
        name = name.lower()
        if name in watched:
            reason = _weakness(name, value, credentials)
            notes.append(HeaderNote(name, value, "weak" if reason else "good", reason))
    if present.get("content-type", "").lower().startswith("text/html"):
        framing = "frame-ancestors" in present.get("content-security-policy", "").lower()
        expected = PAGE_HEADERS + (() if framing else ("x-frame-options",))
        notes += [
            HeaderNote(name, None, "missing", "an HTML page should send it")
            for name in expected
            if name not in present
        ]
    return notes
