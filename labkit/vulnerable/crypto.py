"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

Encryption at rest as the notes service (lab 09-encryption) first shipped it: a "file vault"
in AES-ECB under a key written in this very file, a profile cookie in AES-CBC with no MAC,
and notes in AES-GCM — with the same nonce every time, no associated data and the key id
ignored on the way back. Each is a real AES from ``cryptography``; the modes and the key
handling are the flaws. Secure twin: :mod:`labkit.patterns.crypto`.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "BLOCK_BYTES",
    "FILE_VAULT_KEY",
    "FIXED_NONCE",
    "decrypt_cookie",
    "decrypt_file",
    "decrypt_record",
    "encrypt_cookie",
    "encrypt_file",
    "encrypt_record",
]

BLOCK_BYTES = 16

#: Flaw: a hard-coded key. Every deployment of this code, every fork and every copy of the
#: repository (and its git history, forever) holds the key to every vault file.
#: Exploited in: 09-encryption (hard-coded key). Secure twin: labkit.patterns.crypto.Keyring.
FILE_VAULT_KEY = bytes.fromhex("71bbcc64e0f011821efc78a4cd9fb2c62529b06f19eb7983dd35b97976999441")

#: Flaw: one nonce for every message under a key. Exploited in: 09-encryption (nonce reuse).
FIXED_NONCE = bytes.fromhex("000000000000000000000001")


def _pad(data: bytes) -> bytes:
    padder = padding.PKCS7(BLOCK_BYTES * 8).padder()
    return padder.update(data) + padder.finalize()


def _unpad(data: bytes) -> bytes:
    unpadder = padding.PKCS7(BLOCK_BYTES * 8).unpadder()
    return unpadder.update(data) + unpadder.finalize()


def encrypt_file(plaintext: bytes) -> bytes:
    """Encrypt a vault file with AES-256-ECB under :data:`FILE_VAULT_KEY`.

    Flaw: ECB encrypts each 16-byte block on its own, so equal plaintext blocks give equal
    ciphertext blocks (the picture shows through), and the key is in the source code.
    Exploited in: 09-encryption (ECB picture, hard-coded key).
    Secure twin: labkit.patterns.crypto.encrypt.
    """
    encryptor = Cipher(algorithms.AES(FILE_VAULT_KEY), modes.ECB()).encryptor()
    return encryptor.update(_pad(plaintext)) + encryptor.finalize()


def decrypt_file(ciphertext: bytes) -> bytes:
    """Decrypt a vault file (AES-256-ECB, hard-coded key).

    Flaw: no integrity check; anyone with the source decrypts every file.
    Exploited in: 09-encryption (hard-coded key).
    Secure twin: labkit.patterns.crypto.decrypt.
    """
    decryptor = Cipher(algorithms.AES(FILE_VAULT_KEY), modes.ECB()).decryptor()
    return _unpad(decryptor.update(ciphertext) + decryptor.finalize())


def encrypt_cookie(key: bytes, plaintext: bytes) -> str:
    """The profile cookie: base64url(IV || AES-CBC(plaintext)), random IV, **no MAC**.

    Flaw: encryption is not integrity. Flipping a bit of the IV flips the same bit of the
    first plaintext block, so ``role=user`` becomes ``role=admin`` without the key.
    Exploited in: 09-encryption (CBC bit-flipping).
    Secure twin: labkit.patterns.crypto.encrypt (AES-GCM authenticates every bit).
    """
    iv = os.urandom(BLOCK_BYTES)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    token = iv + encryptor.update(_pad(plaintext)) + encryptor.finalize()
    return base64.urlsafe_b64encode(token).decode("ascii")


def decrypt_cookie(key: bytes, token: str) -> bytes | None:
    """Decrypt a profile cookie; ``None`` when it is not even well-formed.

    Flaw: whatever decrypts with valid padding is believed (and the padding error itself
    is an oracle: Vaudenay 2002 decrypts such cookies byte by byte).
    Exploited in: 09-encryption (CBC bit-flipping).
    Secure twin: labkit.patterns.crypto.decrypt.
    """
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if len(raw) < 2 * BLOCK_BYTES or len(raw) % BLOCK_BYTES:
        return None
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:BLOCK_BYTES])).decryptor()
    try:
        return _unpad(decryptor.update(raw[BLOCK_BYTES:]) + decryptor.finalize())
    except ValueError:
        return None


def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict[str, Any]:
    """AES-256-GCM with :data:`FIXED_NONCE`, no associated data.

    Flaw: GCM is CTR mode underneath: the same (key, nonce) gives the same keystream, so
    two ciphertexts XOR to the XOR of their plaintexts, and the authentication key leaks
    enough to forge tags. Without AAD a ciphertext is valid in any row.
    Exploited in: 09-encryption (nonce reuse, swapped records).
    Secure twin: labkit.patterns.crypto.encrypt_record.
    """
    sealed = AESGCM(key).encrypt(FIXED_NONCE, plaintext, None)
    return {
        "keyId": key_id,
        "nonce": base64.b64encode(FIXED_NONCE).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }


def decrypt_record(
    stored: Mapping[str, Any], record_id: str, keyring: Mapping[str, bytes]
) -> bytes | None:
    """Decrypt with the newest key, whatever the record says; ``None`` when the tag fails.

    Flaw: the key id is ignored, so rotating the key makes every older record unreadable
    (and teams stop rotating); no AAD, so a record copied into another row decrypts.
    Exploited in: 09-encryption (rotation, swapped records).
    Secure twin: labkit.patterns.crypto.decrypt_record.
    """
    if not keyring:
        return None
    newest = list(keyring.values())[-1]
    try:
        nonce = base64.b64decode(stored["nonce"])
        return AESGCM(newest).decrypt(nonce, base64.b64decode(stored["ciphertext"]), None)
    except (InvalidTag, KeyError, ValueError, TypeError):
        return None
