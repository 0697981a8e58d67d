"""09-encryption: every check fails on the stub and on a plausible wrong answer or fix, and
passes on the reference — judged through the real lab, over HTTPS and HTTP."""

from __future__ import annotations

import base64
import inspect
import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import labkit.vulnerable.crypto
from labkit.attacks import crypto as attack
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.exercises.labs.encryption import proxy_address_usable
from labkit.patterns import crypto as secure
from labkit.patterns import transport as secure_transport
from labkit.sandbox.tls import client_context
from labkit.vulnerable import crypto as weak
from labkit.vulnerable import transport as weak_transport
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


# -- the learner's possible fixes --------------------------------------------------------
REFERENCE: dict[str, Callable[..., Any]] = {
    "encrypt_record": secure.encrypt_record,
    "decrypt_record": secure.decrypt_record,
    "effective_scheme": secure_transport.effective_scheme,
    "security_headers": secure_transport.security_headers,
}
AT_REST = {k: REFERENCE[k] for k in ("encrypt_record", "decrypt_record")}
IN_TRANSIT = {k: REFERENCE[k] for k in ("effective_scheme", "security_headers")}
STUB = {name: not_written for name in REFERENCE}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _stored(key_id: str, nonce: bytes, sealed: bytes) -> dict[str, str]:
    return {"keyId": key_id, "nonce": _b64(nonce), "ciphertext": _b64(sealed)}


def _aad(record_id: str, key_id: str) -> bytes:
    return f"{record_id}|{key_id}".encode()


def _gcm_open(stored: dict, key: bytes, aad: bytes | None) -> bytes | None:
    try:
        nonce, sealed = base64.b64decode(stored["nonce"]), base64.b64decode(stored["ciphertext"])
        return AESGCM(key).decrypt(nonce, sealed, aad)
    except (InvalidTag, KeyError, ValueError, TypeError):
        return None


