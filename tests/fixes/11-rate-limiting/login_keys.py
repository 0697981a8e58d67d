"""11 login-limit and account-case: what one login attempt is counted against."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
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


@wrong("login-limit", breaks="per-account", also=("verify",))
def ip_only() -> Fixes:
    """Per IP only: a botnet guesses one account from many addresses."""
    return whole(login_keys=lambda ip, email: [f"ip:{ip}"])


@wrong("login-limit", breaks="per-ip")
def account_only() -> Fixes:
    """Per account only: one address tries every leaked account once."""
    return whole(login_keys=lambda ip, email: [f"account:{email.strip().lower()}"])


@wrong("login-limit", breaks="per-account")
def pair_key() -> Fixes:
    """One key for the (IP, account) pair: a new address or a new account is a new quota."""
    return whole(login_keys=lambda ip, email: [f"{ip}|{email.strip().lower()}"])


@wrong("login-limit", breaks="separate-keys")
def unprefixed_keys() -> Fixes:
    """The IP and the email as bare keys: an 'email' spelling an address spends its quota."""
    return whole(login_keys=lambda ip, email: [ip, email.strip().casefold()])


@wrong("login-limit", breaks="legit-login", also=("account-case", "verify"))
def whole_endpoint_key() -> Fixes:
    """A key for the login endpoint itself: 5 logins per 15 minutes for the whole shop."""
    return whole(
        login_keys=lambda ip, email: ["login", f"ip:{ip}", f"account:{email.strip().casefold()}"]
    )


@wrong("account-case", breaks="account-normalised")
def case_sensitive() -> Fixes:
    """Both keys, the account exactly as typed: Carol@Example.com is a new quota."""
    return whole(login_keys=lambda ip, email: [f"ip:{ip}", f"account:{email}"])


@wrong("account-case", breaks="account-normalised", also=("verify",))
def lower_without_strip() -> Fixes:
    """Case-folded but not stripped: ' carol@example.com' is a new quota, the same login."""
    return whole(login_keys=lambda ip, email: [f"ip:{ip}", f"account:{email.casefold()}"])


@wrong("account-case", breaks="account-normalised")
def strip_spaces_only() -> Fixes:
    """strip(' ') and lower(): a tab or a newline around the email still buys a quota."""
    return whole(login_keys=lambda ip, email: [f"ip:{ip}", f"account:{email.strip(' ').lower()}"])


@right("login-limit", also=("account-case",))
def tuple_of_hashed_keys() -> Fixes:
    """A tuple (not a list), the account as a SHA-256 of the lowered, stripped email."""

    def login_keys(ip: str, email: str) -> tuple[str, str]:
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        return (f"client-ip/{ip}", f"user/{account}")

    return whole(login_keys=login_keys)


@right("login-limit", also=("account-case",))
def generator_of_keys() -> Fixes:
    """A generator over the two keys, normalising with split/join and casefold."""

    def login_keys(ip: str, email: str) -> Iterator[str]:
        yield "addr=" + ip
        yield "acct=" + "".join(email.split()).casefold()

    return whole(login_keys=login_keys)


@right("account-case")
def keys_class() -> Fixes:
    """A callable object keeping its prefixes, the account upper-cased (as good as lower)."""

    class Keys:
        def __init__(self, ip_prefix: str, account_prefix: str) -> None:
            self.prefixes = (ip_prefix, account_prefix)

        def __call__(self, ip: str, email: str) -> list[str]:
            return [self.prefixes[0] + ip, self.prefixes[1] + email.strip().upper()]

    return whole(login_keys=Keys("ip:", "account:"))
