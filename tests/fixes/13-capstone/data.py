"""13 data part: saved cards (row 7), the friend lookup (row 8), the partner API's keys
(row 9) — wrong fixes a hurried developer writes, and right ones unlike the reference."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from labkit.vulnerable import crypto as weak_crypto
from tests.fixes.corpus import Fixes, right, wrong


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- row 7: saved cards --------------------------------------------------------------------
def gcm_pair(nonce: Callable[[], bytes], aad: Callable[[str, str], bytes | None]) -> Fixes:
    """AES-GCM with the given nonce source and associated data; the rest done right."""

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        iv = nonce()
        sealed = AESGCM(key).encrypt(iv, plaintext, aad(record_id, key_id))
        return {"keyId": key_id, "nonce": _b64(iv), "ciphertext": _b64(sealed)}

    def decrypt_record(stored: dict, record_id: str, keyring: dict[str, bytes]) -> bytes | None:
        try:
            key_id = stored["keyId"]
            iv, sealed = base64.b64decode(stored["nonce"]), base64.b64decode(stored["ciphertext"])
            return AESGCM(keyring[key_id]).decrypt(iv, sealed, aad(record_id, key_id))
        except (KeyError, TypeError, ValueError, InvalidTag):
            return None

    return {"encrypt_record": encrypt_record, "decrypt_record": decrypt_record}


def _bound(record_id: str, key_id: str) -> bytes:
    return f"{record_id}|{key_id}".encode()


@wrong("fix-homemade-crypto", breaks="encrypted")
def gcm_fixed_nonce() -> Fixes:
    """AES-GCM, but one nonce for every card (labkit.vulnerable.crypto): a two-time pad."""
    return {
        "encrypt_record": weak_crypto.encrypt_record,
        "decrypt_record": weak_crypto.decrypt_record,
    }


@wrong("fix-homemade-crypto", breaks="encrypted")
def nonce_from_the_number() -> Fixes:
    """nonce = SHA-256(card number)[:12] 'so no two cards share one': the same number saved
    twice gives the same ciphertext (and tells who holds the same card)."""
    import hashlib

    fixes = gcm_pair(lambda: os.urandom(12), _bound)

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        iv = hashlib.sha256(plaintext).digest()[:12]
        sealed = AESGCM(key).encrypt(iv, plaintext, None)
        return {"keyId": key_id, "nonce": _b64(iv), "ciphertext": _b64(sealed)}

    def decrypt_record(stored: dict, record_id: str, keyring: dict[str, bytes]) -> bytes | None:
        try:
            iv, sealed = base64.b64decode(stored["nonce"]), base64.b64decode(stored["ciphertext"])
            return AESGCM(keyring[stored["keyId"]]).decrypt(iv, sealed, None)
        except (KeyError, TypeError, ValueError, InvalidTag):
            return None

    return {**fixes, "encrypt_record": encrypt_record, "decrypt_record": decrypt_record}


@wrong("fix-homemade-crypto", breaks="bound-to-record")
def gcm_without_aad() -> Fixes:
    """AES-GCM with a random nonce, but no associated data: a row can be moved."""
    return gcm_pair(lambda: os.urandom(12), lambda record_id, key_id: None)


@wrong("fix-homemade-crypto", breaks="tamper-evident")
def aes_ctr_without_tag() -> Fixes:
    """AES-CTR with a random nonce: confidential, but a flipped bit goes unnoticed."""

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        iv = os.urandom(16)
        enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
        sealed = enc.update(plaintext) + enc.finalize()
        return {"keyId": key_id, "nonce": _b64(iv), "ciphertext": _b64(sealed)}

    def decrypt_record(stored: dict, record_id: str, keyring: dict[str, bytes]) -> bytes | None:
        try:
            iv, sealed = base64.b64decode(stored["nonce"]), base64.b64decode(stored["ciphertext"])
            dec = Cipher(algorithms.AES(keyring[stored["keyId"]]), modes.CTR(iv)).decryptor()
            return dec.update(sealed) + dec.finalize()
        except (KeyError, TypeError, ValueError):
            return None

    return {"encrypt_record": encrypt_record, "decrypt_record": decrypt_record}


@wrong("fix-homemade-crypto", breaks="key-rotation")
def newest_key_of_the_ring() -> Fixes:
    """Decrypts with the newest key of the keyring, whatever keyId says: after a rotation
    the older cards stop reading."""
    fixes = gcm_pair(lambda: os.urandom(12), _bound)

    def decrypt_record(stored: dict, record_id: str, keyring: dict[str, bytes]) -> bytes | None:
        key = list(keyring.values())[-1]
        try:
            iv, sealed = base64.b64decode(stored["nonce"]), base64.b64decode(stored["ciphertext"])
            return AESGCM(key).decrypt(iv, sealed, _bound(record_id, str(stored.get("keyId"))))
        except (KeyError, TypeError, ValueError, InvalidTag):
            return None

    return {**fixes, "decrypt_record": decrypt_record}


@wrong("fix-homemade-crypto", breaks="cards-work")
def bytes_instead_of_a_dict() -> Fixes:
    """encrypt_record returns nonce || ciphertext as bytes: the shop cannot store it."""
    fixes = gcm_pair(lambda: os.urandom(12), _bound)

    def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> Any:
        iv = os.urandom(12)
        return iv + AESGCM(key).encrypt(iv, plaintext, _bound(record_id, key_id))

    return {**fixes, "encrypt_record": encrypt_record}


class ChaChaCards:
    """ChaCha20-Poly1305 (another AEAD), a class, the AAD as JSON of record and key id."""

    def encrypt_record(self, plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
        nonce = os.urandom(12)
        aad = json.dumps({"record": record_id, "key": key_id}, sort_keys=True).encode()
        return {
            "keyId": key_id,
            "nonce": _b64(nonce),
            "ciphertext": _b64(ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)),
        }

    def decrypt_record(
        self, stored: dict, record_id: str, keyring: dict[str, bytes]
    ) -> bytes | None:
        key = keyring.get(str(stored.get("keyId")))
        if key is None:
            return None
        aad = json.dumps({"record": record_id, "key": stored["keyId"]}, sort_keys=True).encode()
        try:
            nonce = base64.b64decode(stored["nonce"], validate=True)
            return ChaCha20Poly1305(key).decrypt(
                nonce, base64.b64decode(stored["ciphertext"], validate=True), aad
            )
        except (KeyError, ValueError, InvalidTag):
            return None


@right("fix-homemade-crypto")
def chacha20_poly1305_class() -> Fixes:
    """ChaCha20-Poly1305 in a class."""
    cards = ChaChaCards()
    return {"encrypt_record": cards.encrypt_record, "decrypt_record": cards.decrypt_record}


@right("fix-homemade-crypto")
def gcm_with_record_aad() -> Fixes:
    """AES-GCM, a random nonce per card, 'record|key' as associated data."""
    return gcm_pair(lambda: os.urandom(12), _bound)


# -- row 8: the friend lookup --------------------------------------------------------------
COLUMNS = "id, email, name, age, role"


@wrong("fix-trusting-input", breaks="exact-match")
def parameterized_like() -> Fixes:
    """Parameterized, but with LIKE: '%' lists everyone."""
    return {
        "find_users": lambda db, email: db.execute(
            f"SELECT {COLUMNS} FROM users WHERE email LIKE ?", (email,)
        ).fetchall()
    }


@wrong("fix-trusting-input", breaks="parameterized")
def keyword_blocklist() -> Fixes:
    """Refuse the scary words, paste the rest: the tautology needs none of them."""

    def find_users(db: sqlite3.Connection, email: str) -> list[sqlite3.Row]:
        if any(word in email.lower() for word in ("union", "--", ";", "select", "drop")):
            return []
        return db.execute(f"SELECT {COLUMNS} FROM users WHERE email = '{email}'").fetchall()

    return {"find_users": find_users}


@wrong("fix-trusting-input", breaks="parameterized")
def quotes_doubled_by_hand() -> Fixes:
    """email.replace("'", "''") into an f-string: SQL text still built from input."""

    def find_users(db: sqlite3.Connection, email: str) -> list[sqlite3.Row]:
        escaped = email.replace("'", "''")
        return db.execute(f"SELECT {COLUMNS} FROM users WHERE email = '{escaped}'").fetchall()

    return {"find_users": find_users}


@wrong("fix-trusting-input", breaks="quotes-are-data")
def quotes_stripped() -> Fixes:
    """Parameterized, after 'sanitising' the quotes away: O'Brien can never be found."""
    return {
        "find_users": lambda db, email: db.execute(
            f"SELECT {COLUMNS} FROM users WHERE email = ?", (email.replace("'", ""),)
        ).fetchall()
    }


