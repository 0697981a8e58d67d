"""03 id-entropy: wrong and right session id generators — judged by an attacker who collects
ids and tries to compute the next one."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import random
import secrets
import string
import time
import uuid
from typing import Any

from labkit.patterns import sessions as secure
from labkit.vulnerable import sessions as weak
from tests.fixes.corpus import Fixes, right, wrong


def _verify(**parts: Any) -> Fixes:
    """The reference's five functions, except ``parts`` (``verify`` needs all five)."""
    return {
        "new_session_id": secure.new_session_id,
        "start_session": secure.start_session,
        "session_cookie": secure.session_cookie,
        "end_session": secure.end_session,
        "session_expired": secure.session_expired,
        **parts,
    }


@wrong("id-entropy", breaks="csprng", also=("verify",))
def mersenne_getrandbits() -> Fixes:
    """128 bits from random.getrandbits, hex: 'unguessable', until 156 ids give away MT19937."""
    return _verify(new_session_id=lambda: f"{random.getrandbits(128):032x}")


@wrong("id-entropy", breaks="csprng")
def private_mersenne_base64() -> Fixes:
    """A private random.Random() (seeded from the OS at start), 256 bits as base64url."""
    generator = random.Random()

    def new_session_id() -> str:
        return base64.urlsafe_b64encode(generator.randbytes(32)).decode().rstrip("=")

    return {"new_session_id": new_session_id}


@wrong("id-entropy", breaks="csprng")
def random_choices() -> Fixes:
    """32 characters from random.choices: ~190 bits by the look of it, all from MT19937."""
    alphabet = string.ascii_letters + string.digits
    return {"new_session_id": lambda: "".join(random.choices(alphabet, k=32))}


@wrong("id-entropy", breaks="csprng")
def seeded_with_the_clock() -> Fixes:
    """A fresh generator per id, seeded with time.time_ns(): 'a new seed every time'."""

    def new_session_id() -> str:
        return f"{random.Random(time.time_ns()).getrandbits(128):032x}"

    return {"new_session_id": new_session_id}


@wrong("id-entropy", breaks="unpredictable")
def sha256_of_the_time() -> Fixes:
    """SHA-256 of str(time.time()): 64 hex digits that look random and are a clock."""
    return _verify(new_session_id=lambda: hashlib.sha256(str(time.time()).encode()).hexdigest())


@wrong("id-entropy", breaks="unpredictable")
def sha256_of_a_counter() -> Fixes:
    """SHA-256 of a counter: every id is hashlib.sha256(b'<n>')."""
    counter = itertools.count()
    return {"new_session_id": lambda: hashlib.sha256(str(next(counter)).encode()).hexdigest()}


@wrong("id-entropy", breaks="unpredictable")
def uuid1_ids() -> Fixes:
    """uuid1: 128 bits long, but a timestamp and the machine's address."""
    return {"new_session_id": lambda: str(uuid.uuid1())}


@wrong("id-entropy", breaks="unpredictable")
def nanosecond_clock() -> Fixes:
    """The clock in hex: unique, and one guess from the next."""
    return {"new_session_id": lambda: format(time.time_ns(), "x")}


@wrong("id-entropy", breaks="at-least-128-bits")
def uuid4_ids() -> Fixes:
    """uuid4 from the OS CSPRNG, but only 122 random bits."""
    return _verify(new_session_id=lambda: uuid.uuid4().hex)


@wrong("id-entropy", breaks="at-least-128-bits")
def token_hex_8() -> Fixes:
    """secrets, but 8 bytes: 64 bits."""
    return {"new_session_id": lambda: secrets.token_hex(8)}


@right("id-entropy", also=("verify",))
def urandom_base64() -> Fixes:
    """24 bytes of os.urandom, base64url: 192 bits."""
    return _verify(new_session_id=lambda: base64.urlsafe_b64encode(os.urandom(24)).decode())


@right("id-entropy")
def system_random_decimal() -> Fixes:
    """random.SystemRandom (the OS CSPRNG behind random's API), 160 bits as a decimal number."""

    class Ids:
        def __init__(self) -> None:
            self.source = random.SystemRandom()

        def __call__(self) -> str:
            return str(self.source.getrandbits(160))

    return {"new_session_id": Ids()}


@right("id-entropy")
def exactly_128_bits_hex() -> Fixes:
    """secrets.token_bytes(16).hex(): exactly the 128-bit minimum."""
    return {"new_session_id": lambda: secrets.token_bytes(16).hex()}


@right("id-entropy")
def two_uuid4s() -> Fixes:
    """Two uuid4s side by side: 244 random bits."""
    return {"new_session_id": lambda: uuid.uuid4().hex + uuid.uuid4().hex}


@wrong("id-entropy", breaks="unpredictable")
def counter_from_a_random_start() -> Fixes:
    """A counter that starts at a random number: every id is the previous one plus one."""
    return {"new_session_id": weak.SequentialIds(secrets.randbelow(10**9))}
