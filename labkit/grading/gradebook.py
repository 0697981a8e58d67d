"""Write the gradebook CSV and the per-student summary beside it, atomically."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from labkit.grading.outcome import COLUMNS, Row

__all__ = ["summary_path", "write_atomic", "write_gradebook", "write_summary"]

SUMMARY_COLUMNS = ("student", "labs", "passed", "failed", "not_evaluated", "errors",
                   "points", "max_points", "percent")  # fmt: skip


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temp file in ``path``'s folder, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _csv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_gradebook(path: Path, rows: list[Row]) -> None:
    write_atomic(path, _csv(COLUMNS, ([getattr(r, c) for c in COLUMNS] for r in rows)))


def summary_path(gradebook: Path) -> Path:
    """``gradebook.csv`` -> ``gradebook-summary.csv``."""
    return gradebook.with_name(f"{gradebook.stem}-summary{gradebook.suffix or '.csv'}")


def summarize(rows: list[Row]) -> list[list[object]]:
    """One line per student: counts by status and total points."""
    table: dict[str, dict[str, object]] = {}
    for row in rows:
        line = table.setdefault(row.student, {"labs": set(), "passed": 0, "failed": 0,
                                              "not-evaluated": 0, "error": 0,
                                              "points": 0, "max_points": 0})  # fmt: skip
        line["labs"].add(row.lab)  # type: ignore[attr-defined]
        line[row.status] = int(line[row.status]) + 1  # type: ignore[call-overload]
        line["points"] = int(line["points"]) + row.points  # type: ignore[call-overload]
        line["max_points"] = int(line["max_points"]) + row.max_points  # type: ignore[call-overload]
    out = []
    for student, line in sorted(table.items()):
        points, most = int(line["points"]), int(line["max_points"])  # type: ignore[call-overload]
        percent = f"{100 * points / most:.1f}" if most else "0.0"
        out.append([student, len(line["labs"]), line["passed"], line["failed"],  # type: ignore[arg-type]
                    line["not-evaluated"], line["error"], points, most, percent])  # fmt: skip
    return out


def write_summary(path: Path, rows: list[Row]) -> None:
    write_atomic(path, _csv(SUMMARY_COLUMNS, summarize(rows)))
