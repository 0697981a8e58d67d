"""One row of the seed's "Common Anti-Patterns Summary", as BrokenShop's checks see it.

An :class:`AntiPattern` knows how to *locate* itself — run its exploit against the route the
learner marked on the vulnerable shop (confirmed only if the exploit works there) — and how
to *replay* the battery of the lab that taught it against a patched shop (every attack must
fail, every legitimate flow must still work). Both judge only what they see over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from labkit.exercises.check import Findings, Target, Verdict

__all__ = ["AntiPattern", "fault", "parse_route"]

#: ``locate(target, method, path)``: the exploit at the marked route of the vulnerable shop.
Locate = Callable[[Target, str, str], Verdict]
#: ``replay(patched, findings)``: the earlier lab's battery against the patched shop.
Replay = Callable[[Target, Findings], None]


@dataclass(frozen=True)
class AntiPattern:
    """A row of the summary: what to avoid, what to do instead, where the lesson was."""

    id: str
    avoid: str
    instead: str
    lab: str
    fixes: tuple[str, ...]
    locate: Locate
    replay: Replay
    title: str
    hints: tuple[str, ...] = ()
    fix_hints: tuple[str, ...] = ()


def parse_route(mark: object) -> tuple[str, str] | str:
    """``"POST /api/auth/login"`` -> ``("POST", "/api/auth/login")``; a message if malformed."""
    if not isinstance(mark, str) or not mark.strip():
        return "not marked yet: pick the route where it lives, e.g. 'POST /api/auth/login'"
    method, _, path = mark.strip().partition(" ")
    method, path = method.upper(), path.strip()
    if method not in {"GET", "POST", "PUT", "PATCH", "DELETE"} or not path.startswith("/"):
        return f"{mark!r} is not a route: write it as 'METHOD /path', e.g. 'GET /api/account'"
    return method, path.split("?")[0]


def fault(response: httpx.Response) -> str:
    """`` — <labkitFault>`` when a learner's function failed in the shop, else ""."""
    try:
        body = response.json()
    except ValueError:
        return ""
    text = body.get("labkitFault", "") if isinstance(body, dict) else ""
    return f" — {text}" if text else ""
