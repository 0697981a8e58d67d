"""A check that takes more than two seconds says what it is doing while the learner waits.

Checks replay whole batteries (hundreds of requests, slow hashes, a real browser), and a cell
that sits silent for ten seconds looks hung. :func:`show_progress` wraps a check run: after
:data:`QUIET_S` it shows one line in the cell — the check, the seconds elapsed, the probes
done and the rule being probed — updates it twice a second, and removes it when the verdict
arrives. Outside a Jupyter kernel (tests, the grader's worker, a script) it does nothing.

The running check reports its steps through :func:`note_step` (``Findings`` calls it), so
the line follows the battery without any check knowing about the display.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["QUIET_S", "note_step", "show_progress"]

#: Seconds a check may run before it shows progress.
QUIET_S = 2.0
_TICK_S = 0.5


class _Run:
    def __init__(self, check_id: str) -> None:
        self.check_id = check_id
        self.started = time.monotonic()
        self.steps = 0
        self.current = ""

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        doing = f" — probing {self.current}" if self.current else ""
        return f"⏳ {self.check_id}: {elapsed:.0f} s, {self.steps} probes done{doing}"


_active: _Run | None = None


def note_step(rule: str | None = None) -> None:
    """Count one finished probe of the running check (and name the rule now probed)."""
    run = _active
    if run is None:
        return
    if rule is None:
        run.steps += 1
    else:
        run.current = rule


def _kernel_display() -> Any:
    """IPython's ``display`` when running in a Jupyter kernel, else None."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the course
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    return display


@contextlib.contextmanager
def show_progress(check_id: str) -> Iterator[None]:
    """Show a progress line in the running cell while the check inside runs > QUIET_S."""
    global _active
    display = _kernel_display()
    run, outer = _Run(check_id), _active
    _active = run
    if display is None:
        try:
            yield
        finally:
            _active = outer
        return
    done = threading.Event()
    shown: list[Any] = []

    def tick() -> None:
        if done.wait(QUIET_S):
            return
        shown.append(display({"text/plain": run.line()}, raw=True, display_id=True))
        while not done.wait(_TICK_S):
            shown[0].update({"text/plain": run.line()}, raw=True)

    ticker = threading.Thread(target=tick, name=f"labkit-progress-{check_id}", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join(timeout=1)
        _active = outer
        if shown:
            shown[0].update({"text/plain": ""}, raw=True)
