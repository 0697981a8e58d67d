"""``labkit.audit_checklist(lab, MARKS)``: the capstone's audit as a checklist widget.

One row per anti-pattern: what to avoid, what to do instead, the lab that taught it, a
drop-down of the shop's routes (from its OpenAPI document) to mark where it lives, and a
status. Picking a route writes it into ``MARKS`` (the notebook's answer); the button runs
``lab.check("audit", MARKS)`` — every mark is confirmed only by its exploit succeeding
there — and shows ✓ or ✗ on each row. Without ipywidgets it prints the same table as text.
"""

from __future__ import annotations

import html
from typing import Any

from labkit.exercises.feedback import widget_bundle

__all__ = ["AuditChecklist", "audit_checklist", "shop_routes"]

UNMARKED = "(not marked)"


def shop_routes(lab: Any) -> list[str]:
    """Every documented route of the lab's app as ``"METHOD /path"``, sorted by path."""
    return list(lab.routes())


def _status_of(details: tuple[str, ...], ap_id: str) -> str:
    for line in details:
        if line[2:].startswith(f"{ap_id} ") or line[2:].startswith(f"{ap_id}:"):
            return line
    return ""


class AuditChecklist:
    """The checklist; ``marks`` is the learner's answer dict, updated in place."""

    def __init__(self, lab: Any, marks: dict[str, Any]) -> None:
        from labkit.exercises.labs.capstone import ANTI_PATTERNS

        if not isinstance(marks, dict):
            raise TypeError(f"MARKS must be a dict of id -> route, got {type(marks).__name__}")
        self.lab, self.marks = lab, marks
        self.rows = ANTI_PATTERNS
        self.statuses: dict[str, str] = {}

    def confirm(self) -> Any:
        """Run the audit check and remember each row's outcome."""
        result = self.lab.check("audit", self.marks)
        self.statuses = {ap.id: _status_of(result.details, ap.id) for ap in self.rows}
        return result

    def __repr__(self) -> str:
        lines = []
        for index, ap in enumerate(self.rows, 1):
            mark = self.marks.get(ap.id) or UNMARKED
            status = self.statuses.get(ap.id, "")[:1] or " "
            lines.append(f"{status} {index:>2}. {ap.avoid:<34} {ap.lab:<16} {mark}")
        return "\n".join(lines)

    def _html(self) -> str:
        rows = "".join(
            f"<tr><td>{index}</td><td><b>{html.escape(ap.avoid)}</b><br>"
            f"<small>→ {html.escape(ap.instead)}</small></td><td>{html.escape(ap.lab)}</td>"
            f"<td><code>{html.escape(str(self.marks.get(ap.id) or UNMARKED))}</code></td></tr>"
            for index, ap in enumerate(self.rows, 1)
        )
        return f"<table class='labkit-checklist'>{rows}</table>"

    def widget(self) -> Any:
        import ipywidgets as widgets

        from labkit.exercises.feedback import result_widget

        routes = [UNMARKED, *shop_routes(self.lab)]
        lines, statuses = [], {}
        for index, ap in enumerate(self.rows, 1):
            current = self.marks.get(ap.id)
            choice = widgets.Dropdown(
                options=routes if current in (None, *routes) else [*routes, current],
                value=current or UNMARKED,
                layout=widgets.Layout(width="300px"),
            )

            def remember(change: dict[str, Any], ap_id: str = ap.id) -> None:
                value = change["new"]
                self.marks[ap_id] = None if value == UNMARKED else value

            choice.observe(remember, names="value")
            label = widgets.HTML(
                f"<b>{index}. {html.escape(ap.avoid)}</b> → {html.escape(ap.instead)} "
                f"<small>({html.escape(ap.lab)})</small>",
                layout=widgets.Layout(width="520px"),
            )
            statuses[ap.id] = widgets.HTML("", layout=widgets.Layout(width="40px"))
            lines.append(widgets.HBox([statuses[ap.id], label, choice]))
        button = widgets.Button(
            description="Confirm by exploiting", icon="bug", layout=widgets.Layout(width="auto")
        )
        button.add_class("labkit-audit-confirm")
        output = widgets.Output()

        def on_click(_: Any) -> None:
            result = self.confirm()
            for ap_id, line in self.statuses.items():
                statuses[ap_id].value = {"✓": "✅", "✗": "❌"}.get(line[:1], "")
                statuses[ap_id].tooltip = line
            output.clear_output()
            with output:
                from IPython.display import display

                display(result_widget(result))

        button.on_click(on_click)
        box = widgets.VBox([*lines, button, output])
        box.add_class("labkit-checklist")
        return box

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return widget_bundle(self.widget, repr(self), self._html())


def audit_checklist(lab: Any, marks: dict[str, Any]) -> AuditChecklist:
    """The audit checklist for the capstone lab, writing the learner's picks into ``marks``."""
    return AuditChecklist(lab, marks)
