"""05 hashed-at-rest: wrong and right ways to store an API key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import bcrypt

from labkit.patterns import apikeys as reference
from labkit.sandbox.apps.apikeys import _secure_authenticate
from labkit.vulnerable import apikeys as weak
from tests.fixes.corpus import Fixes, right, wrong


def _whole(hash_key: object) -> Fixes:
    """All five functions (for verify): the reference key system with this hash."""
    return {
        "generate_key": reference.generate_api_key,
        "hash_key": hash_key,
        "read_api_key": reference.read_api_key,
        "authenticate": _secure_authenticate,
        "redact_url": reference.redact_url,
    }


@wrong("hashed-at-rest", breaks="not-plaintext", also=("verify",))
def plaintext() -> Fixes:
    """The app's old hash_key: the key itself."""
    return _whole(weak.hash_api_key)


@wrong("hashed-at-rest", breaks="not-plaintext")
def base64_encoded() -> Fixes:
    """base64 of the key: looks like a hash, decodes for free."""
    return {"hash_key": lambda key: base64.b64encode(key.encode()).decode()}


@wrong("hashed-at-rest", breaks="same-digest")
def bcrypt_salted() -> Fixes:
    """bcrypt, as lab 01 taught for passwords: a new salt every time, no lookup possible."""
    return _whole(lambda key: bcrypt.hashpw(key.encode(), bcrypt.gensalt(4)).decode())


@wrong("hashed-at-rest", breaks="strong-digest")
def md5_digest() -> Fixes:
    """MD5 hex: 128 bits from a broken hash."""
    return _whole(lambda key: hashlib.md5(key.encode()).hexdigest())


@wrong("hashed-at-rest", breaks="strong-digest")
def truncated_sha256() -> Fixes:
    """SHA-256, but only 16 hex digits kept "to save space": 64 bits."""
    return {"hash_key": lambda key: hashlib.sha256(key.encode()).hexdigest()[:16]}


@wrong("hashed-at-rest", breaks="whole-key")
def lower_cased_first() -> Fixes:
    """SHA-256 of key.lower(): keys are 'case-insensitive', 62 characters become 36."""
    return {"hash_key": lambda key: hashlib.sha256(key.lower().encode()).hexdigest()}


@wrong("hashed-at-rest", breaks="whole-key")
def first_twenty_characters() -> Fixes:
    """SHA-256 of the first 20 characters only (prefix + 12): the rest is never checked."""
    return _whole(lambda key: hashlib.sha256(key[:20].encode()).hexdigest())


PEPPER = secrets.token_bytes(32)


@right("hashed-at-rest", also=("verify",))
def hmac_with_a_pepper() -> Fixes:
    """HMAC-SHA256 with a server-side secret, base64url without padding."""

    def hash_key(key: str) -> str:
        digest = hmac.new(PEPPER, key.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    return _whole(hash_key)


@right("hashed-at-rest")
def sha3_512() -> Fixes:
    """SHA3-512, with a scheme prefix: 'sha3-512$<hex>'."""
    return {"hash_key": lambda key: "sha3-512$" + hashlib.sha3_512(key.encode()).hexdigest()}


@right("hashed-at-rest")
def blake2b_class() -> Fixes:
    """BLAKE2b-256 in a small class."""

    class Digest:
        def __call__(self, key: str) -> str:
            return hashlib.blake2b(key.encode(), digest_size=32).hexdigest()

    return {"hash_key": Digest()}
