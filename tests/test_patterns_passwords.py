from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from argon2 import PasswordHasher, Type

from labkit.patterns import passwords as pp
from labkit.wordlists import common_passwords

# One argon2id hash shared by several tests (each costs ~50 ms).
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def stored() -> str:
    return pp.hash_password(PASSWORD)


def test_constants_meet_owasp_minimum() -> None:
    assert pp.ARGON2_MEMORY_KIB >= 19456
    assert pp.ARGON2_TIME_COST >= 2
    assert pp.ARGON2_PARALLELISM >= 1
    assert pp.BCRYPT_ROUNDS >= 10
    assert (pp.MIN_LENGTH, pp.MAX_LENGTH) == (12, 128)


def test_argon2id_salted_and_verifies(stored: str) -> None:
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert pp.hash_password(PASSWORD) != stored
    assert pp.verify_password(PASSWORD, stored)
    assert not pp.verify_password(PASSWORD + "!", stored)
    assert not pp.needs_rehash(stored)


def test_verify_never_raises_on_malformed() -> None:
    for bad in ["", "plaintext", "$argon2id$v=19$garbage", "$2b$12$short", "$argon2id$"]:
        assert pp.verify_password(PASSWORD, bad) is False


def test_long_emoji_passphrase() -> None:
    passphrase = "🔐🐍" * 100  # 200 code points, 800 UTF-8 bytes
    stored = pp.hash_password(passphrase)
    assert pp.verify_password(passphrase, stored)
    assert not pp.verify_password(passphrase[:-1], stored)


def test_bcrypt_alternative_keeps_bytes_past_72() -> None:
    prefix = "x" * 72
    first, second = prefix + "A" * 8, prefix + "B" * 8
    stored = pp.hash_password_bcrypt(first, rounds=10)
    assert stored.startswith("$2b$10$")
    assert pp.verify_password(first, stored)
    assert not pp.verify_password(second, stored)
    assert pp.needs_rehash(stored)


def test_bcrypt_default_cost_and_pepper() -> None:
    stored = pp.hash_password_bcrypt("a" * 300)  # long input: no truncation, no error
    assert stored.startswith("$2b$12$")
    assert pp.verify_password("a" * 300, stored)
    assert not pp.verify_password("a" * 300, stored, pepper=b"another-pepper")


def test_bcrypt_rejects_low_rounds_and_empty_pepper() -> None:
    with pytest.raises(ValueError):
        pp.hash_password_bcrypt(PASSWORD, rounds=9)
    with pytest.raises(ValueError):
        pp.hash_password_bcrypt(PASSWORD, rounds=10, pepper=b"")


def test_legacy_hex_hashes_verify_and_need_rehash() -> None:
    md5 = hashlib.md5(b"letmein-legacy").hexdigest()
    sha = hashlib.sha256(b"letmein-legacy").hexdigest()
    for legacy in (md5, sha, md5.upper()):
        assert pp.verify_password("letmein-legacy", legacy)
        assert not pp.verify_password("letmein-legacy2", legacy)
        assert pp.needs_rehash(legacy)


def test_weak_argon2_params_need_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert pp.verify_password(PASSWORD, weak)
    assert pp.needs_rehash(weak)
    argon2i = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.I)
    assert pp.needs_rehash(argon2i.hash(PASSWORD))
    assert pp.needs_rehash("$argon2id$v=19$garbage")


COMMON_LONG = next(w for w in common_passwords() if len(w) >= 12)


@pytest.mark.parametrize(
    ("password", "errors"),
    [
        ("a" * 11, ["Minimum 12 characters"]),
        ("a" * 129, ["Maximum 128 characters"]),
        (COMMON_LONG, ["This password is too common"]),
        (COMMON_LONG.upper(), ["This password is too common"]),
        ("password", ["Minimum 12 characters", "This password is too common"]),
        ("correct horse battery staple", []),
        ("😀" * 12, []),
        ("qzmxnwpeorutbvcy", []),  # lowercase only: no composition rules
        ("a" * 128, []),
        ("    spaces ok    ", []),
    ],
)
def test_policy_battery(password: str, errors: list[str]) -> None:
    assert pp.validate_password(password) == errors


def test_policy_never_asks_for_composition() -> None:
    messages = " ".join(pp.validate_password("abc")).lower()
    for word in ("digit", "uppercase", "symbol", "special"):
        assert word not in messages


def test_dummy_hash_cached_argon2id() -> None:
    assert pp.dummy_hash() is pp.dummy_hash()
    assert pp.dummy_hash().startswith("$argon2id$")
    assert not pp.needs_rehash(pp.dummy_hash())


def test_authenticate_same_work_for_unknown_user(
    stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = SimpleNamespace(email="alice@example.com", role="user", password_hash=stored)
    find = {alice.email: alice}.get
    assert pp.authenticate(alice.email, PASSWORD, find) is alice
    assert pp.authenticate(alice.email, "wrong password!", find) is None
    assert pp.authenticate("nobody@example.com", PASSWORD, find) is None

    # Same work either way, shown without a stopwatch: an unknown user costs one
    # verification too, against the dummy hash (never a quick return).
    calls: list[str] = []
    real_verify = pp.verify_password

    def counting_verify(password: str, stored_hash: str, **kwargs: object) -> bool:
        calls.append(stored_hash)
        return real_verify(password, stored_hash, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pp, "verify_password", counting_verify)
    pp.authenticate("nobody@example.com", "wrong password!", find)
    pp.authenticate(alice.email, "wrong password!", find)
    assert calls == [pp.dummy_hash(), stored]
