"""08-secrets: the secure settings and keyring, their insecure twins, and the secret scanner
(on text, on a working tree, and on a real git repository's history)."""

from __future__ import annotations

import inspect
import logging
import re
import secrets
import subprocess
import time
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from labkit.attacks.jwt import decode_unverified, forge
from labkit.attacks.secret_scan import scan_git_history, scan_text, scan_tree
from labkit.patterns import settings as secure
from labkit.patterns.apikeys import generate_api_key
from labkit.vulnerable import settings as weak


def good_env(**changes: str) -> dict[str, str]:
    env = {
        "APP_ENV": "production",
        "JWT_SECRET": secrets.token_urlsafe(32),
        "EXPORT_API_KEY": generate_api_key(),
        "DATABASE_URL": f"postgresql://notes:{secrets.token_urlsafe(12)}@db/notes",
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


# -- settings ------------------------------------------------------------------------------
def test_good_settings_load_and_never_print(caplog: pytest.LogCaptureFixture) -> None:
    env = good_env()
    settings = secure.load_settings(env)
    assert settings.jwt_secret.get_secret_value() == env["JWT_SECRET"]
    assert settings.debug is False  # secure default
    logging.getLogger("labkit.test").warning("settings %s %r", settings, settings)
    shown = [repr(settings), str(settings), f"{settings}", f"{settings.jwt_secret}",
             settings.model_dump_json(), caplog.text, str(vars(settings))]  # fmt: skip
    for text in shown:
        for name in ("JWT_SECRET", "EXPORT_API_KEY", "DATABASE_URL"):
            assert env[name] not in text


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"JWT_SECRET": None}, "JWT_SECRET is missing"),
        ({"JWT_SECRET": ""}, "JWT_SECRET is empty"),
        ({"JWT_SECRET": "changeme"}, "JWT_SECRET is 8 characters"),
        ({"JWT_SECRET": "changeme" * 4}, "JWT_SECRET contains a placeholder"),
        ({"JWT_SECRET": "ab" * 20}, "JWT_SECRET is a repetition"),
        ({"EXPORT_API_KEY": None}, "EXPORT_API_KEY is missing"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a URL"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
    ],
)
def test_bad_settings_fail_fast_naming_the_variable(changes: dict, named: str) -> None:
    env = good_env(**changes)
    with pytest.raises(secure.SettingsError, match=named) as caught:
        secure.load_settings(env)
    for name in ("JWT_SECRET", "EXPORT_API_KEY", "DATABASE_URL"):
        if len(env.get(name, "")) >= 8:
            assert env[name] not in str(caught.value)


def test_a_rejected_secret_is_never_repeated_in_the_error() -> None:
    short = secrets.token_urlsafe(15)
    with pytest.raises(secure.SettingsError) as caught:
        secure.load_settings(good_env(JWT_SECRET=short))
    assert short not in str(caught.value)
    assert "20 characters" in str(caught.value)


def test_debug_is_allowed_in_development() -> None:
    settings = secure.load_settings(good_env(APP_ENV="development", DEBUG="true"))
    assert settings.debug is True


def test_env_file_is_read_and_real_environment_wins(tmp_path: Path) -> None:
    file_env = good_env()
    real_secret = secrets.token_urlsafe(32)
    dotenv = tmp_path / ".env"
    lines = [
        f"export {k}='{v}'" if k == "DATABASE_URL" else f"{k}={v}" for k, v in file_env.items()
    ]
    dotenv.write_text("# local development\n" + "\n".join(lines) + "\nIGNORED LINE\n")
    assert secure.read_env_file(dotenv)["DATABASE_URL"] == file_env["DATABASE_URL"]
    settings = secure.load_settings({"JWT_SECRET": real_secret}, env_file=dotenv)
    assert settings.jwt_secret.get_secret_value() == real_secret
    assert settings.export_api_key.get_secret_value() == file_env["EXPORT_API_KEY"]
    assert secure.read_env_file(tmp_path / "missing.env") == {}


