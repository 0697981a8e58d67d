"""Turn what the verifier recorded into gradebook rows. Never ``passed`` without a verdict."""

from __future__ import annotations

from labkit.exercises.capstone.points import AUDIT, audit_points
from labkit.grading.canonical import Canonical
from labkit.grading.execute import CHECK_FAILED
from labkit.grading.outcome import Row
from labkit.grading.worker import WorkerResult

__all__ = ["SIMULATED", "error_row", "not_evaluated", "score"]

NO_VERDICT = "the check cell ran but no verdict reached the grader (was lab.check replaced?)"
#: On a row whose check could not use a real browser on the grading machine.
SIMULATED = (
    "SIMULATED: judged without a real browser (no Chromium or Playwright where it was "
    "graded; see INSTRUCTORS.md, the grading image)"
)
#: After an error in a check cell that is not a failed check (a ``NameError``...).
STOPPED_EARLY = "the check cell stopped before its check reached the grader"


def score(
    student: str,
    lab: Canonical,
    result: WorkerResult,
    *,
    notes: dict[str, list[str]] | None = None,
    flags: list[str] | None = None,
) -> list[Row]:
    """One row per check of ``lab``; ``notes`` by check id (``""``: on every row), ``flags``
    on every row."""
    rows = []
    stopped_seen = False
    for slot in lab.checks:
        if slot.id in result.recorded:
            passed, message = result.recorded[slot.id]
            status = "passed" if passed else "failed"
        elif slot.id in result.completed:
            status, message = "failed", _no_verdict(result.completed[slot.id])
        else:
            status = "not-evaluated"
            if not result.stopped:
                message = "the check cell never ran"
            elif not stopped_seen:
                message, stopped_seen = result.stopped, True
            else:
                message = f"not reached: {result.stopped}"
        simulated = [SIMULATED] if _simulated(message, result.browser) else []
        extra = [*simulated, *(notes or {}).get(slot.id, []), *(notes or {}).get("", []),
                 *(f"FLAGGED: {f}" for f in flags or [])]  # fmt: skip
        message = " | ".join([message, *extra]) if extra else message
        points = slot.points if status == "passed" else 0
        if (lab.lab, slot.id) == AUDIT and status != "not-evaluated":  # one per finding
            earned = audit_points(message, slot.points)
            points = earned if earned is not None else points
        rows.append(Row(student, lab.lab, slot.id, status, points, slot.points, message))  # type: ignore[arg-type]
    return rows


def _simulated(message: str, browser: bool) -> bool:
    """A verdict judged by a simulation: it says so, or it speaks of a browser where none
    was available."""
    return "SIMULATION" in message or (not browser and "browser" in message.lower())


def _no_verdict(error: str) -> str:
    """The message of a check cell that ran without a recorded verdict: what the notebook
    showed when ``lab.check`` failed before asking the grader (a missing or unfinished
    function: "authorize is not written yet"), else the error, else that nothing came."""
    if error.startswith(CHECK_FAILED):
        return error.removeprefix(CHECK_FAILED)
    return f"{error} ({STOPPED_EARLY})" if error else NO_VERDICT


def error_row(student: str, lab: str, message: str, max_points: int = 0) -> Row:
    """The single row of a submission that could not be read or matched to a lab."""
    return Row(student, lab, "", "error", 0, max_points, message)


def not_evaluated(student: str, lab: Canonical, reason: str, flags: list[str]) -> list[Row]:
    """Every check not evaluated (the worker itself crashed or ran out of time)."""
    return score(student, lab, WorkerResult({}, {}, reason, ""), flags=flags)
