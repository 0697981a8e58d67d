"""labkit benchmarks: run with ``make bench``; writes ``BENCHMARKS.md`` and prints it.

What is measured, and why (everything in one run, on this machine):

1. ``open_lab`` to first response. The learner's first cell starts a live server; if that
   feels slow, the workbook feels broken. Timed in one process from calling
   ``labkit.open_lab(lab_id)`` until ``lab.client.get("/docs")`` returns. The first open of
   each lab in the process (imports included) is reported apart as "cold".
2. Request round trip: the same FastAPI app served by a :class:`~labkit.sandbox.server.Sandbox`
   (uvicorn in a thread of this process, plus the traffic recorder) against a plain uvicorn
   process. Tells whether the sandbox distorts the timing attacks and rate limits of the labs.
   Blocks of requests alternate between the two servers to cancel drift.
3. nbval wall time per solved notebook, as CI and ``make test`` run it (pytest start-up and
   kernel start included): the cost of keeping every notebook tested.
4. Kernel peak RSS (``VmHWM``) after running each solved notebook with nbclient (n=3): what a
   learner's kernel needs, e.g. on a 2 GB Binder pod.
5. Offline guesses per second on one core for the hashes of lab 01, and how much slower than
   MD5 each one is: the numbers behind the lab's "use a slow hash" argument.
6. Grading throughput: ``labkit grade`` on 40 copies of a solved notebook with ``--jobs`` =
   cores (every check must come back ``passed``), end to end as an instructor runs it.
9. Kernel memory under hostile requests (``hostile.py``): peak and kept RSS of a process
   serving a lab while a 300 MB body, 02's jku gzip bomb, 07's randomblob UNION or 1,100
   half-open connections hit it. ``python benchmarks/run.py --only hostile`` runs this section
   alone and replaces it in ``BENCHMARKS.md``, leaving the others as they are.
10. Per-learner memory on a real local JupyterHub (``hub.py``): PSS of one learner's
    single-user server, kernel and Chromium after each solved notebook, after the browser's
    idle stop and with every kernel shut down, against 300 MB. ``--only hub`` runs it alone.

Medians are reported with their spread and n. Targets are for this report only: a missed
target does not fail the run; a notebook that fails under nbval or nbclient does (exit 1,
after BENCHMARKS.md is written).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from hostile import PEAK_TARGET_MB, HostileResult, bench_hostile
from hub import BROWSER_IDLE_S, PAIR, TARGET_MB, HubResult, bench_hub

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "BENCHMARKS.md"

OPEN_LAB_RUNS = 7
OPEN_LAB_TARGET_MS = 300.0
RTT_WARMUP = 100
RTT_REQUESTS = 2000
RTT_BLOCK = 200
RTT_TARGET_RATIO = 1.5
NBVAL_RUNS = 2  # 13 notebooks: keep `make bench` near 15 minutes on 2 cores
NBVAL_TARGET_S = 20.0
RSS_RUNS = 2
RSS_TARGET_MB = 250.0
GUESS_RUNS = 3
GUESS_SECONDS = 1.0
SCHEMES = ("md5", "sha256", "bcrypt", "argon2id")

PING_APP = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}
"""


# -- statistics and formatting ------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    """Median and spread of a sample."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def iqr(self) -> tuple[float, float]:
        if self.n < 2:
            return self.values[0], self.values[0]
        q = statistics.quantiles(self.values, n=4, method="inclusive")
        return q[0], q[2]

    def spread(self, fmt: str = "{:.1f}") -> str:
        """min–max for small samples."""
        return f"{fmt.format(min(self.values))}–{fmt.format(max(self.values))}"


def mark(ok: bool) -> str:
    return "✓ met" if ok else "✗ not met"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- machine ------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def machine_section(load_start: str, load_end: str) -> str:
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("fastapi", "uvicorn", "httpx", "ipykernel", "nbclient", "nbval")
    )
    return "\n".join(
        [
            f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
            f"- cores (`nproc`): {os.cpu_count()}; CPU: {cpu_model()}",
            f"- Python {platform.python_version()} ({sys.executable}), {platform.platform()}",
            f"- {versions}",
            f"- load average at start {load_start}, at end {load_end} "
            "(this run adds about 1 by itself; more means other work shared the cores)",
        ]
    )


# -- 1. open_lab ----------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenLabResult:
    lab_id: str
    cold_ms: float
    warm: Stats


def time_open_lab(lab_id: str) -> float:
    """ms from ``open_lab`` to the first ``/docs`` response; the lab is closed afterwards."""
    import labkit

    start = time.perf_counter()
    lab = labkit.open_lab(lab_id)
    response = lab.client.get("/docs")
    elapsed = (time.perf_counter() - start) * 1000
    lab.close()
    response.raise_for_status()
    return elapsed


