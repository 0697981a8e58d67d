"""13-capstone, BrokenShop's edge: CORS (10), HTTPS (09) and input length (07).

For each row: ``fix-<id>`` fails on the stub and passes on the reference (wrong fixes:
tests/fixes/13-capstone/) (written here self-contained, as the notebook's solution); ``replay``
passes on the secure shop and fails on the vulnerable one. Plus the vulnerable shop's legit
flows. The audit (each row's exploit shown on BrokenShop, not on the secure shop) is tested in
test_capstone_audit.py.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from labkit.exercises.capstone.edge import ANTI_PATTERNS
from labkit.exercises.check import Findings, Target
from labkit.exercises.lab import Lab
from labkit.sandbox.apps.shop import create_app
from tests.labs import running_lab, served

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point

AP = {ap.id: ap for ap in ANTI_PATTERNS}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "13-capstone") as opened:
        yield opened


@pytest.fixture(scope="module")
def secure() -> Iterator[Target]:
    with served(create_app(secure=True), "test-13-edge-secure") as target:
        yield target


def vulnerable(lab: Lab) -> Target:
    return Target(lab.server.url, lab.server.urls)


# -- the reference solutions (as in the notebook) ----------------------------------------
def cors_settings(trusted_origins: list[str]) -> dict[str, Any]:
    return {
        "allow_origins": list(trusted_origins),
        "allow_credentials": True,
        "allow_methods": ["GET", "PUT"],
        "allow_headers": ["Content-Type", "Authorization"],
        "max_age": 600,
    }


def effective_scheme(
    scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: Collection[str]
) -> str:
    if forwarded_proto and peer in trusted_proxies:
        claimed = forwarded_proto.split(",")[-1].strip().lower()
        if claimed in ("http", "https"):
            return claimed
    return scheme


def security_headers(scheme: str) -> dict[str, str]:
    if scheme == "https":
        return {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"}
    return {}


class Review(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    productId: Annotated[int, Field(ge=1)]
    rating: Annotated[int, Field(ge=1, le=5)]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


def _flatten(exc: ValidationError) -> dict[str, Any]:
    fields: dict[str, list[str]] = {}
    form: list[str] = []
    for error in exc.errors(include_url=False, include_input=False):
        if error["loc"]:
            fields.setdefault(str(error["loc"][0]), []).append(error["msg"])
        else:
            form.append(error["msg"])
    return {"formErrors": form, "fieldErrors": fields}


def validate_review(data: Any) -> tuple[dict[str, Any], None] | tuple[None, dict[str, Any]]:
    try:
        return Review.model_validate(data).model_dump(), None
    except ValidationError as exc:
        return None, _flatten(exc)


MAX_BODY_BYTES = 64 * 1024


def body_too_large(content_length: int | None, received: int) -> bool:
    return (content_length or 0) > MAX_BODY_BYTES or received > MAX_BODY_BYTES


REFERENCE: dict[str, dict[str, Any]] = {
    "cors-wildcard": {"cors_settings": cors_settings},
    "no-https-redirect": {
        "effective_scheme": effective_scheme,
        "security_headers": security_headers,
    },
    "no-length-limits": {"validate_review": validate_review, "body_too_large": body_too_large},
}


# -- stubs and plausible wrong fixes -----------------------------------------------------
def stub(*args: Any) -> Any:
    raise NotImplementedError


# -- replay ------------------------------------------------------------------------------
@pytest.mark.parametrize("ap_id", sorted(AP))
def test_replay_passes_on_the_secure_shop(secure: Target, ap_id: str) -> None:
    findings = Findings()
    AP[ap_id].replay(secure, findings, random.Random(0))
    assert not findings.problems, findings.problems
    assert findings.observations


@pytest.mark.parametrize("ap_id", sorted(AP))
def test_replay_fails_on_the_vulnerable_shop(lab: Lab, ap_id: str) -> None:
    findings = Findings()
    AP[ap_id].replay(vulnerable(lab), findings, random.Random(0))
    assert findings.problems


# -- fix checks --------------------------------------------------------------------------
@pytest.mark.parametrize("ap_id", sorted(AP))
def test_fix_check_passes_on_the_reference(lab: Lab, ap_id: str) -> None:
    result = lab.check(f"fix-{ap_id}", **REFERENCE[ap_id])
    assert result.passed, result


@pytest.mark.parametrize("ap_id", sorted(AP))
def test_fix_check_fails_on_the_stub(lab: Lab, ap_id: str) -> None:
    result = lab.check(f"fix-{ap_id}", **{name: stub for name in AP[ap_id].fixes})
    assert not result.passed
    assert "not written yet" in repr(result), result


# -- the vulnerable shop's legitimate flows ----------------------------------------------
def _token(client: httpx.Client, lab: Lab, who: str = "carol") -> dict[str, str]:
    user = lab.users[who]
    response = client.post("/api/auth/login", json={"email": user.email, "password": user.password})
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def test_vulnerable_shop_legit_flows(lab: Lab) -> None:
    client = lab.client
    assert client.get("/api/status").json() == {"ok": True, "connection": "https"}
    products = client.get("/api/products").json()
    assert len(products) >= 3 and {"id", "name", "priceCents"} <= set(products[0])
    headers = _token(client, lab)
    account = client.get("/api/account", headers=headers).json()
    assert account["email"] == lab.users["carol"].email and account["address"]
    assert client.get("/api/account").status_code == 401
    moved = client.put("/api/account", json={"address": "9 New Road"}, headers=headers)
    assert moved.status_code == 200 and moved.json()["address"] == "9 New Road"
    assert client.get("/api/account", headers=headers).json()["address"] == "9 New Road"
    review = {"productId": products[1]["id"], "rating": 4, "text": "Flies in light wind."}
    posted = client.post("/api/reviews", json=review, headers=headers)
    assert posted.status_code == 201
    page = client.get(f"/api/products/{products[1]['id']}").json()
    assert any(
        r["id"] == posted.json()["id"] and r["text"] == review["text"] for r in page["reviews"]
    )
    assert client.post("/api/reviews", json=review).status_code == 401
    assert client.get("/api/products/999999").json() == {"error": "Product not found"}
    missing = client.post("/api/reviews", json={**review, "productId": 999999}, headers=headers)
    assert missing.status_code == 400 and "productId" in missing.text
    assert "/api/reviews" in client.get("/openapi.json").json()["paths"]


def test_secure_shop_answers_reviews_with_the_contract_shapes(secure: Target) -> None:
    with secure.client() as client:
        accounts = {a["email"]: a["password"] for a in client.get("/api/_lab/accounts").json()}
        token = client.post(
            "/api/auth/login",
            json={"email": "carol@example.com", "password": accounts["carol@example.com"]},
        ).json()["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        bad = client.post(
            "/api/reviews", json={"productId": 1, "rating": 9, "text": "x"}, headers=headers
        )
        assert bad.status_code == 400 and "rating" in bad.json()["errors"]["fieldErrors"]
        huge = client.post(
            "/api/reviews",
            json={"productId": 1, "rating": 5, "text": "x" * 200_000},
            headers=headers,
        )
        assert huge.status_code == 413 and huge.json() == {"error": "Request body too large"}
