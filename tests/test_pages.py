"""Every lab app answers ``/`` and serves ``/docs`` offline, with relative URLs only."""

from __future__ import annotations

import re
import sqlite3

import httpx
import pytest

from labkit.exercises.registry import LABS, get_lab
from labkit.sandbox.apps.base import LabState, new_lab_app
from tests.labs import served


def _docs_work_offline_and_relative(client: httpx.Client) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", docs.text)
    assert assets, docs.text[:300]
    for url in assets:
        assert not url.startswith(("http:", "https:", "//", "/")), url
        assert client.get(f"/{url}").status_code == 200, url
    assert re.findall(r"url:\s*'([^']+)'", docs.text) == ["openapi.json"]
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("lab_id", list(LABS))
def test_every_app_answers_slash_and_serves_docs_from_its_own_assets(lab_id: str) -> None:
    app = get_lab(lab_id).create_app(secure=False)
    with served(app, lab_id) as target, target.client() as client:
        index = client.get("/")
        assert index.status_code == 200, index.text[:200]
        assert "text/html" in index.headers["content-type"]
        _docs_work_offline_and_relative(client)


def test_an_unknown_path_is_still_a_json_404() -> None:
    app = get_lab("00-welcome").create_app(secure=False)
    with served(app, "00") as target, target.client() as client:
        missing = client.get("/no/such/page")
        assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}


def test_an_id_past_64_bits_is_a_404_not_a_500() -> None:
    app = new_lab_app("ids", secure=True, state=LabState(secure=True))

    @app.get("/api/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        with sqlite3.connect(":memory:") as db:  # sqlite3 raises OverflowError past 2**63-1
            db.execute("SELECT ?", (thing_id,)).fetchone()
        return {"id": thing_id}

    with served(app, "ids") as target, target.client() as client:
        assert client.get("/api/things/7").status_code == 200
        response = client.get(f"/api/things/{2**64 + 5}")
        assert response.status_code == 404 and response.json() == {"error": "Not found"}
