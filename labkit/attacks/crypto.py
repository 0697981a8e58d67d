"""Attacks on encryption done wrong (lab 09-encryption): ECB patterns, CBC bit-flipping,
nonce reuse, keys in source code.

Pure functions over bytes and strings. They need no key (except :func:`decrypt_ecb`, which
uses one found by :func:`keys_in_source`): each exploits what a mode does *not* promise.
"""

from __future__ import annotations

import base64
import re
from collections import Counter

import numpy as np
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "BLOCK",
    "GCM_TAG",
    "block_image",
    "blocks",
    "byte_image",
    "cbc_flip",
    "decrypt_ecb",
    "find_codes",
    "keys_in_source",
    "recover_with_known_plaintext",
    "repeated_block_ratio",
    "sample_bitmap",
    "xor",
]

BLOCK = 16  # AES block size in bytes
GCM_TAG = 16  # AES-GCM appends a 16-byte tag to the ciphertext

_HEX_KEY = re.compile(r"""fromhex\(\s*['"]((?:[0-9a-fA-F]{2}\s*){16,32})['"]""")
_BYTES_KEY = re.compile(r"""\bb(['"])([ -~]{16}|[ -~]{24}|[ -~]{32})\1""")
_B64_KEY = re.compile(r"""b64decode\(\s*['"]([A-Za-z0-9+/=_-]{22,64})['"]""")
_PALETTE = (220, 20, 90, 150, 50, 120, 180)  # shades for the most common blocks, in order
_CODE = re.compile(r"\b[A-Z2-7]{4}(?:-[A-Z2-7]{4}){2}\b")


def xor(a: bytes, b: bytes) -> bytes:
    """Byte-wise XOR, as long as the shorter input."""
    return bytes(x ^ y for x, y in zip(a, b, strict=False))


def blocks(data: bytes, size: int = BLOCK) -> list[bytes]:
    """``data`` cut into ``size``-byte blocks (the last one may be short)."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def repeated_block_ratio(data: bytes) -> float:
    """Fraction of 16-byte blocks that repeat an earlier block (0.0 for good ciphertext).

    Under a proper mode (GCM, CTR, CBC with random IV) equal plaintext blocks encrypt
    differently and a repeat has probability ~2**-128. Under ECB, a picture's flat areas
    repeat in the ciphertext exactly as in the plaintext.
    """
    cut = [b for b in blocks(data) if len(b) == BLOCK]
    if not cut:
        return 0.0
    return 1 - len(set(cut)) / len(cut)


def byte_image(data: bytes, width: int) -> np.ndarray:
    """The bytes as a grayscale image ``width`` pixels wide (one byte per pixel)."""
    rows = len(data) // width
    return np.frombuffer(data[: rows * width], dtype=np.uint8).reshape(rows, width)


def block_image(data: bytes, width: int) -> np.ndarray:
    """Each 16-byte block painted by identity: the most common block light grey, the next
    ones dark, mid and so on; blocks that occur only once white. ``width`` is the picture
    width in pixels (bytes)."""
    cut = blocks(data)
    counts = Counter(b for b in cut if len(b) == BLOCK)
    rank = {b: i for i, (b, n) in enumerate(counts.most_common()) if n > 1}
    per_row = width // BLOCK
    rows = len(cut) // per_row
    image = np.full((rows, width), 255, dtype=np.uint8)
    for index, block in enumerate(cut[: rows * per_row]):
        if block in rank:
            row, col = divmod(index, per_row)
            image[row, col * BLOCK : (col + 1) * BLOCK] = _PALETTE[rank[block] % len(_PALETTE)]
    return image


def sample_bitmap(width: int = 256, height: int = 160) -> bytes:
    """A grayscale padlock, one byte per pixel, drawn in code (nothing downloaded).

    Flat areas wide enough to fill whole 16-pixel blocks: exactly what ECB gives away.
    """
    y, x = np.mgrid[0:height, 0:width]
    image = np.full((height, width), 230, dtype=np.uint8)  # light background
    cx, body_top = width / 2, height * 0.45
    # the shackle: a thick ring, top half only
    radius = np.hypot(x - cx, y - body_top)
    ring = (radius > height * 0.22) & (radius < height * 0.34) & (y < body_top)
    image[ring] = 60
    # the body: a rectangle
    body = (abs(x - cx) < width * 0.3) & (y >= body_top) & (y < height * 0.95)
    image[body] = 20
    # the keyhole
    hole = (np.hypot(x - cx, y - height * 0.62) < height * 0.07) | (
        (abs(x - cx) < height * 0.03) & (y > height * 0.62) & (y < height * 0.82)
    )
    image[hole & body] = 230
    return image.tobytes()


def cbc_flip(token: str, offset: int, known: bytes, wanted: bytes) -> str:
    """Turn ``known`` into ``wanted`` at plaintext ``offset`` of a CBC token, without the key.

    The token is base64url(IV || C1 || C2 ...). In CBC, P[i] = D(C[i]) XOR C[i-1] (C[0] is
    the IV), so XOR-ing a byte of C[i-1] flips the same bit of P[i]. For bytes in the first
    block that means editing the IV: nothing else changes. Further on, block i-1 turns to
    garbage — which is why a MAC (or an AEAD) is not optional.
    """
    if len(known) != len(wanted):
        raise ValueError("known and wanted must have the same length")
    raw = bytearray(base64.urlsafe_b64decode(token.encode()))
    for i, (old, new) in enumerate(zip(known, wanted, strict=True)):
        raw[offset + i] ^= old ^ new  # IV bytes sit where P1's bytes are: same offset
    return base64.urlsafe_b64encode(bytes(raw)).decode()


def recover_with_known_plaintext(
    target: bytes, known_ciphertext: bytes, known_plaintext: bytes, *, tag: int = GCM_TAG
) -> bytes:
    """Decrypt ``target`` from another ciphertext made with the **same key and nonce**.

    CTR and GCM encrypt as P XOR keystream(key, nonce): with the nonce reused,
    C1 XOR C2 = P1 XOR P2, and knowing P2 gives P1. ``tag`` bytes (GCM's tag) are cut off
    the end of both ciphertexts first; pass ``tag=0`` for plain CTR.
    """
    body = target[: len(target) - tag] if tag else target
    other = known_ciphertext[: len(known_ciphertext) - tag] if tag else known_ciphertext
    keystream = xor(other, known_plaintext)
    return xor(body, keystream)


def keys_in_source(text: str) -> list[bytes]:
    """AES-sized keys written into source code: ``bytes.fromhex("..")``, ``b".."``
    literals of 16/24/32 bytes and ``b64decode("..")`` of the same sizes."""
    found: list[bytes] = []
    for match in _HEX_KEY.finditer(text):
        found.append(bytes.fromhex(re.sub(r"\s", "", match.group(1))))
    for match in _BYTES_KEY.finditer(text):
        found.append(match.group(2).encode())
    for match in _B64_KEY.finditer(text):
        try:
            raw = base64.b64decode(match.group(1) + "==")
        except ValueError:
            continue
        if len(raw) in (16, 24, 32):
            found.append(raw)
    return [k for k in dict.fromkeys(found) if len(k) in (16, 24, 32)]


def decrypt_ecb(key: bytes, ciphertext: bytes) -> bytes:
    """AES-ECB decryption with PKCS#7 unpadding — what an attacker does with a found key."""
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(BLOCK * 8).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def find_codes(text: str) -> list[str]:
    """Recovery codes (``XXXX-XXXX-XXXX``, base32 letters and digits) in a text."""
    return _CODE.findall(text)
