"""Encryption in transit: HTTPS only, HSTS, and ``X-Forwarded-Proto`` from trusted proxies only.

* Every plain-HTTP request is redirected to the HTTPS origin (308 keeps the method and
  body, RFC 9110 §15.4.9; the seed's 301 lets clients turn a POST into a GET). The target
  is the configured public origin, never built from the request's ``Host`` header.
* HSTS (RFC 6797): ``Strict-Transport-Security: max-age=31536000; includeSubDomains`` on
  HTTPS responses only — §7.2: an HSTS host MUST NOT send it over non-secure transport
  (§8.1: browsers ignore it there anyway). From then on the browser itself rewrites
  ``http://`` to ``https://`` for a year, so no first plain request can be intercepted;
  only the very first visit is exposed (preload lists close that gap).
* Behind a TLS-terminating proxy the app sees plain HTTP and learns the client's scheme from
  ``X-Forwarded-Proto``. Anyone can send that header: believe it only when the TCP peer
  is a configured proxy (the same rule as uvicorn's ``--forwarded-allow-ips``).
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

__all__ = [
    "HSTS_HEADER",
    "HSTS_VALUE",
    "REDIRECT_STATUS",
    "effective_scheme",
    "https_redirect_url",
    "security_headers",
]

HSTS_HEADER = "Strict-Transport-Security"
HSTS_VALUE = "max-age=31536000; includeSubDomains"  # one year, as the seed
REDIRECT_STATUS = 308
_SCHEMES = frozenset({"http", "https"})


def effective_scheme(
    scheme: str,
    peer: str,
    forwarded_proto: str | None,
    trusted_proxies: Collection[str],
) -> str:
    """The scheme the *client* used: the connection's own, or ``X-Forwarded-Proto`` when
    (and only when) the TCP peer is one of ``trusted_proxies``.

    A proxy appends to a list it received (``"http, https"``); the last value is the one
    our own proxy wrote, everything before it came from the client.
    """
    if forwarded_proto and peer in trusted_proxies:
        claimed = forwarded_proto.split(",")[-1].strip().lower()
        if claimed in _SCHEMES:
            return claimed
    return scheme


def security_headers(scheme: str) -> dict[str, str]:
    """Headers for a response whose client connection used ``scheme``: HSTS over HTTPS only."""
    if scheme == "https":
        return {HSTS_HEADER: HSTS_VALUE}
    return {}  # RFC 6797 §7.2: never over plain HTTP


def https_redirect_url(https_origin: str, path: str, query: str = "") -> str:
    """Where to send a plain-HTTP request: the configured HTTPS origin, same path and query."""
    origin = urlsplit(https_origin)
    if origin.scheme != "https" or not origin.netloc:
        raise ValueError(f"https_origin must look like https://host[:port], got {https_origin!r}")
    if not path.startswith("/"):
        path = "/" + path
    return f"https://{origin.netloc}{path}" + (f"?{query}" if query else "")