def bench_open_lab() -> list[OpenLabResult]:
    from labkit.exercises.registry import LABS

    results = []
    for lab_id in LABS:
        progress(f"open_lab {lab_id}")
        cold = time_open_lab(lab_id)
        warm = Stats(tuple(time_open_lab(lab_id) for _ in range(OPEN_LAB_RUNS)))
        results.append(OpenLabResult(lab_id, cold, warm))
    return results


def report_open_lab(results: list[OpenLabResult]) -> str:
    ok = all(r.warm.median <= OPEN_LAB_TARGET_MS for r in results)
    rows = [
        [
            f"`{r.lab_id}`",
            f"{r.warm.median:.0f}",
            r.warm.spread("{:.0f}"),
            str(r.warm.n),
            f"{r.cold_ms:.0f}",
        ]
        for r in results
    ]
    return "\n\n".join(
        [
            "## 1. `open_lab` to first response",
            f"Target: warm median ≤ {OPEN_LAB_TARGET_MS:.0f} ms per lab — **{mark(ok)}**",
            "Time from calling `labkit.open_lab(lab_id)` until the first "
            '`lab.client.get("/docs")` returns, in one process. "Cold" is the first open of '
            "that lab in the process (imports of the sandbox and the lab's app included); "
            "the warm runs follow it.",
            table(["lab", "warm median ms", "min–max ms", "n", "cold (first in process) ms"], rows),
        ]
    )


# -- 2. request round trip --------------------------------------------------------------------
@dataclass(frozen=True)
class RoundTripResult:
    sandbox: Stats
    plain: Stats

    @property
    def ratio(self) -> float:
        return self.sandbox.median / self.plain.median


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_plain_uvicorn(app_dir: Path, module: str) -> tuple[subprocess.Popen[bytes], str]:
    """A separate ``python -m uvicorn`` process serving ``module:app``; waits until it answers."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(command, cwd=app_dir)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    with httpx.Client(trust_env=False, timeout=1) as probe:
        while True:
            try:
                if probe.get(f"{url}/ping").status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("plain uvicorn did not come up")
            time.sleep(0.05)


def time_requests(client: httpx.Client, url: str, count: int) -> list[float]:
    """Per-request ms for ``count`` sequential GETs on a keep-alive connection."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return samples


def bench_round_trip() -> RoundTripResult:
    import importlib

    from labkit.sandbox.server import Sandbox

    progress("round trip: Sandbox vs plain uvicorn")
    with tempfile.TemporaryDirectory(prefix="labkit-bench-app-") as tmp:
        module = "labkit_bench_ping"
        (Path(tmp) / f"{module}.py").write_text(PING_APP, encoding="utf-8")
        sys.path.insert(0, tmp)
        try:
            app = importlib.import_module(module).app
        finally:
            sys.path.remove(tmp)
        proc, plain_url = start_plain_uvicorn(Path(tmp), module)
        box = Sandbox(app, name="bench").start()
        try:
            targets = {"sandbox": f"{box.url}/ping", "plain": f"{plain_url}/ping"}
            samples: dict[str, list[float]] = {name: [] for name in targets}
            with httpx.Client(trust_env=False, timeout=10) as client:
                for url in targets.values():
                    time_requests(client, url, RTT_WARMUP)
                for block in range(RTT_REQUESTS // RTT_BLOCK):
                    order = list(targets) if block % 2 == 0 else list(reversed(targets))
                    for name in order:
                        samples[name] += time_requests(client, targets[name], RTT_BLOCK)
        finally:
            box.stop()
            proc.terminate()
            proc.wait(10)
    return RoundTripResult(Stats(tuple(samples["sandbox"])), Stats(tuple(samples["plain"])))


def report_round_trip(result: RoundTripResult) -> str:
    def row(name: str, stats: Stats) -> list[str]:
        q1, q3 = stats.iqr
        p99 = statistics.quantiles(stats.values, n=100)[98]
        return [name, f"{stats.median:.3f}", f"{q1:.3f}–{q3:.3f}", f"{p99:.3f}", str(stats.n)]

    ok = result.ratio <= RTT_TARGET_RATIO
    rows = [
        row("`Sandbox` (uvicorn thread in this process)", result.sandbox),
        row("plain `python -m uvicorn` process", result.plain),
    ]
    return "\n\n".join(
        [
            "## 2. Request round trip: `Sandbox` vs plain uvicorn",
            f"Target: Sandbox / plain median ≤ {RTT_TARGET_RATIO}× — "
            f"**{result.ratio:.2f}×, {mark(ok)}**",
            'The same FastAPI app object (`GET /ping -> {"ok": true}`, `async def`) behind a '
            "`Sandbox` and behind a separate uvicorn process, both hit from this process by one "
            f"keep-alive `httpx.Client`: {RTT_WARMUP} warm-up requests each, then "
            f"{RTT_REQUESTS} each in alternating blocks of {RTT_BLOCK}.",
            table(["server", "median ms", "IQR ms", "p99 ms", "n"], rows),
        ]
    )


# -- notebooks: build once for sections 3 and 4 ---------------------------------------------
def build_solved(out_dir: Path) -> list[Path]:
    from labkit.course.build import build_course

    return build_course(ROOT / "course", out_dir, solved=True)


def fresh_home(base: Path, tag: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"home-{tag}-", dir=base))


