"""02-jwt: an API with access and refresh tokens, and a hand-rolled JWT verifier.

Routes (CURRICULUM): ``POST /api/auth/login {email,password}`` → ``{"accessToken"}`` and
the refresh cookie; ``POST /api/auth/refresh`` (reads the ``refreshToken`` cookie, or a
prefixed form ``__Secure-`` / ``__Host-refreshToken``, and rotates);
``POST /api/auth/logout`` (Bearer) → 204; ``GET /api/me`` → ``{"id","role"}``;
``GET /api/admin/users`` (admin only, else 403); 401 bodies exactly ``Missing token`` /
``Token expired`` / ``Invalid token``. ``GET /jwks.json`` publishes the access-token key for
other services. Lab-only: ``GET /api/_lab/public-key`` (the same key as PEM),
``GET /api/_lab/token-log`` (Authorization headers found in an old debug log),
``POST /api/_lab/inspect {token}`` (which of the app's keys really signed a token),
``GET /api/_lab/audit`` (logouts), ``GET /api/_lab/accounts`` (the seeded logins, as
``labkit serve`` prints them, with each user's id and ``tokenVersion``, for checks) and
``POST /api/_lab/mint {key, header, claims}`` (a token signed with the learner's
``keys["access"]`` or ``keys["refresh"]``: what another service holding the key could mint,
so a check can send contract tokens with one thing wrong).

Replaceable parts, with the lab's token contract (HS256 with ``keys["access"]`` /
``keys["refresh"]``, ``typ`` header ``at+jwt`` / ``refresh+jwt``, claims ``sub`` (str),
``role``, ``ver``, ``iss``, ``aud``, ``iat``, ``exp``; refresh tokens also ``jti``, ``fam``):
``issue_tokens(user, keys)``, ``verify_token(token, typ, keys)`` and
``check_not_revoked(claims, ledger)`` (raise ``jwt.InvalidTokenError`` to reject),
``logout(claims, ledger)`` and ``refresh_cookie(token)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from labkit.attacks.jwt import forge as weak_forge
from labkit.patterns import passwords as secure_passwords
from labkit.patterns import tokens as secure_tokens
from labkit.sandbox import server as sandbox_server
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.bearer import SqliteRevocations
from labkit.sandbox.fixes import FixFault, FixSlot, plug_fixes
from labkit.sandbox.store import LabStore, UserRecord
from labkit.vulnerable import tokens as weak_tokens

__all__ = ["AUDIENCE", "ISSUER", "SLOTS", "Rejection", "create_app", "expired_cookie"]

ISSUER = "https://auth.labkit.example"
AUDIENCE = "https://api.labkit.example"
LOG_AGE_S = 2 * 24 * 3600  # the debug log is two days old

SLOTS = {
    "issue_tokens": FixSlot(
        "issue_tokens", dict, "issue_tokens(user: dict, keys: dict) -> {accessToken, refreshToken}"
    ),
    "verify_token": FixSlot(
        "verify_token", dict, "verify_token(token: str, typ: str, keys: dict) -> dict (claims)"
    ),
    "check_not_revoked": FixSlot(
        "check_not_revoked",
        (type(None), dict),
        "check_not_revoked(claims: dict, ledger) -> None (raise jwt.InvalidTokenError)",
    ),
    "logout": FixSlot("logout", type(None), "logout(claims: dict, ledger) -> None"),
    "refresh_cookie": FixSlot("refresh_cookie", str, "refresh_cookie(token: str) -> str"),
}
_REJECTING = ("verify_token", "check_not_revoked")


class Rejection(dict):  # type: ignore[type-arg]
    """A token refused by a verifier: ``{"error": "Token expired" | "Invalid token"}``."""


def _rejecting(fn: Any) -> Any:
    """Turn a verifier's rejection (an exception) into a :class:`Rejection` value, so that
    only *other* exceptions (bugs, NotImplementedError) become a 500 with ``labkitFault``."""
    if not callable(fn):
        return fn

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except jwt.ExpiredSignatureError:
            return Rejection(error="Token expired")
        except secure_tokens.TokenError as exc:
            return Rejection(exc.body)
        except weak_tokens.LabLimit as exc:  # a fence of the lab: say why
            return Rejection(error="Invalid token", labkitNote=str(exc))
        except (jwt.InvalidTokenError, weak_tokens.BadToken):
            return Rejection(error="Invalid token")

    call.__name__ = getattr(fn, "__name__", "fix")
    return call


class Credentials(BaseModel):
    email: str
    password: str


class TokenBody(BaseModel):
    token: str


class MintBody(BaseModel):
    key: str
    header: dict[str, Any]
    claims: dict[str, Any]


def _user_dict(user: UserRecord, family: str) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "role": user.role,
            "tokenVersion": user.token_version, "family": family}  # fmt: skip


def _find_by_id(store: LabStore, sub: Any) -> UserRecord | None:
    with store.connect() as db:
        row = db.execute("SELECT * FROM users WHERE id = ?", (str(sub),)).fetchone()
    return UserRecord(**dict(row)) if row else None


def _public_id(sub: Any) -> Any:
    return int(sub) if isinstance(sub, str) and sub.isdigit() else sub


def _attacker_origins() -> list[str]:
    """Where a ``jku`` may point: the sandboxes of this kernel named ``attacker`` (or
    ``...-attacker``), the attacker's key server of the lesson; nothing else on loopback."""
    origins = []
    for box in list(sandbox_server._live):
        if box.name == "attacker" or box.name.endswith("-attacker"):
            try:
                origins.append(box.url)
            except sandbox_server.SandboxError:  # stopped meanwhile
                continue
    return origins


