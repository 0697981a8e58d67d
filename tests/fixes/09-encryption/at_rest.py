"""09 tamper, swap, nonces, rotation: wrong and right ways to encrypt records at rest."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import os
import random
import secrets
import time
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from labkit.patterns import crypto, transport
from tests.fixes.corpus import Fixes, right, wrong

Encrypt = Callable[[bytes, str, str, bytes], dict]
Decrypt = Callable[[dict, str, dict], "bytes | None"]
IN_TRANSIT = {
    "effective_scheme": transport.effective_scheme,
    "security_headers": transport.security_headers,
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _stored(key_id: str, nonce: bytes, sealed: bytes) -> dict[str, str]:
    return {"keyId": key_id, "nonce": _b64(nonce), "ciphertext": _b64(sealed)}


def _aad(record_id: str, key_id: str) -> bytes:
    return f"{record_id}|{key_id}".encode()


def _gcm(
    nonce_of: Callable[[str, str], bytes] = lambda record_id, key_id: os.urandom(12),
    aad_of: Callable[[str, str], bytes | None] = _aad,
) -> tuple[Encrypt, Decrypt]:
    """AES-GCM done right, except for whatever ``nonce_of`` / ``aad_of`` get wrong."""

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        nonce = nonce_of(record_id, key_id)
        sealed = AESGCM(key).encrypt(nonce, plaintext, aad_of(record_id, key_id))
        return _stored(key_id, nonce, sealed)

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        key = keyring.get(stored.get("keyId"))
        if key is None:
            return None
        try:
            nonce = base64.b64decode(stored["nonce"], validate=True)
            sealed = base64.b64decode(stored["ciphertext"], validate=True)
            return AESGCM(key).decrypt(nonce, sealed, aad_of(record_id, stored["keyId"]))
        except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
            return None

    return encrypt_record, decrypt_record


def _fixes(encrypt: Encrypt, decrypt: Decrypt) -> Fixes:
    """The at-rest pair plus the reference transport functions (verify needs all four)."""
    return {"encrypt_record": encrypt, "decrypt_record": decrypt, **IN_TRANSIT}


def _nonce_only(nonce_of: Callable[[str, str], bytes]) -> Fixes:
    return _fixes(*_gcm(nonce_of=nonce_of))


# -- tamper ------------------------------------------------------------------------------
@wrong("tamper", breaks="authenticated", also=("verify",))
def cbc_without_a_mac() -> Fixes:
    """AES-256-CBC with a random IV and PKCS7: confidential, but nothing authenticates it."""

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        body = padder.update(plaintext) + padder.finalize()
        return _stored(key_id, iv, encryptor.update(body) + encryptor.finalize())

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        key = keyring.get(stored.get("keyId"))
        if key is None:
            return None
        try:
            iv, body = base64.b64decode(stored["nonce"]), base64.b64decode(stored["ciphertext"])
            decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
            unpadder = padding.PKCS7(128).unpadder()
            padded = decryptor.update(body) + decryptor.finalize()
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            return None

    return _fixes(encrypt_record, decrypt_record)


@wrong("tamper", breaks="authenticated")
def ctr_then_hmac_without_the_nonce() -> Fixes:
    """Encrypt-then-MAC with AES-CTR and HMAC-SHA256 — but the MAC covers the ciphertext only,
    not the nonce: change the nonce and the 'authenticated' record decrypts to garbage."""

    def keys(key: bytes) -> tuple[bytes, bytes]:
        return key, hashlib.sha256(b"mac" + key).digest()

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        enc, mac = keys(key)
        nonce = os.urandom(12)
        encryptor = Cipher(algorithms.AES(enc), modes.CTR(nonce + bytes(4))).encryptor()
        body = encryptor.update(plaintext) + encryptor.finalize()
        tag = hmac.new(mac, record_id.encode() + b"|" + body, "sha256").digest()
        return _stored(key_id, nonce, body + tag)

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        key = keyring.get(stored.get("keyId"))
        if key is None:
            return None
        enc, mac = keys(key)
        nonce, sealed = base64.b64decode(stored["nonce"]), base64.b64decode(stored["ciphertext"])
        body, tag = sealed[:-32], sealed[-32:]
        expected = hmac.new(mac, record_id.encode() + b"|" + body, "sha256").digest()
        if not hmac.compare_digest(tag, expected):
            return None
        decryptor = Cipher(algorithms.AES(enc), modes.CTR(nonce + bytes(4))).decryptor()
        return decryptor.update(body) + decryptor.finalize()

    return _fixes(encrypt_record, decrypt_record)


@wrong("tamper", breaks="confidential")
def hmac_signed_plaintext() -> Fixes:
    """'Integrity first': the plaintext in base64 with an HMAC tag — tamper-proof, unencrypted."""

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        tag = hmac.new(key, _aad(record_id, key_id) + plaintext, "sha256").digest()
        return _stored(key_id, os.urandom(12), plaintext + tag)

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        key = keyring.get(stored.get("keyId"))
        if key is None:
            return None
        sealed = base64.b64decode(stored["ciphertext"])
        body, tag = sealed[:-32], sealed[-32:]
        good = hmac.new(key, _aad(record_id, stored["keyId"]) + body, "sha256").digest()
        return body if hmac.compare_digest(tag, good) else None

    return _fixes(encrypt_record, decrypt_record)


@wrong("tamper", breaks="confidential")
def gcm_with_a_fixed_nonce() -> Fixes:
    """AES-GCM with AAD, but one constant nonce 'because the key is secret anyway'."""
    return _nonce_only(lambda record_id, key_id: b"\x00" * 12)


@wrong("tamper", breaks="round-trip")
def text_only() -> Fixes:
    """Plaintext decoded as UTF-8 'to be safe' (errors replaced): binary files come back
    changed."""
    encrypt, decrypt = _gcm()

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        text = plaintext.decode("utf-8", errors="replace")
        return encrypt(text.encode(), record_id, key_id, key)

    return _fixes(encrypt_record, decrypt)


@wrong("tamper", breaks="round-trip")
def empty_plaintext_is_a_rejection() -> Fixes:
    """`return plaintext or None`: an empty note decrypts to b'' and is then refused."""
    encrypt, decrypt = _gcm()
    return _fixes(encrypt, lambda stored, record_id, keyring: decrypt(stored, record_id, keyring)
                  or None)  # fmt: skip


@wrong("tamper", breaks="no-crash")
def invalid_tag_escapes() -> Fixes:
    """decrypt_record lets InvalidTag escape: a tampered note crashes the app (500)."""
    encrypt, _ = _gcm()

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes:
        key_id = stored["keyId"]
        nonce, sealed = base64.b64decode(stored["nonce"]), base64.b64decode(stored["ciphertext"])
        return AESGCM(keyring[key_id]).decrypt(nonce, sealed, _aad(record_id, key_id))

    return _fixes(encrypt, decrypt_record)


@wrong("tamper", breaks="stored-form")
def hex_encoded() -> Fixes:
    """AES-GCM right in every way, but nonce and ciphertext stored as hex, not base64."""

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext, _aad(record_id, key_id))
        return {"keyId": key_id, "nonce": nonce.hex(), "ciphertext": sealed.hex()}

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        key = keyring.get(stored.get("keyId"))
        try:
            nonce, sealed = bytes.fromhex(stored["nonce"]), bytes.fromhex(stored["ciphertext"])
            return AESGCM(key).decrypt(nonce, sealed, _aad(record_id, stored["keyId"]))
        except (InvalidTag, KeyError, TypeError, ValueError):
            return None

    return _fixes(encrypt_record, decrypt_record)


class ChaChaVault:
    """ChaCha20-Poly1305 (RFC 8439) behind a small class; AAD is JSON of the record id only."""

    def encrypt_record(self, plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        nonce = secrets.token_bytes(12)
        sealed = ChaCha20Poly1305(key).encrypt(nonce, plaintext, self.aad(record_id))
        return _stored(key_id, nonce, sealed)

    def decrypt_record(self, stored: dict, record_id: str, keyring: dict) -> bytes | None:
        try:
            key = keyring[stored["keyId"]]
            nonce = base64.b64decode(stored["nonce"], validate=True)
            sealed = base64.b64decode(stored["ciphertext"], validate=True)
            return ChaCha20Poly1305(key).decrypt(nonce, sealed, self.aad(record_id))
        except (KeyError, TypeError, ValueError, InvalidTag, binascii.Error):
            return None

    @staticmethod
    def aad(record_id: str) -> bytes:
        return json.dumps({"record": record_id}).encode()


def _chacha() -> Fixes:
    vault = ChaChaVault()
    return _fixes(vault.encrypt_record, vault.decrypt_record)


def _gcm_siv() -> Fixes:
    """AES-256-GCM-SIV (RFC 8452): nonce-misuse resistant, the same 12-byte random nonces."""

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        nonce = os.urandom(12)
        sealed = AESGCMSIV(key).encrypt(nonce, plaintext, crypto.record_aad(record_id, key_id))
        return _stored(key_id, nonce, sealed)

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        key_id = stored.get("keyId")
        if not isinstance(key_id, str) or key_id not in keyring:
            return None
        try:
            nonce = base64.b64decode(stored.get("nonce", ""), validate=True)
            sealed = base64.b64decode(stored.get("ciphertext", ""), validate=True)
            aad = crypto.record_aad(record_id, key_id)
            return AESGCMSIV(keyring[key_id]).decrypt(nonce, sealed, aad)
        except (InvalidTag, ValueError, TypeError, binascii.Error):
            return None

    return _fixes(encrypt_record, decrypt_record)


@right("tamper", also=("nonces",))
def chacha20_poly1305_class() -> Fixes:
    """ChaCha20-Poly1305 in a class, secrets.token_bytes nonces, AAD without the key id."""
    return _chacha()


@right("tamper", also=("swap", "rotation", "verify"))
def aes_gcm_siv() -> Fixes:
    """AES-GCM-SIV with os.urandom(12) nonces and the reference's JSON AAD."""
    return _gcm_siv()