# -- 3. nbval ----------------------------------------------------------------------------
@dataclass
class NbvalResult:
    notebook: str
    wall_s: list[float]
    session_s: list[float]
    failures: list[str]


#: As tests/test_notebooks.py: the test suite's plugins a notebook run never uses.
NOT_FOR_NOTEBOOKS = ("-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:anyio")


def run_nbval(notebook: Path, work: Path) -> tuple[float, float | None, str | None]:
    """One nbval run: (wall s, pytest's own session s, failure output or None)."""
    env = {**os.environ, "LABKIT_HOME": str(fresh_home(work, notebook.stem))}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "--nbval-lax", notebook.name]
    command += ["-p", "no:cacheprovider", "-q", "-o", "addopts=", *NOT_FOR_NOTEBOOKS]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    found = re.search(r" in ([\d.]+)s", done.stdout)
    session = float(found[1]) if found else None
    failure = None if done.returncode == 0 else (done.stdout + done.stderr)[-3000:]
    return wall, session, failure


def bench_nbval(notebooks: list[Path], work: Path) -> list[NbvalResult]:
    results = {nb.name: NbvalResult(nb.name, [], [], []) for nb in notebooks}
    for run in range(NBVAL_RUNS):  # round-robin over notebooks, to spread drift evenly
        for nb in notebooks:
            progress(f"nbval {nb.name} run {run + 1}/{NBVAL_RUNS}")
            wall, session, failure = run_nbval(nb, work)
            result = results[nb.name]
            result.wall_s.append(wall)
            if session is not None:
                result.session_s.append(session)
            if failure is not None:
                result.failures.append(failure)
                progress(f"nbval FAILED on {nb.name}:\n{failure}")
    return list(results.values())


def report_nbval(results: list[NbvalResult]) -> str:
    ok = all(statistics.median(r.wall_s) <= NBVAL_TARGET_S for r in results)
    rows = []
    for r in results:
        wall, session = Stats(tuple(r.wall_s)), r.session_s
        rows.append(
            [
                f"`{r.notebook}`",
                f"{wall.median:.1f}",
                wall.spread(),
                str(wall.n),
                f"{statistics.median(session):.1f}" if session else "—",
                "✗ FAILED" if r.failures else "✓ passed",
            ]
        )
    return "\n\n".join(
        [
            "## 3. nbval wall time per solved notebook",
            f"Target: median ≤ {NBVAL_TARGET_S:.0f} s per notebook — **{mark(ok)}**",
            "`python -m pytest --nbval-lax NB -p no:cacheprovider -q -o addopts=` with the "
            "test suite's own plugins off (`-p no:hypothesispytest -p no:schemathesis -p "
            "no:anyio`, as tests/test_notebooks.py runs it) in a subprocess (cwd = the "
            "solved build, fresh `LABKIT_HOME` each run). Wall time "
            "includes interpreter and pytest start-up and the kernel launch; "
            '"pytest session" is the time pytest itself reports.',
            table(
                ["notebook", "wall median s", "min–max s", "n", "pytest session s", "nbval"],
                rows,
            ),
        ]
    )


# -- 4. kernel peak RSS ----------------------------------------------------------------------
@dataclass(frozen=True)
class RssRun:
    """One nbclient execution: VmHWM (MB) after each code cell, wall time, slowest cell."""

    peaks: tuple[tuple[int, float], ...]
    run_s: float
    slowest: str
    error: str | None
    check_s: tuple[tuple[str, float], ...] = ()  # (check id, seconds) of each check cell

    @property
    def peak_mb(self) -> float | None:
        return max((mb for _, mb in self.peaks), default=None)

    @property
    def biggest_jump(self) -> str:
        steps = [(b[1] - a[1], b[0]) for a, b in zip(self.peaks, self.peaks[1:], strict=False)]
        if not steps:
            return "—"
        growth, index = max(steps)
        return f"cell {index}: +{growth:.0f} MB"


@dataclass
class RssResult:
    notebook: str
    runs: list[RssRun]

    @property
    def peaks(self) -> Stats | None:
        values = tuple(mb for run in self.runs if (mb := run.peak_mb) is not None)
        return Stats(values) if values else None

    @property
    def errors(self) -> list[str]:
        return [run.error for run in self.runs if run.error]


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size (``VmHWM``) of ``pid`` in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmHWM for pid {pid}")


def cell_seconds(cell: Any) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not begin or not end:
        return 0.0
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(begin)).total_seconds()


