"""A check over two seconds shows a progress line in the cell, and removes it at the end."""

from __future__ import annotations

import time
from typing import Any

import pytest

from labkit.exercises import running
from labkit.exercises.check import Findings


class FakeHandle:
    def __init__(self, shown: list[str]) -> None:
        self.shown = shown

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        self.shown.append(bundle["text/plain"])


@pytest.fixture
def cell(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    shown: list[str] = []

    def display(bundle: dict[str, str], raw: bool = False, display_id: bool = False) -> Any:
        shown.append(bundle["text/plain"])
        return FakeHandle(shown)

    monkeypatch.setattr(running, "_kernel_display", lambda: display)
    monkeypatch.setattr(running, "QUIET_S", 0.1)
    monkeypatch.setattr(running, "_TICK_S", 0.05)
    return shown


def test_a_slow_check_shows_its_steps_then_clears(cell: list[str]) -> None:
    findings = Findings()
    with running.show_progress("verify"), findings.rule("salted"):
        for _ in range(3):
            findings.saw("a probe")
        deadline = time.monotonic() + 10
        while not any("probing salted" in line for line in cell) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert any(line.startswith("⏳ verify:") and "3 probes done" in line for line in cell)
    assert any("probing salted" in line for line in cell)
    assert cell[-1] == ""  # the line is removed when the verdict arrives


def test_a_quick_check_shows_nothing(cell: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(running, "QUIET_S", 30.0)
    with running.show_progress("hashing"):
        Findings().saw("done")
    assert cell == []


def test_outside_a_kernel_nothing_is_displayed() -> None:
    assert running._kernel_display() is None
    with running.show_progress("verify"):
        running.note_step("rule")  # counted, shown nowhere
