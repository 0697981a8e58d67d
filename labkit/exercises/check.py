"""Checks: black-box verdicts over HTTP, and the result a learner sees.

A check function receives a :class:`CheckContext` — the URL of the lab's vulnerable app, the
URL of the learner's patched app (for fix checks) and the learner's answer as plain data —
and returns a :class:`Verdict`. It judges only what it can observe from outside: responses,
headers, cookies, timings, and what a breach would expose (lab-only ``/api/_lab/...`` routes).
It never calls learner functions, which is what lets a grader run it in a clean process.
"""

from __future__ import annotations

import contextlib
import os
import random
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from labkit.exercises.rules import Rule
from labkit.exercises.running import note_step

__all__ = [
    "EXPECTED_CRASH",
    "MAX_MESSAGE_CHARS",
    "CheckContext",
    "CheckFailed",
    "CheckResult",
    "CheckSpec",
    "Findings",
    "Target",
    "Verdict",
    "strict_mode",
]

CheckKind = Literal["practice", "attack", "fix"]
STRICT_ENV = "LABKIT_STRICT"
#: A verdict's message stays readable: one problem at most this long, all of them at most
#: :data:`MAX_MESSAGE_CHARS` (a check once printed a 200 KB body).
MAX_PROBLEM_CHARS = 400
MAX_MESSAGE_CHARS = 2000
#: Headers for a request that is meant to hit a server error (08 asks for the app's error
#: page): its plain 500 is not the learner's crash. A fault of a learner function still is.
EXPECTED_CRASH = {"X-Labkit-Expect-Crash": "1"}


