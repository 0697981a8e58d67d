"""A lab of several apps: each in its own sandbox (its own origin), told each other's URLs."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.lab_server import LabServer


def two_app_lab() -> tuple[FastAPI, LabState]:
    """An app whose companion must know the main app's URL, and vice versa."""
    state = LabState(secure=False)
    main = new_lab_app("test", secure=False, state=state)
    client = FastAPI()

    @main.get("/peer")
    def main_peer() -> dict[str, str]:
        return {"peer": state.urls["client"]}

    @client.get("/peer")
    def client_peer() -> dict[str, str]:
        return {"peer": state.urls["main"]}

    state.companions["client"] = client
    state.on_started.append(lambda urls: state.extras.update(client=urls["client"] + "/cb"))
    return main, state


def test_companions_get_their_own_origin_and_learn_each_others_urls() -> None:
    app, state = two_app_lab()
    server = LabServer(app, name="two").start()
    try:
        urls = server.urls
        assert set(urls) == {"main", "client"} and urls["main"] != urls["client"]
        with httpx.Client(trust_env=False) as http:
            assert http.get(urls["main"] + "/peer").json() == {"peer": urls["client"]}
            assert http.get(urls["client"] + "/peer").json() == {"peer": urls["main"]}
        assert state.extras["client"] == urls["client"] + "/cb"
    finally:
        server.close()
    assert not server.main.running and not server.companions["client"].running


def test_a_single_app_lab_has_only_main() -> None:
    state = LabState(secure=False)
    server = LabServer(new_lab_app("one", secure=False, state=state), name="one").start()
    try:
        assert list(server.urls) == ["main"] and state.urls == server.urls
    finally:
        server.close()
