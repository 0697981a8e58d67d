"""Find and read submissions: ``SUBMISSIONS_DIR/<student>/<notebook>.ipynb``.

A notebook's lab comes from its metadata (``labkit.lab``, written by ``labkit build``) first
and from its file name second, so ``lab6.ipynb`` is still graded as lab 06. A student hands in
one notebook per lab: of several (``10-cors.ipynb`` and ``10-cors-Copy1.ipynb``), the most
recently saved one is graded and the others are named in the gradebook's message.

Everything is read into memory before any notebook runs, so nothing a running submission
writes to disk can change what another one hands in.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from labkit.course.cells import ANSWER, CHECK, METADATA_KEY, cell_role
from labkit.grading.canonical import Course
from labkit.grading.splice import Part

__all__ = ["Submission", "SubmissionError", "find_submissions", "read_submission"]

MAX_BYTES = 50 * 1024 * 1024
UNREADABLE = b"\0unreadable: "


class SubmissionError(ValueError):
    """The file cannot be graded: its message goes into the gradebook's ``error`` row."""


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one lab: where it is and what was read from it."""

    student: str
    path: Path
    lab: str  # the lab id, or the file's stem when no lab matches
    raw: bytes
    mtime: float = 0.0
    others: tuple[str, ...] = ()  # the student's other files for this lab, not graded
    renamed: bool = False  # the lab comes from the metadata; the file name says otherwise

    @property
    def notes(self) -> list[str]:
        """What the gradebook says about the file itself (on every row of it)."""
        out = []
        if self.renamed:
            out.append(
                f"graded as lab {self.lab}, as the notebook's metadata says "
                f"(the file is {self.path.name})"
            )
        if self.others:
            out.append(
                f"graded {self.path.name} (the most recently saved); not graded: "
                + ", ".join(self.others)
            )
        return out


def _load(raw: bytes, name: str) -> Any:
    """The notebook in ``raw`` as nbformat 4; :class:`SubmissionError` says why not."""
    if raw.startswith(UNREADABLE):
        raise SubmissionError(f"{name}: {raw[len(UNREADABLE) :].decode(errors='replace')}")
    if not raw.strip():
        raise SubmissionError(f"{name}: the file is empty")
    if len(raw) > MAX_BYTES:
        raise SubmissionError(f"{name}: larger than {MAX_BYTES // 2**20} MB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(f"{name}: not valid JSON ({exc})") from None
    return _as_notebook(data, name)


def _claimed_lab(notebook: Any) -> str | None:
    meta = notebook.get("metadata", {}).get(METADATA_KEY, {})
    claimed = meta.get("lab") if isinstance(meta, dict) else None
    return claimed if isinstance(claimed, str) else None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        return UNREADABLE + str(exc).encode()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def find_submissions(
    root: Path,
    course: Course,
    *,
    students: Collection[str] = (),
    labs: Collection[str] = (),
) -> list[Submission]:
    """One submission per student and lab, from the ``*.ipynb`` one level below ``root`` (one
    folder per student), read now; only ``students`` and ``labs`` when given."""
    found = []
    for student_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if student_dir.name.startswith(".") or (students and student_dir.name not in students):
            continue
        by_lab: dict[str, list[Submission]] = {}
        for path in sorted(student_dir.glob("*.ipynb")):
            raw = _read(path)
            try:
                claimed = _claimed_lab(_load(raw, path.name))
            except SubmissionError:
                claimed = None
            lab = claimed if claimed in course.labs else course.lab_of(path.name) or path.stem
            sub = Submission(student_dir.name, path, lab, raw, _mtime(path))
            by_lab.setdefault(lab, []).append(sub)
        for lab, subs in sorted(by_lab.items()):
            if labs and lab not in labs:
                continue
            latest = max(subs, key=lambda s: (s.mtime, s.path.name == f"{lab}.ipynb"))
            others = tuple(s.path.name for s in subs if s is not latest)
            renamed = lab in course.labs and course.lab_of(latest.path.name) != lab
            found.append(
                Submission(
                    latest.student, latest.path, lab, latest.raw, latest.mtime, others, renamed
                )
            )
    for stray in sorted(root.glob("*.ipynb")):
        print(
            f"labkit grade: skipping {stray.name}: put it in a folder per student", file=sys.stderr
        )
    return found


def read_submission(sub: Submission, course: Course) -> list[Part]:
    """The code cells of the submission that take part in grading, in order: its answer
    cells, its check cells (as anchors) and the code cells the learner added.

    Raises :class:`SubmissionError` with a message an instructor can act on.
    """
    if sub.lab not in course.labs:
        raise SubmissionError(
            f"{sub.path.name}: neither its metadata nor its file name names a lab of this "
            f"course (expected e.g. {course.labs[0] if course.labs else '00-welcome'}.ipynb)"
        )
    notebook = _load(sub.raw, sub.path.name)
    claimed = _claimed_lab(notebook)
    if claimed is not None and claimed != sub.lab:
        known = "" if claimed in course.labs else ", which this course does not have"
        raise SubmissionError(
            f"{sub.path.name}: this is a notebook of lab {claimed}{known}, not {sub.lab}"
        )
    canonical = course[sub.lab]
    release_ids, release_sources = set(), set()
    for cell in canonical.notebook.cells:
        release_ids.add(cell.get("id"))
        if cell.cell_type == "code" and cell_role(cell) is None:
            release_sources.add(cell.source.strip())
    parts: list[Part] = []
    for index, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        role = cell_role(cell)
        source = str(cell.get("source", ""))
        if role and role[0] in (ANSWER, CHECK):
            parts.append(Part(role, source, index))
        elif source.strip() and not (
            cell.get("id") in release_ids or source.strip() in release_sources
        ):
            parts.append(Part(None, source, index))
    answers = {p.role[1] for p in parts if p.role and p.role[0] == ANSWER}
    if foreign := sorted(answers - set(canonical.answers)):
        raise SubmissionError(
            f"{sub.path.name}: answer cells {', '.join(foreign)} do not belong to lab {sub.lab}"
        )
    if claimed is None and not answers:
        raise SubmissionError(f"{sub.path.name}: not a labkit notebook (no lab, no answer cells)")
    return parts


def _as_notebook(data: Any, name: str) -> Any:
    if not isinstance(data, dict):
        raise SubmissionError(f"{name}: valid JSON but not a Jupyter notebook (no cells)")
    if data.get("nbformat") == 3 and isinstance(data.get("worksheets"), list):
        try:  # Jupyter before 4.0 / IPython 3: upgrade, as Jupyter itself does on open
            data = nbformat.convert(nbformat.from_dict(data), 4)
        except Exception as exc:  # nbformat raises many things on odd input
            raise SubmissionError(f"{name}: an nbformat 3 notebook that cannot be upgraded "
                                  f"({exc})") from None  # fmt: skip
    if not isinstance(data.get("cells"), list):
        raise SubmissionError(f"{name}: valid JSON but not a Jupyter notebook (no cells)")
    if not isinstance(data.get("metadata", {}), dict):
        raise SubmissionError(f"{name}: not a Jupyter notebook (metadata is not an object)")
    try:
        notebook = nbformat.from_dict(data)
        for cell in notebook.cells:
            if isinstance(cell.get("source"), list):
                cell["source"] = "".join(cell["source"])
    except Exception as exc:  # nbformat raises many things on odd input
        raise SubmissionError(f"{name}: not a readable Jupyter notebook ({exc})") from None
    return notebook
