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

from labkit.course.cells import CHECK, cell_role
from labkit.grading.kernel import KERNEL_NAME
from labkit.grading.verifier import Verdicts

__all__ = ["Limits", "Run", "execute"]


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


def _error_text(cell: Any) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            text = f"{output.get('ename', 'Error')}: {value[0] if value else ''}".strip()
            return text if len(text) <= 300 else text[:297] + "..."
    return ""


def _where(role: tuple[str, str] | None, index: int) -> str:
    return f"{role[0]} cell {role[1]}" if role else f"cell {index}"


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
                        f"{_where(role, index)} ran over its time limit ({client.timeout} s)"
                    )
                    run.stopped_at = _pending(notebook, index)
                    return run
                except DeadKernelError:
                    run.stopped = f"the kernel died in {_where(role, index)}"
                    run.stopped_at = _pending(notebook, index)
                    return run
                finally:
                    verdicts.expect(None)
                error = _error_text(cell)
                if error.startswith("MemoryError"):
                    run.stopped = (
                        f"{_where(role, index)} hit the memory limit ({limits.memory_mb} MB)"
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
