"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

JWTs as a team that "rolled its own" did them (lab 02-jwt): a hand-written JWS verifier that
lets the token choose its algorithm and its key, compares signatures sloppily, never checks
``exp`` nor the token type, and a weak HS256 secret. Access tokens are RS256 (``kid``
``access-rs256``, public key published for other services); refresh tokens are HS256 with
the shared secret (``kid`` ``refresh-hs256``). Keys are looked up by ``kid`` as *files* in a
key directory. Secure twin: :mod:`labkit.patterns.tokens`.

The twin runs inside the learner's kernel, so its flaws are fenced where they would reach
beyond the lab (:class:`LabLimit`, not a flaw): a ``kid`` path is read only inside the key
directory or as ``/dev/null`` (the lesson's known file), and a ``jku`` is fetched only from
an origin the app names as the attacker's key server (``KeyRing.jku_origins``), with no
redirect, no compression, at most :data:`JKU_MAX_BYTES` and :data:`JKU_DEADLINE_S`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from labkit.wordlists import common_passwords

__all__ = [
    "ACCESS_KID",
    "REFRESH_KID",
    "BadToken",
    "KeyRing",
    "LabLimit",
    "issue_tokens",
    "refresh_cookie",
    "sign",
    "verify",
]

ACCESS_KID = "access-rs256"
REFRESH_KID = "refresh-hs256"
ACCESS_TTL_S = 15 * 60
REFRESH_TTL_S = 7 * 24 * 3600
SIGNATURE_BYTES_COMPARED = 8  # "the first 64 bits are plenty" — they are not
KEY_FILE_MAX_BYTES = 64 * 1024
JKU_MAX_BYTES = 64 * 1024  # a JWKS of a few keys is a few KB
JKU_DEADLINE_S = 3.0  # the whole download, not each read
_KNOWN_FILE = Path("/dev/null")  # the one file outside the key directory a kid may name
_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


class BadToken(ValueError):
    """The twin's rejection (it rejects far too little)."""


class LabLimit(BadToken):
    """Not a flaw: a fence of the lab around one (a file or URL it will not use as a key);
    its message is shown to the learner."""


def _no_origins() -> Collection[str]:
    return ()


@dataclass
class KeyRing:
    """The twin's keys: an RSA pair for access tokens, a weak secret for refresh tokens,
    and a directory of key files named by ``kid``. ``jku_origins`` lists the origins
    (``http://127.0.0.1:port``) a ``jku`` may be fetched from: the lab's attacker server."""

    key_dir: Path
    private_key: rsa.RSAPrivateKey
    secret: bytes
    jku_origins: Callable[[], Collection[str]] = field(default=_no_origins)

    @classmethod
    def create(cls, key_dir: Path) -> KeyRing:
        """Fresh keys in ``key_dir``; the HS256 secret is a common password (wordlist-crackable).

        Flaw: a human-chosen HS256 secret; RFC 7518 §3.2 asks for 256 random bits.
        Exploited in: 02-jwt (crack the refresh token offline, then mint any token).
        Secure twin: labkit.patterns.tokens.TokenKeys.generate.
        """
        key_dir.mkdir(parents=True, exist_ok=True)
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        secret = secrets.choice(common_passwords()).encode()
        ring = cls(key_dir, private_key, secret)
        (key_dir / ACCESS_KID).write_bytes(ring.public_pem)
        (key_dir / REFRESH_KID).write_bytes(secret)
        return ring

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(header: dict[str, Any], claims: dict[str, Any], ring: KeyRing) -> str:
    """Hand-rolled JWS compact serialisation for HS256 (the secret) and RS256 (the RSA key).

    Flaw: hand-rolled JOSE ("rolling your own crypto"), with the weak secret for HS256.
    Exploited in: 02-jwt (every attack of the lab targets tokens made here).
    Secure twin: labkit.patterns.tokens.TokenService.sign.
    """
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if header["alg"] == "RS256":
        signature = ring.private_key.sign(
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    else:
        signature = hmac.new(ring.secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def issue_tokens(
    user: dict[str, Any], ring: KeyRing, *, now: float | None = None
) -> dict[str, str]:
    """An RS256 access token with the role, an HS256 refresh token; neither typed.

    Flaw: no ``typ``, no ``iss``/``aud``; the refresh token is signed with the weak secret.
    Exploited in: 02-jwt (refresh token used as an access token; secret cracked offline).
    Secure twin: labkit.patterns.tokens.TokenService.issue_tokens.
    """
    iat = int(time.time() if now is None else now)
    sub = str(user["id"])
    access = sign(
        {"alg": "RS256", "typ": "JWT", "kid": ACCESS_KID},
        {"sub": sub, "role": user["role"], "iat": iat, "exp": iat + ACCESS_TTL_S},
        ring,
    )
    refresh = sign(
        {"alg": "HS256", "typ": "JWT", "kid": REFRESH_KID},
        {"sub": sub, "tokenVersion": user.get("tokenVersion", 0), "iat": iat,
         "exp": iat + REFRESH_TTL_S},
        ring,
    )  # fmt: skip
    return {"accessToken": access, "refreshToken": refresh}


def refresh_cookie(token: str) -> str:
    """The refresh cookie without ``HttpOnly``, ``Secure`` or ``SameSite``, on every path.

    Flaw: readable by any script on the page (XSS steals it), sent over plain HTTP and on
    cross-site requests. Exploited in: 02-jwt (cookie check), 03-sessions (cookie flags).
    Secure twin: labkit.patterns.tokens.refresh_cookie.
    """
    return f"refreshToken={token}; Path=/; Max-Age={REFRESH_TTL_S}"


def _read_key_file(ring: KeyRing, kid: str) -> bytes:
    """Flaw: ``kid`` joined to the key directory unchecked: ``../../dev/null`` is a key.

    Lab limit: the path must land in the key directory or on ``/dev/null`` (a file whose
    contents everyone knows), decided before the file is looked at: a ``kid`` cannot test
    a guess of any other file the learner can read.
    """
    path = (ring.key_dir / kid).resolve()
    if path == _KNOWN_FILE:
        return b""
    if not path.is_relative_to(ring.key_dir.resolve()):
        raise LabLimit(
            f"kid {kid!r} leads to {path}: this lab reads key files only in its own key "
            "directory or /dev/null"
        )
    if not path.is_file():
        raise BadToken(f"unknown kid {kid!r}")
    with open(path, "rb") as key_file:
        return key_file.read(KEY_FILE_MAX_BYTES)


def _rsa_from_jwk(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    numbers = rsa.RSAPublicNumbers(
        int.from_bytes(_unb64(jwk["e"]), "big"), int.from_bytes(_unb64(jwk["n"]), "big")
    )
    return numbers.public_key()


def _origin(scheme: str, host: str | None, port: int | None) -> str:
    host = "127.0.0.1" if host == "localhost" else host
    return f"{scheme}://{host}:{port or (443 if scheme == 'https' else 80)}"


def _jku_target(url: str, ring: KeyRing) -> str:
    """The URL to fetch, rebuilt from an allowed origin (never the token's own text)."""
    try:
        parts = urlsplit(url)
        origin = _origin(parts.scheme, parts.hostname, parts.port)
    except ValueError as exc:
        raise BadToken(f"bad jku: {exc}") from exc
    allowed = {_origin(o.scheme, o.hostname, o.port) for o in map(urlsplit, ring.jku_origins())}
    if origin not in allowed:
        raise LabLimit(
            f"jku {url!r}: this lab fetches a jku only from the attacker's key server, a "
            "Sandbox named 'attacker' started in this kernel "
            f"(running now: {', '.join(sorted(allowed)) or 'none'})"
        )
    return origin + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _download(target: str) -> bytes:
    """At most :data:`JKU_MAX_BYTES`, as sent (no decompression), within the deadline."""
    deadline = time.monotonic() + JKU_DEADLINE_S
    timeout = httpx.Timeout(JKU_DEADLINE_S)
    headers = {"Accept-Encoding": "identity"}
    with (
        httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client,
        client.stream("GET", target, headers=headers) as response,
    ):
        if response.is_redirect:
            raise LabLimit(f"jku answered {response.status_code}: the lab follows no redirect")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise LabLimit(f"jku sent Content-Encoding {encoding}: the lab decompresses nothing")
        body = bytearray()
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > JKU_MAX_BYTES:
                raise LabLimit(f"jku sent more than {JKU_MAX_BYTES // 1024} KiB: not a JWKS")
            if time.monotonic() > deadline:
                raise LabLimit(f"jku took longer than {JKU_DEADLINE_S:g} s")
        return bytes(body)


def _fetch_jwks_key(url: str, kid: str | None, ring: KeyRing) -> dict[str, Any]:
    """Flaw: the token names the URL its own verification key is fetched from."""
    document = json.loads(_download(_jku_target(url, ring)))
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise BadToken("the jku document has no keys")
    return next((k for k in keys if k.get("kid") == kid), keys[0])


def _resolve_key(header: dict[str, Any], ring: KeyRing) -> bytes | rsa.RSAPublicKey:
    if isinstance(header.get("jwk"), dict):  # Flaw: the token carries its own key
        return _rsa_from_jwk(header["jwk"])
    if isinstance(header.get("jku"), str):  # Flaw: ... or says where to download it
        return _rsa_from_jwk(_fetch_jwks_key(header["jku"], header.get("kid"), ring))
    if isinstance(header.get("kid"), str):  # Flaw: key material read from a path
        return _read_key_file(ring, header["kid"])
    return ring.secret


def _signature_ok(alg: str, key: bytes | rsa.RSAPublicKey, signed: bytes, sig: bytes) -> bool:
    if not sig:  # Flaw: "legacy unsigned tokens from the old SSO" — a null signature passes
        return True
    if alg.startswith("HS") and alg[2:] in _HASHES:
        if not isinstance(key, bytes):
            return False
        # Flaw: HMAC with whatever bytes the kid pointed at — an RSA *public* key file too
        expected = hmac.new(key, signed, _HASHES[alg[2:]]).digest()
        # Flaw: only a prefix is compared: bits flipped past byte 8 go unnoticed
        n = SIGNATURE_BYTES_COMPARED
        return expected[:n] == sig[:n]
    if alg == "RS256":
        public = key if isinstance(key, rsa.RSAPublicKey) else _load_public(key)
        if public is None:
            return False
        try:
            public.verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True
    return False


def _load_public(pem: bytes) -> rsa.RSAPublicKey | None:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        return None
    return key if isinstance(key, rsa.RSAPublicKey) else None


def verify(token: str, ring: KeyRing) -> dict[str, Any]:
    """Hand-rolled JWT verification; returns the claims or raises :class:`BadToken`.

    Flaw: the header picks the algorithm (``none`` in any casing is accepted; ``HS256``
    with the RSA public key's file as the HMAC secret), the key (``jwk``, ``jku``, ``kid`` as
    a file path), a null signature passes and only 8 signature bytes are compared; ``exp``
    is never checked (expired and ``exp``-less tokens pass); any token type is accepted.
    Exploited in: 02-jwt (alg none, tampered role, key confusion, kid traversal, embedded
    jwk/jku, expired/no-exp tokens, refresh token as access token).
    Secure twin: labkit.patterns.tokens.TokenService.verify_access_token.
    """
    try:
        head_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(_unb64(head_b64))
        claims = json.loads(_unb64(body_b64))
        signature = _unb64(sig_b64)
    except (ValueError, TypeError) as exc:
        raise BadToken(f"malformed token: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise BadToken("malformed token")
    alg = str(header.get("alg", ""))
    if alg.lower() == "none":  # Flaw: "none" (any casing) means "no signature needed"
        return claims
    try:
        key = _resolve_key(header, ring)
    except BadToken:
        raise
    except (OSError, KeyError, ValueError, TypeError, AttributeError, httpx.HTTPError) as exc:
        raise BadToken(f"no key: {exc}") from exc
    if not _signature_ok(alg, key, f"{head_b64}.{body_b64}".encode(), signature):
        raise BadToken("bad signature")
    return claims  # Flaw: no exp, no typ, no iss/aud check
