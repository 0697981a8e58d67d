"""Only the kernel's own user reaches a sandbox (issue 14, item 1).

A client run as another user (uid 65534, ``nobody``) gets ``403 Forbidden`` from every app
and every companion of every lab, vulnerable and secure, and from the uvicorn processes of
11; the app never sees the request (its traffic log stays empty). The same request from this
process's user is served. Dropping to another uid needs root (or passwordless sudo): under
``CI=true`` a run without either fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from labkit.exercises.registry import LABS, get_lab
from labkit.sandbox import limits, peer
from labkit.sandbox.apps.ratelimit import serve_processes
from labkit.sandbox.lab_server import LabServer
from labkit.sandbox.server import Sandbox
from tests.ci_guard import ci_enabled

OTHER_UID = 65534  # nobody
REPO = Path(__file__).resolve().parents[1]
REFUSAL = "this lab sandbox belongs to another user"

# A client with nothing but the standard library (the other user cannot read our venv):
# GET (or POST the given number of bytes to) each URL; print [status, body] per URL.
CLIENT = r"""
import json, ssl, sys, urllib.error, urllib.request
size, urls = int(sys.argv[1]), sys.argv[2:]
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}),
    urllib.request.HTTPSHandler(context=ssl._create_unverified_context()),
)
out = []
for url in urls:
    data = b"x" * size if size else None
    try:
        with opener.open(urllib.request.Request(url, data=data), timeout=20) as r:
            out.append([r.status, r.read(300).decode(errors="replace")])
    except urllib.error.HTTPError as e:
        out.append([e.code, e.read(300).decode(errors="replace")])
    except Exception as e:
        out.append([0, repr(e)])
print(json.dumps(out))
"""


def _sudo_works() -> bool:
    if shutil.which("sudo") is None:
        return False
    probe = ["sudo", "-n", "-u", f"#{OTHER_UID}", "-g", f"#{OTHER_UID}", "--", "true"]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


def _other_user(command: list[str]) -> tuple[list[str], dict[str, Any]]:
    """``command`` and the Popen options that run it as uid 65534: directly as root, else
    through passwordless sudo."""
    if os.geteuid() == 0:
        return command, {"user": OTHER_UID, "group": OTHER_UID, "extra_groups": [], "cwd": "/"}
    sudo = ["sudo", "-n", "-u", f"#{OTHER_UID}", "-g", f"#{OTHER_UID}", "--"]
    return sudo + command, {"cwd": "/"}


def _require_root() -> None:
    if sys.platform.startswith("linux") and (os.geteuid() == 0 or _sudo_works()):
        return
    reason = "needs root (or passwordless sudo) on Linux to run a client as uid 65534"
    if ci_enabled():
        pytest.fail(f"CI=true: the neighbour test must run, not skip: {reason}")
    pytest.skip(reason)


def _as_other_user(python: str, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    command, options = _other_user([python, "-c", CLIENT, *args])
    return subprocess.run(
        command, **options, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def other_python() -> str:
    """An interpreter uid 65534 may run (our venv may sit in a private home)."""
    _require_root()
    candidates = [sys.executable, shutil.which("python3"), "/usr/bin/python3"]
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            ran = _as_other_user(python, ["0"])
        except OSError:
            continue
        if ran.returncode == 0:
            return python
    message = "no Python interpreter that uid 65534 may run"
    if ci_enabled():
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def _eventually(condition: Callable[[], bool], within_s: float = 10.0) -> bool:
    """Poll ``condition`` (a TLS app may log its exchange just after the client has it)."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def fetch_as_other_user(python: str, urls: list[str], size: int = 0) -> list[tuple[int, str]]:
    """[(status, body)] of each URL, requested by uid 65534 (a POST of ``size`` bytes)."""
    ran = _as_other_user(python, [str(size), *urls])
    assert ran.returncode == 0, ran.stderr
    return [(status, body) for status, body in json.loads(ran.stdout)]


