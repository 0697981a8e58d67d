"""Splice a submission into the canonical release of its lab.

What comes from the submission: the source of each answer cell, and the code cells the
learner added (helper functions, imports, experiments), each put back in its place relative
to the answer and check cells around it. Everything else — check cells, markdown, the
release's own code cells, outputs, metadata — comes from the release.

Running the learner's own cells is safe for the grade: a verdict is recorded only while the
grader executes a *canonical* check cell (``Verdicts.expect`` in the verifier, driven by the
check role of the cell being executed in ``execute``). Added cells are new cells with no
``check`` or ``answer`` role, so a ``lab.check`` call from one is judged but never recorded;
they can do nothing an answer cell could not do already.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import nbformat

from labkit.course.cells import ANSWER, METADATA_KEY, cell_role

__all__ = ["OWN", "Part", "splice"]

#: Metadata (under ``labkit``) of a cell the learner added: its position in their notebook.
OWN = "own"


@dataclass(frozen=True)
class Part:
    """One code cell of a submission that takes part in grading.

    ``role`` is ``("answer", id)``, ``("check", id)`` (an anchor only: its source is never
    used) or None for a cell the learner added; ``index`` is its cell number (from 1).
    """

    role: tuple[str, str] | None
    source: str
    index: int = 0


def _kept_answers(
    parts: list[Part], counts: dict[str, int], notes: dict[str, list[str]]
) -> set[int]:
    """Positions (in ``parts``) of the answer cells that are graded: for an answer the
    release has once, the last copy the learner wrote (earlier copies are drafts)."""
    where: dict[str, list[int]] = defaultdict(list)
    for i, part in enumerate(parts):
        if part.role and part.role[0] == ANSWER:
            where[part.role[1]].append(i)
    kept: set[int] = set()
    for answer_id, positions in where.items():
        most = counts.get(answer_id, 0)
        kept.update(positions[-most:] if most else [])
        if len(positions) > most > 0:
            cells = ", ".join(str(parts[i].index) for i in positions)
            which = "the last one" if most == 1 else f"the last {most}"
            notes[answer_id].append(
                f"answer cell {answer_id} appears {len(positions)} times (cells {cells}): "
                f"{which} was graded"
            )
    return kept


def splice(canonical: Any, parts: list[Part]) -> tuple[Any, dict[str, list[str]]]:
    """A fresh copy of ``canonical`` with the submitted answers and the learner's own cells,
    and notes by answer id."""
    notes: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for cell in canonical.cells:
        role = cell_role(cell)
        if role and role[0] == ANSWER:
            counts[role[1]] += 1
    kept = _kept_answers(parts, counts, notes)

    answers: dict[str, list[str]] = defaultdict(list)
    before: dict[tuple[str, str, int], list[Part]] = defaultdict(list)  # anchor -> own cells
    seen: dict[tuple[str, str], int] = defaultdict(int)
    pending: list[Part] = []
    for i, part in enumerate(parts):
        if part.role is None:
            pending.append(part)
            continue
        if part.role[0] == ANSWER and i not in kept:
            continue
        if part.role[0] == ANSWER:
            answers[part.role[1]].append(part.source)
        occurrence = seen[part.role]
        seen[part.role] += 1
        before[(*part.role, occurrence)].extend(pending)
        pending = []

    notebook = copy.deepcopy(canonical)
    cells: list[Any] = []
    placed: dict[tuple[str, str], int] = defaultdict(int)
    for cell in notebook.cells:
        role = cell_role(cell)
        if role is not None:
            occurrence = placed[role]
            placed[role] += 1
            cells += [_own_cell(p) for p in before.pop((*role, occurrence), [])]
        if role and role[0] == ANSWER:
            sources = answers.get(role[1], [])
            if occurrence < len(sources):
                cell.source = sources[occurrence]
            else:
                notes[role[1]].append(
                    f"answer cell {role[1]} missing: graded with the release stub"
                )
        cells.append(cell)
    for _, own in sorted(before.items(), key=lambda kv: kv[1][0].index if kv[1] else 0):
        pending = own + pending  # anchors the release does not have: run them at the end
    cells += [_own_cell(p) for p in sorted(pending, key=lambda p: p.index)]
    notebook.cells = cells
    return notebook, dict(notes)


def _own_cell(part: Part) -> Any:
    """A new cell with the learner's source and no role: nothing of their metadata is kept."""
    cell = nbformat.v4.new_code_cell(part.source)
    cell.metadata[METADATA_KEY] = {OWN: part.index}
    return cell
