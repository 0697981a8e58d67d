"""labkit.patterns.oauth (and its insecure twin) without any server: the RFC 7636 test
vector, redirect URI matching, codes, state, nonce and ID tokens."""

from __future__ import annotations

import time

import jwt
import pytest

from labkit.attacks.oauth import redirect_uri_tricks, s256
from labkit.patterns import oauth as secure
from labkit.vulnerable import oauth as weak

# RFC 7636 Appendix B, copied from the RFC
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
REGISTERED = "https://client.example/callback"


def test_rfc7636_appendix_b_vector() -> None:
    assert s256(VERIFIER) == CHALLENGE
    assert secure.verify_pkce(VERIFIER, CHALLENGE, "S256")


@pytest.mark.parametrize(
    ("verifier", "challenge", "method"),
    [
        (VERIFIER, CHALLENGE, "plain"),
        (VERIFIER, VERIFIER, "plain"),
        (VERIFIER, VERIFIER, None),
        (None, CHALLENGE, "S256"),
        (VERIFIER, None, None),
        (None, None, None),
        (VERIFIER[:-1] + "l", CHALLENGE, "S256"),
        ("short", s256("short"), "S256"),  # RFC 7636 §4.1: 43 to 128 characters
        ("a" * 129, s256("a" * 129), "S256"),
        ("a" * 42 + "!", s256("a" * 42 + "!"), "S256"),  # not an unreserved character
    ],
)
def test_pkce_refuses(verifier: str | None, challenge: str | None, method: str | None) -> None:
    assert not secure.verify_pkce(verifier, challenge, method)


def test_new_pkce_pair_is_s256_and_well_formed() -> None:
    verifier, challenge = secure.new_pkce_pair()
    assert 43 <= len(verifier) <= 128 and secure.verify_pkce(verifier, challenge, "S256")
    assert secure.new_pkce_pair() != (verifier, challenge)


def test_the_twin_accepts_missing_and_plain_pkce() -> None:
    assert weak.verify_pkce(None, CHALLENGE, "S256")
    assert weak.verify_pkce(VERIFIER, VERIFIER, "plain")
    assert weak.verify_pkce(VERIFIER, VERIFIER, None)
    assert weak.verify_pkce(VERIFIER, CHALLENGE, "S256")
    assert not weak.verify_pkce("wrong", CHALLENGE, "S256")


def test_redirect_uri_exact_match_only() -> None:
    tricks = redirect_uri_tricks(REGISTERED, "https://evil.example")
    assert set(tricks) == {"prefix", "..", "@", "extra query", "case", "scheme", "port"}
    assert secure.validate_redirect_uri(REGISTERED, REGISTERED)
    for name, uri in tricks.items():
        assert not secure.validate_redirect_uri(REGISTERED, uri), name
        assert weak.validate_redirect_uri(REGISTERED, uri), name
    assert not weak.validate_redirect_uri(REGISTERED, "https://evil.example/callback")


def test_codes_single_use_bound_and_short_lived() -> None:
    reused: list[str] = []
    codes = secure.CodeStore(on_reuse=reused.append)
    record = {"client_id": "webapp", "redirect_uri": REGISTERED, "user": "alice"}
    code = codes.issue(record)
    assert secure.redeem_code(codes, code, "webapp", REGISTERED)["user"] == "alice"
    assert secure.redeem_code(codes, code, "webapp", REGISTERED) is None
    assert reused == [code]  # the server may now revoke what the first redemption issued
    for client_id, uri in (
        ("evil-app", REGISTERED),
        ("webapp", REGISTERED + "?x"),
        ("webapp", None),
    ):
        assert secure.redeem_code(codes, codes.issue(record), client_id, uri) is None
    old = codes.issue(record)
    assert codes.age(old, secure.CODE_TTL_S + 1)
    assert secure.redeem_code(codes, old, "webapp", REGISTERED) is None
    assert secure.redeem_code(codes, "never-issued", "webapp", REGISTERED) is None


def test_the_twin_redeems_codes_forever_for_anyone() -> None:
    codes = secure.CodeStore()
    code = codes.issue({"client_id": "webapp", "redirect_uri": REGISTERED, "user": "alice"})
    codes.age(code, 86400)
    for _ in range(2):
        assert weak.redeem_code(codes, code, "evil-app", None) is not None


def test_flows() -> None:
    assert secure.flow_allowed("authorization_code")
    assert not secure.flow_allowed("implicit") and not secure.flow_allowed("password")
    assert weak.flow_allowed("implicit") and weak.flow_allowed("password")


def test_state_and_nonce() -> None:
    state = secure.new_state()
    assert secure.check_state(state, state)
    for expected, returned in ((state, None), (None, None), (None, state), (state, state + "x")):
        assert not secure.check_state(expected, returned)
    assert secure.check_nonce("n", {"nonce": "n"})
    for expected, claims in (("n", {}), (None, {}), (None, {"nonce": "n"}), ("n", {"nonce": "m"})):
        assert not secure.check_nonce(expected, claims)
    assert weak.check_state(None, None) and weak.check_nonce(None, {})


def test_id_tokens() -> None:
    key = secure.SigningKey()
    now = int(time.time())
    claims = {"iss": "https://as", "sub": "1", "aud": "webapp", "iat": now, "exp": now + 60}
    token = key.sign({**claims, "nonce": "n"})
    assert (
        secure.verify_id_token(token, key.jwks(), issuer="https://as", audience="webapp")["nonce"]
        == "n"
    )
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    bad = {
        "wrong audience": key.sign({**claims, "aud": "evil-app"}),
        "wrong issuer": key.sign({**claims, "iss": "https://evil"}),
        "expired": key.sign({**claims, "exp": now - 10}),
        "no exp": key.sign({k: v for k, v in claims.items() if k != "exp"}),
        "another key": secure.SigningKey().sign(claims),
        "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": key.kid}),
    }
    for name, forged in bad.items():
        with pytest.raises(secure.OAuthError):
            secure.verify_id_token(forged, key.jwks(), issuer="https://as", audience="webapp")
        assert name
