"""Widget views of check results, hints, the lab status, traffic and the progress dashboard.

Everything shown here is also available as deterministic plain text (the objects' ``repr``),
which is what nbval, logs and git diffs see. Widgets show their content through widget values
(``HTML.value``), never through ``Output`` capture, which nbval cannot emulate.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labkit.exercises.hints import hint_texts, next_hint, revealed_hints

if TYPE_CHECKING:
    from labkit.exercises.check import CheckResult
    from labkit.sandbox.inspector import TrafficLog

__all__ = ["progress_table", "result_mimebundle", "traffic_mimebundle", "widget_bundle"]

_PASSED_STYLE = "border-left:4px solid #1a7f37;background:#dafbe1;padding:6px 10px"
_FAILED_STYLE = "border-left:4px solid #cf222e;background:#ffebe9;padding:6px 10px"


def widget_bundle(make_widget: Callable[[], Any], text: str, html_fallback: str) -> dict[str, Any]:
    """A widget's mimebundle with our deterministic ``text/plain``; plain HTML without widgets."""
    try:
        bundle = dict(make_widget()._repr_mimebundle_())
    except Exception:  # no ipywidgets or no kernel (plain Python): static HTML is enough
        return {"text/plain": text, "text/html": html_fallback}
    bundle["text/plain"] = text
    return bundle


def result_html(result: CheckResult) -> str:
    icon = "✅" if result.passed else "❌"
    style = _PASSED_STYLE if result.passed else _FAILED_STYLE
    details = "".join(f"<li>{html.escape(d)}</li>" for d in result.details)
    return (
        f"<div style='{style}'><b>{icon} {html.escape(result.lab)}/"
        f"{html.escape(result.check_id)} {result.status}</b> — {html.escape(result.summary)}"
        f"{f'<ul>{details}</ul>' if details else ''}</div>"
    )


def _hint_html(text: str) -> str:
    return f"<div class='labkit-hint'>💡 {html.escape(text)}</div>"


def hints_widget(lab_id: str, check_id: str) -> Any:
    """The hints revealed so far and a Hint button revealing the next one (on click only,
    so running every cell spends no hint)."""
    import ipywidgets as widgets

    shown = revealed_hints(lab_id, check_id)
    total = len(hint_texts(lab_id, check_id))
    hints_box = widgets.VBox(
        [widgets.HTML(value=_hint_html(f"{i}/{total}: {h}")) for i, h in enumerate(shown, 1)]
    )
    hints_box.add_class("labkit-hints")
    button = widgets.Button(description="Hint", icon="lightbulb-o", tooltip="Reveal one hint")
    button.add_class("labkit-hint-button")

    def reveal(_: Any) -> None:
        hint = next_hint(lab_id, check_id)
        text = hint.text if not hint.number else f"{hint.number}/{hint.total}: {hint.text}"
        hints_box.children = (*hints_box.children, widgets.HTML(value=_hint_html(text)))
        if not hint.number:
            button.disabled = True

    button.on_click(reveal)
    return widgets.VBox([widgets.HBox([button]), hints_box])


def hints_mimebundle(lab_id: str, check_id: str) -> dict[str, Any]:
    shown = revealed_hints(lab_id, check_id)
    total = len(hint_texts(lab_id, check_id))
    lines = [f"[{lab_id}/{check_id}] {len(shown)} of {total} hints revealed"]
    lines += [f"  {i}/{total}: {h}" for i, h in enumerate(shown, 1)]
    text = "\n".join(lines)
    return widget_bundle(
        lambda: hints_widget(lab_id, check_id), text, f"<pre>{html.escape(text)}</pre>"
    )


def result_widget(result: CheckResult) -> Any:
    """A panel: status, details, and a Hint button revealing hints one at a time."""
    import ipywidgets as widgets

    body = widgets.HTML(value=result_html(result))
    panel = widgets.VBox([body, *hints_widget(result.lab, result.check_id).children])
    panel.add_class("labkit-result")
    panel.add_class("labkit-passed" if result.passed else "labkit-failed")
    return panel


def result_mimebundle(result: CheckResult) -> dict[str, Any]:
    return widget_bundle(lambda: result_widget(result), repr(result), result_html(result))


def traffic_mimebundle(log: TrafficLog, last: int = 20) -> dict[str, Any]:
    from labkit.sandbox.inspector import render_html, render_text

    exchanges = log.last(last)

    def make() -> Any:
        import ipywidgets as widgets

        view = widgets.HTML(value=render_html(exchanges))
        refresh = widgets.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _: setattr(view, "value", render_html(log.last(last))))
        box = widgets.VBox([view, refresh])
        box.add_class("labkit-traffic")
        return box

    return widget_bundle(make, render_text(exchanges), render_html(exchanges))


def progress_table(data: dict[str, Any], labs: dict[str, list[str]]) -> tuple[str, str]:
    """(plain text, HTML) dashboard: one row per lab, ✓ passed, ✗ failed, · not tried."""
    text_rows, html_rows = [], []
    for lab, checks in labs.items():
        record = data.get("labs", {}).get(lab, {})
        marks, cells = [], []
        for check in checks:
            entry = record.get(check, {})
            mark = "✓" if entry.get("passed") else ("✗" if entry.get("attempts") else "·")
            hints = int(entry.get("hints", 0))
            marks.append(f"{mark} {check}" + (f" ({hints} hints)" if hints else ""))
            colour = {"✓": "#1a7f37", "✗": "#cf222e"}.get(mark, "#57606a")
            cells.append(
                f"<span style='color:{colour};margin-right:10px' title='{hints} hints used'>"
                f"{mark} {html.escape(check)}</span>"
            )
        done = sum(1 for c in checks if record.get(c, {}).get("passed"))
        text_rows.append(f"{lab:<16} {done}/{len(checks)}  " + "  ".join(marks))
        html_rows.append(
            f"<tr><td><b>{html.escape(lab)}</b></td><td>{done}/{len(checks)}</td>"
            f"<td>{''.join(cells)}</td></tr>"
        )
    return (
        "\n".join(text_rows),
        "<table class='labkit-progress'><tr><th>lab</th><th>done</th><th>checks</th></tr>"
        + "".join(html_rows)
        + "</table>",
    )
