"""The class report: an overview (each lab's score distribution, the pass rate of every check
as a chart and a table, the flagged submissions), then each student's table. Self-contained:
the chart is a PNG embedded as base64."""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections import defaultdict
from pathlib import Path

from labkit.grading.gradebook import FLAG, is_flagged, lab_totals, write_atomic
from labkit.grading.outcome import COLUMNS, Row

__all__ = ["STYLE", "pass_rates", "render_report", "status_cell", "write_report"]

COLORS = {"passed": "#1a7f37", "failed": "#cf222e", "not-evaluated": "#9a6700", "error": "#6e7781"}
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:75em}"
    "table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}"
    "td.n{text-align:right}"
)
#: Score bands of the per-lab distribution (percent of the lab's points, upper bound included).
BANDS = ((0, 0), (1, 25), (26, 50), (51, 75), (76, 99), (100, 100))


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


def status_cell(status: str) -> str:
    return f"<td style='color:{COLORS.get(status, '#000')}'>{html.escape(status)}</td>"


def _table(head: list[str], body: list[list[object]], status_col: int = -1) -> str:
    ths = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = []
    for cells in body:
        tds = "".join(
            status_cell(str(v)) if i == status_col else
            f"<td class='n'>{v}</td>" if isinstance(v, int | float) else
            f"<td>{html.escape(str(v))}</td>"
            for i, v in enumerate(cells)
        )  # fmt: skip
        trs.append(f"<tr>{tds}</tr>")
    return f"<table><tr>{ths}</tr>{''.join(trs)}</table>"


def _distribution(rows: list[Row], totals: dict[str, int]) -> str:
    """Per lab: how many handed it in, median and mean score, and students per score band."""
    scores: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        scores[row.lab][row.student] += row.points
    head = ["lab", "handed in", "max", "median", "mean"]
    head += [f"{lo}–{hi} %" if lo != hi else f"{lo} %" for lo, hi in BANDS]
    body: list[list[object]] = []
    for lab in sorted(totals):
        points = list(scores.get(lab, {}).values())
        most = totals[lab]
        percents = [round(100 * p / most) if most else 0 for p in points]
        line: list[object] = [lab, len(points), most]
        line += [statistics.median(points), round(statistics.mean(points), 1)] if points \
            else ["", ""]  # fmt: skip
        line += [sum(lo <= p <= hi for p in percents) for lo, hi in BANDS]
        body.append(line)
    return _table(head, body)


def _flags(rows: list[Row]) -> str:
    flagged: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        if is_flagged(row):
            parts = row.message.split(" | ")
            flagged[(row.student, row.lab)].update(
                p.removeprefix(FLAG) for p in parts if p.startswith(FLAG)
            )
    if not flagged:
        return "<p>No submission was flagged.</p>"
    body: list[list[object]] = [
        [s, lab, "; ".join(sorted(f))] for (s, lab), f in sorted(flagged.items())
    ]
    return _table(["student", "lab", "flags"], body)


def render_report(rows: list[Row], totals: dict[str, int] | None = None) -> str:
    """The whole report as one HTML page."""
    totals = lab_totals(rows) if totals is None else totals
    rates = pass_rates(rows)
    chart = _chart(rates)
    image = f"<img alt='pass rate per check' src='data:image/png;base64,{chart}'>" if chart else ""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if row.check:
            counts[f"{row.lab}/{row.check}"][0] += row.status == "passed"
            counts[f"{row.lab}/{row.check}"][1] += 1
    rate_table = _table(
        ["check", "passed", "graded", "pass rate"],
        [[k, p, n, f"{100 * p / n:.0f} %"] for k, (p, n) in counts.items()],
    )
    by_student: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_student[row.student].append(row)
    sections = []
    for student, mine in sorted(by_student.items()):
        points = sum(r.points for r in mine if r.lab in totals)
        most = sum(totals.values())
        body: list[list[object]] = [
            [r.lab, r.check, r.status, r.points, r.max_points, r.message] for r in mine
        ]
        sections.append(
            f"<h3 id='{html.escape(student)}'>{html.escape(student)} — {points}/{most} points"
            f"</h3>{_table(list(COLUMNS[1:]), body, status_col=2)}"
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>labkit gradebook</title>"
        f"<style>{STYLE}</style></head><body><h1>Gradebook</h1>"
        f"<h2>Overview</h2><p>{len(by_student)} students; labs counted: "
        f"{html.escape(', '.join(sorted(totals)))}.</p>"
        f"<h3>Scores per lab</h3>{_distribution(rows, totals)}"
        f"<h3>Pass rate per check</h3>{image}{rate_table}"
        f"<h3>Flagged submissions</h3>{_flags(rows)}"
        f"<h2>Students</h2>{''.join(sections)}</body></html>\n"
    )


def write_report(path: Path, rows: list[Row], totals: dict[str, int] | None = None) -> None:
    write_atomic(path, render_report(rows, totals))
