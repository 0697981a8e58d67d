"""The learner's copies in work/: made once, never overwritten, a fresh one on request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labkit.workspace import fresh_copy, sync_workspace

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def course(tmp_path: Path) -> Path:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("00-welcome", "01-passwords"):
        (notebooks / f"{name}.ipynb").write_text(f"course {name} v1", encoding="utf-8")
    return tmp_path


def test_the_first_sync_copies_every_notebook(course: Path) -> None:
    done = sync_workspace(course / "work", course / "notebooks")
    assert done.copied == ("00-welcome.ipynb", "01-passwords.ipynb") and done.kept == ()
    assert (course / "work/01-passwords.ipynb").read_text() == "course 01-passwords v1"


def test_a_course_update_never_overwrites_the_learners_work_but_new_labs_arrive(
    course: Path,
) -> None:
    work, notebooks = course / "work", course / "notebooks"
    sync_workspace(work, notebooks)
    (work / "01-passwords.ipynb").write_text("my answers", encoding="utf-8")
    (notebooks / "01-passwords.ipynb").write_text("course v2", encoding="utf-8")
    (notebooks / "02-jwt.ipynb").write_text("course 02 v1", encoding="utf-8")
    done = sync_workspace(work, notebooks)
    assert done.copied == ("02-jwt.ipynb",)
    assert (work / "01-passwords.ipynb").read_text() == "my answers"


def test_a_fresh_copy_sets_the_old_one_aside(course: Path) -> None:
    work, notebooks = course / "work", course / "notebooks"
    sync_workspace(work, notebooks)
    (work / "01-passwords.ipynb").write_text("my answers", encoding="utf-8")
    fresh = fresh_copy("01-passwords", work, notebooks)
    assert fresh.read_text() == "course 01-passwords v1"
    [aside] = (work / "old").glob("01-passwords-*.ipynb")
    assert aside.read_text() == "my answers"
    with pytest.raises(FileNotFoundError, match="labs: 00-welcome, 01-passwords"):
        fresh_copy("99-nope", work, notebooks)


def test_work_is_ignored_by_git() -> None:
    run = subprocess.run(
        ["git", "check-ignore", "-q", "work/01-passwords.ipynb"], cwd=REPO, check=False
    )
    assert run.returncode == 0, "work/ must be in .gitignore"


def test_the_cli_makes_the_copies(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks/00-welcome.ipynb").write_text("{}", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "labkit", "work"], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "copied 1 notebook(s)" in run.stdout
    assert (tmp_path / "work/00-welcome.ipynb").exists()
