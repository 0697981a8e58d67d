"""``labkit grade``: read, splice, run every submission in its own worker, write the book."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from labkit.course.cells import ANSWER, cell_role
from labkit.grading.canonical import Course
from labkit.grading.execute import Limits
from labkit.grading.flags import scan_answer
from labkit.grading.gradebook import summary_path, write_gradebook, write_summary
from labkit.grading.outcome import Row
from labkit.grading.score import error_row, not_evaluated, score
from labkit.grading.splice import splice
from labkit.grading.submissions import (
    Submission,
    SubmissionError,
    find_submissions,
    read_submission,
)
from labkit.grading.worker import Job, WorkerResult, sign, work

__all__ = ["Prepared", "grade", "grade_submissions"]

#: Time a worker gets beyond the notebook limit: kernel start, target start, teardown.
WORKER_MARGIN_S = 90.0


@dataclass
class Prepared:
    """A readable submission, spliced and scanned, ready for a worker."""

    submission: Submission
    notebook: str
    notes: dict[str, list[str]]
    flags: list[str]


def _prepare(sub: Submission, course: Course) -> Prepared | Row:
    try:
        answers = read_submission(sub, course)
    except SubmissionError as exc:
        most = course[sub.lab].max_points if sub.lab in course.labs else 0
        return error_row(sub.student, sub.lab, str(exc), most)
    canonical = course[sub.lab]
    notebook, notes = splice(canonical.notebook, answers)
    flags = []
    for cell in notebook.cells:
        role = cell_role(cell)
        if role and role[0] == ANSWER:
            flags += [f"answer {role[1]} {flag}" for flag in scan_answer(cell.source)]
    return Prepared(sub, nbformat.writes(notebook), notes, sorted(set(flags)))


def _context() -> multiprocessing.context.BaseContext:
    """Workers fork from a server that imported labkit before any submission ran."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from labkit.exercises.registry import LABS

    context = multiprocessing.get_context("forkserver")
    labs = [LABS[lab] for lab in LABS]
    context.set_forkserver_preload(["labkit.grading.worker", "nbclient", *labs])
    return context


def _run_one(prep: Prepared, course: Course, limits: Limits, scratch: Path) -> list[Row]:
    sub, canonical = prep.submission, course[prep.submission.lab]
    directory = Path(tempfile.mkdtemp(prefix="job-", dir=scratch))
    key = secrets.token_bytes(32)
    job = Job(sub.lab, prep.notebook, str(directory), limits, key)
    context = _context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=work, args=(job, send), daemon=True)
    hard_limit = limits.notebook_s + limits.startup_s + WORKER_MARGIN_S
    result: WorkerResult | None = None
    reason = "the grader's worker for this submission crashed"
    try:
        process.start()
        send.close()
        if receive.poll(hard_limit):
            try:
                text, signature = receive.recv()
                if secrets.compare_digest(signature, sign(key, text)):
                    result = WorkerResult.from_json(text)
            except (EOFError, OSError, ValueError, TypeError, KeyError):
                result = None
        else:
            reason = f"the submission ran over the grader's hard limit ({hard_limit:.0f} s)"
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join(10)
        if process.exitcode != 0:
            result = None  # a worker killed from inside may have been made to lie
    finally:
        receive.close()
        shutil.rmtree(directory, ignore_errors=True)
    if result is None:
        return not_evaluated(sub.student, canonical, reason, prep.flags)
    return score(sub.student, canonical, result, notes=prep.notes, flags=prep.flags)


def grade_submissions(
    root: Path, course_dir: Path, *, jobs: int, limits: Limits, log: bool = True
) -> list[Row]:
    """Grade every submission under ``root``; returns the gradebook rows (sorted)."""
    course = Course(course_dir)
    prepared: list[Prepared] = []
    rows: list[Row] = []
    for sub in find_submissions(root, course):
        item = _prepare(sub, course)
        if isinstance(item, Row):
            rows.append(item)
        else:
            prepared.append(item)
    scratch = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    os.chmod(scratch, 0o700)
    done = 0

    def one(prep: Prepared) -> list[Row]:
        nonlocal done
        started = time.monotonic()
        out = _run_one(prep, course, limits, scratch)
        done += 1
        if log:
            passed = sum(r.status == "passed" for r in out)
            print(f"[{done}/{len(prepared)}] {prep.submission.student}/{prep.submission.lab}: "
                  f"{passed}/{len(out)} passed ({time.monotonic() - started:.1f} s)",
                  file=sys.stderr, flush=True)  # fmt: skip
        return out

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for out in pool.map(one, prepared):
                rows.extend(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    order = {lab: {c.id: i for i, c in enumerate(course[lab].checks)} for lab in
             {r.lab for r in rows if r.lab in course.labs}}  # fmt: skip
    return sorted(rows, key=lambda r: (r.student, r.lab, order.get(r.lab, {}).get(r.check, -1)))


def grade(
    submissions: Path,
    out: Path,
    *,
    course_dir: Path = Path("course"),
    html: Path | None = None,
    jobs: int | None = None,
    limits: Limits | None = None,
    log: bool = True,
) -> list[Row]:
    """Grade ``submissions`` and write ``out`` (plus its summary, and ``html`` if given)."""
    rows = grade_submissions(
        submissions, course_dir, jobs=jobs or os.cpu_count() or 1,
        limits=limits or Limits(), log=log,
    )  # fmt: skip
    write_gradebook(out, rows)
    write_summary(summary_path(out), rows)
    if html is not None:
        from labkit.grading.report import write_report

        write_report(html, rows)
    return rows
