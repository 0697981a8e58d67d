"""05-api-keys: the secure key pattern and its insecure twin, as plain functions."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import replace

import pytest

from labkit.attacks.apikeys import decodings, keys_in_log
from labkit.patterns import apikeys as secure
from labkit.vulnerable import apikeys as weak

NOW = 1_800_000_000.0
DAY = 86400.0


def record(**changes: object) -> secure.ApiKey:
    base = secure.ApiKey(7, "alice@example.com", "billing", "h", ("reports:read",), NOW - DAY,
                         NOW + DAY)  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def finder(row: secure.ApiKey | None, expected: str) -> object:
    return lambda key: row if key == expected else None


def test_generated_keys_have_prefix_body_checksum_and_178_bits() -> None:
    keys = {secure.generate_api_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("lk_live_") and len(key) == 8 + 30 + 6
        assert secure.looks_like_api_key(key)
    assert secure.key_bits() >= 128


def test_checksum_is_crc32_in_six_base62_digits() -> None:
    body = "A" * 30
    number = 0
    for char in secure.checksum(body):
        number = number * 62 + secure.ALPHABET.index(char)
    assert number == zlib.crc32(body.encode())
    assert secure.checksum("") == "000000"  # CRC32 of nothing is 0, padded


def test_a_changed_character_breaks_the_checksum() -> None:
    key = secure.generate_api_key()
    flipped = key[:12] + ("a" if key[12] != "a" else "b") + key[13:]
    assert not secure.looks_like_api_key(flipped)
    assert not secure.looks_like_api_key(key[:-1])
    assert not secure.looks_like_api_key("lk_live_" + "x" * 36)  # prefix without checksum


def test_the_scanner_finds_keys_in_text_and_ignores_lookalikes() -> None:
    key = secure.generate_api_key()
    text = f"export TOKEN={key}\nlk_live_{'z' * 36}\n"
    assert secure.find_api_keys(text) == [key]


def test_hash_is_sha256_hex_and_deterministic() -> None:
    key = secure.generate_api_key()
    assert secure.hash_api_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert secure.hash_api_key(key) == secure.hash_api_key(key)


def test_keys_are_read_from_the_header_only() -> None:
    assert secure.read_api_key({"x-api-key": "k"}, {}) == "k"
    assert secure.read_api_key({}, {"api_key": "k"}) is None
    assert weak.read_api_key({}, {"api_key": "k"}) == "k"


def test_redact_url_hides_named_secrets_and_key_shaped_values() -> None:
    key = secure.generate_api_key()
    line = secure.redact_url(f"/api/v1/reports?api_key=abc&page=2&debug={key}")
    assert "abc" not in line and key not in line and "page=2" in line
    assert secure.redact_url(f"/x/{key}") == "/x/REDACTED"
    assert weak.redact_url(f"/r?api_key={key}").endswith(key)


def test_authenticate_statuses() -> None:
    key = secure.generate_api_key()
    ok = record()
    assert secure.authenticate(None, "reports:read", finder(ok, key), NOW) == (
        401, {"error": "API key required"},
    )  # fmt: skip
    assert secure.authenticate(key, "reports:read", finder(ok, key), NOW)[0] == 200
    assert secure.authenticate(key, "reports:write", finder(ok, key), NOW) == (
        403, {"error": "Insufficient permissions"},
    )  # fmt: skip
    invalid = (401, {"error": "Invalid API key"})
    for dead in (record(revoked_at=NOW - 1), record(expires_at=NOW), record(expires_at=None)):
        assert secure.authenticate(key, "reports:read", finder(dead, key), NOW) == invalid
    assert secure.authenticate("lk_live_nope", "reports:read", finder(ok, key), NOW) == invalid


def test_the_twin_ignores_revocation_expiry_and_scope() -> None:
    dead = record(revoked_at=NOW - 1, expires_at=NOW - DAY)
    status, _ = weak.authenticate("k", "reports:write", finder(dead, "k"), NOW)
    assert status == 200
    assert weak.hash_api_key("k") == "k"
    assert len(weak.generate_api_key()) == 16 and not secure.looks_like_api_key("k")


def test_match_digest_compares_every_candidate() -> None:
    rows = [record(id=1, key_hash="a" * 64), record(id=2, key_hash="b" * 64)]
    found = secure.match_digest(rows, "b" * 64)
    assert found is not None and found.id == 2
    assert secure.match_digest(rows, "c" * 64) is None


@pytest.mark.parametrize(
    ("stored", "key"),
    [("bGtfbGl2ZV9hYmM=", "lk_live_abc"), ("6c6b5f6c6976655f616263", "lk_live_abc")],
)
def test_decodings_undo_encodings(stored: str, key: str) -> None:
    assert key in decodings(stored)


def test_keys_in_log_reads_credential_parameters() -> None:
    lines = ['1.2.3.4 - - [t] "GET /api/v1/reports?api_key=s3cret&page=1 HTTP/1.1" 200',
             '1.2.3.4 - - [t] "GET /api/v1/reports?page=2 HTTP/1.1" 200']  # fmt: skip
    assert keys_in_log(lines) == ["s3cret"]
