"""What one request's SQL may cost a learner's kernel: time, memory, rows and disk.

Labs 07 and 13 let the learner write SQL (that is the lesson), in the kernel's own process.
One ``UNION SELECT randomblob(300000000)`` peaked at 1.2 GB; a recursive CTE kept AnyIO worker
threads spinning long after the lab was closed. Every lab database
(:class:`~labkit.sandbox.store.LabStore`) has a :class:`SqliteGuard`, which fences each
connection :meth:`~labkit.sandbox.store.LabStore.connect` opens, whatever runs on it (the
lab's own queries, 03's session table, the learner's SQL):

* a progress handler stops a statement once the connection has worked
  :data:`WORK_BUDGET_S`, or at once when the lab closes (:meth:`~SqliteGuard.close`);
* ``SQLITE_LIMIT_LENGTH`` caps a string or blob at :data:`MAX_VALUE_BYTES` (the sandbox's body
  ceiling: 07's over-long name of a few MB is still stored, the lesson needs it);
* rows fetched through the connection's row factory stop at :data:`MAX_ROWS` and
  :data:`MAX_FETCHED_BYTES` of values;
* ``PRAGMA max_page_count`` keeps the database file under :data:`MAX_DATABASE_BYTES`
  (:func:`cap_size`).

A stopped statement raises :class:`SqlLimit` (an ``sqlite3.OperationalError``), whose message
says which limit it met: :meth:`Budget.raise_if_stopped` (called by ``LabStore.connect``) turns
SQLite's own ``interrupted`` / ``string or blob too big`` / ``database or disk is full`` into it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from labkit.sandbox.limits import BODY_CEILING_BYTES

__all__ = [
    "MAX_DATABASE_BYTES",
    "MAX_FETCHED_BYTES",
    "MAX_ROWS",
    "MAX_VALUE_BYTES",
    "WORK_BUDGET_S",
    "Budget",
    "SqlLimit",
    "SqliteGuard",
    "cap_size",
]

#: SQL work per connection (a lab request opens one): a few ms is the norm, argon2 checks of
#: 07's login included.
WORK_BUDGET_S = 5.0
#: The longest string or blob SQLite will make (``SQLITE_LIMIT_LENGTH``).
MAX_VALUE_BYTES = BODY_CEILING_BYTES
#: Rows fetched per connection; no lab page lists more than a few hundred.
MAX_ROWS = 10_000
#: Bytes of text and blob values fetched per connection.
MAX_FETCHED_BYTES = 32 * 1024 * 1024
#: The database file's ceiling (``PRAGMA max_page_count``).
MAX_DATABASE_BYTES = 64 * 1024 * 1024
#: VM instructions between two calls of the progress handler (well under a millisecond).
_PROGRESS_STEPS = 10_000
_MiB = 1024 * 1024


class SqlLimit(sqlite3.OperationalError):
    """A statement stopped by the lab's guard; the message says which limit it met."""


class Budget:
    """The limits of one connection: what it has spent, and why it was stopped (if it was)."""

    def __init__(self, guard: SqliteGuard, budget_s: float) -> None:
        self._guard = guard
        self._deadline = time.monotonic() + budget_s
        self._budget_s = budget_s
        self.rows = 0
        self.fetched = 0
        self.reason: str | None = None

    def progress(self) -> int:
        """SQLite's progress handler: nonzero stops the statement."""
        if self._guard.closed:
            self.reason = "the lab was closed while this query ran"
        elif time.monotonic() > self._deadline:
            self.reason = (
                f"the query ran past the lab's {self._budget_s:g} s budget for SQL work "
                "(a recursive CTE or a huge join?)"
            )
        return 1 if self.reason else 0

    def count(self, row: tuple[Any, ...]) -> None:
        """Count a fetched row against the row and byte caps."""
        self.rows += 1
        self.fetched += sum(len(v) for v in row if isinstance(v, str | bytes))
        if self.rows > self._guard.max_rows:
            self.reason = f"more than {self._guard.max_rows:,} rows fetched: the lab's row cap"
        elif self.fetched > self._guard.max_fetched_bytes:
            cap = self._guard.max_fetched_bytes // _MiB
            self.reason = f"more than {cap} MiB of values fetched: the lab's cap"
        if self.reason:
            raise SqlLimit(f"the lab stopped this query: {self.reason}")

    def raise_if_stopped(self, exc: BaseException) -> None:
        """Raise :class:`SqlLimit` with a clear message if ``exc`` came from a lab limit."""
        if isinstance(exc, SqlLimit):
            return
        message = str(exc)
        if self.reason:
            raise SqlLimit(f"the lab stopped this query: {self.reason}") from exc
        if "string or blob too big" in message:
            raise SqlLimit(
                "the lab stopped this query: a string or blob over "
                f"{self._guard.max_value_bytes // _MiB} MiB (SQLite's length limit here)"
            ) from exc
        if "database or disk is full" in message:
            raise SqlLimit(
                f"the lab database is full: it is capped at {self._guard.max_db_bytes // _MiB} "
                "MiB on disk"
            ) from exc


def cap_size(db: sqlite3.Connection, max_bytes: int = MAX_DATABASE_BYTES) -> None:
    """Keep ``db``'s file under ``max_bytes``: past it, writes fail with SQLITE_FULL.

    ``max_page_count`` lasts as long as the connection: set it on every connection.
    """
    page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
    db.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page_size)}")


class SqliteGuard:
    """The SQLite limits of one lab app; :meth:`close` stops its statements still running."""

    def __init__(
        self,
        *,
        budget_s: float | None = None,
        max_value_bytes: int = MAX_VALUE_BYTES,
        max_rows: int = MAX_ROWS,
        max_fetched_bytes: int = MAX_FETCHED_BYTES,
        max_db_bytes: int = MAX_DATABASE_BYTES,
    ) -> None:
        self.budget_s = WORK_BUDGET_S if budget_s is None else budget_s
        self.max_value_bytes = max_value_bytes
        self.max_rows = max_rows
        self.max_fetched_bytes = max_fetched_bytes
        self.max_db_bytes = max_db_bytes
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Stop every statement of this lab at its next progress step, and all later ones."""
        self._closed.set()

    def apply(self, db: sqlite3.Connection) -> Budget:
        """Fence ``db`` (call it after setting ``row_factory``, which it wraps)."""
        budget = Budget(self, self.budget_s)
        db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, self.max_value_bytes)
        cap_size(db, self.max_db_bytes)
        db.set_progress_handler(budget.progress, _PROGRESS_STEPS)
        inner = db.row_factory

        def counted(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Any:
            budget.count(row)
            return row if inner is None else inner(cursor, row)

        db.row_factory = counted
        return budget