def test_secret_problem_and_entropy() -> None:
    assert secure.secret_problem(secrets.token_urlsafe(32)) is None
    assert secure.secret_problem(secrets.token_hex(32)) is None
    assert secure.secret_problem("a" * 64) is not None
    assert secure.shannon_entropy("") == 0.0
    assert secure.shannon_entropy("abcd") == pytest.approx(2.0)


def _flat(text: str | None) -> str:
    return " ".join((text or "").split())


def test_vulnerable_module_is_labelled() -> None:
    from labkit.vulnerable import BANNER

    assert _flat(weak.__doc__).startswith(BANNER)
    for name in weak.__all__:
        item = getattr(weak, name)
        if not callable(item):
            continue
        match = re.search(
            r"Flaw: .+?\. Exploited in: 08-secrets \(.+?\)\. "
            r"Secure twin: labkit\.patterns\.settings\.(\w+)\.",
            _flat(inspect.getdoc(item)),
        )
        assert match, name
        assert hasattr(secure, match[1]), name


def test_vulnerable_settings_accept_anything_and_print_everything() -> None:
    hardcoded = {"EXPORT_API_KEY": generate_api_key()}
    settings = weak.load_settings({}, hardcoded)
    assert settings.jwt_secret == weak.FALLBACK_JWT_SECRET and settings.debug is True
    env = good_env()
    loaded = weak.load_settings(env, hardcoded)
    assert env["JWT_SECRET"] in repr(loaded)
    assert loaded.export_api_key == hardcoded["EXPORT_API_KEY"]  # the code's key, not env's
    try:
        raise ValueError("boom")
    except ValueError as exc:
        page = weak.debug_error_page(exc, loaded, env, "/x")
    assert env["JWT_SECRET"] in page and "Traceback" in page and env["DATABASE_URL"] in page


# -- keyring -------------------------------------------------------------------------------
def claims(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "7", "role": "viewer", "iat": now, "exp": now + 600, **extra}


def test_keyring_five_steps_keep_sessions_then_retire() -> None:
    ring = secure.KeyRing(SecretStr(secrets.token_urlsafe(32)))
    old = secure.sign_token(claims(), ring)
    first = ring.active_kid
    assert decode_unverified(old)[0] == {"alg": "HS256", "kid": first, "typ": "at+jwt"}
    new = ring.add_next()
    assert ring.keys[new].status == "next" and ring.active_kid == first
    assert decode_unverified(secure.sign_token(claims(), ring))[0]["kid"] == first
    assert ring.promote() == new
    assert ring.keys[first].status == "previous"
    assert secure.verify_token(old, ring) is not None  # nobody logged out
    fresh = secure.sign_token(claims(), ring)
    assert decode_unverified(fresh)[0]["kid"] == new
    ring.record_use(first)
    assert {k["kid"]: k["uses"] for k in ring.status()}[first] == 1
    assert ring.retire() == [first]
    assert secure.verify_token(old, ring) is None
    assert (secure.verify_token(fresh, ring) or {}).get("sub") == "7"
    raw = ring.keys[new].secret.get_secret_value()
    assert raw.hex() not in repr(ring.keys) and str(raw) not in repr(ring.keys)
    with pytest.raises(secure.SettingsError):
        ring.promote()  # nothing new to promote


def test_verify_token_refuses_forgeries() -> None:
    ring = secure.KeyRing(secrets.token_bytes(32))
    good = secure.sign_token(claims(), ring)
    header, body = decode_unverified(good)
    other = secrets.token_bytes(32)
    forged = {
        "wrong key": forge(header, body, other),
        "unknown kid": forge({**header, "kid": "k-nope"}, body, other),
        "no kid": jwt.encode(body, ring.keys[ring.active_kid].secret.get_secret_value(), "HS256"),
        "alg none": forge({**header, "alg": "none"}, body),
        "expired": secure.sign_token(claims(exp=1, iat=0), ring),
        "no exp": forge(header, {k: v for k, v in body.items() if k != "exp"},
                        ring.keys[ring.active_kid].secret.get_secret_value()),
        "garbage": "not.a.token",
        "kid not a string": forge({**header, "kid": ["x"]}, body, other),
    }  # fmt: skip
    for label, token in forged.items():
        assert secure.verify_token(token, ring) is None, label
    assert secure.verify_token(good, ring) is not None


