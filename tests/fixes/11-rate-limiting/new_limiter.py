"""11 moving-window: the limiter, its window and where it counts."""

from __future__ import annotations

from typing import Any

from limits import RateLimitItem
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import (
    STRATEGIES,
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
)

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


@wrong("moving-window", breaks="moving-window", also=("verify",))
def fixed_window() -> Fixes:
    """The URI it is given, but a fixed window: twice the quota around a boundary."""
    return whole(new_limiter=lambda uri: FixedWindowRateLimiter(storage_from_string(uri)))


@wrong("moving-window", breaks="shared-storage")
def private_memory() -> Fixes:
    """A moving window in a MemoryStorage() of its own: each replica counts alone."""
    return whole(new_limiter=lambda uri: MovingWindowRateLimiter(MemoryStorage()))


@wrong("moving-window", breaks="shared-storage")
def memory_whatever_the_uri() -> Fixes:
    """A moving window on "memory://" whatever URI the app hands it (Redis ignored)."""
    return whole(new_limiter=lambda uri: MovingWindowRateLimiter(storage_from_string("memory://")))


@wrong("moving-window", breaks="allows-quota")
def off_by_one() -> Fixes:
    """A moving window that refuses when one request is left: quota - 1 get through."""

    class Strict(MovingWindowRateLimiter):
        def test(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
            return self.get_window_stats(item, *identifiers).remaining > cost

    return whole(new_limiter=lambda uri: Strict(storage_from_string(uri)))


@right("moving-window")
def strategy_by_name() -> Fixes:
    """limits' own strategy table, STRATEGIES["moving-window"], on the URI given."""

    def new_limiter(storage_uri: str) -> RateLimiter:
        return STRATEGIES["moving-window"](storage_from_string(storage_uri))

    return whole(new_limiter=new_limiter)


@right("moving-window")
def factory_with_options() -> Fixes:
    """A factory object passing storage options (wrap_exceptions) and a keyword storage."""

    class Factory:
        def __init__(self, **options: Any) -> None:
            self.options = options

        def __call__(self, storage_uri: str) -> RateLimiter:
            storage = storage_from_string(storage_uri, **self.options)
            return MovingWindowRateLimiter(storage=storage)

    return whole(new_limiter=Factory(wrap_exceptions=True))
