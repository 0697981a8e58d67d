"""Requests that used to take a learner's kernel down, now refused with a lab message
(issue #14 items 2 and 5): 02's jku fetch and kid read, runaway SQL in 07, lab clocks and
inputs, lab database size, a learner fix that runs out of memory."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends

import labkit.sandbox
from labkit.attacks import jwt as attacks
from labkit.patterns.sessions import SessionRecord
from labkit.sandbox import sqlite_guard
from labkit.sandbox.apps import apikeys, authz, injection, oauth, sessions
from labkit.sandbox.apps import jwt as jwt_app
from labkit.sandbox.apps.base import lab_state
from labkit.sandbox.server import Sandbox
from labkit.sandbox.store import LabStore
from tests.labs import running_lab

MB = 1024 * 1024


def _measure(script: str, timeout: float = 180) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter (a kernel of its own); it prints one JSON line.

    The script calls ``baseline()`` once set up and ``report(**facts)`` at the end, which adds
    ``growth``: the process's peak RSS past the baseline, in bytes.
    """
    prelude = textwrap.dedent(
        """
        import json, psutil
        _base = {}
        def baseline():
            _base["rss"] = psutil.Process().memory_info().rss
        def peak_rss():
            # VmHWM belongs to this process image; ru_maxrss keeps the peak of the parent it
            # was forked from across exec (a big pytest worker would count as our growth).
            with open("/proc/self/status") as status:
                line = next(l for l in status if l.startswith("VmHWM:"))
            return int(line.split()[1]) * 1024
        def report(**facts):
            peak = peak_rss()
            print(json.dumps({**facts, "growth": peak - _base["rss"]}), flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- 02: jku and kid ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jwt_lab() -> Iterator[Sandbox]:
    app = jwt_app.create_app(secure=False)
    with Sandbox(app, name="02-jwt-hostile") as box:
        yield box
    lab_state(app).close()


@pytest.fixture(scope="module")
def admin_claims(jwt_lab: Sandbox) -> dict[str, Any]:
    carol = lab_state(jwt_lab.app).users["carol"]
    login = jwt_lab.client.post(
        "/api/auth/login", json={"email": carol.email, "password": carol.password}
    )
    return {**attacks.decode_unverified(login.json()["accessToken"])[1], "role": "admin"}


def _admin(box: Sandbox, token: str) -> httpx.Response:
    return box.client.get("/api/admin/users", headers={"Authorization": f"Bearer {token}"})


class _Served:
    """A tiny ASGI app answering every request with one fixed response; counts requests."""

    def __init__(self, body: bytes, headers: list[tuple[bytes, bytes]], status: int = 200):
        self.body, self.headers, self.status, self.hits = body, headers, status, 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.hits += 1
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def _jwks(key: Any) -> bytes:
    return json.dumps({"keys": [{**attacks.rsa_jwk(key), "kid": "attacker"}]}).encode()


def _jku_token(url: str, claims: dict[str, Any], key: Any) -> str:
    return attacks.forge({"alg": "RS256", "jku": url, "kid": "attacker"}, claims, key)


JSON = [(b"content-type", b"application/json")]

GZIP_BOMB = """
    import gzip, zlib
    import httpx
    from labkit.attacks import jwt as attacks
    from labkit.sandbox.apps import jwt as jwt_app
    from labkit.sandbox.server import Sandbox

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1024 * 1024)
    bomb = b"".join(packer.compress(zeros) for _ in range(512)) + packer.flush()

    async def evil(scope, receive, send):
        headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": bomb})

    key = attacks.new_rsa_key()
    with Sandbox(jwt_app.create_app(), name="02-jwt") as lab, \\
            Sandbox(evil, name="attacker") as attacker:
        claims = {"sub": "1", "role": "admin"}
        token = attacks.forge(
            {"alg": "RS256", "jku": attacker.url + "/jwks.json", "kid": "x"}, claims, key
        )
        auth = {"Authorization": "Bearer " + token}
        lab.client.get("/api/admin/users", headers=auth)  # warm up every code path once
        baseline()
        answer = lab.client.get("/api/admin/users", headers=auth)
        report(status=answer.status_code, body=answer.json(), bomb=len(bomb))
