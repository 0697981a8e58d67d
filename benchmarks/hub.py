"""Memory of one learner on a real local JupyterHub (issue #11, item 6).

Section 10 of ``make bench`` (``benchmarks/run.py``; alone: ``--only hub``).

A JupyterHub (``DummyAuthenticator``, ``SimpleLocalProcessSpawner``: no system users) and
its configurable-http-proxy listen on free ports of 127.0.0.1; the hub database, cookie
secret and user homes live in a temporary folder. The single-user server is this
interpreter's ``jupyterhub-singleuser`` (so labkit is importable in its kernels), with
``LABKIT_HOME`` in the temporary folder and ``LABKIT_BROWSER_IDLE_S`` set to
:data:`BROWSER_IDLE_S` so the idle stop of the shared Chromium can be seen in a short run.

One learner is driven through the proxy as a browser would be, with a hub API token of
their own: the hub starts their server, then for each solved notebook a kernel is started
with ``POST /user/NAME/api/kernels`` and the notebook's code cells are sent over the
kernel's websocket (``execute_request``, waiting for each ``execute_reply``). Memory is the
proportional set size (``Pss`` of ``/proc/PID/smaps_rollup``) summed over the single-user
server's process tree, split into the server, its kernels (and their other children) and
the browser (Playwright's driver and Chromium's processes).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "BROWSER_IDLE_S",
    "HUB_LABS",
    "TARGET_MB",
    "HubResult",
    "MemoryRow",
    "bench_hub",
    "hub_missing",
]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: The goal of issue #11: a learner's server, kernel and browser in at most 300 MB
#: (200 learners on a 64 GB node).
TARGET_MB = 300.0
#: ``LABKIT_BROWSER_IDLE_S`` in the single-user server's environment (labkit's default: 120).
BROWSER_IDLE_S = 10
#: Solved notebooks run one after the other, each in a fresh kernel (all of them).
HUB_LABS: tuple[str, ...] = (
    "00-welcome", "01-passwords", "02-jwt", "03-sessions", "04-oauth", "05-api-keys",
    "06-authorization", "07-injection", "08-secrets", "09-encryption", "10-cors",
    "11-rate-limiting", "12-headers", "13-capstone",
)  # fmt: skip
#: Two notebooks open at once, as a learner often has (the issue measured 01 + 12: 440 MB).
PAIR = ("01-passwords", "12-headers")
USER = "learner"
CELL_TIMEOUT_S = 600.0
INSTALL = (
    "`.venv/bin/python -m pip install -e '.[dev,bench]'` (JupyterHub; `make bench` does it) and "
    "`npm install -g configurable-http-proxy` (the proxy; needs Node.js)"
)


@dataclass(frozen=True)
class MemoryRow:
    """PSS in MB (10^6 bytes) of the learner's process tree in one state."""

    state: str
    server_mb: float
    kernel_mb: float
    browser_mb: float
    kernels: int
    browser_processes: int
    note: str = ""

    @property
    def total_mb(self) -> float:
        return self.server_mb + self.kernel_mb + self.browser_mb


@dataclass
class HubResult:
    """What the hub section reports: the rows, or why nothing was measured."""

    rows: list[MemoryRow]
    missing: str | None = None
    errors: list[str] = field(default_factory=list)
    versions: str = ""
    spawn_s: float = 0.0


# -- prerequisites --------------------------------------------------------------------------
def hub_missing() -> str | None:
    """What is missing to run a local JupyterHub here (None: nothing)."""
    missing = []
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        missing.append("JupyterHub (`jupyterhub` is not importable)")
    if not (BIN / "jupyterhub-singleuser").exists():
        missing.append(f"`jupyterhub-singleuser` in {BIN}")
    if shutil.which("configurable-http-proxy") is None:
        missing.append("configurable-http-proxy (not on PATH)")
    try:
        import psutil  # noqa: F401
        import websocket  # noqa: F401
    except ImportError as exc:
        missing.append(f"the Python package `{exc.name}`")
    if missing:
        return f"{'; '.join(missing)}. Install: {INSTALL}"
    return None