def slowest_cell(nb: Any) -> str:
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if not code:
        return "—"
    index, cell = max(code, key=lambda item: cell_seconds(item[1]))
    first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")[:40]
    return f"cell {index}: {cell_seconds(cell):.1f} s (`{first}`)"


def run_with_nbclient(notebook: Path, work: Path) -> RssRun:
    """Execute ``notebook`` in a fresh kernel, reading its VmHWM after every cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=600)
    peaks: list[tuple[int, float]] = []

    def after_cell(cell_index: int, **_: Any) -> None:  # runs while the kernel is alive
        provisioner = client.km.provisioner if client.km is not None else None
        pid = getattr(provisioner, "pid", None)  # LocalProvisioner: the kernel's own pid
        if pid:
            peaks.append((cell_index, vm_hwm_mb(pid)))

    client.on_cell_executed = after_cell
    env = {**os.environ, "LABKIT_HOME": str(fresh_home(work, f"rss-{notebook.stem}"))}
    start = time.perf_counter()
    error = None
    try:
        client.execute(cwd=str(work), env=env)
    except Exception as exc:  # CellExecutionError, kernel death, timeout
        error = f"{type(exc).__name__}: {str(exc)[-1500:]}"
        progress(f"nbclient FAILED on {notebook.name}: {error}")
    elapsed = time.perf_counter() - start
    return RssRun(tuple(peaks), elapsed, slowest_cell(nb), error, check_cell_seconds(nb))


def check_cell_seconds(nb: Any) -> tuple[tuple[str, float], ...]:
    """(check id, seconds) for every check cell that ran."""
    found = []
    for cell in nb.cells:
        check = cell.get("metadata", {}).get("labkit", {}).get("check")
        if cell.cell_type == "code" and isinstance(check, str) and cell_seconds(cell):
            found.append((check, cell_seconds(cell)))
    return tuple(found)


ARGON2_DEFAULTS_SUFFIX = "+argon2-defaults"


def with_argon2_defaults(notebook: Path) -> Path:
    """A copy of a solved notebook whose answers hash with argon2-cffi's own defaults
    (``PasswordHasher()``: 64 MiB, t=3), what a learner who reads no parameters writes."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("labkit", {}).get("answer"):
            cell.source = re.sub(r"PasswordHasher\([^)]*\)", "PasswordHasher()", cell.source)
    copy = notebook.with_name(f"{notebook.stem}{ARGON2_DEFAULTS_SUFFIX}.ipynb")
    nbformat.write(nb, copy)
    return copy


def bench_rss(notebooks: list[Path], work: Path) -> list[RssResult]:
    results = {nb.name: RssResult(nb.name, []) for nb in notebooks}
    for run in range(RSS_RUNS):
        for nb in notebooks:
            progress(f"nbclient {nb.name} run {run + 1}/{RSS_RUNS}")
            results[nb.name].runs.append(run_with_nbclient(nb, work))
    return list(results.values())


def report_rss(results: list[RssResult]) -> str:
    ok = all((p := r.peaks) is not None and p.median <= RSS_TARGET_MB for r in results)
    rows = []
    for r in results:
        peaks, worst = r.peaks, max(r.runs, key=lambda run: run.peak_mb or 0.0)
        rows.append(
            [
                f"`{r.notebook}`",
                f"{peaks.median:.0f}" if peaks else "—",
                peaks.spread("{:.0f}") if peaks else "—",
                str(peaks.n if peaks else 0),
                f"{statistics.median(run.run_s for run in r.runs):.1f}",
                worst.biggest_jump,
                worst.slowest,
                f"✗ {len(r.errors)} failed" if r.errors else "✓ ran",
            ]
        )
    header = ["notebook", "peak RSS MB", "min–max", "n", "run s", "biggest VmHWM step"]
    return "\n\n".join(
        [
            "## 4. Kernel peak RSS per solved notebook",
            f"Target: median ≤ {RSS_TARGET_MB:.0f} MB per kernel — **{mark(ok)}**",
            "Each notebook run top to bottom by `nbclient` in a fresh `python3` kernel; the "
            "kernel process's `VmHWM` (/proc/PID/status) is read after every cell, before "
            "shutdown. MB = 10^6 bytes. Run time includes kernel start-up. The last two "
            "columns come from the run with the highest peak.",
            table([*header, "slowest cell", "execution"], rows),
        ]
    )


# -- 8. check latency -----------------------------------------------------------------------
FIX_CHECK_TARGET_S = 5.0
VERIFY_TARGET_S = 15.0


def _lab_of(notebook: str) -> str:
    return notebook.removesuffix(".ipynb").removesuffix(ARGON2_DEFAULTS_SUFFIX)


