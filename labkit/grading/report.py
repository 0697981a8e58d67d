"""The HTML report: a pass-rate chart per check (what the class struggles with) and each
student's table. Self-contained: the chart is a PNG embedded as base64."""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from pathlib import Path

from labkit.grading.gradebook import write_atomic
from labkit.grading.outcome import COLUMNS, Row

__all__ = ["pass_rates", "render_report", "write_report"]

COLORS = {"passed": "#1a7f37", "failed": "#cf222e", "not-evaluated": "#9a6700", "error": "#6e7781"}


def pass_rates(rows: list[Row]) -> dict[str, float]:
    """``"lab/check"`` -> share of students who passed it (error rows excluded)."""
    seen: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        if row.check:
            seen[f"{row.lab}/{row.check}"].append(row.status == "passed")
    return {key: sum(v) / len(v) for key, v in seen.items()}


def _chart(rates: dict[str, float]) -> str:
    """The pass-rate bar chart as a base64 PNG ('' when there is nothing to plot)."""
    if not rates:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rates)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.2))
    values = [100 * rates[k] for k in labels]
    bars = ax.barh(labels, values, color=["#1a7f37" if v >= 50 else "#cf222e" for v in values])
    ax.bar_label(bars, fmt="%.0f %%", padding=3, fontsize=8)  # a 0 % bar shows its number
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first check on top, no 5 % margins (long courses)
    ax.set_xlim(0, 112)  # room for the label of a 100 % bar
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("students who passed (%)")
    ax.set_title("Pass rate per check")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(rows: list[Row]) -> str:
    head = "".join(f"<th>{c}</th>" for c in COLUMNS[1:])
    body = []
    for row in rows:
        cells = [row.lab, row.check, row.status, row.points, row.max_points, row.message]
        color = COLORS.get(row.status, "#000")
        tds = "".join(
            f"<td style='color:{color}'>{html.escape(str(v))}</td>" if i == 2 else
            f"<td>{html.escape(str(v))}</td>"
            for i, v in enumerate(cells)
        )  # fmt: skip
        body.append(f"<tr>{tds}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_report(rows: list[Row]) -> str:
    """The whole report as one HTML page."""
    chart = _chart(pass_rates(rows))
    image = f"<img alt='pass rate per check' src='data:image/png;base64,{chart}'>" if chart else ""
    by_student: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_student[row.student].append(row)
    sections = []
    for student, mine in sorted(by_student.items()):
        points, most = sum(r.points for r in mine), sum(r.max_points for r in mine)
        sections.append(f"<h2>{html.escape(student)} — {points}/{most} points</h2>{_table(mine)}")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>labkit gradebook</title>"
        f"<style>{style}</style></head><body><h1>Gradebook</h1>{image}"
        f"{''.join(sections)}</body></html>\n"
    )


def write_report(path: Path, rows: list[Row]) -> None:
    write_atomic(path, render_report(rows))
