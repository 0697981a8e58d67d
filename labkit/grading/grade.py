"""``labkit grade``: read, splice, run every submission in its own worker, write the book."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from labkit.course.cells import ANSWER, METADATA_KEY, cell_role
from labkit.grading.canonical import Course
from labkit.grading.execute import Limits
from labkit.grading.flags import scan_answer
from labkit.grading.gradebook import (
    lab_totals,
    merge,
    read_gradebook,
    summary_path,
    write_gradebook,
    write_summary,
)
from labkit.grading.journal import Journal, journal_path
from labkit.grading.local import Outcome, context, run_job
from labkit.grading.outcome import Row
from labkit.grading.score import error_row, score
from labkit.grading.splice import OWN, splice
from labkit.grading.submissions import (
    Submission,
    SubmissionError,
    find_submissions,
    read_submission,
)
from labkit.grading.worker import WorkerResult

__all__ = ["Prepared", "grade", "grade_submissions", "prepare"]

#: Runs prepared submissions; yields each with its outcome and seconds, as they finish.
Runner = Callable[[list["Prepared"], Limits], Iterator[tuple["Prepared", Outcome, float]]]


@dataclass
class Prepared:
    """A readable submission, spliced and scanned, ready for a worker."""

    submission: Submission
    notebook: str
    notes: dict[str, list[str]]
    flags: list[str]


def prepare(sub: Submission, course: Course) -> Prepared | Row:
    """Read and splice ``sub``; an ``error`` row when it cannot be graded."""
    try:
        parts = read_submission(sub, course)
    except SubmissionError as exc:
        most = course[sub.lab].max_points if sub.lab in course.labs else 0
        return error_row(sub.student, sub.lab, " | ".join([str(exc), *sub.notes]), most)
    notebook, notes = splice(course[sub.lab].notebook, parts)
    notes[""] = sub.notes
    flags = []
    for cell in notebook.cells:
        role = cell_role(cell)
        own = cell.metadata.get(METADATA_KEY, {}).get(OWN)
        where = f"answer {role[1]}" if role and role[0] == ANSWER else f"own cell {own}"
        if (role and role[0] == ANSWER) or own:
            flags += [f"{where} {flag}" for flag in scan_answer(cell.source)]
    return Prepared(sub, nbformat.writes(notebook), notes, sorted(set(flags)))


def run_locally(jobs: int) -> Runner:
    """Each submission in a worker process of this machine, ``jobs`` at a time."""

    def runner(
        prepared: list[Prepared], limits: Limits
    ) -> Iterator[tuple[Prepared, Outcome, float]]:
        if not prepared:
            return
        ctx = context({p.submission.lab for p in prepared})
        scratch = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
        os.chmod(scratch, 0o700)

        def one(prep: Prepared) -> tuple[Prepared, Outcome, float]:
            started = time.monotonic()
            sub = prep.submission
            outcome = run_job(sub.lab, prep.notebook, limits, scratch, ctx)
            return prep, outcome, time.monotonic() - started

        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            for future in as_completed([pool.submit(one, p) for p in prepared]):
                yield future.result()
        finally:  # interrupted: start no other submission, wait for those running
            pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(scratch, ignore_errors=True)

    return runner


def _scored(prep: Prepared, course: Course, outcome: Outcome) -> list[Row]:
    sub, canonical = prep.submission, course[prep.submission.lab]
    if outcome.result is None:  # the worker crashed or ran out of time: nothing evaluated
        result = WorkerResult({}, {}, outcome.reason, "")
        return score(sub.student, canonical, result, notes={"": sub.notes}, flags=prep.flags)
    return score(sub.student, canonical, outcome.result, notes=prep.notes, flags=prep.flags)


def _log(done: int, total: int, text: str) -> None:
    print(f"[{done}/{total}] {text}", file=sys.stderr, flush=True)


def grade_submissions(
    root: Path,
    course_dir: Path,
    *,
    jobs: int,
    limits: Limits,
    log: bool = True,
    students: Collection[str] = (),
    labs: Collection[str] = (),
    skip: Collection[tuple[str, str]] = (),
    journal: Journal | None = None,
    runner: Runner | None = None,
) -> list[Row]:
    """Grade the submissions under ``root`` (only ``students`` and ``labs`` when given, none
    of ``skip``: student x lab); each one's rows go to ``journal`` as soon as it is graded.
    Returns the new rows, sorted."""
    course = Course(course_dir)
    done_before = set(skip)
    subs = [s for s in find_submissions(root, course, students=students, labs=labs)
            if (s.student, s.lab) not in done_before]  # fmt: skip
    rows: list[Row] = []
    prepared: list[Prepared] = []
    done = 0
    for sub in subs:
        item = prepare(sub, course)
        if isinstance(item, Prepared):
            prepared.append(item)
            continue
        rows.append(item)
        done += 1
        if journal is not None:
            journal.append([item])
        if log:
            _log(done, len(subs), f"{sub.student}/{sub.lab}: error: {item.message}")
    for prep, outcome, seconds in (runner or run_locally(jobs))(prepared, limits):
        out = _scored(prep, course, outcome)
        rows += out
        done += 1
        if journal is not None:
            journal.append(out)
        if log:
            passed = sum(r.status == "passed" for r in out)
            sub = prep.submission
            _log(done, len(subs), f"{sub.student}/{sub.lab}: {passed}/{len(out)} passed "
                                  f"({seconds:.1f} s)")  # fmt: skip
    return sort_rows(rows, course)


def sort_rows(rows: list[Row], course: Course) -> list[Row]:
    """By student, lab, then the lab's check order."""
    order = {lab: {c.id: i for i, c in enumerate(course[lab].checks)} for lab in
             {r.lab for r in rows if r.lab in course.labs}}  # fmt: skip
    return sorted(rows, key=lambda r: (r.student, r.lab, order.get(r.lab, {}).get(r.check, -1)))


