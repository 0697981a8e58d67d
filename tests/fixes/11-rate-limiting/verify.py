"""11 verify: whole limiters written unlike the reference, which must pass every battery."""

from __future__ import annotations

import email.utils
import ipaddress
import time
from collections.abc import Collection

from limits.storage import storage_from_string
from limits.strategies import STRATEGIES, RateLimiter

from tests.fixes.corpus import Fixes, right


@right("verify")
def tuples_networks_http_date() -> Fixes:
    """Tuple keys, trusted networks via ipaddress, an HTTP-date Retry-After, STRATEGIES."""

    def client_ip(peer: str, forwarded: str | None, trusted: Collection[str]) -> str:
        networks = [ipaddress.ip_network(t, strict=False) for t in trusted]
        ours = lambda a: any(ipaddress.ip_address(a) in n for n in networks)  # noqa: E731
        if not forwarded or not ours(peer):
            return peer
        for hop in (h.strip() for h in reversed(forwarded.split(","))):
            if hop and not ours(hop):
                return hop
        return peer

    def login_keys(ip: str, account: str) -> tuple[str, ...]:
        return ("net:" + ip, "who:" + account.strip().lower())

    def new_limiter(storage_uri: str) -> RateLimiter:
        return STRATEGIES["moving-window"](storage_from_string(storage_uri))

    def rate_limit_headers(
        policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
    ) -> dict[str, str]:
        fields = {
            "RateLimit-Policy": f'"{policy}";q={quota};w={window}',
            "RateLimit": f'"{policy}";r={remaining};t={reset}',
        }
        if refused:
            fields["Retry-After"] = email.utils.formatdate(time.time() + reset, usegmt=True)
        return fields

    return {
        "client_ip": client_ip,
        "login_keys": login_keys,
        "new_limiter": new_limiter,
        "rate_limit_headers": rate_limit_headers,
    }


@right("verify")
def one_policy_object() -> Fixes:
    """All four parts as methods of one object, keys with other prefixes."""
    from limits.strategies import MovingWindowRateLimiter

    class ShopLimits:
        def client_ip(self, peer: str, forwarded: str | None, trusted: Collection[str]) -> str:
            if peer in trusted and forwarded:
                for hop in forwarded.replace(" ", "").split(",")[::-1]:
                    if hop and hop not in trusted:
                        return hop
            return peer

        def login_keys(self, ip: str, email_: str) -> list[str]:
            return [f"by-ip/{ip}", f"by-account/{email_.strip().casefold()}"]

        def new_limiter(self, storage_uri: str) -> RateLimiter:
            return MovingWindowRateLimiter(storage_from_string(storage_uri))

        def rate_limit_headers(
            self, policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
        ) -> dict[str, str]:
            out = {"RateLimit-Policy": f'"{policy}";w={window};q={quota}'}
            out["RateLimit"] = f'"{policy}";t={reset};r={remaining}'
            if refused:
                out["Retry-After"] = str(reset or 1)
            return out

    shop = ShopLimits()
    return {
        "client_ip": shop.client_ip,
        "login_keys": shop.login_keys,
        "new_limiter": shop.new_limiter,
        "rate_limit_headers": shop.rate_limit_headers,
    }
