"""02-jwt app: each attack works against the vulnerable app and fails against secure=True;
legitimate flows work on both; the reusable BearerAuth of labkit.sandbox.bearer."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import Depends

from labkit.attacks import jwt as attacks
from labkit.exercises.check import Findings
from labkit.exercises.labs.jwt import (
    TRAVERSAL_KID,
    attack_battery,
    cookie_battery,
    lifecycle_battery,
    parse_set_cookie,
)
from labkit.patterns import passwords as secure_passwords
from labkit.sandbox.apps.base import lab_state
from labkit.sandbox.apps.jwt import create_app, expired_cookie
from labkit.sandbox.bearer import BearerAuth
from labkit.sandbox.server import Sandbox
from labkit.sandbox.store import LabStore
from labkit.wordlists import common_passwords

SEED_COOKIE = "HttpOnly; Secure; SameSite=Strict; Path=/api/auth/refresh; Max-Age=604800"


def _serve(secure: bool) -> Iterator[Sandbox]:
    app = create_app(secure=secure)
    with Sandbox(app, name=f"02-jwt-{'secure' if secure else 'vulnerable'}") as box:
        yield box
    lab_state(app).close()


@pytest.fixture(scope="module")
def vulnerable() -> Iterator[Sandbox]:
    yield from _serve(False)


@pytest.fixture(scope="module")
def secure() -> Iterator[Sandbox]:
    yield from _serve(True)


def login(box: Sandbox, who: str) -> tuple[str, str, httpx.Response]:
    user = lab_state(box.app).users[who]
    response = box.client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200, response.text
    cookie = next(h for h in response.headers.get_list("set-cookie") if "refreshToken=" in h)
    return response.json()["accessToken"], parse_set_cookie(cookie)[1], response


def get(box: Sandbox, path: str, token: str) -> httpx.Response:
    return box.client.get(path, headers={"Authorization": f"Bearer {token}"})


def admin(box: Sandbox, token: str) -> int:
    return get(box, "/api/admin/users", token).status_code


# -- the vulnerable app falls to every attack ----------------------------------------------
@pytest.fixture(scope="module")
def forged_claims(vulnerable: Sandbox) -> dict[str, Any]:
    access, _, _ = login(vulnerable, "carol")
    return {**attacks.decode_unverified(access)[1], "role": "admin"}


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_vulnerable_accepts_alg_none(
    vulnerable: Sandbox, forged_claims: dict[str, Any], alg: str
) -> None:
    assert admin(vulnerable, attacks.forge({"alg": alg}, forged_claims)) == 200


def test_vulnerable_accepts_a_null_signature_but_checks_a_kept_one(vulnerable: Sandbox) -> None:
    access, _, _ = login(vulnerable, "carol")
    tampered = attacks.tamper(access, role="admin")
    assert admin(vulnerable, tampered) == 401
    assert admin(vulnerable, attacks.with_signature(tampered, b"")) == 200


def test_vulnerable_compares_only_a_signature_prefix(vulnerable: Sandbox) -> None:
    _, refresh, _ = login(vulnerable, "carol")
    assert get(vulnerable, "/api/me", attacks.flip_signature_bit(refresh, 20)).status_code == 200
    assert get(vulnerable, "/api/me", attacks.flip_signature_bit(refresh, 2)).status_code == 401


def test_vulnerable_secret_cracks_and_mints_admin(
    vulnerable: Sandbox, forged_claims: dict[str, Any]
) -> None:
    _, refresh, _ = login(vulnerable, "carol")
    secret = attacks.crack_hs256(refresh, common_passwords())
    assert (
        secret is not None
        and secret.encode() == lab_state(vulnerable.app).extras.get("secret", secret).encode()
    )
    assert admin(vulnerable, attacks.forge({"alg": "HS256"}, forged_claims, secret.encode())) == 200


def test_vulnerable_key_confusion(vulnerable: Sandbox, forged_claims: dict[str, Any]) -> None:
    pem = attacks.pem_from_jwk(vulnerable.client.get("/jwks.json").json()["keys"][0])
    assert pem == vulnerable.client.get("/api/_lab/public-key").content
    token = attacks.forge({"alg": "HS256", "kid": "access-rs256"}, forged_claims, pem)
    assert admin(vulnerable, token) == 200


def test_vulnerable_kid_traversal(vulnerable: Sandbox, forged_claims: dict[str, Any]) -> None:
    token = attacks.forge({"alg": "HS256", "kid": TRAVERSAL_KID}, forged_claims, b"")
    assert admin(vulnerable, token) == 200
    unknown = attacks.forge({"alg": "HS256", "kid": "../../etc/no-such-key"}, forged_claims, b"")
    assert admin(vulnerable, unknown) == 401


def test_vulnerable_embedded_jwk_and_jku(
    vulnerable: Sandbox, forged_claims: dict[str, Any]
) -> None:
    key = attacks.new_rsa_key()
    token = attacks.forge({"alg": "RS256", "jwk": attacks.rsa_jwk(key)}, forged_claims, key)
    assert admin(vulnerable, token) == 200
    with Sandbox(attacks.jwks_app({"keys": [attacks.rsa_jwk(key)]}), name="attacker") as evil:
        header = {"alg": "RS256", "jku": f"{evil.url}/jwks.json", "kid": "attacker"}
        assert admin(vulnerable, attacks.forge(header, forged_claims, key)) == 200
    outside = {"alg": "RS256", "jku": "https://attacker.example/jwks.json"}
    assert admin(vulnerable, attacks.forge(outside, forged_claims, key)) == 401  # no network


def test_vulnerable_accepts_expired_and_exp_less_tokens(vulnerable: Sandbox) -> None:
    for entry in vulnerable.client.get("/api/_lab/token-log").json():
        claims = attacks.decode_unverified(entry["authorization"].split()[1])[1]
        assert ("exp" not in claims) == (entry["kind"] == "no-exp")
        headers = {"Authorization": entry["authorization"]}
        assert vulnerable.client.get("/api/admin/users", headers=headers).status_code == 200


def test_vulnerable_refresh_token_works_as_access_and_after_logout(vulnerable: Sandbox) -> None:
    access, refresh, response = login(vulnerable, "bob")
    assert get(vulnerable, "/api/me", refresh).json()["role"] == "editor"
    assert "HttpOnly" not in response.headers["set-cookie"]
    assert vulnerable.client.post(
        "/api/auth/logout", headers={"Authorization": f"Bearer {access}"}
    ).status_code == 204  # fmt: skip
    again = vulnerable.client.post(
        "/api/auth/refresh", headers={"Cookie": f"refreshToken={refresh}"}
    )
    assert again.status_code == 200


def _logout_cookie(box: Sandbox) -> str:
    user = lab_state(box.app).users["bob"]
    response = box.client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    access = response.json()["accessToken"]
    out = box.client.post("/api/auth/logout", headers={"Authorization": f"Bearer {access}"})
    assert out.status_code == 204
    return out.headers["set-cookie"]


def test_logout_deletes_the_cookie_that_login_set(vulnerable: Sandbox, secure: Sandbox) -> None:
    """Built from the app's own refresh_cookie part: a patched app clears the learner's cookie
    (name, Path, flags), not the reference's (which the student edition does not ship)."""
    assert _logout_cookie(vulnerable) == "refreshToken=; Path=/; Max-Age=0"
    assert _logout_cookie(secure) == f"refreshToken=; {SEED_COOKIE.rsplit('; ', 1)[0]}; Max-Age=0"
    assert expired_cookie("a=1; Expires=Wed, 21 Oct 2099 07:28:00 GMT; Path=/x") == (
        "a=; Path=/x; Max-Age=0"
    )

    def refresh_cookie(token: str) -> str:
        return f"__Host-refresh={token}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=3600"

    app = create_app(refresh_cookie=refresh_cookie)
    with Sandbox(app, name="02-jwt-patched-cookie") as box:
        cleared = _logout_cookie(box)
    lab_state(app).close()
    assert cleared == "__Host-refresh=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"


