"""04-oauth: every check fails on the stub and on a plausible wrong answer or fix, and passes
on the reference — judged through the real lab (three sandboxes), over HTTP."""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from labkit.attacks import oauth
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.patterns import oauth as secure
from tests.labs import running_lab
from tests.test_oauth_attacks import (
    Scene,
    code_interception,
    code_reuse,
    implicit_leak,
    intercept_code,
    login_csrf,
    other_client,
    plain_downgrade,
    redeem_json,
    redirect_uri_theft,
)

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "04-oauth") as opened:
        yield opened


@pytest.fixture(scope="module")
def scene(lab: Lab) -> Scene:
    return Scene.of(lab.urls, lab.facts, lab.users)


def mentions(result: CheckResult, text: str) -> bool:
    return text in repr(result)


def not_written(*args: Any) -> Any:
    raise NotImplementedError


def carols_token(s: Scene) -> dict[str, Any]:
    """Carol's own, honest tokens (the wrong answer to every attack on alice)."""
    from labkit.attacks import oauth

    with oauth.browser() as me:
        oauth.sign_in(me, s.server, "carol@example.com", s.carol_password)
        code = oauth.query_params(
            oauth.follow(me, s.client + "/login", stop_at=s.redirect_uri).stopped_at or ""
        )["code"]
    return redeem_json(s, code)


REFERENCE = {
    "validate_redirect_uri": secure.validate_redirect_uri,
    "verify_pkce": secure.verify_pkce,
    "redeem_code": secure.redeem_code,
    "flow_allowed": secure.flow_allowed,
    "check_state": secure.check_state,
    "check_nonce": secure.check_nonce,
}


# -- attack checks: stub, wrong answer, the real attack --------------------------------------
@pytest.mark.parametrize(
    "check_id",
    ["code-interception", "other-client", "implicit-leak", "plain-downgrade", "nonce-replay"],
)
def test_token_checks_fail_on_the_stub(lab: Lab, check_id: str) -> None:
    result = lab.check(check_id, None)
    assert not result.passed
    assert mentions(result, "expected")


def test_code_interception(lab: Lab, scene: Scene) -> None:
    wrong = lab.check("code-interception", carols_token(scene)["access_token"])
    assert not wrong.passed and mentions(wrong, "not alice's")
    assert not lab.check("code-interception", "made-up").passed
    real = lab.check("code-interception", code_interception(scene)["access_token"])
    assert real.passed, repr(real)


def test_login_csrf(lab: Lab, scene: Scene) -> None:
    assert not lab.check("login-csrf", None).passed
    elsewhere = lab.check("login-csrf", scene.attacker + "/callback?code=x")
    assert not elsewhere.passed and mentions(elsewhere, "must be the client's callback")
    # the check judges alice's own browser as the learner's click left it
    oauth.victim_click(scene.server, scene.redirect_uri, fresh=True)
    no_code = lab.check("login-csrf", scene.redirect_uri)
    assert not no_code.passed and mentions(no_code, "her /me says 401")
    # a login of alice's own in progress: the client sends her verifier with carol's code
    oauth.victim_click(scene.server, scene.client + "/login", intercept=scene.redirect_uri)
    stale = login_csrf(scene)
    landed = oauth.victim_click(scene.server, stale)["final"]
    assert "PKCE verification failed" in landed["body"]
    refused = lab.check("login-csrf", stale)
    assert not refused.passed and mentions(refused, "PKCE verification failed")
    # that failed callback ended her pending login: a new forged callback gets through
    forged = login_csrf(scene)
    assert oauth.victim_click(scene.server, forged)["final"]["status"] == 200
    real = lab.check("login-csrf", forged)
    assert real.passed, repr(real)
    assert mentions(real, "carol@example.com")


def test_redirect_uri(lab: Lab, scene: Scene) -> None:
    assert not lab.check("redirect-uri", None).passed
    honest = lab.check("redirect-uri", scene.redirect_uri)
    assert not honest.passed and mentions(honest, "none delivered a code")
    uri, _ = redirect_uri_theft(scene)
    real = lab.check("redirect-uri", uri)
    assert real.passed, repr(real)
    # the learner's look-alikes as a dict: any one landing on the attacker's site passes
    tricks = {"sub-path": scene.redirect_uri + "/x", "port": uri}
    assert lab.check("redirect-uri", tricks).passed
    assert lab.check("redirect-uri", list(tricks.values())).passed
    assert not lab.check("redirect-uri", {"sub-path": scene.redirect_uri + "/x"}).passed
    assert not lab.check("redirect-uri", {}).passed


