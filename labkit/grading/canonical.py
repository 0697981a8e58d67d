"""The canonical release of each lab, built fresh from ``course/``: what a submission is
spliced into, and the checks (with their points) that make up its grade."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.course.build import SOURCE_GLOB, build_notebook
from labkit.course.cells import ANSWER, CHECK, METADATA_KEY, cell_role

__all__ = ["Canonical", "CheckSlot", "Course"]


@dataclass(frozen=True)
class CheckSlot:
    """One gradable check of a lab, in notebook order."""

    id: str
    points: int


@dataclass(frozen=True)
class Canonical:
    """A lab's release notebook and what grading needs to know about it."""

    lab: str
    notebook: Any
    checks: tuple[CheckSlot, ...]
    answers: tuple[str, ...]

    @property
    def max_points(self) -> int:
        return sum(c.points for c in self.checks)


def _canonical(source: Path) -> Canonical:
    notebook = build_notebook(source)
    checks: list[CheckSlot] = []
    answers: list[str] = []
    for cell in notebook.cells:
        role = cell_role(cell)
        if role and role[0] == CHECK and role[1] not in {c.id for c in checks}:
            points = cell.metadata[METADATA_KEY].get("points", 1)
            checks.append(CheckSlot(role[1], int(points)))
        elif role and role[0] == ANSWER:
            answers.append(role[1])
    return Canonical(source.stem, notebook, tuple(checks), tuple(answers))


class Course:
    """The labs of a course folder; each lab's release is built on first use, then cached."""

    def __init__(self, course_dir: Path) -> None:
        self.dir = course_dir
        self.labs = tuple(src.stem for src in sorted(course_dir.glob(SOURCE_GLOB)))
        self._built: dict[str, Canonical] = {}

    def __getitem__(self, lab_id: str) -> Canonical:
        if lab_id not in self._built:
            self._built[lab_id] = _canonical(self.dir / f"{lab_id}.py")
        return self._built[lab_id]

    def lab_of(self, filename: str) -> str | None:
        """The lab a file name belongs to: ``01-passwords.ipynb``, ``01-passwords (2).ipynb``,
        ``01-passwords-Copy1.ipynb`` -> ``01-passwords`` (the longest matching lab id)."""
        stem = filename.removesuffix(".ipynb")
        matches = [
            lab for lab in self.labs if stem == lab or stem.startswith((lab + " ", lab + "-"))
        ]
        return max(matches, key=len, default=None)
