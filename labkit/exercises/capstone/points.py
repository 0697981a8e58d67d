"""The audit's points and findings: one point per demonstrated finding, read from its verdict.

Light on purpose (no shop, no checks): the course summary and ``labkit grade`` read what an
audit earned from the summary the check wrote — in the grader, the verifier's. The summary
names each credited finding, so :func:`audit_summary` writes it and :func:`credited` and
:func:`audit_points` read it back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["AUDIT", "audit_points", "audit_summary", "credited"]

#: The check whose points scale with what it found.
AUDIT = ("13-capstone", "audit")
_SCORE = re.compile(r"^(\d+) of \d+ rows and (\d+) of \d+ bonus flaws demonstrated")
_IDS = r"[a-z0-9-]+(?:, [a-z0-9-]+)*"
_NAMED = re.compile(
    rf"^\d+ of \d+ rows and \d+ of \d+ bonus flaws demonstrated by your exploits"
    rf"(?:: (?P<rows>{_IDS}))?(?: \(bonus: (?P<bonus>{_IDS})\))?"
)


def audit_summary(rows: Sequence[str], of_rows: int, bonus: Sequence[str], of_bonus: int) -> str:
    """The audit's verdict line: counts, then each credited weakness id ("3 of 11 rows and 1
    of 5 bonus flaws demonstrated by your exploits: cors-wildcard, ... (bonus: order-idor)")."""
    line = (f"{len(rows)} of {of_rows} rows and {len(bonus)} of {of_bonus} bonus flaws "
            "demonstrated by your exploits")  # fmt: skip
    if rows:
        line += ": " + ", ".join(rows)
    if bonus:
        line += f" (bonus: {', '.join(bonus)})"
    return line


def audit_points(summary: str, max_points: int) -> int | None:
    """Points of an audit verdict ("11 of 11 rows and 3 of 5 bonus flaws demonstrated..." ->
    14, at most ``max_points``); None for a summary that is no audit count."""
    match = _SCORE.match(summary or "")
    return min(max_points, int(match[1]) + int(match[2])) if match else None


def credited(summary: str) -> list[tuple[str, bool]]:
    """The findings an audit verdict credits, as ``(weakness id, bonus)``; [] for a summary
    that names none (an older verdict with counts only, or no audit count at all)."""
    match = _NAMED.match(summary or "")
    if match is None:
        return []
    rows = match["rows"].split(", ") if match["rows"] else []
    bonus = match["bonus"].split(", ") if match["bonus"] else []
    return [(r, False) for r in rows] + [(b, True) for b in bonus]
