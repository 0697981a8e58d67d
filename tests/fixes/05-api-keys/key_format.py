"""05 key-format: wrong and right ways to make an API key."""

from __future__ import annotations

import secrets
import string
import time
import zlib

from labkit.patterns import apikeys as reference
from labkit.sandbox.apps.apikeys import _secure_authenticate
from labkit.vulnerable import apikeys as weak
from tests.fixes.corpus import Fixes, right, wrong

PREFIX = "lk_live_"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _crc(body: str, width: int = 6) -> str:
    number, digits = zlib.crc32(body.encode()), []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def _whole(generate_key: object) -> Fixes:
    """All five functions (for verify): the reference key system with this generator."""
    return {
        "generate_key": generate_key,
        "hash_key": reference.hash_api_key,
        "read_api_key": reference.read_api_key,
        "authenticate": _secure_authenticate,
        "redact_url": reference.redact_url,
    }


@wrong("key-format", breaks="prefix", also=("verify",))
def the_old_64_bit_keys() -> Fixes:
    """The app's old generator: 16 hex digits from random, no prefix, no checksum."""
    return _whole(weak.generate_api_key)


@wrong("key-format", breaks="body-and-checksum")
def prefix_and_hex_no_checksum() -> Fixes:
    """lk_live_ + 36 hex digits: the right length, but the tail is no checksum."""
    return {"generate_key": lambda: PREFIX + secrets.token_hex(18)}


@wrong("key-format", breaks="body-and-checksum")
def checksum_digits_reversed() -> Fixes:
    """The CRC32 in base62, least significant digit first."""

    def generate_key() -> str:
        body = "".join(secrets.choice(BASE62) for _ in range(30))
        return PREFIX + body + _crc(body)[::-1]

    return _whole(generate_key)


@wrong("key-format", breaks="body-and-checksum")
def checksum_in_hex() -> Fixes:
    """The CRC32 as 8 hex digits: the key is 2 characters too long."""

    def generate_key() -> str:
        body = "".join(secrets.choice(BASE62) for _ in range(30))
        return f"{PREFIX}{body}{zlib.crc32(body.encode()):08x}"

    return {"generate_key": generate_key}


@wrong("key-format", breaks="random-body")
def hex_body() -> Fixes:
    """secrets.token_hex(15) as the body: 30 characters of 16, 120 bits, under the floor."""

    def generate_key() -> str:
        body = secrets.token_hex(15)
        return PREFIX + body + _crc(body)

    return _whole(generate_key)


@wrong("key-format", breaks="random-body")
def lower_case_body() -> Fixes:
    """Digits and lower-case letters only: 36 of the 62 characters."""

    def generate_key() -> str:
        body = "".join(secrets.choice(string.digits + string.ascii_lowercase) for _ in range(30))
        return PREFIX + body + _crc(body)

    return {"generate_key": generate_key}


@wrong("key-format", breaks="random-body")
def timestamp_body() -> Fixes:
    """Right shape and checksum, but the body is a zero-padded clock reading."""

    def generate_key() -> str:
        body = f"{time.time_ns():030d}"
        return PREFIX + body + _crc(body)

    return {"generate_key": generate_key}


@right("key-format", also=("verify",))
def big_integer_in_base62() -> Fixes:
    """One 179-bit secrets.randbits() number written as 30 base62 digits, in a class."""

    class KeyMaker:
        def __call__(self) -> str:
            number = secrets.randbits(179) % 62**30
            body = ""
            for _ in range(30):
                number, digit = divmod(number, 62)
                body += BASE62[digit]
            return PREFIX + body + _crc(body)

    return _whole(KeyMaker())


@right("key-format")
def randbelow_indices() -> Fixes:
    """secrets.randbelow(62) per character, a tuple of characters joined."""

    def generate_key() -> str:
        body = "".join(tuple(BASE62[secrets.randbelow(62)] for _ in range(30)))
        return f"{PREFIX}{body}{_crc(body)}"

    return {"generate_key": generate_key}