@right("tamper")
def ctr_then_hmac_over_everything() -> Fixes:
    """Encrypt-then-MAC by hand, done right: HKDF splits the key, AES-CTR encrypts, and
    HMAC-SHA256 covers the nonce, the AAD and the ciphertext (compared in constant time)."""

    def keys(key: bytes) -> tuple[bytes, bytes]:
        both = HKDF(hashes.SHA256(), 64, salt=None, info=b"labkit-09 etm").derive(key)
        return both[:32], both[32:]

    def tag(mac: bytes, nonce: bytes, aad: bytes, body: bytes) -> bytes:
        framed = len(aad).to_bytes(8, "big") + aad + nonce + body
        return hmac.new(mac, framed, "sha256").digest()

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        enc, mac = keys(key)
        nonce = os.urandom(12)
        encryptor = Cipher(algorithms.AES(enc), modes.CTR(nonce + bytes(4))).encryptor()
        body = encryptor.update(plaintext) + encryptor.finalize()
        return _stored(key_id, nonce, body + tag(mac, nonce, _aad(record_id, key_id), body))

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        key = keyring.get(stored.get("keyId"))
        try:
            nonce = base64.b64decode(stored["nonce"], validate=True)
            sealed = base64.b64decode(stored["ciphertext"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            return None
        if key is None or len(nonce) != 12 or len(sealed) < 32:
            return None
        enc, mac = keys(key)
        body, got = sealed[:-32], sealed[-32:]
        if not hmac.compare_digest(got, tag(mac, nonce, _aad(record_id, stored["keyId"]), body)):
            return None
        decryptor = Cipher(algorithms.AES(enc), modes.CTR(nonce + bytes(4))).decryptor()
        return decryptor.update(body) + decryptor.finalize()

    return _fixes(encrypt_record, decrypt_record)


# -- swap --------------------------------------------------------------------------------
@wrong("swap", breaks="aad-record", also=("verify",))
def gcm_without_aad() -> Fixes:
    """AES-GCM with random nonces and no associated data: any row's ciphertext reads anywhere."""
    return _fixes(*_gcm(aad_of=lambda record_id, key_id: None))


@wrong("swap", breaks="aad-record")
def aad_is_the_key_id() -> Fixes:
    """AAD binds the key id only ('the record id is already the row')."""
    return _fixes(*_gcm(aad_of=lambda record_id, key_id: key_id.encode()))


@wrong("swap", breaks="aad-record")
def aad_is_the_kind() -> Fixes:
    """AAD is the kind of data ('record', 'file') without its id."""
    return _fixes(*_gcm(aad_of=lambda record_id, key_id: record_id.split(":")[0].encode()))


@wrong("swap", breaks="aad-record")
def aad_is_the_number() -> Fixes:
    """AAD is the row number only: a file or a cookie with the same number reads as a note."""
    return _fixes(*_gcm(aad_of=lambda record_id, key_id: record_id.rsplit(":", 1)[-1].encode()))


@right("swap")
def chacha20_aad_without_the_key_id() -> Fixes:
    """ChaCha20-Poly1305 with AAD of the record id alone: enough to stop every swap."""
    return _chacha()


# -- nonces ------------------------------------------------------------------------------
@wrong("nonces", breaks="unique-nonce", also=("verify",))
def nonce_from_the_record() -> Fixes:
    """The issue's example: sha256(f"{key_id}/{record_id}")[:12] — distinct across records,
    the same every time one record is encrypted again."""
    return _nonce_only(
        lambda record_id, key_id: hashlib.sha256(f"{key_id}/{record_id}".encode()).digest()[:12]
    )


@wrong("nonces", breaks="unique-nonce")
def millisecond_clock() -> Fixes:
    """The time in milliseconds as the nonce: calls in the same millisecond collide."""
    return _nonce_only(lambda record_id, key_id: int(time.time() * 1000).to_bytes(12, "big"))


_COUNTER = itertools.count()


@wrong("nonces", breaks="random-nonce")
def counter_from_zero() -> Fixes:
    """A module-level counter from 0: unique in this process, again from 0 after a restart."""
    return _nonce_only(lambda record_id, key_id: next(_COUNTER).to_bytes(12, "big"))


_START = itertools.count(int.from_bytes(os.urandom(12), "big") >> 1)


@wrong("nonces", breaks="random-nonce")
def counter_from_a_random_start() -> Fixes:
    """A random starting point, then +1: every nonce but the first is predictable, and two
    processes walk along the same line."""
    return _nonce_only(lambda record_id, key_id: next(_START).to_bytes(12, "big"))


@wrong("nonces", breaks="random-nonce")
def four_random_bytes_padded() -> Fixes:
    """Four random bytes padded to twelve: 96 bits long, 32 bits random (collide at ~65k)."""
    return _nonce_only(lambda record_id, key_id: os.urandom(4) + bytes(8))


@wrong("nonces", breaks="random-nonce")
def hex_text_nonce() -> Fixes:
    """secrets.token_hex(6).encode(): twelve bytes of hex text, 48 random bits."""
    return _nonce_only(lambda record_id, key_id: secrets.token_hex(6).encode())


@wrong("nonces", breaks="random-nonce")
def random_module_bytes() -> Fixes:
    """random.randbytes(12): twelve bytes that look random, from the Mersenne Twister."""
    return _nonce_only(lambda record_id, key_id: random.randbytes(12))


@wrong("nonces", breaks="random-nonce")
def random_module_getrandbits() -> Fixes:
    """random.getrandbits(96).to_bytes(12, 'big'): 96 predictable bits."""
    return _nonce_only(lambda record_id, key_id: random.getrandbits(96).to_bytes(12, "big"))


@wrong("nonces", breaks="nonce-96")
def seeds_16_byte_iv() -> Fixes:
    """The seed's crypto.randomBytes(16) IV, kept for AES-GCM."""
    return _nonce_only(lambda record_id, key_id: os.urandom(16))


@wrong("nonces", breaks="nonce-96")
def eight_random_bytes() -> Fixes:
    """An 8-byte random nonce, the shortest AESGCM accepts ('GCM takes any length')."""
    return _nonce_only(lambda record_id, key_id: os.urandom(8))


# -- rotation ----------------------------------------------------------------------------
def _gcm_keyed(key_for: Callable[[dict, dict], bytes | None]) -> Fixes:
    """The reference encryption, decrypting with whatever key ``key_for`` picks."""

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        key = key_for(stored, keyring)
        if key is None:
            return None
        try:
            nonce, sealed = (
                base64.b64decode(stored["nonce"]),
                base64.b64decode(stored["ciphertext"]),
            )
            return AESGCM(key).decrypt(nonce, sealed, _aad(record_id, str(stored.get("keyId"))))
        except (InvalidTag, KeyError, TypeError, ValueError):
            return None

    encrypt, _ = _gcm()
    return _fixes(encrypt, decrypt_record)


@wrong("rotation", breaks="key-id", also=("verify",))
def decrypt_with_the_newest_key() -> Fixes:
    """The stored keyId is ignored: always the newest key in the keyring."""
    return _gcm_keyed(lambda stored, keyring: list(keyring.values())[-1])


@wrong("rotation", breaks="key-id")
def key_id_under_another_name() -> Fixes:
    """The key id stored as 'kid' (JOSE's name), not 'keyId': nobody can tell which key."""
    encrypt, decrypt = _gcm()

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        stored = encrypt(plaintext, record_id, key_id, key)
        return {"kid": stored.pop("keyId"), **stored}

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        renamed = {k: v for k, v in stored.items() if k != "kid"}
        return decrypt({**renamed, "keyId": stored.get("kid")}, record_id, keyring)

    return _fixes(encrypt_record, decrypt_record)


HARD_CODED = bytes(range(32))


@wrong("rotation", breaks="retired-key")
def a_key_of_my_own() -> Fixes:
    """Everything right, with the learner's own constant key instead of the app's."""
    encrypt, _ = _gcm()

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        return encrypt(plaintext, record_id, key_id, HARD_CODED)

    return {**_gcm_keyed(lambda stored, keyring: HARD_CODED), "encrypt_record": encrypt_record}


_CIPHERS: dict[str, AESGCM] = {}


@wrong("rotation", breaks="retired-key")
def cached_ciphers() -> Fixes:
    """AESGCM objects cached by key id 'for speed': a retired key still decrypts from the
    cache."""

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        key_id = str(stored.get("keyId"))
        if key_id not in _CIPHERS:
            if key_id not in keyring:
                return None
            _CIPHERS[key_id] = AESGCM(keyring[key_id])
        try:
            nonce, sealed = (
                base64.b64decode(stored["nonce"]),
                base64.b64decode(stored["ciphertext"]),
            )
            return _CIPHERS[key_id].decrypt(nonce, sealed, _aad(record_id, key_id))
        except (InvalidTag, KeyError, TypeError, ValueError):
            return None

    return _fixes(_gcm()[0], decrypt_record)


@wrong("rotation", breaks="no-crash")
def unknown_key_raises() -> Fixes:
    """keyring[stored['keyId']] outside the try: a retired key is a KeyError (a 500)."""
    encrypt, decrypt = _gcm()

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        keyring[stored["keyId"]]
        return decrypt(stored, record_id, keyring)

    return _fixes(encrypt, decrypt_record)


class KeyringReader:
    """A class around the keyring the app passes: one AESGCM per call, by the stored keyId."""

    def __init__(self, keyring: dict) -> None:
        self.keyring = keyring

    def open(self, stored: dict, aad: bytes) -> bytes | None:
        key_id = stored.get("keyId")
        if key_id not in self.keyring:
            return None
        try:
            nonce = base64.b64decode(stored["nonce"], validate=True)
            sealed = base64.b64decode(stored["ciphertext"], validate=True)
            return AESGCM(self.keyring[key_id]).decrypt(nonce, sealed, aad)
        except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
            return None


@right("rotation", also=("nonces",))
def class_based_keyring() -> Fixes:
    """A KeyringReader class per call; AAD is b'record-id\\0key-id' (a NUL separator)."""

    def aad(record_id: str, key_id: str) -> bytes:
        return record_id.encode() + b"\0" + key_id.encode()

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        nonce = secrets.token_bytes(12)
        return _stored(key_id, nonce, AESGCM(key).encrypt(nonce, plaintext, aad(record_id, key_id)))

    def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
        return KeyringReader(keyring).open(stored, aad(record_id, str(stored.get("keyId"))))

    return _fixes(encrypt_record, decrypt_record)
