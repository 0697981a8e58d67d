"""The audit's points: one per demonstrated finding, read from the audit's own verdict.

Light on purpose (no shop, no checks): the course summary and ``labkit grade`` read the
points an audit earned from the summary the check wrote — in the grader, the verifier's.
"""

from __future__ import annotations

import re

__all__ = ["AUDIT", "audit_points"]

#: The check whose points scale with what it found.
AUDIT = ("13-capstone", "audit")
_SCORE = re.compile(r"^(\d+) of \d+ rows and (\d+) of \d+ bonus flaws demonstrated")


def audit_points(summary: str, max_points: int) -> int | None:
    """Points of an audit verdict ("12 of 12 rows and 3 of 5 bonus flaws demonstrated..." ->
    15, at most ``max_points``); None for a summary that is no audit count."""
    match = _SCORE.match(summary or "")
    return min(max_points, int(match[1]) + int(match[2])) if match else None
