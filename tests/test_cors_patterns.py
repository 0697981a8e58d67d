"""10-cors: the secure pattern, the insecure twin and the Fetch CORS check, as plain functions."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from labkit.attacks import cors as attacks
from labkit.patterns import cors as secure
from labkit.sandbox.server import Sandbox
from labkit.vulnerable import cors as weak

BYPASS = {
    "null": "null",
    "suffix": "https://evilapp.example.com",
    "prefix": "https://app.example.com.evil.net",
    "regex": "https://appxexample.com",
    "http": "http://app.example.com",
}


@pytest.mark.parametrize(
    "origin",
    ["*", "null", "https://app.example.com/", "https://app.example.com/path",
     "http://app.example.com", "HTTPS://APP.EXAMPLE.COM", "app.example.com", ""],
)  # fmt: skip
def test_serialized_origin_refuses_what_cannot_be_allowlisted(origin: str) -> None:
    with pytest.raises(ValueError):
        secure.serialized_origin(origin)


@pytest.mark.parametrize(
    "origin", ["https://app.example.com", "https://app.example.com:8443", "http://127.0.0.1:8000"]
)
def test_serialized_origin_accepts_real_origins(origin: str) -> None:
    assert secure.serialized_origin(origin) == origin


def test_cors_settings_is_the_seed_pattern() -> None:
    settings = secure.cors_settings([secure.APP_ORIGIN])
    assert settings == {
        "allow_origins": ["https://app.example.com"],
        "allow_credentials": True,
        "allow_methods": ["GET", "PUT"],
        "allow_headers": ["Content-Type", "Authorization"],
        "max_age": 600,
    }
    for bad in ({"methods": ["*"]}, {"headers": ["*"]}, {"max_age": 10**7}):
        with pytest.raises(ValueError):
            secure.cors_settings([secure.APP_ORIGIN], **bad)
    with pytest.raises(ValueError):
        secure.cors_settings([])


def test_is_allowed_origin_compares_exactly() -> None:
    allowed = [secure.APP_ORIGIN]
    assert secure.is_allowed_origin("https://app.example.com", allowed)
    for origin in [*BYPASS.values(), None, "https://app.example.co"]:
        assert not secure.is_allowed_origin(origin, allowed)


def test_install_cors_refuses_an_untrusted_origin_but_still_answers_200() -> None:
    app = FastAPI()
    secure.install_cors(app, [secure.APP_ORIGIN])

    @app.get("/x")
    def x() -> dict[str, bool]:
        return {"ok": True}

    with Sandbox(app) as box:
        refused = box.client.get("/x", headers={"Origin": "https://evil.example.net"})
        assert refused.status_code == 200  # the browser, not the server, withholds the body
        assert "access-control-allow-origin" not in refused.headers
        assert "Origin" in refused.headers["vary"]
        allowed = box.client.get("/x", headers={"Origin": secure.APP_ORIGIN})
        assert allowed.headers["access-control-allow-origin"] == secure.APP_ORIGIN
        assert allowed.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize("gateway", sorted(BYPASS))
def test_each_handwritten_check_lets_its_bypass_through(gateway: str) -> None:
    check = weak.HANDWRITTEN_CHECKS[gateway]
    assert check("https://app.example.com") or gateway == "regex"
    assert check(BYPASS[gateway])
    assert not check("https://evil.example.net")
    assert not secure.is_allowed_origin(BYPASS[gateway], [secure.APP_ORIGIN])


def test_regex_gateway_accepts_the_real_origin_too() -> None:
    assert weak.regex_unescaped("https://app.example.com")


def test_vulnerable_docstrings_name_flaw_lab_and_twin() -> None:
    import labkit.vulnerable

    assert (weak.__doc__ or "").startswith(labkit.vulnerable.BANNER[:40])
    for fn in (*weak.HANDWRITTEN_CHECKS.values(), weak.reflect_any_origin_settings):
        doc = fn.__doc__ or ""
        assert "Flaw:" in doc and "Exploited in: 10-cors" in doc and "Secure twin:" in doc


def test_reflect_any_origin_settings_reflect_null_with_credentials() -> None:
    from starlette.middleware.cors import CORSMiddleware

    app = FastAPI()
    app.add_middleware(CORSMiddleware, **weak.reflect_any_origin_settings())

    @app.get("/x")
    def x() -> dict[str, bool]:
        return {"ok": True}

    with Sandbox(app) as box:
        answer = box.client.get("/x", headers={"Origin": "null"})
    assert answer.headers["access-control-allow-origin"] == "null"
    assert answer.headers["access-control-allow-credentials"] == "true"


ACAO, ACAC = "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"


@pytest.mark.parametrize(
    ("headers", "credentials", "readable"),
    [
        ({}, False, False),
        ({ACAO: "*"}, False, True),
        ({ACAO: "*", ACAC: "true"}, True, False),  # "*" never with credentials
        ({ACAO: "https://a.test"}, False, True),
        ({ACAO: "https://a.test"}, True, False),  # credentials need ACAC: true
        ({ACAO: "https://a.test", ACAC: "true"}, True, True),
        ({ACAO: "https://a.test", ACAC: "True"}, True, False),  # byte for byte
        ({ACAO: "https://a.test/"}, False, False),
        ({ACAO: "https://b.test"}, False, False),
    ],
)
def test_cors_check_follows_the_fetch_standard(
    headers: dict[str, str], credentials: bool, readable: bool
) -> None:
    assert attacks.cors_check(headers, "https://a.test", credentials=credentials) is readable


def test_origin_of() -> None:
    assert attacks.origin_of("http://127.0.0.1:8000/a/b?c") == "http://127.0.0.1:8000"
