"""``labkit grade`` from the command line on richer labs, several labs per student:
solved builds get every check ``passed``, untouched releases every check ``failed``."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.course.build import build_course

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_solved_builds_pass_and_releases_fail(tmp_path: Path) -> None:
    solved = build_course(REPO / "course", tmp_path / "solved", solved=True)
    release = build_course(REPO / "course", tmp_path / "release")
    by_name = {p.stem: p for p in solved}
    subs = tmp_path / "subs"
    for student, files in {
        "alice": [by_name["01-passwords"], next(p for p in release if p.stem == "05-api-keys")],
        "bob": [by_name["05-api-keys"]],
    }.items():
        (subs / student).mkdir(parents=True)
        for path in files:
            (subs / student / path.name).write_bytes(path.read_bytes())
    book = tmp_path / "out" / "book.csv"
    run = subprocess.run(
        [sys.executable, "-m", "labkit", "grade", str(subs), "--out", str(book),
         "--jobs", "2", "--html", str(tmp_path / "out" / "report.html")],
        cwd=REPO, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with open(book, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    grouped: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        grouped.setdefault((row["student"], row["lab"]), set()).add(row["status"])
    assert grouped == {
        ("alice", "01-passwords"): {"passed"},
        ("alice", "05-api-keys"): {"failed"},
        ("bob", "05-api-keys"): {"passed"},
    }, [r for r in rows if r["status"] != "passed"]
    assert sum(r["max_points"] != "" for r in rows) == len(rows) >= 7 + 2 * 12
    with open(book.with_name("book-summary.csv"), newline="", encoding="utf-8") as handle:
        summary = {r["student"]: r for r in csv.DictReader(handle)}
    assert summary["alice"]["labs"] == "2" and summary["bob"]["percent"] == "100.0"
    assert "wrote" in run.stdout


def test_the_capstone_grades_every_row(tmp_path: Path) -> None:
    """13-capstone: the solved build passes its audit, twelve fixes and verify under the
    grader (the grader serves BrokenShop over HTTPS itself); the release fails every check."""
    solved = build_course(REPO / "course", tmp_path / "solved", solved=True)
    release = build_course(REPO / "course", tmp_path / "release")
    subs = tmp_path / "subs"
    for student, built in (("ada", solved), ("ben", release)):
        (subs / student).mkdir(parents=True)
        notebook = next(p for p in built if p.stem == "13-capstone")
        (subs / student / notebook.name).write_bytes(notebook.read_bytes())
    book = tmp_path / "book.csv"
    run = subprocess.run(
        [sys.executable, "-m", "labkit", "grade", str(subs), "--out", str(book), "--jobs", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with open(book, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    statuses = {
        student: {r["check"]: r["status"] for r in rows if r["student"] == student}
        for student in ("ada", "ben")
    }
    assert len(statuses["ada"]) == 14  # audit, twelve fix-<row>, verify
    assert set(statuses["ada"].values()) == {"passed"}, statuses["ada"]
    assert set(statuses["ben"].values()) == {"failed"}, statuses["ben"]


@pytest.mark.browser
def test_a_browser_lab_grades_with_a_real_browser_in_the_kernel(tmp_path: Path) -> None:
    """10-cors' exploit cells start headless Chromium inside the graded kernel: the kernel's
    memory limit must let it start (RLIMIT_AS did not; its answers were then missing)."""
    solved = build_course(REPO / "course", tmp_path / "solved", solved=True)
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    notebook = next(p for p in solved if p.stem == "10-cors")
    (tmp_path / "subs" / "ada" / notebook.name).write_bytes(notebook.read_bytes())
    book = tmp_path / "book.csv"
    run = subprocess.run(
        [sys.executable, "-m", "labkit", "grade", str(tmp_path / "subs"), "--out", str(book),
         "--jobs", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with open(book, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    failed = {r["check"]: r["message"] for r in rows if r["status"] != "passed"}
    assert rows and not failed, failed
