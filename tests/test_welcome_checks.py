"""00-welcome: every check fails on the stub and on a plausible wrong answer, passes on the
reference — judged through the real lab, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labkit.exercises.lab import Lab
from labkit.exercises.registry import get_lab
from labkit.sandbox.apps.welcome import validate_name_reference

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_HOME", str(tmp_path_factory.mktemp("labkit-home")))
        # Lab(), not open_lab(): a lab this module owns, which no other test's open_lab()
        # of the same id can replace (and stop) half-way through, e.g. under xdist
        opened = Lab(get_lab("00-welcome"))
        try:
            yield opened
        finally:
            opened.close()


# -- first-ticket ----------------------------------------------------------------------
def test_first_ticket_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("first-ticket", None)
    assert not result.passed
    assert "got NoneType" in result.summary


def test_first_ticket_fails_on_a_made_up_ticket(lab: Lab) -> None:
    result = lab.check("first-ticket", "my-ticket-1234")
    assert not result.passed
    assert result.summary == "this sandbox never issued that ticket"


def test_first_ticket_fails_on_a_ticket_from_another_sandbox(lab: Lab) -> None:
    other = Lab(lab.definition)
    try:
        foreign = other.client.get("/api/ticket", headers={"X-Workbook": "ready"}).json()
    finally:
        other.close()
    assert not lab.check("first-ticket", foreign["ticket"]).passed


def test_first_ticket_needs_the_header(lab: Lab) -> None:
    response = lab.client.get("/api/ticket")
    assert response.status_code == 400
    assert "X-Workbook" in response.json()["error"]


def test_first_ticket_passes_on_a_real_ticket(lab: Lab) -> None:
    ticket = lab.client.get("/api/ticket", headers={"X-Workbook": "ready"}).json()["ticket"]
    result = lab.check("first-ticket", ticket)
    assert result.passed, repr(result)


# -- greeting-fix ----------------------------------------------------------------------
def stub(name: str) -> list[str]:
    raise NotImplementedError


def only_rejects_empty(name: str) -> list[str]:
    return [] if name else ["Name is required"]


def forgets_to_strip(name: str) -> list[str]:
    if not name:
        return ["Name is required"]
    if len(name) > 40:
        return ["Name must be at most 40 characters"]
    return []


def rejects_padding(name: str) -> list[str]:
    if not name.strip() or name != name.strip():
        return ["Name must not start or end with spaces"]
    if len(name) > 40:
        return ["Name must be at most 40 characters"]
    return []


def test_greeting_fix_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("greeting-fix", validate_name=stub)
    assert not result.passed
    assert "not written yet" in repr(result)


def test_greeting_fix_fails_when_only_empty_names_are_refused(lab: Lab) -> None:
    result = lab.check("greeting-fix", validate_name=only_rejects_empty)
    assert not result.passed
    assert any("5,000-character name got 200" in d for d in result.details)
    assert any("a blank name got 200" in d for d in result.details)


def test_greeting_fix_fails_when_it_forgets_to_strip(lab: Lab) -> None:
    result = lab.check("greeting-fix", validate_name=forgets_to_strip)
    assert not result.passed
    assert any("a blank name got 200" in d for d in result.details)


def test_greeting_fix_fails_when_it_refuses_padded_names(lab: Lab) -> None:
    result = lab.check("greeting-fix", validate_name=rejects_padding)
    assert not result.passed
    assert any("'  Grace Hopper  ' got 400" in d for d in result.details)


def test_greeting_fix_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("greeting-fix", validate_name=validate_name_reference)
    assert result.passed, repr(result)


def test_vulnerable_app_accepts_any_name(lab: Lab) -> None:
    response = lab.client.post("/api/greet", json={"name": "   "})
    assert response.status_code == 200  # what the learner is asked to fix
