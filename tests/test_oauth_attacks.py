"""04-oauth: every attack of the lab succeeds against the vulnerable pair and fails against
``create_app(secure=True)``; the legitimate flows work on both. The attack steps here are the
notebook's, and test_oauth_checks.py reuses them."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from labkit.attacks import oauth
from labkit.exercises.check import Findings, Target
from labkit.exercises.registry import get_lab
from labkit.exercises.runner import run_check
from labkit.sandbox.lab_server import LabServer

SCOPE = "openid email"
ATTACKS = (
    "code-interception",
    "login-csrf",
    "redirect-uri",
    "code-reuse",
    "other-client",
    "implicit-leak",
    "plain-downgrade",
    "nonce-replay",
)


@dataclass(frozen=True)
class Scene:
    """What the attacker knows: the lab's URLs, the registered clients, carol's password."""

    server: str
    client: str
    attacker: str
    client_id: str
    redirect_uri: str
    evil_id: str
    evil_secret: str
    carol_password: str

    @classmethod
    def of(cls, urls: dict[str, str], facts: dict[str, str], users: Any) -> Scene:
        client_id, redirect_uri = facts["client"].split()
        evil_id, evil_secret, _ = facts["evil_client"].split()
        return cls(
            urls["main"],
            urls["client"],
            urls["attacker"],
            client_id,
            redirect_uri,
            evil_id,
            evil_secret,
            users["carol"].password,
        )


# -- the attacks, as the notebook performs them ----------------------------------------------
def intercept_code(s: Scene) -> str | None:
    """Alice logs in to the client; a malicious app claims the redirect URI."""
    click = oauth.victim_click(s.server, s.client + "/login", intercept=s.redirect_uri, fresh=True)
    return oauth.query_params(click["intercepted"] or "").get("code")


def redeem_json(s: Scene, code: str | None, **kwargs: Any) -> dict[str, Any]:
    if not code:
        return {}
    kwargs.setdefault("client_id", s.client_id)
    kwargs.setdefault("redirect_uri", s.redirect_uri)
    with oauth.browser() as http:
        response = oauth.redeem(http, s.server, code, **kwargs)
    return response.json() if response.status_code == 200 else {}


def code_interception(s: Scene) -> dict[str, Any]:
    """Redeem alice's intercepted code with no code_verifier: the token response."""
    return redeem_json(s, intercept_code(s))


def login_csrf(s: Scene) -> str | None:
    """Carol's own callback URL (her code), never delivered by her own browser."""
    with oauth.browser() as me:
        oauth.sign_in(me, s.server, "carol@example.com", s.carol_password)
        trip = oauth.follow(me, s.client + "/login", stop_at=s.redirect_uri)
    return trip.stopped_at


def victim_me(s: Scene) -> str:
    return str((oauth.victim_click(s.server, s.client + "/me")["final"] or {}).get("body"))


def redirect_uri_theft(s: Scene) -> tuple[str, str | None]:
    """The port trick: alice's code lands on the attacker's site. (uri, stolen code)"""
    uri = oauth.redirect_uri_tricks(s.redirect_uri, s.attacker)["port"]
    before = len(oauth.captured(s.attacker))
    link = oauth.authorize_url(
        s.server, response_type="code", client_id=s.client_id, redirect_uri=uri, scope=SCOPE
    )
    oauth.victim_click(s.server, link, fresh=True)
    codes = [c["query"].get("code") for c in oauth.captured(s.attacker)[before:]]
    return uri, next((c for c in codes if c), None)


def code_reuse(s: Scene) -> tuple[str | None, dict[str, Any]]:
    """The code in alice's history, which the client already redeemed, redeemed again."""
    click = oauth.victim_click(s.server, s.client + "/login", fresh=True)
    callback = next(h["url"] for h in click["history"] if h["url"].startswith(s.redirect_uri))
    code = oauth.query_params(callback).get("code")
    return code, redeem_json(s, code)


