"""The labs of the course and their checks.

Each lab module in ``labkit.exercises.labs`` defines ``LAB = LabDefinition(...)`` and
registers its checks with the ``@LAB.check(...)`` decorator, next to their hints.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labkit.exercises.check import CheckContext, CheckKind, CheckSpec, Verdict

__all__ = ["LABS", "LabDefinition", "UnknownLab", "get_lab"]

#: Lab id -> module defining ``LAB``, in course order.
LABS: dict[str, str] = {
    "00-welcome": "labkit.exercises.labs.welcome",
    "01-passwords": "labkit.exercises.labs.passwords",
}


class UnknownLab(KeyError):
    """No lab with that id."""

    def __str__(self) -> str:
        return f"no lab {self.args[0]!r}; labs: {', '.join(LABS)}"


@dataclass
class LabDefinition:
    """A lab: its id, title, app factory (``create_app(secure=False, **fixes)``) and checks."""

    id: str
    title: str
    app_factory: str
    checks: dict[str, CheckSpec] = field(default_factory=dict)

    def create_app(self, *, secure: bool = False, **fixes: Any) -> Any:
        module_name, _, attr = self.app_factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attr or "create_app")
        return factory(secure=secure, **fixes)

    def check(
        self,
        check_id: str,
        *,
        title: str,
        kind: CheckKind,
        hints: tuple[str, ...] = (),
        fixes: tuple[str, ...] = (),
        points: int = 1,
        answer_help: str = "",
    ) -> Callable[[Callable[[CheckContext], Verdict]], Callable[[CheckContext], Verdict]]:
        """Register a check function under ``check_id``."""

        def register(run: Callable[[CheckContext], Verdict]) -> Callable[[CheckContext], Verdict]:
            if check_id in self.checks:
                raise ValueError(f"{self.id}: check {check_id!r} registered twice")
            self.checks[check_id] = CheckSpec(
                check_id, title, kind, run, hints, fixes, points, answer_help
            )
            return run

        return register


def get_lab(lab_id: str) -> LabDefinition:
    """The definition of lab ``lab_id`` (e.g. ``"01-passwords"``)."""
    if lab_id not in LABS:
        raise UnknownLab(lab_id)
    lab = importlib.import_module(LABS[lab_id]).LAB
    if not isinstance(lab, LabDefinition):
        raise TypeError(f"{LABS[lab_id]}.LAB is not a LabDefinition")
    return lab
