"""05-api-keys: every attack succeeds against the vulnerable app and fails against
``create_app(secure=True)``; legitimate clients work on both — over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from labkit.attacks.apikeys import keys_in_log, log_in, probe_scopes, try_keys
from labkit.patterns.apikeys import looks_like_api_key
from labkit.sandbox.apps.apikeys import create_app
from labkit.sandbox.apps.base import LabState, lab_state
from labkit.sandbox.server import Sandbox

READ_ONLY = {"GET /api/v1/reports": 200, "POST /api/v1/reports": 403}
App = tuple[bool, httpx.Client, LabState]


@pytest.fixture(scope="module", params=[False, True], ids=["vulnerable", "secure"])
def app(request: pytest.FixtureRequest) -> Iterator[App]:
    secure = bool(request.param)
    application = create_app(secure=secure)
    state = lab_state(application)
    with Sandbox(application, name=f"05-{request.param}") as box:
        yield secure, box.client, state
    state.close()


def login(client: httpx.Client, state: LabState, who: str) -> dict[str, str]:
    return log_in(client, state.users[who].email, state.users[who].password)


def new_key(client: httpx.Client, auth: dict[str, str], scopes: list[str]) -> dict[str, object]:
    response = client.post("/api/keys", json={"scopes": scopes}, headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


def read(client: httpx.Client, key: str) -> int:
    return client.get("/api/v1/reports", headers={"X-API-Key": key}).status_code


# -- legitimate flows ----------------------------------------------------------------------
def test_a_user_creates_a_key_and_a_script_uses_it(app: App) -> None:
    secure, client, state = app
    created = new_key(client, login(client, state, "alice"), ["reports:read", "reports:write"])
    key = str(created["key"])
    assert set(created) >= {"id", "key", "scopes"}
    assert looks_like_api_key(key) is secure
    assert read(client, key) == 200
    wrote = client.post("/api/v1/reports", headers={"X-API-Key": key}, json={"title": "Q3"})
    assert wrote.status_code == 201 and wrote.json()["createdBy"] == "my-script"
    listed = client.get("/api/keys", headers=login(client, state, "alice")).json()["keys"]
    assert all("key" not in k and "key_hash" not in k for k in listed)  # shown once only


def test_error_bodies_match_the_contract(app: App) -> None:
    _, client, state = app
    missing = client.get("/api/v1/reports")
    assert (missing.status_code, missing.json()) == (401, {"error": "API key required"})
    unknown = client.get("/api/v1/reports", headers={"X-API-Key": "lk_live_nope"})
    assert (unknown.status_code, unknown.json()) == (401, {"error": "Invalid API key"})
    no_login = client.post("/api/keys", json={"scopes": ["reports:read"]})
    assert no_login.status_code == 401
    viewer = client.post("/api/keys", json={"scopes": ["reports:write"]},
                         headers=login(client, state, "carol"))  # fmt: skip
    assert viewer.status_code == 403  # a key never exceeds its owner's role


def test_rotation_window_with_two_active_keys(app: App) -> None:
    _, client, state = app
    auth = login(client, state, "bob")
    old, new = new_key(client, auth, ["reports:read"]), new_key(client, auth, ["reports:read"])
    assert (read(client, str(old["key"])), read(client, str(new["key"]))) == (200, 200)
    assert client.delete(f"/api/keys/{old['id']}", headers=auth).status_code == 204
    assert read(client, str(new["key"])) == 200


# -- the attack battery ------------------------------------------------------------------
def test_leaked_table(app: App) -> None:
    secure, client, _ = app
    leak = client.get("/api/_lab/dump").json()["api_keys"]
    usable = try_keys(client, [str(v) for row in leak for v in row.values()])
    assert (not usable) if secure else len(usable) == len(leak)


def test_key_in_query_string_and_access_log(app: App) -> None:
    secure, client, state = app
    key = str(new_key(client, login(client, state, "alice"), ["reports:read"])["key"])
    assert client.get("/api/v1/reports", params={"api_key": key}).status_code == (
        401 if secure else 200
    )
    assert client.post("/api/_lab/partner-job").json()["status"] == 200
    lines = client.get("/api/_lab/access-log").json()["lines"]
    harvested = keys_in_log(lines)
    if secure:
        assert not any(key in line for line in lines)
        assert not try_keys(client, harvested)
    else:
        assert key in harvested and len(try_keys(client, harvested)) == 2  # ours + partner's


def test_revoked_key(app: App) -> None:
    secure, client, state = app
    auth = login(client, state, "alice")
    created = new_key(client, auth, ["reports:read"])
    client.delete(f"/api/keys/{created['id']}", headers=auth)
    assert read(client, str(created["key"])) == (401 if secure else 200)


def test_missing_scope(app: App) -> None:
    secure, client, state = app
    key = str(new_key(client, login(client, state, "carol"), ["reports:read"])["key"])
    probe = probe_scopes(client, key)
    assert probe == READ_ONLY if secure else probe["POST /api/v1/reports"] == 201


def test_one_key_forever(app: App) -> None:
    secure, client, _ = app
    content = client.get("/api/_lab/old-config").json()["content"]
    old = content.split("REPORTS_API_KEY=")[1].split()[0]
    assert read(client, old) == (401 if secure else 200)


def test_expiry_follows_the_clock(app: App) -> None:
    secure, client, state = app
    auth = login(client, state, "alice")
    short = client.post("/api/keys", json={"scopes": ["reports:read"], "expiresInDays": 1},
                        headers=auth).json()  # fmt: skip
    assert read(client, short["key"]) == 200
    client.post("/api/_lab/clock", json={"advanceDays": 2})
    assert read(client, short["key"]) == (401 if secure else 200)
    assert client.post("/api/keys", json={"scopes": ["reports:read"], "expiresInDays": 400},
                       headers=auth).status_code in (400, 422)  # fmt: skip


def test_decodings_only_yield_values_that_can_travel_in_a_header() -> None:
    import base64

    from labkit.attacks.apikeys import decodings

    value = base64.b64encode("clé-ô-secrète".encode()).decode()  # decodes to valid UTF-8
    forms = decodings(value)
    assert value in forms
    assert all(form.isascii() and form.isprintable() for form in forms)
