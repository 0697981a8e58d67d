"""13-capstone around the anti-patterns: the rows and their checks, verify with the notebook's
own fixes, the findings table (``labkit.audit_checklist``) and the course summary (built from
the progress file, exported as one HTML page). The audit itself: tests/test_capstone_audit.py."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from labkit.course.build import build_notebook
from labkit.course.cells import ANSWER, cell_role
from labkit.exercises.checklist import AuditChecklist
from labkit.exercises.completion import course_summary
from labkit.exercises.lab import Lab
from labkit.exercises.labs.capstone import ANTI_PATTERNS, LAB, ORDER
from labkit.exercises.progress import ProgressStore
from labkit.exercises.registry import LABS, get_lab
from tests.labs import running_lab

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "13-capstone") as opened:
        yield opened


# -- the twelve rows -----------------------------------------------------------------------
def test_every_row_of_the_seed_table_is_an_anti_pattern_with_its_checks() -> None:
    assert len(ORDER) == 12
    assert [ap.id for ap in ANTI_PATTERNS] == list(ORDER)
    for ap in ANTI_PATTERNS:
        assert ap.lab in LABS and ap.fixes, ap.id
        assert LAB.checks[f"fix-{ap.id}"].fixes == ap.fixes
    assert set(LAB.checks["verify"].fixes) == {f for ap in ANTI_PATTERNS for f in ap.fixes}


# -- the whole shop, with the notebook's own reference solutions ------------------------------
@pytest.fixture(scope="module")
def notebook_answers() -> dict[str, Any]:
    """The solved notebook's answer cells, run: FINDINGS and every fix function (the notebook is
    the single source of the reference solutions the learner is shown)."""
    solved = build_notebook(REPO / "course" / "13-capstone.py", solved=True)
    module = types.ModuleType("capstone_answers")  # a real module: pydantic resolves names there
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    first = next(c for c in solved.cells if c.cell_type == "code")  # the notebook's imports
    exec("\n".join(x for x in first.source.splitlines() if x.startswith(("import", "from"))),
         namespace)  # fmt: skip
    for cell in solved.cells:
        role = cell_role(cell)
        if role is not None and role[0] == ANSWER:
            exec(compile(cell.source, f"<answer {role[1]}>", "exec"), namespace)
    return namespace


def fixes_of(answers: dict[str, Any]) -> dict[str, Any]:
    return {name: answers[name] for name in LAB.checks["verify"].fixes}


def clean_rows(details: tuple[str, ...]) -> set[str]:
    """The rows whose battery section in ``verify`` ended with nothing getting through."""
    return {
        ap.id
        for ap in ANTI_PATTERNS
        for d in details
        if d == f"{ap.id} ({ap.lab}): every attack refused"
    }


def test_verify_passes_on_the_reference_and_fails_on_one_plausible_wrong_fix(
    lab: Lab, notebook_answers: dict[str, Any]
) -> None:
    fixes = fixes_of(notebook_answers)
    passed = lab.check("verify", **fixes)
    assert passed.passed, passed
    assert clean_rows(passed.details) == set(ORDER), passed.details
    star = notebook_answers["cors_settings"]

    def star_with_credentials(trusted: list[str]) -> dict[str, Any]:
        return {**star(trusted), "allow_origins": ["*"]}

    wrong = lab.check("verify", **{**fixes, "cors_settings": star_with_credentials})
    assert not wrong.passed
    problems = [d for d in wrong.details if not d.startswith(("inputs generated", "... and"))]
    assert problems and all(d.startswith("[cors-wildcard] [") for d in problems), problems


def test_verify_fails_on_the_stubs(lab: Lab) -> None:
    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    result = lab.check("verify", **dict.fromkeys(LAB.checks["verify"].fixes, stub))
    assert not result.passed and "not written yet" in " ".join(result.details)


# -- the findings table ----------------------------------------------------------------------
def test_checklist_shows_the_findings_and_their_audit_lines(
    lab: Lab, notebook_answers: dict[str, Any]
) -> None:
    example = notebook_answers["example"]
    wrong = {"routes": ["GET /api/products"], "weakness": "trusting-input",
             "exploit": example["exploit"]}  # fmt: skip
    checklist = AuditChecklist(lab, [example, wrong])
    assert "no-https-redirect" in repr(checklist) and "plain_http" in repr(checklist)
    box = checklist.widget()
    assert not [w for w in box.children[0].children if "Dropdown" in type(w).__name__]
    button = box.children[2]
    button.click()
    assert box.children[0].children[0].value == "✅"
    assert box.children[1].children[0].value == "❌"
    assert checklist.summary.startswith("0 of 11 rows")


def test_checklist_needs_a_list(lab: Lab) -> None:
    with pytest.raises(TypeError, match="FINDINGS must be a list"):
        AuditChecklist(lab, {"nope": 1})  # type: ignore[arg-type]


# -- the course summary --------------------------------------------------------------------
class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_course_summary_counts_passed_checks_points_and_hints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    store = ProgressStore()
    welcome = get_lab("00-welcome")
    for check in welcome.checks:
        store.record_result("00-welcome", check, True, "ok")
    first = next(iter(get_lab("01-passwords").checks))
    store.record_result("01-passwords", first, False, "not yet")
    store.record_hint("01-passwords", first)
    summary = course_summary("Ada", store)
    rows = {row.lab: row for row in summary.labs}
    assert list(rows) == list(LABS)
    assert rows["00-welcome"].complete and rows["00-welcome"].passed == len(welcome.checks)
    assert rows["01-passwords"].passed == 0 and rows["01-passwords"].hints == 1
    assert not summary.complete
    got, out_of = summary.points
    assert got == sum(spec.points for spec in welcome.checks.values()) and out_of > got
    assert "1/14 labs complete" in repr(summary)


def test_course_summary_is_complete_only_when_every_check_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    store = ProgressStore()
    for lab_id in LABS:
        for check in get_lab(lab_id).checks:
            store.record_result(lab_id, check, True, "ok")
    summary = course_summary(store=store)
    assert summary.complete and "Course complete" in summary.html
    got, out_of = summary.points
    assert got == out_of


def test_course_summary_exports_one_self_contained_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    summary = course_summary("<script>alert(1)</script>")
    path = summary.export_html(tmp_path / "out" / "summary.html")
    page = path.read_text("utf-8")
    parser = _Page()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert "&lt;script&gt;" in page  # the learner's name is escaped
    assert "not a grade" in page
    assert sorted(p.name for p in path.parent.iterdir()) == ["summary.html"]  # no temp file left