def test_keyring_refuses_short_keys() -> None:
    with pytest.raises(secure.SettingsError):
        secure.KeyRing("too-short")


def test_vulnerable_rotation_in_place_logs_everyone_out() -> None:
    ring = secure.KeyRing(secrets.token_bytes(32))
    token = weak.sign_token(claims(), ring)
    assert "kid" not in decode_unverified(token)[0]
    assert weak.verify_token(token, ring) is not None
    weak.rotate_in_place(ring)
    assert weak.verify_token(token, ring) is None
    assert [k["status"] for k in ring.status()] == ["retired", "active"]


def test_vulnerable_code_cannot_overlap_even_with_five_steps() -> None:
    ring = secure.KeyRing(secrets.token_bytes(32))
    token = weak.sign_token(claims(), ring)
    ring.add_next()
    assert weak.verify_token(token, ring) is not None
    ring.promote()
    assert weak.verify_token(token, ring) is None  # verifies with "the" key only


# -- scanner -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "rule"),
    [
        (f'JWT_SECRET = "{secrets.token_urlsafe(32)}"', "secret assignment"),
        (f"JWT_SECRET={secrets.token_urlsafe(32)}", "secret assignment"),
        ('secret = os.environ.get("JWT_SECRET", "dev-secret-change-me")', "hard-coded fallback"),
        ('jwt_secret: SecretStr = SecretStr("hunter2hunter2")', "secret assignment"),
        ("DATABASE_URL=postgresql://notes:Xk29sLq8zz@db:5432/notes", "password in URL"),
        (f'KEY = "{generate_api_key()}"', "labkit API key"),
        ("aws = 'AKIAIOSFODNN7EXAMPLE'", "AWS access key id"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
        (f'digest = "{secrets.token_hex(32)}"', "high-entropy string"),
        (f"SOMETHING={secrets.token_urlsafe(32)}", "high-entropy string"),
    ],
    # fixed ids: the random values would differ between xdist workers
    ids=[
        "assignment",
        "env-file",
        "fallback",
        "secretstr",
        "url-password",
        "labkit-key",
        "aws",
        "private-key",
        "hex-entropy",
        "base64-entropy",
    ],
)
def test_scanner_finds(line: str, rule: str) -> None:
    assert [f.rule for f in scan_text(line)] == [rule]


@pytest.mark.parametrize(
    "line",
    [
        'JWT_SECRET = os.environ["JWT_SECRET"]',
        'secret = os.environ.get("JWT_SECRET", "")',
        "JWT_SECRET=changeme",
        "JWT_SECRET=",
        "JWT_SECRET=<32 random characters>",
        'url = "postgresql://notes:${DB_PASSWORD}@db/notes"',
        'return {"error": "Invalid email or password"}',
        "key = keyring.keys[kid].secret.get_secret_value()",
        'TOKEN_TYPE = "at+jwt"',
        'load_settings({"JWT_SECRET": "changeme"})',
        'print("password:", masked)',
    ],
)
def test_scanner_ignores(line: str) -> None:
    assert scan_text(line) == []


def test_finding_is_reported_redacted() -> None:
    secret = secrets.token_urlsafe(32)
    (finding,) = scan_text(f'\nJWT_SECRET = "{secret}"', "app/config.py")
    assert finding.line == 2 and finding.secret == secret
    assert secret not in str(finding) and str(finding).startswith("app/config.py:2")


def _git(repo: Path, *args: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}  # fmt: skip
    subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=repo, env=env, check=True,
                   capture_output=True)  # fmt: skip


def test_git_history_keeps_a_deleted_secret(tmp_path: Path) -> None:
    secret = secrets.token_urlsafe(32)
    _git(tmp_path, "init", "-q")
    (tmp_path / "app.py").write_text("import os\n\nDEBUG = False\n")
    (tmp_path / ".env").write_text(f"APP_ENV=production\nJWT_SECRET={secret}\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "add config")
    (tmp_path / ".env").unlink()
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "remove .env")
    assert scan_tree(tmp_path) == []
    (found,) = scan_git_history(tmp_path)
    assert (found.secret, found.path, found.line) == (secret, ".env", 2)
    assert len(found.commit) == 40