def test_vulnerable_fails_every_battery(vulnerable: Sandbox) -> None:
    cookie = Findings()
    cookie_battery(vulnerable.client, cookie)
    assert cookie.problems
    for battery in (attack_battery, lifecycle_battery):
        findings = Findings()
        battery(vulnerable.client, findings, random.Random(2))
        assert findings.problems, battery.__name__


# -- the secure app refuses them all -------------------------------------------------------
@pytest.mark.parametrize("battery", [attack_battery, lifecycle_battery])
def test_secure_refuses_every_attack(secure: Sandbox, battery: Any) -> None:
    findings = Findings()
    args = {"contract": False} if battery is attack_battery else {}
    battery(secure.client, findings, random.Random(7), **args)
    assert not findings.problems, findings.problems
    assert findings.observations


def test_secure_cookie_passes_the_cookie_battery(secure: Sandbox) -> None:
    findings = Findings()
    cookie_battery(secure.client, findings)
    assert not findings.problems, findings.problems
    assert findings.observations


def test_secure_login_cookie_is_exactly_the_seed(secure: Sandbox) -> None:
    _, refresh, response = login(secure, "alice")
    assert response.headers["set-cookie"] == f"refreshToken={refresh}; {SEED_COOKIE}"


def test_secure_access_tokens_verify_from_the_published_jwks(secure: Sandbox) -> None:
    from labkit.patterns.tokens import JwksVerifier
    from labkit.sandbox.apps.jwt import AUDIENCE, ISSUER

    access, _, _ = login(secure, "alice")
    verifier = JwksVerifier(f"{secure.url}/jwks.json", issuer=ISSUER, audience=AUDIENCE)
    assert verifier.verify(access)["role"] == "admin"