def report_check_latency(results: list[RssResult]) -> str:
    from labkit.exercises.registry import LABS, get_lab

    rows, over = [], []
    for r in results:
        lab_id = _lab_of(r.notebook)
        if lab_id not in LABS:
            continue
        kinds = {c: spec.kind for c, spec in get_lab(lab_id).checks.items()}
        seconds: dict[str, list[float]] = {}
        for run in r.runs:
            for check, s in run.check_s:
                seconds.setdefault(check, []).append(s)
        median = {c: statistics.median(v) for c, v in seconds.items()}
        fixes = {c: s for c, s in median.items() if kinds.get(c) == "fix" and c != "verify"}
        slowest = max(fixes.items(), key=lambda item: item[1], default=None)
        verify = median.get("verify")
        late = [c for c, s in fixes.items() if s > FIX_CHECK_TARGET_S]
        late += ["verify"] if verify is not None and verify > VERIFY_TARGET_S else []
        over += [f"{r.notebook}: {c}" for c in late]
        rows.append(
            [
                f"`{r.notebook}`",
                f"{slowest[1]:.1f} (`{slowest[0]}`)" if slowest else "—",
                f"{verify:.1f}" if verify is not None else "—",
                f"{max((s for c, s in median.items() if kinds.get(c) != 'fix'), default=0):.1f}",
                ", ".join(f"`{c}`" for c in late) or "✓",
            ]
        )
    header = ["notebook", "slowest fix check s", "verify s", "slowest other check s", "over"]
    return "\n\n".join(
        [
            "## 8. Check latency (what a learner waits for)",
            f"Target: every fix check ≤ {FIX_CHECK_TARGET_S:.0f} s and every `verify` ≤ "
            f"{VERIFY_TARGET_S:.0f} s on an idle 2-core machine — "
            f"**{mark(not over)}**" + (f" (over: {', '.join(over)})" if over else ""),
            "Median seconds of each check cell in the section 4 runs (the notebook's reference "
            f"answers). `…{ARGON2_DEFAULTS_SUFFIX}` is 01 with `PasswordHasher()` "
            "(argon2-cffi's defaults, 64 MiB, t=3) instead of the notebook's OWASP minimum: "
            "what a learner who picks no parameters writes.",
            table(header, rows),
        ]
    )


# -- 5. guesses per second ------------------------------------------------------------------
def bench_guesses() -> dict[str, Stats]:
    from labkit.attacks.cracking import guess_rate

    results = {}
    for scheme in SCHEMES:
        progress(f"guess_rate {scheme}")
        rates = (guess_rate(scheme, seconds=GUESS_SECONDS) for _ in range(GUESS_RUNS))
        results[scheme] = Stats(tuple(rates))
    return results


def ratio_to_md5(slowdown: float) -> str:
    return f"{slowdown:.2f}×" if slowdown < 10 else f"{slowdown:,.0f}×"


def report_guesses(results: dict[str, Stats]) -> str:
    md5 = results["md5"].median
    params = {"bcrypt": "cost 12", "argon2id": "m=19456 KiB, t=2, p=1"}
    rows = [
        [
            f"{scheme} {params.get(scheme, '')}".strip(),
            f"{stats.median:,.1f}",
            stats.spread("{:,.1f}"),
            str(stats.n),
            ratio_to_md5(md5 / stats.median),
        ]
        for scheme, stats in results.items()
    ]
    return "\n\n".join(
        [
            "## 5. Offline guesses per second, one core",
            "Target: none (reference numbers for lab 01).",
            f"`labkit.attacks.cracking.guess_rate(scheme, seconds={GUESS_SECONDS})`, "
            "one thread, a fresh guess per hash.",
            table(["scheme", "median guesses/s", "min–max", "n", "MD5 rate ÷ this rate"], rows),
        ]
    )


# -- 6. grading throughput ----------------------------------------------------------------
GRADING_RUNS = {"00-welcome": 40, "01-passwords": 40, "13-capstone": 10}  # copies per lab
#: Also graded through a local Dask cluster (a scheduler and one worker per core), side by side.
GRADING_DASK = ("01-passwords",)
GRADING_TARGET_S = 300.0  # 40 submissions of one lab on 2 cores
GRADING_HEADER = ["lab", "submissions", "graded by", "wall s", "s each", "≈ s per 40", "checks"]


@dataclass
class GradingResult:
    lab: str
    copies: int
    jobs: int
    wall_s: float
    statuses: dict[str, int]
    via: str = ""

    @property
    def per_40_s(self) -> float:
        return self.wall_s / self.copies * 40