def gcm_without_aad(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
    nonce = os.urandom(12)
    return _stored(key_id, nonce, AESGCM(key).encrypt(nonce, plaintext, None))


def gcm_without_aad_open(stored: dict, record_id: str, keyring: dict) -> bytes | None:
    key = keyring.get(stored.get("keyId"))
    return None if key is None else _gcm_open(stored, key, None)


_counter = itertools.count()


def gcm_counter_nonce(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
    """Right in every way but one: the nonce counts up from 0 in this process."""
    nonce = next(_counter).to_bytes(12, "big")
    return _stored(key_id, nonce, AESGCM(key).encrypt(nonce, plaintext, _aad(record_id, key_id)))


def gcm_seed_iv(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
    """The seed's crypto.randomBytes(16) IV."""
    nonce = os.urandom(16)
    return _stored(key_id, nonce, AESGCM(key).encrypt(nonce, plaintext, _aad(record_id, key_id)))


def cbc_without_mac(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    sealed = encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()
    return _stored(key_id, iv, sealed)


def cbc_without_mac_open(stored: dict, record_id: str, keyring: dict) -> bytes | None:
    key = keyring.get(stored.get("keyId"))
    if key is None:
        return None
    try:
        iv, sealed = base64.b64decode(stored["nonce"]), base64.b64decode(stored["ciphertext"])
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        padded = decryptor.update(sealed) + decryptor.finalize()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None


def decrypt_with_newest_key(stored: dict, record_id: str, keyring: dict) -> bytes | None:
    """AAD right, but always the newest key: the stored key id is ignored."""
    key_id = list(keyring)[-1]
    return _gcm_open(stored, keyring[key_id], _aad(record_id, stored.get("keyId", "")))


HARD_CODED = bytes(range(32))


def hard_coded_encrypt(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
    """Everything right — with the learner's own constant key instead of the app's."""
    nonce = os.urandom(12)
    sealed = AESGCM(HARD_CODED).encrypt(nonce, plaintext, _aad(record_id, key_id))
    return _stored(key_id, nonce, sealed)


def hard_coded_decrypt(stored: dict, record_id: str, keyring: dict) -> bytes | None:
    return _gcm_open(stored, HARD_CODED, _aad(record_id, stored.get("keyId", "")))


def never_trust_the_proxy(
    scheme: str, peer: str, forwarded_proto: str | None, trusted: frozenset
) -> str:
    return scheme


def short_hsts(scheme: str) -> dict:
    return {"Strict-Transport-Security": "max-age=300"} if scheme == "https" else {}


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
    result = lab.check("ecb-picture", file_id)
    assert result.passed, repr(result)
    noise = api.post("/api/files", content=os.urandom(4096), headers=dave).json()["id"]
    assert mentions(lab.check("ecb-picture", noise), "of the stored 16-byte blocks repeat")
    assert mentions(lab.check("ecb-picture", 9999), "there is no file 9999")


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


# -- tamper ------------------------------------------------------------------------------
def test_tamper_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("tamper", encrypt_record=not_written, decrypt_record=not_written)
    assert not result.passed
    assert mentions(result, "encrypt_record is not written yet")


def test_tamper_fails_on_cbc_without_a_mac(lab: Lab) -> None:
    result = lab.check(
        "tamper", encrypt_record=cbc_without_mac, decrypt_record=cbc_without_mac_open
    )
    assert not result.passed
    assert mentions(result, "a flipped bit in the first ciphertext byte went unnoticed")
    assert mentions(result, "a bit-flipped profile cookie made dave admin")


def test_tamper_fails_on_the_fixed_nonce(lab: Lab) -> None:
    result = lab.check(
        "tamper", encrypt_record=weak.encrypt_record, decrypt_record=weak.decrypt_record
    )
    assert not result.passed
    assert mentions(result, "the same text encrypted twice gave the same ciphertext")


def test_tamper_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("tamper", **AT_REST)
    assert result.passed, repr(result)
    assert mentions(result, "a flipped bit in the last byte (the tag): rejected")


def test_tamper_passes_when_decrypt_raises_but_says_so(lab: Lab) -> None:
    def raising(stored: dict, record_id: str, keyring: dict) -> bytes:
        key_id = stored["keyId"]
        nonce, sealed = base64.b64decode(stored["nonce"]), base64.b64decode(stored["ciphertext"])
        return AESGCM(keyring[key_id]).decrypt(nonce, sealed, secure.record_aad(record_id, key_id))

    result = lab.check("tamper", encrypt_record=secure.encrypt_record, decrypt_record=raising)
    assert result.passed, repr(result)
    assert mentions(result, "by crashing")


# -- swap --------------------------------------------------------------------------------
def test_swap_fails_on_the_stub(lab: Lab) -> None:
    assert not lab.check("swap", encrypt_record=not_written, decrypt_record=not_written).passed


def test_swap_fails_on_gcm_without_aad(lab: Lab) -> None:
    result = lab.check("swap", encrypt_record=gcm_without_aad, decrypt_record=gcm_without_aad_open)
    assert not result.passed
    assert mentions(result, "carol's ciphertext copied into dave's row decrypted as dave's record")
    assert mentions(result, "it returned the other record's text")


def test_gcm_without_aad_still_passes_tamper(lab: Lab) -> None:
    """AAD is what the swap check is for: tampering alone cannot tell."""
    result = lab.check(
        "tamper", encrypt_record=gcm_without_aad, decrypt_record=gcm_without_aad_open
    )
    assert result.passed, repr(result)


def test_swap_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("swap", **AT_REST)
    assert result.passed, repr(result)


# -- nonces ------------------------------------------------------------------------------
def test_nonces_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("nonces", encrypt_record=not_written)
    assert not result.passed
    assert mentions(result, "encrypt_record is not written yet")


def test_nonces_fails_on_a_fixed_nonce(lab: Lab) -> None:
    result = lab.check("nonces", encrypt_record=weak.encrypt_record)
    assert not result.passed
    assert mentions(result, "9,999 of 10,000 encryptions reused a nonce")


def test_nonces_fails_on_a_counter(lab: Lab) -> None:
    result = lab.check("nonces", encrypt_record=gcm_counter_nonce)
    assert not result.passed
    assert mentions(result, "the nonces count up")


def test_nonces_fails_on_the_seeds_16_byte_iv(lab: Lab) -> None:
    result = lab.check("nonces", encrypt_record=gcm_seed_iv)
    assert not result.passed
    assert mentions(result, "nonces are 16 bytes")


def test_nonces_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("nonces", encrypt_record=secure.encrypt_record)
    assert result.passed, repr(result)


# -- rotation ----------------------------------------------------------------------------
def test_rotation_fails_on_the_stub(lab: Lab) -> None:
    assert not lab.check("rotation", encrypt_record=not_written, decrypt_record=not_written).passed


def test_rotation_fails_when_the_key_id_is_ignored(lab: Lab) -> None:
    result = lab.check(
        "rotation", encrypt_record=secure.encrypt_record, decrypt_record=decrypt_with_newest_key
    )
    assert not result.passed
    assert mentions(result, "after a key rotation, a note written under the old key got 500")


def test_rotation_fails_on_a_hard_coded_key(lab: Lab) -> None:
    result = lab.check(
        "rotation", encrypt_record=hard_coded_encrypt, decrypt_record=hard_coded_decrypt
    )
    assert not result.passed
    assert mentions(result, "a note still decrypts after its key was destroyed")


def test_rotation_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("rotation", **AT_REST)
    assert result.passed, repr(result)
    assert mentions(result, "data written under the old key still reads after rotation")


# -- transport ---------------------------------------------------------------------------
def test_transport_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("transport", effective_scheme=not_written, security_headers=not_written)
    assert not result.passed
    assert mentions(result, "effective_scheme is not written yet")


def test_transport_fails_when_hsts_goes_over_http_too(lab: Lab) -> None:
    result = lab.check(
        "transport",
        effective_scheme=secure_transport.effective_scheme,
        security_headers=weak_transport.security_headers,
    )
    assert not result.passed
    assert mentions(result, "HSTS is sent over plain HTTP")
    assert not mentions(result, "was served")


def test_transport_fails_when_anyone_is_believed(lab: Lab) -> None:
    result = lab.check(
        "transport",
        effective_scheme=weak_transport.effective_scheme,
        security_headers=secure_transport.security_headers,
    )
    assert not result.passed
    assert mentions(result, "a client (not the proxy) sent X-Forwarded-Proto: https")


def test_transport_fails_on_a_short_hsts(lab: Lab) -> None:
    result = lab.check(
        "transport", effective_scheme=secure_transport.effective_scheme, security_headers=short_hsts
    )
    assert not result.passed
    assert mentions(result, "'max-age=300'")


@pytest.mark.skipif(not proxy_address_usable(), reason="127.0.0.2 is not local here")
def test_transport_fails_when_the_proxy_is_never_believed(lab: Lab) -> None:
    result = lab.check(
        "transport",
        effective_scheme=never_trust_the_proxy,
        security_headers=secure_transport.security_headers,
    )
    assert not result.passed
    assert mentions(result, "the load balancer (127.0.0.2) forwarded an HTTPS request and got 301")


def test_transport_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("transport", **IN_TRANSIT)
    assert result.passed, repr(result)
    assert mentions(result, "no HSTS header over plain HTTP")


# -- verify ------------------------------------------------------------------------------
BATTERIES = ("tampering", "swapped records", "nonces", "files (ECB)", "key rotation", "transport")


def test_verify_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("verify", **REFERENCE)
    assert result.passed, repr(result)
    for battery in BATTERIES:
        assert mentions(result, f"{battery}: every attack refused")


def test_verify_fails_on_the_stub(lab: Lab) -> None:
    assert not lab.check("verify", **STUB).passed


@pytest.mark.parametrize(
    ("parts", "complaint"),
    [
        ({"encrypt_record": gcm_without_aad, "decrypt_record": gcm_without_aad_open},
         "decrypted as dave's record"),
        ({"encrypt_record": cbc_without_mac, "decrypt_record": cbc_without_mac_open},
         "went unnoticed"),
        ({"encrypt_record": gcm_counter_nonce}, "the nonces count up"),
        ({"decrypt_record": decrypt_with_newest_key}, "after a key rotation"),
        ({"security_headers": weak_transport.security_headers}, "HSTS is sent over plain HTTP"),
        ({"effective_scheme": weak_transport.effective_scheme}, "X-Forwarded-Proto: https"),
    ],
    ids=["no-aad", "cbc", "counter", "newest-key", "hsts-over-http", "trust-anyone"],
)  # fmt: skip
def test_verify_fails_when_one_part_is_wrong(
    lab: Lab, parts: dict[str, Callable[..., Any]], complaint: str
) -> None:
    result = lab.check("verify", **{**REFERENCE, **parts})
    assert not result.passed
    assert mentions(result, complaint)


def test_verify_needs_all_four_functions(lab: Lab) -> None:
    result = lab.check("verify", **AT_REST)
    assert not result.passed
    assert result.summary == "this check needs your functions effective_scheme, security_headers"
