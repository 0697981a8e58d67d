"""09-encryption: the secure recipes (AES-GCM keyring, HTTPS policy, local CA) and their
vulnerable twins, on their own — real crypto, a real TLS server, no mocks."""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from labkit.attacks import crypto as attack
from labkit.patterns import crypto, transport
from labkit.sandbox.server import Sandbox
from labkit.sandbox.tls import LocalTLS, client_context
from labkit.vulnerable import crypto as weak
from labkit.vulnerable import transport as weak_transport


# -- AES-GCM with a keyring ----------------------------------------------------------------
def test_round_trip_with_fresh_nonces_and_the_key_id_stored() -> None:
    ring = crypto.Keyring.generate()
    first = crypto.encrypt("a note 🔐".encode(), context="record:1", keyring=ring)
    second = crypto.encrypt("a note 🔐".encode(), context="record:1", keyring=ring)
    assert first["keyId"] == ring.primary
    assert len(base64.b64decode(first["nonce"])) == crypto.NONCE_BYTES == 12
    assert first["nonce"] != second["nonce"] and first["ciphertext"] != second["ciphertext"]
    assert crypto.decrypt(first, context="record:1", keyring=ring) == "a note 🔐".encode()


@pytest.mark.parametrize("field", ["ciphertext", "nonce"])
def test_any_flipped_bit_is_a_decryption_error(field: str) -> None:
    ring = crypto.Keyring.generate()
    stored = crypto.encrypt(b"x" * 64, context="record:1", keyring=ring)
    raw = bytearray(base64.b64decode(stored[field]))
    for index in (0, len(raw) // 2, len(raw) - 1):
        changed = bytearray(raw)
        changed[index] ^= 0x80
        tampered = {**stored, field: base64.b64encode(bytes(changed)).decode()}
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(tampered, context="record:1", keyring=ring)


def test_aad_binds_the_record_and_the_key_id() -> None:
    ring = crypto.Keyring.generate()
    stored = crypto.encrypt(b"erin's note", context="record:1", keyring=ring)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(stored, context="record:2", keyring=ring)
    old = ring.primary
    ring.keys["alias"] = ring.keys[old]  # the same key under another id
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt({**stored, "keyId": "alias"}, context="record:1", keyring=ring)
    assert crypto.record_aad("ab", "c") != crypto.record_aad("a", "bc")


def test_rotation_keeps_old_data_readable_and_retiring_shreds_it() -> None:
    ring = crypto.Keyring.generate()
    old = crypto.encrypt(b"old", context="r", keyring=ring)
    first = ring.primary
    second = ring.rotate()
    assert ring.primary == second != first
    new = crypto.encrypt(b"new", context="r", keyring=ring)
    assert new["keyId"] == second
    assert crypto.decrypt(old, context="r", keyring=ring) == b"old"
    with pytest.raises(ValueError, match="rotate"):
        ring.retire(second)
    ring.retire(first)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(old, context="r", keyring=ring)
    assert crypto.decrypt(new, context="r", keyring=ring) == b"new"


def test_malformed_stored_forms_are_decryption_errors_not_crashes() -> None:
    ring = crypto.Keyring.generate()
    good = crypto.encrypt(b"x", context="r", keyring=ring)
    for bad in (
        {},
        {**good, "nonce": "not base64!"},
        {**good, "nonce": base64.b64encode(os.urandom(16)).decode()},
        {**good, "ciphertext": 42},
        {**good, "keyId": "unknown"},
        {**good, "v": 2},
    ):
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(bad, context="r", keyring=ring)
    assert crypto.decrypt_record({}, "r", ring.keys) is None


def test_keys_must_be_256_bit_and_never_printed() -> None:
    with pytest.raises(ValueError, match="32 random bytes"):
        crypto.Keyring({"k": b"short"}, "k")
    with pytest.raises(ValueError, match="primary"):
        crypto.Keyring({"k": os.urandom(32)}, "other")
    ring = crypto.Keyring.generate()
    assert ring.keys[ring.primary].hex() not in repr(ring)


def test_envelope_encryption_wraps_a_data_key() -> None:
    keks = {"kms-1": os.urandom(32)}
    dek = os.urandom(32)
    wrapped = crypto.wrap_data_key(dek, kek_id="kms-1", kek=keks["kms-1"])
    assert crypto.unwrap_data_key(wrapped, keks=keks) == dek
    with pytest.raises(crypto.DecryptionError):
        crypto.unwrap_data_key(wrapped, keks={"kms-1": os.urandom(32)})


# -- the vulnerable twins, and the attacks on them ------------------------------------------
def test_ecb_shows_repeats_where_gcm_shows_none() -> None:
    picture = attack.sample_bitmap()
    assert attack.repeated_block_ratio(weak.encrypt_file(picture)) > 0.5
    ring = crypto.Keyring.generate()
    sealed = base64.b64decode(crypto.encrypt(picture, context="f", keyring=ring)["ciphertext"])
    assert attack.repeated_block_ratio(sealed) == 0
    assert attack.block_image(weak.encrypt_file(picture), 256).shape[1] == 256


def test_the_hard_coded_key_is_found_in_the_source() -> None:
    import inspect

    keys = attack.keys_in_source(inspect.getsource(weak))
    assert weak.FILE_VAULT_KEY in keys
    assert attack.decrypt_ecb(weak.FILE_VAULT_KEY, weak.encrypt_file(b"secret")) == b"secret"
    assert attack.keys_in_source('KEY = b"0123456789abcdef"') == [b"0123456789abcdef"]


def test_cbc_bit_flipping_needs_no_key() -> None:
    key = os.urandom(32)
    cookie = weak.encrypt_cookie(key, b"role=user  ;uid=4")
    forged = attack.cbc_flip(cookie, 5, b"user  ", b"admin ")
    assert weak.decrypt_cookie(key, forged) == b"role=admin ;uid=4"


def test_gcm_nonce_reuse_leaks_the_other_plaintext() -> None:
    key = os.urandom(32)
    secret = b"recovery code: ABCD-EFGH-2345"
    known = b"A" * 64
    target = base64.b64decode(weak.encrypt_record(secret, "r1", "k", key)["ciphertext"])
    mine = base64.b64decode(weak.encrypt_record(known, "r2", "k", key)["ciphertext"])
    assert attack.recover_with_known_plaintext(target, mine, known) == secret
    assert attack.find_codes(secret.decode()) == ["ABCD-EFGH-2345"]


def test_the_twin_decrypts_swapped_records_and_forgets_old_keys() -> None:
    ring = crypto.Keyring.generate()
    stored = weak.encrypt_record(b"x", "record:1", ring.primary, ring.keys[ring.primary])
    assert weak.decrypt_record(stored, "record:2", ring.keys) == b"x"
    ring.rotate()
    assert weak.decrypt_record(stored, "record:1", ring.keys) is None


# -- transport -----------------------------------------------------------------------------
PROXIES = frozenset({"127.0.0.2"})


@pytest.mark.parametrize(
    ("scheme", "peer", "header", "expected"),
    [
        ("http", "127.0.0.1", "https", "http"),  # spoofed by a client
        ("http", "127.0.0.2", "https", "https"),  # the proxy terminated TLS
        ("http", "127.0.0.2", "http, https", "https"),  # the proxy's own value is last
        ("http", "127.0.0.2", "https, http", "http"),
        ("http", "127.0.0.2", "gopher", "http"),
        ("https", "127.0.0.1", None, "https"),
        ("https", "127.0.0.1", "http", "https"),
    ],
)
def test_forwarded_proto_only_from_the_proxy(
    scheme: str, peer: str, header: str | None, expected: str
) -> None:
    assert transport.effective_scheme(scheme, peer, header, PROXIES) == expected


def test_the_twin_believes_anyone() -> None:
    assert weak_transport.effective_scheme("http", "203.0.113.9", "https", PROXIES) == "https"
    assert weak_transport.security_headers("http")  # HSTS over plain HTTP


def test_hsts_over_https_only() -> None:
    assert transport.security_headers("https") == {
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains"
    }
    assert transport.security_headers("http") == {}


def test_redirects_go_to_the_configured_origin() -> None:
    url = transport.https_redirect_url("https://127.0.0.1:8443", "/api/x", "a=1")
    assert url == "https://127.0.0.1:8443/api/x?a=1"
    with pytest.raises(ValueError, match="https"):
        transport.https_redirect_url("http://example.com", "/")


# -- the local CA, served for real ----------------------------------------------------------
@pytest.fixture(scope="module")
def tls() -> Iterator[LocalTLS]:
    files = LocalTLS.create()
    yield files
    files.remove()


def test_the_certificate_names_loopback_with_an_ec_p256_key(tls: LocalTLS) -> None:
    with open(tls.certfile, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert oct(os.stat(tls.keyfile).st_mode & 0o777) == "0o600"


def test_httpx_refuses_the_untrusted_certificate_and_accepts_the_lab_ca(tls: LocalTLS) -> None:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    with Sandbox(app, name="tls-test", **tls.sandbox_options()) as box:
        assert box.url.startswith("https://")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(box.url + "/ping", trust_env=False)
        context = ssl.create_default_context(cafile=tls.ca)
        assert httpx.get(box.url + "/ping", verify=context, trust_env=False).json() == {
            "pong": "yes"
        }
        other = LocalTLS.create()
        try:  # a certificate from someone else's CA is refused just the same
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                httpx.get(box.url + "/ping", verify=other.context(), trust_env=False)
        finally:
            other.remove()
        assert client_context(cadata=tls.ca_pem).verify_mode == ssl.CERT_REQUIRED
