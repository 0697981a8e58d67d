"""09-encryption: every check fails on the stub and on a plausible wrong answer or fix, and
passes on the reference — judged through the real lab, over HTTPS and HTTP."""

from __future__ import annotations

import base64
import inspect
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import labkit.vulnerable.crypto
from labkit.attacks import crypto as attack
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.exercises.labs.encryption import proxy_address_usable
from labkit.patterns import crypto as secure
from labkit.patterns import transport as secure_transport
from labkit.sandbox.tls import client_context
from tests.labs import running_lab

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "09-encryption") as opened:
        yield opened


@pytest.fixture(scope="module")
def api(lab: Lab) -> Iterator[httpx.Client]:
    context = client_context(cafile=lab.facts["ca"])
    with httpx.Client(base_url=lab.url, verify=context, trust_env=False) as client:
        yield client


def mentions(result: CheckResult, text: str) -> bool:
    return text in repr(result)


def not_written(*args: Any) -> Any:
    raise NotImplementedError


def login(api: httpx.Client, lab: Lab, who: str) -> dict[str, str]:
    user = lab.users[who]
    token = api.post("/api/auth/login", json={"email": user.email, "password": user.password})
    return {"Authorization": f"Bearer {token.json()['accessToken']}"}


# -- the learner's possible fixes (wrong and right alternatives: tests/fixes/09-encryption/)
REFERENCE: dict[str, Callable[..., Any]] = {
    "encrypt_record": secure.encrypt_record,
    "decrypt_record": secure.decrypt_record,
    "effective_scheme": secure_transport.effective_scheme,
    "security_headers": secure_transport.security_headers,
}
AT_REST = {k: REFERENCE[k] for k in ("encrypt_record", "decrypt_record")}
IN_TRANSIT = {k: REFERENCE[k] for k in ("effective_scheme", "security_headers")}
STUB = {name: not_written for name in REFERENCE}


# -- attack checks -----------------------------------------------------------------------
ATTACKS = ("ecb-picture", "bit-flip", "nonce-reuse", "hardcoded-key", "forwarded-proto")


@pytest.mark.parametrize("check_id", ATTACKS)
def test_attack_checks_fail_on_the_stub(lab: Lab, check_id: str) -> None:
    result = lab.check(check_id, None)
    assert not result.passed
    assert mentions(result, "expected")


def test_ecb_picture_passes_with_the_padlock(lab: Lab, api: httpx.Client) -> None:
    dave = login(api, lab, "dave")
    file_id = api.post("/api/files", content=attack.sample_bitmap(), headers=dave).json()["id"]
    row = next(f for f in api.get("/api/_lab/dump").json()["files"] if f["id"] == file_id)
    sealed = base64.b64decode(row["stored"]["ciphertext"])
    cut = [sealed[i : i + 16] for i in range(0, len(sealed), 16)]
    later = len(cut) - len(set(cut))  # blocks equal to an earlier one
    shared = sum(n for n in Counter(cut).values() if n > 1)  # blocks that occur twice or more
    for count in (later, shared):
        result = lab.check("ecb-picture", (file_id, count))
        assert result.passed, repr(result)
    assert mentions(lab.check("ecb-picture", [file_id, later + 1]), "you counted")
    assert mentions(lab.check("ecb-picture", file_id), "expected (file_id, repeated)")
    noise = api.post("/api/files", content=os.urandom(4096), headers=dave).json()["id"]
    assert mentions(lab.check("ecb-picture", (noise, 0)), "of the stored 16-byte blocks repeat")
    assert mentions(lab.check("ecb-picture", (9999, 1)), "there is no file 9999")


def test_bit_flip_passes_with_the_forged_cookie_only(lab: Lab, api: httpx.Client) -> None:
    cookie = api.get("/api/profile", headers=login(api, lab, "dave")).cookies["profile"]
    alice = api.get("/api/profile", headers=login(api, lab, "alice")).cookies["profile"]
    api.cookies.clear()
    assert not lab.check("bit-flip", cookie).passed  # dave's own: role=user
    assert not lab.check("bit-flip", alice).passed  # alice's genuine cookie is not dave's
    result = lab.check("bit-flip", attack.cbc_flip(cookie, 5, b"user  ", b"admin "))
    assert result.passed, repr(result)
    assert mentions(result, "uid=4 role=admin")


