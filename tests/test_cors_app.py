"""10-cors: the attack battery against the secure app (refused) and the vulnerable app
(succeeds), the legitimate flows on both — over HTTP, and in real Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from labkit.attacks import cors
from labkit.sandbox.apps.cors import APP_ORIGIN, GATEWAYS, create_app
from labkit.sandbox.lab_server import LabServer

BYPASS = {
    "null": "null",
    "suffix": "https://evilapp.example.com",
    "prefix": "https://app.example.com.evil.net",
    "regex": "https://appxexample.com",
    "http": "http://app.example.com",
}
SPOOFS = ["https://evil.example.net", "https://evilapp.example.com",
          "https://app.example.com.evil.net", "https://appxexample.com"]  # fmt: skip


def serve(**options: object) -> Iterator[LabServer]:
    server = LabServer(create_app(**options), name="test-10-cors").start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def vulnerable() -> Iterator[LabServer]:
    yield from serve(secure=False)


@pytest.fixture(scope="module")
def reference() -> Iterator[LabServer]:
    yield from serve(secure=True, frontend=True)


@pytest.fixture(scope="module")
def served_secure() -> Iterator[LabServer]:
    """What ``labkit serve 10-cors --secure`` builds: no frontend companion."""
    yield from serve(secure=True)


def victim_of(server: LabServer) -> tuple[str, str]:
    body = server.main.client.get("/api/_lab/victim").json()
    return body["email"], body["password"]


def session(server: LabServer) -> dict[str, str]:
    email, password = victim_of(server)
    response = server.main.client.post(
        "/api/auth/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200
    return dict(response.cookies)


def battery(server: LabServer) -> dict[str, str]:
    return {**cors.ORIGIN_BATTERY, "attacker": cors.origin_of(server.urls["attacker"])}


# -- legitimate flows ----------------------------------------------------------------------
@pytest.mark.parametrize("app", ["vulnerable", "reference"])
def test_login_sets_a_session_cookie_and_both_credentials_read_the_account(
    app: str, request: pytest.FixtureRequest
) -> None:
    server: LabServer = request.getfixturevalue(app)
    email, password = victim_of(server)
    client = server.main.client
    login = client.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200 and "accessToken" in login.json()
    cookie = login.headers["set-cookie"].lower()
    for attribute in ("httponly", "secure", "samesite=lax", "path=/api"):
        assert attribute in cookie
    bearer = {"Authorization": f"Bearer {login.json()['accessToken']}"}
    by_token = client.get("/api/account", headers=bearer).json()
    by_cookie = client.get(
        "/api/account", headers={"Cookie": f"session={login.cookies['session']}"}
    ).json()
    assert by_token == by_cookie and by_token["email"] == email and "recoveryCode" in by_token
    renamed = client.put("/api/account", json={"name": "Alice A."}, headers=bearer)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Alice A."
    anonymous = client.get("/api/account", headers={"Cookie": ""})
    assert anonymous.status_code == 401 and anonymous.json() == {"error": "Missing token"}
    wrong = client.post("/api/auth/login", json={"email": email, "password": "nope"})
    assert wrong.status_code == 401 and wrong.json() == {"error": "Invalid email or password"}


def test_legacy_routes_exist_in_both_apps(vulnerable: LabServer, reference: LabServer) -> None:
    for server in (vulnerable, reference):
        headers = {"Cookie": f"session={session(server)['session']}"}
        for gateway in GATEWAYS:
            path = f"/api/legacy/{gateway}/account"
            assert server.main.client.get(path, headers=headers).status_code == 200
        missing = server.main.client.get("/api/legacy/nope/account", headers=headers)
        assert missing.status_code == 404


def test_trusted_origins_read_with_credentials_on_the_reference(reference: LabServer) -> None:
    frontend = cors.origin_of(reference.urls["frontend"])
    for origin in (APP_ORIGIN, frontend):
        probe = cors.probe_origin(reference.main.client, origin)
        assert probe.readable and probe.allow_origin == origin and "Origin" in probe.vary
        preflight = cors.probe_origin(reference.main.client, origin, preflight="PUT")
        assert preflight.status == 200 and preflight.readable


# -- the battery ---------------------------------------------------------------------------
def test_vulnerable_app_reflects_every_origin_with_credentials(vulnerable: LabServer) -> None:
    cookies = session(vulnerable)
    for origin in battery(vulnerable).values():
        probe = cors.probe_origin(vulnerable.main.client, origin, cookies=cookies)
        assert probe.readable and probe.status == 200, probe
        assert cors.probe_origin(vulnerable.main.client, origin, preflight="PUT").readable


@pytest.mark.parametrize("gateway", sorted(BYPASS))
def test_each_vulnerable_gateway_falls_to_its_bypass(vulnerable: LabServer, gateway: str) -> None:
    path = f"/api/legacy/{gateway}/account"
    probe = cors.probe_origin(
        vulnerable.main.client, BYPASS[gateway], path=path, cookies=session(vulnerable)
    )
    assert probe.readable and probe.status == 200
    assert "Origin" not in probe.vary  # the hand-rolled middleware forgets Vary
    other = cors.probe_origin(vulnerable.main.client, "https://evil.example.net", path=path)
    assert other.allow_origin is None


@pytest.mark.parametrize("app", ["reference", "served_secure"])
def test_secure_app_refuses_the_whole_battery_everywhere(
    app: str, request: pytest.FixtureRequest
) -> None:
    server: LabServer = request.getfixturevalue(app)
    cookies = session(server)
    paths = ["/api/account", *(f"/api/legacy/{g}/account" for g in GATEWAYS)]
    for origin in battery(server).values():
        for path in paths:
            probe = cors.probe_origin(server.main.client, origin, path=path, cookies=cookies)
            assert probe.status == 200  # a refused simple GET is still answered...
            assert probe.allow_origin is None, (origin, path)  # ...without ACAO
            assert "Origin" in probe.vary
            preflight = cors.probe_origin(server.main.client, origin, path=path, preflight="PUT")
            assert preflight.allow_origin is None and not preflight.readable


def test_secure_preflight_allows_only_get_and_put(reference: LabServer) -> None:
    headers = {
        "Origin": APP_ORIGIN,
        "Access-Control-Request-Method": "DELETE",
    }
    assert reference.main.client.options("/api/account", headers=headers).status_code == 400
    ok = reference.main.client.options(
        "/api/account", headers={**headers, "Access-Control-Request-Method": "PUT"}
    )
    assert ok.headers["access-control-allow-methods"] == "GET, PUT"
    assert ok.headers["access-control-max-age"] == "600"


def test_serve_secure_trusts_app_example_com_only(served_secure: LabServer) -> None:
    assert "frontend" not in served_secure.urls
    assert served_secure.state.extras["allowed_origins"] == APP_ORIGIN


def test_labkit_serve_secure_allows_app_example_com_only() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labkit", "serve", "10-cors", "--secure"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        url = lines[0].split(" at ")[1].strip()
        assert any(line == f"allowed_origins {APP_ORIGIN}\n" for line in lines)
        with httpx.Client(base_url=url, trust_env=False) as client:
            assert cors.probe_origin(client, APP_ORIGIN).allow_origin == APP_ORIGIN
            for origin in cors.ORIGIN_BATTERY.values():
                assert cors.probe_origin(client, origin).allow_origin is None
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_broken_learner_policy_is_a_500_with_labkit_fault() -> None:
    def typo(trusted: list[str]) -> dict[str, object]:
        return {"allow_origin": trusted}  # CORSMiddleware has no such argument

    for server in serve(cors_settings=typo):
        answer = server.main.client.get("/api/account")
        assert (
            answer.status_code == 500 and "CORSMiddleware refuses" in answer.json()["labkitFault"]
        )


# -- in a real browser ---------------------------------------------------------------------
@pytest.mark.browser
def test_browser_attacker_page_steals_from_the_vulnerable_app(
    vulnerable: LabServer, chromium_path: str
) -> None:
    reads = cors.browser_reads(
        vulnerable.url, vulnerable.urls["attacker"], victim=victim_of(vulnerable),
        pages=["attacker", "null", *SPOOFS], frontend_url=vulnerable.urls["frontend"],
    )  # fmt: skip
    by_page = {read.page: read for read in reads}
    assert by_page["attacker"].stolen and by_page["attacker"].via.startswith("Chromium")
    assert by_page["attacker"].body["email"] == victim_of(vulnerable)[0]
    for page in ["null", *SPOOFS]:  # readable; the Lax cookie stays home cross-site
        assert by_page[page].readable and by_page[page].status == 401
    assert by_page["frontend"].stolen and by_page["frontend"].wrote == 200


@pytest.mark.browser
def test_browser_attack_fails_against_the_secure_app_and_the_frontend_works(
    reference: LabServer, chromium_path: str
) -> None:
    reads = cors.browser_reads(
        reference.url, reference.urls["attacker"], victim=victim_of(reference),
        pages=["attacker", "null", *SPOOFS], frontend_url=reference.urls["frontend"],
    )  # fmt: skip
    for read in reads:
        if read.page == "frontend":
            assert read.stolen and read.wrote == 200
        else:
            assert not read.readable and "Failed to fetch" in read.error


@pytest.mark.browser
@pytest.mark.parametrize("app", ["vulnerable", "reference"])
def test_the_simulation_agrees_with_the_browser(
    app: str, request: pytest.FixtureRequest, chromium_path: str
) -> None:
    server: LabServer = request.getfixturevalue(app)
    options = {
        "victim": victim_of(server),
        "pages": ["attacker", "null", "https://evilapp.example.com"],
        "frontend_url": server.urls["frontend"],
    }
    real = cors.browser_reads(server.url, server.urls["attacker"], **options)  # type: ignore[arg-type]
    simulated = cors.simulate_reads(server.url, server.urls["attacker"], **options)  # type: ignore[arg-type]
    assert all(read.via.startswith("SIMULATION") for read in simulated)
    assert [(r.origin, r.readable, r.status, r.wrote) for r in real] == [
        (r.origin, r.readable, r.status, r.wrote) for r in simulated
    ]
