"""03-sessions: every attack of the lab succeeds against the vulnerable app and is refused by
``create_app(secure=True)``; legitimate use works on both. Same tests on the SQLite and the
Redis session store; the cookie attacks run in a real Chromium."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from labkit.attacks import sessions as attack
from labkit.browser import run_in_browser
from labkit.sandbox.apps.base import LabState, lab_state
from labkit.sandbox.apps.sessions import REDIS_ENV, create_app
from labkit.sandbox.server import Sandbox

STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@dataclass
class Running:
    box: Sandbox
    state: LabState

    @property
    def client(self) -> httpx.Client:
        self.box.client.cookies.clear()  # every call names its cookie itself
        return self.box.client

    def login(self, who: str, planted: tuple[str, str] | None = None) -> httpx.Response:
        user = self.state.users[who]
        headers = attack.cookie_header(*planted) if planted else {}
        return self.client.post(
            "/api/auth/login",
            json={"email": user.email, "password": user.password},
            headers=headers,
        )

    def session(self, who: str) -> tuple[str, str]:
        cookie = attack.set_cookies(self.login(who))[0]
        return cookie.name, cookie.value

    def me(self, pair: tuple[str, str]) -> dict[str, Any] | None:
        return attack.whoami(self.client, *pair)


@pytest.fixture(scope="module", params=STORES)
def apps(request: pytest.FixtureRequest) -> Iterator[dict[str, Running]]:
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "redis":
            patch.setenv(REDIS_ENV, request.getfixturevalue("redis_url"))
        else:
            patch.delenv(REDIS_ENV, raising=False)
        running = {}
        for mode in ("vulnerable", "secure"):
            app = create_app(secure=mode == "secure")
            running[mode] = Running(Sandbox(app, name=mode).start(), lab_state(app))
        try:
            yield running
        finally:
            for run in running.values():
                run.box.stop()
                run.state.close()


# -- the attacks: each returns True when it worked --------------------------------------
def fixation_with_server_issued_id(run: Running) -> bool:
    anonymous = attack.set_cookies(run.client.get("/"))[0]
    pair = (anonymous.name, anonymous.value)
    assert run.login("alice", planted=pair).status_code == 200
    return (run.me(pair) or {}).get("email") == "alice@example.com"


def fixation_with_made_up_id(run: Running) -> bool:
    name = attack.set_cookies(run.client.get("/"))[0].name
    pair = (name, f"attacker-{secrets.token_hex(6)}")
    assert run.login("alice", planted=pair).status_code == 200
    return (run.me(pair) or {}).get("email") == "alice@example.com"


def fixation_at_privilege_change(run: Running) -> bool:
    pair = run.session("carol")
    response = run.client.post(
        "/api/auth/elevate",
        json={"password": run.state.users["carol"].password},
        headers=attack.cookie_header(*pair),
    )
    assert response.status_code == 200
    return bool((run.me(pair) or {}).get("elevated"))


def predict_neighbour_ids(run: Running) -> bool:
    name, mine = run.session("carol")
    if not mine.isdigit():
        return False
    found = attack.enumerate_sessions(run.client, name, int(mine), width=25)
    return "alice@example.com" in {a["email"] for a in found.values()}


def replay_after_logout(run: Running) -> bool:
    pair = run.session("bob")
    logout = run.client.post("/api/auth/logout", headers=attack.cookie_header(*pair))
    assert logout.status_code == 200
    assert "max-age=0" in logout.headers["set-cookie"].lower()  # the browser forgets it...
    return run.me(pair) is not None  # ...the server does not


def idle_for_a_day(run: Running) -> bool:
    pair = run.session("carol")
    run.client.post("/api/_lab/clock", json={"advance": 24 * 3600}).raise_for_status()
    return run.me(pair) is not None


def busy_for_a_day(run: Running) -> bool:
    pair = run.session("carol")
    for _ in range(24 * 6):  # a request every 10 minutes
        run.client.post("/api/_lab/clock", json={"advance": 600}).raise_for_status()
        if run.me(pair) is None:
            return False
    return True


def cookie_readable_by_script(run: Running) -> bool:
    return not attack.set_cookies(run.login("carol"))[0].http_only


def cookie_sent_cross_site(run: Running) -> bool:
    return attack.set_cookies(run.login("carol"))[0].same_site in (None, "None")


ATTACKS: dict[str, Callable[[Running], bool]] = {
    "fixation (server-issued id)": fixation_with_server_issued_id,
    "fixation (made-up id)": fixation_with_made_up_id,
    "fixation (privilege change)": fixation_at_privilege_change,
    "predictable ids": predict_neighbour_ids,
    "replay after logout": replay_after_logout,
    "no idle timeout": idle_for_a_day,
    "no absolute timeout": busy_for_a_day,
    "no HttpOnly": cookie_readable_by_script,
    "no SameSite": cookie_sent_cross_site,
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_works_on_the_vulnerable_app(apps: dict[str, Running], name: str) -> None:
    assert ATTACKS[name](apps["vulnerable"]), f"{name} should work on the vulnerable app"


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_refused_by_the_secure_app(apps: dict[str, Running], name: str) -> None:
    assert not ATTACKS[name](apps["secure"]), f"{name} should fail on the secure app"


def test_secure_ids_are_strong_and_vulnerable_ids_count_up(apps: dict[str, Running]) -> None:
    def sample(run: Running) -> attack.IdAnalysis:
        return attack.analyse_ids(
            [attack.set_cookies(run.client.get("/"))[0].value for _ in range(150)]
        )

    weak_ids, strong_ids = sample(apps["vulnerable"]), sample(apps["secure"])
    assert weak_ids.sequential and not weak_ids.strong
    assert strong_ids.strong and strong_ids.bits >= 250, str(strong_ids)


def test_secure_cookie_has_every_flag(apps: dict[str, Running]) -> None:
    cookie = attack.set_cookies(apps["secure"].login("alice"))[0]
    assert cookie.name == "__Host-session"
    assert (cookie.http_only, cookie.secure, cookie.same_site, cookie.path, cookie.domain) == (
        True,
        True,
        "Strict",
        "/",
        None,
    )


def test_secure_store_holds_no_usable_id(apps: dict[str, Running]) -> None:
    run = apps["secure"]
    name, session_id = run.session("alice")
    dump = run.client.get("/api/_lab/sessions").json()["sessions"]
    keys = [row["idSha256"] for row in dump]
    assert session_id not in keys and all(len(k) == 64 for k in keys)
    assert all(run.me((name, key)) is None for key in keys)  # a leaked key opens nothing


# -- legitimate use ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["vulnerable", "secure"])
def test_legitimate_flow(apps: dict[str, Running], mode: str) -> None:
    run = apps[mode]
    client = run.client
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/me").json() == {"error": "Not authenticated"}
    bad = client.post("/api/auth/login", json={"email": "alice@example.com", "password": "no"})
    assert (bad.status_code, bad.json()) == (401, {"error": "Invalid email or password"})
    response = run.login("alice")
    assert response.json() == {"email": "alice@example.com", "role": "admin"}
    pair = (attack.set_cookies(response)[0].name, attack.set_cookies(response)[0].value)
    headers = attack.cookie_header(*pair)
    assert run.me(pair) == {"email": "alice@example.com", "role": "admin", "elevated": False}
    sent = client.post("/api/transfer", json={"to": "bob", "amount": 25}, headers=headers)
    assert sent.status_code == 200 and sent.json()["from"] == "alice@example.com"
    form = client.post("/api/transfer", data={"to": "bob", "amount": "5"}, headers=headers)
    assert form.status_code == 200  # an HTML form works too
    assert (
        client.post("/api/transfer", json={"to": "bob", "amount": -1}, headers=headers).status_code
        == 400
    )
    big = client.post("/api/transfer", json={"to": "bob", "amount": 2000}, headers=headers)
    assert big.status_code == 403
    elevate = client.post(
        "/api/auth/elevate", json={"password": run.state.users["alice"].password}, headers=headers
    )
    assert elevate.status_code == 200
    cookie = attack.set_cookies(elevate)[0]
    headers = attack.cookie_header(cookie.name, cookie.value)
    assert (
        client.post(
            "/api/transfer", json={"to": "bob", "amount": 2000}, headers=headers
        ).status_code
        == 200
    )
    client.cookies.clear()
    assert client.post("/api/transfer", json={"to": "bob", "amount": 1}).status_code == 401
    logout = client.post("/api/auth/logout", headers=headers)
    assert logout.status_code == 200 and logout.json() == {"ok": True}


# -- the cookie attacks in a real browser ------------------------------------------------
@pytest.fixture(scope="module")
def evil() -> Iterator[Sandbox]:
    with Sandbox(attack.attacker_site(), name="evil") as box:
        yield box


@pytest.mark.browser
@pytest.mark.parametrize("mode", ["vulnerable", "secure"])
def test_browser_attacks(
    apps: dict[str, Running], evil: Sandbox, mode: str, chromium_path: str
) -> None:
    run = apps[mode]
    alice = run.state.users["alice"]
    victim = attack.other_site(run.box.url)
    assert victim.startswith("http://localhost:")
    recipient = f"mallory-{mode}"
    page = attack.csrf_url(evil.url, victim + "/api/transfer", to=recipient, amount=300)
    before = len(evil.client.get("/loot").json())

    def both(browser: Any) -> tuple[Any, Any]:
        payload = attack.steal_cookie_payload(evil.url)
        return (
            attack.browser_xss(browser, victim, alice.email, alice.password, payload),
            attack.browser_csrf(browser, victim, alice.email, alice.password, page),
        )

    stolen, forged = run_in_browser(both)
    loot = evil.client.get("/loot").json()[before:]
    transfers = [t for t in run.client.get("/api/_lab/transfers").json() if t["to"] == recipient]
    assert stolen.signed_in and forged.signed_in  # the victim's own use works in both
    opened = [p for p in attack.loot_cookies(loot).items() if run.me(p) is not None]
    if mode == "vulnerable":
        assert stolen.document_cookie.startswith("sessionid=")
        assert opened and run.me(opened[0])["email"] == alice.email
        assert forged.landing_status == 200
        assert transfers and transfers[0]["fetchSite"] == "cross-site"
    else:
        assert stolen.document_cookie == "" and not opened
        assert forged.landing_status in (401, 403) and not transfers


# -- labkit serve, attacked from outside -------------------------------------------------
@pytest.mark.parametrize("secure", [False, True], ids=["vulnerable", "secure"])
def test_labkit_serve_from_outside(secure: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != REDIS_ENV}
    command = [sys.executable, "-m", "labkit", "serve", "03-sessions"] + (
        ["--secure"] if secure else []
    )
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        url = re.search(r"at (http://\S+)", lines[0]).group(1)  # type: ignore[union-attr]
        alice = next(line.split() for line in lines if line.startswith("account alice"))
        with httpx.Client(base_url=url, trust_env=False) as client:
            name = attack.set_cookies(client.get("/"))[0].name
            pair = (name, "planted-by-curl")
            client.cookies.clear()
            client.post(
                "/api/auth/login",
                json={"email": alice[1], "password": alice[3]},
                headers=attack.cookie_header(*pair),
            ).raise_for_status()
            client.cookies.clear()
            assert (attack.whoami(client, *pair) is None) is secure
    finally:
        proc.terminate()
        proc.wait(timeout=15)
