"""11-rate-limiting: the secure pattern and its insecure twin, as plain functions."""

from __future__ import annotations

import inspect
import re

import pytest
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from labkit.attacks import bruteforce as bf
from labkit.exercises.labs.ratelimit import parse_policy_field
from labkit.patterns import ratelimit as secure
from labkit.vulnerable import BANNER
from labkit.vulnerable import ratelimit as weak

PROXY = frozenset({"127.0.0.2"})


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("127.0.0.1", "1.2.3.4", "127.0.0.1"),  # not our proxy: the header is a claim
        ("127.0.0.2", "198.51.100.7", "198.51.100.7"),
        ("127.0.0.2", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the proxy appended the last
        ("127.0.0.2", "198.51.100.7, 127.0.0.2", "198.51.100.7"),  # skip our own hops
        ("127.0.0.2", "not-an-ip", "127.0.0.2"),
        ("127.0.0.2", "127.0.0.2", "127.0.0.2"),
    ],
)
def test_client_ip(peer: str, header: str | None, expected: str) -> None:
    assert secure.client_ip(peer, header, PROXY) == expected


def test_client_ip_accepts_networks() -> None:
    assert secure.client_ip("10.0.3.4", "198.51.100.7", ["10.0.0.0/8"]) == "198.51.100.7"


def test_weak_client_ip_believes_anyone() -> None:
    assert weak.client_ip("127.0.0.1", "6.6.6.6, 1.1.1.1", PROXY) == "6.6.6.6"


def test_login_keys_fold_case() -> None:
    assert secure.login_keys("1.2.3.4", " Carol@Example.COM ") == [
        "ip:1.2.3.4",
        "account:carol@example.com",
    ]
    assert weak.login_keys("1.2.3.4", "Carol@Example.COM")[1] == "account:Carol@Example.COM"


def test_limiters() -> None:
    assert isinstance(secure.new_limiter(), MovingWindowRateLimiter)
    assert isinstance(weak.new_limiter("redis://ignored"), FixedWindowRateLimiter)


def test_consume_refuses_past_quota_and_reports_tightest() -> None:
    limiter = secure.new_limiter()
    checks = [(secure.SITE, "ip:a"), (secure.LOGIN, "account:b")]
    decisions = [secure.consume(limiter, checks, namespace="t") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[0].policy == secure.LOGIN and decisions[0].remaining == 4
    assert decisions[-1].remaining == 0 and decisions[-1].reset > 0
    # a refused request is not counted against the site-wide policy
    site = limiter.get_window_stats(secure.SITE.item, "t", "site", "ip:a")
    assert site.remaining == secure.SITE.quota - 5
    with pytest.raises(ValueError):
        secure.consume(limiter, [], namespace="t")


def test_headers_follow_the_draft() -> None:
    ok = secure.rate_limit_headers("login", 5, 900, 4, 900, False)
    assert ok == {"RateLimit-Policy": '"login";q=5;w=900', "RateLimit": '"login";r=4;t=900'}
    refused = secure.rate_limit_headers("login", 5, 900, 0, 600, True)
    assert refused["Retry-After"] == "600"
    assert parse_policy_field(refused["RateLimit"]) == {"login": {"r": "0", "t": "600"}}
    assert "Retry-After" not in weak.rate_limit_headers("login", 5, 900, 0, 600, True)


def test_parse_policy_field() -> None:
    assert parse_policy_field('"a";q=1;w=2, b;q=3') == {"a": {"q": "1", "w": "2"}, "b": {"q": "3"}}
    assert parse_policy_field("5") == {}
    assert parse_policy_field(None) == {}


def test_policy_validates() -> None:
    with pytest.raises(ValueError):
        secure.Policy("x", 0, 10)


def test_case_variants_distinct() -> None:
    spellings = bf.case_variants("carol@example.com")
    seen = [next(spellings) for _ in range(20)]
    assert seen[0] == "carol@example.com" and len(set(seen)) == 20
    assert all(s.lower() == "carol@example.com" for s in seen)


def test_allowed_per_window() -> None:
    events = [(0.0, 200), (0.5, 200), (1.9, 200), (2.1, 429), (2.2, 200)]
    assert bf.allowed_per_window(events, 2) == 3


PUBLIC = [weak.client_ip, weak.login_keys, weak.new_limiter, weak.rate_limit_headers,
          weak.hash_password_fast]  # fmt: skip


def test_vulnerable_module_banner() -> None:
    assert " ".join((weak.__doc__ or "").split()).startswith(BANNER)


@pytest.mark.parametrize("func", PUBLIC, ids=lambda f: f.__name__)
def test_vulnerable_docstrings(func: object) -> None:
    doc = " ".join((inspect.getdoc(func) or "").split())
    twin = r"Secure twin: labkit\.patterns\.\w+\.\w+\."
    assert re.search(rf"Flaw: .+ Exploited in: 11-rate-limiting \(.+\)\. {twin}", doc), doc
