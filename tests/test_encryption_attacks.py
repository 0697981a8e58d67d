"""09-encryption: every attack succeeds against the vulnerable app and fails against
``create_app(secure=True)``; legitimate use works on both — over real HTTPS and HTTP."""

from __future__ import annotations

import base64
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import labkit.vulnerable.crypto
from labkit.attacks import crypto as attack
from labkit.exercises.labs.encryption import LAB, proxy_address_usable
from labkit.exercises.runner import run_check
from labkit.sandbox.apps.encryption import create_app
from labkit.sandbox.lab_server import LabServer
from labkit.sandbox.tls import client_context

HSTS = "max-age=31536000; includeSubDomains"


@dataclass
class App:
    secure: bool
    server: LabServer
    api: httpx.Client  # HTTPS, trusting the lab CA
    plain: httpx.Client  # the plain-HTTP listener

    def login(self, who: str) -> dict[str, str]:
        user = self.server.state.users[who]
        response = self.api.post(
            "/api/auth/login", json={"email": user.email, "password": user.password}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['accessToken']}"}

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return dict(self.api.get("/api/_lab/dump").json())

    def note(self, who: dict[str, str], text: str) -> int:
        response = self.api.post("/api/records", json={"data": text}, headers=who)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


@pytest.fixture(scope="module", params=[False, True], ids=["vulnerable", "secure"])
def app(request: pytest.FixtureRequest) -> Iterator[App]:
    server = LabServer(create_app(secure=bool(request.param)), name="09-test").start()
    context = client_context(cafile=server.state.extras["ca"])
    api = httpx.Client(base_url=server.url, verify=context, trust_env=False)
    plain = httpx.Client(base_url=server.urls["http"], trust_env=False)
    try:
        yield App(bool(request.param), server, api, plain)
    finally:
        api.close()
        plain.close()
        server.close()


def ciphertext(row: dict[str, Any]) -> bytes:
    return base64.b64decode(row["stored"]["ciphertext"])


# -- legitimate use ------------------------------------------------------------------------
def test_the_lab_serves_https_and_names_its_listeners(app: App) -> None:
    facts = app.server.state.extras
    assert app.server.url.startswith("https://")
    assert facts["http"] == app.server.urls["http"] and facts["http"].startswith("http://")
    assert facts["ca"].endswith("ca.pem") and facts["trusted proxy"] == "127.0.0.2"
    assert app.api.get("/api/status").json() == {"ok": True, "connection": "https"}
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(app.server.url + "/api/status", trust_env=False)


def test_plain_http_is_redirected_to_the_https_origin(app: App) -> None:
    response = app.plain.post("/api/records?x=1", json={"data": "hi"})
    assert response.status_code == (308 if app.secure else 301)
    assert response.headers["location"] == f"{app.server.url}/api/records?x=1"
    assert app.api.get("/api/status").headers["strict-transport-security"] == HSTS


def test_notes_files_and_profiles_work(app: App) -> None:
    dave = app.login("dave")
    text = "a note with ünïcode 🔐 " * 5
    note = app.note(dave, text)
    assert app.api.get(f"/api/records/{note}", headers=dave).json() == {"id": note, "data": text}
    assert {"id": note} in app.api.get("/api/records", headers=dave).json()
    picture = attack.sample_bitmap()
    uploaded = app.api.post("/api/files", content=picture, headers=dave).json()
    back = app.api.get(f"/api/files/{uploaded['id']}", headers=dave)
    assert back.status_code == 200 and back.content == picture
    alice = app.login("alice")
    cookie = app.api.get("/api/profile", headers=alice).cookies["profile"]
    app.api.cookies.clear()
    admin = app.api.get("/api/admin/users", headers={**alice, "Cookie": f"profile={cookie}"})
    assert admin.status_code == 200 and admin.json()["as"]["role"] == "admin"


def test_notes_are_private(app: App) -> None:
    note = app.note(app.login("carol"), "carol's")
    response = app.api.get(f"/api/records/{note}", headers=app.login("alice"))
    assert response.status_code == 403
    assert response.json() == {"error": "Insufficient permissions"}
    assert app.api.get("/api/records/99999", headers=app.login("alice")).status_code == 404
    assert app.api.get("/api/records").json() == {"error": "Missing token"}
    wrong = app.api.post("/api/auth/recover", json={"email": "erin@example.com", "code": "X"})
    assert wrong.status_code == 401


def test_the_profile_cookie_is_protected_on_the_wire(app: App) -> None:
    response = app.api.get("/api/profile", headers=app.login("dave"))
    app.api.cookies.clear()
    header = response.headers["set-cookie"].lower()
    assert all(flag in header for flag in ("httponly", "secure", "samesite=strict"))


# -- attacks -------------------------------------------------------------------------------
def test_forwarded_proto_spoofing(app: App) -> None:
    spoofed = app.plain.get("/api/status", headers={"X-Forwarded-Proto": "https"})
    assert spoofed.status_code == (308 if app.secure else 200)
    for claimed in ("127.0.0.2", "127.0.0.2:4431", "203.0.113.7, 127.0.0.2"):
        smuggled = app.plain.get(
            "/api/status", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": claimed}
        )  # uvicorn itself believes X-Forwarded-For from 127.0.0.1: the app undoes it
        assert smuggled.status_code == (308 if app.secure else 200), claimed


