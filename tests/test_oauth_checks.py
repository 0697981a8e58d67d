"""04-oauth: every check fails on the stub and on a plausible wrong answer or fix, and passes
on the reference — judged through the real lab (three sandboxes), over HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.patterns import oauth as secure
from labkit.vulnerable import oauth as weak
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


# -- plausible wrong fixes -----------------------------------------------------------------
def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pkce_with_plain(verifier: str | None, challenge: str | None, method: str | None) -> bool:
    """Required, but ``plain`` still accepted."""
    if not verifier or not challenge:
        return False
    expected = challenge if method in (None, "plain") else _s256(verifier)
    return hmac.compare_digest(verifier if method in (None, "plain") else challenge, expected)


def pkce_optional(verifier: str | None, challenge: str | None, method: str | None) -> bool:
    """S256 done right when both sides are there — and skipped when they are not."""
    if verifier is None or challenge is None:
        return True
    return method == "S256" and hmac.compare_digest(_s256(verifier), challenge)


def redirect_prefix(registered: str, requested: str) -> bool:
    return requested.startswith(registered)


def redirect_normalised(registered: str, requested: str) -> bool:
    """Compares the parsed parts case-insensitively: ``/CALLBACK`` slips through."""
    a, b = urlsplit(registered.lower()), urlsplit(requested.lower())
    return (a.scheme, a.netloc, a.path, a.query) == (b.scheme, b.netloc, b.path, b.query)


def redeem_reusable(
    codes: Any, code: str, client_id: str, redirect_uri: str | None
) -> dict[str, Any] | None:
    """Bound and short-lived, but read with ``get``: not single-use."""
    record = codes.get(code)
    if record is None or record["client_id"] != client_id:
        return None
    if record["redirect_uri"] != redirect_uri or time.time() - record["issued_at"] > 600:
        return None
    return record


def redeem_any_client(
    codes: Any, code: str, client_id: str, redirect_uri: str | None
) -> dict[str, Any] | None:
    record = codes.pop(code)
    if record is None or time.time() - record["issued_at"] > 600:
        return None
    return record if record["redirect_uri"] == redirect_uri else None


def flows_without_implicit(flow: str) -> bool:
    return flow != "implicit"


def state_not_compared(expected: str | None, returned: str | None) -> bool:
    return returned is not None


def state_equal(expected: str | None, returned: str | None) -> bool:
    return expected == returned  # None == None for a callback nobody asked for


def nonce_if_present(expected: str | None, claims: dict[str, Any]) -> bool:
    return claims.get("nonce") is None or claims.get("nonce") == expected


def nonce_if_expected(expected: str | None, claims: dict[str, Any]) -> bool:
    return expected is None or claims.get("nonce") == expected


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
    no_code = lab.check("login-csrf", scene.redirect_uri)
    assert not no_code.passed and mentions(no_code, "after the click alice's /me says 401")
    forged = login_csrf(scene)
    real = lab.check("login-csrf", forged)
    assert real.passed, repr(real)
    assert mentions(real, "carol@example.com")


def test_redirect_uri(lab: Lab, scene: Scene) -> None:
    assert not lab.check("redirect-uri", None).passed
    honest = lab.check("redirect-uri", scene.redirect_uri)
    assert not honest.passed and mentions(honest, "did not deliver a code")
    uri, _ = redirect_uri_theft(scene)
    real = lab.check("redirect-uri", uri)
    assert real.passed, repr(real)


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


# -- fix checks: stub, plausible wrong fix, reference ---------------------------------------
def test_pkce(lab: Lab) -> None:
    stub = lab.check("pkce", verify_pkce=not_written)
    assert not stub.passed and mentions(stub, "verify_pkce is not written yet")
    plain = lab.check("pkce", verify_pkce=pkce_with_plain)
    assert not plain.passed
    assert mentions(plain, "tokens issued for a plain code")
    assert mentions(plain, "named no method")
    assert not mentions(plain, "RFC 7636 Appendix B verifier did not")
    optional = lab.check("pkce", verify_pkce=pkce_optional)
    assert not optional.passed
    assert mentions(optional, "tokens issued for an S256 code redeemed with no code_verifier")
    assert mentions(optional, "requested without PKCE, redeemed with a verifier")
    assert not lab.check("pkce", verify_pkce=weak.verify_pkce).passed
    reference = lab.check("pkce", verify_pkce=secure.verify_pkce)
    assert reference.passed, repr(reference)
    assert mentions(reference, "RFC 7636 Appendix B")


def test_redirect_uri_exact(lab: Lab) -> None:
    stub = lab.check("redirect-uri-exact", validate_redirect_uri=not_written)
    assert not stub.passed and mentions(stub, "validate_redirect_uri is not written yet")
    prefix = lab.check("redirect-uri-exact", validate_redirect_uri=redirect_prefix)
    assert not prefix.passed
    for trick in ("prefix", "..", "extra query"):
        assert mentions(prefix, f"redirect_uri trick '{trick}'")
    for refused in ("'@'", "'port'", "'scheme'", "'case'"):
        assert not mentions(prefix, f"redirect_uri trick {refused}")
    normalised = lab.check("redirect-uri-exact", validate_redirect_uri=redirect_normalised)
    assert not normalised.passed and mentions(normalised, "redirect_uri trick 'case'")
    reference = lab.check("redirect-uri-exact", validate_redirect_uri=secure.validate_redirect_uri)
    assert reference.passed, repr(reference)


def test_codes(lab: Lab) -> None:
    stub = lab.check("codes", redeem_code=not_written)
    assert not stub.passed and mentions(stub, "redeem_code is not written yet")
    reusable = lab.check("codes", redeem_code=redeem_reusable)
    assert not reusable.passed
    assert mentions(reusable, "the same code redeemed a second time")
    assert not mentions(reusable, "another client")
    any_client = lab.check("codes", redeem_code=redeem_any_client)
    assert not any_client.passed
    assert mentions(any_client, "a code redeemed by another client (evil-app")
    assert not mentions(any_client, "second time")
    reference = lab.check("codes", redeem_code=secure.redeem_code)
    assert reference.passed, repr(reference)
    assert mentions(reference, "revoked")


def test_flows(lab: Lab) -> None:
    stub = lab.check("flows", flow_allowed=not_written)
    assert not stub.passed and mentions(stub, "flow_allowed is not written yet")
    half = lab.check("flows", flow_allowed=flows_without_implicit)
    assert not half.passed
    assert mentions(half, "grant_type=password answered 400 'invalid_grant'")
    assert not mentions(half, "response_type=token")
    reference = lab.check("flows", flow_allowed=secure.flow_allowed)
    assert reference.passed, repr(reference)


def test_state(lab: Lab) -> None:
    stub = lab.check("state", check_state=not_written)
    assert not stub.passed and mentions(stub, "check_state is not written yet")
    uncompared = lab.check("state", check_state=state_not_compared)
    assert not uncompared.passed
    assert mentions(uncompared, "login CSRF: the attacker's callback, no login in progress")
    equal = lab.check("state", check_state=state_equal)
    assert not equal.passed
    assert mentions(equal, "the attacker's callback without state, no login in progress logged")
    assert not mentions(equal, "login CSRF: the attacker's callback, no login in progress")
    reference = lab.check("state", check_state=secure.check_state)
    assert reference.passed, repr(reference)


def test_nonce(lab: Lab) -> None:
    stub = lab.check("nonce", check_nonce=not_written)
    assert not stub.passed and mentions(stub, "check_nonce is not written yet")
    if_present = lab.check("nonce", check_nonce=nonce_if_present)
    assert not if_present.passed
    assert mentions(if_present, "an ID token without a nonce, no login in progress logged")
    assert not mentions(if_present, "a replayed ID token while a login is in progress")
    if_expected = lab.check("nonce", check_nonce=nonce_if_expected)
    assert not if_expected.passed
    assert mentions(if_expected, "a replayed ID token, no login in progress logged")
    reference = lab.check("nonce", check_nonce=secure.check_nonce)
    assert reference.passed, repr(reference)


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
