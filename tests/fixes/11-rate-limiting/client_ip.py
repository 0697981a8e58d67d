"""11 trusted-proxy: which address a request is counted against."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from typing import Any

from labkit.patterns import ratelimit as reference
from tests.fixes.corpus import Fixes, right, wrong


def whole(**part: Any) -> Fixes:
    """All four functions: the reference, with ``part`` replaced (so verify can run too)."""
    return {
        "client_ip": reference.client_ip,
        "login_keys": reference.login_keys,
        "new_limiter": reference.new_limiter,
        "rate_limit_headers": reference.rate_limit_headers,
        **part,
    }


def _rightmost_from_anyone(peer: str, forwarded: str | None, trusted: Collection[str]) -> str:
    if not forwarded:
        return peer
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return peer


@wrong("trusted-proxy", breaks="proxy-only", also=("verify",))
def trusts_anyone() -> Fixes:
    """Walks X-Forwarded-For from the right, skipping proxies — but whoever sent it."""
    return whole(client_ip=_rightmost_from_anyone)


@wrong("trusted-proxy", breaks="proxy-only")
def trusts_loopback() -> Fixes:
    """'Our proxies are on localhost': trusts any 127.x peer, so the header from 127.0.0.1."""

    def client_ip(peer: str, forwarded: str | None, trusted: Collection[str]) -> str:
        if not peer.startswith("127."):
            return peer
        return _rightmost_from_anyone(peer, forwarded, trusted)

    return whole(client_ip=client_ip)


@wrong("trusted-proxy", breaks="rightmost-hop")
def first_entry_from_proxy() -> Fixes:
    """From the proxy only, but the first (leftmost) entry: the one the client wrote."""

    def client_ip(peer: str, forwarded: str | None, trusted: Collection[str]) -> str:
        if forwarded and peer in trusted:
            return forwarded.split(",")[0].strip()
        return peer

    return whole(client_ip=client_ip)


@wrong("trusted-proxy", breaks="rightmost-hop")
def last_entry_unchecked() -> Fixes:
    """From the proxy only, the last entry — even when that entry is a trusted proxy."""

    def client_ip(peer: str, forwarded: str | None, trusted: Collection[str]) -> str:
        if forwarded and peer in trusted:
            return forwarded.rsplit(",", 1)[-1].strip()
        return peer

    return whole(client_ip=client_ip)


@wrong("trusted-proxy", breaks="per-customer")
def ignores_header() -> Fixes:
    """Never reads X-Forwarded-For: every customer behind the proxy is the proxy."""
    return whole(client_ip=lambda peer, forwarded, trusted: peer)


@right("trusted-proxy")
def networks_and_ipaddress() -> Fixes:
    """Trusted entries as networks (ipaddress), hops parsed as addresses, garbage -> peer."""

    def client_ip(peer: str, forwarded: str | None, trusted: Collection[str]) -> str:
        networks = [ipaddress.ip_network(t, strict=False) for t in trusted]

        def ours(address: str) -> bool:
            try:
                return any(ipaddress.ip_address(address) in n for n in networks)
            except ValueError:
                return False

        if forwarded is None or not ours(peer):
            return peer
        for hop in reversed(forwarded.split(",")):
            hop = hop.strip()
            if hop and not ours(hop):
                try:
                    return ipaddress.ip_address(hop).compressed
                except ValueError:
                    return peer
        return peer

    return whole(client_ip=client_ip)


@right("trusted-proxy")
def regex_resolver_class() -> Fixes:
    """A resolver object: a regex splits the chain, a while loop pops trusted hops."""

    class Resolver:
        separator = re.compile(r"\s*,\s*")

        def __call__(self, peer: str, forwarded: str | None, trusted: Collection[str]) -> str:
            if peer not in trusted or not forwarded:
                return peer
            chain = [h for h in self.separator.split(forwarded.strip()) if h]
            while chain and chain[-1] in trusted:
                chain.pop()
            return chain[-1] if chain else peer

    return whole(client_ip=Resolver())
