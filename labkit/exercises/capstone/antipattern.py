"""One row of the seed's "Common Anti-Patterns Summary", as BrokenShop's fix checks see it.

An :class:`AntiPattern` knows how to *replay* the battery of the lab that taught it against a
patched shop (every attack must fail, every legitimate flow must still work), judging only what
it sees over HTTP. The audit judges the learner's own exploits instead
(:mod:`~labkit.exercises.capstone.audit`).
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

from labkit.exercises.check import Findings, Target
from labkit.exercises.rules import Rule

__all__ = ["AntiPattern", "fault", "replay_battery", "retag"]

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
    replay: Replay
    title: str
    hints: tuple[str, ...] = ()
    fix_hints: tuple[str, ...] = ()
    #: What the fix must do: the notebook's "Your fix must" list for ``fix-<id>``; every
    #: problem its battery finds names one of these rules.
    rules: tuple[Rule, ...] = ()

    def rule_ids(self) -> frozenset[str]:
        return frozenset(rule.id for rule in self.rules)


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