def strict_mode() -> bool:
    """True when ``LABKIT_STRICT`` is set (pytest/nbval plugin, ``labkit grade``)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class CheckFailed(AssertionError):
    """Raised by a failed check in strict mode, with the message the widget shows."""


@dataclass(frozen=True)
class Target:
    """A running app as a check sees it: its base URL, and for a lab of several apps the
    base URL of each (``urls["main"]``, ``urls["client"]``...)."""

    url: str
    urls: Mapping[str, str] = field(default_factory=dict)
    ca_pem: str | None = None
    #: Server errors this target answered to a check's clients: ``"METHOD /path -> why"``.
    #: For a patched app a 5xx is the learner's code failing, never a refusal.
    crashes: list[str] = field(default_factory=list, compare=False, repr=False)

    def client(self, **kwargs: Any) -> httpx.Client:
        """A fresh client (own cookie jar) for this target; close it or use ``with``.

        An ``https://`` target is served with a lab CA (09, 13): the client trusts that CA
        (``ca_pem``, for an app served by another process) or the lab CAs of this process.
        Every 5xx it receives is noted in :attr:`crashes`.
        """
        kwargs.setdefault("timeout", 30.0)
        kwargs.setdefault("verify", self.verify())
        hooks = dict(kwargs.pop("event_hooks", None) or {})
        hooks["response"] = [*hooks.get("response", []), self._note_crash]
        return httpx.Client(base_url=self.url, trust_env=False, event_hooks=hooks, **kwargs)

    def _note_crash(self, response: httpx.Response) -> None:
        if response.status_code < 500:
            return
        response.read()
        try:
            why = response.json().get("labkitFault") or ""
        except (ValueError, AttributeError):
            why = ""
        request = response.request
        if not why and all(request.headers.get(k) == v for k, v in EXPECTED_CRASH.items()):
            return
        where = f"{request.method} {request.url.path}"
        self.crashes.append(f"{where} -> {why}" if why else f"{where} -> {response.status_code}")

    def verify(self) -> ssl.SSLContext | bool:
        """What a client of this target verifies certificates with (httpx's ``verify``)."""
        if not self.url.startswith("https://"):
            return True
        from labkit.sandbox.tls import client_context, lab_trust

        trust = client_context(cadata=self.ca_pem) if self.ca_pem else lab_trust()
        return True if trust is None else trust


@dataclass(frozen=True)
class CheckContext:
    """Everything a check may use: targets by URL and the answer as plain data."""

    lab_id: str
    check_id: str
    target: Target
    patched: Target | None = None
    answer: Any = None
    #: Seeds every generated probe input; a failed verdict that used :attr:`rng` reports it.
    seed: int = 0
    _rng: list[random.Random] = field(default_factory=list, compare=False, repr=False)

    @property
    def rng(self) -> random.Random:
        """The generator for probe inputs (not for secrets: a replayable seed is the point)."""
        if not self._rng:
            self._rng.append(random.Random(self.seed))  # noqa: S311 - replayable on purpose
        return self._rng[0]

    @property
    def seeded(self) -> bool:
        """True once a probe drew from :attr:`rng`."""
        return bool(self._rng)

    def require_patched(self) -> Target:
        if self.patched is None:
            raise ValueError(f"check {self.check_id} needs a patched app")
        return self.patched


@dataclass(frozen=True)
class Verdict:
    """What a check function concludes."""

    passed: bool
    summary: str
    details: tuple[str, ...] = ()


class Findings:
    """Collects problems while a check runs; ``verdict()`` turns them into a :class:`Verdict`.

    A check that records no problem and at least one observation passes; a check that
    observed nothing fails (a check that cannot fail is a bug). A problem found while a rule
    is being probed (``rule=`` or ``with findings.rule(id)``) is prefixed with that rule's id,
    so the learner reads which sentence of "Your fix must" was broken.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.observations: list[str] = []
        self._rule: str | None = None

    def _problem(self, problem: str, rule: str | None) -> None:
        note_step()
        rule = rule or self._rule
        self.problems.append(f"[{rule}] {problem}" if rule else problem)

    def expect(
        self, condition: bool, problem: str, observation: str = "", *, rule: str | None = None
    ) -> bool:
        if condition:
            note_step()
            if observation:
                self.observations.append(observation)
        else:
            self._problem(problem, rule)
        return condition

    def fail(self, problem: str, *, rule: str | None = None) -> None:
        self._problem(problem, rule)

    def saw(self, observation: str) -> None:
        note_step()
        self.observations.append(observation)

    @contextlib.contextmanager
    def rule(self, rule_id: str) -> Iterator[None]:
        """Tag every problem found inside with ``rule_id`` (unless it names its own)."""
        outer, self._rule = self._rule, rule_id
        note_step(rule_id)
        try:
            yield
        finally:
            self._rule = outer

    @contextlib.contextmanager
    def section(self, name: str, clean: str = "every attack refused") -> Iterator[None]:
        """Run one battery; if it added no problem, record ``"<name>: <clean>"``."""
        before = len(self.problems)
        note_step(name)
        yield
        if len(self.problems) == before:
            self.observations.append(f"{name}: {clean}")

    def verdict(self, passed_summary: str, failed_summary: str) -> Verdict:
        if self.problems:
            return Verdict(False, failed_summary, concise(self.problems))
        if not self.observations:
            return Verdict(False, "the check observed nothing (this is a bug in the check)")
        return Verdict(True, passed_summary, concise(self.observations))


def shorten(text: str, limit: int = MAX_PROBLEM_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 30]}... ({len(text) - limit + 30:,} more characters)"


def concise(lines: Iterable[str], budget: int = MAX_MESSAGE_CHARS) -> tuple[str, ...]:
    """Each line once, each short, all of them within ``budget`` characters."""
    kept: list[str] = []
    seen: set[str] = set()
    used = 0
    unique = [line for line in lines if not (line in seen or seen.add(line))]
    for index, line in enumerate(unique):
        line = shorten(line)
        if kept and used + len(line) > budget:
            kept.append(f"... and {len(unique) - index} more")
            break
        kept.append(line)
        used += len(line)
    return tuple(kept)


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: id, how to run it, its hints and which fixes it needs."""

    id: str
    title: str
    kind: CheckKind
    run: Callable[[CheckContext], Verdict]
    hints: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()
    points: int = 1
    answer_help: str = ""
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, as shown to the learner (widget) and in logs (repr)."""

    lab: str
    check_id: str
    passed: bool
    summary: str
    details: tuple[str, ...] = field(default=())

    @property
    def status(self) -> str:
        return "PASSED" if self.passed else "FAILED"

    def __repr__(self) -> str:
        head = f"[{self.lab}/{self.check_id}] {self.status} — {self.summary}"
        return "\n".join([head, *(f"  - {d}" for d in self.details)])

    __str__ = __repr__

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        from labkit.exercises.feedback import result_mimebundle

        return result_mimebundle(self)


def describe_answer(answer: Any) -> str:
    """A short, safe description of a learner's answer for messages."""
    text = repr(answer)
    return text if len(text) <= 60 else text[:57] + "..."


def join(items: Iterable[str]) -> str:
    return ", ".join(items)