def _graded(rows: list[Row]) -> set[tuple[str, str]]:
    """Student x lab already graded to the end (rows ``not-evaluated`` may be an interrupted
    run's doing: they are graded again)."""
    keys = {(r.student, r.lab) for r in rows}
    return keys - {(r.student, r.lab) for r in rows if r.status == "not-evaluated"}


def grade(
    submissions: Path,
    out: Path,
    *,
    course_dir: Path = Path("course"),
    html: Path | None = None,
    feedback: Path | None = None,
    jobs: int | None = None,
    limits: Limits | None = None,
    log: bool = True,
    students: Collection[str] = (),
    labs: Collection[str] = (),
    count_labs: Collection[str] = (),
    resume: bool = False,
    runner: Runner | None = None,
) -> list[Row]:
    """Grade ``submissions`` and write ``out`` (plus its summary, ``html`` and ``feedback``).

    With ``students`` or ``labs`` only those are (re)graded and merged into the existing
    ``out``; with ``resume`` what ``out`` and its journal already hold is kept and skipped.
    ``count_labs``: the labs the summary's ``percent`` is over (default: every lab in the
    gradebook). Returns every row of the gradebook written.
    """
    journal = Journal(journal_path(out))
    old = read_gradebook(out) if (students or labs or resume) and out.exists() else []
    if resume:
        old = merge(old, journal.read())
    else:
        journal.remove()
    course = Course(course_dir)
    new = grade_submissions(
        submissions, course_dir, jobs=jobs or os.cpu_count() or 1, limits=limits or Limits(),
        log=log, students=students, labs=labs, skip=_graded(old) if resume else (),
        journal=journal, runner=runner,
    )  # fmt: skip
    rows = sort_rows(merge(old, new), course)
    write_outputs(rows, out, html=html, feedback=feedback, totals=totals(rows, course, count_labs))
    journal.remove()
    return rows


def totals(
    rows: list[Row], course: Course | None, count_labs: Collection[str] = ()
) -> dict[str, int]:
    """Max points of the labs ``percent`` is over: ``count_labs``, or every lab in ``rows``."""
    found = lab_totals(rows)
    labs = list(count_labs) or sorted(found)
    known = course.labs if course is not None else ()
    return {lab: course[lab].max_points if course is not None and lab in known
            else found.get(lab, 0) for lab in labs}  # fmt: skip


def write_outputs(
    rows: list[Row],
    out: Path,
    *,
    html: Path | None = None,
    feedback: Path | None = None,
    totals: dict[str, int] | None = None,
) -> None:
    """The gradebook, its summary, and the class report and feedback pages when asked."""
    write_gradebook(out, rows)
    write_summary(summary_path(out), rows, totals)
    if html is not None:
        from labkit.grading.report import write_report

        write_report(html, rows, totals)
    if feedback is not None:
        from labkit.grading.feedback import write_feedback

        write_feedback(feedback, rows, totals)
