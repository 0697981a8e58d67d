"""The one table of cell markers shared by the course build and the grader.

In ``course/*.py`` (jupytext percent format) a cell is tagged by its metadata::

    # %% labkit={"answer": "hashing"}     <- the learner writes this cell
    # %% labkit={"check": "hashing"}      <- runs lab.check("hashing", ...)

Answer cells hold solutions between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; an
optional ``### STUB`` line inside the region starts what the learner gets instead.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ANSWER",
    "BEGIN_SOLUTION",
    "CHECK",
    "END_SOLUTION",
    "METADATA_KEY",
    "STUB",
    "cell_role",
]

METADATA_KEY = "labkit"
ANSWER = "answer"
CHECK = "check"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
STUB = "### STUB"
END_SOLUTION = "### END SOLUTION"


def cell_role(cell: Any) -> tuple[str, str] | None:
    """``("answer", id)``, ``("check", id)`` or None for an untagged cell."""
    marks = cell.get("metadata", {}).get(METADATA_KEY, {})
    for role in (ANSWER, CHECK):
        if isinstance(marks, dict) and isinstance(marks.get(role), str):
            return role, marks[role]
    return None