# -- every app and every companion of every lab ------------------------------------------
@pytest.mark.parametrize("secure", [False, True], ids=["vulnerable", "secure"])
@pytest.mark.parametrize("lab_id", list(LABS))
def test_another_user_is_refused_by_every_app_and_companion(
    lab_id: str, secure: bool, other_python: str
) -> None:
    server = LabServer(get_lab(lab_id).create_app(secure=secure), name=lab_id).start()
    try:
        boxes = {"main": server.main, **server.companions}
        for box in boxes.values():
            box.traffic.clear()
        answers = fetch_as_other_user(other_python, [box.url + "/" for box in boxes.values()])
        for (name, box), (status, body) in zip(boxes.items(), answers, strict=True):
            assert (status, body.strip()) == (403, REFUSAL), f"{lab_id} {name}: {status} {body}"
            assert len(box.traffic) == 0, f"{lab_id} {name}: the app saw the refused request"
        for name, box in boxes.items():  # the kernel's own user: served as before
            assert box.client.get("/").status_code != 403, f"{lab_id} {name}"
            assert _eventually(lambda box=box: len(box.traffic) == 1), f"{lab_id} {name}: unseen"
    finally:
        server.close()


# -- a plain sandbox: the app never runs; bodies; the escape hatches ----------------------
@pytest.fixture()
def recorder() -> Iterator[tuple[Sandbox, list[str]]]:
    seen: list[str] = []
    app = FastAPI()

    @app.api_route("/record", methods=["GET", "POST"])
    async def record(request: Request) -> dict[str, int]:
        seen.append(request.method)
        return {"bytes": len(await request.body())}

    with Sandbox(app, name="recorder") as box:
        yield box, seen


def test_no_app_code_runs_for_another_user_and_a_body_still_gets_the_403(
    recorder: tuple[Sandbox, list[str]], other_python: str
) -> None:
    box, seen = recorder
    url = box.url + "/record"
    assert fetch_as_other_user(other_python, [url, url]) == [(403, REFUSAL + "\n")] * 2
    posted = fetch_as_other_user(other_python, [url], size=2 * 1024 * 1024)
    assert posted == [(403, REFUSAL + "\n")]  # answered, not reset, though the body is unread
    assert seen == [] and len(box.traffic) == 0
    assert box.client.post("/record", content=b"x" * 1000).json() == {"bytes": 1000}
    assert seen == ["POST"]