class FriendLookup:
    """A named parameter, in a class."""

    query = "SELECT id, email, name, age, role FROM users WHERE email = :email"

    def __call__(self, db: sqlite3.Connection, email: str) -> list[sqlite3.Row]:
        return list(db.execute(self.query, {"email": email}))


@right("fix-trusting-input")
def named_parameter_class() -> Fixes:
    """:email with a dict, a callable class returning a list."""
    return {"find_users": FriendLookup()}


@right("fix-trusting-input")
def numbered_parameter_cursor() -> Fixes:
    """?1 with a cursor and fetchall."""

    def find_users(db: sqlite3.Connection, email: str) -> list[sqlite3.Row]:
        cursor = db.cursor()
        cursor.execute("SELECT id, email, name, age, role FROM users WHERE email = ?1", (email,))
        return cursor.fetchall()

    return {"find_users": find_users}


# -- row 9: the partner API's keys ---------------------------------------------------------
REQUIRED, INVALID, FORBIDDEN = (
    {"error": "API key required"},
    {"error": "Invalid API key"},
    {"error": "Insufficient permissions"},
)


def authenticator(
    usable: Callable[[Any, float], bool], denied: tuple[int, dict[str, str]] = (403, FORBIDDEN)
) -> Fixes:
    def authenticate(
        api_key: str | None, scope: str, find_key: Callable[[str], Any], now: float
    ) -> tuple[int, dict[str, Any]]:
        if not api_key:
            return 401, dict(REQUIRED)
        record = find_key(api_key)
        if record is None or not usable(record, now):
            return 401, dict(INVALID)
        if scope not in record.scopes:
            return denied[0], dict(denied[1])
        return 200, {"client": record.name, "keyId": record.id}

    return {"authenticate": authenticate}


