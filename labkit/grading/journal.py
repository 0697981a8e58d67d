"""The journal of a grading run: each submission's rows, appended as soon as it is graded.

``gradebook.csv`` is written once at the end; the journal beside it
(``gradebook.csv.journal``, one JSON object per line) keeps what an interrupted run graded,
and ``labkit grade --resume`` starts from it. A finished run removes it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from labkit.grading.outcome import COLUMNS, Row

__all__ = ["Journal", "journal_path"]


def journal_path(gradebook: Path) -> Path:
    return gradebook.with_name(gradebook.name + ".journal")


class Journal:
    """Append-only JSON lines, one per graded submission, flushed to disk each time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> list[Row]:
        """Every row journaled so far (a line cut short by a crash is skipped)."""
        rows: list[Row] = []
        if not self.path.exists():
            return rows
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rows += [Row(*(r[c] for c in COLUMNS)) for r in json.loads(line)["rows"]]
            except (ValueError, KeyError, TypeError):
                continue
        return rows

    def append(self, rows: Iterable[Row]) -> None:
        line = json.dumps({"rows": [r.as_dict() for r in rows]}, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