def other_client(s: Scene) -> dict[str, Any]:
    return redeem_json(s, intercept_code(s), client_id=s.evil_id, client_secret=s.evil_secret)


def implicit_leak(s: Scene) -> str | None:
    uri = oauth.redirect_uri_tricks(s.redirect_uri, s.attacker)["port"]
    link = oauth.authorize_url(
        s.server, response_type="token", client_id=s.client_id, redirect_uri=uri
    )
    click = oauth.victim_click(s.server, link, fresh=True)
    locations = [h.get("location") or "" for h in click["history"]]
    return next(
        (oauth.fragment_params(x)["access_token"] for x in locations if "access_token" in x),
        None,
    )


def plain_downgrade(s: Scene) -> dict[str, Any]:
    seen = secrets.token_urlsafe(48)  # the challenge in the request: with plain, the verifier
    link = oauth.authorize_url(
        s.server,
        response_type="code",
        client_id=s.client_id,
        redirect_uri=s.redirect_uri,
        scope=SCOPE,
        code_challenge=seen,
        code_challenge_method="plain",
    )
    click = oauth.victim_click(s.server, link, intercept=s.redirect_uri, fresh=True)
    code = oauth.query_params(click["intercepted"] or "").get("code")
    return redeem_json(s, code, code_verifier=seen)


def nonce_replay(s: Scene, id_token: str) -> str | None:
    with oauth.browser() as http:
        http.get(s.client + "/callback", params={"id_token": id_token})
        response = http.get(s.client + "/me")
    return response.json().get("email") if response.status_code == 200 else None


def legit_login(s: Scene) -> str | None:
    """Carol logs in to the client web app the normal way."""
    with oauth.browser() as me:
        oauth.sign_in(me, s.server, "carol@example.com", s.carol_password)
        oauth.follow(me, s.client + "/login")
        response = me.get(s.client + "/me")
    return response.json().get("email") if response.status_code == 200 else None


# -- fixtures ----------------------------------------------------------------------------------
def _serve(secure: bool) -> Iterator[tuple[LabServer, Scene]]:
    server = LabServer(get_lab("04-oauth").create_app(secure=secure), name="04-oauth-test")
    server.start()
    try:
        yield server, Scene.of(server.urls, server.state.extras, server.state.users)
    finally:
        server.close()


@pytest.fixture(scope="module")
def vulnerable() -> Iterator[tuple[LabServer, Scene]]:
    yield from _serve(False)


@pytest.fixture(scope="module")
def secure() -> Iterator[tuple[LabServer, Scene]]:
    yield from _serve(True)


@pytest.fixture(params=["vulnerable", "secure"])
def either(request: pytest.FixtureRequest) -> tuple[LabServer, Scene]:
    return request.getfixturevalue(request.param)


def check(server: LabServer, check_id: str, answer: Any) -> Any:
    lab = get_lab("04-oauth")
    return run_check(lab, check_id, target_url=server.url, target_urls=server.urls, answer=answer)


# -- the lab's shape ---------------------------------------------------------------------------
def test_serve_prints_the_client_after_the_main_url(either: tuple[LabServer, Scene]) -> None:
    server, _s = either
    extras = server.state.extras
    assert next(iter(extras)) == "client"
    assert extras["client"] == f"webapp {server.urls['client']}/callback"
    assert set(server.urls) == {"main", "client", "attacker"}
    assert len({server.urls[k] for k in server.urls}) == 3  # three origins


def test_discovery_and_jwks(either: tuple[LabServer, Scene]) -> None:
    server, s = either
    with httpx.Client(trust_env=False) as http:
        meta = http.get(s.server + "/.well-known/openid-configuration").json()
        keys = http.get(s.server + "/jwks.json").json()["keys"]
    assert meta["issuer"] == s.server and meta["jwks_uri"] == s.server + "/jwks.json"
    assert keys[0]["kty"] == "EC" and keys[0]["alg"] == "ES256" and "d" not in keys[0]
    if server.state.secure:
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["response_types_supported"] == ["code"]


