"""Execute a spliced notebook cell by cell, telling the verifier which check cell is running.

Errors in cells never stop the run (a failed check raises ``CheckFailed`` in strict mode,
and the next checks must still be graded). What stops it: a cell over its time limit, the
notebook over its own, a dead kernel, or a ``MemoryError`` (the memory limit was hit; the
kernel can no longer be trusted to run the rest). Then the current check and every later
one are ``not-evaluated``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from labkit.course.cells import CHECK, METADATA_KEY, cell_role
from labkit.grading.kernel import KERNEL_NAME
from labkit.grading.splice import OWN
from labkit.grading.verifier import Verdicts

__all__ = ["CHECK_FAILED", "Limits", "Run", "execute", "notebook_message"]


@dataclass(frozen=True)
class Limits:
    """Time and memory limits for one submission."""

    cell_s: float = 120.0
    notebook_s: float = 600.0
    memory_mb: int = 2048
    startup_s: float = 120.0


@dataclass
class Run:
    """What happened: the check cells that completed, and why the run stopped (if it did)."""

    completed: dict[str, str] = field(default_factory=dict)  # check id -> error text or ""
    stopped: str = ""  # why the rest was not evaluated
    stopped_at: str = ""  # the check id whose cell (or whose answer) was running


class _ErrorsOnly(NotebookClient):  # type: ignore[misc]
    """Keeps only error outputs: the grade never reads outputs, and a submission printing
    gigabytes must not fill the grader's memory."""

    def output(self, outs: Any, msg: Any, display_id: Any, cell_index: int) -> Any:
        if msg["msg_type"] != "error":
            return None
        return super().output(outs, msg, display_id, cell_index)

    def handle_comm_msg(self, outs: Any, msg: Any, cell_index: int) -> None:
        return None


#: What a check cell's error text starts with when ``lab.check`` itself failed in the kernel
#: (strict mode): the rest is the feedback the notebook shows.
CHECK_FAILED = "CheckFailed: "
MAX_ERROR_CHARS = 2000


def _cap(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def notebook_message(evalue: str) -> str:
    """A failed check as one line, from what its cell shows (``CheckResult``'s text):
    ``[lab/check] FAILED — summary`` then ``  - detail`` lines -> ``summary; detail; ...``."""
    lines = [line.strip() for line in evalue.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    head, _, summary = lines[0].partition(" — ")
    parts = [summary if summary and head.startswith("[") else lines[0]]
    parts += [line.removeprefix("- ") for line in lines[1:]]
    return "; ".join(parts)


def _error_text(cell: Any) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            name, value = output.get("ename", "Error"), str(output.get("evalue", ""))
            if name == "CheckFailed":
                return _cap(CHECK_FAILED + notebook_message(value), MAX_ERROR_CHARS)
            first = value.strip().splitlines()
            return _cap(f"{name}: {first[0] if first else ''}".strip(), 300)
    return ""


def _where(cell: Any, index: int) -> str:
    role = cell_role(cell)
    if role:
        return f"{role[0]} cell {role[1]}"
    own = cell.get("metadata", {}).get(METADATA_KEY, {}).get(OWN)
    return f"your own code cell (cell {own} of your notebook)" if own else f"cell {index}"


def execute(
    notebook: Any,
    verdicts: Verdicts,
    *,
    env: dict[str, str],
    cwd: Path,
    limits: Limits,
) -> Run:
    """Run ``notebook`` in a fresh kernel; the verdicts themselves land in ``verdicts``."""
    run = Run()
    client = _ErrorsOnly(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=int(limits.cell_s),
        startup_timeout=int(limits.startup_s),
        allow_errors=True,
        record_timing=False,
        shutdown_kernel="immediate",
    )
    deadline = time.monotonic() + limits.notebook_s
    try:
        with client.setup_kernel(env=env, cwd=str(cwd)):
            for index, cell in enumerate(notebook.cells):
                role = cell_role(cell)
                if cell.cell_type != "code":
                    continue
                remaining = deadline - time.monotonic()
                if remaining < 1:
                    run.stopped = f"the notebook time limit ({limits.notebook_s:.0f} s) was reached"
                    run.stopped_at = _pending(notebook, index)
                    return run
                client.timeout = max(1, int(min(limits.cell_s, remaining)))
                is_check = bool(role and role[0] == CHECK)
                verdicts.expect(role[1] if role and is_check else None)
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    run.stopped = (
                        f"{_where(cell, index)} ran over its time limit ({client.timeout} s)"
                    )
                    run.stopped_at = _pending(notebook, index)
                    return run
                except DeadKernelError:
                    run.stopped = f"the kernel died in {_where(cell, index)}"
                    run.stopped_at = _pending(notebook, index)
                    return run
                finally:
                    verdicts.expect(None)
                error = _error_text(cell)
                if error.startswith("MemoryError"):
                    run.stopped = (
                        f"{_where(cell, index)} hit the memory limit ({limits.memory_mb} MB)"
                    )
                    run.stopped_at = _pending(notebook, index)
                    return run
                if is_check and role:
                    run.completed[role[1]] = error
    except DeadKernelError:
        run.stopped = run.stopped or "the kernel died"
    except RuntimeError as exc:  # kernel failed to start
        run.stopped = run.stopped or f"the kernel could not start ({exc})"
    return run


def _pending(notebook: Any, index: int) -> str:
    """The first check at or after cell ``index`` (its cell, or its answer, was running)."""
    for cell in notebook.cells[index:]:
        role = cell_role(cell)
        if role and role[0] == CHECK:
            return role[1]
    return ""
