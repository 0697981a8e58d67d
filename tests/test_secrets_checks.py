"""08-secrets: every check fails on the stub and on a plausible wrong answer or fix, and
passes on the reference — judged through the real lab, over HTTP."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from labkit.attacks.jwt import decode_unverified, forge
from labkit.attacks.secret_scan import scan_git_history, scan_tree
from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.exercises.registry import get_lab
from labkit.patterns import settings as secure

pytestmark = pytest.mark.usefixtures("not_strict")  # failing on purpose is the point


def open_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_HOME", str(tmp_path_factory.mktemp("labkit-home")))
        opened = Lab(get_lab("08-secrets"))  # not open_lab(): nobody else can replace it
        try:
            yield opened
        finally:
            opened.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from open_lab(tmp_path_factory)


@pytest.fixture
def fresh_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab of its own, for checks whose attack changes the target for good."""
    yield from open_lab(tmp_path_factory)


def mentions(result: CheckResult, text: str) -> bool:
    return text in repr(result)


def not_written(*args: Any) -> Any:
    raise NotImplementedError


def token_for(lab: Lab, who: str) -> str:
    user = lab.users[who]
    response = lab.client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    return str(response.json()["accessToken"])


def repo_of(lab: Lab) -> Path:
    return Path(lab.client.get("/api/_lab/repo").json()["path"])


def history_secret(lab: Lab) -> str:
    findings = scan_git_history(repo_of(lab))
    return next(f.secret for f in findings if f.path == ".env" and f.rule == "secret assignment")


def admin_token(lab: Lab, secret: str) -> str:
    header, claims = decode_unverified(token_for(lab, "carol"))
    return forge(header, {**claims, "sub": "1", "role": "admin"}, secret.encode())


# -- the learner's possible fixes --------------------------------------------------------
def fields(env: dict[str, str]) -> dict[str, str]:
    return {field: env[name] for name, field in secure.ENV_NAMES.items() if name in env}


def loader_plain_strings(env: dict[str, str]) -> Any:
    """Validates like the reference, then hands out plain strings (str(settings) leaks)."""
    good = secure.load_settings(env)
    return SimpleNamespace(
        app_env=good.app_env,
        debug=good.debug,
        **{name: getattr(good, name).get_secret_value()
           for name in ("jwt_secret", "export_api_key", "database_url")},
    )  # fmt: skip


@dataclass
class ReprOnly:
    """A settings class that hides itself in repr/str — while its fields are plain str."""

    app_env: str
    debug: bool
    jwt_secret: str
    export_api_key: str
    database_url: str

    def __repr__(self) -> str:
        return "Settings(<hidden>)"

    __str__ = __repr__


def loader_repr_only(env: dict[str, str]) -> Any:
    good = loader_plain_strings(env)
    return ReprOnly(**vars(good))


REFERENCE: dict[str, Callable[..., Any]] = {
    "load_settings": secure.load_settings,
    "sign_token": secure.sign_token,
    "verify_token": secure.verify_token,
}
ROTATION = {k: REFERENCE[k] for k in ("sign_token", "verify_token")}


# -- attack checks -----------------------------------------------------------------------
ATTACKS = ("hardcoded-key", "git-history", "debug-page", "rotate-in-place")


@pytest.mark.parametrize("check_id", ATTACKS)
def test_attack_checks_fail_on_the_stub(lab: Lab, check_id: str) -> None:
    result = lab.check(check_id, None)
    assert not result.passed and mentions(result, "expected")


def test_hardcoded_key(lab: Lab) -> None:
    vault_key = lab.client.get("/api/_lab/vault").json()["env"]["EXPORT_API_KEY"]
    assert not lab.check("hardcoded-key", vault_key).passed  # on the debug page, not in code
    key = next(f.secret for f in scan_tree(repo_of(lab)) if f.rule == "labkit API key")
    assert lab.check("hardcoded-key", key).passed


def test_git_history(lab: Lab) -> None:
    issued = token_for(lab, "alice")  # a real admin token is no forgery
    assert mentions(lab.check("git-history", issued), "the login issued that token")
    assert not lab.check("git-history", admin_token(lab, "dev-secret-change-me")).passed
    assert lab.check("git-history", admin_token(lab, history_secret(lab))).passed


def test_debug_page(lab: Lab) -> None:
    page = lab.client.get("/api/stats/2024-13").text
    rows = dict(re.findall(r"<tr><th>(\w+)</th><td>([^<]*)</td></tr>", page))
    password = rows["DATABASE_URL"].split(":")[2].split("@")[0]
    assert mentions(lab.check("debug-page", password), "does not sign")
    assert not lab.check("debug-page", "not-on-the-page-at-all").passed
    assert lab.check("debug-page", rows["JWT_SECRET"]).passed


def test_rotate_in_place(fresh_lab: Lab) -> None:
    lab = fresh_lab
    sessions = [token_for(lab, who) for who in ("alice", "bob", "carol") for _ in range(2)]
    assert mentions(lab.check("rotate-in-place", sessions), "no key was rotated yet")
    assert not lab.check("rotate-in-place", sessions[:2]).passed  # too few
    lab.client.post("/api/_lab/keys/rotate")
    survivors = [token_for(lab, who) for who in ("alice", "bob", "carol")]
    assert mentions(lab.check("rotate-in-place", survivors), "still work")
    assert lab.check("rotate-in-place", sessions).passed


