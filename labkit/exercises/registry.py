"""The labs of the course and their checks.

Each lab module in ``labkit.exercises.labs`` defines ``LAB = LabDefinition(...)`` and
registers its checks with the ``@LAB.check(...)`` decorator, next to their hints.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.exercises.check import CheckContext, CheckKind, CheckSpec, Verdict
from labkit.exercises.rules import Rule

__all__ = ["LABS", "LabDefinition", "UnknownLab", "get_lab"]

LABS_PACKAGE = "labkit.exercises.labs"


def _declared_lab_id(path: Path) -> str | None:
    """The id in ``LAB = LabDefinition("NN-name", ...)`` of a module, read without importing."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "LAB" for t in node.targets)
            and isinstance(node.value, ast.Call)
            and node.value.args
            and isinstance(node.value.args[0], ast.Constant)
            and isinstance(node.value.args[0].value, str)
        ):
            return node.value.args[0].value
    return None


class LabIndex(Mapping[str, str]):
    """Lab id -> module defining ``LAB``, in course order, found by scanning
    :data:`LABS_PACKAGE` once: adding a lab is adding a module there.

    The scan reads each module's source and imports nothing, so opening one lab never pays
    for importing every other lab.
    """

    def __init__(self) -> None:
        self._modules: dict[str, str] | None = None

    def _scan(self) -> dict[str, str]:
        if self._modules is None:
            package = importlib.import_module(LABS_PACKAGE)
            found = {}
            for info in pkgutil.iter_modules(package.__path__):
                lab_id = _declared_lab_id(Path(package.__path__[0]) / f"{info.name}.py")
                if lab_id is not None:
                    found[lab_id] = f"{LABS_PACKAGE}.{info.name}"
            self._modules = dict(sorted(found.items()))
        return self._modules

    def __getitem__(self, lab_id: str) -> str:
        return self._scan()[lab_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._scan())

    def __len__(self) -> int:
        return len(self._scan())


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
    #: Its attacks and checks drive headless Chromium: :func:`labkit.open_lab` starts the
    #: browser in the background while the learner reads.
    uses_browser: bool = False

    def create_app(self, *, secure: bool = False, **fixes: Any) -> Any:
        from labkit import edition

        if secure and edition.STUDENT:
            raise edition.ReferenceNotShipped(self.id, "the secure reference app")
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
        rules: tuple[Rule, ...] = (),
    ) -> Callable[[Callable[[CheckContext], Verdict]], Callable[[CheckContext], Verdict]]:
        """Register a check function under ``check_id``; a fix check lists its ``rules``."""

        def register(run: Callable[[CheckContext], Verdict]) -> Callable[[CheckContext], Verdict]:
            if check_id in self.checks:
                raise ValueError(f"{self.id}: check {check_id!r} registered twice")
            self.checks[check_id] = CheckSpec(
                check_id, title, kind, run, hints, fixes, points, answer_help, tuple(rules)
            )
            return run

        return register


#: Every lab of the course: lab id -> module, in course order.
LABS = LabIndex()


def get_lab(lab_id: str) -> LabDefinition:
    """The definition of lab ``lab_id`` (e.g. ``"01-passwords"``)."""
    if lab_id not in LABS:
        raise UnknownLab(lab_id)
    lab = importlib.import_module(LABS[lab_id]).LAB
    if not isinstance(lab, LabDefinition) or lab.id != lab_id:
        raise TypeError(f"{LABS[lab_id]}.LAB is not LabDefinition({lab_id!r}, ...)")
    return lab
