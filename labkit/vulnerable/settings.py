"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

Configuration and key handling as a team in a hurry does them (lab 08-secrets): secrets in
the source with fallbacks, plain strings that print everywhere, ``DEBUG`` on unless someone
remembers to turn it off, a debug error page that dumps the environment, and one signing key
that can only be replaced in place. Secure twin: :mod:`labkit.patterns.settings`.
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

__all__ = [
    "FALLBACK_JWT_SECRET",
    "PlainSettings",
    "debug_error_page",
    "load_settings",
    "rotate_in_place",
    "sign_token",
    "verify_token",
]

#: What the code falls back to when JWT_SECRET is unset ("only for local dev").
FALLBACK_JWT_SECRET = "dev-secret-change-me"


@dataclass
class PlainSettings:
    """Settings as plain strings.

    Flaw: the dataclass ``repr`` (and so every log line, f-string and error page) prints
    every secret in full.
    Exploited in: 08-secrets (startup log, debug page, ``/api/_lab/config``).
    Secure twin: labkit.patterns.settings.Settings.
    """

    app_env: str
    debug: bool
    jwt_secret: str
    export_api_key: str
    database_url: str


def load_settings(env: Mapping[str, str], hardcoded: Mapping[str, str]) -> PlainSettings:
    """Read settings, with defaults for anything missing.

    Flaw: ``EXPORT_API_KEY`` comes from the source (``hardcoded``), not the environment;
    ``JWT_SECRET`` silently falls back to a constant; any secret, however weak, is accepted;
    ``DEBUG`` is on unless set to false. Nothing fails at startup.
    Exploited in: 08-secrets (hard-coded key, fail-fast battery, debug page).
    Secure twin: labkit.patterns.settings.load_settings.
    """
    return PlainSettings(
        app_env=env.get("APP_ENV", "production"),
        debug=env.get("DEBUG", "true").lower() not in ("0", "false", "no"),
        jwt_secret=env.get("JWT_SECRET", FALLBACK_JWT_SECRET),
        export_api_key=hardcoded["EXPORT_API_KEY"],
        database_url=env.get("DATABASE_URL", "sqlite:///notes.db"),
    )


def debug_error_page(exc: BaseException, settings: Any, env: Mapping[str, str], path: str) -> str:
    """The framework's friendly crash page: traceback, settings and the environment.

    Flaw: shown to anyone who triggers a 500 while ``DEBUG`` is on (and it is on by
    default); prints every setting with ``str`` and every environment variable as it is (the
    Laravel/Whoops and Django ``DEBUG=True`` leak).
    Exploited in: 08-secrets (debug page leaks JWT_SECRET).
    Secure twin: labkit.patterns.settings.Settings. Its ``debug`` defaults to off and is
    refused in production, so clients get a generic 500 with an incident id.
    """
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    names = ("app_env", "debug", "jwt_secret", "export_api_key", "database_url")
    shown = {name: getattr(settings, name, "") for name in names}
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in shown.items()
    )
    env_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in sorted(env.items())
    )
    return (
        f"<!doctype html><title>{html.escape(type(exc).__name__)} at {html.escape(path)}</title>"
        f"<h1>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</h1>"
        f"<p>You're seeing this page because DEBUG is on.</p>"
        f"<h2>Traceback</h2><pre>{html.escape(trace)}</pre>"
        f"<h2>Settings</h2><table>{rows}</table>"
        f"<h2>Environment</h2><table>{env_rows}</table>"
    )


def sign_token(claims: Mapping[str, Any], keyring: Any) -> str:
    """HS256 with the one current key; no ``kid``.

    Flaw: the token does not say which key signed it, so verifiers can only try "the" key.
    Exploited in: 08-secrets (rotation logs everyone out).
    Secure twin: labkit.patterns.settings.sign_token.
    """
    secret = keyring.keys[keyring.active_kid].secret.get_secret_value()
    return jwt.encode(dict(claims), secret, algorithm="HS256")


def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
    """Verify with the current key only.

    Flaw: one key at a time — the moment a new key signs, every token in flight fails.
    Exploited in: 08-secrets (rotation logs everyone out).
    Secure twin: labkit.patterns.settings.verify_token.
    """
    secret = keyring.keys[keyring.active_kid].secret.get_secret_value()
    try:
        return jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        return None


def rotate_in_place(keyring: Any) -> str:
    """The old runbook: a new key signs at once and the old one is destroyed.

    Flaw: no transition period — every session signed with the old key ends now (the
    catalogue's "Never: Rotate in-place without a transition period").
    Exploited in: 08-secrets (active sessions before/after).
    Secure twin: labkit.patterns.settings.KeyRing.add_next / promote / retire, with a wait.
    """
    keyring.add_next()
    kid = keyring.promote()
    keyring.retire()
    return str(kid)
