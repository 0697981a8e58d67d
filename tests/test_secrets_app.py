"""08-secrets: every attack succeeds on the vulnerable TeamNotes and is refused by the secure
one; the legitimate flows work on both. Real servers, real git, real PyJWT."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import pytest

from labkit.attacks.jwt import decode_unverified, forge
from labkit.attacks.secret_scan import scan_git_history, scan_tree
from labkit.patterns.apikeys import generate_api_key
from labkit.sandbox.apps.settings import create_app
from labkit.sandbox.lab_server import LabServer


@pytest.fixture(scope="module")
def vulnerable() -> Iterator[LabServer]:
    server = LabServer(create_app(secure=False), name="08-vulnerable").start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def secure() -> Iterator[LabServer]:
    server = LabServer(create_app(secure=True), name="08-secure").start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=["vulnerable", "secure"])
def any_app(request: pytest.FixtureRequest) -> LabServer:
    return request.getfixturevalue(request.param)


def accounts(client: httpx.Client) -> dict[str, dict[str, str]]:
    return {a["role"]: a for a in client.get("/api/_lab/accounts").json()}


def login(client: httpx.Client, role: str) -> str:
    account = accounts(client)[role]
    response = client.post(
        "/api/auth/login", json={"email": account["email"], "password": account["password"]}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["accessToken"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_forgery(client: httpx.Client, secret: str) -> str:
    """What an attacker does with a signing secret: copy a real token, become admin."""
    header, claims = decode_unverified(login(client, "viewer"))
    return forge({**header, "alg": "HS256"}, {**claims, "sub": "1", "role": "admin"},
                 secret.encode())  # fmt: skip


def alive(client: httpx.Client, tokens: list[str]) -> int:
    return sum(client.get("/api/me", headers=bearer(t)).status_code == 200 for t in tokens)


# -- legitimate flows on both ------------------------------------------------------------
def test_login_me_admin_and_forbidden(any_app: LabServer) -> None:
    client = any_app.main.client
    admin, editor = login(client, "admin"), login(client, "editor")
    assert client.get("/api/me", headers=bearer(admin)).json()["role"] == "admin"
    assert client.get("/api/admin/users", headers=bearer(admin)).status_code == 200
    refused = client.get("/api/admin/users", headers=bearer(editor))
    assert (refused.status_code, refused.json()) == (403, {"error": "Insufficient permissions"})
    assert client.get("/api/me").json() == {"error": "Missing token"}
    assert client.get("/api/me", headers=bearer("a.b.c")).json() == {"error": "Invalid token"}
    wrong = client.post("/api/auth/login", json={"email": "alice@example.com", "password": "x"})
    assert wrong.status_code == 401


def test_stats_and_export_missing_key(any_app: LabServer) -> None:
    client = any_app.main.client
    assert client.get("/api/stats/2024-05").json()["month"] == "2024-05"
    assert client.get("/api/v1/export").json() == {"error": "API key required"}
    bad = client.get("/api/v1/export", headers={"X-API-Key": generate_api_key()})
    assert (bad.status_code, bad.json()) == (401, {"error": "Invalid API key"})


def test_secure_export_works_with_the_vaults_key(secure: LabServer) -> None:
    client = secure.main.client
    key = client.get("/api/_lab/vault").json()["env"]["EXPORT_API_KEY"]
    assert client.get("/api/v1/export", headers={"X-API-Key": key}).status_code == 200


# -- attack: a key hard-coded in the source ----------------------------------------------
def test_hardcoded_key_in_source_works_on_vulnerable(vulnerable: LabServer) -> None:
    client = vulnerable.main.client
    path = client.get("/api/_lab/repo").json()["path"]
    keys = [f.secret for f in scan_tree(path) if f.rule == "labkit API key"]
    assert len(keys) == 1
    assert client.get("/api/v1/export", headers={"X-API-Key": keys[0]}).status_code == 200
    vault_key = client.get("/api/_lab/vault").json()["env"]["EXPORT_API_KEY"]
    assert client.get("/api/v1/export", headers={"X-API-Key": vault_key}).status_code == 401


def test_secure_source_and_history_hold_no_secret(secure: LabServer) -> None:
    repo = secure.main.client.get("/api/_lab/repo").json()
    assert ".env.example" in repo["files"] and ".env" not in repo["files"]
    assert scan_tree(repo["path"]) == []
    assert scan_git_history(repo["path"]) == []


# -- attack: the secret in git history ---------------------------------------------------
def test_history_secret_forges_admin_on_vulnerable(vulnerable: LabServer) -> None:
    client = vulnerable.main.client
    path = client.get("/api/_lab/repo").json()["path"]
    history = scan_git_history(path)
    in_env_file = [f for f in history if f.path == ".env" and f.rule == "secret assignment"]
    assert in_env_file, [str(f) for f in history]
    assert any(f.path == "app/config.py" and f.secret == in_env_file[0].secret for f in history)
    assert not any(f.path == ".env" for f in scan_tree(path))  # deleted from the files...
    forged = admin_forgery(client, in_env_file[0].secret)  # ...but it still signs
    assert client.get("/api/admin/users", headers=bearer(forged)).status_code == 200


def test_guessed_or_leaked_secrets_forge_nothing_on_secure(secure: LabServer) -> None:
    client = secure.main.client
    for guess in ("dev-secret-change-me", secrets.token_urlsafe(32)):
        forged = admin_forgery(client, guess)
        assert client.get("/api/admin/users", headers=bearer(forged)).status_code == 401


# -- attack: the debug page --------------------------------------------------------------
def test_debug_page_leaks_environment_on_vulnerable(vulnerable: LabServer) -> None:
    client = vulnerable.main.client
    env = client.get("/api/_lab/vault").json()["env"]
    page = client.get("/api/stats/13-2024")
    assert page.status_code == 500 and "text/html" in page.headers["content-type"]
    assert "Traceback" in page.text
    for name in ("JWT_SECRET", "DATABASE_URL", "EXPORT_API_KEY"):
        assert env[name] in page.text
    secret = re.search(r"<th>JWT_SECRET</th><td>([^<]+)</td>", page.text)
    assert secret is not None
    forged = admin_forgery(client, secret.group(1))
    assert client.get("/api/admin/users", headers=bearer(forged)).status_code == 200
    # and the same secrets are in its startup log and settings dump
    log = "\n".join(client.get("/api/_lab/logs").json()["lines"])
    assert env["JWT_SECRET"] in log
    assert env["JWT_SECRET"] in client.get("/api/_lab/config").json()["repr"]


def test_secure_errors_and_prints_show_no_secret(secure: LabServer) -> None:
    client = secure.main.client
    env = client.get("/api/_lab/vault").json()["env"]
    page = client.get("/api/stats/13-2024")
    assert page.status_code == 500
    assert page.json()["error"] == "Internal server error" and "incident" in page.json()
    shown = [page.text, str(client.get("/api/_lab/config").json()),
             "\n".join(client.get("/api/_lab/logs").json()["lines"])]  # fmt: skip
    for text in shown:
        for name in ("JWT_SECRET", "DATABASE_URL", "EXPORT_API_KEY"):
            assert env[name] not in text
    assert "**********" in shown[1]


# -- fail fast ---------------------------------------------------------------------------
def boot(client: httpx.Client, **env: str) -> dict[str, object]:
    good = {
        "APP_ENV": "production",
        "JWT_SECRET": secrets.token_urlsafe(32),
        "EXPORT_API_KEY": generate_api_key(),
        "DATABASE_URL": "postgresql://notes:pw@db/notes",
    }
    merged = {k: v for k, v in {**good, **env}.items() if v != "<unset>"}
    return dict(client.post("/api/_lab/boot", json={"env": merged}).json())


@pytest.mark.parametrize(
    "env",
    [
        {"JWT_SECRET": "<unset>"},
        {"JWT_SECRET": "changeme"},
        {"DEBUG": "true"},
        {"EXPORT_API_KEY": "<unset>"},
    ],
)
def test_weak_configs_start_on_vulnerable_and_fail_fast_on_secure(
    vulnerable: LabServer, secure: LabServer, env: dict[str, str]
) -> None:
    assert boot(vulnerable.main.client, **env)["started"] is True
    refused = boot(secure.main.client, **env)
    assert refused["started"] is False and "SettingsError" in str(refused["error"])
    assert boot(secure.main.client)["started"] is True


# -- rotation ----------------------------------------------------------------------------
def sessions(client: httpx.Client) -> list[str]:
    return [login(client, role) for role in ("admin", "editor", "viewer") for _ in range(2)]


def test_rotation_in_place_logs_everyone_out_on_vulnerable() -> None:
    server = LabServer(create_app(secure=False), name="08-rotate").start()
    try:
        client = server.main.client
        tokens = sessions(client)
        assert alive(client, tokens) == len(tokens)
        assert client.post("/api/_lab/keys/rotate").status_code == 200
        assert alive(client, tokens) == 0
        assert alive(client, [login(client, "viewer")]) == 1
    finally:
        server.close()


def test_five_steps_cannot_save_the_vulnerable_code() -> None:
    server = LabServer(create_app(secure=False), name="08-five-steps").start()
    try:
        client = server.main.client
        tokens = sessions(client)
        client.post("/api/_lab/keys/new")
        assert alive(client, tokens) == len(tokens)
        client.post("/api/_lab/keys/promote")
        assert alive(client, tokens) == 0  # no kid, one key: everybody out at step 3
    finally:
        server.close()


def test_secure_rotation_keeps_sessions_and_retires_the_old_key() -> None:
    server = LabServer(create_app(secure=True), name="08-secure-rotation").start()
    try:
        client = server.main.client
        leaked = client.get("/api/_lab/vault").json()["env"]["JWT_SECRET"]
        assert client.post("/api/_lab/keys/rotate").status_code == 409
        tokens = sessions(client)
        first = client.get("/api/_lab/keys").json()["activeKid"]
        new = client.post("/api/_lab/keys/new").json()["kid"]
        assert alive(client, tokens) == len(tokens)
        client.post("/api/_lab/keys/promote")
        assert alive(client, tokens) == len(tokens)  # nobody logged out
        fresh = login(client, "viewer")
        assert decode_unverified(fresh)[0]["kid"] == new
        keys = {k["kid"]: k for k in client.get("/api/_lab/keys").json()["keys"]}
        assert keys[first]["status"] == "previous" and keys[first]["uses"] > 0
        assert client.post("/api/_lab/keys/retire").json()["retired"] == [first]
        assert alive(client, tokens) == 0
        assert alive(client, [fresh]) == 1
        forged = admin_forgery(client, leaked)  # copies the new kid: wrong key for it
        header, claims = decode_unverified(forged)
        old_kid_forgery = forge({**header, "kid": first}, claims, leaked.encode())
        for token in (forged, old_kid_forgery):
            assert client.get("/api/admin/users", headers=bearer(token)).status_code == 401
        promote_again = client.post("/api/_lab/keys/promote")
        assert promote_again.status_code == 409
    finally:
        server.close()
