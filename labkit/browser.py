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
import importlib.util
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
    "playwright_installed",
    "run_in_browser",
    "warm_up",
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
#: Seconds without browser work after which the shared Chromium is closed (and its memory
#: returned); the next browser cell starts it again in a second or two.
IDLE_STOP_S = float(os.environ.get("LABKIT_BROWSER_IDLE_S", "120"))
_NO_PLAYWRIGHT = (
    "Playwright is not installed: run `make lab` again (it installs it), or "
    "`.venv/bin/python -m pip install playwright`; then `labkit doctor` to check."
)
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
        raise BrowserUnavailable(_NO_PLAYWRIGHT) from exc
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
    context, so jobs share no cookies or storage. After :data:`IDLE_STOP_S` without a job the
    worker closes Chromium and ends (a kernel that once drove a browser should not hold its
    ~200 MB forever); the next job starts a fresh one. A job that overruns its timeout leaves
    the worker busy: it is then abandoned (a daemon thread) and the next job starts a fresh one.
    """

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[Callable[[Browser], object], Future[object]]]
        self.jobs = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False  # no job will be served any more: submit() refuses
        self._failure: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="labkit-browser", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            with chromium() as browser:
                while (job := self._next_job()) is not None:
                    fn, future = job
                    if not future.set_running_or_notify_cancel():
                        continue
                    try:
                        future.set_result(fn(browser))
                    except BaseException as exc:
                        future.set_exception(exc)
                        if not browser.is_connected():
                            self._close()  # the browser died: the next job starts a new one
                            return
        except BaseException as exc:  # Chromium or Playwright could not start
            self._close(exc)

    def _next_job(self) -> tuple[Callable[[Browser], object], Future[object]] | None:
        """The next job, or None once idle for IDLE_STOP_S (or stopped)."""
        while True:
            try:
                return self.jobs.get(timeout=IDLE_STOP_S)
            except queue.Empty:
                with self._lock:
                    if self.jobs.empty():  # no job slipped in while we decided
                        self._closed = True
                        return None
            if self._closed:
                return None

    def _close(self, failure: BaseException | None = None) -> None:
        """Refuse new jobs and fail the queued ones (with ``failure`` or a restart notice)."""
        with self._lock:
            self._closed, self._failure = True, failure
        while True:
            try:
                _fn, future = self.jobs.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(failure or BrowserUnavailable("the browser stopped"))

    def submit(self, fn: Callable[[Browser], T]) -> Future[T] | None:
        """Queue ``fn``; None when this worker serves no more jobs (start a new one)."""
        with self._lock:
            if self._failure is not None:
                failed: Future[T] = Future()
                failed.set_exception(self._failure)
                return failed
            if self._closed:
                return None
            future: Future[T] = Future()
            self.jobs.put((fn, future))  # type: ignore[arg-type]
            return future

    def stop(self) -> None:
        with self._lock:
            self._closed = True
        self.jobs.put(None)  # type: ignore[arg-type]  # wakes a waiting _next_job


def playwright_installed() -> bool:
    """True when Playwright's Python package can be imported (checked without importing)."""
    return importlib.util.find_spec("playwright") is not None


_worker: _BrowserWorker | None = None
_worker_lock = threading.Lock()


def _submit(fn: Callable[[Browser], T]) -> tuple[_BrowserWorker, Future[T]]:
    """Queue ``fn`` on the shared worker, starting one when there is none (or it closed)."""
    global _worker
    with _worker_lock:
        for _attempt in range(2):
            if _worker is None or not _worker.thread.is_alive():
                _worker = _BrowserWorker()
            future = _worker.submit(fn)
            if future is not None:
                return _worker, future
            _worker = None  # it went idle just now: start a fresh one
    raise BrowserUnavailable("the browser worker could not take the job")


def warm_up() -> bool:
    """Start the shared Chromium in the background (no wait), so a lab's first browser cell
    does not pay its start-up; False (and nothing started) when no browser can run."""
    if not playwright_installed() or find_chromium() is None:
        return False
    try:
        _submit(lambda browser: None)
    except BrowserUnavailable:
        return False
    return True


def run_in_browser(fn: Callable[[Browser], T], *, timeout: float = 60) -> T:
    """Run ``fn(browser)`` in the shared headless Chromium; return its result.

    Works from a Jupyter cell (where an asyncio loop is already running): the browser lives in
    a thread of its own. ``fn`` should open its own context (``browser.new_context()``) and
    close it. Re-raises ``fn``'s exception; raises :class:`BrowserUnavailable` at once when no
    browser can run, and ``TimeoutError`` after ``timeout`` seconds.
    """
    global _worker
    if not playwright_installed():
        raise BrowserUnavailable(_NO_PLAYWRIGHT)
    if find_chromium() is None:  # checked every call: a browser may be removed (or hidden)
        raise BrowserUnavailable()
    worker, future = _submit(fn)
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
