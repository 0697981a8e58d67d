"""Run one spliced notebook in a worker process of its own and bring back what it saw.

The same function runs on the grader's machine (``labkit grade``) and on each Dask worker
(``labkit grade --cluster``): a worker process per submission, forked from a server that
imported labkit before any submission ran, whose result is trusted only when it comes back
signed over a pipe the kernel never inherits and the process exited cleanly.
"""

from __future__ import annotations

import multiprocessing
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from labkit.grading.execute import Limits
from labkit.grading.worker import Job, WorkerResult, sign, work

__all__ = ["WORKER_MARGIN_S", "Outcome", "context", "run_job"]

#: Time a worker gets beyond the notebook limit: kernel start, target start, teardown.
WORKER_MARGIN_S = 90.0
CRASHED = "the grader's worker for this submission crashed"


@dataclass(frozen=True)
class Outcome:
    """A worker's signed result, or why there is none."""

    result: WorkerResult | None
    reason: str = ""


def context(labs: Iterable[str] = ()) -> multiprocessing.context.BaseContext:
    """Workers fork from a server that imported labkit and the modules of ``labs`` (only the
    labs being graded: a broken module of another lab must not stop them)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from labkit.exercises.registry import LABS

    ctx = multiprocessing.get_context("forkserver")
    modules = sorted({LABS[lab] for lab in labs if lab in LABS})
    ctx.set_forkserver_preload(["labkit.grading.worker", "nbclient", *modules])
    return ctx


def run_job(
    lab: str,
    notebook: str,
    limits: Limits,
    scratch: Path,
    ctx: multiprocessing.context.BaseContext | None = None,
) -> Outcome:
    """Grade one spliced ``notebook`` (JSON) of ``lab`` in a fresh worker under ``scratch``."""
    ctx = ctx or context([lab])
    directory = Path(tempfile.mkdtemp(prefix="job-", dir=scratch))
    key = secrets.token_bytes(32)
    job = Job(lab, notebook, str(directory), limits, key)
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=work, args=(job, send), daemon=True)  # type: ignore[attr-defined]
    hard_limit = limits.notebook_s + limits.startup_s + WORKER_MARGIN_S
    result: WorkerResult | None = None
    reason = CRASHED
    try:
        process.start()
        send.close()
        if receive.poll(hard_limit):
            try:
                text, signature = receive.recv()
                if secrets.compare_digest(signature, sign(key, text)):
                    result = WorkerResult.from_json(text)
            except (EOFError, OSError, ValueError, TypeError, KeyError):
                result = None
        else:
            reason = f"the submission ran over the grader's hard limit ({hard_limit:.0f} s)"
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join(10)
        if process.exitcode != 0:
            result = None  # a worker killed from inside may have been made to lie
    finally:
        receive.close()
        shutil.rmtree(directory, ignore_errors=True)
    return Outcome(result, "" if result else reason)
