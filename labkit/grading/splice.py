"""Splice a submission's answer cells into the canonical release.

Only the *source* of answer cells (matched by their metadata id, in order for an id used
twice) is taken from the submission; check cells, markdown, metadata and outputs all come
from the canonical release, so editing or deleting check cells or forging outputs changes
nothing. A missing answer cell keeps the release stub.
"""

from __future__ import annotations

import copy
from typing import Any

from labkit.course.cells import ANSWER, cell_role

__all__ = ["splice"]


def splice(canonical: Any, answers: dict[str, list[str]]) -> tuple[Any, dict[str, list[str]]]:
    """A fresh copy of ``canonical`` with the submitted answers, and notes by answer id."""
    notebook = copy.deepcopy(canonical)
    used: dict[str, int] = {}
    notes: dict[str, list[str]] = {}
    for cell in notebook.cells:
        role = cell_role(cell)
        if not role or role[0] != ANSWER:
            continue
        index = used.get(role[1], 0)
        used[role[1]] = index + 1
        sources = answers.get(role[1], [])
        if index < len(sources):
            cell.source = sources[index]
        else:
            notes.setdefault(role[1], []).append(
                f"answer cell {role[1]} missing: graded with the release stub"
            )
    for answer_id, sources in answers.items():
        if len(sources) > used.get(answer_id, 0):
            notes.setdefault(answer_id, []).append(f"extra answer cells {answer_id} ignored")
    return notebook, notes