"""


@pytest.mark.slow
def test_a_gzip_bomb_from_the_attacker_is_refused_without_inflating_it() -> None:
    outcome = _measure(GZIP_BOMB)
    assert outcome["bomb"] < 1 * MB  # 512 MiB of zeros, packed
    assert outcome["status"] == 401
    assert "Content-Encoding gzip" in outcome["body"]["labkitNote"]
    assert outcome["growth"] < 50 * MB, f"peak grew by {outcome['growth'] // MB} MB"


def test_a_jku_to_another_loopback_port_is_not_fetched(
    jwt_lab: Sandbox, admin_claims: dict[str, Any]
) -> None:
    key = attacks.new_rsa_key()
    other = _Served(_jwks(key), JSON)
    with Sandbox(other, name="sandbox") as box:
        for url in (f"{box.url}/jwks.json", f"http://localhost:{box.port}/jwks.json"):
            answer = _admin(jwt_lab, _jku_token(url, admin_claims, key))
            assert answer.status_code == 401
            assert "attacker" in answer.json()["labkitNote"]
    assert other.hits == 0


def test_the_jku_lesson_still_works_from_the_attacker_sandbox(
    jwt_lab: Sandbox, admin_claims: dict[str, Any]
) -> None:
    key = attacks.new_rsa_key()
    with Sandbox(attacks.jwks_app({"keys": [attacks.rsa_jwk(key)]}), name="attacker") as evil:
        token = _jku_token(f"http://localhost:{evil.port}/jwks.json", admin_claims, key)
        assert _admin(jwt_lab, token).status_code == 200


def test_the_attacker_cannot_redirect_the_jku_elsewhere(
    jwt_lab: Sandbox, admin_claims: dict[str, Any]
) -> None:
    key = attacks.new_rsa_key()
    other = _Served(_jwks(key), JSON)
    with Sandbox(other, name="sandbox") as box:
        hop = _Served(b"", [(b"location", f"{box.url}/jwks.json".encode())], status=302)
        with Sandbox(hop, name="attacker") as evil:
            answer = _admin(jwt_lab, _jku_token(f"{evil.url}/jwks.json", admin_claims, key))
    assert answer.status_code == 401
    assert "redirect" in answer.json()["labkitNote"]
    assert (hop.hits, other.hits) == (1, 0)


def test_a_jku_answer_over_64_kib_is_cut_off(
    jwt_lab: Sandbox, admin_claims: dict[str, Any]
) -> None:
    key = attacks.new_rsa_key()
    padded = _jwks(key)[:-1] + b"," + b'"pad": "' + b"x" * MB + b'"}'
    with Sandbox(_Served(padded, JSON), name="attacker") as evil:
        answer = _admin(jwt_lab, _jku_token(f"{evil.url}/jwks.json", admin_claims, key))
    assert answer.status_code == 401
    assert "64 KiB" in answer.json()["labkitNote"]


def test_a_kid_cannot_confirm_a_guess_of_a_file_outside_the_key_directory(
    jwt_lab: Sandbox, admin_claims: dict[str, Any], tmp_path: Path
) -> None:
    secret = tmp_path / "notes.txt"
    secret.write_bytes(b"the learner's own file")
    kid = "../" * 12 + str(secret).lstrip("/")
    token = attacks.forge({"alg": "HS256", "kid": kid}, admin_claims, secret.read_bytes())
    answer = _admin(jwt_lab, token)
    assert answer.status_code == 401
    assert "key directory or /dev/null" in answer.json()["labkitNote"]
    missing = attacks.forge({"alg": "HS256", "kid": kid + ".gone"}, admin_claims, b"")
    assert _admin(jwt_lab, missing).json() == answer.json() | {
        "labkitNote": answer.json()["labkitNote"].replace("notes.txt", "notes.txt.gone")
    }  # an absent file and a present one look the same


def test_the_kid_lessons_still_work(jwt_lab: Sandbox, admin_claims: dict[str, Any]) -> None:
    null = attacks.forge({"alg": "HS256", "kid": "../" * 9 + "dev/null"}, admin_claims, b"")
    assert _admin(jwt_lab, null).status_code == 200
    pem = jwt_lab.client.get("/api/_lab/public-key").content
    confused = attacks.forge({"alg": "HS256", "kid": "access-rs256"}, admin_claims, pem)
    assert _admin(jwt_lab, confused).status_code == 200


# -- 07: SQL bounded in time, memory, rows and disk ---------------------------------------------
BLOB_UNION = """
    import resource
    from labkit.sandbox.apps import injection
    from labkit.sandbox.server import Sandbox

    with Sandbox(injection.create_app(), name="07-injection") as lab:
        lab.client.get("/api/users", params={"email": "x' OR 1=1 --"})  # warm up
        baseline()
        answers = []
        for payload in (
            "x' UNION SELECT 1, randomblob(300000000), 3, 4, 5, 6, 7 --",
            "x' UNION SELECT * FROM (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1"
            " FROM c LIMIT 40) SELECT n, hex(randomblob(8000000)), 3, 4, 5, 6, 7 FROM c) --",
        ):
            answer = lab.client.get("/api/users", params={"email": payload}, timeout=60)
            peak = peak_rss()
            answers.append([answer.status_code, answer.json(), peak - _base["rss"]])
        report(answers=answers)
