"""09 transport: wrong and right ways to decide the client's scheme and send HSTS."""

from __future__ import annotations

from collections.abc import Callable, Collection

from labkit.patterns import crypto, transport
from tests.fixes.corpus import Fixes, right, wrong

HSTS = "Strict-Transport-Security"
YEAR = "max-age=31536000; includeSubDomains"

Scheme = Callable[[str, str, "str | None", Collection[str]], str]
Headers = Callable[[str], dict]


def _fixes(scheme: Scheme | None = None, headers: Headers | None = None) -> Fixes:
    """Transport functions (the reference for what is not given) plus the reference at rest."""
    return {
        "effective_scheme": scheme or transport.effective_scheme,
        "security_headers": headers or transport.security_headers,
        "encrypt_record": crypto.encrypt_record,
        "decrypt_record": crypto.decrypt_record,
    }


def _hsts(value: str, *, everywhere: bool = False) -> Headers:
    return lambda scheme: {HSTS: value} if everywhere or scheme == "https" else {}


@wrong("transport", breaks="rightmost-proto", also=("verify",))
def first_forwarded_value() -> Fixes:
    """The issue's example: from the trusted proxy, the FIRST value of the list — which the
    client wrote."""

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        if forwarded_proto and peer in trusted_proxies:
            return forwarded_proto.split(",")[0].strip().lower()
        return scheme

    return _fixes(effective_scheme)


@wrong("transport", breaks="rightmost-proto")
def https_anywhere_in_the_list() -> Fixes:
    """From the proxy, 'https' in forwarded_proto: any https in the list counts."""

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        if peer in trusted_proxies and forwarded_proto and "https" in forwarded_proto:
            return "https"
        return scheme

    return _fixes(effective_scheme)


@wrong("transport", breaks="proxy-only")
def believes_anyone() -> Fixes:
    """The seed's middleware: X-Forwarded-Proto is believed whoever sends it."""

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        return forwarded_proto.split(",")[-1].strip() if forwarded_proto else scheme

    return _fixes(effective_scheme)


@wrong("transport", breaks="proxy-only")
def trusts_all_of_loopback() -> Fixes:
    """'The proxy is on this machine': every 127.x peer is trusted."""

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        if forwarded_proto and (peer in trusted_proxies or peer.startswith("127.")):
            return forwarded_proto.split(",")[-1].strip().lower()
        return scheme

    return _fixes(effective_scheme)


@wrong("transport", breaks="proxy-only")
def always_https() -> Fixes:
    """'Production is behind TLS anyway': the scheme is always https, nobody is redirected."""
    return _fixes(lambda scheme, peer, forwarded_proto, trusted_proxies: "https")


@wrong("transport", breaks="no-crash")
def forgets_the_missing_header() -> Fixes:
    """forwarded_proto.split(',') without checking for None: every request without the
    header crashes the app."""

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        claimed = forwarded_proto.split(",")[-1].strip()  # type: ignore[union-attr]
        return claimed if peer in trusted_proxies else scheme

    return _fixes(effective_scheme)


@wrong("transport", breaks="proxy-https")
def never_believes_the_proxy() -> Fixes:
    """The header is ignored altogether: behind the load balancer every request loops."""
    return _fixes(lambda scheme, peer, forwarded_proto, trusted_proxies: scheme)


@wrong("transport", breaks="proxy-https")
def the_proxy_means_https() -> Fixes:
    """'Our proxy only speaks HTTPS': from the proxy, no header means https."""

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        if peer in trusted_proxies:
            return (forwarded_proto or "https").split(",")[-1].strip().lower()
        return scheme

    return _fixes(effective_scheme)


@wrong("transport", breaks="hsts-https")
def one_day_hsts() -> Fixes:
    """HSTS for a day 'while we test' (max-age=86400)."""
    return _fixes(headers=_hsts("max-age=86400; includeSubDomains"))


@wrong("transport", breaks="hsts-https")
def comma_separated_hsts() -> Fixes:
    """'max-age=31536000, includeSubDomains': a comma, so max-age is not a number."""
    return _fixes(headers=_hsts("max-age=31536000, includeSubDomains"))


@wrong("transport", breaks="hsts-not-http")
def hsts_everywhere() -> Fixes:
    """The seed's middleware: HSTS on every response, plain-HTTP redirects included."""
    return _fixes(headers=_hsts(YEAR, everywhere=True))


class ProxyPolicy:
    """A class: the proxy's list read from the right with rpartition; HSTS for two years
    with preload."""

    hsts = "max-age=63072000; includeSubDomains; preload"

    def effective_scheme(
        self, scheme: str, peer: str, forwarded_proto: str | None, trusted: Collection[str]
    ) -> str:
        if peer not in trusted or forwarded_proto is None:
            return scheme
        last = forwarded_proto.rpartition(",")[2].strip().lower()
        return last if last in {"http", "https"} else scheme

    def security_headers(self, scheme: str) -> dict[str, str]:
        return {HSTS: self.hsts} if scheme == "https" else {}


@right("transport", also=("verify",))
def class_with_preload() -> Fixes:
    """ProxyPolicy: rpartition for the last value, max-age two years, preload."""
    policy = ProxyPolicy()
    return _fixes(policy.effective_scheme, policy.security_headers)


@right("transport")
def one_year_without_subdomains() -> Fixes:
    """Max-Age (any case) of exactly one year, no includeSubDomains; values split and
    reversed."""

    def effective_scheme(
        scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
    ) -> str:
        if peer in trusted_proxies and forwarded_proto:
            values = [v.strip().lower() for v in forwarded_proto.split(",")]
            return next(reversed(values)) if values[-1] in ("http", "https") else scheme
        return scheme

    return _fixes(effective_scheme, _hsts("Max-Age=31536000"))
