"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

BrokenShop's saved payment cards (lab 13-capstone), encrypted with a cipher the team wrote
itself one afternoon — "it uses SHA-256, so it is military grade": the keystream is
``SHA-256(key || counter)`` block after block, XOR-ed onto the card number. No nonce, so
every card is XOR-ed with the *same* keystream; no MAC, so a changed byte decrypts to a
changed digit and nobody notices; nothing binds a ciphertext to the row it belongs to.
It has the same shape as lab 09's plug-in functions. Secure twin:
:func:`labkit.patterns.crypto.encrypt_record` (AES-256-GCM, random 96-bit nonce, AAD).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

__all__ = ["decrypt_record", "encrypt_record", "keystream"]


def keystream(key: bytes, length: int) -> bytes:
    """``length`` bytes of SHA-256(key || 0), SHA-256(key || 1), ... — the shop's "cipher".

    Flaw: the stream depends on the key alone. Every message under one key is XOR-ed with
    the same bytes, so one known plaintext gives them all (a two-time pad, made n-time).
    Exploited in: 13-capstone (homemade-crypto: known-plaintext recovery from the breach).
    Secure twin: labkit.patterns.crypto.encrypt_with (AES-GCM with a fresh random nonce).
    """
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(key + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:length])


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict[str, Any]:
    """Encrypt a card number: ``plaintext XOR keystream(key)``, stored as base64.

    Flaw: home-made stream cipher without a nonce or a MAC: equal numbers give equal
    ciphertexts, saving one card you know reveals the keystream for every other card,
    and ``record_id`` is ignored (a ciphertext is valid in any row).
    Exploited in: 13-capstone (homemade-crypto: known plaintext + the breach → every card).
    Secure twin: labkit.patterns.crypto.encrypt_record.
    """
    sealed = _xor(plaintext, keystream(key, len(plaintext)))
    return {"keyId": key_id, "ciphertext": base64.b64encode(sealed).decode("ascii")}


def decrypt_record(
    stored: Mapping[str, Any], record_id: str, keyring: Mapping[str, bytes]
) -> bytes | None:
    """XOR the keystream back off; ``None`` only when the key or the base64 is missing.

    Flaw: no integrity check: a flipped ciphertext bit is a flipped plaintext bit, and
    whatever comes out is believed; a ciphertext copied into another row reads there too.
    Exploited in: 13-capstone (homemade-crypto: tampered and swapped cards go unnoticed).
    Secure twin: labkit.patterns.crypto.decrypt_record.
    """
    key = keyring.get(str(stored.get("keyId")))
    if key is None:
        return None
    try:
        sealed = base64.b64decode(str(stored.get("ciphertext", "")), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _xor(sealed, keystream(key, len(sealed)))