"""


@pytest.mark.slow
def test_a_huge_blob_or_many_big_rows_from_a_union_stay_small() -> None:
    outcome = _measure(BLOB_UNION)
    (blob_status, blob, blob_growth), (rows_status, rows, rows_growth) = outcome["answers"]
    assert (blob_status, rows_status) == (500, 500)
    assert "string or blob over 16 MiB" in blob["labkitNote"]
    assert blob_growth < 100 * MB, f"the 300 MB blob: peak grew by {blob_growth // MB} MB"
    assert "MiB of values fetched" in rows["labkitNote"]  # 40 rows of 16 MB: cut at 32 MiB
    assert rows_growth < 200 * MB, f"40 rows of 16 MB: peak grew by {rows_growth // MB} MB"


RUNAWAY = (
    "x' OR (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c)"
    " SELECT max(n) FROM c) --"
)


@pytest.fixture
def injection_lab() -> Iterator[Sandbox]:
    app = injection.create_app()
    with Sandbox(app, name="07-injection-hostile") as box:
        yield box
    lab_state(app).close()


def test_a_runaway_recursive_query_is_stopped_with_a_lab_message(injection_lab: Sandbox) -> None:
    answer = injection_lab.client.get("/api/users", params={"email": RUNAWAY}, timeout=60)
    assert answer.status_code == 500
    assert "budget for SQL work" in answer.json()["labkitNote"]
    assert injection_lab.client.get("/api/users", params={"email": "x' OR 1=1 --"}).json()[
        "users"
    ]  # the next request is served


def _statement_running(probe: sqlite3.Connection) -> bool:
    """True while another connection of this process reads the database (holds its lock)."""
    try:
        probe.execute("BEGIN EXCLUSIVE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    probe.execute("ROLLBACK")
    return False


@pytest.mark.slow
def test_a_runaway_query_stops_when_the_lab_closes() -> None:
    app = injection.create_app()
    state = lab_state(app)
    assert state.store is not None
    state.store.guard.budget_s = 600  # only closing the lab can stop it
    probe = sqlite3.connect(state.store.path, timeout=0, isolation_level=None)
    box = Sandbox(app, name="07-injection-closing").start()
    client = httpx.Client(base_url=box.url, timeout=120, trust_env=False)

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server may stop before it answers
            client.get("/api/users", params={"email": RUNAWAY})

    try:
        threading.Thread(target=send, daemon=True).start()
        for _ in range(300):
            if _statement_running(probe):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the runaway query never started")
        state.close()
        box.stop()
        probe.execute("PRAGMA busy_timeout = 30000")  # waits for the reader to let go
        probe.execute("BEGIN EXCLUSIVE")  # "database is locked" while the query still runs
        probe.execute("ROLLBACK")
    finally:
        box.stop()
        client.close()
        probe.close()


# -- lab clocks and numbers ------------------------------------------------------------------
@pytest.fixture(scope="module")
def apikeys_lab() -> Iterator[Sandbox]:
    app = apikeys.create_app()
    with Sandbox(app, name="05-api-keys-hostile") as box:
        yield box
    lab_state(app).close()


def test_05_clock_moves_a_bounded_total_and_every_route_keeps_working(
    apikeys_lab: Sandbox,
) -> None:
    client = apikeys_lab.client
    moves = [client.post("/api/_lab/clock", json={"advanceDays": 3650}) for _ in range(12)]
    codes = [m.status_code for m in moves]
    assert codes == [200] * 10 + [422] * 2, codes
    assert "at most 36500 days" in moves[-1].json()["errors"][0]["msg"]
    alice = lab_state(apikeys_lab.app).users["alice"]
    token = client.post(
        "/api/auth/login", json={"email": alice.email, "password": alice.password}
    ).json()["accessToken"]
    auth = {"Authorization": f"Bearer {token}"}
    made = client.post("/api/keys", json={"scopes": ["reports:read"]}, headers=auth)
    assert made.status_code == 201, made.text
    assert client.get("/api/keys", headers=auth).status_code == 200
    assert client.get("/api/_lab/old-config").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"advanceDays": NaN}',
        b'{"advanceDays": Infinity}',
        b'{"advanceDays": 1e308}',
        b'{"advanceDays": -1}',
    ],
)
def test_05_clock_refuses_non_finite_and_huge_moves(apikeys_lab: Sandbox, body: bytes) -> None:
    answer = apikeys_lab.client.post(
        "/api/_lab/clock", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422


@pytest.mark.parametrize("field", ["expiresAt", "revokedAt"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e308", "-1"])
def test_05_lab_keys_refuse_times_no_clock_can_show(
    apikeys_lab: Sandbox, field: str, value: str
) -> None:
    body = f'{{"scopes": ["reports:read"], "{field}": {value}}}'.encode()
    answer = apikeys_lab.client.post(
        "/api/_lab/keys", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422


@pytest.fixture(scope="module")
def sessions_lab() -> Iterator[Sandbox]:
    app = sessions.create_app()
    with Sandbox(app, name="03-sessions-hostile") as box:
        yield box
    lab_state(app).close()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e308"])
def test_03_clock_refuses_non_finite_and_huge_moves(sessions_lab: Sandbox, value: str) -> None:
    answer = sessions_lab.client.post(
        "/api/_lab/clock",
        content=f'{{"advance": {value}}}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 422
    moved = sessions_lab.client.post("/api/_lab/clock", json={"advance": 60})
    assert moved.status_code == 200
    assert moved.json()["offset"] < 100 * 365 * 24 * 3600


@pytest.mark.parametrize(
    ("every", "until"), [("NaN", "1"), ("Infinity", "0"), ("1e300", "1e303"), ("1", "NaN")]
)
def test_03_busy_refuses_non_finite_and_huge_spans(
    sessions_lab: Sandbox, every: str, until: str
) -> None:
    body = f'{{"sessionId": "x", "every": {every}, "until": {until}}}'.encode()
    answer = sessions_lab.client.post(
        "/api/_lab/busy", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code in (400, 422)
    assert sessions_lab.client.post("/api/_lab/clock", json={"advance": 1}).status_code == 200


@pytest.mark.slow
def test_13_shop_lookup_stops_a_runaway_query(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_lab(tmp_path_factory, "13-capstone") as lab:
        bob = lab.users["bob"]
        token = lab.client.post(
            "/api/auth/login", json={"email": bob.email, "password": bob.password}
        ).json()["accessToken"]
        answer = lab.client.get(
            "/api/users",
            params={"email": RUNAWAY},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert answer.status_code == 500
        assert "budget for SQL work" in answer.json()["detail"]


@pytest.mark.slow
def test_07_database_stops_growing_at_its_cap(injection_lab: Sandbox) -> None:
    store = lab_state(injection_lab.app).store
    assert store is not None
    five_mb = injection_lab.client.post(
        "/api/users", json={"email": "long@example.com", "name": "n" * 5 * MB}
    )
    assert five_mb.status_code == 201  # 07's lesson: the vulnerable app stores it
    answers = [
        injection_lab.client.post(
            "/api/users", json={"email": f"big{i}@example.com", "name": "x" * 15 * MB}, timeout=60
        )
        for i in range(5)
    ]
    codes = [a.status_code for a in answers]
    assert codes[:3] == [201] * 3 and codes[-1] == 500, codes
    assert "capped at 64 MiB" in answers[-1].json()["labkitNote"]
    assert store.path.stat().st_size <= sqlite_guard.MAX_DATABASE_BYTES


def test_every_lab_store_connection_is_capped() -> None:
    store = LabStore("hostile")
    try:
        with store.connect() as db:
            db.execute("CREATE TABLE blobs (b BLOB)")
            db.execute("INSERT INTO blobs VALUES (zeroblob(8 * 1024 * 1024))")
        with pytest.raises(sqlite3.OperationalError, match="full"), store.connect() as db:
            for _ in range(10):
                db.execute("INSERT INTO blobs VALUES (zeroblob(8 * 1024 * 1024))")
        assert store.path.stat().st_size <= sqlite_guard.MAX_DATABASE_BYTES
    finally:
        store.close()


# -- every lab database: the same guard ---------------------------------------------------------
def test_every_lab_app_opens_sqlite_only_through_the_guarded_store() -> None:
    """Outside 07 and 13 no route puts a request's input into SQL text (every query is a
    constant with bound parameters, or names a table of the app's own): the guard there
    fences learner code and stops work at close. One place opens connections for it."""
    root = Path(labkit.sandbox.__file__).parent
    opening = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "sqlite3.connect(" in path.read_text(encoding="utf-8")
    )
    assert opening == ["store.py"]


def _runaway_authorize(*permissions: str) -> Any:
    """A learner's 06 dependency that runs endless SQL on the lab's database."""

    def caller(
        claims: Annotated[dict[str, Any], Depends(authz.token_claims)],
        db: Annotated[authz.Database, Depends(authz.database)],
    ) -> authz.User:
        with db.store.connect() as connection:
            connection.execute(RUNAWAY_SQL).fetchone()
        user = db.user(int(claims["sub"]))
        assert user is not None
        return user

    return caller


RUNAWAY_SQL = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT max(n) FROM c"


def test_06_a_learner_dependency_running_endless_sql_is_stopped_with_feedback() -> None:
    app = authz.create_app(authorize=_runaway_authorize)
    state = lab_state(app)
    assert state.store is not None
    state.store.guard.budget_s = 1  # the fix's own 10 s timeout cannot stop SQLite's C loop
    try:
        with Sandbox(app, name="06-authorization-hostile") as box:
            alice = state.users["alice"]
            token = box.client.post(
                "/api/auth/login", json={"email": alice.email, "password": alice.password}
            ).json()["accessToken"]
            answer = box.client.get(
                "/api/posts", headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            assert answer.status_code == 500
            assert "budget for SQL work" in answer.text, answer.text
            assert box.client.get("/api/_lab/dump").status_code == 200  # served as before
    finally:
        state.close()


def test_03_session_table_is_fenced_by_the_lab_database_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(sessions.REDIS_ENV, raising=False)
    store = LabStore("03-sessions-guard")
    try:
        table, where = sessions.open_session_store(store, ttl_s=60)
        assert where.startswith("sqlite")
        table.put("sid", SessionRecord(email="a@example.com", created=0.0, last_seen=0.0))
        assert table.get("sid") is not None
        store.guard.max_rows = 0
        with pytest.raises(sqlite_guard.SqlLimit, match="row cap"):
            table.get("sid")
    finally:
        store.close()


def test_07_lab_members_refuse_ages_sqlite_cannot_store(injection_lab: Sandbox) -> None:
    member = {"email": "huge@example.com", "name": "Huge", "age": 2**70}
    answer = injection_lab.client.post("/api/_lab/members", json={"users": [member]})
    assert answer.status_code == 422


@pytest.mark.parametrize("seconds", ["NaN", "Infinity", "1e308", "-600"])
def test_04_age_code_refuses_non_finite_and_huge_ages(seconds: str) -> None:
    app = oauth.create_app()
    try:
        with Sandbox(app, name="04-oauth-hostile") as box:
            answer = box.client.post(
                "/api/_lab/age-code",
                content=f'{{"code": "x", "seconds": {seconds}}}'.encode(),
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 422
            assert box.client.post("/api/_lab/age-code", json={"code": "x"}).json() == {
                "aged": False
            }
    finally:
        lab_state(app).close()


@pytest.mark.slow
def test_13_shop_clock_moves_a_bounded_total(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_lab(tmp_path_factory, "13-capstone") as lab:
        codes = [
            lab.client.post("/api/_lab/clock", json={"advanceDays": 3650}).status_code
            for _ in range(12)
        ]
        assert codes == [200] * 10 + [422] * 2, codes
        assert lab.client.get("/api/_lab/clock").json()["offsetDays"] == 36_500
        refused = lab.client.post("/api/_lab/clock", json={"advanceDays": 1}).json()
        assert "at most 36500 days" in refused["errors"][0]["msg"]
        for nonsense in (b'{"advanceDays": NaN}', b'{"advanceDays": 1e308}'):
            answer = lab.client.post(
                "/api/_lab/clock", content=nonsense, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 422
        bob = lab.users["bob"]
        token = lab.client.post(
            "/api/auth/login", json={"email": bob.email, "password": bob.password}
        ).json()["accessToken"]
        keys = lab.client.get("/api/keys", headers={"Authorization": f"Bearer {token}"})
        assert keys.status_code == 200


# -- learner fixes that run out of memory -----------------------------------------------------
GREEDY_FIX = """
    import resource
    import psutil
    from labkit.sandbox.apps import injection
    from labkit.sandbox.server import Sandbox

    def validate_user(data):
        hoard = b"x" * (2 * 1024**3)  # 2 GB, touched
        return data, None

    with Sandbox(injection.create_app(validate_user=validate_user), name="07-greedy") as lab:
        # the kernel's address space capped 1 GB above what it uses: Python raises MemoryError
        room = psutil.Process().memory_info().vms + 1024**3
        resource.setrlimit(resource.RLIMIT_AS, (room, resource.RLIM_INFINITY))
        baseline()
        answer = lab.client.post("/api/users", json={"email": "a@example.com", "name": "A"})
        again = lab.client.post("/api/users", json={"email": "b@example.com", "name": "B"})
        report(status=answer.status_code, body=answer.json(), again=again.status_code)
"""


@pytest.mark.slow
def test_a_fix_that_runs_out_of_memory_becomes_feedback() -> None:
    outcome = _measure(GREEDY_FIX)
    assert outcome["status"] == 500
    assert "validate_user ran out of memory" in outcome["body"]["labkitFault"]
    assert outcome["again"] == 500  # the kernel lives on and answers the next request
