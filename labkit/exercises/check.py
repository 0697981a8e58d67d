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
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

__all__ = [
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

    def client(self, **kwargs: Any) -> httpx.Client:
        """A fresh client (own cookie jar) for this target; close it or use ``with``.

        An ``https://`` target is served with a lab CA (09, 13): the client trusts that CA
        (``ca_pem``, for an app served by another process) or the lab CAs of this process.
        """
        kwargs.setdefault("timeout", 30.0)
        kwargs.setdefault("verify", self.verify())
        return httpx.Client(base_url=self.url, trust_env=False, **kwargs)

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
    observed nothing fails (a check that cannot fail is a bug).
    """

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.observations: list[str] = []

    def expect(self, condition: bool, problem: str, observation: str = "") -> bool:
        if condition:
            if observation:
                self.observations.append(observation)
        else:
            self.problems.append(problem)
        return condition

    def fail(self, problem: str) -> None:
        self.problems.append(problem)

    def saw(self, observation: str) -> None:
        self.observations.append(observation)

    @contextlib.contextmanager
    def section(self, name: str, clean: str = "every attack refused") -> Iterator[None]:
        """Run one battery; if it added no problem, record ``"<name>: <clean>"``."""
        before = len(self.problems)
        yield
        if len(self.problems) == before:
            self.observations.append(f"{name}: {clean}")

    def verdict(self, passed_summary: str, failed_summary: str) -> Verdict:
        if self.problems:
            return Verdict(False, failed_summary, tuple(self.problems))
        if not self.observations:
            return Verdict(False, "the check observed nothing (this is a bug in the check)")
        return Verdict(True, passed_summary, tuple(self.observations))


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
