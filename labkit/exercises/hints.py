"""Hints, revealed one at a time; each one revealed is recorded in the progress store."""

from __future__ import annotations

from dataclasses import dataclass

from labkit.exercises.progress import ProgressStore
from labkit.exercises.registry import get_lab

__all__ = ["NO_MORE_HINTS", "Hint", "hint_texts", "next_hint", "revealed_hints"]

#: Said once every hint is out: every lab has text above each check (not every lab has a
#: "Learn" section: 00 and 13 do not).
NO_MORE_HINTS = "no more hints — re-read the text above this check"


@dataclass(frozen=True)
class Hint:
    """One hint (``number`` of ``total``), or the note that none are left (``number == 0``)."""

    lab: str
    check_id: str
    number: int
    total: int
    text: str

    def __repr__(self) -> str:
        if not self.number:
            return f"[{self.lab}/{self.check_id}] {self.text}"
        return f"[{self.lab}/{self.check_id}] hint {self.number}/{self.total}: {self.text}"

    def _repr_html_(self) -> str:
        import html

        return f"<div class='labkit-hint'>💡 {html.escape(repr(self))}</div>"


def hint_texts(lab_id: str, check_id: str) -> tuple[str, ...]:
    """All hints of a check (none for an unknown check id, e.g. a mistyped one)."""
    spec = get_lab(lab_id).checks.get(check_id)
    return spec.hints if spec is not None else ()


def revealed_hints(lab_id: str, check_id: str, store: ProgressStore | None = None) -> list[str]:
    """The hints this learner has already revealed for a check, in order."""
    hints = hint_texts(lab_id, check_id)
    if not hints:
        return []
    shown = int((store or ProgressStore()).check_entry(lab_id, check_id).get("hints", 0))
    return list(hints[: min(shown, len(hints))])


def next_hint(lab_id: str, check_id: str, store: ProgressStore | None = None) -> Hint:
    """Reveal the next hint of a check and record it."""
    if check_id not in get_lab(lab_id).checks:
        return Hint(lab_id, check_id, 0, 0, f"no check {check_id!r} in this lab")
    hints = hint_texts(lab_id, check_id)
    store = store or ProgressStore()
    shown = int(store.check_entry(lab_id, check_id).get("hints", 0))
    if shown >= len(hints):
        return Hint(lab_id, check_id, 0, len(hints), NO_MORE_HINTS)
    number = store.record_hint(lab_id, check_id)
    return Hint(lab_id, check_id, number, len(hints), hints[number - 1])
