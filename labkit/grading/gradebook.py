"""Write the gradebook CSV and the per-student summary beside it, atomically."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labkit.grading.outcome import COLUMNS, Row

__all__ = [
    "lab_totals",
    "merge",
    "read_gradebook",
    "summarize",
    "summary_path",
    "write_atomic",
    "write_gradebook",
    "write_summary",
]

SUMMARY_COLUMNS = ("student", "labs", "passed", "failed", "not_evaluated", "errors",
                   "points", "max_points", "percent", "flagged")  # fmt: skip
FLAG = "FLAGGED: "


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temp file in ``path``'s folder, then rename it over ``path``.

    The file gets the mode an ordinary ``open`` would give it (0644 under the usual umask),
    not the temp file's 0600: gradebooks are handed on to other people and tools."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
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


def read_gradebook(path: Path) -> list[Row]:
    """The rows of a gradebook written by :func:`write_gradebook`."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: not a labkit gradebook (columns {reader.fieldnames})")
        return [_row(r) for r in reader]


def _row(r: dict[str, str]) -> Row:
    status: Any = r["status"]
    points, most = int(r["points"]), int(r["max_points"])
    return Row(r["student"], r["lab"], r["check"], status, points, most, r["message"])


def summary_path(gradebook: Path) -> Path:
    """``gradebook.csv`` -> ``gradebook-summary.csv``."""
    return gradebook.with_name(f"{gradebook.stem}-summary{gradebook.suffix or '.csv'}")


def lab_totals(rows: Iterable[Row]) -> dict[str, int]:
    """Max points of each lab, from its rows (every student's rows of a lab add up to the
    same total; an error row carries the total itself)."""
    per: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        per[(row.student, row.lab)] += row.max_points
    totals: dict[str, int] = {}
    for (_, lab), most in per.items():
        totals[lab] = max(totals.get(lab, 0), most)
    return totals


def is_flagged(row: Row) -> bool:
    return FLAG in row.message


def summarize(rows: list[Row], labs: dict[str, int] | None = None) -> list[list[object]]:
    """One line per student: counts by status, points, and ``percent`` of the points of
    ``labs`` (lab -> max points; default every lab in ``rows``), handed in or not; only the
    rows of those labs count. ``flagged``: the labs with a flagged submission."""
    labs = lab_totals(rows) if labs is None else labs
    most = sum(labs.values())
    table: dict[str, dict[str, Any]] = {}
    for row in rows:
        line = table.setdefault(row.student, {"labs": set(), "passed": 0, "failed": 0,
                                              "not-evaluated": 0, "error": 0, "points": 0,
                                              "flagged": set()})  # fmt: skip
        if row.lab not in labs:
            continue
        line["labs"].add(row.lab)
        line[row.status] += 1
        line["points"] += row.points
        if is_flagged(row):
            line["flagged"].add(row.lab)
    out = []
    for student, line in sorted(table.items()):
        percent = f"{100 * line['points'] / most:.1f}" if most else "0.0"
        out.append([student, len(line["labs"]), line["passed"], line["failed"],
                    line["not-evaluated"], line["error"], line["points"], most, percent,
                    " ".join(sorted(line["flagged"]))])  # fmt: skip
    return out


def write_summary(path: Path, rows: list[Row], labs: dict[str, int] | None = None) -> None:
    write_atomic(path, _csv(SUMMARY_COLUMNS, summarize(rows, labs)))


def merge(old: Iterable[Row], new: Iterable[Row]) -> list[Row]:
    """``old`` with every student x lab that ``new`` has replaced by ``new``'s rows: a lab is
    never counted twice, whatever was regraded."""
    new = list(new)
    replaced = {(r.student, r.lab) for r in new}
    return [r for r in old if (r.student, r.lab) not in replaced] + new