def test_nonce_reuse_passes_with_erins_code(lab: Lab, api: httpx.Client) -> None:
    known = "A" * 300
    mine = api.post("/api/records", json={"data": known}, headers=login(api, lab, "dave"))
    rows = {r["id"]: r for r in api.get("/api/_lab/dump").json()["records"]}
    erin = next(r for r in rows.values() if r["owner"] == "erin@example.com")
    text = attack.recover_with_known_plaintext(
        base64.b64decode(erin["stored"]["ciphertext"]),
        base64.b64decode(rows[mine.json()["id"]]["stored"]["ciphertext"]),
        known.encode(),
    ).decode(errors="replace")
    code = attack.find_codes(text)[0]
    assert lab.check("nonce-reuse", code).passed
    assert mentions(lab.check("nonce-reuse", "AAAA-BBBB-CCCC"), "not erin@example.com's")


def test_hardcoded_key_passes_with_franks_code(lab: Lab, api: httpx.Client) -> None:
    key = attack.keys_in_source(inspect.getsource(labkit.vulnerable.crypto))[0]
    frank = next(
        f for f in api.get("/api/_lab/dump").json()["files"] if f["owner"] == "frank@example.com"
    )
    text = attack.decrypt_ecb(key, base64.b64decode(frank["stored"]["ciphertext"])).decode()
    code = attack.find_codes(text)[0]
    assert lab.check("hardcoded-key", code).passed
    erins_check = lab.check("hardcoded-key", "AAAA-BBBB-CCCC")
    assert mentions(erins_check, "not frank@example.com's")


def test_forwarded_proto_passes_with_the_spoofed_header(lab: Lab) -> None:
    assert not lab.check("forwarded-proto", {}).passed
    assert not lab.check("forwarded-proto", {"X-Forwarded-Proto": "http"}).passed
    result = lab.check("forwarded-proto", {"X-Forwarded-Proto": "https"})
    assert result.passed, repr(result)


# -- fix checks: the stub fails, the reference passes -------------------------------------
FIX_CHECKS = {
    "tamper": AT_REST,
    "swap": AT_REST,
    "nonces": {"encrypt_record": secure.encrypt_record},
    "rotation": AT_REST,
    "transport": IN_TRANSIT,
}


@pytest.mark.parametrize("check_id", sorted(FIX_CHECKS))
def test_fix_checks_fail_on_the_stub(lab: Lab, check_id: str) -> None:
    result = lab.check(check_id, **{name: not_written for name in FIX_CHECKS[check_id]})
    assert not result.passed
    assert mentions(result, "is not written yet")


@pytest.mark.parametrize("check_id", sorted(FIX_CHECKS))
def test_fix_checks_pass_on_the_reference(lab: Lab, check_id: str) -> None:
    result = lab.check(check_id, **FIX_CHECKS[check_id])
    assert result.passed, repr(result)


def test_tamper_names_each_rejection(lab: Lab) -> None:
    result = lab.check("tamper", **AT_REST)
    assert mentions(result, "a flipped bit in the last byte (the tag): rejected")
    assert mentions(result, "a random binary file downloads unchanged")


def test_transport_replays_generated_headers_from_the_proxy(lab: Lab) -> None:
    result = lab.check("transport", **IN_TRANSIT, seed=7)
    assert result.passed, repr(result)
    assert mentions(result, "no HSTS header over plain HTTP")
    if proxy_address_usable():
        assert mentions(result, "the last value decided each time")


def test_a_failed_check_names_its_seed(lab: Lab) -> None:
    def first_value(scheme: str, peer: str, proto: str | None, trusted: frozenset) -> str:
        return proto.split(",")[0].strip() if proto and peer in trusted else scheme

    if not proxy_address_usable():
        pytest.skip("127.0.0.2 is not local here")
    result = lab.check(
        "transport",
        effective_scheme=first_value,
        security_headers=secure_transport.security_headers,
        seed=11,
    )
    assert not result.passed
    assert mentions(result, "[rightmost-proto]") and mentions(result, "seed=11")


# -- verify ------------------------------------------------------------------------------
BATTERIES = ("tampering", "swapped records", "nonces", "key rotation", "transport")


def test_verify_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("verify", **REFERENCE)
    assert result.passed, repr(result)
    for battery in BATTERIES:
        assert mentions(result, f"{battery}: every attack refused")


def test_verify_fails_on_the_stub(lab: Lab) -> None:
    assert not lab.check("verify", **STUB).passed


def test_verify_needs_all_four_functions(lab: Lab) -> None:
    result = lab.check("verify", **AT_REST)
    assert not result.passed
    assert result.summary == "this check needs your functions effective_scheme, security_headers"
