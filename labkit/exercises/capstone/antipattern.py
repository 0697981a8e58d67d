"""One row of the seed's "Common Anti-Patterns Summary", as BrokenShop's checks see it.

An :class:`AntiPattern` knows how to *locate* itself — run its exploit against the route the
learner marked on the vulnerable shop (confirmed only if the exploit works there) — and how
to *replay* the battery of the lab that taught it against a patched shop (every attack must
fail, every legitimate flow must still work). Both judge only what they see over HTTP.
"""

from __future__ import annotations

import contextlib
import inspect
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from labkit.exercises.check import Findings, Target, Verdict
from labkit.exercises.rules import Rule

__all__ = ["AntiPattern", "fault", "parse_route", "replay_battery", "retag"]

#: ``locate(target, method, path)``: the exploit at the marked route of the vulnerable shop.
Locate = Callable[[Target, str, str], Verdict]
#: ``replay(patched, findings, rng)``: the earlier lab's battery against the patched shop
#: (``rng`` generates its probe inputs, seeded by the check).
Replay = Callable[[Target, Findings, random.Random], None]


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
    #: What the fix must do: the notebook's "Your fix must" list for ``fix-<id>``; every
    #: problem its battery finds names one of these rules.
    rules: tuple[Rule, ...] = ()

    def rule_ids(self) -> frozenset[str]:
        return frozenset(rule.id for rule in self.rules)


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


_TAG = re.compile(r"^\[([a-z0-9-]+)\] ")


@contextlib.contextmanager
def retag(findings: Findings, known: frozenset[str], default: str) -> Iterator[None]:
    """Problems found inside keep their rule tag if it is one of ``known`` (this row's
    rules); any other tag — an earlier lab's battery, replayed here, naming a rule of that
    lab — or none becomes ``default``, so a learner of 13 reads only 13's rules."""
    before = len(findings.problems)
    with findings.rule(default):
        yield
    for index in range(before, len(findings.problems)):
        problem = findings.problems[index]
        while (match := _TAG.match(problem)) and match.group(1) not in known:
            problem = problem[match.end() :]
        if not _TAG.match(problem):
            problem = f"[{default}] {problem}"
        findings.problems[index] = problem


def replay_battery(
    battery: Callable[..., None], subject: Any, findings: Findings, rng: random.Random
) -> None:
    """An earlier lab's battery, verbatim: ``battery(subject, findings=..., rng=...)``, the
    check's seeded generator passed on when the battery takes one."""
    if "rng" in inspect.signature(battery).parameters:
        battery(subject, findings=findings, rng=rng)
    else:
        battery(subject, findings=findings)
