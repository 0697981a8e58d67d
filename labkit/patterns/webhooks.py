"""Signed webhooks (13-capstone): the secret comes from the environment, checked at startup.

A payment provider signs each event it sends: ``X-Signature: sha256=<hex HMAC-SHA256 of the
raw body>`` with a secret shared with the merchant (the scheme of Stripe's and GitHub's
webhooks). Whoever holds the secret can mark any order paid, so it follows the OWASP Secrets
Management Cheat Sheet like every other secret (lab 08): it lives in the environment (filled
from a secrets manager), never in the code; a missing or weak value stops the app at startup
(:func:`webhook_secret`), and the error names the variable, never the value. Signatures are
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from labkit.patterns.settings import SettingsError, secret_problem

__all__ = ["SIGNATURE_HEADER", "WEBHOOK_SECRET_ENV", "sign_webhook", "verify_webhook",
           "webhook_secret"]  # fmt: skip

WEBHOOK_SECRET_ENV = "PAYMENT_WEBHOOK_SECRET"  # noqa: S105 (a variable name)
SIGNATURE_HEADER = "X-Signature"
_PREFIX = "sha256="


def webhook_secret(env: Mapping[str, str]) -> str:
    """``PAYMENT_WEBHOOK_SECRET`` from ``env``; :class:`SettingsError` if missing or weak."""
    value = env.get(WEBHOOK_SECRET_ENV, "")
    problem = secret_problem(value)
    if problem:
        raise SettingsError(f"refusing to start: {WEBHOOK_SECRET_ENV} {problem}")
    return value


def sign_webhook(body: bytes, secret: str) -> str:
    """The ``X-Signature`` value the provider sends with ``body``."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_webhook(body: bytes, signature: str | None, secret: str) -> bool:
    """True when ``signature`` is the provider's signature of ``body`` (constant time)."""
    if not signature or not signature.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign_webhook(body, secret).encode(), signature.strip().encode())
