"""Grading runs as an instructor lives them: interrupted and resumed, part of a class
regraded into an existing gradebook, the report rebuilt from the CSV.

The notebooks are read and spliced for real; the kernels are replaced by a runner that
returns chosen verdicts, so these tests show the bookkeeping, fast. (Real kernels: the
tamper batch in test_grading_tamper.py and the Dask run in test_grading_cluster.py.)
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from labkit.cli import main
from labkit.course.build import build_notebook
from labkit.grading.execute import Limits
from labkit.grading.grade import Prepared, grade
from labkit.grading.gradebook import read_gradebook, summary_path
from labkit.grading.journal import journal_path
from labkit.grading.local import Outcome
from labkit.grading.worker import WorkerResult

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "course"
CHECKS = ("first-ticket", "greeting-fix")


def _class(root: Path, students: tuple[str, ...] = ("ann", "bob", "cy")) -> Path:
    nb = build_notebook(COURSE / "00-welcome.py", solved=True)
    for student in students:
        (root / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, root / student / "00-welcome.ipynb")
    (root / "dee").mkdir(exist_ok=True)
    (root / "dee" / "00-welcome.ipynb").write_text("{broken")  # an error row
    return root


class Fake:
    """A runner that 'grades' every submission with one verdict and remembers what it ran;
    with ``stop_after`` it dies (like Ctrl-C) after that many."""

    def __init__(self, passed: bool, stop_after: int | None = None) -> None:
        self.passed, self.stop_after, self.ran = passed, stop_after, []

    def __call__(
        self, prepared: list[Prepared], limits: Limits
    ) -> Iterator[tuple[Prepared, Outcome, float]]:
        for prep in prepared:
            if self.stop_after is not None and len(self.ran) >= self.stop_after:
                raise KeyboardInterrupt
            self.ran.append(prep.submission.student)
            verdicts = {c: (self.passed, "seen") for c in CHECKS}
            yield prep, Outcome(WorkerResult(verdicts, dict.fromkeys(CHECKS, ""), "", "")), 0.1


def _statuses(book: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in read_gradebook(book):
        out.setdefault(row.student, set()).add(row.status)
    return out


def test_an_interrupted_run_keeps_what_it_graded_and_resume_grades_the_rest(
    tmp_path: Path,
) -> None:
    subs, book = _class(tmp_path / "subs"), tmp_path / "out" / "book.csv"
    first = Fake(passed=True, stop_after=1)
    with pytest.raises(KeyboardInterrupt):
        grade(subs, book, course_dir=COURSE, runner=first, log=False)
    assert not book.exists()
    journal = journal_path(book)
    kept = {r.student for r in _journal_rows(journal)}
    assert kept == {"dee", first.ran[0]}  # the error row and the one graded submission

    second = Fake(passed=True)
    grade(subs, book, course_dir=COURSE, runner=second, log=False, resume=True)
    assert sorted(second.ran) == sorted({"ann", "bob", "cy"} - set(first.ran))
    assert _statuses(book) == {"ann": {"passed"}, "bob": {"passed"}, "cy": {"passed"},
                               "dee": {"error"}}  # fmt: skip
    assert not journal.exists()

    third = Fake(passed=True)  # resuming a finished run grades nothing again
    grade(subs, book, course_dir=COURSE, runner=third, log=False, resume=True)
    assert third.ran == [] and len(read_gradebook(book)) == 3 * 2 + 1


def _journal_rows(path: Path) -> list:
    from labkit.grading.journal import Journal

    return Journal(path).read()


def test_a_subset_is_regraded_and_merged_without_double_counting(tmp_path: Path) -> None:
    subs, book = _class(tmp_path / "subs"), tmp_path / "book.csv"
    grade(subs, book, course_dir=COURSE, runner=Fake(passed=False), log=False)
    assert _statuses(book)["bob"] == {"failed"}

    again = Fake(passed=True)
    rows = grade(subs, book, course_dir=COURSE, runner=again, log=False, students=["bob"])
    assert again.ran == ["bob"]
    assert _statuses(book) == {"ann": {"failed"}, "bob": {"passed"}, "cy": {"failed"},
                               "dee": {"error"}}  # fmt: skip
    assert len(rows) == len(read_gradebook(book)) == 3 * 2 + 1  # bob's rows replaced, not added

    by_lab = Fake(passed=True)
    grade(subs, book, course_dir=COURSE, runner=by_lab, log=False, labs=["00-welcome"])
    assert sorted(by_lab.ran) == ["ann", "bob", "cy"]
    with open(summary_path(book), newline="", encoding="utf-8") as handle:
        summary = {r["student"]: r for r in csv.DictReader(handle)}
    assert summary["ann"]["points"] == "2" and summary["ann"]["percent"] == "100.0"


def test_the_report_and_feedback_are_rebuilt_from_the_csv(tmp_path: Path) -> None:
    subs, book = _class(tmp_path / "subs", ("ann",)), tmp_path / "book.csv"
    grade(subs, book, course_dir=COURSE, runner=Fake(passed=True), log=False)
    report, pages = tmp_path / "report.html", tmp_path / "feedback"
    args = ["report", str(book), "--html", str(report), "--feedback", str(pages),
            "--course", str(COURSE), "--labs", "00-welcome,01-passwords"]  # fmt: skip
    assert main(args) == 0
    with open(summary_path(book), newline="", encoding="utf-8") as handle:
        summary = {r["student"]: r for r in csv.DictReader(handle)}
    from labkit.grading.canonical import Course

    most = 2 + Course(COURSE)["01-passwords"].max_points
    assert summary["ann"]["max_points"] == str(most)  # a lab nobody handed in still counts
    assert summary["ann"]["percent"] == f"{100 * 2 / most:.1f}"
    assert "01-passwords" in report.read_text(encoding="utf-8")
    page = (pages / "ann.html").read_text(encoding="utf-8")
    assert "01-passwords — not handed in" in page and f"2/{most} points" in page
    assert {p.name for p in pages.iterdir()} == {"ann.html", "dee.html"}


def test_collect_copies_lab_notebooks_from_hub_homes_and_nothing_else(tmp_path: Path) -> None:
    homes, out = tmp_path / "home", tmp_path / "subs"
    nb = nbformat.writes(build_notebook(COURSE / "00-welcome.py"))
    files = {
        "jupyter-ann/00-welcome.ipynb": nb,
        "jupyter-ann/work/00-welcome.ipynb": nb,  # same name elsewhere: both kept
        "jupyter-ann/lab0.ipynb": nb,  # a lab by its metadata
        "jupyter-ann/notes.ipynb": '{"cells": [], "metadata": {}}',  # not a lab
        "jupyter-ann/.ipynb_checkpoints/00-welcome-checkpoint.ipynb": nb,
        "jupyter-bob/00-welcome (1).ipynb": nb,
        "admin/00-welcome.ipynb": nb,  # not a learner's home
    }
    for name, text in files.items():
        (homes / name).parent.mkdir(parents=True, exist_ok=True)
        (homes / name).write_text(text)
    (homes / "jupyter-bob" / "01-passwords.ipynb").symlink_to(homes / "admin/00-welcome.ipynb")
    old = 1_700_000_000
    os.utime(homes / "jupyter-ann/lab0.ipynb", (old, old))

    assert main(["collect", str(homes), "--out", str(out), "--course", str(COURSE)]) == 0
    got = sorted(str(p.relative_to(out)) for p in out.rglob("*.ipynb"))
    assert got == ["ann/00-welcome (1).ipynb", "ann/00-welcome.ipynb", "ann/lab0.ipynb",
                   "bob/00-welcome (1).ipynb"]  # fmt: skip
    assert (out / "ann/lab0.ipynb").stat().st_mtime == old
    from labkit.grading.canonical import Course
    from labkit.grading.submissions import find_submissions

    subs = find_submissions(out, Course(COURSE))
    assert [(s.student, s.lab, len(s.others)) for s in subs] == [
        ("ann", "00-welcome", 2), ("bob", "00-welcome", 0)
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_killed_labkit_grade_resumes_where_it_stopped(tmp_path: Path) -> None:
    """The real command, killed (SIGTERM) after its first submission, then ``--resume``."""
    subs, book = tmp_path / "subs", tmp_path / "book.csv"
    nb = build_notebook(COURSE / "00-welcome.py", solved=True)
    for student in ("ann", "bob"):
        (subs / student).mkdir(parents=True)
        nbformat.write(nb, subs / student / "00-welcome.ipynb")
    command = [sys.executable, "-m", "labkit", "grade", str(subs), "--out", str(book),
               "--jobs", "1", "--cell-timeout", "60", "--timeout", "240"]  # fmt: skip
    journal = journal_path(book)
    with subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True) as run:
        deadline = time.monotonic() + 240
        while not (journal.exists() and journal.read_text()) and time.monotonic() < deadline:
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            time.sleep(0.2)
        run.terminate()
        run.wait(30)
    assert not book.exists()
    first = {r.student for r in _journal_rows(journal)}
    assert len(first) == 1
    done = subprocess.run([*command, "--resume"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[1/1]" in done.stderr and f"{first.pop()}/00-welcome" not in done.stderr
    assert _statuses(book) == {"ann": {"passed"}, "bob": {"passed"}}
    assert not journal.exists()


def test_grade_refuses_an_unknown_lab_and_a_foreign_csv_to_merge_into(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = _class(tmp_path / "subs", ("ann",))
    base = ["grade", str(subs), "--course", str(COURSE)]
    assert main([*base, "--lab", "06-authorisation"]) == 2
    assert "no such lab in" in capsys.readouterr().err
    other = tmp_path / "marks.csv"
    other.write_text("login,score\nann,3\n")
    assert main([*base, "--out", str(other), "--student", "ann"]) == 2
    assert "cannot merge into" in capsys.readouterr().err
    assert other.read_text() == "login,score\nann,3\n"