def test_legitimate_login_works(either: tuple[LabServer, Scene]) -> None:
    _, s = either
    assert legit_login(s) == "carol@example.com"


def test_the_victim_is_alice(either: tuple[LabServer, Scene]) -> None:
    _, s = either
    oauth.victim_click(s.server, s.client + "/login", fresh=True)
    assert '"alice@example.com"' in victim_me(s)


def test_authorize_asks_for_a_login_and_takes_http_basic(either: tuple[LabServer, Scene]) -> None:
    _server, s = either
    link = oauth.authorize_url(
        s.server,
        response_type="code",
        client_id=s.client_id,
        redirect_uri=s.redirect_uri,
        code_challenge=oauth.s256("v" * 43),
        code_challenge_method="S256",
    )
    with httpx.Client(trust_env=False) as http:
        form = http.get(link)
        basic = http.get(link, auth=("carol@example.com", s.carol_password))
        wrong = http.get(link, auth=("carol@example.com", "nope"))
    assert form.status_code == 200 and "<form" in form.text and "location" not in form.headers
    assert basic.status_code == 302 and "code=" in basic.headers["location"]
    assert wrong.status_code == 200 and "location" not in wrong.headers


def test_bad_client_or_redirect_gets_a_400_page_never_a_redirect(
    either: tuple[LabServer, Scene],
) -> None:
    _, s = either
    with httpx.Client(trust_env=False) as http:
        for client_id, uri in (("nobody", s.redirect_uri), (s.client_id, "http://evil.example/")):
            link = oauth.authorize_url(
                s.server, response_type="code", client_id=client_id, redirect_uri=uri
            )
            response = http.get(link, auth=("carol@example.com", s.carol_password))
            assert response.status_code == 400 and "location" not in response.headers
            assert response.headers["content-type"].startswith("text/html")


# -- every attack: succeeds on the vulnerable pair, confirmed by its check ---------------------
def test_code_interception(vulnerable: tuple[LabServer, Scene]) -> None:
    server, s = vulnerable
    tokens = code_interception(s)
    assert tokens.get("access_token") and tokens.get("id_token")
    assert check(server, "code-interception", tokens["access_token"]).passed


def test_login_csrf(vulnerable: tuple[LabServer, Scene]) -> None:
    server, s = vulnerable
    forged = login_csrf(s)
    assert forged and forged.startswith(s.redirect_uri)
    oauth.victim_click(s.server, forged, fresh=True)
    assert '"carol@example.com"' in victim_me(s)
    assert check(server, "login-csrf", forged).passed


def test_redirect_uri_tricks_all_get_a_code(vulnerable: tuple[LabServer, Scene]) -> None:
    _, s = vulnerable
    with httpx.Client(trust_env=False) as http:
        for name, uri in oauth.redirect_uri_tricks(s.redirect_uri, s.attacker).items():
            link = oauth.authorize_url(
                s.server, response_type="code", client_id=s.client_id, redirect_uri=uri
            )
            response = http.get(link, auth=("carol@example.com", s.carol_password))
            assert response.status_code == 302, name
            assert response.headers["location"].startswith(uri), name


def test_redirect_uri_theft(vulnerable: tuple[LabServer, Scene]) -> None:
    server, s = vulnerable
    uri, stolen = redirect_uri_theft(s)
    assert stolen
    assert redeem_json(s, stolen, redirect_uri=uri).get("access_token")
    assert check(server, "redirect-uri", uri).passed
    at_sign = oauth.redirect_uri_tricks(s.redirect_uri, s.attacker)["@"]
    assert check(server, "redirect-uri", at_sign).passed  # '@' lands on the attacker too


def test_code_reuse(vulnerable: tuple[LabServer, Scene]) -> None:
    server, s = vulnerable
    code, tokens = code_reuse(s)
    assert code and tokens.get("access_token")
    assert check(server, "code-reuse", code).passed


