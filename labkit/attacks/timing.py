"""User enumeration against a login endpoint: by message and by response time.

An app that answers "No such user" for one case and "Invalid password" for the
other tells the attacker which emails have accounts; an app that skips the
password hash for unknown users tells them the same thing through its timing
(lab 01-passwords). These helpers send the requests; the notebook plots them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from statistics import median
from typing import Any

import httpx

__all__ = ["median", "probe_logins", "summarize", "time_logins"]

LOGIN_PATH = "/api/auth/login"


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"text": response.text}
    return body if isinstance(body, dict) else {"json": body}


def probe_logins(
    client: httpx.Client,
    emails: Iterable[str],
    *,
    password: str = "not-the-password-1",  # noqa: S107 - a deliberately wrong guess
    path: str = LOGIN_PATH,
) -> dict[str, tuple[int, dict[str, Any]]]:
    """POST one login per email and return ``{email: (status, json body)}``.

    A body that is not a JSON object comes back as ``{"text": ...}``
    (or ``{"json": ...}``) so differing answers stay visible.
    """
    results: dict[str, tuple[int, dict[str, Any]]] = {}
    for email in emails:
        response = client.post(path, json={"email": email, "password": password})
        results[email] = (response.status_code, _body(response))
    return results


def time_logins(
    client: httpx.Client,
    attempts: Mapping[str, tuple[str, str]],
    *,
    rounds: int = 20,
    path: str = LOGIN_PATH,
) -> dict[str, list[float]]:
    """Time login attempts; return ``{label: [milliseconds per round]}``.

    ``attempts`` maps a label ("unknown user", "wrong password") to
    ``(email, password)``. Rounds are interleaved, one request per label in
    turn (the starting label rotates each round), so drift such as warm-up or
    background load hits every label alike.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    labels = list(attempts)
    timings: dict[str, list[float]] = {label: [] for label in labels}
    for round_index in range(rounds):
        shift = round_index % len(labels) if labels else 0
        for label in labels[shift:] + labels[:shift]:
            email, password = attempts[label]
            start = time.perf_counter()
            client.post(path, json={"email": email, "password": password})
            timings[label].append((time.perf_counter() - start) * 1000.0)
    return timings


def summarize(timings: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Return the median duration in milliseconds for each label."""
    return {label: median(values) for label, values in timings.items()}
