"""``labkit.audit_checklist(lab, FINDINGS)``: the capstone's findings as a table to replay.

One row per finding of the learner's ``FINDINGS`` list: its routes, its weakness (or CWE) and
its exploit's name, and — once the button ran the audit (``lab.check("audit",
findings=FINDINGS)``) — ✓ or ✗ with the check's reason. Nothing here suggests a route or a
weakness: the findings are the learner's own, and only their exploits earn a ✓. Without
ipywidgets it prints the same table as text.
"""

from __future__ import annotations

import html
from typing import Any

from labkit.exercises.feedback import widget_bundle

__all__ = ["AuditChecklist", "audit_checklist"]


def _cell(finding: Any) -> tuple[str, str, str]:
    """(routes, weakness, exploit name) of one finding, as text."""
    if not isinstance(finding, dict):
        return "?", f"(not a finding: {type(finding).__name__})", "?"
    routes = finding.get("routes", finding.get("route", "?"))
    routes = ", ".join(routes) if isinstance(routes, list | tuple) else str(routes)
    weakness = str(finding.get("weakness"))
    if weakness == "other":
        weakness = f"other ({finding.get('cwe') or 'no CWE'})"
    exploit = getattr(finding.get("exploit"), "__name__", "(no exploit)")
    return routes, weakness, exploit


class AuditChecklist:
    """The table; ``findings`` is the learner's list, read each time it is shown or run."""

    def __init__(self, lab: Any, findings: list[Any]) -> None:
        if not isinstance(findings, list | tuple):
            raise TypeError(f"FINDINGS must be a list of findings, got {type(findings).__name__}")
        self.lab, self.findings = lab, findings
        self.statuses: dict[int, str] = {}
        self.summary = ""

    def confirm(self) -> Any:
        """Run the audit and remember each finding's line (✓/✗ and the reason)."""
        result = self.lab.check("audit", findings=list(self.findings))
        self.summary = result.summary
        self.statuses = {
            number: next((d for d in result.details if d[2:].startswith(f"finding {number} ")), "")
            for number in range(1, len(self.findings) + 1)
        }
        return result

    def __repr__(self) -> str:
        lines = []
        for number, finding in enumerate(self.findings, 1):
            routes, weakness, exploit = _cell(finding)
            status = self.statuses.get(number, "")[:1] or " "
            lines.append(f"{status} {number:>2}. {weakness:<28} {routes:<34} {exploit}")
        if self.summary:
            lines.append(self.summary)
        return "\n".join(lines) or "(no findings yet)"

    def _html(self) -> str:
        rows = "".join(
            f"<tr><td>{n}</td><td>{html.escape(w)}</td><td><code>{html.escape(r)}</code></td>"
            f"<td><code>{html.escape(e)}</code></td></tr>"
            for n, (r, w, e) in enumerate(map(_cell, self.findings), 1)
        )
        return f"<table class='labkit-checklist'>{rows}</table>"

    def widget(self) -> Any:
        import ipywidgets as widgets

        from labkit.exercises.feedback import result_widget

        statuses, lines = {}, []
        for number, finding in enumerate(self.findings, 1):
            routes, weakness, exploit = _cell(finding)
            statuses[number] = widgets.HTML("", layout=widgets.Layout(width="40px"))
            label = widgets.HTML(
                f"<b>{number}.</b> {html.escape(weakness)} at <code>{html.escape(routes)}</code>"
                f" — <code>{html.escape(exploit)}(client)</code>",
                layout=widgets.Layout(width="820px"),
            )
            lines.append(widgets.HBox([statuses[number], label]))
        button = widgets.Button(
            description="Replay my findings", icon="bug", layout=widgets.Layout(width="auto")
        )
        button.add_class("labkit-audit-confirm")
        output = widgets.Output()

        def on_click(_: Any) -> None:
            result = self.confirm()
            for number, line in self.statuses.items():
                if number in statuses:
                    statuses[number].value = {"✓": "✅", "✗": "❌"}.get(line[:1], "")
                    statuses[number].tooltip = line
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


def audit_checklist(lab: Any, findings: list[Any]) -> AuditChecklist:
    """The learner's findings as a table, with a button that replays them (the audit)."""
    return AuditChecklist(lab, findings)
