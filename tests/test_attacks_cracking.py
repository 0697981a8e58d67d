from __future__ import annotations

import hashlib
import secrets
import time

import bcrypt
import pytest
from argon2 import PasswordHasher, Type

from labkit.attacks.cracking import (
    HashInfo,
    crack_slow,
    crack_unsalted,
    equal_hash_groups,
    guess_rate,
    identify_hash,
)
from labkit.wordlists import common_passwords


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


FAST_ARGON2 = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def test_identify_each_format() -> None:
    assert identify_hash(md5("x")) == HashInfo("md5", {}, False)
    assert identify_hash(md5("x").upper()).scheme == "md5"
    assert identify_hash(sha256("x")) == HashInfo("sha256", {}, False)
    stored = bcrypt.hashpw(b"x", bcrypt.gensalt(4)).decode()
    assert identify_hash(stored) == HashInfo("bcrypt", {"cost": 4}, True)
    current = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
    assert identify_hash(current.hash("x")) == HashInfo(
        "argon2id", {"m": 19456, "t": 2, "p": 1}, True
    )
    weak_i = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.I)
    assert identify_hash(weak_i.hash("x")) == HashInfo("argon2i", {"m": 8192, "t": 1, "p": 1}, True)
    for unknown in ["", "plaintext", "abc123", "f" * 40, "$2b$12$short", "$argon2id$v=19$x"]:
        assert identify_hash(unknown) == HashInfo("unknown", {}, False)


def test_crack_unsalted_recovers_wordlist_passwords() -> None:
    random_password = secrets.token_urlsafe(16)
    leak = {
        "alice": md5("dragon"),
        "bob": sha256("password"),
        "carol": md5(random_password),
        "dave": sha256(random_password),
        "erin": bcrypt.hashpw(b"dragon", bcrypt.gensalt(4)).decode(),  # skipped
        "frank": md5("iloveyou").upper(),
    }
    cracked = crack_unsalted(leak)
    assert cracked == {"alice": "dragon", "bob": "password", "frank": "iloveyou"}


def test_crack_unsalted_custom_wordlist_and_progress(capsys: pytest.CaptureFixture[str]) -> None:
    leak = {"a": md5("tr0ub4dor&3"), "b": sha256("tr0ub4dor&3")}
    words = iter(["nope", "tr0ub4dor&3"])  # any iterable, even a one-shot generator
    assert crack_unsalted(leak, words, progress=True) == {"a": "tr0ub4dor&3", "b": "tr0ub4dor&3"}
    assert "hashing wordlist" in capsys.readouterr().err
    assert crack_unsalted(leak, ["nope"]) == {}
    assert crack_unsalted({}) == {}


def test_crack_slow_bcrypt_and_argon2() -> None:
    words = list(common_passwords(20))
    bcrypt_hash = bcrypt.hashpw(words[5].encode(), bcrypt.gensalt(4)).decode()
    assert crack_slow(bcrypt_hash, words) == words[5]
    argon2_hash = FAST_ARGON2.hash(words[3])
    assert crack_slow(argon2_hash, words) == words[3]
    assert crack_slow(argon2_hash, ["not", "in", "list"]) is None


def test_crack_slow_bcrypt_matches_truncated_long_password() -> None:
    stored = bcrypt.hashpw(b"y" * 72, bcrypt.gensalt(4)).decode()
    assert crack_slow(stored, ["y" * 80]) == "y" * 80


def test_crack_slow_stops_at_time_budget() -> None:
    stored = bcrypt.hashpw(b"unguessable", bcrypt.gensalt(10)).decode()
    start = time.perf_counter()
    assert crack_slow(stored, common_passwords(), max_seconds=0.3) is None
    # the whole wordlist would take half an hour at cost 10: a generous bound proves the stop
    assert time.perf_counter() - start < 10.0


def test_crack_slow_rejects_fast_hashes_and_bad_budget() -> None:
    with pytest.raises(ValueError):
        crack_slow(md5("x"), ["x"])
    with pytest.raises(ValueError):
        crack_slow(FAST_ARGON2.hash("x"), ["x"], max_seconds=0)


def test_guess_rate_fast_beats_slow() -> None:
    fast = guess_rate("md5", seconds=0.2)
    assert guess_rate("sha256", seconds=0.2) > 10_000
    slow = guess_rate("bcrypt", seconds=0.2, bcrypt_cost=8)
    argon = guess_rate("argon2id", seconds=0.2, argon2_params=(1, 8192, 1))
    assert fast > 100 * slow
    assert fast > 10 * argon
    assert slow > 0
    assert argon > 0


def test_guess_rate_validation() -> None:
    with pytest.raises(ValueError):
        guess_rate("rot13")
    with pytest.raises(ValueError):
        guess_rate("md5", seconds=0)
    with pytest.raises(ValueError):
        guess_rate("bcrypt", bcrypt_cost=3)


def test_equal_hash_groups() -> None:
    hashes = {
        "zoe": md5("123456"),
        "amy": md5("123456"),
        "bob": md5("123456").upper(),
        "cat": md5("qwerty"),
        "dan": md5("qwerty"),
        "eve": md5("unique"),
        "fay": sha256("unique"),
    }
    assert equal_hash_groups(hashes) == [["amy", "bob", "zoe"], ["cat", "dan"]]
    salted = {key: FAST_ARGON2.hash("123456") for key in ("a", "b")}
    assert equal_hash_groups(salted) == []
