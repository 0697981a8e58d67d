"""``labkit.progress()``: the dashboard of every lab's checks and hints used."""

from __future__ import annotations

from typing import Any

from labkit.exercises.feedback import progress_table, widget_bundle
from labkit.exercises.progress import ProgressStore
from labkit.exercises.registry import LABS, get_lab

__all__ = ["ProgressReport", "progress"]


class ProgressReport:
    """A snapshot of the progress store: a widget in Jupyter, a table as text."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.labs = {lab: list(get_lab(lab).checks) for lab in LABS}
        self.text, self.html = progress_table(data, self.labs)

    def passed(self, lab: str, check: str) -> bool:
        return bool(self.data.get("labs", {}).get(lab, {}).get(check, {}).get("passed"))

    def __repr__(self) -> str:
        return self.text

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        def make() -> Any:
            import ipywidgets as widgets

            view = widgets.HTML(value=self.html)
            view.add_class("labkit-progress")
            return view

        return widget_bundle(make, self.text, self.html)


def progress(store: ProgressStore | None = None) -> ProgressReport:
    """Show your progress across all labs (checks passed, hints used)."""
    return ProgressReport((store or ProgressStore()).load())
