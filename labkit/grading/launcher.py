"""Kernel launcher for grading: set the memory limit, tie the kernel to its grader, exec.

``python -m labkit.grading.launcher MEGABYTES -f CONNECTION_FILE`` sets ``RLIMIT_DATA`` (so
a memory bomb fails inside the kernel instead of exhausting the machine), asks Linux to kill
the kernel if the grader worker that started it dies (``PR_SET_PDEATHSIG``), then replaces
itself with ``ipykernel``. Both settings survive ``exec``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import resource
import signal
import sys

_PR_SET_PDEATHSIG = 1


def limit_memory(megabytes: int) -> None:
    """Cap what the kernel (and each process it starts) may *write to*: ``RLIMIT_DATA``
    counts heap and private writable mappings (Linux >= 4.7). Not ``RLIMIT_AS``: Chromium
    and V8 reserve many GB of address space they never touch, and could not start under
    it — the browser exploits of 03, 10 and 12 ran only as simulations while grading."""
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def die_with_parent() -> None:
    name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def main(argv: list[str]) -> None:
    megabytes, rest = int(argv[0]), argv[1:]
    die_with_parent()
    limit_memory(megabytes)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *rest])  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])
