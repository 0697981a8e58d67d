"""Predict session ids the way an attacker does (lab 03-sessions).

A statistical test cannot tell a seeded generator from a random one, so the checks attack the
ids instead, from a sample the attacker collected in the order they were issued:

* :func:`predict_mersenne` — Python's :mod:`random` is a Mersenne Twister (MT19937): 624
  consecutive 32-bit outputs, untempered, are its whole state, and every later output follows.
  ``getrandbits(128)`` hands out four outputs per id, least significant word first, so 156
  ids are enough;
* :func:`predict_seeded` — a fresh ``random.Random(seed)`` per id, the seed a counter or the
  clock (seconds, milliseconds, microseconds, nanoseconds or a float ``time.time()``);
* :func:`predict_hashed` — a hash (MD5, SHA-1, SHA-2, SHA-3, BLAKE2) of a counter or of the
  time, as ``str(...)`` renders it;
* :func:`time_based_uuid` — ``uuid1``: a timestamp and the machine's address.

Each returns a :class:`Prediction` (how the ids fell) or ``None``. ``windows_ns`` are the
server's clock readings (``time.time_ns()``) just before and after each id was made — what a
log line or the ``Date`` header gives a real attacker, only tighter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import random
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "MT_WORDS",
    "Prediction",
    "clone_mersenne",
    "decodings",
    "predict_hashed",
    "predict_mersenne",
    "predict_seeded",
    "time_based_uuid",
    "untemper",
]

MASK = 0xFFFFFFFF
#: MT19937 keeps 624 words of state; that many consecutive outputs reveal all of it.
MT_WORDS = 624
#: Seeds and hash inputs tried for a counter: 0 .. COUNTER_LIMIT - 1.
COUNTER_LIMIT = 4096
#: Clock readings tried per id, at most (nanoseconds are many: the tightest window, from its
#: end backwards — the function runs late in it, after its worker thread has started).
MAX_CLOCK_CANDIDATES = 30_000
HASHES = ("md5", "sha1", "sha256", "sha512", "sha3_256", "blake2b", "blake2s")
Windows = Sequence[Sequence[int]]


@dataclass(frozen=True)
class Prediction:
    """How an attacker computes ids: ``how`` in words, and the evidence."""

    how: str
    evidence: str

    def __str__(self) -> str:
        return f"{self.how} ({self.evidence})"


# -- reading an id as numbers ------------------------------------------------------------
_HEX = re.compile(r"[0-9a-fA-F]+")
_B64 = re.compile(r"[A-Za-z0-9_\-+/]+=*")


def _b64(text: str) -> bytes | None:
    if not _B64.fullmatch(text):
        return None
    padded = text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def _hex_bytes(text: str) -> bytes | None:
    plain = text.removeprefix("0x").replace("-", "")
    if len(plain) % 2 or not _HEX.fullmatch(plain):
        return None
    return bytes.fromhex(plain)


def _decoders() -> dict[str, Callable[[str], int | None]]:
    def big(raw: Callable[[str], bytes | None]) -> Callable[[str], int | None]:
        return lambda t: None if (b := raw(t)) is None else int.from_bytes(b, "big")

    def little(raw: Callable[[str], bytes | None]) -> Callable[[str], int | None]:
        return lambda t: None if (b := raw(t)) is None else int.from_bytes(b, "little")

    def hex_number(text: str) -> int | None:
        plain = text.removeprefix("0x").replace("-", "")
        return int(plain, 16) if _HEX.fullmatch(plain) else None

    return {
        "hex": hex_number,
        "hex bytes, little-endian": little(_hex_bytes),
        "decimal": lambda t: int(t) if t.isdigit() and t.isascii() else None,
        "base64": big(_b64),
        "base64 bytes, little-endian": little(_b64),
    }


DECODERS = _decoders()


def decodings(session_id: str) -> dict[str, int]:
    """Every way to read ``session_id`` as a number (``getrandbits`` order)."""
    found = {}
    for name, decode in DECODERS.items():
        value = decode(session_id)
        if value is not None:
            found[name] = value
    return found


def _raw_bytes(session_id: str) -> list[bytes]:
    return [b for b in (_hex_bytes(session_id), _b64(session_id)) if b]


# -- Mersenne Twister --------------------------------------------------------------------
def _undo_right(value: int, shift: int) -> int:
    result = value
    for _ in range(32 // shift + 1):
        result = value ^ (result >> shift)
    return result & MASK


def _undo_left(value: int, shift: int, mask: int) -> int:
    result = value
    for _ in range(32 // shift + 1):
        result = value ^ ((result << shift) & mask)
    return result & MASK


def untemper(output: int) -> int:
    """The state word behind one 32-bit MT19937 output (tempering is invertible)."""
    value = _undo_right(output, 18)
    value = _undo_left(value, 15, 0xEFC60000)
    value = _undo_left(value, 7, 0x9D2C5680)
    return _undo_right(value, 11)


def clone_mersenne(outputs: Sequence[int]) -> random.Random:
    """A generator in the state the one that produced ``outputs`` (624 words) is in now."""
    if len(outputs) < MT_WORDS:
        raise ValueError(f"need {MT_WORDS} consecutive 32-bit outputs, got {len(outputs)}")
    clone = random.Random()  # noqa: S311 - the attacker's copy of a weak generator
    state = tuple(untemper(w) for w in outputs[-MT_WORDS:])
    clone.setstate((3, (*state, MT_WORDS), None))
    return clone


def _words(value: int, width: int) -> list[int]:
    return [(value >> (32 * i)) & MASK for i in range(width // 32)]


def predict_mersenne(ids: Sequence[str]) -> Prediction | None:
    """Recover MT19937 from the first 624 words of ``ids`` and predict the rest exactly."""
    for name, decode in DECODERS.items():
        values = [decode(i) for i in ids]
        if not values or any(v is None for v in values):
            continue
        numbers = [v for v in values if v is not None]
        width = 32 * math.ceil(max(v.bit_length() for v in numbers) / 32)
        per_id = width // 32
        if per_id == 0 or len(numbers) * per_id < MT_WORDS + 8:
            continue
        stream = [w for v in numbers for w in _words(v, width)]
        used = math.ceil(MT_WORDS / per_id)  # whole ids the attacker reads first
        clone = clone_mersenne(stream[used * per_id - MT_WORDS : used * per_id])
        later = numbers[used:]
        if later and all(clone.getrandbits(width) == v for v in later):
            return Prediction(
                f"Python's random (Mersenne Twister): {used} ids gave away its state",
                f"ids read as {name}, {width} bits = {per_id} outputs each; the next "
                f"{len(later)} ids were predicted exactly",
            )
    return None


# -- seeds and hashes of counters and clocks ---------------------------------------------
def _tightest(windows: Windows, count: int = 1) -> list[int]:
    order = sorted(range(len(windows)), key=lambda i: windows[i][1] - windows[i][0])
    return order[:count]


def _clock_readings(start_ns: int, end_ns: int) -> Iterator[tuple[str, int | float]]:
    """Every value a clock read between ``start_ns`` and ``end_ns`` could have returned."""
    for what, scale in (
        ("int(time.time())", 10**9),
        ("int(time.time() * 1000)", 10**6),
        ("int(time.time() * 1e6)", 10**3),
    ):
        for value in range(start_ns // scale, end_ns // scale + 1):
            yield what, value
    for value in range(end_ns, max(start_ns, end_ns - MAX_CLOCK_CANDIDATES) - 1, -1):
        yield "time.time_ns()", value
    reading, last, floats = start_ns / 1e9, end_ns / 1e9, 0
    while reading <= last and floats < MAX_CLOCK_CANDIDATES:
        yield "time.time()", reading
        reading, floats = math.nextafter(reading, math.inf), floats + 1


def _seeds(windows: Windows) -> Iterator[tuple[int, str, int | float]]:
    """(index of the id, what the seed is, the seed) — counters, then the clock."""
    for index in _tightest(windows):
        for what, value in _clock_readings(*windows[index][:2]):
            yield index, what, value
    for counter in range(COUNTER_LIMIT):
        yield -1, "a counter", counter


def predict_seeded(ids: Sequence[str], windows_ns: Windows) -> Prediction | None:
    """Find the seed of a fresh ``random.Random(seed)`` per id: a counter or the clock."""
    targets: dict[tuple[int, int], set[int]] = {}  # (width, value) -> indexes of the ids
    for index, session_id in enumerate(ids):
        for value in decodings(session_id).values():
            width = 32 * max(1, math.ceil(value.bit_length() / 32))
            targets.setdefault((width, value), set()).add(index)
    if not targets:
        return None
    widths = sorted({w for w, _ in targets})
    widest = widths[-1]
    for index, what, seed in _seeds(windows_ns):
        # getrandbits(k) for k a multiple of 32 is the low k bits of getrandbits(widest)
        value = random.Random(seed).getrandbits(widest)  # noqa: S311 - the attack
        for width in widths:
            hits = targets.get((width, value & ((1 << width) - 1)))
            if hits and (index < 0 or index in hits):
                return Prediction(
                    f"each id comes from random.Random({what})",
                    f"id #{min(hits) + 1} is random.Random({seed!r}).getrandbits({width})",
                )
    return None


def _preimages(windows: Windows) -> Iterator[tuple[str, bytes]]:
    for counter in range(COUNTER_LIMIT):
        yield "a counter", str(counter).encode()
    for index in _tightest(windows):
        start, end = windows[index][:2]
        for what, value in _clock_readings(start, end):
            yield what, str(value).encode()
        for micros in range(start // 1000, end // 1000 + 1):
            yield "datetime.now()", str(datetime.fromtimestamp(micros / 1e6)).encode()


def predict_hashed(ids: Sequence[str], windows_ns: Windows) -> Prediction | None:
    """Find ids that are a hash of a counter or of the time (hex or base64 digests)."""
    prefixes = {raw[:8]: i for i, s in enumerate(ids) for raw in _raw_bytes(s) if len(raw) >= 8}
    if not prefixes:
        return None
    hashers = [(name, getattr(hashlib, name)) for name in HASHES]
    for what, data in _preimages(windows_ns):
        for name, hasher in hashers:
            digest = hasher(data).digest()
            if digest[:8] in prefixes:
                return Prediction(
                    f"each id is a {name} of {what}",
                    f"id #{prefixes[digest[:8]] + 1} is {name}({data.decode()!r})",
                )
    return None


def time_based_uuid(ids: Sequence[str]) -> Prediction | None:
    """``uuid1`` (or ``uuid6``): a 60-bit timestamp and a node that never changes."""
    parsed = []
    for session_id in ids:
        try:
            parsed.append(uuid.UUID(session_id.replace("-", "")))
        except ValueError:
            return None
    if not parsed or any(u.variant != uuid.RFC_4122 or u.version not in (1, 6) for u in parsed):
        return None
    nodes = {u.node for u in parsed}
    return Prediction(
        "the ids are time-based UUIDs (uuid1): a clock reading and the machine's address",
        f"{len(nodes)} node value(s) for {len(parsed)} ids; only the clock changes",
    )
