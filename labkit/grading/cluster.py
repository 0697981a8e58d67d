"""``labkit grade --cluster ADDRESS``: grade on a Dask distributed cluster.

The grader reads, splices and scores here; each submission's spliced notebook goes to a Dask
worker as one task, and that task runs exactly what a local run does: a fresh Python process
(``python -m labkit.grading.remote``) that grades it in a worker process of its own (target,
verifier, kernel, limits), and hands back the verdicts signed with a key made for that task.
A Dask worker needs labkit installed (the same version) and nothing else: no course sources.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.grading.execute import Limits
from labkit.grading.local import WORKER_MARGIN_S, Outcome
from labkit.grading.worker import WorkerResult, sign

if TYPE_CHECKING:
    from labkit.grading.grade import Prepared, Runner

__all__ = ["ClusterUnavailable", "grade_remote", "local_cluster", "run_on_cluster"]

CONNECT_TIMEOUT_S = 30


class ClusterUnavailable(RuntimeError):
    """Dask is not installed, or the scheduler cannot be reached."""


def grade_remote(lab: str, notebook: str, limits: dict[str, Any]) -> tuple[str, str, float]:
    """The Dask task: grade one spliced notebook in a fresh process on this machine.

    Returns (the worker's result as JSON or "", why there is none, seconds)."""
    started = time.monotonic()
    key = secrets.token_hex(32)
    payload = json.dumps({"lab": lab, "notebook": notebook, "limits": limits, "key": key})
    hard = float(limits["notebook_s"]) + float(limits["startup_s"]) + 2 * WORKER_MARGIN_S
    try:
        done = subprocess.run(
            [sys.executable, "-m", "labkit.grading.remote"],
            input=payload, capture_output=True, text=True, timeout=hard, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "", f"the Dask task ran over the grader's hard limit ({hard:.0f} s)", 0.0
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
        text, signature = str(answer["result"]), str(answer["signature"])
    except (ValueError, KeyError, TypeError):
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return "", f"the grading process on the Dask worker failed ({tail[0][:200]})", 0.0
    if not secrets.compare_digest(signature, sign(key.encode(), text)):
        return "", "the grading process on the Dask worker sent an unsigned result", 0.0
    return text, str(answer.get("reason", "")), time.monotonic() - started


def run_on_cluster(address: str) -> Runner:
    """A runner that sends every submission to the Dask scheduler at ``address``."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ClusterUnavailable(
            "labkit grade --cluster needs Dask: pip install 'labkit[grading]' (distributed)"
        ) from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from None

    def runner(
        prepared: list[Prepared], limits: Limits
    ) -> Iterator[tuple[Prepared, Outcome, float]]:
        try:
            futures = {}
            for prep in prepared:
                future = client.submit(
                    grade_remote, prep.submission.lab, prep.notebook, dataclasses.asdict(limits),
                    pure=False, retries=0,
                )  # fmt: skip
                futures[future] = prep
            for future in as_completed(futures, loop=client.loop):
                prep = futures[future]
                try:
                    text, reason, seconds = future.result()
                except Exception as exc:  # the task or its worker failed: that one is lost
                    yield prep, Outcome(None, f"the Dask task failed ({exc!r:.200})"), 0.0
                    continue
                result = WorkerResult.from_json(text) if text else None
                yield prep, Outcome(result, reason), seconds
        finally:
            client.close()

    return runner


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


@contextlib.contextmanager
def local_cluster(workers: int = 2, logs: Path | None = None) -> Iterator[str]:
    """A real ``dask scheduler`` and ``workers`` x ``dask worker`` (one thread each) on
    loopback, for tests and ``make bench``; yields the scheduler's address."""
    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--no-dashboard"]]  # fmt: skip
    commands += [[dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host",
                  "127.0.0.1", "--name", f"labkit-{i}"] for i in range(workers)]  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as files:
        try:
            for i, command in enumerate(commands):
                log = files.enter_context(open(logs / f"dask-{i}.log", "wb")) if logs else None
                processes.append(
                    subprocess.Popen(  # noqa: S603 - the dask command of this interpreter
                        command, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )  # fmt: skip
            with Client(address, timeout=60, set_as_default=False) as client:
                client.wait_for_workers(workers, timeout=120)
            yield address
        finally:
            for process in reversed(processes):
                _stop(process)
