"""The kernel a submission runs in: a temp kernelspec (memory limit) and a scrubbed env."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from labkit.exercises.check import STRICT_ENV
from labkit.exercises.graded import GRADER_TOKEN_ENV, GRADER_URL_ENV

__all__ = ["KERNEL_NAME", "kernel_env", "write_kernelspec"]

KERNEL_NAME = "labkit-grader"
#: Passed through from the grader's environment when set; nothing else is.
PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


def write_kernelspec(jupyter_path: Path, memory_mb: int) -> None:
    """Write the ``labkit-grader`` kernelspec under ``jupyter_path/kernels``."""
    spec_dir = jupyter_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "labkit.grading.launcher", str(memory_mb),
            "-f", "{connection_file}"]  # fmt: skip
    spec = {"argv": argv, "display_name": "labkit grader", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")


def kernel_env(home: Path, grader_url: str, token: str) -> dict[str, str]:
    """Only what a kernel needs: no credentials or settings of the grader leak into it."""
    env = {key: os.environ[key] for key in PASS_THROUGH if key in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        HOME=str(home),
        TMPDIR=str(home / "tmp"),
        LABKIT_HOME=str(home / ".labkit"),
        MPLCONFIGDIR=str(home / ".matplotlib"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        PYTHONDONTWRITEBYTECODE="1",
        MALLOC_ARENA_MAX="2",
        **{STRICT_ENV: "1", GRADER_URL_ENV: grader_url, GRADER_TOKEN_ENV: token},
    )
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env
