"""Offline password cracking: identify a hash, crack it, measure the guess rate.

What an attacker does with a leaked users table (lab 01-passwords). Unsalted
fast hashes fall to one pass over a wordlist; salted slow hashes (bcrypt,
argon2) must be attacked one hash and one guess at a time. The attacker has the
same public libraries as the defender, so this module uses bcrypt and
argon2-cffi directly.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError
from argon2.low_level import hash_secret_raw

from labkit.wordlists import common_passwords

__all__ = [
    "HashInfo",
    "crack_slow",
    "crack_unsalted",
    "equal_hash_groups",
    "guess_rate",
    "identify_hash",
]

_FAST_HASHES: dict[str, Callable[[bytes], str]] = {
    "md5": lambda data: hashlib.md5(data).hexdigest(),
    "sha256": lambda data: hashlib.sha256(data).hexdigest(),
}
_BCRYPT = re.compile(r"\$2[abxy]?\$(\d{2})\$[./A-Za-z0-9]{53}")
_ARGON2 = re.compile(
    r"\$(argon2id|argon2i|argon2d)\$(?:v=\d+\$)?m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"
)
_HEX = re.compile(r"[0-9a-fA-F]+")
BCRYPT_MAX_BYTES = 72


@dataclass(frozen=True)
class HashInfo:
    """What a stored hash reveals about itself: scheme, cost parameters, salting."""

    scheme: str
    params: dict[str, int] = field(default_factory=dict)
    salted: bool = False


def identify_hash(stored: str) -> HashInfo:
    """Identify ``stored`` as md5 / sha256 hex, bcrypt, argon2id/i/d or "unknown".

    A 32-hex string is assumed MD5 and a 64-hex string SHA-256 (the usual
    suspects; other digests share those lengths).
    """
    if _HEX.fullmatch(stored):
        if len(stored) == 32:
            return HashInfo("md5")
        if len(stored) == 64:
            return HashInfo("sha256")
    if match := _BCRYPT.fullmatch(stored):
        return HashInfo("bcrypt", {"cost": int(match[1])}, salted=True)
    if match := _ARGON2.fullmatch(stored):
        params = {"m": int(match[2]), "t": int(match[3]), "p": int(match[4])}
        return HashInfo(match[1], params, salted=True)
    return HashInfo("unknown")


def _with_progress(words: Iterable[str], progress: bool, desc: str) -> Iterable[str]:
    if not progress:
        return words
    from tqdm.auto import tqdm

    return tqdm(words, desc=desc, unit="word")  # tqdm takes the total from len() if any


def crack_unsalted(
    hashes: Mapping[str, str],
    wordlist: Iterable[str] | None = None,
    *,
    progress: bool = False,
) -> dict[str, str]:
    """Crack unsalted MD5 / SHA-256 hex hashes; return ``{key: password}`` for each hit.

    Every word is hashed once per algorithm into a lookup table, then every
    hash is a dictionary lookup: without a salt, one table cracks all accounts.
    Other schemes are skipped. ``wordlist`` defaults to :func:`common_passwords`.
    """
    targets = {key: (identify_hash(h).scheme, h.lower()) for key, h in hashes.items()}
    schemes = {scheme for scheme, _ in targets.values() if scheme in _FAST_HASHES}
    if not schemes:
        return {}
    words = common_passwords() if wordlist is None else wordlist
    tables: dict[str, dict[str, str]] = {scheme: {} for scheme in schemes}
    for word in _with_progress(words, progress, "hashing wordlist"):
        data = word.encode()
        for scheme in schemes:
            # setdefault: the most frequent word wins if two ever collide.
            tables[scheme].setdefault(_FAST_HASHES[scheme](data), word)
    cracked: dict[str, str] = {}
    for key, (scheme, digest) in targets.items():
        if scheme in tables and digest in tables[scheme]:
            cracked[key] = tables[scheme][digest]
    return cracked


def _slow_checker(stored: str) -> Callable[[str], bool]:
    scheme = identify_hash(stored).scheme
    if scheme == "bcrypt":
        stored_bytes = stored.encode()
        # bcrypt only ever saw the first 72 bytes (bcrypt 5 refuses longer input).
        return lambda word: bcrypt.checkpw(word.encode()[:BCRYPT_MAX_BYTES], stored_bytes)
    if scheme.startswith("argon2"):
        hasher = PasswordHasher()  # parameters are read from the hash itself

        def check_argon2(word: str) -> bool:
            try:
                return hasher.verify(stored, word)
            except VerificationError:
                return False

        return check_argon2
    raise ValueError(
        f"crack_slow handles bcrypt and argon2 hashes, got {scheme!r}; "
        "use crack_unsalted for md5 / sha256"
    )


def crack_slow(stored: str, wordlist: Iterable[str], *, max_seconds: float = 2.0) -> str | None:
    """Try ``wordlist`` against one bcrypt / argon2 hash until a hit or ``max_seconds``.

    Returns the password, or None when the list or the time budget runs out.
    """
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    check = _slow_checker(stored)
    deadline = time.perf_counter() + max_seconds
    for word in wordlist:
        if time.perf_counter() >= deadline:
            return None
        try:
            if check(word):
                return word
        except ValueError as exc:  # bcrypt's "Invalid salt", argon2's InvalidHashError
            raise ValueError(f"malformed hash: {stored!r}") from exc
    return None


def _guess_function(
    scheme: str, bcrypt_cost: int, argon2_params: tuple[int, int, int]
) -> Callable[[bytes], object]:
    if scheme in _FAST_HASHES:
        return _FAST_HASHES[scheme]
    if scheme == "bcrypt":
        if not 4 <= bcrypt_cost <= 31:
            raise ValueError(f"bcrypt_cost must be 4..31, got {bcrypt_cost}")
        salt = bcrypt.gensalt(bcrypt_cost)  # an attacker reuses the target's salt
        return lambda guess: bcrypt.hashpw(guess, salt)
    if scheme == "argon2id":
        time_cost, memory_kib, parallelism = argon2_params
        salt = b"0123456789abcdef"  # as for bcrypt: one target, one salt
        return lambda guess: hash_secret_raw(
            guess,
            salt,
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            type=Type.ID,
        )
    raise ValueError(f"scheme must be md5, sha256, bcrypt or argon2id, got {scheme!r}")


def guess_rate(
    scheme: str,
    *,
    seconds: float = 0.5,
    bcrypt_cost: int = 12,
    argon2_params: tuple[int, int, int] = (2, 19456, 1),
) -> float:
    """Measure guesses per second for "md5", "sha256", "bcrypt" or "argon2id", live.

    Hashes a fresh guess per iteration for ``seconds`` (at least 2 iterations)
    on one core. ``argon2_params`` is ``(time_cost, memory_kib, parallelism)``.
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    guess = _guess_function(scheme, bcrypt_cost, argon2_params)
    count = 0
    start = time.perf_counter()
    elapsed = 0.0
    while count < 2 or elapsed < seconds:
        guess(b"guess-%d" % count)
        count += 1
        elapsed = time.perf_counter() - start
    return count / elapsed


def equal_hash_groups(hashes: Mapping[str, str]) -> list[list[str]]:
    """Group the keys whose stored hashes are identical (groups of two or more).

    Without a salt, equal passwords give equal hashes: each group is one
    password shared by several accounts. Keys are sorted within and across groups.
    """
    groups: dict[str, list[str]] = {}
    for key, stored in hashes.items():
        normalized = stored.lower() if _HEX.fullmatch(stored) else stored
        groups.setdefault(normalized, []).append(key)
    return sorted(sorted(keys) for keys in groups.values() if len(keys) >= 2)