def test_secure_401_bodies(secure: Sandbox) -> None:
    assert secure.client.get("/api/me").json() == {"error": "Missing token"}
    assert get(secure, "/api/me", "not.a.token").json() == {"error": "Invalid token"}
    expired = next(
        e for e in secure.client.get("/api/_lab/token-log").json() if e["kind"] == "expired"
    )
    response = secure.client.get("/api/me", headers={"Authorization": expired["authorization"]})
    assert response.status_code == 401 and response.json() == {"error": "Token expired"}
    assert secure.client.post("/api/auth/refresh").json() == {"error": "Missing token"}


def test_legitimate_flow_on_both(vulnerable: Sandbox, secure: Sandbox) -> None:
    for box in (vulnerable, secure):
        access, refresh, _ = login(box, "alice")
        assert get(box, "/api/me", access).json() == {"id": 1, "role": "admin"}
        emails = [u["email"] for u in get(box, "/api/admin/users", access).json()]
        assert "alice@example.com" in emails
        carol, _, _ = login(box, "carol")
        forbidden = get(box, "/api/admin/users", carol)
        assert forbidden.status_code == 403
        assert forbidden.json() == {"error": "Insufficient permissions"}
        new = box.client.post("/api/auth/refresh", headers={"Cookie": f"refreshToken={refresh}"})
        assert new.status_code == 200 and get(box, "/api/me", new.json()["accessToken"]).is_success


# -- BearerAuth for later labs -------------------------------------------------------------
def test_bearer_auth_for_other_labs() -> None:
    from fastapi import FastAPI

    store = LabStore("bearer-test")
    users = store.seed_staff(secure_passwords.hash_password)
    auth = BearerAuth.for_store(store)
    app = FastAPI()
    auth.install(app)
    auth.add_login(app, store, secure_passwords.verify_password)

    @app.get("/api/whoami")
    def whoami(user: dict = Depends(auth.current_user)) -> dict[str, Any]:  # noqa: B008
        return {"sub": user["sub"], "role": user["role"]}

    try:
        with Sandbox(app) as box:
            bob = users["bob"]
            bad = box.client.post("/api/auth/login", json={"email": bob.email, "password": "x"})
            assert bad.status_code == 401
            token = box.client.post(
                "/api/auth/login", json={"email": bob.email, "password": bob.password}
            ).json()["accessToken"]
            assert get(box, "/api/whoami", token).json() == {"sub": "2", "role": "editor"}
            assert box.client.get("/api/whoami").json() == {"error": "Missing token"}
            forged = attacks.forge({"alg": "none"}, {"sub": "1", "role": "admin"})
            assert get(box, "/api/whoami", forged).json() == {"error": "Invalid token"}
            auth.service.logout({"sub": "2"})
            assert get(box, "/api/whoami", token).status_code == 401
    finally:
        store.close()