def test_other_client(vulnerable: tuple[LabServer, Scene]) -> None:
    server, s = vulnerable
    tokens = other_client(s)
    assert tokens.get("access_token")
    assert check(server, "other-client", tokens["access_token"]).passed


def test_implicit_leak(vulnerable: tuple[LabServer, Scene]) -> None:
    server, s = vulnerable
    token = implicit_leak(s)
    assert token
    assert check(server, "implicit-leak", token).passed


def test_plain_downgrade(vulnerable: tuple[LabServer, Scene]) -> None:
    server, s = vulnerable
    tokens = plain_downgrade(s)
    assert tokens.get("access_token")
    assert check(server, "plain-downgrade", tokens["access_token"]).passed


def test_nonce_replay(vulnerable: tuple[LabServer, Scene]) -> None:
    server, s = vulnerable
    id_token = code_interception(s)["id_token"]
    assert nonce_replay(s, id_token) == "alice@example.com"
    assert check(server, "nonce-replay", id_token).passed


def test_password_grant_is_on(vulnerable: tuple[LabServer, Scene]) -> None:
    _, s = vulnerable
    with httpx.Client(trust_env=False) as http:
        response = http.post(
            s.server + "/token",
            data={
                "grant_type": "password",
                "username": "carol@example.com",
                "password": s.carol_password,
                "client_id": s.client_id,
            },
        )
    assert response.status_code == 200 and response.json()["access_token"]


# -- ...and fails against the secure pair ------------------------------------------------------
def test_secure_refuses_code_interception(secure: tuple[LabServer, Scene]) -> None:
    _, s = secure
    assert intercept_code(s)  # the code is still stolen...
    assert code_interception(s) == {}  # ...but useless without the verifier


def test_secure_refuses_login_csrf(secure: tuple[LabServer, Scene]) -> None:
    _, s = secure
    forged = login_csrf(s)
    assert forged
    click = oauth.victim_click(s.server, forged, fresh=True)
    assert click["final"]["status"] == 400 and "state" in click["final"]["body"]
    assert victim_me(s) == '{"error":"Not logged in"}'


def test_secure_refuses_every_redirect_uri_trick(secure: tuple[LabServer, Scene]) -> None:
    _, s = secure
    before = len(oauth.captured(s.attacker))
    _uri, stolen = redirect_uri_theft(s)
    assert stolen is None and len(oauth.captured(s.attacker)) == before
    with httpx.Client(trust_env=False) as http:
        for name, trick in oauth.redirect_uri_tricks(s.redirect_uri, s.attacker).items():
            link = oauth.authorize_url(
                s.server,
                response_type="code",
                client_id=s.client_id,
                redirect_uri=trick,
                code_challenge=oauth.s256("v" * 43),
                code_challenge_method="S256",
            )
            response = http.get(link, auth=("carol@example.com", s.carol_password))
            assert response.status_code == 400, name
            assert "location" not in response.headers, name


def test_secure_refuses_code_reuse_and_revokes(secure: tuple[LabServer, Scene]) -> None:
    _, s = secure
    code, tokens = code_reuse(s)
    assert code and tokens == {}


def test_secure_refuses_other_client(secure: tuple[LabServer, Scene]) -> None:
    _, s = secure
    assert other_client(s) == {}


def test_secure_refuses_implicit(secure: tuple[LabServer, Scene]) -> None:
    _, s = secure
    assert implicit_leak(s) is None
    with httpx.Client(trust_env=False) as http:
        link = oauth.authorize_url(
            s.server, response_type="token", client_id=s.client_id, redirect_uri=s.redirect_uri
        )
        response = http.get(link, auth=("carol@example.com", s.carol_password))
    assert "access_token" not in response.headers.get("location", "")
    assert "error=unsupported_response_type" in response.headers["location"]


def test_secure_refuses_plain(secure: tuple[LabServer, Scene]) -> None:
    _, s = secure
    assert plain_downgrade(s) == {}


