"""labkit.patterns.tokens: the secure reference, on its own (no lab app)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt
import pytest

from labkit.attacks import jwt as attacks
from labkit.patterns.tokens import (
    JwksVerifier,
    MemoryRevocations,
    TokenError,
    TokenKeys,
    TokenService,
    bearer_token,
    clear_refresh_cookie,
    refresh_cookie,
)
from labkit.sandbox.server import Sandbox

ALICE = {"id": 1, "role": "admin", "tokenVersion": 0}


@pytest.fixture(params=[False, True], ids=["HS256", "ES256"])
def service(request: pytest.FixtureRequest) -> TokenService:
    return TokenService(TokenKeys.generate(asymmetric=request.param))


def reason(service: TokenService, token: str, typ: str = "access") -> str:
    with pytest.raises(TokenError) as caught:
        service.verify_access_token(token) if typ == "access" else service.decode(token, typ)  # type: ignore[arg-type]
    return caught.value.reason


def test_issue_and_verify(service: TokenService) -> None:
    pair = service.issue_tokens(ALICE)
    claims = service.verify_access_token(pair["accessToken"])
    assert claims["sub"] == "1" and claims["role"] == "admin"
    assert claims["exp"] - claims["iat"] == 900
    refresh = service.decode(pair["refreshToken"], "refresh")
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    header = jwt.get_unverified_header(pair["accessToken"])
    assert header["typ"] == "at+jwt" and header["alg"] == service.keys.access_algorithm


def test_short_or_shared_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="RFC 7518"):
        TokenKeys(access=b"secret", refresh=b"r" * 32)
    with pytest.raises(ValueError, match="different keys"):
        TokenKeys(access=b"k" * 32, refresh=b"k" * 32)
    with pytest.raises(ValueError, match="leeway"):
        TokenService(TokenKeys.generate(), leeway=timedelta(hours=1))


def test_forgeries_are_invalid(service: TokenService) -> None:
    access = service.issue_tokens({"id": 3, "role": "viewer"})["accessToken"]
    claims = {**attacks.decode_unverified(access)[1], "role": "admin"}
    for alg in ("none", "None", "NONE", "nOnE"):
        assert reason(service, attacks.forge({"alg": alg, "typ": "at+jwt"}, claims)) == "invalid"
    assert reason(service, attacks.tamper(access, role="admin")) == "invalid"
    assert reason(service, attacks.with_signature(access, b"")) == "invalid"
    assert reason(service, attacks.flip_signature_bit(access, 10)) == "invalid"
    key = attacks.new_rsa_key()
    header = {"alg": "RS256", "typ": "at+jwt", "jwk": attacks.rsa_jwk(key)}
    assert reason(service, attacks.forge(header, claims, key)) == "invalid"


def test_type_confusion_is_invalid(service: TokenService) -> None:
    pair = service.issue_tokens(ALICE)
    assert reason(service, pair["refreshToken"]) == "invalid"
    assert reason(service, pair["accessToken"], "refresh") == "invalid"


def test_expired_missing_claims_and_wrong_audience(service: TokenService) -> None:
    now = int(time.time())
    base = {"sub": "1", "role": "admin", "ver": 0, "iat": now - 3600}
    assert reason(service, service.sign({**base, "exp": now - 60}, typ="access")) == "expired"
    assert reason(service, service.sign(base, typ="access")) == "invalid"  # no exp
    no_sub = {k: v for k, v in base.items() if k != "sub"}
    assert reason(service, service.sign({**no_sub, "exp": now + 60}, typ="access")) == "invalid"
    other = {**base, "exp": now + 60, "aud": "https://other.example"}
    assert reason(service, service.sign(other, typ="access")) == "invalid"
    within_leeway = {**base, "exp": now - 5}
    assert service.verify_access_token(service.sign(within_leeway, typ="access"))


def test_logout_revokes_every_token(service: TokenService) -> None:
    pair = service.issue_tokens(ALICE)
    service.logout({"sub": "1"})
    assert reason(service, pair["accessToken"]) == "invalid"
    with pytest.raises(TokenError):
        service.refresh(pair["refreshToken"], lambda sub: ALICE)


def test_rotation_and_reuse_detection() -> None:
    store = MemoryRevocations()
    service = TokenService(TokenKeys.generate(), store)
    users: dict[str, dict[str, Any]] = {"1": ALICE}
    first = service.issue_tokens(ALICE)
    second = service.refresh(first["refreshToken"], users.get)
    third = service.refresh(second["refreshToken"], users.get)
    with pytest.raises(TokenError, match="reused"):
        service.refresh(first["refreshToken"], users.get)  # theft detected
    with pytest.raises(TokenError, match="family revoked"):
        service.refresh(third["refreshToken"], users.get)  # the whole family is dead
    other_login = service.issue_tokens(ALICE)  # another device keeps working
    assert service.refresh(other_login["refreshToken"], users.get)


def test_jwks_verifier_over_loopback() -> None:
    keys = TokenKeys.generate(asymmetric=True)
    service = TokenService(keys)
    body = keys.jwks()
    with Sandbox(attacks.jwks_app(body)) as box:
        verifier = JwksVerifier(f"{box.url}/jwks.json", issuer=keys.issuer, audience=keys.audience)
        token = service.issue_tokens(ALICE)["accessToken"]
        assert verifier.verify(token)["sub"] == "1"
        pem = keys.access.public_key().public_bytes(  # type: ignore[union-attr]
            *_pem_format()
        )
        confused = attacks.forge({"alg": "HS256", "kid": keys.kid}, {"sub": "1"}, pem)
        with pytest.raises(TokenError):
            verifier.verify(confused)
    with pytest.raises(ValueError, match="HTTPS"):
        JwksVerifier("http://issuer.example/jwks.json", issuer="x", audience="y")


def _pem_format() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


def test_cookie_and_bearer_helpers() -> None:
    assert refresh_cookie("abc") == (
        "refreshToken=abc; HttpOnly; Secure; SameSite=Strict; Path=/api/auth/refresh; "
        "Max-Age=604800"
    )
    assert clear_refresh_cookie().endswith("Max-Age=0")
    assert bearer_token("Bearer x.y.z") == "x.y.z"
    for header in (None, "", "Basic abc", "Bearer "):
        with pytest.raises(TokenError) as caught:
            bearer_token(header)
        assert caught.value.body == {"error": "Missing token"}
