"""02-jwt: every check fails on the stub and on a plausible wrong answer, and passes on the
reference — judged through the real lab, over HTTP."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from labkit.attacks import jwt as attacks
from labkit.exercises.lab import Lab
from labkit.exercises.labs.jwt import parse_set_cookie
from labkit.wordlists import common_passwords
from tests.labs import running_lab

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point

TYPES = {"access": "at+jwt", "refresh": "refresh+jwt"}
REQUIRED = ["exp", "iat", "sub", "iss", "aud"]
LIFETIMES = {"access": 900, "refresh": 7 * 24 * 3600}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "02-jwt") as opened:
        yield opened


def login(lab: Lab, who: str = "carol") -> tuple[str, str]:
    user = lab.users[who]
    response = lab.client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200, response.text
    cookie = next(h for h in response.headers.get_list("set-cookie") if "refreshToken=" in h)
    return response.json()["accessToken"], parse_set_cookie(cookie)[1]


def admin_claims(lab: Lab) -> dict[str, Any]:
    return {**attacks.decode_unverified(login(lab)[0])[1], "role": "admin"}


def log_token(lab: Lab, kind: str) -> str:
    entries = lab.client.get("/api/_lab/token-log").json()
    return next(e["authorization"] for e in entries if e["kind"] == kind).removeprefix("Bearer ")


def not_written(*args: Any) -> Any:
    raise NotImplementedError


# -- the learner's possible fixes ----------------------------------------------------------
def issue_tokens(user: dict[str, Any], keys: dict[str, Any]) -> dict[str, str]:
    now = int(time.time())
    common = {"sub": str(user["id"]), "ver": user["tokenVersion"], "iss": keys["issuer"],
              "aud": keys["audience"], "iat": now}  # fmt: skip
    access = {**common, "role": user["role"], "exp": now + 900}
    refresh = {**common, "jti": secrets.token_urlsafe(16), "fam": user["family"],
               "exp": now + 7 * 24 * 3600}  # fmt: skip
    return {
        "accessToken": jwt.encode(access, keys["access"], "HS256", headers={"typ": "at+jwt"}),
        "refreshToken": jwt.encode(
            refresh, keys["refresh"], "HS256", headers={"typ": "refresh+jwt"}
        ),
    }


def verify_token(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
    decoded = jwt.decode_complete(
        token, keys[typ], algorithms=["HS256"], audience=keys["audience"],
        issuer=keys["issuer"], leeway=30, options={"require": REQUIRED},
    )  # fmt: skip
    if decoded["header"].get("typ") != TYPES[typ]:
        raise jwt.InvalidTokenError("wrong token type")
    claims = decoded["payload"]
    if claims["exp"] - claims["iat"] > LIFETIMES[typ]:
        raise jwt.InvalidTokenError("lives too long")
    return claims


def verify_exp_optional(token: str, typ: str, keys: dict[str, Any]) -> dict[str, Any]:
    """Wrong: PyJWT accepts a token without exp unless it is required."""
    decoded = jwt.decode_complete(
        token, keys[typ], algorithms=["HS256"], audience=keys["audience"], issuer=keys["issuer"]
    )
    if decoded["header"].get("typ") != TYPES[typ]:
        raise jwt.InvalidTokenError("wrong token type")
    return decoded["payload"]


def check_not_revoked(claims: dict[str, Any], ledger: Any) -> None:
    if claims.get("ver") != ledger.token_version(claims["sub"]):
        raise jwt.InvalidTokenError("revoked")
    if "fam" in claims:
        if ledger.family_revoked(claims["fam"]):
            raise jwt.InvalidTokenError("family revoked")
        if not ledger.use_once(claims["jti"]):
            ledger.revoke_family(claims["fam"])
            raise jwt.InvalidTokenError("reused")


def logout(claims: dict[str, Any], ledger: Any) -> None:
    ledger.revoke_all(claims["sub"])


def refresh_cookie(token: str) -> str:
    return (
        f"refreshToken={token}; HttpOnly; Secure; SameSite=Strict; "
        "Path=/api/auth/refresh; Max-Age=604800"
    )


TOKENS = {"issue_tokens": issue_tokens, "verify_token": verify_token}
REVOCATION = {**TOKENS, "check_not_revoked": check_not_revoked, "logout": logout}
REFERENCE = {**REVOCATION, "refresh_cookie": refresh_cookie}


# -- attack checks -------------------------------------------------------------------------
def test_alg_none(lab: Lab) -> None:
    claims = admin_claims(lab)
    forged = [
        attacks.forge({"alg": a, "typ": "JWT"}, claims) for a in ("none", "None", "NONE", "nOnE")
    ]
    assert not lab.check("alg-none", None).passed
    partial = lab.check("alg-none", forged[:1] * 4)
    assert not partial.passed and "1 casing(s)" in repr(partial)
    result = lab.check("alg-none", forged)
    assert result.passed, repr(result)


def test_tampered_role(lab: Lab) -> None:
    access, _ = login(lab)
    assert not lab.check("tampered-role", None).passed
    kept = lab.check("tampered-role", attacks.tamper(access, role="admin"))
    assert not kept.passed and "answered /api/admin/users with 401" in repr(kept)
    assert not lab.check("tampered-role", access).passed  # genuine, not tampered
    result = lab.check(
        "tampered-role", attacks.with_signature(attacks.tamper(access, role="admin"), b"")
    )
    assert result.passed, repr(result)


def test_crack_secret(lab: Lab) -> None:
    _, refresh = login(lab)
    claims = admin_claims(lab)
    assert not lab.check("crack-secret", "").passed
    guessed = attacks.forge(
        {"alg": "HS256"}, claims, b"not in any wordlist " + secrets.token_bytes(8)
    )
    assert not lab.check("crack-secret", guessed).passed
    secret = attacks.crack_hs256(refresh, common_passwords())
    assert secret is not None
    result = lab.check("crack-secret", attacks.forge({"alg": "HS256"}, claims, secret.encode()))
    assert result.passed, repr(result)


def test_key_confusion(lab: Lab) -> None:
    claims = admin_claims(lab)
    header = {"alg": "HS256", "kid": "access-rs256"}
    other_pem = attacks.pem_from_jwk(attacks.rsa_jwk(attacks.new_rsa_key()))
    assert not lab.check("key-confusion", None).passed
    wrong = lab.check("key-confusion", attacks.forge(header, claims, other_pem))
    assert not wrong.passed and "not HS256-signed with the public key" in repr(wrong)
    pem = attacks.pem_from_jwk(lab.client.get("/jwks.json").json()["keys"][0])
    result = lab.check("key-confusion", attacks.forge(header, claims, pem))
    assert result.passed, repr(result)


def test_expired_token(lab: Lab) -> None:
    access, _ = login(lab)
    assert not lab.check("expired-token", None).passed
    fresh = lab.check("expired-token", access)
    assert not fresh.passed and "has not expired" in repr(fresh)
    result = lab.check("expired-token", log_token(lab, "expired"))
    assert result.passed, repr(result)


def test_no_exp(lab: Lab) -> None:
    access, _ = login(lab)
    assert not lab.check("no-exp", None).passed
    assert not lab.check("no-exp", access).passed
    unsigned = attacks.forge({"alg": "none"}, {"sub": "1", "role": "admin"})
    assert not lab.check("no-exp", unsigned).passed  # that is alg none, not a real token
    result = lab.check("no-exp", log_token(lab, "no-exp"))
    assert result.passed, repr(result)


def test_refresh_as_access(lab: Lab) -> None:
    access, refresh = login(lab)
    assert not lab.check("refresh-as-access", None).passed
    assert not lab.check("refresh-as-access", access).passed
    result = lab.check("refresh-as-access", refresh)
    assert result.passed, repr(result)


def test_kid_injection(lab: Lab) -> None:
    claims = admin_claims(lab)
    assert not lab.check("kid-injection", None).passed
    plain = lab.check("kid-injection", attacks.forge({"alg": "HS256", "kid": "nope"}, claims, b""))
    assert not plain.passed and "climb out" in repr(plain)
    kid = "../../../../../../../../../dev/null"
    result = lab.check("kid-injection", attacks.forge({"alg": "HS256", "kid": kid}, claims, b""))
    assert result.passed, repr(result)


def test_embedded_jwk(lab: Lab) -> None:
    claims = admin_claims(lab)
    mine, other = attacks.new_rsa_key(), attacks.new_rsa_key()
    assert not lab.check("embedded-jwk", None).passed
    mismatched = attacks.forge({"alg": "RS256", "jwk": attacks.rsa_jwk(other)}, claims, mine)
    assert not lab.check("embedded-jwk", mismatched).passed
    token = attacks.forge({"alg": "RS256", "jwk": attacks.rsa_jwk(mine)}, claims, mine)
    result = lab.check("embedded-jwk", token)
    assert result.passed, repr(result)


def test_refresh_after_logout(lab: Lab) -> None:
    access, refresh = login(lab, "bob")
    assert not lab.check("refresh-after-logout", None).passed
    early = lab.check("refresh-after-logout", refresh)
    assert not early.passed and "has not logged out" in repr(early)
    out = lab.client.post("/api/auth/logout", headers={"Authorization": f"Bearer {access}"})
    assert out.status_code == 204
    result = lab.check("refresh-after-logout", refresh)
    assert result.passed, repr(result)


# -- fix checks ----------------------------------------------------------------------------
def test_cookie_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("cookie", refresh_cookie=not_written)
    assert not result.passed
    assert "refresh_cookie is not written yet" in repr(result)


def test_cookie_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("cookie", refresh_cookie=refresh_cookie)
    assert result.passed, repr(result)


def test_tokens_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("tokens", issue_tokens=not_written, verify_token=not_written)
    assert not result.passed
    assert "issue_tokens is not written yet" in repr(result)


def test_tokens_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("tokens", **TOKENS)
    assert result.passed, repr(result)


def test_revocation_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("revocation", **TOKENS, check_not_revoked=not_written, logout=not_written)
    assert not result.passed
    assert "check_not_revoked is not written yet" in repr(result)


def test_revocation_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("revocation", **REVOCATION)
    assert result.passed, repr(result)


def test_verify_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("verify", **REFERENCE)
    assert result.passed, repr(result)
    for battery in ("refresh cookie", "token attacks", "logout and rotation"):
        assert f"{battery}: every attack refused" in repr(result)


def test_verify_fails_when_one_part_is_wrong(lab: Lab) -> None:
    result = lab.check("verify", **{**REFERENCE, "verify_token": verify_exp_optional})
    assert not result.passed
    assert "[exp-required] admin token without exp from the log: got 200" in repr(result)
    for other in ("[same-site]", "after logout", "reuse", "alg 'none'"):
        assert other not in repr(result)  # the other parts are the reference


def test_verify_fails_on_the_stub(lab: Lab) -> None:
    stubs = dict.fromkeys(REFERENCE, not_written)
    assert not lab.check("verify", **stubs).passed


def test_verify_needs_all_five_functions(lab: Lab) -> None:
    result = lab.check("verify", **TOKENS)
    assert not result.passed
    assert result.summary.startswith("this check needs your functions")


# -- the learner's own forgeries, replayed against the fix ---------------------------------
def learner_forgeries(lab: Lab) -> dict[str, Any]:
    """What the notebook's Attack cells hand in, written from base64, json and hmac."""
    import base64
    import hashlib
    import hmac
    import json

    def segment(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    _, refresh = login(lab)
    claims = admin_claims(lab)
    none = [f"{segment({'alg': a})}.{segment(claims)}." for a in ("none", "None")]
    signing_input = f"{segment({'alg': 'HS256', 'kid': '../../../../../../../../dev/null'})}"
    signing_input += f".{segment(claims)}"
    mac = hmac.new(b"", signing_input.encode(), hashlib.sha256).digest()
    kid = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    return {"Attack 1": none, "Attack 2": None, "Attack 7": refresh, "Attack 8": kid}


def test_the_learners_building_block_tokens_pass_the_attack_checks(lab: Lab) -> None:
    forgeries = learner_forgeries(lab)
    assert lab.check("kid-injection", forgeries["Attack 8"]).passed
    assert lab.check("refresh-as-access", forgeries["Attack 7"]).passed


def test_tokens_replays_the_learners_forgeries(lab: Lab) -> None:
    result = lab.check("tokens", learner_forgeries(lab), **TOKENS)
    assert result.passed, repr(result)
    assert "replayed 4 token(s) of yours from the Attack cells" in repr(result)
    result = lab.check("verify", learner_forgeries(lab), **REFERENCE)
    assert result.passed and "your own attacks: your forged tokens are now refused" in repr(result)


def test_a_forgery_that_still_gets_in_is_named(lab: Lab) -> None:
    from labkit.exercises.check import Findings
    from labkit.exercises.labs.jwt import replay_forgeries

    findings = Findings()  # replayed against the vulnerable app: every forgery gets in
    replay_forgeries(lab.client, findings, learner_forgeries(lab))
    problems = " ".join(findings.problems)
    assert "[signature] your token from Attack 1 still gets 200 on /api/admin/users" in problems
    assert "your token from Attack 7 still gets 403 on /api/admin/users" in problems
    assert "your token from Attack 8 still gets 200" in problems
