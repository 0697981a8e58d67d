"""``labkit.course_summary()``: the whole course at a glance, and a page to keep.

Built from the learner's own progress file (every check result and hint), so it is a
record of practice, not a grade — the instructor's ``labkit grade`` is the grade. The HTML
export is one self-contained page (no scripts, no downloads) that can be saved or printed.
"""

from __future__ import annotations

import html
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labkit.exercises.capstone.points import AUDIT, audit_points, credited
from labkit.exercises.feedback import widget_bundle
from labkit.exercises.progress import ProgressStore
from labkit.exercises.registry import LABS, get_lab

__all__ = ["CourseSummary", "LabSummary", "course_summary"]


@dataclass(frozen=True)
class LabSummary:
    """One lab's line of the summary."""

    lab: str
    title: str
    passed: int
    total: int
    points: int
    max_points: int
    hints: int
    last_active: str
    #: The audit's last verdict, for a lab with findings (13): rows and bonus flaws shown.
    findings: str = ""

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.passed == self.total

    @property
    def credited(self) -> list[str]:
        """Each finding the audit credited: its weakness id, ``(bonus)`` after a bonus flaw."""
        return [f"{w} (bonus)" if bonus else w for w, bonus in credited(self.findings)]

    @property
    def findings_line(self) -> str:
        """The findings as the summary shows them: the counts and each credited finding ("7
        of 11 rows and 2 of 5 bonus flaws: cors-wildcard, ..., order-idor (bonus)"), else the
        verdict as it is."""
        named = self.credited
        counts = self.findings.partition(" demonstrated")[0]
        return f"{counts}: {', '.join(named)}" if named else self.findings


class CourseSummary:
    """Every lab's checks passed, points and hints used; ``export_html(path)`` keeps it."""

    def __init__(self, data: dict[str, Any], learner: str = "") -> None:
        self.learner = learner
        self.made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        self.labs = [self._lab(lab_id, data.get("labs", {}).get(lab_id, {})) for lab_id in LABS]

    @staticmethod
    def _lab(lab_id: str, record: dict[str, Any]) -> LabSummary:
        definition = get_lab(lab_id)
        passed = [c for c in definition.checks if record.get(c, {}).get("passed")]
        stamps = [str(entry.get("updated", "")) for entry in record.values()]
        points = {c: definition.checks[c].points for c in passed}
        findings = str(record.get("audit", {}).get("summary", "")) if lab_id == AUDIT[0] else ""
        most = definition.checks["audit"].points if findings else 0
        if findings and (earned := audit_points(findings, most)) is not None:  # per finding
            points["audit"] = earned
        return LabSummary(
            lab_id,
            definition.title,
            len(passed),
            len(definition.checks),
            sum(points.values()),
            sum(spec.points for spec in definition.checks.values()),
            sum(int(entry.get("hints", 0)) for entry in record.values()),
            max(stamps, default=""),
            findings,
        )

    @property
    def complete(self) -> bool:
        """True when every check of every lab has passed."""
        return all(lab.complete for lab in self.labs)

    @property
    def points(self) -> tuple[int, int]:
        return sum(lab.points for lab in self.labs), sum(lab.max_points for lab in self.labs)

    def __repr__(self) -> str:
        got, out_of = self.points
        done = sum(lab.complete for lab in self.labs)
        lines = [f"Course summary: {done}/{len(self.labs)} labs complete, {got}/{out_of} points"]
        for lab in self.labs:
            mark = "✓" if lab.complete else ("·" if lab.passed == 0 else "…")
            lines.append(
                f"{mark} {lab.lab:<22} {lab.passed:>2}/{lab.total:<2} checks"
                f"  {lab.points:>2}/{lab.max_points:<2} points  {lab.hints} hints"
            )
            if lab.findings:
                lines.append(f"    findings: {lab.findings_line}")
        return "\n".join(lines)

    def _table(self) -> str:
        rows = []
        for lab in self.labs:
            share = lab.passed / lab.total if lab.total else 0.0
            colour = "#1a7f37" if lab.complete else ("#bf8700" if lab.passed else "#d0d7de")
            found = html.escape(lab.findings_line)
            found = f"<br><small>findings: {found}</small>" if found else ""
            rows.append(
                f"<tr><td>{'✅' if lab.complete else ''}</td>"
                f"<td><b>{html.escape(lab.title)}</b><br><code>{html.escape(lab.lab)}</code>"
                f"{found}</td>"
                f"<td><div style='background:#eaeef2;width:160px;height:12px;border-radius:6px'>"
                f"<div style='background:{colour};width:{share * 160:.0f}px;height:12px;"
                f"border-radius:6px'></div></div>{lab.passed}/{lab.total} checks</td>"
                f"<td>{lab.points}/{lab.max_points}</td><td>{lab.hints}</td>"
                f"<td>{html.escape(lab.last_active[:10])}</td></tr>"
            )
        return (
            "<table class='labkit-summary' style='border-collapse:collapse'>"
            "<tr><th></th><th>lab</th><th>checks</th><th>points</th><th>hints used</th>"
            "<th>last active</th></tr>" + "".join(rows) + "</table>"
        )

    @property
    def html(self) -> str:
        """The summary as an HTML fragment (what the notebook shows)."""
        got, out_of = self.points
        done = sum(lab.complete for lab in self.labs)
        verdict = (
            "🎓 Course complete: every check of every lab passed."
            if self.complete
            else f"{done} of {len(self.labs)} labs complete."
        )
        return (
            f"<div class='labkit-course-summary'><p><b>{verdict}</b> {got}/{out_of} points.</p>"
            f"{self._table()}</div>"
        )

    def page(self) -> str:
        """A whole, self-contained HTML page (no scripts, nothing fetched)."""
        who = f" — {html.escape(self.learner)}" if self.learner else ""
        return (
            "<!doctype html><html lang='en'><meta charset='utf-8'>"
            "<title>Security Patterns Workbook — course summary</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto}"
            "td,th{padding:6px 10px;border-bottom:1px solid #d0d7de;text-align:left}</style>"
            f"<h1>Security Patterns Workbook{who}</h1><p>Summary made {self.made}.</p>"
            f"{self.html}<p style='color:#57606a'>Made from this learner's own progress file "
            "(<code>labkit progress</code>): a record of practice, not a grade. Every check "
            "ran the lab's attacks against the learner's fix over HTTP.</p></html>"
        )

    def export_html(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`page` to ``path`` (atomically) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".summary-", suffix=".html")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(self.page())
        os.replace(temp, target)
        return target

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        def make() -> Any:
            import ipywidgets as widgets

            view = widgets.HTML(value=self.html)
            view.add_class("labkit-course-summary")
            return view

        return widget_bundle(make, repr(self), self.html)


def course_summary(learner: str = "", store: ProgressStore | None = None) -> CourseSummary:
    """The course summary from your progress (``.export_html("summary.html")`` to keep it)."""
    return CourseSummary((store or ProgressStore()).load(), learner)
