"""Kernel memory under hostile requests (issue #14): what one request may cost a learner.

Section 9 of ``make bench`` (``benchmarks/run.py``; alone: ``--only hostile``).

Each case starts a fresh Python process that serves a lab in a
:class:`~labkit.sandbox.server.Sandbox` in its own threads, as ``open_lab`` does in a
learner's kernel, with the usual kernel limit of 1,024 file descriptors. This process plays
the attacker from outside it, with the requests of ``tests/test_sandbox_limits.py`` and
``tests/test_sandbox_hostile.py``:

* a 300 MB JSON body streamed to 00's ``/api/greet`` (secure app);
* 02's ``jku`` pointing at a 0.5 MB gzip bomb (512 MiB of zeros) on the lab's attacker origin;
* 07's ``UNION SELECT ... randomblob(300000000)``;
* 1,100 half-open requests (``GET`` without the blank line) held open against 00.

The served process resets its peak (``VmHWM``, via ``/proc/self/clear_refs``) once warmed up,
then reports its resident memory before, its peak during, and what it keeps after (``VmRSS``
after a ``gc.collect()``), and whether it still answers a request of its own (and opens a
file) afterwards, as a cell would.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["CASES", "PEAK_TARGET_MB", "HostileResult", "bench_hostile"]

MB = 1024 * 1024
BODY_BYTES = 300 * MB
HALF_OPEN = 1100
#: A hub's per-user memory limit is often 1-2 GB: what one request used to reach (issue #14).
PEAK_TARGET_MB = 100.0

KERNEL = """
import gc, json, resource, sys, tempfile
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))  # a usual kernel's limit

def memory():
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}

SETUP

