"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

BrokenShop's transport policy (lab 13-capstone, the seed's "No HTTPS redirect" row): the
shop was written to sit behind a TLS-terminating load balancer, so it takes every request
for an HTTPS one — the plain-HTTP listener serves the whole shop in clear text — and it
never sends ``Strict-Transport-Security``. Secure twin: :mod:`labkit.patterns.transport`.
(BrokenShop's other edge flaws reuse :mod:`labkit.vulnerable.cors` and
:mod:`labkit.vulnerable.validation`.)
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["assume_https", "no_security_headers"]


def assume_https(
    scheme: str,
    peer: str,
    forwarded_proto: str | None,
    trusted_proxies: Collection[str],
) -> str:
    """``"https"``, whatever the connection was: "the load balancer does TLS for us".

    Flaw: nothing redirects plain HTTP, so a login, a token or a customer's address sent to
    ``http://`` is answered over ``http://`` — readable and changeable by anyone on the
    path (café Wi-Fi, a hostile router: sslstrip). Exploited in: 13-capstone
    (no-https-redirect). Secure twin: labkit.patterns.transport.effective_scheme.
    """
    return "https"


def no_security_headers(scheme: str) -> dict[str, str]:
    """No ``Strict-Transport-Security`` header, ever.

    Flaw: without HSTS (RFC 6797) the browser keeps trying ``http://`` first on every new
    visit, so each one can be intercepted and downgraded before any redirect happens.
    Exploited in: 13-capstone (no-https-redirect).
    Secure twin: labkit.patterns.transport.security_headers.
    """
    return {}