def bench_grading(notebooks: list[Path], work: Path) -> list[GradingResult]:
    """``labkit grade`` (the CLI, as instructors run it) on N copies of a solved notebook."""
    import csv

    by_lab = {nb.stem: nb for nb in notebooks}
    jobs = os.cpu_count() or 1
    results = []
    for lab, copies in GRADING_RUNS.items():
        if lab not in by_lab:
            continue
        progress(f"grading {copies} copies of {lab} with --jobs {jobs}")
        subs = work / f"grade-{lab}"
        for i in range(copies):
            (subs / f"student{i:02d}").mkdir(parents=True)
            (subs / f"student{i:02d}" / f"{lab}.ipynb").write_bytes(by_lab[lab].read_bytes())
        runs = [("local", [f"--jobs={jobs}"])]
        if lab in GRADING_DASK:
            runs.append(("dask", []))
        for via, extra in runs:
            book = work / f"grade-{lab}-{via}.csv"
            command = [sys.executable, "-m", "labkit", "grade", str(subs), "--out", str(book)]
            with contextlib.ExitStack() as stack:
                if via == "dask":
                    from labkit.grading.cluster import local_cluster

                    progress(f"grading {copies} copies of {lab} through a local Dask cluster")
                    address = stack.enter_context(local_cluster(workers=jobs))
                    extra = ["--cluster", address]
                start = time.perf_counter()
                subprocess.run([*command, *extra], cwd=ROOT, capture_output=True, check=False)
                wall = time.perf_counter() - start
            statuses: dict[str, int] = {}
            if book.exists():
                with open(book, newline="", encoding="utf-8") as handle:
                    for row in csv.DictReader(handle):
                        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
            label = f"--jobs {jobs}" if via == "local" else f"Dask, {jobs} workers × 1 thread"
            results.append(GradingResult(lab, copies, jobs, wall, statuses, label))
    return results


def grading_failures(results: list[GradingResult]) -> list[str]:
    return [f"grade {r.lab}" for r in results if set(r.statuses) != {"passed"}]


def report_grading(results: list[GradingResult]) -> str:
    rows = [
        [
            r.lab,
            str(r.copies),
            r.via or f"--jobs {r.jobs}",
            f"{r.wall_s:.0f}",
            f"{r.wall_s / r.copies:.1f}",
            f"{r.per_40_s:.0f} {mark(r.per_40_s <= GRADING_TARGET_S)}",
            ", ".join(f"{n} {s}" for s, n in sorted(r.statuses.items())) or "no gradebook",
        ]
        for r in results
    ]
    return "\n\n".join(
        [
            "## 6. Grading throughput",
            "`labkit grade SUBMISSIONS --jobs <cores>` on copies of a solved notebook, one "
            "folder per student, timed end to end (course build, a worker process, a kernel, "
            "a grader-served target and a verifier per submission). Target: 40 submissions "
            f"of one lab in ≤ {GRADING_TARGET_S:.0f} s on 2 cores (otter-grader#413 reports "
            "about 12 minutes for 2 submissions in Docker). Every check must come back "
            "`passed`. `Dask`: the same submissions with `--cluster` on a local `dask "
            "scheduler` and one `dask worker` per core (each task a fresh process running the "
            "same worker), side by side with the local run.",
            table(GRADING_HEADER, rows),
        ]
    )


# -- 7. real-browser exploit time ------------------------------------------------------------
BROWSER_RUNS = 5


def bench_browser() -> list[float] | None:
    """Seconds for 10-cors's cross-origin exploit in real Chromium: first run, then warm runs."""
    import labkit
    from labkit.attacks import cors
    from labkit.browser import close_shared_browser, find_chromium

    if find_chromium() is None:
        return None
    close_shared_browser()  # the first run pays for starting Chromium
    lab = labkit.open_lab("10-cors")
    try:
        victim = (lab.users["alice"].email, lab.users["alice"].password)
        times = []
        for _ in range(BROWSER_RUNS + 1):
            start = time.perf_counter()
            cors.browser_reads(lab.urls["main"], lab.urls["attacker"], victim=victim)
            times.append(time.perf_counter() - start)
        return times
    finally:
        lab.close()


def report_browser(times: list[float] | None) -> str:
    heading = "## 7. A real-browser exploit (10-cors, headless Chromium)"
    if times is None:
        return f"{heading}\n\nNo Chromium found: not measured."
    first, warm = times[0], times[1:]
    rows = [
        ["first (starts Chromium)", f"{first:.2f}", "1"],
        ["warm (shared Chromium)", f"{statistics.median(warm):.2f}", str(len(warm))],
    ]
    return "\n\n".join(
        [
            heading,
            "`labkit.attacks.cors.browser_reads`: the victim logs in on the API origin, then "
            "the attacker page (another sandbox origin) tries a credentialed read. "
            "`labkit.browser.run_in_browser` keeps one Chromium per process, so only the first "
            f"run starts it. Warm spread: {min(warm):.2f}–{max(warm):.2f} s.",
            table(["run", "median s", "n"], rows),
        ]
    )


