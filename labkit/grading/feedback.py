"""Feedback to hand back: one self-contained HTML page per student.

Each lab counted (handed in or not), each of its checks with status, points and the message
the learner's own notebook shows for it.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from pathlib import Path

from labkit.grading.gradebook import FLAG, lab_totals, write_atomic
from labkit.grading.outcome import Row
from labkit.grading.report import STYLE, status_cell

__all__ = ["feedback_name", "for_student", "render_feedback", "write_feedback"]


def feedback_name(student: str) -> str:
    """The page's file name: the student's folder name, made safe for any file system."""
    return (re.sub(r"[^A-Za-z0-9._@-]+", "_", student).strip("._") or "student") + ".html"


def for_student(message: str) -> str:
    """The message without the instructor's ``FLAGGED: ...`` notes."""
    return " | ".join(p for p in message.split(" | ") if not p.startswith(FLAG))


def render_feedback(student: str, rows: list[Row], totals: dict[str, int]) -> str:
    """One student's page (``rows``: theirs)."""
    by_lab: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_lab[row.lab].append(row)
    counted = sum(r.points for r in rows if r.lab in totals)
    most = sum(totals.values())
    sections = []
    for lab in sorted({*totals, *by_lab}):
        mine = by_lab.get(lab, [])
        if not mine:
            sections.append(f"<h2>{html.escape(lab)} — not handed in (0/{totals[lab]})</h2>")
            continue
        points, total = sum(r.points for r in mine), sum(r.max_points for r in mine)
        trs = "".join(
            f"<tr><td>{html.escape(r.check or '(the notebook)')}</td>{status_cell(r.status)}"
            f"<td class='n'>{r.points}/{r.max_points}</td>"
            f"<td>{html.escape(for_student(r.message))}</td></tr>"
            for r in mine
        )
        sections.append(
            f"<h2>{html.escape(lab)} — {points}/{total} points</h2><table><tr><th>check</th>"
            f"<th>status</th><th>points</th><th>message</th></tr>{trs}</table>"
        )
    title = f"Feedback for {html.escape(student)}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        f"<p><b>{counted}/{most} points</b> over the labs graded "
        f"({html.escape(', '.join(sorted(totals)))}).</p>{''.join(sections)}"
        f"<p><small>Each message is what your notebook's check cell shows for that check. "
        f"<code>not-evaluated</code>: the check never ran to the end (a time limit, the "
        f"memory limit or a crash before it).</small></p></body></html>\n"
    )


def write_feedback(
    folder: Path, rows: list[Row], totals: dict[str, int] | None = None
) -> list[Path]:
    """Write ``folder/<student>.html`` for every student in ``rows``; returns the paths."""
    totals = lab_totals(rows) if totals is None else totals
    by_student: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_student[row.student].append(row)
    written: list[Path] = []
    for student, mine in sorted(by_student.items()):
        path = folder / feedback_name(student)
        if path in written:  # two folder names made safe to the same file name
            path = path.with_name(f"{path.stem}-{len(written)}.html")
        write_atomic(path, render_feedback(student, mine, totals))
        written.append(path)
    return written
