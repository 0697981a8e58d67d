"""labkit.exercises: results, strict mode, the Lab handle, hints, widgets and the dashboard.

The welcome lab is the cheap real lab used here; a throwaway LabDefinition (never added to
``LABS``) hosts checks that misbehave on purpose.
"""

from __future__ import annotations

import dataclasses
import html
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest

import labkit
from labkit.exercises import lab as lab_module
from labkit.exercises.check import (
    CheckContext,
    CheckFailed,
    CheckResult,
    Findings,
    Verdict,
    strict_mode,
)
from labkit.exercises.feedback import hints_widget, result_widget
from labkit.exercises.hints import next_hint, revealed_hints
from labkit.exercises.lab import Lab, open_lab
from labkit.exercises.progress import ProgressStore
from labkit.exercises.registry import LABS, LabDefinition, UnknownLab, get_lab
from labkit.exercises.runner import run_check
from labkit.sandbox.apps.base import lab_state

WELCOME_HINTS = get_lab("00-welcome").checks["first-ticket"].hints


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.setenv("LABKIT_STRICT", "0")
    return tmp_path


@pytest.fixture
def lab(home: Path) -> Iterator[Lab]:
    opened = open_lab("00-welcome")
    try:
        yield opened
    finally:
        opened.close()


def throwaway_lab() -> LabDefinition:
    definition = LabDefinition("99-throwaway", "Throwaway", "labkit.sandbox.apps.welcome")

    @definition.check("explodes", title="a check with a bug", kind="practice", hints=("h",))
    def explodes(ctx: CheckContext) -> Verdict:
        return Verdict(True, str(1 / 0))

    @definition.check("calls-target", title="talks to the app", kind="practice")
    def calls_target(ctx: CheckContext) -> Verdict:
        with ctx.target.client(timeout=2) as client:
            client.get("/api/hello")
        return Verdict(True, "reached it")

    return definition


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_ticket(lab: Lab) -> str:
    return lab.client.get("/api/ticket", headers={"X-Workbook": "ready"}).json()["ticket"]


def find(widget: Any, css_class: str) -> Any:
    """The first widget in the tree carrying ``css_class``."""
    if css_class in getattr(widget, "_dom_classes", ()):
        return widget
    for child in getattr(widget, "children", ()):
        found = find(child, css_class)
        if found is not None:
            return found
    return None


# -- CheckResult -----------------------------------------------------------------------
def test_result_repr_is_exact() -> None:
    result = CheckResult("01-passwords", "hashing", True, "stored safely", ("salted", "argon2id"))
    assert repr(result) == (
        "[01-passwords/hashing] PASSED — stored safely\n  - salted\n  - argon2id"
    )
    assert str(result) == repr(result)
    failed = CheckResult("00-welcome", "first-ticket", False, "never issued")
    assert repr(failed) == "[00-welcome/first-ticket] FAILED — never issued"


def test_result_is_frozen() -> None:
    result = CheckResult("00-welcome", "first-ticket", False, "no")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.passed = True  # type: ignore[misc]


def test_result_mimebundle_has_the_deterministic_text() -> None:
    result = CheckResult("00-welcome", "first-ticket", False, "no", ("detail",))
    bundle = result._repr_mimebundle_()
    assert bundle["text/plain"] == "[00-welcome/first-ticket] FAILED — no\n  - detail"
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_findings_that_observed_nothing_fail() -> None:
    assert not Findings().verdict("ok", "bad").passed
    findings = Findings()
    findings.saw("looked")
    assert findings.verdict("ok", "bad") == Verdict(True, "ok", ("looked",))
    findings.expect(False, "broken")
    assert findings.verdict("ok", "bad") == Verdict(False, "bad", ("broken",))


def test_registering_a_check_twice_is_an_error() -> None:
    definition = throwaway_lab()
    with pytest.raises(ValueError, match="registered twice"):
        definition.check("explodes", title="again", kind="practice")(lambda ctx: Verdict(True, ""))


def test_unknown_lab() -> None:
    with pytest.raises(UnknownLab) as info:
        get_lab("42-nope")
    assert "42-nope" in str(info.value)
    assert "00-welcome" in str(info.value)
    assert "99-throwaway" not in LABS


# -- strict mode -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "strict"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_strict_mode_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, strict: bool
) -> None:
    monkeypatch.setenv("LABKIT_STRICT", value)
    assert strict_mode() is strict


def test_non_strict_returns_the_failed_result(lab: Lab) -> None:
    result = lab.check("first-ticket", None)
    assert isinstance(result, CheckResult)
    assert not result.passed
    assert result.summary == "expected the ticket as a non-empty string, got NoneType"