# -- configuration checks ----------------------------------------------------------------
CONFIG_CHECKS = ("fail-fast", "never-printed", "error-page")


@pytest.mark.parametrize("check_id", CONFIG_CHECKS)
def test_config_checks_fail_on_the_stub(lab: Lab, check_id: str) -> None:
    result = lab.check(check_id, load_settings=not_written)
    assert not result.passed and mentions(result, "not written yet")


@pytest.mark.parametrize("check_id", CONFIG_CHECKS)
def test_config_checks_pass_on_the_reference(lab: Lab, check_id: str) -> None:
    result = lab.check(check_id, load_settings=secure.load_settings)
    assert result.passed, repr(result)


def test_never_printed_passes_the_repr_only_class_through_the_log(lab: Lab) -> None:
    """repr-only hides itself in the log, so only the field lines fail."""
    result = lab.check("never-printed", load_settings=loader_repr_only)
    assert not mentions(result, "repr(settings) shows")


# -- scan of the committed code ----------------------------------------------------------
def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return done.stdout.strip()


def rewrite(repo: Path, path: str, new_lines: dict[str, str]) -> None:
    file = repo / path
    lines = [next((new for start, new in new_lines.items() if line.startswith(start)), line)
             for line in file.read_text().splitlines()]  # fmt: skip
    file.write_text("\n".join(lines) + "\n")


def test_scan_clean(fresh_lab: Lab) -> None:
    lab = fresh_lab
    repo = repo_of(lab)
    assert mentions(lab.check("scan-clean", None), "expected a commit id")
    original = git(repo, "rev-parse", "HEAD")
    assert mentions(lab.check("scan-clean", original), "the last commit still holds")
    # a plausible wrong fix: the key moves to the environment, the fallback stays
    rewrite(repo, "app/export.py", {
        "from fastapi": "import os\n\nfrom fastapi import Header, HTTPException",
        "EXPORT_API_KEY =": 'EXPORT_API_KEY = os.environ["EXPORT_API_KEY"]',
    })  # fmt: skip
    git(repo, "commit", "-qam", "export key from the environment")
    half = git(repo, "rev-parse", "HEAD")
    assert mentions(lab.check("scan-clean", original), "is not the last commit")
    assert mentions(lab.check("scan-clean", half), "hard-coded fallback")
    # another: delete the files instead of fixing them
    git(repo, "rm", "-q", "app/config.py")
    git(repo, "commit", "-qm", "no config, no problem")
    deleted = lab.check("scan-clean", git(repo, "rev-parse", "HEAD"))
    assert mentions(deleted, "app/config.py no longer mentions JWT_SECRET")
    # the reference: names stay, values go, .env.example documents them
    git(repo, "revert", "--no-edit", "HEAD")
    rewrite(repo, "app/config.py", {
        "JWT_SECRET =": 'JWT_SECRET = os.environ["JWT_SECRET"]',
        "DEBUG =": 'DEBUG = os.environ.get("DEBUG", "false").lower() == "true"',
    })  # fmt: skip
    (repo / ".env.example").write_text("JWT_SECRET=\nEXPORT_API_KEY=\nDATABASE_URL=\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Secrets come from the environment only")
    result = lab.check("scan-clean", git(repo, "rev-parse", "--short", "HEAD"))
    assert result.passed, repr(result)
    assert mentions(result, "git history still holds")


# -- rotation ----------------------------------------------------------------------------
def test_rotation_fails_on_the_stub(lab: Lab) -> None:
    result = lab.check("rotation", sign_token=not_written, verify_token=not_written)
    assert not result.passed and mentions(result, "sign_token is not written yet")


def test_rotation_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("rotation", **ROTATION)
    assert result.passed, repr(result)
    assert mentions(result, "nobody logged out") and mentions(result, "refused after retirement")


# -- verify ------------------------------------------------------------------------------
def test_verify_fails_on_the_stub(lab: Lab) -> None:
    stub = dict.fromkeys(REFERENCE, not_written)
    assert not lab.check("verify", **stub).passed


def test_verify_passes_on_the_reference(lab: Lab) -> None:
    result = lab.check("verify", **REFERENCE)
    assert result.passed, repr(result)
    assert mentions(result, "the secret from git history forges nothing any more")


# -- the learner's own loot, replayed against the fix --------------------------------------
def test_verify_replays_the_learners_own_attacks(lab: Lab) -> None:
    key = next(f.secret for f in scan_tree(repo_of(lab)) if f.rule == "labkit API key")
    loot = {"Attack 1": key, "Attack 2": admin_token(lab, history_secret(lab)), "Attack 3": None}
    result = lab.check("verify", loot, **REFERENCE)
    assert result.passed, repr(result)
    assert mentions(result, "your own attacks (2 replayed) are now refused")


def test_loot_that_still_works_is_named(lab: Lab) -> None:
    from labkit.exercises.check import Findings
    from labkit.exercises.labs.settings import replay_own_attacks

    key = next(f.secret for f in scan_tree(repo_of(lab)) if f.rule == "labkit API key")
    loot = {"Attack 1": key, "Attack 2": admin_token(lab, history_secret(lab))}
    findings = Findings()  # against the vulnerable app, where both still work
    replay_own_attacks(lab.client, findings, loot)
    problems = " ".join(findings.problems)
    assert "[required] the key from Attack 1 still opens /api/v1/export" in problems
    assert "[refuse-retired] your token from Attack 2 still gets 200" in problems
