"""``labkit grade`` end to end: one real mixed batch of honest, broken and hostile submissions.

Every submission below is graded in the same run (``--jobs 2``), so each test also shows that
the others were unaffected. The batch is graded once per test session (shared across xdist
workers through a lock file) and each test reads its rows from the gradebook.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import html
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from labkit.course.build import build_notebook
from labkit.course.cells import ANSWER, CHECK, cell_role
from labkit.grading.execute import Limits
from labkit.grading.grade import grade
from labkit.grading.outcome import COLUMNS

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "course"
LAB = "00-welcome"
CHECKS = ("first-ticket", "greeting-fix")
CELL_TIMEOUT_S = 20.0
MEMORY_MB = 1024

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


# -- building submissions ------------------------------------------------------------------
def _notebook(solved: bool) -> Any:
    return build_notebook(COURSE / f"{LAB}.py", solved=solved)


def _cells(nb: Any, role: str, ident: str | None = None) -> list[Any]:
    return [c for c in nb.cells if (r := cell_role(c)) and r[0] == role and ident in (None, r[1])]


def _answer(nb: Any, ident: str, source: str) -> Any:
    _cells(nb, ANSWER, ident)[0].source = source
    return nb


def _write(root: Path, student: str, nb: Any, name: str = f"{LAB}.ipynb") -> None:
    (root / student).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, root / student / name)


TICKET = 'ticket = lab.client.get("/api/ticket", headers={"X-Workbook": "ready"}).json()["ticket"]'
GOOD_NAME = (
    "def validate_name(name):\n    name = name.strip()\n"
    "    return [] if 1 <= len(name) <= 40 else ['bad name']\n"
)


def _make_submissions(root: Path, probe: Path) -> None:
    _write(root, "perfect", _notebook(solved=True))
    _write(root, "untouched", _notebook(solved=False))

    nb = _notebook(solved=False)  # stubs, with every check cell printing PASSED
    for cell in _cells(nb, CHECK):
        cell.source = 'print("PASSED")'
    _write(root, "checks-edited", nb)

    nb = _notebook(solved=True)  # solutions, with every check cell deleted
    nb.cells = [c for c in nb.cells if not ((r := cell_role(c)) and r[0] == CHECK)]
    _write(root, "checks-deleted", nb)

    nb = _notebook(solved=False)  # stored outputs claim success
    for cell in _cells(nb, CHECK):
        cell.execution_count = 1
        cell.outputs = [nbformat.v4.new_output("stream", text="✅ PASSED\n")]
    _write(root, "forged-outputs", nb)

    # a forged progress file beside the notebook, and one written into LABKIT_HOME from an
    # answer cell; the same cell reports the kernel's environment and working directory
    _write(
        root,
        "forged-progress",
        _answer(
            _notebook(solved=False),
            "first-ticket",
            "import os, json, pathlib\n"
            "from labkit.exercises.progress import ProgressStore\n"
            "for c in ('first-ticket', 'greeting-fix'):\n"
            "    ProgressStore().record_result('00-welcome', c, True, 'forged')\n"
            f"pathlib.Path({str(probe)!r}).write_text(json.dumps("
            "{'env': dict(os.environ), 'cwd': os.getcwd()}))\n"
            "ticket = None\n",
        ),
    )
    forged = {"version": 1, "labs": {LAB: {c: {"passed": True} for c in CHECKS}}}
    (root / "forged-progress" / "progress.json").write_text(json.dumps(forged))

    _write(
        root, "endless-loop", _answer(_notebook(True), "first-ticket", "while True:\n    pass\n")
    )
    _write(
        root,
        "os-exit",
        _answer(_notebook(True), "greeting-fix", "import os\nos._exit(0)\n" + GOOD_NAME),
    )
    _write(
        root,
        "memory-bomb",
        _answer(
            _notebook(True),
            "first-ticket",
            "blocks = []\nwhile True:\n    blocks.append(b'x' * (64 * 1024 * 1024))\n",
        ),
    )
    nb = _answer(
        _notebook(True), "first-ticket", f"from labkit.patterns import passwords\n{TICKET}\n"
    )
    nb = _answer(nb, "greeting-fix", f"import labkit\nlabkit.x = 1\n{GOOD_NAME}")
    nb.cells.append(nbformat.v4.new_code_cell("import labkit.patterns.passwords as p"))
    _write(root, "uses-patterns", nb)

    # an answer cell passes the later check itself, with a correct fix: must not count,
    # because the canonical check cell then runs with the stub
    nb = _answer(
        _notebook(False),
        "first-ticket",
        f"{TICKET}\n{GOOD_NAME}lab.check('greeting-fix', validate_name=validate_name)\n"
        "lab.check('first-ticket', ticket)\n",
    )
    at = nb.cells.index(_cells(nb, CHECK, "greeting-fix")[0])  # the same from an own cell
    nb.cells.insert(at, nbformat.v4.new_code_cell(
        f"{GOOD_NAME}lab.check('greeting-fix', validate_name=validate_name)\n"
        "del validate_name\n"
    ))  # fmt: skip
    _write(root, "checks-itself", nb)
    _write(
        root,
        "replaces-check",
        _answer(
            _notebook(False),
            "first-ticket",
            "ticket = None\nlab.check = lambda *a, **k: 'PASSED'\n",
        ),
    )

    (root / "malformed").mkdir()
    (root / "malformed" / f"{LAB}.ipynb").write_text('{"cells": [', encoding="utf-8")
    (root / "empty").mkdir()
    (root / "empty" / f"{LAB}.ipynb").write_bytes(b"")
    (root / "not-a-notebook").mkdir()
    (root / "not-a-notebook" / f"{LAB}.ipynb").write_text('{"hello": "world"}')
    other = _notebook(solved=True)
    other.metadata["labkit"]["lab"] = "99-gone"
    _write(root, "wrong-lab", other, name=f"{LAB}.ipynb")

    # helper cells of the learner's own, one used by each answer, and a draft copy of an
    # answer cell before the real one: the helpers run in place, the last copy is graded
    nb = _notebook(solved=False)
    _answer(nb, "first-ticket", "ticket = fetch_ticket()\n")
    _answer(nb, "greeting-fix", "def validate_name(name):\n    return problems(name)\n")
    at = nb.cells.index(_cells(nb, ANSWER, "first-ticket")[0])
    nb.cells.insert(at, nbformat.v4.new_code_cell(f"def fetch_ticket():\n    {TICKET}\n"
                                                  "    return ticket\n"))  # fmt: skip
    at = nb.cells.index(_cells(nb, ANSWER, "greeting-fix")[0])
    draft = nbformat.v4.new_code_cell("def validate_name(name):\n    return []  # draft\n")
    draft.metadata = {"labkit": {"answer": "greeting-fix"}}
    helper = GOOD_NAME.replace("validate_name", "problems")
    nb.cells[at:at] = [nbformat.v4.new_code_cell(helper), draft]
    _write(root, "helpers", nb)

    # two copies of the lab: an old untouched one under the lab's name, and the newer work
    # (nbformat 3, as an old Jupyter saves it) under a name that matches no lab
    _write(root, "copies", _notebook(solved=False))
    old = time.time() - 3600
    os.utime(root / "copies" / f"{LAB}.ipynb", (old, old))
    (root / "copies" / "lab0.ipynb").write_text(
        nbformat.writes(nbformat.convert(_notebook(solved=True), 3), version=3)
    )


# -- one graded batch for the whole session ------------------------------------------------
@pytest.fixture(scope="session")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.getbasetemp()  # under xdist: <session>/popen-gwN
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "grading-batch"
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "done.json"
        if not done.exists():
            _grade_batch(shared)
        yield json.loads(done.read_text())


def _grade_batch(shared: Path) -> None:
    root, out = shared / "submissions", shared / "out"
    shutil.rmtree(root, ignore_errors=True)
    out.mkdir(exist_ok=True)
    probe = shared / "kernel-probe.json"
    _make_submissions(root, probe)
    started = time.monotonic()
    limits = Limits(cell_s=CELL_TIMEOUT_S, notebook_s=240.0, memory_mb=MEMORY_MB)
    log = io.StringIO()
    with contextlib.redirect_stderr(log):
        grade(root, out / "gradebook.csv", course_dir=COURSE, html=out / "report.html", jobs=2,
              limits=limits, feedback=out / "feedback")  # fmt: skip
    info = {"seconds": time.monotonic() - started, "out": str(out), "probe": str(probe),
            "log": log.getvalue()}  # fmt: skip
    (shared / "done.json").write_text(json.dumps(info))


def _rows(batch: dict[str, Any]) -> list[dict[str, str]]:
    with open(Path(batch["out"]) / "gradebook.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _of(batch: dict[str, Any], student: str) -> dict[str, dict[str, str]]:
    return {r["check"]: r for r in _rows(batch) if r["student"] == student}


def _summary(batch: dict[str, Any]) -> dict[str, dict[str, str]]:
    path = Path(batch["out"]) / "gradebook-summary.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        return {r["student"]: r for r in csv.DictReader(handle)}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _statuses(batch: dict[str, Any], student: str) -> dict[str, str]:
    return {check: row["status"] for check, row in _of(batch, student).items()}


ALL_PASSED = dict.fromkeys(CHECKS, "passed")
ALL_FAILED = dict.fromkeys(CHECKS, "failed")


# -- the tests -----------------------------------------------------------------------------
def test_a_perfect_submission_passes_every_check(batch: dict[str, Any]) -> None:
    rows = _of(batch, "perfect")
    assert _statuses(batch, "perfect") == ALL_PASSED
    assert all(r["points"] == r["max_points"] == "1" for r in rows.values())


def test_an_untouched_release_fails_every_check(batch: dict[str, Any]) -> None:
    assert _statuses(batch, "untouched") == ALL_FAILED
    assert "non-empty string" in _of(batch, "untouched")["first-ticket"]["message"]


def test_edited_or_deleted_check_cells_change_nothing(batch: dict[str, Any]) -> None:
    assert _statuses(batch, "checks-edited") == ALL_FAILED
    assert _statuses(batch, "checks-deleted") == ALL_PASSED


def test_forged_outputs_change_nothing(batch: dict[str, Any]) -> None:
    assert _statuses(batch, "forged-outputs") == ALL_FAILED


def test_a_forged_progress_file_changes_nothing(batch: dict[str, Any]) -> None:
    assert _statuses(batch, "forged-progress") == ALL_FAILED


def test_the_kernel_runs_scrubbed_in_a_temp_dir(batch: dict[str, Any]) -> None:
    probe = json.loads(Path(batch["probe"]).read_text())
    env, cwd = probe["env"], probe["cwd"]
    assert env["LABKIT_STRICT"] == "1" and env["LABKIT_GRADER_TOKEN"]
    assert env["LABKIT_HOME"].startswith(env["HOME"]) and cwd.startswith(
        str(Path(env["HOME"]).parent)
    )
    assert not Path(cwd).exists(), "the submission's temp dir is removed after grading"
    allowed = {"PATH", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR", "LABKIT_HOME", "MPLCONFIGDIR",
               "MPLBACKEND", "PYTHONDONTWRITEBYTECODE", "MALLOC_ARENA_MAX", "LABKIT_STRICT",
               "LABKIT_GRADER_URL", "LABKIT_GRADER_TOKEN"}  # fmt: skip
    ipykernel_adds = {"JPY_PARENT_PID", "JPY_SESSION_NAME", "PYDEVD_USE_FRAME_EVAL", "CLICOLOR",
                      "CLICOLOR_FORCE", "FORCE_COLOR", "PAGER", "GIT_PAGER", "TERM"}  # fmt: skip
    assert set(env) - allowed - ipykernel_adds == set()


def test_an_endless_loop_leaves_that_check_and_the_rest_not_evaluated(
    batch: dict[str, Any],
) -> None:
    rows = _of(batch, "endless-loop")
    assert _statuses(batch, "endless-loop") == dict.fromkeys(CHECKS, "not-evaluated")
    assert "time limit" in rows["first-ticket"]["message"]
    assert rows["greeting-fix"]["message"].startswith("not reached")


def test_os_exit_in_an_answer_is_not_evaluated_never_passed(batch: dict[str, Any]) -> None:
    rows = _of(batch, "os-exit")
    assert _statuses(batch, "os-exit") == {
        "first-ticket": "passed",
        "greeting-fix": "not-evaluated",
    }
    assert "kernel died" in rows["greeting-fix"]["message"]


def test_a_memory_bomb_is_stopped_by_the_limit(batch: dict[str, Any]) -> None:
    rows = _of(batch, "memory-bomb")
    assert _statuses(batch, "memory-bomb") == dict.fromkeys(CHECKS, "not-evaluated")
    assert f"memory limit ({MEMORY_MB} MB)" in rows["first-ticket"]["message"]


def test_unreadable_submissions_get_one_clear_error_row(batch: dict[str, Any]) -> None:
    expected = {
        "malformed": "not valid JSON",
        "empty": "the file is empty",
        "not-a-notebook": "not a Jupyter notebook",
        "wrong-lab": "notebook of lab 99-gone, which this course does not have, not 00-welcome",
    }
    rows = _rows(batch)
    for student, text in expected.items():
        mine = [r for r in rows if r["student"] == student]
        assert len(mine) == 1, (student, mine)
        assert mine[0]["status"] == "error" and mine[0]["check"] == ""
        assert text in mine[0]["message"], (student, mine[0]["message"])
        assert mine[0]["max_points"] == "2"
        assert f"{student}/{LAB}: error: " in batch["log"]  # the progress log names it too


def test_reference_imports_and_labkit_assignments_are_graded_and_flagged(
    batch: dict[str, Any],
) -> None:
    rows = _of(batch, "uses-patterns")
    assert _statuses(batch, "uses-patterns") == ALL_PASSED
    for row in rows.values():
        assert "FLAGGED: answer first-ticket imports labkit.patterns" in row["message"]
        assert "FLAGGED: answer greeting-fix assigns into labkit (labkit.x)" in row["message"]
    assert not any("FLAGGED" in r["message"] for r in _rows(batch) if r["student"] == "perfect")


def test_lab_check_called_from_an_answer_cell_sets_no_grade(batch: dict[str, Any]) -> None:
    assert _statuses(batch, "checks-itself") == {"first-ticket": "passed", "greeting-fix": "failed"}


def test_replacing_lab_check_gets_no_verdict(batch: dict[str, Any]) -> None:
    rows = _of(batch, "replaces-check")
    assert _statuses(batch, "replaces-check") == ALL_FAILED
    assert "no verdict reached the grader" in rows["first-ticket"]["message"]
    assert "replaces lab.check" in rows["first-ticket"]["message"]


def test_the_gradebook_has_exact_columns_and_one_row_per_check(batch: dict[str, Any]) -> None:
    path = Path(batch["out"]) / "gradebook.csv"
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(COLUMNS) == "student,lab,check,status,points,max_points,message"
    rows = _rows(batch)
    graded = {r["student"] for r in rows if r["status"] != "error"}
    assert len(graded) == 14
    for student in graded:
        assert [r["check"] for r in rows if r["student"] == student] == list(CHECKS)
    assert {r["status"] for r in rows} == {"passed", "failed", "not-evaluated", "error"}


def test_outputs_are_written_atomically_with_a_summary_and_a_report(batch: dict[str, Any]) -> None:
    out = Path(batch["out"])
    assert sorted(p.name for p in out.iterdir()) == [
        "feedback",
        "gradebook-summary.csv",
        "gradebook.csv",
        "report.html",
    ]  # no temp file or journal left behind
    for path in [*out.iterdir(), *(out / "feedback").iterdir()]:
        if path.is_file():
            assert path.stat().st_mode & 0o777 == 0o666 & ~_umask(), path
    with open(out / "gradebook-summary.csv", newline="", encoding="utf-8") as handle:
        summary = {r["student"]: r for r in csv.DictReader(handle)}
    assert summary["perfect"]["percent"] == "100.0" and summary["untouched"]["points"] == "0"
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in report and "checks-itself" in report


def test_own_helper_cells_run_in_place_and_the_last_copy_of_an_answer_counts(
    batch: dict[str, Any],
) -> None:
    rows = _of(batch, "helpers")
    assert _statuses(batch, "helpers") == ALL_PASSED, rows
    assert "answer cell greeting-fix appears 2 times" in rows["greeting-fix"]["message"]
    assert "the last one was graded" in rows["greeting-fix"]["message"]


def test_a_lab_check_from_an_own_cell_sets_no_grade(batch: dict[str, Any]) -> None:
    rows = _of(batch, "checks-itself")
    assert rows["greeting-fix"]["message"].startswith(
        "NameError: name 'validate_name' is not defined (the check cell stopped"
    )


def test_one_submission_per_lab_the_latest_by_metadata_even_in_nbformat_3(
    batch: dict[str, Any],
) -> None:
    rows = _of(batch, "copies")
    assert _statuses(batch, "copies") == ALL_PASSED
    for row in rows.values():
        assert "graded as lab 00-welcome, as the notebook's metadata says" in row["message"]
        assert (
            "graded lab0.ipynb (the most recently saved); not graded: 00-welcome.ipynb"
            in (row["message"])
        )
    summary = _summary(batch)["copies"]
    assert (summary["labs"], summary["points"], summary["percent"]) == ("1", "2", "100.0")


def test_own_cells_are_scanned_for_flags(batch: dict[str, Any]) -> None:
    rows = _of(batch, "uses-patterns")
    assert all("own cell" in r["message"] and "imports labkit.patterns" in r["message"]
               for r in rows.values())  # fmt: skip
    assert _summary(batch)["uses-patterns"]["flagged"] == LAB
    assert _summary(batch)["perfect"]["flagged"] == ""


def test_feedback_pages_say_what_the_notebook_says_without_flags(batch: dict[str, Any]) -> None:
    folder = Path(batch["out"]) / "feedback"
    assert {p.stem for p in folder.iterdir()} == {r["student"] for r in _rows(batch)}
    page = (folder / "untouched.html").read_text(encoding="utf-8")
    message = _of(batch, "untouched")["first-ticket"]["message"]
    assert html.escape(message) in page and "0/2 points" in page
    assert "FLAGGED" not in (folder / "uses-patterns.html").read_text(encoding="utf-8")
    report = (Path(batch["out"]) / "report.html").read_text(encoding="utf-8")
    assert "Scores per lab" in report and "Flagged submissions" in report


def test_the_batch_is_fast_enough(batch: dict[str, Any]) -> None:
    print(f"graded the mixed batch in {batch['seconds']:.1f} s")
    assert batch["seconds"] < 600
    assert os.cpu_count()
