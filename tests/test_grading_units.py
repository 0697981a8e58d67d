"""The grader's pieces, without kernels: wire format, splice, reading, flags, scoring, CSV."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest

from labkit.cli import parser
from labkit.course.build import build_notebook
from labkit.course.cells import ANSWER, CHECK, cell_role
from labkit.exercises.check import CheckResult
from labkit.exercises.graded import NotPlainData, decode_answer, encode_answer
from labkit.grading.canonical import Course
from labkit.grading.execute import CHECK_FAILED, notebook_message
from labkit.grading.flags import scan_answer
from labkit.grading.gradebook import summary_path, write_atomic, write_gradebook
from labkit.grading.outcome import COLUMNS, Row
from labkit.grading.score import NO_VERDICT, SIMULATED, STOPPED_EARLY, score
from labkit.grading.splice import OWN, Part, splice
from labkit.grading.submissions import Submission, SubmissionError, read_submission
from labkit.grading.verifier import Verdicts
from labkit.grading.worker import WorkerResult

REPO = Path(__file__).resolve().parents[1]
COURSE = Course(REPO / "course")


# -- answers on the wire -------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "s",
        3,
        2.5,
        True,
        None,
        b"\x00\xff",
        ("a", 1),
        {"x", "y"},
        [1, (2, b"3")],
        {"a": [1, 2], ("k", 1): {"n": None}},
    ],
)
def test_plain_answers_cross_to_the_verifier_unchanged(value: object) -> None:
    wire = json.loads(json.dumps(encode_answer(value)))
    assert decode_answer(wire) == value
    assert type(decode_answer(wire)) is type(value)


def test_other_answers_are_refused_with_a_clear_message() -> None:
    with pytest.raises(NotPlainData, match="plain data"):
        encode_answer(object())
    with pytest.raises(ValueError, match="not an encoded answer"):
        decode_answer({"$nope": 1})


# -- canonical release, splice -------------------------------------------------------------
def test_check_cells_carry_their_points_in_both_builds() -> None:
    for solved in (False, True):
        nb = build_notebook(REPO / "course" / "01-passwords.py", solved=solved)
        points = {
            c.metadata["labkit"]["check"]: c.metadata["labkit"]["points"]
            for c in nb.cells
            if (cell_role(c) or ("",))[0] == CHECK
        }
        assert points["verify"] == 2 and points["crack-leak"] == 1
        assert any((cell_role(c) or ("",))[0] == ANSWER for c in nb.cells)


def test_file_names_map_to_labs() -> None:
    assert COURSE.lab_of("01-passwords.ipynb") == "01-passwords"
    assert COURSE.lab_of("01-passwords-Copy1.ipynb") == "01-passwords"
    assert COURSE.lab_of("01-passwords (2).ipynb") == "01-passwords"
    assert COURSE.lab_of("passwords.ipynb") is None
    assert COURSE["00-welcome"].max_points == 2


def _answers(answers: dict[str, list[str]]) -> list[Part]:
    return [Part(("answer", k), v) for k, vs in answers.items() for v in vs]


def test_splice_takes_only_answer_sources() -> None:
    canonical = COURSE["00-welcome"].notebook
    spliced, notes = splice(canonical, _answers({"first-ticket": ["ticket = 'mine'"]}))
    roles = [cell_role(c) for c in spliced.cells]
    answer = spliced.cells[roles.index(("answer", "first-ticket"))]
    assert answer.source == "ticket = 'mine'"
    assert notes == {
        "greeting-fix": ["answer cell greeting-fix missing: graded with the release stub"]
    }
    others = [(c.source, c.metadata) for c, r in zip(spliced.cells, roles, strict=True)
              if r != ("answer", "first-ticket")]  # fmt: skip
    assert others == [(c.source, c.metadata) for c in canonical.cells
                      if cell_role(c) != ("answer", "first-ticket")]  # fmt: skip
    assert canonical.cells[roles.index(("answer", "first-ticket"))].source != "ticket = 'mine'"


def test_an_answer_id_used_twice_is_spliced_in_order() -> None:
    """A lab may split one answer over two cells (the same id twice): each keeps its place."""
    canonical = nbformat.v4.new_notebook()
    for role, text in (("answer", "stub 1"), ("answer", "stub 2"), ("check", "lab.check('x')")):
        cell = nbformat.v4.new_code_cell(text)
        cell.metadata["labkit"] = {role: "steal-cookie"}
        canonical.cells.append(cell)
    spliced, _ = splice(canonical, _answers({"steal-cookie": ["first", "second"]}))
    sources = [c.source for c in spliced.cells if cell_role(c) == ("answer", "steal-cookie")]
    assert sources == ["first", "second"]


def _welcome(solved: bool = True) -> Any:
    return build_notebook(REPO / "course" / "00-welcome.py", solved=solved)


def _index(nb: Any, role: tuple[str, str]) -> int:
    return next(i for i, c in enumerate(nb.cells) if cell_role(c) == role)


def test_own_code_cells_run_in_their_place_without_any_role() -> None:
    nb = _welcome()
    helper = nbformat.v4.new_code_cell("def clean(name):\n    return name.strip()\n")
    helper.metadata["labkit"] = {"check": "greeting-fix"}  # a forged role is not kept
    nb.cells.insert(_index(nb, ("answer", "greeting-fix")), helper)
    nb.cells.append(nbformat.v4.new_code_cell("print('after everything')"))
    nb.cells.append(nbformat.v4.new_code_cell("   "))  # empty cells are dropped
    nb.cells[2].source += "\n# an edited release cell stays the release's"
    parts = read_submission(_sub(nbformat.writes(nb).encode()), COURSE)
    assert [p.role for p in parts if p.role is None or p.role[0] != "check"] == [
        ("answer", "first-ticket"),
        ("answer", "greeting-fix"),
        None,
    ]  # fmt: skip  (the helper carries a check role: an anchor, never run)

    helper.metadata = {}
    parts = read_submission(_sub(nbformat.writes(nb).encode()), COURSE)
    own = [p for p in parts if p.role is None]
    assert [p.source for p in own] == [helper.source, "print('after everything')"]
    spliced, _ = splice(COURSE["00-welcome"].notebook, parts)
    sources = [c.source for c in spliced.cells]
    at = sources.index(helper.source)
    assert cell_role(spliced.cells[at + 1]) == ("answer", "greeting-fix")
    assert cell_role(spliced.cells[at - 1]) is None  # after the release cells before it
    assert sources[-1] == "print('after everything')"
    for index in (at, len(sources) - 1):
        assert cell_role(spliced.cells[index]) is None
        assert set(spliced.cells[index].metadata["labkit"]) == {OWN}
    assert "# an edited release cell" not in "".join(sources)
    assert len(sources) == len(COURSE["00-welcome"].notebook.cells) + 2


def test_a_duplicated_answer_cell_grades_the_last_copy_and_says_so() -> None:
    nb = _welcome()
    at = _index(nb, ("answer", "greeting-fix"))
    draft = nbformat.v4.new_code_cell("def validate_name(name):\n    return []  # draft\n")
    draft.metadata = copy.deepcopy(nb.cells[at].metadata)
    nb.cells.insert(at, draft)
    parts = read_submission(_sub(nbformat.writes(nb).encode()), COURSE)
    spliced, notes = splice(COURSE["00-welcome"].notebook, parts)
    graded = [c.source for c in spliced.cells if cell_role(c) == ("answer", "greeting-fix")]
    assert graded == [nb.cells[at + 1].source]
    assert notes["greeting-fix"] == [
        f"answer cell greeting-fix appears 2 times (cells {at + 1}, {at + 2}): "
        "the last one was graded"
    ]


# -- reading submissions -------------------------------------------------------------------
def _sub(raw: bytes, name: str = "00-welcome.ipynb") -> Submission:
    return Submission("s", Path(name), COURSE.lab_of(name) or Path(name).stem, raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "the file is empty"),
        (b"{nope", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not a Jupyter notebook"),
        (b'{"cells": [1]}', "not a readable Jupyter notebook"),
        (b'{"cells": [], "metadata": {"labkit": {"lab": "01-passwords"}}}', "notebook of lab 01"),
        (b'{"cells": [], "metadata": {"labkit": {"lab": "99-x"}}}', "this course does not have"),
        (b'{"cells": [], "metadata": {}}', "not a labkit notebook"),
    ],
)
def test_unreadable_submissions_say_why(raw: bytes, message: str) -> None:
    with pytest.raises(SubmissionError, match=message):
        read_submission(_sub(raw), COURSE)


def test_a_file_matching_no_lab_is_an_error() -> None:
    with pytest.raises(SubmissionError, match="names a lab of this course"):
        read_submission(_sub(b"{}", "homework.ipynb"), COURSE)


def test_answer_ids_of_another_lab_are_refused() -> None:
    nb = build_notebook(REPO / "course" / "01-passwords.py")
    del nb.metadata["labkit"]
    with pytest.raises(SubmissionError, match="do not belong to lab 00-welcome"):
        read_submission(_sub(nbformat.writes(nb).encode()), COURSE)


def test_a_release_notebook_reads_back_its_answers() -> None:
    nb = build_notebook(REPO / "course" / "00-welcome.py", solved=True)
    parts = read_submission(_sub(nbformat.writes(nb).encode()), COURSE)
    assert [p.role for p in parts] == [
        ("answer", "first-ticket"),
        ("check", "first-ticket"),
        ("answer", "greeting-fix"),
        ("check", "greeting-fix"),
    ]  # fmt: skip  (no own cells: every other code cell is the release's)


def test_an_nbformat_3_notebook_is_upgraded() -> None:
    nb = _welcome()
    old = nbformat.convert(nb, 3)
    assert "worksheets" in old
    parts = read_submission(_sub(nbformat.writes(old, version=3).encode()), COURSE)
    assert {p.role for p in parts if p.role} == {
        ("answer", "first-ticket"), ("check", "first-ticket"),
        ("answer", "greeting-fix"), ("check", "greeting-fix"),
    }  # fmt: skip
    assert not [p for p in parts if p.role is None]


# -- flags ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "flag"),
    [
        ("from labkit.patterns.passwords import hash_password", "imports labkit.patterns"),
        ("import labkit.patterns.apikeys as k", "imports labkit.patterns"),
        ("from labkit import patterns", "imports labkit.patterns"),
        ("import importlib\nimportlib.import_module('labkit.patterns.x')", "labkit.patterns"),
        ("import labkit\nlabkit.open_lab = None", "assigns into labkit (labkit.open_lab)"),
        ("from labkit.exercises import check\ncheck.strict_mode = 1", "assigns into labkit"),
        ("import labkit\nsetattr(labkit, 'x', 1)", "assigns into labkit (setattr)"),
        ("lab.check = print", "replaces lab.check"),
        ("app = create_app(secure=True)", "secure reference app"),
    ],
)
def test_suspicious_answers_are_flagged(source: str, flag: str) -> None:
    assert any(flag in f for f in scan_answer(source)), scan_answer(source)


@pytest.mark.parametrize(
    "source",
    [
        "from labkit.attacks import cracking\ncracked = cracking.crack_unsalted(leak)",
        "from labkit.wordlists import common_passwords\nBLOCKLIST = set(common_passwords())",
        "%timeit x = 1\n!ls",
        "def broken(:",
    ],
)
def test_ordinary_answers_are_not_flagged(source: str) -> None:
    assert scan_answer(source) == []


# -- verdicts and scoring ------------------------------------------------------------------
def test_a_verdict_is_recorded_only_while_its_check_cell_runs() -> None:
    verdicts = Verdicts()
    ok = CheckResult("00-welcome", "first-ticket", True, "fine")
    assert not verdicts.offer(ok)  # no check cell running
    verdicts.expect("greeting-fix")
    assert not verdicts.offer(ok)  # another check's cell
    verdicts.expect("first-ticket")
    assert verdicts.offer(ok)
    assert verdicts.recorded["first-ticket"].passed


def test_nothing_passes_without_a_verdict() -> None:
    lab = COURSE["01-passwords"]
    result = WorkerResult(
        recorded={
            "crack-leak": (True, "cracked"),
            "enumerate-users": (False, "nope"),
            "timing-oracle": (False, "nope"),
        },
        completed={
            "crack-leak": "",
            "enumerate-users": "",
            "timing-oracle": "",
            "bcrypt-72": "NameError: x",
        },
        stopped="the kernel died in answer cell hashing",
        stopped_at="hashing",
    )
    rows = {r.check: r for r in score("ann", lab, result, flags=["answer x flagged"])}
    assert [r.status for r in rows.values()] == [
        "passed", "failed", "failed", "failed", "not-evaluated", "not-evaluated",
        "not-evaluated", "not-evaluated",
    ]  # fmt: skip
    assert rows["bcrypt-72"].message.startswith("NameError: x (" + STOPPED_EARLY + ")")
    assert rows["hashing"].message.startswith("the kernel died")
    assert rows["policy"].message.startswith("not reached: the kernel died")
    assert rows["verify"].max_points == 2 and rows["verify"].points == 0
    assert rows["crack-leak"].points == 1
    assert all("FLAGGED: answer x flagged" in r.message for r in rows.values())


def test_a_check_that_failed_before_reaching_the_grader_says_what_the_notebook_says() -> None:
    shown = CheckResult(
        "06-authorization", "rbac", False, "your fix could not be plugged in",
        ("authorize is not written yet (it raises NotImplementedError)", "second; detail"),
    )  # fmt: skip
    text = notebook_message(repr(shown))
    assert text == (
        "your fix could not be plugged in; authorize is not written yet (it raises "
        "NotImplementedError); second; detail"
    )
    lab = COURSE["00-welcome"]
    result = WorkerResult({}, {"first-ticket": CHECK_FAILED + text, "greeting-fix": ""}, "", "")
    rows = {r.check: r for r in score("ann", lab, result)}
    assert rows["first-ticket"].message == text and rows["first-ticket"].status == "failed"
    assert rows["greeting-fix"].message == NO_VERDICT


def test_a_verdict_judged_without_a_real_browser_says_so() -> None:
    lab = COURSE["00-welcome"]
    recorded = {
        "first-ticket": (True, "the page read it in the browser"),
        "greeting-fix": (False, "via SIMULATION (Fetch CORS check, no browser)"),
    }
    for browser, expected in ((True, [False, True]), (False, [True, True])):
        result = WorkerResult(recorded, {}, "", "", browser=browser)
        rows = score("ann", lab, result)
        assert [SIMULATED in r.message for r in rows] == expected
    plain = WorkerResult({"first-ticket": (True, "ticket ok")}, {}, "", "", browser=False)
    assert SIMULATED not in score("ann", lab, plain)[0].message
    assert WorkerResult.from_json(result.to_json()) == result


# -- the gradebook files -------------------------------------------------------------------
def test_the_gradebook_columns_are_exact(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    write_gradebook(path, [Row("a", "00-welcome", "c", "passed", 1, 1, 'say "hi", ok')])
    lines = path.read_text().splitlines()
    assert lines[0] == "student,lab,check,status,points,max_points,message"
    assert list(COLUMNS) == lines[0].split(",")
    assert lines[1] == 'a,00-welcome,c,passed,1,1,"say ""hi"", ok"'
    assert summary_path(path).name == "book-summary.csv"


def test_a_failed_write_leaves_the_old_gradebook_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("old")

    with pytest.raises(TypeError):
        write_atomic(path, object())  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["book.csv"]


def test_the_cli_has_the_grade_command() -> None:
    args = parser().parse_args(
        ["grade", "subs", "--out", "g.csv", "--jobs", "3", "--memory", "512"]
    )
    assert (args.submissions, args.out, args.jobs, args.memory) == ("subs", "g.csv", 3, 512)
    assert args.timeout > 0 and args.cell_timeout > 0 and args.html is None