# -- 9. hostile requests -------------------------------------------------------------------
def report_hostile(results: list[HostileResult]) -> str:
    """Section 9 of BENCHMARKS.md."""
    rows = []
    for r in results:
        if r.error:
            rows.append([r.name, r.lab, f"**could not run**: {r.error}", "", "", "", ""])
            continue
        answers = "✓" if r.after == "ok" else f"✗ {r.after}"
        if r.during:
            answers = f"meanwhile {'✓' if r.during == 'ok' else '✗ ' + r.during}, after {answers}"
        ok = r.peak_mb <= PEAK_TARGET_MB and r.after == "ok" and r.during in ("", "ok")
        rows.append(
            [r.name, r.lab, r.answer, answers, f"{r.rss_mb:.0f}",
             f"+{r.peak_mb:.0f} {'✓ met' if ok else '✗ not met'}", f"{r.kept_mb:+.0f}"]
        )  # fmt: skip
    header = [
        "hostile request",
        "lab",
        "answer",
        "the lab process answers its own request",
        "RSS before MB",
        "peak growth MB",
        "kept MB",
    ]
    return "\n\n".join(
        [
            "## 9. Kernel memory under hostile requests",
            "One fresh process per row serves the lab in a `Sandbox` (as `open_lab` does in a "
            "kernel; 1,024 file descriptors), warmed up with one ordinary request; this process "
            "then sends the hostile request from outside. *Peak growth*: `VmHWM` past the "
            "resident memory just before (the peak is reset with `/proc/self/clear_refs`); "
            "*kept*: `VmRSS` afterwards (after `gc.collect()`) minus the same. Before issue "
            "#14 the body peaked at +1.25 GB and kept 756 MB, the gzip bomb peaked at 1.58 GB, "
            "the blob at 1.2 GB, and the half-open requests hung the kernel for good. "
            f"Target: peak growth ≤ {PEAK_TARGET_MB:.0f} MB and the process still answers. "
            f"Measured {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} (this section "
            "alone: `python benchmarks/run.py --only hostile`).",
            table(header, rows),
        ]
    )


HOSTILE_HEADING = "## 9. Kernel memory under hostile requests"


# -- 10. a local JupyterHub ----------------------------------------------------------------
HUB_HEADING = "## 10. Per-learner memory on a local JupyterHub"


def report_hub(result: HubResult) -> str:
    """Section 10 of BENCHMARKS.md."""
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if result.missing:
        return f"{HUB_HEADING}\n\n**Not measured** ({when}): {result.missing}"
    one = [r for r in result.rows if "+" not in r.state]
    worst = max(one, key=lambda r: r.total_mb) if one else None
    idle = [r for r in one if "idle stop" in r.state or "no kernel" in r.state]
    idle += [r for r in one if r.state.startswith("after") and not r.browser_processes]
    worst_idle = max(idle, key=lambda r: r.total_mb) if idle else None
    verdict = (
        f"Target: ≤ {TARGET_MB:.0f} MB per learner (server + kernel + browser) in every "
        "state with one notebook open"
        + (f" — **{mark(worst.total_mb <= TARGET_MB)}** (highest: {worst.total_mb:.0f} MB, "
           f"{worst.state})" if worst else "")
        + (f"; without a running Chromium (never used, or stopped after the idle period) the "
           f"highest is {worst_idle.total_mb:.0f} MB ({worst_idle.state}) — "
           f"**{mark(worst_idle.total_mb <= TARGET_MB)}**" if worst_idle else "")
        + "."
    )  # fmt: skip
    rows = [
        [r.state, f"{r.server_mb:.0f}", f"{r.kernel_mb:.0f}",
         f"{r.browser_mb:.0f} ({r.browser_processes} proc.)" if r.browser_processes else "0",
         f"{r.total_mb:.0f}",
         ("✓" if r.total_mb <= TARGET_MB else "✗ over") + (f" {r.note}" if r.note else "")]
        for r in result.rows
    ]  # fmt: skip
    header = ["state", "server MB", "kernel MB", "browser MB", "total MB", f"≤ {TARGET_MB:.0f} MB"]
    parts = [
        HUB_HEADING,
        verdict,
        "A real JupyterHub (DummyAuthenticator, SimpleLocalProcessSpawner, "
        "configurable-http-proxy; hub, proxy, sqlite database, cookie secret and home in a "
        f"temporary folder; {result.versions}). One learner, driven through the proxy with "
        f"their own hub API token: the hub starts their `jupyterhub-singleuser` (ready in "
        f"{result.spawn_s:.1f} s), then each solved notebook runs in a fresh kernel started "
        "with `POST /user/learner/api/kernels`, its code cells sent over the kernel websocket "
        "(`execute_request` → `execute_reply`); the kernel is shut down before the next one. "
        f"`LABKIT_BROWSER_IDLE_S={BROWSER_IDLE_S}` in the server's environment (labkit's "
        "default is 120 s), so the browser's idle stop is seen in a short run: after a "
        "notebook that used Chromium, the next row is taken once its processes are gone. "
        f"Last: {' and '.join(PAIR)} open together (two kernels). Memory: `Pss` of "
        "`/proc/PID/smaps_rollup` (shared pages split between the processes sharing them) "
        "summed over the server's process tree; *server* is jupyterhub-singleuser, *kernel* "
        "the ipykernel processes (a lab's sandboxes run in the kernel), *browser* "
        "Playwright's driver and Chromium's processes. MB = 10^6 bytes. Hub and proxy "
        "(shared by every learner) are not counted.",
        table(header, rows),
        f"Measured {when}, load {load_average()} at the end (this section alone: "
        "`python benchmarks/run.py --only hub`).",
    ]
    if result.errors:
        parts.insert(-1, "**Errors:** " + "; ".join(f"`{e}`" for e in result.errors))
    return "\n\n".join(parts)


