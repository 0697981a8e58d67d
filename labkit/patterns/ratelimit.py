"""Rate limiting done right: the ``limits`` library, a moving window, the right keys and headers.

The seed's recipe (express-rate-limit) as a Python pattern:

* **Moving window** (``limits.strategies.MovingWindowRateLimiter``): at most ``quota`` hits in
  *any* span of ``window`` seconds. A fixed window lets a client spend its quota just before a
  boundary and again just after it: twice the limit in a moment.
* **Shared storage**: ``memory://`` inside one process; a Redis URL as soon as more than one
  process serves the app (each process would otherwise count on its own: N processes, N times
  the allowance).
* **Keys**: a login is limited per client IP *and* per account (OWASP Authentication Cheat
  Sheet, "Protect against automated attacks"; ASVS 5.0 V6.3.1). The account key is the identity
  the login resolves — here emails are case-insensitive, so the key is case-folded.
* **Client IP**: ``X-Forwarded-For`` is attacker-controlled except for the entries appended by
  proxies you run. Honour it only when the peer is a configured trusted proxy, and take the
  rightmost address that is not one of yours (MDN "X-Forwarded-For", security section).
* **Headers**: ``RateLimit-Policy`` and ``RateLimit`` as in draft-ietf-httpapi-ratelimit-headers-10
  (structured fields, RFC 8941), plus ``Retry-After`` (RFC 9110 §10.2.3) on 429 (RFC 6585 §4).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter, RateLimiter

__all__ = [
    "BURST",
    "HEADERS_DRAFT",
    "ITEMS",
    "LOGIN",
    "SITE",
    "Decision",
    "Policy",
    "client_ip",
    "consume",
    "login_keys",
    "new_limiter",
    "rate_limit_headers",
]

#: The draft whose fields :func:`rate_limit_headers` emits.
HEADERS_DRAFT = "draft-ietf-httpapi-ratelimit-headers-10"


@dataclass(frozen=True)
class Policy:
    """A quota policy: at most ``quota`` requests per ``window`` seconds, named for the headers."""

    name: str
    quota: int
    window: int

    def __post_init__(self) -> None:
        if self.quota < 1 or self.window < 1:
            raise ValueError(f"policy {self.name}: quota and window must be >= 1")

    @property
    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.quota, self.window)


# The seed's numbers (CURRICULUM 11-rate-limiting).
#: Applied to every key of a login attempt (its IP and its account), each counted apart.
LOGIN = Policy("login", 5, 15 * 60)
SITE = Policy("site", 100, 15 * 60)
ITEMS = Policy("items", 60, 60)
#: A lab-only policy with a short window, so a window boundary can be reached in seconds.
BURST = Policy("burst", 10, 1)


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`consume`: the policy closest to its limit, and what it allows."""

    policy: Policy
    allowed: bool
    remaining: int
    reset: int  # seconds until the policy frees quota (delay-seconds, RFC 9110 §10.2.3)


def new_limiter(storage_uri: str = "memory://") -> RateLimiter:
    """A moving-window limiter on ``storage_uri`` (``memory://`` or ``redis://host:port/db``)."""
    return MovingWindowRateLimiter(storage_from_string(storage_uri))


def _is_trusted(address: str, trusted: Collection[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    for entry in trusted:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(peer: str, forwarded_for: str | None, trusted_proxies: Collection[str]) -> str:
    """The address to rate-limit: the peer, unless the peer is one of our proxies.

    A proxy *appends* the address it received the request from to ``X-Forwarded-For``; the
    entries to its left came from the client and prove nothing. So walk from the right,
    skipping our own proxies, and stop at the first address we did not add ourselves.
    """
    if not forwarded_for or not _is_trusted(peer, trusted_proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted_proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage where an address should be: fall back to the proxy
    return peer


def login_keys(ip: str, email: str) -> list[str]:
    """Keys for one login attempt: the client IP and the account, as the login resolves it.

    The users table compares emails case-insensitively, so ``Carol@Example.com`` is carol:
    the account key must be case-folded (and stripped) or each spelling gets its own quota.
    """
    return [f"ip:{ip}", f"account:{email.strip().casefold()}"]


def consume(
    limiter: RateLimiter, checks: Sequence[tuple[Policy, str]], *, namespace: str
) -> Decision:
    """Count one request against every ``(policy, key)``; refuse if any policy is spent.

    Nothing is counted when the request is refused (moving window: a refused hit is not
    recorded), so a throttled client cannot push its own window forward forever.
    """
    if not checks:
        raise ValueError("consume needs at least one (policy, key)")
    allowed = all(limiter.test(p.item, namespace, p.name, key) for p, key in checks)
    if allowed:
        for policy, key in checks:
            allowed = limiter.hit(policy.item, namespace, policy.name, key) and allowed
    now = time.time()
    decisions = []
    for policy, key in checks:
        stats = limiter.get_window_stats(policy.item, namespace, policy.name, key)
        reset = max(0, math.ceil(stats.reset_time - now))
        decisions.append(Decision(policy, allowed, max(0, stats.remaining), reset))
    if not allowed:  # the binding policy is a spent one: the longest wait among them
        spent = [d for d in decisions if d.remaining == 0] or decisions
        return max(spent, key=lambda d: d.reset)
    return min(decisions, key=lambda d: (d.remaining, -d.reset))


def rate_limit_headers(
    policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
) -> dict[str, str]:
    """``RateLimit-Policy`` and ``RateLimit`` (draft -10), plus ``Retry-After`` when refused.

    Policy names are sf-Strings; ``q`` the quota, ``w`` the window, ``r`` the remaining
    quota and ``t`` the seconds until it resets (delay-seconds, never a timestamp).
    "If a response contains both the Retry-After and the RateLimit header fields, the reset
    keyword value SHOULD reference the same point in time as the Retry-After field value."
    """
    name = policy.replace("\\", "").replace('"', "")
    headers = {
        "RateLimit-Policy": f'"{name}";q={int(quota)};w={int(window)}',
        "RateLimit": f'"{name}";r={max(0, int(remaining))};t={max(0, int(reset))}',
    }
    if refused:
        headers["Retry-After"] = str(max(1, int(reset)))
    return headers
