"""Headless Chromium for labs that need a real browser (CORS, cookies, CSP).

Always uses an existing Chromium (``executable_path``); never downloads one.

    from labkit.browser import run_in_browser

    title = run_in_browser(lambda b: _title(b, url))

Playwright's sync API refuses to run inside a running asyncio loop (a Jupyter
kernel has one), so :func:`run_in_browser` always runs the work in a fresh thread.
"""

from __future__ import annotations

import glob
import os
import shutil
import threading
from collections.abc import Callable, Iterator
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


def run_in_browser(fn: Callable[[Browser], T], *, timeout: float = 60) -> T:
    """Run ``fn(browser)`` inside :func:`chromium` in a fresh thread; return its result.

    Works from a Jupyter cell (where an asyncio loop is already running).
    Re-raises ``fn``'s exception; raises ``TimeoutError`` after ``timeout`` seconds.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            with chromium() as browser:
                result.append(fn(browser))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=work, name="labkit-browser", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"browser work did not finish within {timeout:g} s")
    if error:
        raise error[0]
    return result[0]