def test_code_reuse(lab: Lab, scene: Scene) -> None:
    assert not lab.check("code-reuse", None).passed
    assert not lab.check("code-reuse", "made-up").passed
    once = intercept_code(scene)
    assert once and redeem_json(scene, once)
    used_once = lab.check("code-reuse", once)
    assert not used_once.passed and mentions(used_once, "redeemed 1 time(s)")
    code, _ = code_reuse(scene)
    real = lab.check("code-reuse", code)
    assert real.passed, repr(real)


def test_other_client(lab: Lab, scene: Scene) -> None:
    same_client = lab.check("other-client", code_interception(scene)["access_token"])
    assert not same_client.passed and mentions(same_client, "redeem a webapp code as evil-app")
    real = lab.check("other-client", other_client(scene)["access_token"])
    assert real.passed, repr(real)


def test_implicit_leak(lab: Lab, scene: Scene) -> None:
    code_flow = lab.check("implicit-leak", code_interception(scene)["access_token"])
    assert not code_flow.passed and mentions(code_flow, "use response_type=token")
    real = lab.check("implicit-leak", implicit_leak(scene))
    assert real.passed, repr(real)


def test_plain_downgrade(lab: Lab, scene: Scene) -> None:
    no_pkce = lab.check("plain-downgrade", code_interception(scene)["access_token"])
    assert not no_pkce.passed and mentions(no_pkce, "use a code_challenge_method=plain code")
    real = lab.check("plain-downgrade", plain_downgrade(scene)["access_token"])
    assert real.passed, repr(real)


def test_nonce_replay(lab: Lab, scene: Scene) -> None:
    carols = lab.check("nonce-replay", carols_token(scene)["id_token"])
    assert not carols.passed and mentions(carols, "not alice")
    assert not lab.check("nonce-replay", "a.b.c").passed
    real = lab.check("nonce-replay", code_interception(scene)["id_token"])
    assert real.passed, repr(real)


def test_nonce_replay_says_the_id_token_expired(lab: Lab) -> None:
    now = int(time.time())
    claims = {"sub": "1", "exp": now - 60, "iat": now - 360}
    expired = jwt.encode(claims, "k" * 32, algorithm="HS256")
    result = lab.check("nonce-replay", expired)
    assert not result.passed and mentions(result, "this ID token expired at")


# -- fix checks: stub and reference (wrong and right fixes: tests/fixes/04-oauth) ----------
FIX_CHECKS = {
    "pkce": ("verify_pkce", "RFC 7636 Appendix B"),
    "redirect-uri-exact": ("validate_redirect_uri", "the exact registered redirect_uri gets"),
    "codes": ("redeem_code", "revoked"),
    "flows": ("flow_allowed", "the password grant with the right password is refused"),
    "state": ("check_state", "refused: the attacker's callback with the login's state"),
    "nonce": ("check_nonce", "refused: an ID token with the login's nonce, its last character"),
}


@pytest.mark.parametrize("check_id", FIX_CHECKS)
def test_fix_check_fails_on_the_stub_and_passes_on_the_reference(lab: Lab, check_id: str) -> None:
    function, observed = FIX_CHECKS[check_id]
    stub = lab.check(check_id, **{function: not_written})
    assert not stub.passed and mentions(stub, f"{function} is not written yet")
    reference = lab.check(check_id, **{function: REFERENCE[function]})
    assert reference.passed, repr(reference)
    assert mentions(reference, observed)


def pkce_with_plain(verifier: str | None, challenge: str | None, method: str | None) -> bool:
    """Required, but ``plain`` still accepted."""
    if not verifier or not challenge:
        return False
    if method in (None, "plain"):
        return hmac.compare_digest(verifier, challenge)
    return method == "S256" and secure.verify_pkce(verifier, challenge, method)


def test_verify(lab: Lab) -> None:
    assert not lab.check("verify", **{n: not_written for n in REFERENCE}).passed
    one_wrong = lab.check("verify", **{**REFERENCE, "verify_pkce": pkce_with_plain})
    assert not one_wrong.passed
    assert mentions(one_wrong, "tokens issued for a plain code")
    for other in ("trick", "second time", "response_type=token", "login CSRF", "ID token"):
        assert not mentions(one_wrong, other)  # the other five are the reference
    reference = lab.check("verify", **REFERENCE)
    assert reference.passed, repr(reference)


def test_verify_needs_all_six_functions(lab: Lab) -> None:
    result = lab.check("verify", verify_pkce=secure.verify_pkce)
    assert not result.passed
    assert result.summary.startswith("this check needs your functions")