def test_allow_uids_and_allow_any_user_let_another_user_in(
    recorder: tuple[Sandbox, list[str]], other_python: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    box, seen = recorder
    url = box.url + "/record"
    monkeypatch.setenv(peer.ALLOW_UIDS_ENV, f"1234, {OTHER_UID}")
    assert fetch_as_other_user(other_python, [url]) == [(200, '{"bytes":0}')]
    monkeypatch.setenv(peer.ALLOW_UIDS_ENV, "1234")
    assert fetch_as_other_user(other_python, [url])[0][0] == 403
    monkeypatch.delenv(peer.ALLOW_UIDS_ENV)
    monkeypatch.setenv(peer.ALLOW_ANY_ENV, "1")
    assert fetch_as_other_user(other_python, [url]) == [(200, '{"bytes":0}')]
    assert seen == ["GET", "GET"]


def test_a_flood_of_refused_connections_does_not_lock_the_learner_out(
    recorder: tuple[Sandbox, list[str]], other_python: str
) -> None:
    """Another user holding 300 connections (more than MAX_REFUSING) locks nobody out."""
    box, seen = recorder
    flood = f"""
import socket, sys
held = [socket.create_connection(("127.0.0.1", {box.port})) for _ in range(300)]
print("holding", flush=True)
sys.stdin.read()
"""
    command, options = _other_user([other_python, "-c", flood])
    holder = subprocess.Popen(
        command, **options, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        assert box.client.get("/record").status_code == 200 and seen == ["GET"]
    finally:
        holder.communicate("", timeout=30)
    assert limits.MAX_REFUSING < 300


def test_the_processes_of_lab_11_refuse_another_user(other_python: str) -> None:
    with serve_processes({"memory": None}, count=1) as urls:
        url = urls["memory"][0] + "/api/v1/items"
        assert fetch_as_other_user(other_python, [url]) == [(403, REFUSAL + "\n")]
        assert httpx.get(url, trust_env=False).status_code != 403


def test_every_uvicorn_server_of_labkit_uses_the_guarded_protocol() -> None:
    """The check lives in GuardedH11Protocol: no server of labkit may start without it."""
    sources = {p: p.read_text(encoding="utf-8") for p in (REPO / "labkit").rglob("*.py")}
    configs = {p: s.count("uvicorn.Config(") for p, s in sources.items() if "uvicorn.Config(" in s}
    processes = {p for p, s in sources.items() if re.search(r'"-m",\s*"uvicorn"', s)}
    assert configs and processes
    for path, count in configs.items():
        assert sources[path].count("http=GuardedH11Protocol") == count, path
    for path in processes:
        assert '"--http", "labkit.sandbox.limits:GuardedH11Protocol"' in sources[path], path


# -- peer_uid on live sockets ------------------------------------------------------------
def _connect_as_other_user(python: str, port: int, family: str) -> subprocess.Popen[str]:
    code = f"""
import socket, sys
s = socket.socket(socket.{family})
s.connect(({"'::1'" if family == "AF_INET6" else "'127.0.0.1'"}, {port}))
sys.stdin.read()
"""
    command, options = _other_user([python, "-c", code])
    return subprocess.Popen(command, **options, stdin=subprocess.PIPE, text=True)


@pytest.mark.parametrize("family", ["AF_INET", "AF_INET6"])
def test_peer_uid_names_the_owner_of_the_client_socket(other_python: str, family: str) -> None:
    af = getattr(socket, family)
    with socket.socket(af) as listener:
        listener.bind(("::1" if af == socket.AF_INET6 else "127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = _connect_as_other_user(other_python, port, family)
        try:
            theirs, _ = listener.accept()
            with socket.create_connection(listener.getsockname()[:2]) as ours:
                mine, _ = listener.accept()
                for conn, uid in ((theirs, OTHER_UID), (mine, os.getuid())):
                    here, there = conn.getsockname(), conn.getpeername()
                    assert peer.peer_uid(here, there) == uid
                    table = peer._proc_lookup(here, there, peer._read_table)
                    assert table.client_uid == uid  # the /proc fallback agrees
                assert peer.allowed(mine.getsockname(), mine.getpeername())
                assert not peer.allowed(theirs.getsockname(), theirs.getpeername())
                assert ours.fileno() != -1
                mine.close()
            theirs.close()
        finally:
            client.communicate("", timeout=10)


# -- the /proc parser on a recorded sample (x86-64: host-order words are little-endian) ---
# Recorded with a listener on 127.0.0.1:8080 and one on [::]:8443; uid 0 connected from
# 127.0.0.1:40001 (and to 8443 from 127.0.0.1:40005), uid 65534 from 127.0.0.2:40002,
# [::1]:40003 and an IPv6 socket on ::ffff:127.0.0.1:40004. Plus a TIME_WAIT row (40000).
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1994873 1 0000000078da2d9c 100 0 0 10 0
   7: 0100007F:9C40 0100007F:1F90 06 00000000:00000000 03:000016D4 00000000     0        0 0 3 0000000000000000
 306: 0100007F:9C41 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1994876 2 00000000677cbf71 20 0 0 10 -1
1367: 0200007F:9C42 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 65534        0 1994879 2 00000000ed704bf5 20 0 0 10 -1
1371: 0100007F:1F90 0100007F:9C41 01 00000000:00000000 00:00000000 00000000     0        0 1994877 1 000000005f084e87 20 0 0 10 -1
1399: 0100007F:1F90 0200007F:9C42 01 00000000:00000000 00:00000000 00000000     0        0 1994878 1 00000000466b79e8 20 0 0 10 -1
1524: 0100007F:9C45 0100007F:20FB 01 00000000:00000000 00:00000000 00000000     0        0 1994884 2 0000000062485c0d 20 0 0 10 -1
"""  # noqa: E501
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:20FB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1994874 1 00000000ca7e38d9 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:20FB 0000000000000000FFFF00000100007F:9C45 01 00000000:00000000 00:00000000 00000000     0        0 1994885 1 000000006878d862 20 0 0 10 -1
   2: 00000000000000000000000001000000:20FB 00000000000000000000000001000000:9C43 01 00000000:00000000 00:00000000 00000000     0        0 1994880 1 00000000b2d3a4f3 20 0 0 10 -1
   3: 0000000000000000FFFF00000100007F:9C44 0000000000000000FFFF00000100007F:20FB 01 00000000:00000000 00:00000000 00000000 65534        0 1994882 2 00000000245f3f28 20 0 0 10 -1
   4: 0000000000000000FFFF00000100007F:20FB 0000000000000000FFFF00000100007F:9C44 01 00000000:00000000 00:00000000 00000000     0        0 1994883 1 00000000090e2387 20 0 0 10 -1
   5: 00000000000000000000000001000000:9C43 00000000000000000000000001000000:20FB 01 00000000:00000000 00:00000000 00000000 65534        0 1994881 2 000000002085c863 20 0 0 10 -1
"""  # noqa: E501
TABLES = {"tcp": TCP, "tcp6": TCP6}
little_endian = pytest.mark.skipif(sys.byteorder != "little", reason="sample is little-endian")


@little_endian
@pytest.mark.parametrize(
    ("server", "client", "uid"),
    [
        (("127.0.0.1", 8080), ("127.0.0.1", 40001), 0),
        (("127.0.0.1", 8080), ("127.0.0.2", 40002), OTHER_UID),
        (("::1", 8443, 0, 0), ("::1", 40003, 0, 0), OTHER_UID),
        (("::ffff:127.0.0.1", 8443, 0, 0), ("::ffff:127.0.0.1", 40004, 0, 0), OTHER_UID),
        (("::ffff:127.0.0.1", 8443, 0, 0), ("::ffff:127.0.0.1", 40005, 0, 0), 0),
    ],
)
def test_proc_parser_finds_the_client_row(
    server: peer.Address, client: peer.Address, uid: int
) -> None:
    found = peer._proc_lookup(server, client, TABLES.get)
    assert (found.client_uid, found.listed) == (uid, True)


@little_endian
def test_proc_parser_skips_time_wait_and_tells_an_unlisted_connection() -> None:
    gone = peer._proc_lookup(("127.0.0.1", 8080), ("127.0.0.1", 40000), TABLES.get)
    assert gone.client_uid is None  # TIME_WAIT: uid 0 there means "no owner", not root
    nowhere = peer._proc_lookup(("127.0.0.1", 9), ("127.0.0.1", 40001), TABLES.get)
    assert (nowhere.client_uid, nowhere.listed) == (None, False)
    no_proc = peer._proc_lookup(("127.0.0.1", 8080), ("127.0.0.1", 40001), lambda _: None)
    assert (no_proc.client_uid, no_proc.listed) == (None, False)
    assert peer.find_socket_uid(TCP, "0200007F:9C42", "0100007F:1F90") == OTHER_UID
    assert peer.find_socket_uid(TCP, "0100007F:1F90", "0200007F:9C42") == 0


def test_unknown_transports_and_remote_hosts_are_admitted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert peer.allowed(None, None)  # a Unix socket: no TCP neighbour
    assert peer.allowed("/tmp/sock", "")  # type: ignore[arg-type]
    monkeypatch.setattr(peer, "_lookup", lambda s, c: peer._Lookup(None, True))
    assert peer.allowed(("10.0.0.5", 8080), ("10.0.0.9", 5000))  # another host (--host)
    assert not peer.allowed(("127.0.0.1", 8080), ("127.0.0.1", 5000))  # loopback, unlisted
    monkeypatch.setattr(peer, "_lookup", lambda s, c: peer._Lookup(None, False))
    assert peer.allowed(("127.0.0.1", 8080), ("127.0.0.1", 5000))  # no table: cannot tell


def test_a_table_that_misreports_our_own_end_cannot_lock_the_learner_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, client = ("127.0.0.1", 8080), ("127.0.0.1", 5000)
    me, other = os.getuid(), os.getuid() + 1

    def table(owner_of_client: int, owner_of_server: int | None) -> None:
        rows = {(server, client): owner_of_client, (client, server): owner_of_server}
        monkeypatch.setattr(peer, "_lookup", lambda s, c: peer._Lookup(rows[(s, c)], True))

    table(other, me)
    assert not peer.allowed(server, client)  # the table is right about us: refuse
    table(other, other)
    assert peer.allowed(server, client)  # it names a stranger as our own end's owner
    table(other, None)
    assert not peer.allowed(server, client)


def test_without_root_or_sudo_ci_fails_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.test_sandbox_peer as me

    monkeypatch.setattr(me.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(me, "_sudo_works", lambda: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run, not skip"):
        _require_root()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        _require_root()
