"""03-sessions: every check fails on the stub and on a plausible wrong fix, and passes on the
reference — judged through the real lab over HTTP, with the session store in SQLite and in a
real Redis (the same tests, parametrized), and the cookie attacks in a real Chromium."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from labkit.attacks import sessions as attack
from labkit.browser import run_in_browser
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.exercises.registry import get_lab
from labkit.patterns import sessions as secure
from labkit.sandbox.apps.sessions import REDIS_ENV
from labkit.sandbox.server import Sandbox
from labkit.vulnerable import sessions as weak

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point

STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(scope="module", params=STORES)
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_HOME", str(tmp_path_factory.mktemp("labkit-home")))
        if request.param == "redis":
            patch.setenv(REDIS_ENV, request.getfixturevalue("redis_url"))
        else:
            patch.delenv(REDIS_ENV, raising=False)
        # Lab(), not open_lab(): a lab this module owns (no other test can replace it)
        opened = Lab(get_lab("03-sessions"))
        try:
            assert opened.facts["session-store"].startswith(request.param)
            yield opened
        finally:
            opened.close()


def mentions(result: CheckResult, text: str) -> bool:
    return text in repr(result)


def not_written(*args: Any) -> Any:
    raise NotImplementedError


# -- the learner's possible answers ------------------------------------------------------
REFERENCE = {
    "new_session_id": secure.new_session_id,
    "start_session": secure.start_session,
    "session_cookie": secure.session_cookie,
    "end_session": secure.end_session,
    "session_expired": secure.session_expired,
}


# -- attack checks (against the lab's vulnerable app) -------------------------------------
def cookie_name(lab: Lab) -> str:
    lab.client.cookies.clear()
    return attack.set_cookies(lab.client.get("/"))[0].name


def login(lab: Lab, who: str, planted: str | None = None) -> str:
    user = lab.users[who]
    lab.client.cookies.clear()
    headers = attack.cookie_header(weak.COOKIE_NAME, planted) if planted else {}
    response = lab.client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}, headers=headers
    )
    assert response.status_code == 200, response.text
    lab.client.cookies.clear()
    return attack.set_cookies(response)[0].value


def test_fixation_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("fixation", None)
    assert not result.passed
    assert mentions(result, "expected the session id you planted")


def test_fixation_fails_on_an_id_issued_at_login(lab: Lab) -> None:
    result = lab.check("fixation", login(lab, "alice"))
    assert not result.passed
    assert mentions(result, "issued by the login itself")


def test_fixation_fails_on_an_id_nobody_logged_in_with(lab: Lab) -> None:
    result = lab.check("fixation", f"planted-{secrets.token_hex(4)}")
    assert not result.passed
    assert mentions(result, "that id is not logged in")


@pytest.mark.parametrize("how", ["server-issued", "made-up"])
def test_fixation_passes_on_a_planted_id(lab: Lab, how: str) -> None:
    if how == "server-issued":
        lab.client.cookies.clear()
        planted = attack.set_cookies(lab.client.get("/"))[0].value
    else:
        planted = f"attacker-{secrets.token_hex(4)}"
    assert login(lab, "alice", planted) == planted
    result = lab.check("fixation", planted)
    assert result.passed, repr(result)
    assert mentions(result, "alice@example.com's account")


def test_predict_ids_fails_on_the_stub(lab: Lab) -> None:
    assert not lab.check("predict-ids", []).passed


def test_predict_ids_fails_on_your_own_session(lab: Lab) -> None:
    result = lab.check("predict-ids", [login(lab, "alice")])
    assert not result.passed
    assert mentions(result, "none of those ids is a session of alice or bob")


def test_predict_ids_passes_on_enumerated_sessions(lab: Lab) -> None:
    mine = login(lab, "carol")
    found = attack.enumerate_sessions(lab.client, cookie_name(lab), int(mine), width=60)
    others = [i for i, account in found.items() if account["email"] != "carol@example.com"]
    result = lab.check("predict-ids", others)
    assert result.passed, repr(result)


def test_after_logout_fails_on_a_live_session(lab: Lab) -> None:
    result = lab.check("after-logout", login(lab, "carol"))
    assert not result.passed
    assert mentions(result, "never logged out")


def test_after_logout_passes_on_a_replayed_cookie(lab: Lab) -> None:
    session_id = login(lab, "carol")
    lab.client.post("/api/auth/logout", headers=attack.cookie_header("sessionid", session_id))
    result = lab.check("after-logout", session_id)
    assert result.passed, repr(result)


def test_steal_cookie_fails_on_made_up_loot(lab: Lab) -> None:
    assert not lab.check("steal-cookie", None).passed
    result = lab.check("steal-cookie", ["sessionid=1"])
    assert not result.passed
    assert mentions(result, "no session in what you handed in")


def test_csrf_fails_on_a_transfer_made_by_the_attacker_itself(lab: Lab) -> None:
    assert not lab.check("csrf", "").passed
    session_id = login(lab, "alice")
    lab.client.post(
        "/api/transfer",
        json={"to": "mallory-direct", "amount": 5},
        headers=attack.cookie_header("sessionid", session_id),
    )
    result = lab.check("csrf", "mallory-direct")
    assert not result.passed
    assert mentions(result, "were not started by another site")


@pytest.mark.browser
def test_browser_attacks_pass_their_checks(lab: Lab, chromium_path: str) -> None:
    alice = lab.users["alice"]
    victim = attack.other_site(lab.url)
    with Sandbox(attack.attacker_site(), name="evil") as evil:
        page = attack.csrf_url(evil.url, victim + "/api/transfer", to="mallory", amount=500)

        def both(browser: Any) -> tuple[Any, Any]:
            payload = attack.steal_cookie_payload(evil.url)
            return (
                attack.browser_xss(browser, victim, alice.email, alice.password, payload),
                attack.browser_csrf(browser, victim, alice.email, alice.password, page),
            )

        stolen, forged = run_in_browser(both)
        loot = evil.client.get("/loot").json()
    assert stolen.document_cookie.startswith("sessionid=")
    assert forged.landing_status == 200
    result = lab.check("steal-cookie", loot)
    assert result.passed, repr(result)
    result = lab.check("csrf", "mallory")
    assert result.passed, repr(result)


# -- id-entropy --------------------------------------------------------------------------
def test_id_entropy_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("id-entropy", new_session_id=not_written)
    assert not result.passed
    assert mentions(result, "new_session_id is not written yet")


def test_id_entropy_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("id-entropy", new_session_id=secure.new_session_id)
    assert result.passed, repr(result)


# -- no-fixation -------------------------------------------------------------------------
def test_no_fixation_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("no-fixation", start_session=not_written)
    assert not result.passed
    assert mentions(result, "start_session is not written yet")


def test_no_fixation_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("no-fixation", start_session=secure.start_session)
    assert result.passed, repr(result)


# -- cookie-flags ------------------------------------------------------------------------
def test_cookie_flags_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("cookie-flags", session_cookie=not_written)
    assert not result.passed
    assert mentions(result, "session_cookie is not written yet")


def cookie_without_samesite(session_id: str) -> str:
    return f"__Host-session={session_id}; Path=/; Secure; HttpOnly"


def test_cookie_flags_fail_names_only_what_is_missing(lab: Lab) -> None:
    result = lab.check("cookie-flags", session_cookie=cookie_without_samesite)
    assert not mentions(result, "no HttpOnly")
    assert not mentions(result, "no Secure")
    assert not mentions(result, "name it __Host-")


def test_cookie_flags_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("cookie-flags", session_cookie=secure.session_cookie)
    assert result.passed, repr(result)


# -- cookie-browser (real Chromium) ------------------------------------------------------
@pytest.mark.browser
def test_cookie_browser_fails_on_the_stub(lab: Lab, chromium_path: str) -> None:
    result = lab.check("cookie-browser", session_cookie=not_written)
    assert not result.passed
    assert mentions(result, "session_cookie is not written yet")


@pytest.mark.browser
def test_cookie_browser_passes_on_the_reference(lab: Lab, chromium_path: str) -> None:
    result = lab.check("cookie-browser", session_cookie=secure.session_cookie)
    assert result.passed, repr(result)


def test_cookie_browser_fails_clearly_without_a_browser(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    import labkit.browser

    monkeypatch.setattr(labkit.browser, "find_chromium", lambda: None)
    result = lab.check("cookie-browser", session_cookie=secure.session_cookie)
    assert not result.passed
    assert mentions(result, "this check needs a real browser and none could start")


# -- logout ------------------------------------------------------------------------------
def test_logout_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("logout", end_session=not_written)
    assert not result.passed
    assert mentions(result, "end_session is not written yet")


def test_logout_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("logout", end_session=secure.end_session)
    assert result.passed, repr(result)


# -- timeouts ----------------------------------------------------------------------------
def test_timeouts_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("timeouts", session_expired=not_written)
    assert not result.passed
    assert mentions(result, "session_expired is not written yet")


def test_timeouts_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("timeouts", session_expired=secure.session_expired)
    assert result.passed, repr(result)


# -- verify ------------------------------------------------------------------------------
@pytest.mark.browser
def test_verify_passes_on_the_reference(lab: Lab, chromium_path: str) -> None:
    result = lab.check("verify", **REFERENCE)
    assert result.passed, repr(result)
    for battery in ("id entropy", "fixation", "cookie flags", "browser attacks", "logout"):
        assert mentions(result, f"{battery}: every attack refused")
    assert mentions(result, "timeouts: every attack refused")


@pytest.mark.browser
def test_verify_fails_when_one_part_is_wrong(lab: Lab, chromium_path: str) -> None:
    result = lab.check("verify", **{**REFERENCE, "end_session": weak.end_session})
    assert not result.passed
    assert mentions(result, "still opens the account")
    for other in ("random bits", "kept", "adopted", "SameSite", "HttpOnly", "idle", "alive"):
        assert not mentions(result, other)  # the other four functions are the reference


def test_verify_needs_all_five_functions(lab: Lab) -> None:
    result = lab.check("verify", session_cookie=secure.session_cookie)
    assert not result.passed
    assert result.summary.startswith("this check needs your functions new_session_id")