def expired_cookie(set_cookie: str) -> str:
    """The ``Set-Cookie`` value that deletes the cookie ``set_cookie`` sets: the same name,
    ``Path``, ``Domain`` and flags, an empty value and ``Max-Age=0`` (RFC 6265 §3.1)."""
    pair, *attributes = (part.strip() for part in set_cookie.split(";"))
    dropped = ("max-age", "expires")
    kept = [a for a in attributes if a and a.partition("=")[0].strip().lower() not in dropped]
    return "; ".join([f"{pair.partition('=')[0].strip()}=", *kept, "Max-Age=0"])


class _Mode:
    """What differs between the vulnerable, patched and secure apps: keys and defaults."""

    def __init__(self, secure: bool, fixes: dict[str, Any], store: LabStore, key_dir: Path):
        self.secure = secure
        self.learner = bool(fixes) and "verify_token" in fixes
        self.ledger = SqliteRevocations(store)
        # keys the learner's functions receive: 256 random bits each (RFC 7518 §3.2)
        self.keys = {"access": secrets.token_bytes(32), "refresh": secrets.token_bytes(32),
                     "issuer": ISSUER, "audience": AUDIENCE}  # fmt: skip
        self.ring: weak_tokens.KeyRing | None = None
        self.service: secure_tokens.TokenService | None = None
        if secure:
            keys = secure_tokens.TokenKeys.generate(
                asymmetric=True, issuer=ISSUER, audience=AUDIENCE
            )
            self.service = secure_tokens.TokenService(keys, self.ledger)
            defaults = self._secure_defaults(self.service)
        else:
            self.ring = weak_tokens.KeyRing.create(key_dir)
            self.ring.jku_origins = _attacker_origins
            defaults = self._vulnerable_defaults(self.ring)
        wrapped = {k: _rejecting(v) if k in _REJECTING else v for k, v in defaults.items()}
        learner = {k: _rejecting(v) if k in _REJECTING else v for k, v in fixes.items()}
        self.parts = plug_fixes(SLOTS, wrapped, learner)

    @staticmethod
    def _secure_defaults(service: secure_tokens.TokenService) -> dict[str, Callable[..., Any]]:
        return {
            "issue_tokens": lambda user, keys: service.issue_tokens(user, family=user["family"]),
            "verify_token": lambda token, typ, keys: service.decode(token, typ),
            "check_not_revoked": lambda claims, ledger: service.check_not_revoked(claims),
            "logout": lambda claims, ledger: service.logout(claims),
            "refresh_cookie": secure_tokens.refresh_cookie,
        }

    @staticmethod
    def _vulnerable_defaults(ring: weak_tokens.KeyRing) -> dict[str, Callable[..., Any]]:
        return {
            "issue_tokens": lambda user, keys: weak_tokens.issue_tokens(user, ring),
            "verify_token": lambda token, typ, keys: weak_tokens.verify(token, ring),
            "check_not_revoked": lambda claims, ledger: None,
            "logout": lambda claims, ledger: None,
            "refresh_cookie": weak_tokens.refresh_cookie,
        }

    # published keys ------------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        if self.service is not None:
            return self.service.keys.jwks()
        assert self.ring is not None
        public = self.ring.private_key.public_key()
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
        return {"keys": [{**jwk, "kid": weak_tokens.ACCESS_KID, "use": "sig", "alg": "RS256"}]}

    def public_pem(self) -> bytes:
        if self.service is not None:
            return self.service.keys.access_verification_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        assert self.ring is not None
        return self.ring.public_pem

    # tokens an old debug log leaked, signed with this app's real keys ----------------------
    def leaked_tokens(self, admin: UserRecord) -> dict[str, str]:
        now = int(time.time())
        sub, then = str(admin.id), now - LOG_AGE_S
        expired = {"sub": sub, "role": admin.role, "iat": then, "exp": then + 900}
        job = {"sub": sub, "role": admin.role, "iat": then, "job": "nightly-report"}
        if self.service is not None:
            ver = {"ver": admin.token_version}
            return {
                "expired": self.service.sign({**expired, **ver}, typ="access"),
                "no-exp": self.service.sign({**job, **ver}, typ="access"),
            }
        if self.learner:
            extra = {"ver": admin.token_version, "iss": ISSUER, "aud": AUDIENCE}
            return {
                name: jwt.encode({**claims, **extra}, self.keys["access"], algorithm="HS256",
                                 headers={"typ": "at+jwt"})
                for name, claims in (("expired", expired), ("no-exp", job))
            }  # fmt: skip
        assert self.ring is not None
        return {
            "expired": weak_tokens.sign(
                {"alg": "RS256", "typ": "JWT", "kid": weak_tokens.ACCESS_KID}, expired, self.ring
            ),
            "no-exp": weak_tokens.sign(
                {"alg": "HS256", "typ": "JWT", "kid": weak_tokens.REFRESH_KID}, job, self.ring
            ),
        }

    def signed_with(self, token: str) -> str | None:
        """Which key really produced this token's signature (full comparison), if any."""
        try:
            head, body, sig = token.split(".")
            header = json.loads(_unb64(head))
            signature = _unb64(sig)
        except ValueError:
            return None
        if not signature:
            return "none"
        if not isinstance(header, dict):
            return None
        signed = f"{head}.{body}".encode()
        if self.ring is None or self.learner:
            for name in ("access", "refresh"):
                key = self.keys[name]
                if hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), signature):
                    return f"{name} key"
            return None
        if header.get("alg") == "RS256":
            candidates: dict[str, Any] = {"access RSA key": self.ring.private_key.public_key()}
            if isinstance(header.get("jwk"), dict):
                candidates["embedded jwk"] = _rsa_public(header["jwk"])
            for name, public in candidates.items():
                try:
                    public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
                except (InvalidSignature, AttributeError):
                    continue
                return name
            return None
        if header.get("alg") != "HS256":
            return None
        keys = {"refresh secret": self.ring.secret,
                "public key as HMAC secret": self.ring.public_pem, "empty key": b""}  # fmt: skip
        for name, key in keys.items():
            if hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), signature):
                return name
        return None


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _rsa_public(jwk: dict[str, Any]) -> Any:
    try:
        return jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        return None