def test_strict_failure_raises_check_failed_with_the_same_text(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = repr(lab.check("first-ticket", "made-up"))
    monkeypatch.setenv("LABKIT_STRICT", "1")
    with pytest.raises(CheckFailed) as info:
        lab.check("first-ticket", "made-up")
    assert isinstance(info.value, AssertionError)
    assert str(info.value) == expected
    assert expected.startswith("[00-welcome/first-ticket] FAILED — this sandbox never issued")


def test_strict_pass_does_not_raise(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_STRICT", "1")
    result = lab.check("first-ticket", get_ticket(lab))
    assert result.passed


# -- checks that cannot run ------------------------------------------------------------
def test_unknown_check_is_a_failed_result_naming_the_checks(lab: Lab) -> None:
    result = lab.check("first-tikcet", "x")
    assert not result.passed
    assert result.summary == "no such check"
    assert result.details == ("checks in 00-welcome: first-ticket, greeting-fix",)


def test_fix_check_without_the_fix_names_the_function(lab: Lab) -> None:
    result = lab.check("greeting-fix")
    assert not result.passed
    assert result.summary == "this check needs your function validate_name"
    assert "lab.check('greeting-fix', validate_name=validate_name)" in result.details[0]


def test_non_callable_fix_is_a_failed_result(lab: Lab) -> None:
    result = lab.check("greeting-fix", validate_name="[]")  # type: ignore[arg-type]
    assert not result.passed
    assert result.summary == "your fix could not be plugged in"
    assert result.details == ("validate_name must be a function, got str",)
    assert lab._patched == []


def test_unknown_fix_name_is_a_failed_result(lab: Lab) -> None:
    result = lab.check("greeting-fix", validate_name=lambda n: [], validate_nmae=lambda n: [])
    assert not result.passed
    assert "unknown fix validate_nmae" in result.details[0]


def test_a_check_that_raises_is_a_failed_result(home: Path) -> None:
    definition = throwaway_lab()
    lab = Lab(definition)
    try:
        result = lab.check("explodes")
        assert not result.passed
        assert result.summary == "the check could not finish"
        assert result.details == ("ZeroDivisionError: division by zero",)
        assert ProgressStore().check_entry("99-throwaway", "explodes")["attempts"] == 1
    finally:
        lab.close()
    assert "99-throwaway" not in LABS


def test_an_app_that_stopped_answering_is_a_failed_result() -> None:
    result = run_check(
        throwaway_lab(), "calls-target", target_url=f"http://127.0.0.1:{closed_port()}"
    )
    assert not result.passed
    assert result.summary == "the app stopped answering during the check"
    assert result.details[0].startswith("ConnectError")


# -- hints -----------------------------------------------------------------------------
def test_hints_come_in_order_then_run_out(lab: Lab) -> None:
    shown = [lab.hint("first-ticket") for _ in range(len(WELCOME_HINTS) + 1)]
    assert [h.text for h in shown[:-1]] == list(WELCOME_HINTS)
    assert [h.number for h in shown] == [1, 2, 3, 0]
    assert repr(shown[0]) == f"[00-welcome/first-ticket] hint 1/3: {WELCOME_HINTS[0]}"
    assert shown[-1].text.startswith("no more hints")
    assert ProgressStore().check_entry("00-welcome", "first-ticket")["hints"] == 3
    assert revealed_hints("00-welcome", "first-ticket") == list(WELCOME_HINTS)
    assert "💡" in shown[0]._repr_html_()


def test_hint_for_an_unknown_check(lab: Lab) -> None:
    hint = lab.hint("nope")
    assert hint.number == 0
    assert "no check 'nope'" in hint.text
    assert revealed_hints("00-welcome", "nope") == []


def test_reset_forgets_hints(lab: Lab) -> None:
    lab.hint("first-ticket")
    lab.reset("first-ticket")
    assert next_hint("00-welcome", "first-ticket").number == 1


# -- the result widget -----------------------------------------------------------------
def test_result_widget_classes_and_hint_button(lab: Lab) -> None:
    result = lab.check("first-ticket", None)
    panel = result_widget(result)
    assert isinstance(panel, widgets.VBox)
    assert "labkit-result" in panel._dom_classes
    assert "labkit-failed" in panel._dom_classes
    assert "labkit-passed" not in panel._dom_classes
    assert "FAILED" in panel.children[0].value
    button = find(panel, "labkit-hint-button")
    hints_box = find(panel, "labkit-hints")
    assert isinstance(button, widgets.Button)
    assert button.description == "Hint"
    assert hints_box.children == ()

    button.click()
    assert len(hints_box.children) == 1
    assert html.escape(WELCOME_HINTS[0]) in hints_box.children[0].value
    assert ProgressStore().check_entry("00-welcome", "first-ticket")["hints"] == 1

    # a new panel for the same check shows the hint already revealed
    assert len(find(result_widget(result), "labkit-hints").children) == 1

    for _ in range(len(WELCOME_HINTS)):
        button.click()
    assert len(hints_box.children) == len(WELCOME_HINTS) + 1
    assert "no more hints" in hints_box.children[-1].value
    assert button.disabled


def test_passed_result_widget(lab: Lab) -> None:
    result = lab.check("first-ticket", get_ticket(lab))
    panel = result_widget(result)
    assert {"labkit-result", "labkit-passed"} <= set(panel._dom_classes)
    assert "labkit-failed" not in panel._dom_classes
    assert "PASSED" in panel.children[0].value


def test_widget_for_an_unknown_check_still_renders(lab: Lab) -> None:
    panel = result_widget(lab.check("nope"))
    assert "labkit-failed" in panel._dom_classes
    assert find(panel, "labkit-hints").children == ()


def test_result_html_escapes() -> None:
    result = CheckResult("00-welcome", "x", False, "<script>", ("<b>",))
    panel = result_widget(result)
    assert "<script>" not in panel.children[0].value
    assert "&lt;b&gt;" in panel.children[0].value


# -- the dashboard, traffic and the Lab handle -----------------------------------------
def test_progress_dashboard(lab: Lab) -> None:
    lab.check("first-ticket", get_ticket(lab))
    lab.check("greeting-fix", validate_name=lambda name: [])
    lab.hint("greeting-fix")
    report = labkit.progress()
    lines = repr(report).splitlines()
    assert lines[0] == "00-welcome       1/2  ✓ first-ticket  ✗ greeting-fix (1 hints)"
    checks = len(get_lab("01-passwords").checks)
    assert lines[1].startswith(f"01-passwords     0/{checks}  · crack-leak")
    assert report.passed("00-welcome", "first-ticket")
    assert not report.passed("00-welcome", "greeting-fix")
    bundle = report._repr_mimebundle_()
    assert bundle["text/plain"] == repr(report)


def test_traffic_view_shows_requests_through_the_client(lab: Lab) -> None:
    lab.client.get("/api/hello")
    lab.client.get("/api/ticket")
    text = repr(lab.traffic())
    assert "GET     /api/hello  -> 200" in text
    assert "GET     /api/ticket  -> 400" in text
    assert repr(lab.traffic(last=1)).count("\n") == 0
    assert lab.traffic()._repr_mimebundle_()["text/plain"] == text


def test_lab_handle(lab: Lab) -> None:
    assert lab.url == lab.sandbox.url
    assert lab.url.startswith("http://127.0.0.1:")
    assert repr(lab) == f"<Lab 00-welcome: vulnerable app at {lab.url}, 0 seeded users>"
    assert lab._repr_mimebundle_()["text/plain"] == repr(lab)
    assert lab.client.get("/api/hello").status_code == 200


def test_open_lab_twice_replaces_the_first(home: Path) -> None:
    first = open_lab("00-welcome")
    old_port = first.sandbox.port
    second = open_lab("00-welcome")
    try:
        assert second is not first
        assert not first.sandbox.running
        assert second.sandbox.running
        assert lab_module._open["00-welcome"] is second
        with socket.socket() as sock:  # the old port is free again
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", old_port))
    finally:
        second.close()
    assert "00-welcome" not in lab_module._open


def test_close_stops_every_sandbox_and_deletes_their_databases(home: Path) -> None:
    lab = open_lab("01-passwords")
    patched = lab.patched()
    databases = [lab_state(lab.sandbox.app).store, lab_state(patched.app).store]
    assert all(db is not None and db.path.exists() for db in databases)
    assert patched.client.get("/api/_lab/candidates").status_code == 200
    lab.close()
    assert not lab.sandbox.running
    assert not patched.running
    assert all(db is not None and not db.path.parent.exists() for db in databases)
    lab.close()  # twice is fine


def test_fix_check_cleans_up_its_patched_sandbox(lab: Lab) -> None:
    result = lab.check("greeting-fix", validate_name=lambda name: [])
    assert not result.passed
    assert lab._patched == []


def test_findings_section_notes_a_clean_battery_and_stays_quiet_on_a_dirty_one() -> None:
    from labkit.exercises.check import Findings

    findings = Findings()
    with findings.section("tokens"):
        findings.saw("alg none refused")
    with findings.section("cookies", "flags all set"):
        findings.fail("no SameSite")
    assert findings.observations == ["alg none refused", "tokens: every attack refused"]
    assert findings.problems == ["no SameSite"]


def test_showing_the_hints_spends_none(lab: Lab) -> None:
    """00's hint cell runs under Run All: it must show the hints, not reveal one."""
    lab.reset("first-ticket")
    view = lab.hints("first-ticket")
    assert repr(view) == "[00-welcome/first-ticket] 0 of 3 hints revealed"
    assert ProgressStore().check_entry("00-welcome", "first-ticket").get("hints", 0) == 0
    lab.hint("first-ticket")
    assert repr(lab.hints("first-ticket")).splitlines()[1] == f"  1/3: {WELCOME_HINTS[0]}"
    button = find(hints_widget("00-welcome", "first-ticket"), "labkit-hint-button")
    button.click()
    assert ProgressStore().check_entry("00-welcome", "first-ticket")["hints"] == 2


def test_the_status_links_look_like_links_and_point_where_the_browser_can_go(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    page = lab._status_html()
    proxied = f"/user/ada/proxy/{lab.sandbox.port}/"
    assert f"href='{proxied}'" in page and f"<code>{proxied}</code>" in page
    assert "text-decoration:underline" in page
    assert f"href='{proxied}docs'" in page
