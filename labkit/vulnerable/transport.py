"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

HTTPS enforcement as the seed writes it (lab 09-encryption): the redirect decision reads
``X-Forwarded-Proto`` from whoever sent the request, and the HSTS header goes on every
response, plain HTTP included. Secure twin: :mod:`labkit.patterns.transport`.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["HSTS_VALUE", "effective_scheme", "security_headers"]

HSTS_VALUE = "max-age=31536000; includeSubDomains"


def effective_scheme(
    scheme: str,
    peer: str,
    forwarded_proto: str | None,
    trusted_proxies: Collection[str],
) -> str:
    """``X-Forwarded-Proto`` if present, else the connection's scheme.

    Flaw: the header is believed from any client, not only from the configured proxy, so
    a plain-HTTP request claiming ``https`` skips the redirect and is served in clear text.
    Exploited in: 09-encryption (X-Forwarded-Proto spoofing).
    Secure twin: labkit.patterns.transport.effective_scheme.
    """
    return (forwarded_proto or scheme).strip().lower()


def security_headers(scheme: str) -> dict[str, str]:
    """HSTS on every response.

    Flaw: sent over plain HTTP too, where RFC 6797 §7.2 forbids it (and §8.1 has browsers
    ignore it): it protects nothing there and shows the policy was never thought through.
    Exploited in: 09-encryption (transport check).
    Secure twin: labkit.patterns.transport.security_headers.
    """
    return {"Strict-Transport-Security": HSTS_VALUE}
