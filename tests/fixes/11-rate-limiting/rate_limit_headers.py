"""11 headers: what a limited answer tells the client."""

from __future__ import annotations

import base64
import email.utils
import time
from typing import Any

from labkit.patterns import ratelimit as reference
from labkit.vulnerable import ratelimit as hotfix
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


@wrong("headers", breaks="policy-field", also=("verify",))
def draft_6_trio() -> Fixes:
    """express-rate-limit's standardHeaders: RateLimit-Limit/-Remaining/-Reset (draft 6)."""
    return whole(rate_limit_headers=hotfix.rate_limit_headers)


@wrong("headers", breaks="policy-field")
def window_in_minutes() -> Fixes:
    """w in minutes ("15" for the login) instead of seconds."""

    def headers(
        policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
    ) -> dict[str, str]:
        fields = reference.rate_limit_headers(policy, quota, window, remaining, reset, refused)
        fields["RateLimit-Policy"] = f'"{policy}";q={quota};w={max(1, window // 60)}'
        return fields

    return whole(rate_limit_headers=headers)


@wrong("headers", breaks="remaining-field")
def reset_as_timestamp() -> Fixes:
    """t as a Unix timestamp (when the window resets) instead of seconds from now."""

    def headers(
        policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
    ) -> dict[str, str]:
        at = int(time.time()) + reset
        return reference.rate_limit_headers(policy, quota, window, remaining, at, refused)

    return whole(rate_limit_headers=headers)


@wrong("headers", breaks="remaining-field")
def used_instead_of_remaining() -> Fixes:
    """r as the number of requests used so far, counting up."""

    def headers(
        policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
    ) -> dict[str, str]:
        used = quota - remaining
        return reference.rate_limit_headers(policy, quota, window, used, reset, refused)

    return whole(rate_limit_headers=headers)


@wrong("headers", breaks="retry-after")
def no_retry_after() -> Fixes:
    """The RateLimit fields, right, but no Retry-After on a 429."""

    def headers(*args: Any) -> dict[str, str]:
        fields = reference.rate_limit_headers(*args)
        fields.pop("Retry-After", None)
        return fields

    return whole(rate_limit_headers=headers)


@wrong("headers", breaks="retry-after")
def retry_after_in_ms() -> Fixes:
    """Retry-After in milliseconds, as some JavaScript clients expect."""

    def headers(
        policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
    ) -> dict[str, str]:
        fields = reference.rate_limit_headers(policy, quota, window, remaining, reset, refused)
        if refused:
            fields["Retry-After"] = str(reset * 1000)
        return fields

    return whole(rate_limit_headers=headers)


@right("headers")
def http_date_and_partition_key() -> Fixes:
    """Retry-After as an HTTP-date (RFC 9110 allows it), a pk parameter, lower-case names."""

    def headers(
        policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
    ) -> dict[str, str]:
        pk = base64.b64encode(policy.encode()).decode()
        fields = {
            "ratelimit-policy": f'"{policy}";q={quota};w={window};pk=:{pk}:',
            "ratelimit": f'"{policy}";r={remaining};t={reset};pk=:{pk}:',
        }
        if refused:
            fields["retry-after"] = email.utils.formatdate(time.time() + reset, usegmt=True)
        return fields

    return whole(rate_limit_headers=headers)


@right("headers")
def header_builder_class() -> Fixes:
    """A builder object assembling the structured fields from (key, value) parameters."""

    class Fields:
        def __call__(
            self, policy: str, quota: int, window: int, remaining: int, reset: int, refused: bool
        ) -> dict[str, str]:
            out = {
                "RateLimit-Policy": self.item(policy, q=quota, w=window),
                "RateLimit": self.item(policy, r=max(remaining, 0), t=max(reset, 0)),
            }
            if refused:
                out["Retry-After"] = str(max(reset, 1))
            return out

        @staticmethod
        def item(name: str, **params: int) -> str:
            return f'"{name}"' + "".join(f";{k}={v}" for k, v in params.items())

    return whole(rate_limit_headers=Fields())
