"""One submission, in a process of its own: serve the target and the verifier, run the kernel.

The grader starts one worker per submission (forked from a server that imported labkit
before any submission ran). A worker that crashes, or is killed at its time limit, costs
that one submission its verdicts and nothing else. The result goes back over a pipe the
kernel never inherits, signed with a per-job key, and is trusted only if the worker exited
cleanly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.grading.execute import Limits, execute
from labkit.grading.kernel import kernel_env, write_kernelspec
from labkit.grading.verifier import Verdicts, verifier_app

__all__ = ["Job", "WorkerResult", "browser_available", "sign", "work"]


@dataclass(frozen=True)
class Job:
    """Everything a worker needs: the spliced notebook (JSON) and where to work."""

    lab: str
    notebook: str
    directory: str
    limits: Limits
    key: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class WorkerResult:
    """Recorded verdicts and how the run ended."""

    recorded: dict[str, tuple[bool, str]]
    completed: dict[str, str]
    stopped: str
    stopped_at: str
    browser: bool = True  # Chromium and Playwright were there for the browser checks

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WorkerResult:
        data = json.loads(text)
        recorded = {k: (bool(v[0]), str(v[1])) for k, v in data["recorded"].items()}
        return cls(recorded, dict(data["completed"]), data["stopped"], data["stopped_at"],
                   bool(data.get("browser", True)))  # fmt: skip


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def browser_available() -> bool:
    """Whether browser checks can run for real here (else they fall back to a simulation)."""
    from labkit.browser import find_chromium, playwright_installed

    return playwright_installed() and find_chromium() is not None


def _quiet(log_path: Path) -> None:
    """Kernel and library chatter go to a log file, not to the grader's terminal."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    logging.getLogger("traitlets").setLevel(logging.CRITICAL)


def work(job: Job, conn: Any) -> None:
    """Worker entry point (run in a child process): grade one spliced notebook."""
    import nbformat

    from labkit.exercises.registry import get_lab
    from labkit.sandbox.lab_server import LabServer
    from labkit.sandbox.server import Sandbox

    base = Path(job.directory)
    _quiet(base / "worker.log")
    for name in ("home", "work", "jupyter", "runtime"):
        (base / name).mkdir(parents=True, exist_ok=True)
    os.environ["JUPYTER_PATH"] = str(base / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
    write_kernelspec(base / "jupyter", job.limits.memory_mb)

    definition = get_lab(job.lab)
    target = LabServer(definition.create_app(secure=False), name=f"grade-{job.lab}").start()
    verdicts = Verdicts()
    token = secrets.token_urlsafe(32)
    verifier = Sandbox(verifier_app(definition, target, token, verdicts), name="verifier")
    verifier.start()
    try:
        notebook = nbformat.reads(job.notebook, as_version=4)
        env = kernel_env(base / "home", verifier.url, token)
        run = execute(notebook, verdicts, env=env, cwd=base / "work", limits=job.limits)
        recorded = {k: (v.passed, v.message) for k, v in verdicts.recorded.items()}
        result = WorkerResult(
            recorded, run.completed, run.stopped, run.stopped_at, browser_available()
        )
        text = result.to_json()
        conn.send((text, sign(job.key, text)))
    finally:
        verifier.stop()
        target.close()
        conn.close()
