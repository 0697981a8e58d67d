"""Every lab app answers ``/`` and serves ``/docs`` offline, with relative URLs only; a page
that carries planted HTML is sandboxed when it is not asked on the sandbox's own origin."""

from __future__ import annotations

import json
import re
import sqlite3

import httpx
import pytest

from labkit.exercises.registry import LABS, get_lab
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.apps.pages import PLANTED_CSP
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


# -- behind a proxy prefix (the browser side is tests/test_proxy_pages.py) ------------------
ROOT_RELATIVE = re.compile(r"""(?:href|src|action)\s*=\s*['"]/|fetch\(\s*['"`]/""", re.I)


@pytest.mark.parametrize("lab_id", list(LABS))
def test_no_lab_page_links_to_a_root_relative_url(lab_id: str) -> None:
    """``/x`` leaves a hub's ``/user/NAME/proxy/PORT/`` prefix: no page, form or script of
    any app of the lab may use one (the scripts they load included)."""
    app = get_lab(lab_id).create_app(secure=False)
    with served(app, lab_id) as target:
        for name, url in target.urls.items():
            if url.startswith("https://"):
                continue  # jupyter-server-proxy cannot reach a TLS listener anyway
            with httpx.Client(base_url=url, trust_env=False) as client:
                for path in ("/", "/login", "/profile", "/static/login.js", "/docs"):
                    page = client.get(path)
                    kind = page.headers.get("content-type", "")
                    if kind.startswith(("text/html", "text/javascript")):
                        assert not ROOT_RELATIVE.search(page.text), (name, path, page.text[:400])


def test_a_planted_page_is_sandboxed_unless_asked_on_the_sandbox_own_origin() -> None:
    app = get_lab("03-sessions").create_app(secure=False)
    with served(app, "03") as target, target.client() as client:
        port = target.url.rsplit(":", 1)[1]
        path = "/api/_lab/xss?html=<script>1</script>"

        def csp(**headers: str) -> list[str]:
            return client.get(path, headers=headers).headers.get_list("content-security-policy")

        assert csp() == [] and csp(host=f"localhost:{port}") == []  # the lessons' origins
        assert csp(host="hub.example") == [PLANTED_CSP]  # jupyter-server-proxy passes it on
        assert csp(host="hub.example:8000") == [PLANTED_CSP]
        context = f"/user/alice/proxy/{port}"
        assert csp(**{"x-forwarded-context": context}) == [PLANTED_CSP]


def test_a_planted_page_keeps_its_sandbox_under_the_lab_s_own_csp() -> None:
    """12's security-header middleware adds its CSP beside the sandbox, never over it."""
    app = get_lab("12-headers").create_app(secure=True)
    with served(app, "12") as target, target.client() as client:
        proxied = client.get("/?q=tea", headers={"host": "hub.example"})
        policies = proxied.headers.get_list("content-security-policy")
        assert PLANTED_CSP in policies and len(policies) == 2, policies
        assert "<style>" in proxied.text  # its own site.css request would carry no hub cookie
        direct = client.get("/?q=tea").headers.get_list("content-security-policy")
        assert len(direct) == 1 and PLANTED_CSP not in direct


def test_a_link_to_another_app_goes_through_the_same_proxy() -> None:
    app = get_lab("10-cors").create_app(secure=False)
    with served(app, "10") as target, httpx.Client(trust_env=False) as client:
        frontend, api = target.urls["frontend"], target.urls["main"]
        front_port, api_port = frontend.rsplit(":", 1)[1], api.rsplit(":", 1)[1]
        assert f"const API = {json.dumps(api)};" in client.get(frontend + "/").text
        proxied = client.get(
            frontend + "/", headers={"x-forwarded-context": f"/user/alice/proxy/{front_port}"}
        )
        assert f'const API = "/user/alice/proxy/{api_port}";' in proxied.text