def _live(record: Any, now: float) -> bool:
    return record.revoked_at is None and record.expires_at is not None and now < record.expires_at


@wrong("fix-eternal-api-key", breaks="key-revocation")
def revocation_forgotten() -> Fixes:
    """Expiry and scope, but revoked_at never read: a revoked key works until it expires."""
    return authenticator(lambda r, now: r.expires_at is not None and now < r.expires_at)


@wrong("fix-eternal-api-key", breaks="key-expiry")
def expiry_forgotten() -> Fixes:
    """Revocation and scope, but expires_at never read: last year's key works forever."""
    return authenticator(lambda r, now: r.revoked_at is None)


@wrong("fix-eternal-api-key", breaks="key-expiry")
def a_grace_month() -> Fixes:
    """A 30-day 'grace period' after expires_at 'so partners are not cut off'."""
    return authenticator(
        lambda r, now: r.revoked_at is None and now < (r.expires_at or 0) + 30 * 86400
    )


@wrong("fix-eternal-api-key", breaks="key-scopes")
def scope_refused_as_401() -> Fixes:
    """A key without the scope gets 401 Invalid API key: the partner rotates a good key."""
    return authenticator(_live, denied=(401, INVALID))


@wrong("fix-eternal-api-key", breaks="key-works")
def one_message_for_all() -> Fixes:
    """'Invalid API key' for a missing key too: the client cannot tell it forgot the header."""
    fixes = authenticator(_live)
    inner = fixes["authenticate"]

    def authenticate(api_key: Any, scope: str, find_key: Any, now: float) -> Any:
        return (401, dict(INVALID)) if not api_key else inner(api_key, scope, find_key, now)

    return {"authenticate": authenticate}


class KeyGate:
    """A class; the key's lifetime as a half-open interval [created_at, expires_at)."""

    def usable(self, record: Any, now: float) -> bool:
        if record.revoked_at is not None or record.expires_at is None:
            return False
        return record.created_at <= now < record.expires_at

    def __call__(self, api_key: Any, scope: str, find_key: Any, now: float) -> tuple[int, dict]:
        record = find_key(api_key) if api_key else None
        if not api_key:
            return 401, {"error": "API key required"}
        if record is None or not self.usable(record, now):
            return 401, {"error": "Invalid API key"}
        if scope in tuple(record.scopes):
            return 200, {"client": record.name, "keyId": record.id}
        return 403, {"error": "Insufficient permissions"}


@right("fix-eternal-api-key")
def key_gate_class() -> Fixes:
    """A callable class with a half-open validity interval."""
    return {"authenticate": KeyGate()}


@right("fix-eternal-api-key")
def guard_clauses() -> Fixes:
    """The reference's checks as a usable() predicate passed to a factory."""
    return authenticator(_live)