def write_section(heading: str, section: str) -> None:
    """Put ``section`` in BENCHMARKS.md in place of the one under ``heading`` (else before
    the failure line, else at the end); every other section stays as it is."""
    text = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else "# labkit benchmarks\n"
    start = text.find(heading)
    if start >= 0:
        ends = [
            i for i in (text.find("\n## ", start + 1), text.find("\n**FAILED", start)) if i >= 0
        ]
        end = min(ends) + 1 if ends else len(text)
        text = text[:start] + section + "\n\n" + text[end:].lstrip("\n")
    elif "\n**FAILED" in text:
        at = text.index("\n**FAILED") + 1
        text = text[:at] + section + "\n\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    OUTPUT.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


# -- main ---------------------------------------------------------------------------------
def bench_latency_only() -> int:
    """Sections 4 and 8 alone: every solved notebook (and 01 with argon2-cffi's defaults) run
    by nbclient, then both sections replaced in BENCHMARKS.md."""
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        work = Path(tmp)
        os.environ["LABKIT_HOME"] = str(fresh_home(work, "inprocess"))
        notebooks = build_solved(work / "solved")
        passwords = [nb for nb in notebooks if nb.stem == "01-passwords"]
        rss = bench_rss(notebooks + [with_argon2_defaults(nb) for nb in passwords], work / "solved")
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    rerun = f"Measured alone (`benchmarks/run.py --only latency`) {when}, load {load_average()}."
    for section in (report_rss(rss), report_check_latency(rss)):
        section = f"{section}\n\n{rerun}"
        write_section(section.split("\n", 1)[0], section)
        print(section)
    failed = [r.notebook for r in rss if r.errors]
    if failed:
        print(f"benchmarks: notebook failures: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description="labkit benchmarks (writes BENCHMARKS.md)")
    parser.add_argument(
        "--only",
        choices=["hostile", "latency", "hub"],
        help="run one part and replace its sections in BENCHMARKS.md (the others stay as they "
        "are): 'hostile' is section 9; 'latency' reruns the solved notebooks for sections 4 "
        "(kernel memory) and 8 (check latency); 'hub' is section 10 (a local JupyterHub)",
    )
    only = parser.parse_args().only
    if only == "hostile":
        section = report_hostile(bench_hostile())
        write_section(HOSTILE_HEADING, section)
        print(section)
        return 0
    if only == "hub":
        hub = bench_hub()
        section = report_hub(hub)
        write_section(HUB_HEADING, section)
        print(section)
        return 1 if hub.errors else 0
    if only == "latency":
        return bench_latency_only()
    started, load_start = time.perf_counter(), load_average()
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        work = Path(tmp)
        os.environ["LABKIT_HOME"] = str(fresh_home(work, "inprocess"))  # keep ~/.labkit clean
        open_lab = bench_open_lab()  # first: its cold runs must be the first in the process
        round_trip = bench_round_trip()
        browser = bench_browser()
        guesses = bench_guesses()
        notebooks = build_solved(work / "solved")
        nbval = bench_nbval(notebooks, work / "solved")
        passwords = [nb for nb in notebooks if nb.stem == "01-passwords"]
        rss = bench_rss(notebooks + [with_argon2_defaults(nb) for nb in passwords], work / "solved")
        grading = bench_grading(notebooks, work)
        hostile = bench_hostile()
        hub = bench_hub()
    total = time.perf_counter() - started
    failed = [r.notebook for r in nbval if r.failures] + [r.notebook for r in rss if r.errors]
    failed += grading_failures(grading)
    failed += ["hub"] if hub.errors else []
    sections = [
        "# labkit benchmarks",
        "Written by `make bench` (`benchmarks/run.py`); all numbers from one run on this "
        f"machine, total {total:.0f} s.",
        machine_section(load_start, load_average()),
        report_open_lab(open_lab),
        report_round_trip(round_trip),
        report_nbval(nbval),
        report_rss(rss),
        report_check_latency(rss),
        report_guesses(guesses),
        report_grading(grading),
        report_browser(browser),
        report_hostile(hostile),
        report_hub(hub),
    ]
    if failed:
        sections.append(f"**FAILED notebooks: {', '.join(sorted(set(failed)))}**")
    text = "\n\n".join(sections) + "\n"
    OUTPUT.write_text(text, encoding="utf-8")
    print(text)
    if failed:
        print(f"benchmarks: notebook failures: {', '.join(sorted(set(failed)))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