def create_app(secure: bool = False, **fixes: Any) -> Any:
    """The 02-jwt API; ``secure=True`` is the reference, keyword fixes plug in yours."""
    store = LabStore("02-jwt")
    key_dir = Path(tempfile.mkdtemp(prefix="labkit-02-jwt-keys-"))
    users = store.seed_staff(secure_passwords.hash_password)
    mode = _Mode(secure, fixes, store, key_dir / "keys")
    parts, ledger = mode.parts, mode.ledger
    audit: list[dict[str, Any]] = []
    state = LabState(secure=secure, users=users, store=store)
    state.extras.update({
        "JWKS": "/jwks.json",
        "public key (PEM)": "/api/_lab/public-key",
        "leaked debug log": "/api/_lab/token-log",
    })  # fmt: skip
    state.on_close.append(lambda: shutil.rmtree(key_dir, ignore_errors=True))
    app = new_lab_app("02-jwt", secure=secure, state=state)

    def unauthorized(error: str, note: str | None = None) -> JSONResponse:
        body = {"error": error} if note is None else {"error": error, "labkitNote": note}
        return JSONResponse(body, status_code=401)

    def issue(user: UserRecord, family: str) -> dict[str, str]:
        pair = parts["issue_tokens"](_user_dict(user, family), dict(mode.keys))
        if not all(isinstance(pair.get(k), str) for k in ("accessToken", "refreshToken")):
            raise FixFault("issue_tokens must return {'accessToken': str, 'refreshToken': str}")
        return pair

    def with_tokens(pair: dict[str, str]) -> JSONResponse:
        response = JSONResponse({"accessToken": pair["accessToken"]})
        response.headers.append("set-cookie", parts["refresh_cookie"](pair["refreshToken"]))
        return response

    def accept(token: str, typ: str) -> dict[str, Any] | JSONResponse:
        claims = parts["verify_token"](token, typ, dict(mode.keys))
        if isinstance(claims, Rejection):
            return unauthorized(claims["error"], claims.get("labkitNote"))
        revoked = parts["check_not_revoked"](dict(claims), ledger)
        if isinstance(revoked, Rejection):
            return unauthorized(revoked["error"])
        if claims.get("sub") is None:
            return unauthorized("Invalid token")
        return claims

    def authenticate(request: Request) -> dict[str, Any] | JSONResponse:
        try:
            token = secure_tokens.bearer_token(request.headers.get("authorization"))
        except secure_tokens.TokenError as exc:
            return JSONResponse(exc.body, status_code=401)
        return accept(token, "access")

    @app.post("/api/auth/login", response_model=None)
    def login(body: Credentials) -> Any:
        user = store.find_user(body.email)
        if user is None or not secure_passwords.verify_password(body.password, user.password_hash):
            return JSONResponse({"error": "Invalid email or password"}, status_code=401)
        return with_tokens(issue(user, secrets.token_urlsafe(16)))

    @app.post("/api/auth/refresh", response_model=None)
    def refresh(request: Request) -> Any:
        names = ("refreshToken", "__Secure-refreshToken", "__Host-refreshToken")
        token = next((request.cookies[n] for n in names if request.cookies.get(n)), None)
        if not token:
            return unauthorized("Missing token")
        claims = accept(token, "refresh")
        if isinstance(claims, JSONResponse):
            return claims
        user = _find_by_id(store, claims["sub"])
        if user is None:
            return unauthorized("Invalid token")
        family = claims.get("fam") if isinstance(claims.get("fam"), str) else None
        return with_tokens(issue(user, family or secrets.token_urlsafe(16)))

    @app.post("/api/auth/logout", status_code=204, response_model=None)
    def logout(request: Request) -> Any:
        claims = authenticate(request)
        if isinstance(claims, JSONResponse):
            return claims
        parts["logout"](dict(claims), ledger)
        audit.append({"event": "logout", "sub": str(claims["sub"]), "at": time.time()})
        clear = expired_cookie(parts["refresh_cookie"]("deleted"))  # the cookie login set
        return Response(status_code=204, headers={"set-cookie": clear})

    @app.get("/api/me", response_model=None)
    def me(request: Request) -> Any:
        claims = authenticate(request)
        if isinstance(claims, JSONResponse):
            return claims
        role = claims.get("role")
        if role is None:  # a token without a role: look the user up
            user = _find_by_id(store, claims["sub"])
            role = user.role if user else None
        return {"id": _public_id(claims["sub"]), "role": role}

    @app.get("/api/admin/users", response_model=None)
    def admin_users(request: Request) -> Any:
        claims = authenticate(request)
        if isinstance(claims, JSONResponse):
            return claims
        if claims.get("role") != "admin":
            return JSONResponse({"error": "Insufficient permissions"}, status_code=403)
        return [{"id": u.id, "email": u.email, "role": u.role} for u in store.all_users()]

    @app.get("/jwks.json")
    def jwks() -> dict[str, Any]:
        return mode.jwks()

    @app.get("/api/_lab/public-key", include_in_schema=False)
    def public_key() -> PlainTextResponse:
        return PlainTextResponse(mode.public_pem().decode())

    @app.get("/api/_lab/token-log", include_in_schema=False)
    def token_log() -> list[dict[str, str]]:
        admin = next(u for u in store.all_users() if u.role == "admin")
        leaked = mode.leaked_tokens(admin)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - LOG_AGE_S))
        return [
            {"time": stamp, "request": "GET /api/admin/users", "kind": "expired",
             "authorization": f"Bearer {leaked['expired']}"},
            {"time": stamp, "request": "GET /api/admin/users", "kind": "no-exp",
             "authorization": f"Bearer {leaked['no-exp']}"},
        ]  # fmt: skip

    @app.post("/api/_lab/inspect", include_in_schema=False)
    def inspect(body: TokenBody) -> dict[str, Any]:
        try:
            header, claims = (json.loads(_unb64(part)) for part in body.token.split(".")[:2])
        except ValueError:
            return {"header": None, "claims": None, "signedWith": None}
        return {"header": header, "claims": claims, "signedWith": mode.signed_with(body.token)}

    @app.get("/api/_lab/accounts", include_in_schema=False)
    def accounts() -> list[dict[str, Any]]:
        found = [(u, store.find_user(u.email)) for u in users.values()]
        return [
            {"email": u.email, "role": u.role, "password": u.password,
             "id": row.id if row else None, "tokenVersion": ledger.token_version(str(row.id))
             if row else None}
            for u, row in found
        ]  # fmt: skip

    @app.post("/api/_lab/mint", include_in_schema=False, response_model=None)
    def mint(body: MintBody) -> Any:
        if body.key not in ("access", "refresh"):
            return JSONResponse({"error": "key must be 'access' or 'refresh'"}, status_code=400)
        try:
            token = weak_forge(body.header, body.claims, mode.keys[body.key])
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return {"token": token}

    @app.get("/api/_lab/audit", include_in_schema=False)
    def audit_log() -> list[dict[str, Any]]:
        return list(audit)

    return app
