"""labkit.browser: find the system Chromium and drive it against a local server."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from labkit import browser
from labkit.browser import BrowserUnavailable, chromium, find_chromium, run_in_browser

pytestmark = pytest.mark.browser

PAGE = b"<!doctype html><html><head><title>labkit browser test</title></head><body>ok</body></html>"


@pytest.fixture
def exe() -> str:
    pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (make lab installs it)"
    )
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium found (install Debian's `chromium` or set LABKIT_CHROMIUM)")
    return path


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _title(url: str):
    def read(b) -> str:
        page = b.new_page()
        page.goto(url)
        return page.evaluate("document.title")

    return read


def test_find_chromium_is_system_chromium(exe: str) -> None:
    assert exe == "/usr/bin/chromium"


def test_run_in_browser_reads_title(exe: str, server_url: str) -> None:
    assert run_in_browser(_title(server_url)) == "labkit browser test"


def test_run_in_browser_inside_running_event_loop(exe: str, server_url: str) -> None:
    async def main() -> str:
        asyncio.get_running_loop()  # like a Jupyter kernel: a loop is running
        return run_in_browser(_title(server_url))

    assert asyncio.run(main()) == "labkit browser test"


def test_run_in_browser_reraises(exe: str) -> None:
    def boom(b) -> None:
        raise ValueError("from the worker")

    with pytest.raises(ValueError, match="from the worker"):
        run_in_browser(boom)


def test_missing_labkit_chromium_is_ignored(
    exe: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_CHROMIUM", str(tmp_path / "no-such-chrome"))
    assert find_chromium() == exe


def test_labkit_chromium_is_used(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LABKIT_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)


def _script(path, body: str):
    path.write_text(body)
    path.chmod(0o755)
    return path


def test_snap_stub_is_skipped(tmp_path) -> None:
    stub = _script(tmp_path / "chromium-browser", '#!/bin/sh\nexec /snap/bin/chromium "$@"\n')
    plain = _script(tmp_path / "chromium", '#!/bin/sh\nexec /usr/lib/chromium/chromium "$@"\n')
    assert browser._is_snap_stub(str(stub))
    assert not browser._is_snap_stub(str(plain))


def test_browser_unavailable_when_nothing_found(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every place in the find order is empty or a snap stub.
    stub = _script(tmp_path / "chromium-browser", "#!/bin/sh\nexec snap run chromium\n")
    monkeypatch.setenv("LABKIT_CHROMIUM", str(tmp_path / "missing"))
    monkeypatch.setattr(browser, "_SYSTEM_PATHS", (str(tmp_path / "missing2"), str(stub)))
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.setattr(browser, "_PLAYWRIGHT_GLOB", str(tmp_path / "pw/chromium-*/chrome"))
    assert find_chromium() is None
    with pytest.raises(BrowserUnavailable, match="labkit doctor"), chromium():
        pass
    browser.close_shared_browser()  # a browser started by an earlier test would still serve
    with pytest.raises(BrowserUnavailable, match="LABKIT_CHROMIUM"):
        run_in_browser(lambda b: None)


def test_browser_unavailable_when_find_returns_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    with pytest.raises(BrowserUnavailable), chromium():
        pass


@pytest.mark.browser
def test_run_in_browser_reuses_one_chromium(chromium_path: str) -> None:
    def set_and_read(b: object) -> tuple[int, str]:
        context = b.new_context()  # type: ignore[attr-defined]
        try:
            return id(b), str(context.new_page().evaluate("6 * 7"))
        finally:
            context.close()

    first_browser, _ = run_in_browser(set_and_read)
    second_browser, _ = run_in_browser(set_and_read)
    assert first_browser == second_browser  # one Chromium, started once

    with pytest.raises(TimeoutError):
        run_in_browser(lambda b: __import__("time").sleep(5), timeout=0.5)
    third_browser, _ = run_in_browser(set_and_read)  # a stuck job does not block the next
    assert third_browser != first_browser


# -- the shared worker: failures are fast, idle browsers stop ------------------------------
def test_a_browser_that_cannot_start_fails_every_call_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: the worker thread could die (Playwright missing) before the job was queued,
    leaving the call to wait for its whole timeout instead of raising BrowserUnavailable."""

    @contextlib.contextmanager
    def cannot_start(**kwargs: object) -> Iterator[object]:
        raise browser.BrowserUnavailable("Playwright is not installed")
        yield  # pragma: no cover

    monkeypatch.setattr(browser, "find_chromium", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(browser, "chromium", cannot_start)
    browser.close_shared_browser()
    for _ in range(20):
        started = time.monotonic()
        with pytest.raises(browser.BrowserUnavailable, match="Playwright is not installed"):
            browser.run_in_browser(lambda b: None, timeout=4)
        assert time.monotonic() - started < 1.0


def test_without_playwright_the_browser_is_unavailable_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(browser, "find_chromium", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(browser, "playwright_installed", lambda: False)
    browser.close_shared_browser()
    started = time.monotonic()
    with pytest.raises(browser.BrowserUnavailable, match="Playwright"):
        browser.run_in_browser(lambda b: None, timeout=30)
    assert time.monotonic() - started < 1.0


@pytest.mark.browser
def test_an_idle_browser_stops_and_the_next_call_starts_one(
    chromium_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browser, "IDLE_STOP_S", 0.5)
    browser.close_shared_browser()
    first = browser.run_in_browser(lambda b: b.version)
    worker = browser._worker
    assert worker is not None
    worker.thread.join(10)
    assert not worker.thread.is_alive(), "the idle browser did not stop"
    assert browser.run_in_browser(lambda b: b.version) == first
    browser.close_shared_browser()


# -- warming up: a browser lab starts Chromium while the learner reads ---------------------
def test_warm_up_starts_the_shared_chromium_that_the_next_job_uses(exe: str) -> None:
    browser.close_shared_browser()
    assert browser.warm_up() is True
    worker = browser._worker
    assert worker is not None and worker.thread.is_alive()
    assert run_in_browser(lambda b: b.is_connected()) is True
    assert browser._worker is worker  # the job ran in the Chromium warm_up started


def test_warm_up_without_a_browser_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    browser.close_shared_browser()
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    assert browser.warm_up() is False
    assert browser._worker is None


def test_only_a_browser_lab_warms_the_browser_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from labkit.exercises import lab as lab_module

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    calls: list[str] = []
    monkeypatch.setattr(browser, "warm_up", lambda: calls.append("warm") or True)
    for lab_id in ("00-welcome", "12-headers"):
        lab_module.open_lab(lab_id).close()
    assert calls == ["warm"]
