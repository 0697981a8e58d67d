"""End to end: JupyterLab in headless Chromium runs a notebook and shows check feedback.

Starts a private JupyterLab (free port, random token, fresh workspace and settings
dirs, ``windowingMode: none`` so off-screen outputs stay in the DOM), opens a copy of
the notebook, runs all cells, and checks the DOM contract of labkit's check widgets:
a ``.labkit-result`` box (``.labkit-passed``/``.labkit-failed``) holding a
``.labkit-hint-button`` that reveals ``.labkit-hint`` elements inside ``.labkit-hints``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest

from labkit.browser import chromium, find_chromium
from tests.labs import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
WELCOME = REPO / "notebooks" / "00-welcome.ipynb"
SCREENSHOT_COPY = Path("/tmp/labkit-welcome.png")

SERVER_START_TIMEOUT = 60  # s, until /api/status answers
KERNEL_IDLE_TIMEOUT = 60  # s, from page load until the notebook's kernel is idle
RESULT_TIMEOUT = 90  # s, from run-all until a check result is visible

# User-settings overrides (JUPYTERLAB_SETTINGS_DIR): render every cell (no virtual
# windowing), start the kernel without asking, no news or update checks (the network
# is loopback only).
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,  # no "Select Kernel" dialog
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

# Resolves once the current notebook's kernel is idle; returns its status for messages.
WAIT_KERNEL_IDLE_JS = """async (timeoutMs) => {
  const deadline = Date.now() + timeoutMs;
  let status = 'no notebook';
  while (Date.now() < deadline) {
    const w = window.jupyterapp.shell.currentWidget;
    const ctx = w && w.sessionContext;
    if (ctx) {
      const kernel = ctx.session && ctx.session.kernel;
      status = kernel ? kernel.status + '/' + kernel.connectionStatus : 'no kernel';
      if (ctx.isReady && kernel && kernel.status === 'idle'
          && kernel.connectionStatus === 'connected') {
        return 'idle';
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return status;
}"""


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"


def _write_settings(settings_dir: Path) -> None:
    for rel, value in SETTINGS.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


def _stop(proc: subprocess.Popen[bytes], lab: Lab) -> None:
    """Shut the server down cleanly (kernels too); kill whatever survives."""
    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.Error:
        family = []
    if proc.poll() is None:
        try:
            req = urllib.request.Request(
                f"{lab.url}api/shutdown?token={lab.token}", method="POST", data=b""
            )
            urllib.request.urlopen(req, timeout=5).close()
        except (OSError, urllib.error.URLError):
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for p in family:  # kernels started by this server, if any outlived it
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(family, timeout=5)


@pytest.fixture
def lab_factory(tmp_path: Path) -> Iterator:
    """Start a private JupyterLab serving a tmp root dir with the given notebook in it."""
    started: list[tuple[subprocess.Popen[bytes], Lab]] = []

    def start(notebook: Path) -> Lab:
        root = tmp_path / "root"
        root.mkdir()
        shutil.copy(notebook, root / notebook.name)
        settings_dir = tmp_path / "settings"
        _write_settings(settings_dir)
        (tmp_path / "notary").mkdir()  # notebook-signing key, kept out of ~/.local
        env = {k: v for k, v in os.environ.items() if k != "LABKIT_STRICT"}  # show feedback
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
            JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
            LABKIT_HOME=str(tmp_path / "labkit-home"),
            PYTHONUNBUFFERED="1",
        )
        for attempt in range(3):  # the free port may be taken before the server binds it
            port, token = free_port(), secrets.token_hex(16)
            log = tmp_path / f"jupyterlab-{attempt}.log"
            lab = Lab(f"http://127.0.0.1:{port}/", token, root, log)
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [
                        sys.executable, "-m", "jupyter", "lab",
                        "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                        "--ServerApp.port_retries=0",
                        f"--IdentityProvider.token={token}",
                        "--LabApp.expose_app_in_browser=True",
                        "--allow-root",
                        f"--ServerApp.root_dir={root}",
                        f"--LabApp.workspaces_dir={tmp_path / 'ws'}",
                        f"--LabApp.user_settings_dir={settings_dir}",
                        f"--NotebookNotary.data_dir={tmp_path / 'notary'}",
                    ],
                    cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )  # fmt: skip
            started.append((proc, lab))
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"{lab.url}api/status?token={token}", timeout=2):
                        return lab
                except (OSError, urllib.error.URLError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab not up in {SERVER_START_TIMEOUT}s:\n{lab.log_tail()}")
                time.sleep(0.25)
            if "already in use" not in lab.log_tail():
                break
        pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{lab.log_tail()}")

    try:
        yield start
    finally:
        for proc, lab in started:
            _stop(proc, lab)


def _lab_page(browser: Any) -> tuple[Any, list[str]]:
    """A JupyterLab-sized page and the list its uncaught page errors are appended to."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def _open_and_run_all(page: Any, lab: Lab, name: str, errors: list[str]) -> Callable[[str], str]:
    """Open notebook ``name``, wait for its kernel, start run-all (not awaited: a hung cell
    must not hang the test). Returns ``diagnose(what)``, a failure message with the cells'
    errors, the page's errors and the server log."""
    page.goto(f"{lab.url}lab/tree/{name}?token={lab.token}", timeout=60_000)
    page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell)")
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return !!(w && w.sessionContext && w.content && w.content.widgets"
        " && w.content.widgets.length); }",
        timeout=60_000,
    )
    status = page.evaluate(WAIT_KERNEL_IDLE_JS, KERNEL_IDLE_TIMEOUT * 1000)
    assert status == "idle", f"kernel not idle after {KERNEL_IDLE_TIMEOUT}s: {status}"
    page.evaluate(
        "() => { window.__labkitRunAll = 'running';"
        " window.jupyterapp.commands.execute('notebook:run-all-cells')"
        ".then(ok => { window.__labkitRunAll = String(ok); },"
        " err => { window.__labkitRunAll = 'error: ' + err; }); }"
    )

    def diagnose(what: str) -> str:
        errs = page.locator("[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = "\n".join(errs.all_inner_texts())[-3000:]
        run_all = page.evaluate("window.__labkitRunAll")
        return (
            f"{what} (run-all: {run_all})\ncell errors:\n{tracebacks or '(none)'}\n"
            f"page errors: {errors}\nserver log:\n{lab.log_tail(2000)}"
        )

    return diagnose


def _run_notebook_and_click_hint(lab: Lab, name: str, screenshot: Path) -> tuple[str, str]:
    """Open ``name`` in JupyterLab, run all cells, click the first Hint.

    Returns (result panel classes, hint text). Screenshot saved in every case.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with chromium() as browser:
        page, errors = _lab_page(browser)
        try:
            diagnose = _open_and_run_all(page, lab, name, errors)

            result = page.locator(".labkit-result:visible").first
            try:
                result.wait_for(state="visible", timeout=RESULT_TIMEOUT * 1000)
            except PlaywrightTimeout as exc:
                raise AssertionError(
                    diagnose(f"no visible .labkit-result after {RESULT_TIMEOUT}s")
                ) from exc
            try:  # click only once the kernel is done, so the click is handled at once
                page.wait_for_function(
                    "() => window.__labkitRunAll !== 'running'", timeout=RESULT_TIMEOUT * 1000
                )
            except PlaywrightTimeout as exc:
                raise AssertionError(diagnose(f"run-all not done after {RESULT_TIMEOUT}s")) from exc
            classes = result.get_attribute("class") or ""
            assert "labkit-passed" in classes or "labkit-failed" in classes, classes

            # Hint button and hints of that same panel.
            button = result.locator(".labkit-hint-button").first
            hints = result.locator(".labkit-hints .labkit-hint")
            shown = hints.count()
            button.scroll_into_view_if_needed()
            assert "Hint" in button.inner_text()
            button.click()
            new_hint = hints.nth(shown)
            try:
                new_hint.wait_for(state="visible", timeout=15_000)
            except PlaywrightTimeout as exc:
                raise AssertionError(diagnose("clicking Hint revealed no .labkit-hint")) from exc
            new_hint.scroll_into_view_if_needed()
            return classes, new_hint.inner_text().strip()
        finally:
            page.screenshot(path=str(screenshot), full_page=True)


def _skip_without_chromium() -> None:
    pytest.importorskip("playwright.sync_api", reason="no Playwright (make lab installs it)")
    if find_chromium() is None:
        pytest.skip("no Chromium found (install Debian's `chromium` or set LABKIT_CHROMIUM)")


def test_welcome_notebook_in_jupyterlab(lab_factory, tmp_path: Path) -> None:
    _skip_without_chromium()
    assert WELCOME.exists(), (
        f"{WELCOME.relative_to(REPO)} is missing: the welcome notebook must exist "
        "(build it from course/) for this end-to-end test"
    )
    lab = lab_factory(WELCOME)
    screenshot = tmp_path / "welcome.png"
    try:
        _classes, hint = _run_notebook_and_click_hint(lab, WELCOME.name, screenshot)
    finally:
        if screenshot.exists():
            shutil.copy(screenshot, SCREENSHOT_COPY)
    assert hint


SYNTHETIC_CELL = """\
import ipywidgets as w

hints = w.VBox().add_class("labkit-hints")
button = w.Button(description="Hint").add_class("labkit-hint-button")

def reveal(_):
    hints.children += (w.HTML("Look at the <code>Origin</code> header.").add_class("labkit-hint"),)

button.on_click(reveal)
panel = w.VBox([w.HTML("<b>Not yet</b>"), button, hints])
panel.add_class("labkit-result").add_class("labkit-failed")
panel
"""


def test_widget_contract_in_jupyterlab(lab_factory, tmp_path: Path) -> None:
    """The same harness on a synthetic notebook that builds the DOM contract directly."""
    _skip_without_chromium()
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Synthetic widget contract"),
            nbformat.v4.new_code_cell("print('warm-up')"),
            nbformat.v4.new_code_cell(SYNTHETIC_CELL),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    path = tmp_path / "contract.ipynb"
    nbformat.write(nb, path)
    lab = lab_factory(path)
    classes, hint = _run_notebook_and_click_hint(lab, path.name, tmp_path / "contract.png")
    assert "labkit-failed" in classes
    assert hint == "Look at the Origin header."


CHECKLIST_CELLS = (
    "import httpx\nimport labkit\nlab = labkit.open_lab('13-capstone')",
    "def plain_http(client):\n"
    "    return httpx.get(client.urls['http'] + '/api/status', trust_env=False)\n"
    "FINDINGS = [{'routes': ['GET /api/status'], 'weakness': 'no-https-redirect',"
    " 'exploit': plain_http}]",
    "labkit.audit_checklist(lab, FINDINGS)",
)


def test_capstone_checklist_in_jupyterlab(lab_factory, tmp_path: Path) -> None:
    """The findings table as a learner uses it: click "Replay my findings" (the audit runs
    the finding's exploit in the kernel), see ✅ on that finding's row."""
    _skip_without_chromium()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in CHECKLIST_CELLS],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    path = tmp_path / "checklist.ipynb"
    nbformat.write(nb, path)
    lab = lab_factory(path)
    with chromium() as browser:
        page, errors = _lab_page(browser)
        try:
            diagnose = _open_and_run_all(page, lab, path.name, errors)
            checklist = page.locator(".labkit-checklist").first
            try:
                checklist.wait_for(state="visible", timeout=RESULT_TIMEOUT * 1000)
                page.wait_for_function(
                    "() => window.__labkitRunAll !== 'running'", timeout=RESULT_TIMEOUT * 1000
                )
            except PlaywrightTimeout as exc:
                raise AssertionError(diagnose("no checklist after run-all")) from exc
            assert checklist.locator("select").count() == 0  # nothing to pick: no answer key
            checklist.locator(".labkit-audit-confirm").click()
            try:
                checklist.locator(".labkit-result").first.wait_for(
                    state="visible", timeout=RESULT_TIMEOUT * 1000
                )
            except PlaywrightTimeout as exc:
                raise AssertionError(diagnose("Confirm showed no result")) from exc
            text = checklist.inner_text()
            assert "✅" in text, diagnose(f"no ✅ in the checklist: {text[:600]}")
            assert "0 of 11 rows" in text
        finally:
            page.screenshot(path=str(tmp_path / "checklist.png"), full_page=True)


RUN_ALL_TIMEOUT = 300  # s, for a whole lab's Run All (12 drives Chromium in ~20 checks)


@pytest.mark.parametrize("lab_id", ["03-sessions", "12-headers"])
def test_run_all_of_a_browser_lab_in_jupyterlab(lab_factory, tmp_path: Path, lab_id: str) -> None:
    """A learner's Run All in JupyterLab of the two labs that drive a real browser from the
    kernel (solved build): no cell errors, every check panel passed, Chromium not simulated."""
    _skip_without_chromium()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from labkit.course.build import build_notebook

    notebook = tmp_path / f"{lab_id}.ipynb"
    nbformat.write(build_notebook(REPO / "course" / f"{lab_id}.py", solved=True), notebook)
    checks = sum('"check"' in json.dumps(c.get("metadata", {}).get("labkit", {}))
                 for c in nbformat.read(notebook, as_version=4).cells)  # fmt: skip
    lab = lab_factory(notebook)
    with chromium() as browser:
        page, errors = _lab_page(browser)
        try:
            diagnose = _open_and_run_all(page, lab, notebook.name, errors)
            try:
                page.wait_for_function(
                    "() => window.__labkitRunAll !== 'running'", timeout=RUN_ALL_TIMEOUT * 1000
                )
            except PlaywrightTimeout as exc:
                late = f"run-all not done after {RUN_ALL_TIMEOUT}s"
                raise AssertionError(diagnose(late)) from exc
            text = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
            tracebacks = page.locator(".jp-OutputArea-output[data-mime-type*='stderr']")
            passed = page.locator(".labkit-result.labkit-passed").count()
            failed = page.locator(".labkit-result.labkit-failed").count()
            assert page.evaluate("window.__labkitRunAll") == "true", diagnose("run-all failed")
            assert not page.locator(".jp-RenderedText[data-mime-type*='error']").count(), (
                diagnose("a cell raised")
            )
            assert (passed, failed) == (checks, 0), diagnose(f"{passed} passed, {failed} failed")
            assert "SIMULATION" not in text, diagnose("a check ran as a SIMULATION")
            assert "Chromium" in text, diagnose(f"no output names Chromium:\n{text[-3000:]}")
            assert tracebacks.count() == 0 or "Traceback" not in "".join(
                tracebacks.all_inner_texts()
            ), diagnose("a traceback on stderr")
        finally:
            page.screenshot(path=str(tmp_path / f"{lab_id}.png"), full_page=True)
