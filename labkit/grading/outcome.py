"""Statuses and gradebook rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

__all__ = ["COLUMNS", "Row", "Status"]

Status = Literal["passed", "failed", "not-evaluated", "error"]
COLUMNS = ("student", "lab", "check", "status", "points", "max_points", "message")


@dataclass(frozen=True)
class Row:
    """One gradebook line: a student's check of a lab (``check`` empty for an error row)."""

    student: str
    lab: str
    check: str
    status: Status
    points: int
    max_points: int
    message: str

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)
