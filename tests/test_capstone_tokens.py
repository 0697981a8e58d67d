"""13-capstone, tokens part: jwt-in-localstorage, symmetric-jwt and hardcoded-secret — each fix
check failing on the stub and passing on the reference (wrong fixes: tests/fixes/13-capstone/),
each replay passing on the secure shop and failing on the vulnerable one, judged over HTTP. The
audit (each row's exploit shown on the vulnerable shop, not on the secure one) is tested in
test_capstone_audit.py."""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import jwt
import pytest

from labkit.exercises.capstone import tokens as checks
from labkit.exercises.capstone.antipattern import AntiPattern
from labkit.exercises.check import Findings, Target
from labkit.exercises.lab import Lab
from labkit.sandbox.apps.shop import create_app
from labkit.sandbox.lab_server import LabServer
from tests.labs import running_lab, served

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point

AP = {ap.id: ap for ap in checks.ANTI_PATTERNS}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "13-capstone") as opened:
        yield opened


@pytest.fixture(scope="module")
def secure() -> Iterator[Target]:
    with served(create_app(secure=True), "13-capstone-secure") as target:
        yield target


def vulnerable(lab: Lab) -> Target:
    return Target(lab.url, lab.urls)


# -- the learner's reference solutions (self-contained, as in the notebook) ----------------
def refresh_cookie(token: str) -> str:
    return (
        f"refreshToken={token}; HttpOnly; Secure; SameSite=Strict; "
        "Path=/api/auth/refresh; Max-Age=604800"
    )


def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
    now = int(time.time())
    base = {"sub": str(user["id"]), "ver": user.get("tokenVersion", 0), "iat": now,
            "iss": keys["issuer"], "aud": keys["audience"]}  # fmt: skip
    access = jwt.encode(
        {**base, "role": user["role"], "exp": now + 900},
        keys["access"],
        algorithm="ES256",
        headers={"typ": "at+jwt", "kid": keys["kid"]},
    )
    refresh = jwt.encode(
        {**base, "jti": str(time.time_ns()), "fam": user["family"], "exp": now + 604800},
        keys["refresh"],
        algorithm="HS256",
        headers={"typ": "refresh+jwt"},
    )
    return {"accessToken": access, "refreshToken": refresh}


def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
    key, alg = (keys["public"], "ES256") if typ == "access" else (keys["refresh"], "HS256")
    decoded = jwt.decode_complete(
        token, key, algorithms=[alg], audience=keys["audience"], issuer=keys["issuer"],
        leeway=30, options={"require": ["exp", "iat", "sub", "iss", "aud"]},
    )  # fmt: skip
    if decoded["header"].get("typ") != {"access": "at+jwt", "refresh": "refresh+jwt"}[typ]:
        raise jwt.InvalidTokenError(f"not an {typ} token")
    return decoded["payload"]


def webhook_secret(env: Mapping[str, str]) -> str:
    value = env.get("PAYMENT_WEBHOOK_SECRET", "")
    if len(value) < 32:
        raise ValueError("PAYMENT_WEBHOOK_SECRET is missing or shorter than 32 characters")
    if any(word in value.lower() for word in ("changeme", "secret", "password", "example")):
        raise ValueError("PAYMENT_WEBHOOK_SECRET is a placeholder")
    counts = Counter(value)
    bits = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    if bits < 3.0:
        raise ValueError("PAYMENT_WEBHOOK_SECRET is not random (a repetition)")
    return value


REFERENCE: dict[str, Callable[..., Any]] = {
    "refresh_cookie": refresh_cookie,
    "issue_tokens": issue_tokens,
    "verify_token": verify_token,
    "webhook_secret": webhook_secret,
}


def stub(*args: Any) -> Any:
    raise NotImplementedError


def fixes_for(ap: AntiPattern, **override: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    return {name: override.get(name, REFERENCE[name]) for name in ap.fixes}


# -- fix checks ----------------------------------------------------------------------------
@pytest.mark.parametrize("ap_id", sorted(AP))
def test_fix_fails_on_the_stub(lab: Lab, ap_id: str) -> None:
    result = lab.check(f"fix-{ap_id}", **{name: stub for name in AP[ap_id].fixes})
    assert not result.passed and "NotImplementedError" in repr(result), result


@pytest.mark.parametrize("ap_id", sorted(AP))
def test_fix_passes_on_the_reference(lab: Lab, ap_id: str) -> None:
    result = lab.check(f"fix-{ap_id}", **fixes_for(AP[ap_id]))
    assert result.passed, result


@pytest.mark.parametrize("ap_id", sorted(AP))
def test_replay_passes_on_the_secure_shop(secure: Target, ap_id: str) -> None:
    findings = Findings()
    AP[ap_id].replay(secure, findings, random.Random(0))
    verdict = findings.verdict("ok", "not ok")
    assert verdict.passed, verdict


@pytest.mark.parametrize("ap_id", sorted(AP))
def test_replay_fails_on_the_vulnerable_shop(lab: Lab, ap_id: str) -> None:
    findings = Findings()
    AP[ap_id].replay(vulnerable(lab), findings, random.Random(0))
    assert findings.problems


def test_all_three_fixes_together(lab: Lab) -> None:
    server = LabServer(create_app(**REFERENCE), name="13-capstone-tokens-all").start()
    try:
        target = Target(server.url, server.urls)
        for ap in checks.ANTI_PATTERNS:
            findings = Findings()
            ap.replay(target, findings, random.Random(0))
            assert findings.verdict("ok", "not ok").passed, (ap.id, findings.problems)
    finally:
        server.close()


def test_a_verifier_returning_the_wrong_type_is_feedback(lab: Lab) -> None:
    result = lab.check(
        "fix-symmetric-jwt", issue_tokens=issue_tokens, verify_token=lambda t, typ, k: "ok"
    )
    assert not result.passed and "expected dict" in repr(result)


# -- the vulnerable shop still works for its users -----------------------------------------
def test_vulnerable_shop_legitimate_flows(lab: Lab) -> None:
    carol = lab.users["carol"]
    with vulnerable(lab).client() as client:
        login = client.post(
            "/api/auth/login", json={"email": carol.email, "password": carol.password}
        ).json()
        assert set(login) == {"accessToken", "refreshToken"}
        renewed = client.post("/api/auth/refresh", json={"refreshToken": login["refreshToken"]})
        assert renewed.status_code == 200
        again = client.post("/api/auth/refresh", json={"refreshToken": login["refreshToken"]})
        assert again.status_code == 401  # single use: every refresh rotates
        bearer = {"Authorization": f"Bearer {renewed.json()['accessToken']}"}
        order = client.post("/api/orders", json={"item": "mug", "quantity": 2}, headers=bearer)
        assert order.status_code == 201 and order.json()["status"] == "pending"
        order_id = order.json()["id"]
        signed = client.post("/api/_lab/provider/pay", json={"orderId": order_id}).json()
        paid = client.post(
            "/api/webhooks/payment",
            content=signed["body"],
            headers={"X-Signature": signed["signature"]},
        )
        assert paid.status_code == 200
        assert client.get(f"/api/orders/{order_id}", headers=bearer).json()["status"] == "paid"
        assert client.get("/api/admin/orders", headers=bearer).status_code == 403
        assert client.get("/api/admin/orders").json() == {"error": "Missing token"}
    shipments = httpx.get(f"{lab.urls['shipping']}/api/shipments", headers=bearer).json()
    assert {"orderId": order_id, "status": "label created"} in shipments["shipments"]
