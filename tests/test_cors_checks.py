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


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory, "10-cors") as opened:
        yield opened


def victim(lab: Lab) -> tuple[str, str]:
    return lab.users["alice"].email, lab.users["alice"].password


# -- the learner's possible fixes ----------------------------------------------------------
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


def star_with_credentials(trusted: list[str]) -> dict[str, Any]:
    return {**reference(trusted), "allow_origins": ["*"]}


def suffix_regex(trusted: list[str]) -> dict[str, Any]:
    """The endswith("example.com") idea, as Starlette's regex option."""
    return {**reference(trusted), "allow_origin_regex": r"https://.*example\.com"}


def unescaped_regex(trusted: list[str]) -> dict[str, Any]:
    return {**reference(trusted), "allow_origin_regex": r"https://app.example.com"}


def trusts_null(trusted: list[str]) -> dict[str, Any]:
    return {**reference(trusted), "allow_origins": [*trusted, "null"]}


def trusts_http(trusted: list[str]) -> dict[str, Any]:
    return {**reference(trusted), "allow_origins": [*trusted, "http://app.example.com"]}


def no_credentials(trusted: list[str]) -> dict[str, Any]:
    return {**reference(trusted), "allow_credentials": False}


def every_method(trusted: list[str]) -> dict[str, Any]:
    return {**reference(trusted), "allow_methods": ["*"]}


def every_header(trusted: list[str]) -> dict[str, Any]:
    return {**reference(trusted), "allow_headers": ["*"]}


def year_long_cache(trusted: list[str]) -> dict[str, Any]:
    return {**reference(trusted), "max_age": 31536000}


def starlette_defaults(trusted: list[str]) -> dict[str, Any]:
    return {"allow_origins": list(trusted), "allow_credentials": True}  # GET only: no PUT


def check(lab: Lab, check_id: str, settings: Settings) -> CheckResult:
    return lab.check(check_id, cors_settings=settings)


# -- attack checks -------------------------------------------------------------------------
@pytest.mark.browser
def test_steal_account(lab: Lab, chromium_path: str) -> None:
    reads = cors.browser_reads(lab.urls["main"], lab.urls["attacker"], victim=victim(lab))
    assert reads[0].stolen
    assert lab.check("steal-account", reads[0].body).passed
    assert not lab.check("steal-account", None).passed
    # a plausible wrong answer: the attacker's own account, not the victim's
    bob = lab.client.post(
        "/api/auth/login",
        json={"email": lab.users["bob"].email, "password": lab.users["bob"].password},
    ).json()["accessToken"]
    own = lab.client.get("/api/account", headers={"Authorization": f"Bearer {bob}"}).json()
    result = lab.check("steal-account", own)
    assert not result.passed and "not the victim's account" in repr(result)
    forged = {**reads[0].body, "recoveryCode": "00-00"}
    assert not lab.check("steal-account", forged).passed


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


@pytest.mark.parametrize("gateway", sorted(GATEWAY_ANSWERS))
def test_gateway_checks(lab: Lab, gateway: str) -> None:
    right, wrongs = GATEWAY_ANSWERS[gateway]
    check_id = f"{gateway}-origin"
    assert lab.check(check_id, right).passed
    assert not lab.check(check_id, None).passed  # the stub
    assert not lab.check(check_id, right + "/").passed  # not an origin
    for wrong in wrongs:
        assert not lab.check(check_id, wrong).passed, wrong


# -- fix checks ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "wrong", [star_with_credentials, suffix_regex, unescaped_regex, trusts_null, trusts_http,
              no_credentials],
)  # fmt: skip
def test_origin_battery_fails_on_wrong_fixes(lab: Lab, wrong: Settings) -> None:
    result = check(lab, "origin-battery", wrong)
    assert not result.passed, wrong.__name__


def test_origin_battery(lab: Lab) -> None:
    stubbed = check(lab, "origin-battery", stub)
    assert not stubbed.passed and "NotImplementedError" in repr(stubbed)
    passed = check(lab, "origin-battery", reference)
    assert passed.passed, passed


@pytest.mark.parametrize("wrong", [every_method, every_header, year_long_cache, starlette_defaults])
def test_preflight_fails_on_wrong_fixes(lab: Lab, wrong: Settings) -> None:
    assert not check(lab, "preflight", wrong).passed, wrong.__name__


def test_preflight(lab: Lab) -> None:
    assert not check(lab, "preflight", stub).passed
    passed = check(lab, "preflight", reference)
    assert passed.passed, passed


@pytest.mark.browser
def test_browser_exploit(lab: Lab, chromium_path: str) -> None:
    assert not check(lab, "browser-exploit", stub).passed
    star = check(lab, "browser-exploit", star_with_credentials)
    assert not star.passed and "could still read" in repr(star)
    null = check(lab, "browser-exploit", trusts_null)
    assert not null.passed and "a page on null" in repr(null)
    broken = check(lab, "browser-exploit", no_credentials)
    assert not broken.passed and "can no longer use the API" in repr(broken)
    passed = check(lab, "browser-exploit", reference)
    assert passed.passed and "Chromium" in repr(passed), passed


@pytest.mark.browser
def test_verify(lab: Lab, chromium_path: str) -> None:
    assert not check(lab, "verify", stub).passed
    for wrong in (unescaped_regex, starlette_defaults):
        assert not check(lab, "verify", wrong).passed, wrong.__name__
    passed = check(lab, "verify", reference)
    assert passed.passed, passed


def test_a_fix_that_returns_the_wrong_type_is_feedback(lab: Lab) -> None:
    result = lab.check("origin-battery", cors_settings=lambda trusted: ["*"])
    assert not result.passed and "expected dict" in repr(result)
