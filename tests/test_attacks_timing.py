from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import bcrypt
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from labkit.attacks.timing import median, probe_logins, summarize, time_logins
from labkit.vulnerable import passwords as vp

ALICE = SimpleNamespace(
    email="alice@example.com",
    role="user",
    # Cost 10 (~60 ms) keeps the test fast and still dwarfs the unknown-user path.
    password_hash=bcrypt.hashpw(b"alice-password-1", bcrypt.gensalt(10)).decode(),
)


class Credentials(BaseModel):
    email: str
    password: str


def _make_app() -> FastAPI:
    app = FastAPI()
    users = {ALICE.email: ALICE}

    @app.post("/api/auth/login")
    def login(credentials: Credentials) -> JSONResponse:
        status, body = vp.login(credentials.email, credentials.password, users.get)
        return JSONResponse(body, status_code=status)

    @app.post("/plain")
    def plain() -> JSONResponse:
        return JSONResponse(["not", "an", "object"])

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    config = uvicorn.Config(
        _make_app(), host="127.0.0.1", port=0, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_probe_logins_enumerates_by_message(client: httpx.Client) -> None:
    results = probe_logins(client, ["alice@example.com", "nobody@example.com"])
    assert results == {
        "alice@example.com": (401, {"error": "Invalid password"}),
        "nobody@example.com": (401, {"error": "No such user"}),
    }
    hit = probe_logins(client, ["alice@example.com"], password="alice-password-1")
    assert hit["alice@example.com"] == (200, {"email": "alice@example.com", "role": "user"})


def test_probe_logins_non_object_body(client: httpx.Client) -> None:
    assert probe_logins(client, ["x"], path="/plain") == {
        "x": (200, {"json": ["not", "an", "object"]})
    }


def test_time_logins_reveals_unknown_users(client: httpx.Client) -> None:
    attempts = {
        "unknown user": ("nobody@example.com", "wrong-password-1"),
        "wrong password": ("alice@example.com", "wrong-password-1"),
    }
    timings = time_logins(client, attempts, rounds=5)
    assert list(timings) == ["unknown user", "wrong password"]
    assert all(len(values) == 5 for values in timings.values())
    assert all(value > 0 for values in timings.values() for value in values)
    medians = summarize(timings)
    assert medians == {label: median(values) for label, values in timings.items()}
    # No hash for unknown users: bcrypt(10) makes the known user clearly slower.
    assert medians["wrong password"] > medians["unknown user"] + 20


def test_time_logins_validation(client: httpx.Client) -> None:
    with pytest.raises(ValueError):
        time_logins(client, {"x": ("a", "b")}, rounds=0)


def test_median_reexport() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert summarize({"a": [1.0, 5.0], "b": [2.0]}) == {"a": 3.0, "b": 2.0}