# -- memory ---------------------------------------------------------------------------------
def pss_mb(pid: int) -> float:
    """Proportional set size of ``pid`` in MB (10^6 bytes); 0 if it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def _is_browser(proc: Any) -> bool:
    try:
        text = " ".join(proc.cmdline()).lower() or proc.name().lower()
    except Exception:  # psutil.NoSuchProcess, AccessDenied
        return False
    return "chrom" in text or "playwright" in text


def _is_kernel(proc: Any) -> bool:
    try:
        return "ipykernel" in " ".join(proc.cmdline())
    except Exception:
        return False


def measure(server_pid: int, state: str, note: str = "", labkit_home: str = "") -> MemoryRow:
    """Sum PSS over the server's process tree: server (and non-kernel children), kernels
    (and their non-browser children), browser (Playwright driver, Chromium). Processes that
    left the tree (a daemonised helper, re-parented to init) are found by the
    ``LABKIT_HOME`` they inherited."""
    import psutil

    server = psutil.Process(server_pid)
    tree = server.children(recursive=True)
    if labkit_home:
        known = {server_pid} | {proc.pid for proc in tree}
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.pid not in known and proc.environ().get("LABKIT_HOME") == labkit_home:
                    tree.append(proc)
    server_mb, kernel_mb, browser_mb = pss_mb(server_pid), 0.0, 0.0
    kernels = browsers = 0
    for child in tree:
        size = pss_mb(child.pid)
        if _is_browser(child):
            browser_mb += size
            browsers += 1
        elif _is_kernel(child) or any(_is_kernel(p) for p in _parents(child, server_pid)):
            kernel_mb += size
            kernels += _is_kernel(child)
        else:
            server_mb += size
    return MemoryRow(state, server_mb, kernel_mb, browser_mb, kernels, browsers, note)


def _parents(proc: Any, stop: int) -> Iterator[Any]:
    with contextlib.suppress(Exception):
        for parent in proc.parents():
            if parent.pid == stop:
                return
            yield parent


# -- the hub --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CONFIG = """\
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {state!r} + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + {state!r} + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = {state!r} + "/jupyterhub_cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = {{{user!r}}}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {state!r} + "/homes/{{username}}"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = {args!r}
c.Spawner.environment = {environment!r}
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120
c.JupyterHub.services = [{{"name": "bench", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [
    {{"name": "bench", "services": ["bench"],
      "scopes": ["admin:users", "admin:servers", "tokens", "admin:server_state"]}},
]
"""


@dataclass
class Hub:
    """A running local JupyterHub: its URL, the bench service's token, its process."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    state: Path

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"}
        return httpx.request(
            method, f"{self.url}hub/api/{path}", headers=headers, timeout=60, **kwargs
        )


@contextlib.contextmanager
def running_hub(state: Path) -> Iterator[Hub]:
    """Start JupyterHub (and, through it, its proxy) in ``state``; stop everything after."""
    port = free_port()
    token, password = uuid.uuid4().hex, uuid.uuid4().hex
    environment = {
        "LABKIT_HOME": str(state / "labkit-home"),
        "LABKIT_BROWSER_IDLE_S": str(BROWSER_IDLE_S),
    }
    config = CONFIG.format(
        port=port,
        hub_port=free_port(),
        proxy_api_port=free_port(),
        state=str(state),
        password=password,
        user=USER,
        singleuser=str(BIN / "jupyterhub-singleuser"),
        args=["--allow-root"] if os.geteuid() == 0 else [],
        environment=environment,
        token=token,
    )
    (state / "homes").mkdir(parents=True)
    (state / "jupyterhub_config.py").write_text(config, encoding="utf-8")
    log = (state / "hub.log").open("wb")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen(
        [str(BIN / "jupyterhub"), "-f", str(state / "jupyterhub_config.py")],
        cwd=state, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    hub = Hub(f"http://127.0.0.1:{port}/", token, process, state)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyterhub exited: {_tail(state / 'hub.log')}")
            with contextlib.suppress(httpx.HTTPError):
                if hub.api("GET", "").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyterhub did not answer in 60 s: {_tail(state / 'hub.log')}")
            time.sleep(0.5)
        yield hub
    finally:
        _stop_hub(hub)
        log.close()


def _tail(path: Path, chars: int = 1500) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _stop_hub(hub: Hub) -> None:
    import psutil

    with contextlib.suppress(httpx.HTTPError):
        hub.api("DELETE", f"users/{USER}/server")
    try:
        family = psutil.Process(hub.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    hub.process.send_signal(signal.SIGTERM)  # the hub stops the servers and the proxy
    try:
        hub.process.wait(30)
    except subprocess.TimeoutExpired:
        hub.process.kill()
        hub.process.wait()
    for proc in family:  # anything the hub left behind (only processes this bench started)
        with contextlib.suppress(psutil.Error):
            proc.kill()


def start_server(hub: Hub) -> tuple[int, float, str]:
    """Create the learner, start their server; (server pid, seconds to ready, user token)."""
    created = hub.api("POST", f"users/{USER}")  # 409: allowed_users created them already
    if created.status_code != 409:
        created.raise_for_status()
    start = time.perf_counter()
    hub.api("POST", f"users/{USER}/server").raise_for_status()
    deadline = time.monotonic() + 180
    while True:
        model = hub.api("GET", f"users/{USER}").json()
        server = model.get("servers", {}).get("", {})
        if server.get("ready"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start: {_tail(hub.state / 'hub.log')}")
        time.sleep(0.5)
    elapsed = time.perf_counter() - start
    pid = int(server.get("state", {}).get("pid") or 0)
    if not pid:
        raise RuntimeError(f"no pid in the server model: {server}")
    response = hub.api("POST", f"users/{USER}/tokens", json={"note": "labkit bench"})
    response.raise_for_status()
    return pid, elapsed, response.json()["token"]


# -- the learner ----------------------------------------------------------------------------
@dataclass
class Learner:
    """The learner's side: their server's URL through the proxy and their token."""

    base: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start_kernel(self) -> str:
        response = httpx.post(
            f"{self.base}api/kernels", json={"name": "python3"}, headers=self.headers, timeout=60
        )
        response.raise_for_status()
        return response.json()["id"]

    def shutdown_kernel(self, kernel_id: str) -> None:
        httpx.delete(f"{self.base}api/kernels/{kernel_id}", headers=self.headers, timeout=60)

    def run_notebook(self, kernel_id: str, notebook: Path) -> str | None:
        """Run the notebook's code cells in the kernel; the first error, or None."""
        import nbformat
        import websocket

        nb = nbformat.read(notebook, as_version=4)
        url = self.base.replace("http://", "ws://", 1) + f"api/kernels/{kernel_id}/channels"
        session = uuid.uuid4().hex
        ws = websocket.create_connection(
            f"{url}?session_id={session}",
            header=[f"Authorization: token {self.token}"],
            timeout=CELL_TIMEOUT_S,
        )
        try:
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code" and cell.source.strip():
                    error = execute(ws, session, cell.source)
                    if error:
                        return f"{notebook.stem} cell {index}: {error}"
        finally:
            ws.close()
        return None


def execute(ws: Any, session: str, code: str) -> str | None:
    """One ``execute_request`` over the websocket; the error it raised, or None."""
    msg_id = uuid.uuid4().hex
    message = {
        "header": {
            "msg_id": msg_id, "msg_type": "execute_request", "session": session,
            "username": USER, "version": "5.3",
        },
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True,
        },
    }  # fmt: skip
    ws.send(json.dumps(message))
    deadline = time.monotonic() + CELL_TIMEOUT_S
    while time.monotonic() < deadline:
        reply = json.loads(ws.recv())
        if reply.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if reply.get("msg_type") == "execute_reply":
            content = reply.get("content", {})
            if content.get("status") == "ok":
                return None
            return f"{content.get('ename')}: {str(content.get('evalue'))[:300]}"
    return f"no execute_reply in {CELL_TIMEOUT_S:.0f} s"


# -- the run --------------------------------------------------------------------------------
def _progress(message: str) -> None:
    print(f"[bench] hub: {message}", file=sys.stderr, flush=True)


def bench_hub(labs: tuple[str, ...] = HUB_LABS) -> HubResult:
    """Run one learner through ``labs`` on a fresh local JupyterHub (see the module doc)."""
    missing = hub_missing()
    if missing:
        _progress(f"not measured: {missing}")
        return HubResult([], missing=missing)
    result = HubResult([], versions=_versions())
    try:
        with (
            tempfile.TemporaryDirectory(prefix="labkit-hub-") as tmp,
            running_hub(Path(tmp)) as hub,
        ):
            _progress(f"hub at {hub.url}; starting {USER}'s server")
            server_pid, result.spawn_s, token = start_server(hub)
            _Run(hub, server_pid, Learner(f"{hub.url}user/{USER}/", token), result).run(labs)
    except Exception as exc:  # the hub or the server did not start, a request failed...
        result.errors.append(f"the run stopped: {type(exc).__name__}: {str(exc)[-800:]}")
        _progress(f"FAILED: {result.errors[-1]}")
    return result


def _versions() -> str:
    from importlib import metadata

    proxy = subprocess.run(
        ["configurable-http-proxy", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return ", ".join(
        [f"{name} {metadata.version(name)}" for name in ("jupyterhub", "jupyter_server")]
        + [f"configurable-http-proxy {proxy}"]
    )


@dataclass
class _Run:
    """One learner's session on the hub, measured after each step."""

    hub: Hub
    server_pid: int
    learner: Learner
    result: HubResult

    def snap(self, state: str, note: str = "") -> MemoryRow:
        row = measure(self.server_pid, state, note, str(self.hub.state / "labkit-home"))
        self.result.rows.append(row)
        _progress(f"{state}: {row.total_mb:.0f} MB")
        return row

    def run_lab(self, lab: str, notebook: Path) -> tuple[str, bool]:
        """A fresh kernel runs ``notebook``; (kernel id, ok)."""
        _progress(f"running solved {lab} in a kernel")
        kernel = self.learner.start_kernel()
        error = self.learner.run_notebook(kernel, notebook)
        if error:
            self.result.errors.append(error)
            _progress(f"FAILED: {error}")
        return kernel, not error

    def wait_browser_stopped(self, limit_s: float) -> float:
        """Seconds until no browser process is left (at most ``limit_s``)."""
        home = str(self.hub.state / "labkit-home")
        start = time.monotonic()
        while time.monotonic() - start < limit_s:
            if measure(self.server_pid, "", labkit_home=home).browser_processes == 0:
                break
            time.sleep(1)
        return time.monotonic() - start

    def after_browser(self, what: str) -> None:
        waited = self.wait_browser_stopped(BROWSER_IDLE_S + 30)
        self.snap(f"{what}, {waited:.0f} s later (browser idle stop)")

    def run(self, labs: tuple[str, ...]) -> None:
        from labkit.course.build import build_course

        home = self.hub.state / "homes" / USER
        notebooks = {nb.stem: nb for nb in build_course(ROOT / "course", home, solved=True)}
        time.sleep(2)
        self.snap("server started, no kernel")
        for lab in labs:
            kernel, ok = self.run_lab(lab, notebooks[lab])
            row = self.snap(f"after {lab} (its kernel alive)", "" if ok else "✗ error")
            if row.browser_processes:
                self.after_browser(lab)
            self.learner.shutdown_kernel(kernel)
        time.sleep(2)
        self.snap("every kernel shut down")
        both = " + ".join(PAIR)
        _progress(f"{both} open together")
        runs = [self.run_lab(lab, notebooks[lab]) for lab in PAIR]
        ok = all(ok for _, ok in runs)
        row = self.snap(f"{both} (two kernels alive)", "" if ok else "✗ error")
        if row.browser_processes:
            self.after_browser(both)
        for kernel, _ in runs:
            self.learner.shutdown_kernel(kernel)
        time.sleep(2)
        self.snap("both kernels shut down")