def test_secure_client_refuses_a_replayed_id_token(
    secure: tuple[LabServer, Scene], vulnerable: tuple[LabServer, Scene]
) -> None:
    _, s = secure
    with oauth.browser() as me:  # an ID token for carol, issued to webapp, by the secure server
        oauth.sign_in(me, s.server, "carol@example.com", s.carol_password)
        verifier = secrets.token_urlsafe(48)
        link = oauth.authorize_url(
            s.server,
            response_type="code",
            client_id=s.client_id,
            redirect_uri=s.redirect_uri,
            scope=SCOPE,
            nonce="n1",
            code_challenge=oauth.s256(verifier),
            code_challenge_method="S256",
        )
        code = oauth.query_params(me.get(link).headers["location"])["code"]
    id_token = redeem_json(s, code, code_verifier=verifier)["id_token"]
    assert nonce_replay(s, id_token) is None


def test_secure_refuses_the_password_grant(secure: tuple[LabServer, Scene]) -> None:
    _, s = secure
    with httpx.Client(trust_env=False) as http:
        response = http.post(
            s.server + "/token",
            data={
                "grant_type": "password",
                "username": "carol@example.com",
                "password": s.carol_password,
                "client_id": s.client_id,
            },
        )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("check_id", ATTACKS)
def test_attack_checks_fail_on_the_secure_pair(
    secure: tuple[LabServer, Scene], check_id: str
) -> None:
    """Whatever the secure pair gives an attacker does not pass an attack check."""
    server, s = secure
    tokens = code_interception(s)
    answers = {
        "code-interception": tokens.get("access_token", ""),
        "login-csrf": login_csrf(s),
        "redirect-uri": redirect_uri_theft(s)[0],
        "code-reuse": code_reuse(s)[0],
        "other-client": other_client(s).get("access_token", ""),
        "implicit-leak": implicit_leak(s) or "",
        "plain-downgrade": plain_downgrade(s).get("access_token", ""),
        "nonce-replay": tokens.get("id_token", "a.b.c"),
    }
    assert not check(server, check_id, answers[check_id]).passed


# -- the whole battery -------------------------------------------------------------------------
def test_verify_battery_passes_on_the_secure_pair(
    vulnerable: tuple[LabServer, Scene], secure: tuple[LabServer, Scene]
) -> None:
    target, patched = vulnerable[0], secure[0]
    result = run_check(
        get_lab("04-oauth"),
        "verify",
        target_url=target.url,
        target_urls=target.urls,
        patched_url=patched.url,
        patched_urls=patched.urls,
    )
    assert result.passed, repr(result)
    for battery in ("PKCE", "redirect URIs", "codes", "flows", "state", "nonce"):
        assert f"{battery}: every attack refused" in repr(result)


#: The rules each battery of verify finds broken on the vulnerable pair (verify_pkce checks
#: an S256 verifier right, so only its format goes unchecked there).
VULNERABLE_BREAKS = {
    "PKCE": {"pkce-required", "s256-only", "verifier-format"},
    "redirect URIs": {"no-prefix-match", "whole-string", "same-origin"},
    "codes": {"single-use", "bound-to-client", "bound-to-redirect-uri", "expires"},
    "flows": {"no-implicit", "no-password-grant"},
    "state": {"unsolicited-refused", "state-matches"},
    "nonce": {"nonce-required", "nonce-matches"},
}


def test_verify_battery_fails_everywhere_on_the_vulnerable_pair(
    vulnerable: tuple[LabServer, Scene],
) -> None:
    from labkit.exercises.labs import oauth as checks

    target = vulnerable[0]
    pair = checks._pair(Target(target.url, dict(target.urls)), random.Random(10))
    for name, battery in checks.BATTERIES.items():
        findings = Findings()
        battery(pair, findings)
        named = {p[1 : p.index("]")] for p in findings.problems if p.startswith("[")}
        assert named == VULNERABLE_BREAKS[name], (name, findings.problems)
    legit = Findings()
    checks._legit_battery(pair, legit)  # the legitimate flow works on the vulnerable pair
    assert not legit.problems and legit.observations, legit.problems
