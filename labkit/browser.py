"""Headless Chromium for labs that need a real browser (CORS, cookies, CSP).

Always uses an existing Chromium (``executable_path``); never downloads one.

    from labkit.browser import run_in_browser

    title = run_in_browser(lambda b: _title(b, url))

Playwright's sync API refuses to run inside a running asyncio loop (a Jupyter
kernel has one), so :func:`run_in_browser` always runs the work in a fresh thread.
"""

from __future__ import annotations

import atexit
import glob
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = [
    "CHROMIUM_ARGS",
    "BrowserUnavailable",
    "chromium",
    "find_chromium",
    "run_in_browser",
]

T = TypeVar("T")

# --no-sandbox: containers (Docker, Binder, CI) often run as root, where Chromium's
#   sandbox refuses to start.
# --disable-gpu / --disable-dev-shm-usage: no GPU, and /dev/shm is tiny in containers.
# The rest: the lab network is loopback-only, so background networking (QUIC probes,
#   component and sync updates, first-run fetches) would only fail slowly and noisily.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)

_SYSTEM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
_PLAYWRIGHT_GLOB = "~/.cache/ms-playwright/chromium-*/chrome-linux*/chrome"


class BrowserUnavailable(RuntimeError):
    """No usable Chromium (or Playwright) is installed."""

    def __init__(
        self,
        message: str = (
            "No Chromium executable found. Install one (Debian: `apt-get install chromium`) "
            "or set LABKIT_CHROMIUM to a Chromium/Chrome executable, "
            "then run `labkit doctor` to check."
        ),
    ) -> None:
        super().__init__(message)


def _is_executable(path: str | os.PathLike[str]) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _is_snap_stub(path: str) -> bool:
    """True for Ubuntu's ``chromium-browser`` wrapper that only launches the snap."""
    real = os.path.realpath(path)
    if real.startswith("/snap/"):
        return True
    try:
        if os.path.getsize(real) > 64 * 1024:  # a real browser binary, not a script
            return False
        with open(real, "rb") as fh:
            head = fh.read(64 * 1024)
    except OSError:
        return False
    return head.startswith(b"#!") and b"snap" in head


def find_chromium() -> str | None:
    """Path of a usable Chromium, or ``None``.

    Order: ``$LABKIT_CHROMIUM``, /usr/bin/chromium, /usr/bin/chromium-browser
    (skipping snap stubs), ``chromium`` / ``google-chrome`` on PATH, then a
    Playwright-managed Chromium (installed e.g. by Binder's postBuild).
    """
    env = os.environ.get("LABKIT_CHROMIUM")
    if env and _is_executable(env):
        return env
    candidates: list[str | None] = [
        *_SYSTEM_PATHS,
        shutil.which("chromium"),
        shutil.which("google-chrome"),
    ]
    for cand in candidates:
        if cand and _is_executable(cand) and not _is_snap_stub(cand):
            return cand
    for cand in sorted(glob.glob(os.path.expanduser(_PLAYWRIGHT_GLOB)), reverse=True):
        if _is_executable(cand):
            return str(Path(cand))
    return None


@contextmanager
def chromium(*, headless: bool = True) -> Iterator[Browser]:
    """Launch Chromium through Playwright's sync API; close everything on exit.

    Must not be used inside a running asyncio loop (use :func:`run_in_browser`).
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserUnavailable(
            "Playwright is not installed: pip install 'labkit[dev]', "
            "then run `labkit doctor` to check."
        ) from exc
    exe = find_chromium()
    if exe is None:
        raise BrowserUnavailable()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=exe, headless=headless, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


class _BrowserWorker:
    """One thread that owns Playwright and a running Chromium, serving jobs one at a time.

    Starting Chromium costs seconds; a check that drives the browser several times (or a
    notebook with several browser checks) reuses this one. Every job opens its own browser
    context, so jobs share no cookies or storage. A job that overruns its timeout leaves the
    worker busy: the worker is then abandoned (a daemon thread) and the next job starts a
    fresh one.
    """

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[Callable[[Browser], object], Future[object]] | None]
        self.jobs = queue.Queue()
        self.thread = threading.Thread(target=self._serve, name="labkit-browser", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            with chromium() as browser:
                while (job := self.jobs.get()) is not None:
                    fn, future = job
                    if not future.set_running_or_notify_cancel():
                        continue
                    try:
                        future.set_result(fn(browser))
                    except BaseException as exc:
                        future.set_exception(exc)
                        if not browser.is_connected():
                            return  # the browser died: let the next job start a new one
        except BaseException as exc:  # Chromium or Playwright could not start
            self._fail_pending(exc)

    def _fail_pending(self, exc: BaseException) -> None:
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None and job[1].set_running_or_notify_cancel():
                job[1].set_exception(exc)

    def submit(self, fn: Callable[[Browser], T]) -> Future[T]:
        future: Future[T] = Future()
        self.jobs.put((fn, future))  # type: ignore[arg-type]
        return future

    def stop(self) -> None:
        self.jobs.put(None)


_worker: _BrowserWorker | None = None
_worker_lock = threading.Lock()


def run_in_browser(fn: Callable[[Browser], T], *, timeout: float = 60) -> T:
    """Run ``fn(browser)`` in the shared headless Chromium; return its result.

    Works from a Jupyter cell (where an asyncio loop is already running): the browser lives in
    a thread of its own. ``fn`` should open its own context (``browser.new_context()``) and
    close it. Re-raises ``fn``'s exception; raises ``TimeoutError`` after ``timeout`` seconds.
    """
    global _worker
    if find_chromium() is None:  # checked every call: a browser may be removed (or hidden)
        raise BrowserUnavailable()
    with _worker_lock:
        if _worker is None or not _worker.thread.is_alive():
            _worker = _BrowserWorker()
        worker = _worker
    future = worker.submit(fn)
    try:
        return future.result(timeout)
    except FutureTimeout:
        with _worker_lock:
            if _worker is worker:
                _worker = None  # stuck on this job: the next call starts a fresh browser
        raise TimeoutError(f"browser work did not finish within {timeout:g} s") from None


@atexit.register
def close_shared_browser() -> None:
    """Close the Chromium that :func:`run_in_browser` keeps running (the next call reopens)."""
    global _worker
    with _worker_lock:
        worker, _worker = _worker, None
    if worker is not None:
        worker.stop()
        worker.thread.join(5)
