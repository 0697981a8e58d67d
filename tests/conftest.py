"""Shared test setup: an isolated LABKIT_HOME, the CI guard, and real Redis / Chromium.

* ``LABKIT_HOME`` points at a fresh temp dir for the session (unless the user set it),
  so tests and the Jupyter kernels they start never touch ``~/.labkit``.
* Under ``CI=true`` a ``browser`` / ``redis`` test that skips fails instead
  (:mod:`tests.ci_guard`).
* ``redis_url`` starts a real ``redis-server`` on a free loopback port;
  ``chromium_path`` finds the system Chromium. Both skip when the tool is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ci_guard import pytest_collection_modifyitems as _ci_guard_markers
from tests.ci_guard import pytest_runtest_makereport  # noqa: F401  (hook, re-exported)

_OWN_HOME_KEY = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)  # before plugins that read LABKIT_HOME
def pytest_configure(config: pytest.Config) -> None:
    # xdist workers inherit the controller's LABKIT_HOME, so the whole run shares one
    # directory, created and removed by the process that set it.
    if not os.environ.get("LABKIT_HOME"):
        home = tempfile.mkdtemp(prefix="labkit-home-")
        os.environ["LABKIT_HOME"] = home
        config.stash[_OWN_HOME_KEY] = home


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_OWN_HOME_KEY, None)
    if home is not None:
        if os.environ.get("LABKIT_HOME") == home:
            del os.environ["LABKIT_HOME"]
        shutil.rmtree(home, ignore_errors=True)


#: Tests of a minute or more (see ``--durations``): run first, so that under pytest-xdist no
#: worker starts one of them while the others have already run out of work.
LONG_FIRST = (
    "tests/test_grading_labs.py::test_every_lab_solved_build_passes_and_release_fails",
    "tests/test_grading_labs.py",
    "tests/test_binder.py::test_binder_requirements_install_into_a_fresh_venv",
    "tests/test_notebooks.py::test_solved_build_passes_nbval",
    "tests/test_grading_cluster.py",
    "tests/test_grading_tamper.py",
    "tests/test_proxy_pages.py",
    "tests/test_jupyterlab_browser.py::test_run_all_of_a_browser_lab_in_jupyterlab",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _ci_guard_markers(items)
    def rank(item: pytest.Item) -> int:
        return next(
            (i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)),
            len(LONG_FIRST),
        )

    items.sort(key=rank)  # stable: the rest keeps its order


# --- Redis -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a Redis server at host:port answers PING (raw socket, no client lib)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _start_redis(exe: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    log = workdir / "redis.log"
    last_error = ""
    for _attempt in range(3):  # another process may grab the free port first
        port = _free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no"],
                cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            if redis_ping("127.0.0.1", port):
                return proc, port
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        last_error = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"redis-server did not start:\n{last_error}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:<port>/0`` of a fresh, private, non-persistent redis-server."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not found on PATH (Debian: apt-get install redis-server)")
    proc, port = _start_redis(exe, tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- Chromium ----------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of the system Chromium (never downloaded)."""
    from labkit.browser import find_chromium

    path = find_chromium()
    if path is None:
        pytest.skip("Chromium not found (Debian: apt-get install chromium)")
    return path


@pytest.fixture
def not_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks fail without raising (the labkit pytest plugin turns strict mode on)."""
    monkeypatch.setenv("LABKIT_STRICT", "0")
