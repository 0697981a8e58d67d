"""Find and read submissions: ``SUBMISSIONS_DIR/<student>/<NN-name>.ipynb``.

Everything is read into memory before any notebook runs, so nothing a running submission
writes to disk can change what another one hands in.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from labkit.course.cells import ANSWER, METADATA_KEY, cell_role
from labkit.grading.canonical import Course

__all__ = ["Submission", "SubmissionError", "find_submissions", "read_submission"]

MAX_BYTES = 50 * 1024 * 1024


class SubmissionError(ValueError):
    """The file cannot be graded: its message goes into the gradebook's ``error`` row."""


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one lab: where it is and what was read from it."""

    student: str
    path: Path
    lab: str  # the lab id, or the file's stem when no lab matches
    raw: bytes


def find_submissions(root: Path, course: Course) -> list[Submission]:
    """Every ``*.ipynb`` one level below ``root`` (one folder per student), read now."""
    found = []
    for student_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if student_dir.name.startswith("."):
            continue
        for path in sorted(student_dir.glob("*.ipynb")):
            lab = course.lab_of(path.name) or path.stem
            try:
                raw = path.read_bytes()[: MAX_BYTES + 1]
            except OSError as exc:
                raw = f"\0unreadable: {exc}".encode()
            found.append(Submission(student_dir.name, path, lab, raw))
    for stray in sorted(root.glob("*.ipynb")):
        print(
            f"labkit grade: skipping {stray.name}: put it in a folder per student", file=sys.stderr
        )
    return found


def read_submission(sub: Submission, course: Course) -> dict[str, list[str]]:
    """The submission's answer cells: answer id -> sources, in order of appearance.

    Raises :class:`SubmissionError` with a message an instructor can act on.
    """
    if sub.lab not in course.labs:
        raise SubmissionError(
            f"{sub.path.name}: the file name matches no lab (expected e.g. "
            f"{course.labs[0] if course.labs else '00-welcome'}.ipynb)"
        )
    if sub.raw.startswith(b"\0unreadable: "):
        raise SubmissionError(f"{sub.path.name}: {sub.raw[13:].decode(errors='replace')}")
    if not sub.raw.strip():
        raise SubmissionError(f"{sub.path.name}: the file is empty")
    if len(sub.raw) > MAX_BYTES:
        raise SubmissionError(f"{sub.path.name}: larger than {MAX_BYTES // 2**20} MB")
    try:
        data = json.loads(sub.raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(f"{sub.path.name}: not valid JSON ({exc})") from None
    notebook = _as_notebook(data, sub.path.name)
    meta = notebook.get("metadata", {}).get(METADATA_KEY, {})
    claimed = meta.get("lab") if isinstance(meta, dict) else None
    if claimed is not None and claimed != sub.lab:
        raise SubmissionError(
            f"{sub.path.name}: this is a notebook of lab {claimed}, not {sub.lab} (wrong file?)"
        )
    answers: dict[str, list[str]] = {}
    for cell in notebook.cells:
        role = cell_role(cell)
        if role and role[0] == ANSWER and cell.get("cell_type") == "code":
            answers.setdefault(role[1], []).append(str(cell.get("source", "")))
    expected = set(course[sub.lab].answers)
    if foreign := sorted(set(answers) - expected):
        raise SubmissionError(
            f"{sub.path.name}: answer cells {', '.join(foreign)} do not belong to lab {sub.lab}"
        )
    if claimed is None and not answers:
        raise SubmissionError(f"{sub.path.name}: not a labkit notebook (no lab, no answer cells)")
    return answers


def _as_notebook(data: Any, name: str) -> Any:
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
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
