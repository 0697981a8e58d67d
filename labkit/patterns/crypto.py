"""Encryption at rest: AES-256-GCM with random 96-bit nonces, AAD and a keyring.

The recipe (NIST SP 800-38D; OWASP Cryptographic Storage Cheat Sheet):

* **AES-256-GCM** from ``cryptography`` (an AEAD: confidentiality *and* integrity; a
  flipped bit or a swapped ciphertext fails with one exception, no oracle).
* **A fresh random 96-bit nonce per encryption** (``os.urandom(12)``). 96 bits is the IV
  length SP 800-38D §8.2 recommends: other lengths are hashed with GHASH into the counter
  block, which weakens the uniqueness bound. A (key, nonce) pair must never repeat; with
  random nonces, stay well under 2**32 encryptions per key (§8.3) — rotate before that.
* **AAD** binds each ciphertext to where it belongs: the record id and the key id. A
  ciphertext copied into another row, or relabelled with another key id, does not decrypt.
* **A keyring**: keys by id, one primary for new data, old keys kept for reading until
  everything is re-encrypted, then retired. The key id travels with the ciphertext.

Stored form (a dict of strings, JSON-friendly): ``{"v": 1, "keyId": ..., "nonce": base64,
"ciphertext": base64(ciphertext || 16-byte tag)}``. Every failure to decrypt raises
:class:`DecryptionError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "FORMAT_VERSION",
    "KEY_BYTES",
    "NONCE_BYTES",
    "DecryptionError",
    "Keyring",
    "decrypt",
    "decrypt_record",
    "decrypt_with",
    "encrypt",
    "encrypt_record",
    "encrypt_with",
    "record_aad",
    "unwrap_data_key",
    "wrap_data_key",
]

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits: SP 800-38D §8.2
FORMAT_VERSION = 1


class DecryptionError(Exception):
    """The ciphertext is not authentic for this record and keyring (tampered, swapped,
    truncated, unknown or retired key). Deliberately one type with one message."""

    def __init__(self) -> None:
        super().__init__("ciphertext failed authentication")


@dataclass
class Keyring:
    """Data keys by id; ``primary`` encrypts new data, every key still here can decrypt.

    Thread-safety: mutate (``rotate``/``retire``) from one place; reads are lock-free.
    """

    keys: dict[str, bytes] = field(default_factory=dict)
    primary: str = ""

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            _check_key(key_id, key)
        if self.keys and self.primary not in self.keys:
            raise ValueError(f"primary key id {self.primary!r} is not in the keyring")

    @classmethod
    def generate(cls) -> Keyring:
        """A keyring with one fresh random key."""
        ring = cls()
        ring.rotate()
        return ring

    def rotate(self) -> str:
        """Add a fresh random key and make it primary; returns its id. Old keys stay."""
        key_id = f"k{len(self.keys) + 1}-{secrets.token_hex(3)}"
        self.keys[key_id] = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        self.primary = key_id
        return key_id

    def retire(self, key_id: str) -> None:
        """Destroy a key: whatever is still encrypted under it becomes unreadable."""
        if key_id == self.primary:
            raise ValueError("rotate to a new primary key before retiring this one")
        self.keys.pop(key_id, None)

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise DecryptionError() from None

    def __repr__(self) -> str:  # never print key material
        return f"Keyring(primary={self.primary!r}, key_ids={sorted(self.keys)!r})"


def _check_key(key_id: str, key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError(f"key {key_id!r} must be {KEY_BYTES} random bytes (AES-256)")


def record_aad(context: str, key_id: str) -> bytes:
    """Associated data: an unambiguous encoding of (format, context, key id).

    JSON of a list cannot be confused across fields the way ``context + key_id`` could
    (``"ab" + "c" == "a" + "bc"``).
    """
    return json.dumps([FORMAT_VERSION, context, key_id], separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise DecryptionError()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError() from None


def encrypt_with(plaintext: bytes, *, context: str, key_id: str, key: bytes) -> dict[str, Any]:
    """Encrypt ``plaintext`` for ``context`` (e.g. ``"record:42"``) under one key."""
    _check_key(key_id, key)
    nonce = os.urandom(NONCE_BYTES)  # fresh for every message, from the OS CSPRNG
    sealed = AESGCM(key).encrypt(nonce, plaintext, record_aad(context, key_id))
    return {"v": FORMAT_VERSION, "keyId": key_id, "nonce": _b64(nonce), "ciphertext": _b64(sealed)}


def encrypt(plaintext: bytes, *, context: str, keyring: Keyring) -> dict[str, Any]:
    """Encrypt under the keyring's primary key; returns the stored form."""
    return encrypt_with(
        plaintext, context=context, key_id=keyring.primary, key=keyring.key(keyring.primary)
    )


def decrypt_with(stored: Mapping[str, Any], *, context: str, keys: Mapping[str, bytes]) -> bytes:
    """Decrypt the stored form for ``context`` with whichever key its ``keyId`` names."""
    if not isinstance(stored, Mapping) or stored.get("v", FORMAT_VERSION) != FORMAT_VERSION:
        raise DecryptionError()
    key_id = stored.get("keyId")
    if not isinstance(key_id, str) or key_id not in keys:
        raise DecryptionError()
    nonce, sealed = _unb64(stored.get("nonce")), _unb64(stored.get("ciphertext"))
    if len(nonce) != NONCE_BYTES:
        raise DecryptionError()
    try:
        return AESGCM(keys[key_id]).decrypt(nonce, sealed, record_aad(context, key_id))
    except (InvalidTag, ValueError):
        raise DecryptionError() from None


def decrypt(stored: Mapping[str, Any], *, context: str, keyring: Keyring) -> bytes:
    """Decrypt the stored form for ``context``; raises :class:`DecryptionError`."""
    return decrypt_with(stored, context=context, keys=keyring.keys)


# -- the lab's plug-in signatures (09-encryption) --------------------------------------------
def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict[str, Any]:
    """``encrypt_with`` in the shape the 09-encryption app calls."""
    return encrypt_with(plaintext, context=record_id, key_id=key_id, key=key)


def decrypt_record(
    stored: Mapping[str, Any], record_id: str, keyring: Mapping[str, bytes]
) -> bytes | None:
    """``decrypt_with`` in the shape the 09-encryption app calls: ``None`` when rejected."""
    try:
        return decrypt_with(stored, context=record_id, keys=keyring)
    except DecryptionError:
        return None


# -- envelope encryption ---------------------------------------------------------------------
def wrap_data_key(data_key: bytes, *, kek_id: str, kek: bytes) -> dict[str, Any]:
    """Envelope encryption: seal a data key (DEK) under a key-encryption key (KEK).

    The KEK lives in a KMS/HSM and never leaves it; the wrapped DEK is stored next to the
    data it encrypts. Rotating the KEK re-wraps small DEKs instead of re-encrypting data.
    """
    _check_key("data key", data_key)
    return encrypt_with(data_key, context="data-key", key_id=kek_id, key=kek)


def unwrap_data_key(wrapped: Mapping[str, Any], *, keks: Mapping[str, bytes]) -> bytes:
    """Open a wrapped data key with the KEK its ``keyId`` names."""
    return decrypt_with(wrapped, context="data-key", keys=keks)