def test_hsts_over_plain_http(app: App) -> None:
    headers = app.plain.get("/api/status").headers
    assert ("strict-transport-security" in headers) is not app.secure


@pytest.mark.skipif(not proxy_address_usable(), reason="127.0.0.2 is not local here")
def test_the_load_balancer_is_believed(app: App) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=app.server.urls["http"], transport=transport) as proxy:
        response = proxy.get("/api/status", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert response.headers["strict-transport-security"] == HSTS


def test_ecb_picture(app: App) -> None:
    file_id = app.api.post(
        "/api/files", content=attack.sample_bitmap(), headers=app.login("dave")
    ).json()["id"]
    row = next(f for f in app.dump()["files"] if f["id"] == file_id)
    ratio = attack.repeated_block_ratio(ciphertext(row))
    assert (ratio > 0.5) if not app.secure else ratio == 0


def test_hard_coded_key(app: App) -> None:
    key = attack.keys_in_source(inspect.getsource(labkit.vulnerable.crypto))[0]
    frank = next(f for f in app.dump()["files"] if f["owner"] == "frank@example.com")
    try:
        text = attack.decrypt_ecb(key, ciphertext(frank)).decode(errors="replace")
    except ValueError:  # bad padding: it was not encrypted with this key
        text = ""
    codes = attack.find_codes(text)
    assert bool(codes) is not app.secure
    if codes:
        recovered = app.api.post(
            "/api/auth/recover", json={"email": "frank@example.com", "code": codes[0]}
        )
        assert recovered.status_code == 200


def test_nonce_reuse(app: App) -> None:
    known = "A" * 300
    mine = app.note(app.login("dave"), known)
    rows = {r["id"]: r for r in app.dump()["records"]}
    erin = next(r for r in rows.values() if r["owner"] == "erin@example.com")
    nonces = {r["stored"]["nonce"] for r in rows.values()}
    assert (len(nonces) == 1) is not app.secure
    text = attack.recover_with_known_plaintext(
        ciphertext(erin), ciphertext(rows[mine]), known.encode()
    )
    codes = attack.find_codes(text.decode(errors="replace"))
    assert bool(codes) is not app.secure
    if codes:
        recovered = app.api.post(
            "/api/auth/recover", json={"email": "erin@example.com", "code": codes[0]}
        )
        assert recovered.status_code == 200


def test_cbc_bit_flipping(app: App) -> None:
    dave = app.login("dave")
    cookie = app.api.get("/api/profile", headers=dave).cookies["profile"]
    app.api.cookies.clear()
    as_dave = app.api.get("/api/admin/users", headers={**dave, "Cookie": f"profile={cookie}"})
    assert as_dave.status_code == 403
    forged = attack.cbc_flip(cookie, 5, b"user  ", b"admin ")
    response = app.api.get("/api/admin/users", headers={**dave, "Cookie": f"profile={forged}"})
    assert response.status_code == (401 if app.secure else 200)


def test_a_ciphertext_moved_into_your_own_row(app: App) -> None:
    dave = app.login("dave")
    mine = app.note(dave, "mine")
    rows = app.dump()["records"]
    erin = next(r for r in rows if r["owner"] == "erin@example.com")
    own = next(r for r in rows if r["id"] == mine)["stored"]
    app.api.put(f"/api/_lab/records/{mine}", json=erin["stored"])
    response = app.api.get(f"/api/records/{mine}", headers=dave)
    if app.secure:
        assert response.status_code == 409
        assert response.json() == {"error": "Record failed integrity check"}
    else:
        assert response.status_code == 200 and "recovery code" in response.json()["data"]
    app.api.put(f"/api/_lab/records/{mine}", json=own)  # leave the table readable


def test_key_rotation(app: App) -> None:
    dave = app.login("dave")
    note = app.note(dave, "before rotation")
    before = app.api.get("/api/_lab/keyring").json()["primary"]
    assert app.api.post("/api/_lab/rotate").json()["primary"] != before
    response = app.api.get(f"/api/records/{note}", headers=dave)
    assert response.status_code == (200 if app.secure else 409)
    if app.secure:
        assert app.api.post("/api/_lab/reencrypt").json()["failed"] == 0
        assert app.api.post("/api/_lab/retire", json={"keyId": before}).status_code == 200
        assert app.api.get(f"/api/records/{note}", headers=dave).json()["data"] == (
            "before rotation"
        )


@pytest.mark.parametrize("app", [True], ids=["secure"], indirect=True)
def test_the_attack_checks_fail_against_the_secure_app(app: App) -> None:
    # (the vulnerable app is what the attack checks accept: test_encryption_checks)
    dave = app.login("dave")
    cookie = app.api.get("/api/profile", headers=dave).cookies["profile"]
    app.api.cookies.clear()
    file_id = app.api.post("/api/files", content=attack.sample_bitmap(), headers=dave).json()["id"]
    answers = {
        "forwarded-proto": {"X-Forwarded-Proto": "https"},
        "bit-flip": attack.cbc_flip(cookie, 5, b"user  ", b"admin "),
        "ecb-picture": (file_id, 0),
        "nonce-reuse": "AAAA-BBBB-CCCC",
        "hardcoded-key": "AAAA-BBBB-CCCC",
    }
    for check_id, answer in answers.items():
        result = run_check(
            LAB,
            check_id,
            target_url=app.server.url,
            target_urls=app.server.urls,
            answer=answer,
        )
        assert not result.passed, repr(result)
