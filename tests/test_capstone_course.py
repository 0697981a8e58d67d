"""13-capstone around the anti-patterns: the audit's answer handling, the checklist and the
course summary (built from the progress file, exported as one HTML page)."""

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
from labkit.exercises.capstone.antipattern import parse_route
from labkit.exercises.checklist import UNMARKED, AuditChecklist, shop_routes
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


@pytest.mark.parametrize(
    ("mark", "expected"),
    [
        ("POST /api/auth/login", ("POST", "/api/auth/login")),
        ("  get /api/account?x=1 ", ("GET", "/api/account")),
    ],
)
def test_parse_route(mark: str, expected: tuple[str, str]) -> None:
    assert parse_route(mark) == expected


@pytest.mark.parametrize("mark", [None, "", "/api/auth/login", "FETCH /x", "GET api", 42])
def test_parse_route_explains_bad_marks(mark: object) -> None:
    message = parse_route(mark)
    assert isinstance(message, str) and ("route" in message or "marked" in message)


def test_audit_refuses_a_non_dict_answer(lab: Lab) -> None:
    result = lab.check("audit", ["POST /api/auth/login"])
    assert not result.passed and "expected a dict" in result.summary


def test_audit_with_nothing_marked_confirms_nothing(lab: Lab) -> None:
    result = lab.check("audit", {"no-such-row": "GET /api/account"})
    assert not result.passed
    assert result.summary.startswith(f"0 of {len(ANTI_PATTERNS)}")
    assert any("unknown ids ignored: no-such-row" in d for d in result.details)
    assert sum(d.startswith("✗") for d in result.details) == len(ANTI_PATTERNS)


# -- the whole shop, with the notebook's own reference solutions ------------------------------
@pytest.fixture(scope="module")
def notebook_answers() -> dict[str, Any]:
    """The solved notebook's answer cells, run: MARKS and every fix function (the notebook is
    the single source of the reference solutions the learner is shown)."""
    solved = build_notebook(REPO / "course" / "13-capstone.py", solved=True)
    module = types.ModuleType("capstone_answers")  # a real module: pydantic resolves names there
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    exec("import base64, hashlib, hmac, json, secrets", namespace)  # the notebook's first cell
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


def test_audit_passes_with_every_row_marked_right_and_fails_with_one_wrong(
    lab: Lab, notebook_answers: dict[str, Any]
) -> None:
    marks = dict(notebook_answers["MARKS"])
    assert lab.check("audit", marks).passed
    marks["trusting-input"] = "GET /api/products"  # no SQL built from input there
    result = lab.check("audit", marks)
    assert not result.passed and result.summary.startswith("11 of 12")
    missed = next(d for d in result.details if d.startswith("✗ trusting-input"))
    assert "(hint: " in missed  # the row's first hint, after a mark that missed


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


# -- the checklist -------------------------------------------------------------------------
def test_checklist_lists_the_shop_routes_and_writes_picks_into_marks(lab: Lab) -> None:
    routes = shop_routes(lab)
    assert "POST /api/auth/login" in routes
    assert not any("/api/_lab/" in r for r in routes)  # lab-only routes are not shop routes
    marks: dict[str, object] = {ap_id: None for ap_id in ORDER}
    checklist = AuditChecklist(lab, marks)
    text = repr(checklist)
    assert text.count(UNMARKED) == len(ANTI_PATTERNS)
    box = checklist.widget()
    first_row = box.children[0]
    dropdown = first_row.children[2]
    dropdown.value = "POST /api/auth/login"
    assert marks[ORDER[0]] == "POST /api/auth/login"
    dropdown.value = UNMARKED
    assert marks[ORDER[0]] is None


def test_checklist_confirm_records_a_status_per_row(lab: Lab) -> None:
    marks: dict[str, object] = {ap_id: "GET /api/does-not-exist" for ap_id in ORDER}
    checklist = AuditChecklist(lab, marks)
    result = checklist.confirm()
    assert not result.passed
    assert set(checklist.statuses) == set(ORDER)
    assert all(line.startswith("✗") for line in checklist.statuses.values())
    assert repr(checklist).count("✗") == len(ORDER)


def test_checklist_button_confirms_and_marks_each_row(lab: Lab) -> None:
    marks: dict[str, object] = {ap_id: None for ap_id in ORDER}
    marks["no-https-redirect"] = "GET /api/status"  # plain HTTP is served: confirmed
    marks["cors-wildcard"] = "GET /api/does-not-exist"
    box = AuditChecklist(lab, marks).widget()
    rows, button = box.children[: len(ORDER)], box.children[len(ORDER)]
    button.click()
    icons = {ap_id: row.children[0].value for ap_id, row in zip(ORDER, rows, strict=True)}
    assert icons["no-https-redirect"] == "✅"
    assert icons["cors-wildcard"] == "❌" and icons["fast-password-hash"] == "❌"


def test_checklist_needs_a_dict(lab: Lab) -> None:
    with pytest.raises(TypeError, match="MARKS must be a dict"):
        AuditChecklist(lab, ["nope"])  # type: ignore[arg-type]


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