print(json.dumps({"url": lab.url, "request": HOSTILE}), flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "reset":  # the peak starts again from the resident memory now
        gc.collect()
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        print(json.dumps(memory()), flush=True)
    elif command == "mem":
        gc.collect()
        print(json.dumps(memory()), flush=True)
    elif command == "probe":  # what a cell does next: a request and a file
        try:
            ok = lab.client.get(PROBE, timeout=30).status_code < 500
            with tempfile.TemporaryFile() as handle:
                handle.write(b"x")
            print(json.dumps("ok" if ok else "bad status"), flush=True)
        except Exception as exc:
            print(json.dumps(f"{type(exc).__name__}: {exc}"), flush=True)
"""

WELCOME = """
from labkit.sandbox.apps import welcome
from labkit.sandbox.server import Sandbox
lab = Sandbox(welcome.create_app(secure=True), name="00-welcome").start()
lab.client.post("/api/greet", json={"name": "Ada"})  # warm up every code path once
HOSTILE, PROBE = None, "/api/hello"
"""

JKU_BOMB = """
import zlib
from labkit.attacks import jwt as attacks
from labkit.sandbox.apps import jwt as jwt_app
from labkit.sandbox.server import Sandbox

packer = zlib.compressobj(9, zlib.DEFLATED, 31)
zeros = bytes(1024 * 1024)
bomb = b"".join(packer.compress(zeros) for _ in range(512)) + packer.flush()

async def evil(scope, receive, send):
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": bomb})

lab = Sandbox(jwt_app.create_app(), name="02-jwt").start()
attacker = Sandbox(evil, name="attacker").start()
header = {"alg": "RS256", "jku": attacker.url + "/jwks.json", "kid": "x"}
token = attacks.forge(header, {"sub": "1", "role": "admin"}, attacks.new_rsa_key())
auth = {"Authorization": "Bearer " + token}
lab.client.get("/api/admin/users", headers=auth)  # warm up every code path once
HOSTILE = {"method": "GET", "path": "/api/admin/users", "headers": auth, "params": {}}
PROBE = "/api/_lab/public-key"
"""

BLOB_UNION = """
from labkit.sandbox.apps import injection
from labkit.sandbox.server import Sandbox
lab = Sandbox(injection.create_app(), name="07-injection").start()
lab.client.get("/api/users", params={"email": "x' OR 1=1 --"})  # warm up
union = "x' UNION SELECT 1, randomblob(300000000), 3, 4, 5, 6, 7 --"
HOSTILE = {"method": "GET", "path": "/api/users", "headers": {}, "params": {"email": union}}
PROBE = "/api/users?email=alice@example.com"
"""


@dataclass(frozen=True)
class Case:
    """One hostile request: the lab process's setup and how this process attacks it."""

    name: str
    lab: str
    setup: str
    attack: Callable[[str, dict[str, Any] | None, Callable[[str], Any]], str]


@dataclass(frozen=True)
class HostileResult:
    name: str
    lab: str
    answer: str
    during: str  # the lab process's own request while the attack ran ("" if not asked)
    after: str
    rss_mb: float
    peak_mb: float
    kept_mb: float
    error: str | None = None


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _send(url: str, request: dict[str, Any] | None, ask: Callable[[str], Any]) -> str:
    assert request is not None
    with httpx.Client(base_url=url, timeout=120, trust_env=False) as client:
        answer = client.request(
            request["method"], request["path"], headers=request["headers"],
            params=request["params"],
        )  # fmt: skip
    note = answer.json().get("labkitNote", "") if answer.is_error else ""
    if len(note) > 72:
        note = note[:72].rsplit(" ", 1)[0] + " …"
    return f"{answer.status_code} {note}".strip()


def _stream_body(url: str, request: dict[str, Any] | None, ask: Callable[[str], Any]) -> str:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        chunk = b" " * MB
        while sent < BODY_BYTES:
            sent += len(chunk)
            yield chunk

    try:
        answer = httpx.post(
            f"{url}/api/greet",
            content=chunks(),
            headers={"content-type": "application/json"},
            timeout=60,
            trust_env=False,
        )
        status = str(answer.status_code)
    except httpx.HTTPError:
        status = "connection closed"  # the server may stop reading while the client writes
    return f"{status} after {sent // MB} MB sent"


def _half_open(url: str, request: dict[str, Any] | None, ask: Callable[[str], Any]) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = HALF_OPEN + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        top = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
    address, opened = _address(url), 0
    with contextlib.ExitStack() as stack:
        for _ in range(HALF_OPEN):
            with contextlib.suppress(OSError):
                sock = stack.enter_context(socket.create_connection(address, timeout=5))
                sock.sendall(b"GET /api/hello HTTP/1.1\r\nHost: x\r\n")  # never finishes
                opened += 1
        held = ask("probe")
    return f"{opened} opened; a request meanwhile: {held}"


CASES = (
    Case("300 MB JSON body, streamed", "00-welcome (secure)", WELCOME, _stream_body),
    Case("jku → 0.5 MB gzip bomb (512 MiB)", "02-jwt", JKU_BOMB, _send),
    Case("UNION randomblob(300000000)", "07-injection", BLOB_UNION, _send),
    Case(f"{HALF_OPEN:,} half-open requests", "00-welcome (secure)", WELCOME, _half_open),
)


def run_case(case: Case) -> HostileResult:
    """Serve the case's lab in a fresh process, attack it, and read its memory."""
    script = KERNEL.replace("SETUP", textwrap.dedent(case.setup))
    kernel = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert kernel.stdin is not None and kernel.stdout is not None

    def ask(command: str) -> Any:
        kernel.stdin.write(command + "\n")  # type: ignore[union-attr]
        kernel.stdin.flush()  # type: ignore[union-attr]
        line = kernel.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError("the lab process exited")
        return json.loads(line)

    try:
        first = kernel.stdout.readline()
        if not first:
            raise RuntimeError("the lab process did not start")
        ready = json.loads(first)
        before = ask("reset")
        answer = case.attack(ready["url"], ready["request"], ask)
        after = ask("probe")
        memory = ask("mem")
        during = answer.split("meanwhile: ")[1] if "meanwhile: " in answer else ""
        return HostileResult(
            case.name,
            case.lab,
            answer.split("; a request meanwhile")[0],
            during,
            after,
            before["VmRSS"] / MB,
            (memory["VmHWM"] - before["VmRSS"]) / MB,
            (memory["VmRSS"] - before["VmRSS"]) / MB,
        )
    except Exception as exc:  # a case that cannot run is reported, the others still run
        kernel.kill()
        stderr = kernel.stderr.read()[-500:] if kernel.stderr else ""  # type: ignore[union-attr]
        error = f"{type(exc).__name__}: {exc} {stderr}".strip()
        return HostileResult(case.name, case.lab, "", "", "", 0.0, 0.0, 0.0, error)
    finally:
        kernel.kill()
        kernel.wait(10)


def bench_hostile() -> list[HostileResult]:
    results = []
    for case in CASES:
        print(f"[bench] hostile: {case.name}", file=sys.stderr, flush=True)
        results.append(run_case(case))
    return results
