"""08-secrets: recover secrets from source, git history and an error page, log everyone out
with an in-place rotation — then fix configuration and rotate with a keyring.

Every check works over HTTP. The app's repository comes as text from ``/api/_lab/repo``;
what must never leak is what the secrets manager holds (``/api/_lab/vault``); how the app
prints its settings is ``/api/_lab/config`` and ``/api/_lab/logs``; a restart with another
environment is ``POST /api/_lab/boot``; key operations are under ``/api/_lab/keys``.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import random
import re
import secrets
import string
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from labkit.attacks.jwt import decode_unverified, forge
from labkit.attacks.secret_scan import Finding, scan_patch, scan_text
from labkit.exercises.check import EXPECTED_CRASH, CheckContext, Findings, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules
from labkit.patterns.apikeys import generate_api_key

__all__ = ["LAB", "SESSIONS_PER_USER"]

LAB = LabDefinition("08-secrets", "08 · Secrets", "labkit.sandbox.apps.settings")

ME, ADMIN, EXPORT = "/api/me", "/api/admin/users", "/api/v1/export"
CRASH = "/api/stats/13-2024"  # not YYYY-MM: the stats route crashes
KEYS = "/api/_lab/keys"
SECRET_NAMES = ("JWT_SECRET", "EXPORT_API_KEY", "DATABASE_URL")
SESSIONS_PER_USER = 2  # a laptop and a phone each
MIN_ROTATION_VICTIMS = 3
#: The notebook's list: a secret containing one of these (any case) is a placeholder.
PLACEHOLDER_WORDS = ("changeme", "change-me", "secret", "password", "example")
MIN_LEAK_CHARS = 8


# -- helpers the checks share ------------------------------------------------------------
class AppBroken(Exception):
    """The app cannot serve the check at all (a learner function fails every time)."""


def _fault(response: httpx.Response) -> str:
    try:
        fault = response.json().get("labkitFault", "")
    except (ValueError, AttributeError):
        return ""
    return f" — {fault}" if fault else ""


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _accounts(client: httpx.Client) -> list[dict[str, str]]:
    return list(client.get("/api/_lab/accounts").json())


def _login(client: httpx.Client, account: dict[str, str]) -> str:
    response = client.post(
        "/api/auth/login", json={"email": account["email"], "password": account["password"]}
    )
    if response.status_code != 200:
        raise AppBroken(f"logging in as {account['email']} got {response.status_code}"
                        f"{_fault(response)}")  # fmt: skip
    return str(response.json()["accessToken"])


def _alive(client: httpx.Client, tokens: Iterable[str]) -> list[bool]:
    return [client.get(ME, headers=_bearer(t)).status_code == 200 for t in tokens]


def _kid(token: str) -> Any:
    try:
        return decode_unverified(token)[0].get("kid")
    except ValueError:
        return None


def _forge_like(token: str, secret: str, **claims: Any) -> str:
    """A token with the header of a real ``token`` (its kid, typ), signed with ``secret``."""
    header, real = decode_unverified(token)
    return forge({**header, "alg": "HS256"}, {**real, **claims}, secret.encode())


def _admin_claims() -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "1", "role": "admin", "iat": now, "exp": now + 600}


def _vault(client: httpx.Client) -> dict[str, str]:
    env = client.get("/api/_lab/vault").json()["env"]
    return {name: str(env[name]) for name in SECRET_NAMES if name in env}


def _secret_values(vault: dict[str, str]) -> dict[str, str]:
    """Each secret, and of DATABASE_URL the password: none may ever be shown (a URL with
    its password masked may print: its scheme, user and host are not secret)."""
    values = {name: vault[name] for name in SECRET_NAMES if name in vault}
    password = urlsplit(vault.get("DATABASE_URL", "")).password
    if password:
        values.pop("DATABASE_URL", None)
        values["the database password"] = password
    return values


def _leaked(text: str, values: dict[str, str]) -> list[str]:
    return [name for name, value in values.items() if value and value in text]


def _is_token(answer: Any) -> bool:
    return isinstance(answer, str) and answer.count(".") == 2


def _not_a(kind: str, answer: Any) -> Verdict:
    return Verdict(False, f"expected {kind}, got {type(answer).__name__}")


Battery = Callable[[httpx.Client, Findings, random.Random], None]


def _run(battery: Battery, client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    try:
        battery(client, findings, rng)
    except AppBroken as exc:
        findings.fail(str(exc))


def _run_fix(ctx: CheckContext, battery: Battery) -> Findings:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(battery, client, findings, ctx.rng)
    return findings


def _repo_findings(client: httpx.Client) -> tuple[list[Finding], list[Finding]]:
    """(findings in the current files, findings in the whole history) of the app's repo."""
    repo = client.get("/api/_lab/repo").json()
    head = [f for path, text in repo["files"].items() for f in scan_text(text, path)]
    return head, scan_patch(repo["log"])


# -- attacks -----------------------------------------------------------------------------
@LAB.check(
    "hardcoded-key",
    title="Find the API key hard-coded in the source",
    kind="attack",
    hints=(
        "repo = lab.client.get('/api/_lab/repo').json()['path'] is a real git repository: "
        "every file under it (but .git/) is the app's source. Look for values assigned to "
        "names like *_KEY, *_SECRET, *_TOKEN.",
        "Path(repo).rglob('*') walks the files; re.findall(r'(\\w*(?:KEY|SECRET|TOKEN)\\w*)"
        '\\s*=\\s*["\']([^"\']{16,})["\']\', text) finds NAME = "long value". Try each '
        "value as X-API-Key on GET /api/v1/export and hand in the one that works.",
        "Ready-made: labkit.attacks.secret_scan.scan_tree(repo); the finding whose rule is "
        "'labkit API key' holds the value in .secret.",
    ),
    answer_help="the API key (str) written in the app's source",
)
def hardcoded_key(ctx: CheckContext) -> Verdict:
    key = ctx.answer.strip() if isinstance(ctx.answer, str) else ""
    if not key:
        return _not_a("the key as a string", ctx.answer)
    with ctx.target.client() as client:
        files = client.get("/api/_lab/repo").json()["files"]
        where = [path for path, text in files.items() if key in text]
        response = client.get(EXPORT, headers={"X-API-Key": key})
    if not where:
        return Verdict(False, "that value is not in the app's current source files")
    if response.status_code != 200:
        return Verdict(False, f"the export API refused it ({response.status_code})")
    return Verdict(
        True,
        "a key in the source is a key for everyone who can read the source",
        (f"found in {where[0]}; the export gave you {len(response.json()['users'])} accounts",),
    )


@LAB.check(
    "git-history",
    title="Recover the signing secret from git history and forge an admin token",
    kind="attack",
    hints=(
        "The current config.py reads the environment; the *history* may not: a repository "
        "keeps every version of every file, deleted files too (a commit added .env, a later "
        "one deleted it).",
        "git('log', '-p', '--all') prints every change; a regular expression over the added "
        "lines ('+JWT_SECRET=...') finds the value. Then jwt.encode({**claims, 'sub': '1', "
        "'role': 'admin'}, secret, algorithm='HS256') with carol's claims.",
        "Ready-made: labkit.attacks.secret_scan.scan_git_history(repo) lists findings (the "
        "one with .path '.env' holds the secret in .secret).",
    ),
    answer_help="an admin access token (str) you forged with the recovered secret",
)
def git_history(ctx: CheckContext) -> Verdict:
    if not _is_token(ctx.answer):
        return _not_a("a JWT (header.claims.signature) as a string", ctx.answer)
    token = ctx.answer.strip()
    with ctx.target.client() as client:
        issued = set(client.get("/api/_lab/issued").json()["sha256"])
        if hashlib.sha256(token.encode()).hexdigest() in issued:
            return Verdict(False, "the login issued that token: forge your own with the secret")
        response = client.get(ADMIN, headers=_bearer(token))
    if response.status_code != 200:
        return Verdict(
            False,
            f"the admin route refused your token ({response.status_code} {response.text[:60]})",
            ("sign with the secret from history, HS256, and give it role 'admin'",),
        )
    return Verdict(
        True,
        "deleting a file from git does not delete it from history: the secret still signs",
        (f"the admin route listed {len(response.json()['users'])} users for a token you made",),
    )


@LAB.check(
    "debug-page",
    title="Read the signing secret off the debug error page",
    kind="attack",
    hints=(
        "Make the app crash: GET /api/stats/{month} expects YYYY-MM; send something else.",
        "The 500 page is HTML with Settings and Environment tables: "
        "re.findall(r'<tr><th>(\\w+)</th><td>([^<]*)</td></tr>', page.text) gives the rows.",
        "Hand in the value of JWT_SECRET as a string (dict(rows)['JWT_SECRET']).",
    ),
    answer_help="the JWT signing secret (str) as shown on the error page",
)
def debug_page(ctx: CheckContext) -> Verdict:
    secret = ctx.answer.strip() if isinstance(ctx.answer, str) else ""
    if not secret:
        return _not_a("the secret as a string", ctx.answer)
    with ctx.target.client() as client:
        page = client.get(CRASH, headers=EXPECTED_CRASH)
        if page.status_code != 500 or secret not in page.text:
            return Verdict(False, "that value is not on the app's error page")
        real = _login(client, _accounts(client)[-1])
        forged = _forge_like(real, secret, **_admin_claims())
        response = client.get(ADMIN, headers=_bearer(forged))
    if response.status_code != 200:
        return Verdict(False, "that value is on the page, but it does not sign the app's tokens")
    return Verdict(
        True,
        "a debug page in production hands out the keys to whoever causes an error",
        ("a token signed with it is an admin token",),
    )


@LAB.check(
    "rotate-in-place",
    title="Rotate the signing key in place and count who got logged out",
    kind="attack",
    hints=(
        "Log everyone in (twice each: laptop and phone) and keep the tokens in a list.",
        "Rotate the old way: lab.client.post('/api/_lab/keys/rotate').",
        "Hand in the list of tokens that worked before the rotation.",
    ),
    answer_help="the list of access tokens (str) that were live before the rotation",
)
def rotate_in_place(ctx: CheckContext) -> Verdict:
    tokens = ctx.answer
    if not isinstance(tokens, list | tuple) or not all(_is_token(t) for t in tokens):
        return _not_a("a list of access tokens", tokens)
    if len(tokens) < MIN_ROTATION_VICTIMS:
        return Verdict(False, f"hand in at least {MIN_ROTATION_VICTIMS} sessions' tokens")
    with ctx.target.client() as client:
        issued = set(client.get("/api/_lab/issued").json()["sha256"])
        ours = [t for t in tokens if hashlib.sha256(t.encode()).hexdigest() in issued]
        retired = [k for k in client.get(KEYS).json()["keys"] if k["status"] == "retired"]
        alive = _alive(client, ours)
    findings = Findings()
    findings.expect(len(ours) == len(tokens), "some of those tokens were not issued by the app")
    findings.expect(bool(retired), "no key was rotated yet: POST /api/_lab/keys/rotate")
    findings.expect(
        not any(alive),
        f"{sum(alive)} of your tokens still work: log in, rotate, then hand in the old tokens",
        f"{len(ours)} of {len(ours)} sessions logged out by one rotation",
    )
    return findings.verdict(
        "rotating in place logs everybody out — so nobody rotates", "not a full logout yet"
    )


# -- rules: what each fix must do (rendered in the notebook, probed below) ----------------
REQUIRED = Rule(
    "required",
    "Read `JWT_SECRET`, `EXPORT_API_KEY` and `DATABASE_URL` from `env` and nowhere else: "
    "`load_settings` raises when one is missing or empty — no default, no fallback or "
    "hard-coded value, no generated stand-in.",
)
DEBUG_OFF = Rule(
    "debug-off",
    "`debug` is False unless `DEBUG` turns it on (a missing `DEBUG` or `DEBUG=false` is off), "
    "and `DEBUG` on with `APP_ENV=production` raises.",
)
FAIL_FAST_RULES = (
    REQUIRED,
    Rule(
        "strong-secrets",
        "`load_settings` raises when `JWT_SECRET` or `EXPORT_API_KEY` is shorter than 32 "
        "characters, contains a word of `PLACEHOLDER_WORDS` anywhere in any case, or carries "
        "under 3 bits of entropy per character.",
    ),
    Rule("database-url", "`load_settings` raises when `DATABASE_URL` has no `://`."),
    DEBUG_OFF,
    Rule(
        "no-echo",
        "An error names what is wrong, never the value: no 8 characters in a row of a "
        "rejected value appear in it (pydantic: `hide_input_in_errors=True`).",
    ),
    Rule(
        "good-config-starts",
        "A good production environment starts: secrets of 32+ random characters "
        "(`secrets.token_urlsafe(32)`, `secrets.token_hex(32)`, an `lk_live_` key), a "
        "`postgresql://` URL, and other variables the app does not use.",
    ),
)
PRINTED_RULES = (
    Rule(
        "masked-fields",
        "Each secret field prints masked: `str()`, `repr()` and f-strings of "
        "`settings.jwt_secret`, `settings.export_api_key` and `settings.database_url` show no "
        "8 characters in a row of the value (nor of the password inside `DATABASE_URL`).",
    ),
    Rule(
        "masked-settings",
        "`repr(settings)`, `str(settings)` and the app's log lines (which print the settings) "
        "show no 8 characters in a row of any secret.",
    ),
)
ERROR_PAGE_RULES = (DEBUG_OFF,)
SCAN_RULES = (
    Rule(
        "no-secret-in-code",
        "The last commit holds no secret: the scanner finds nothing, and no secret of the "
        "vault or of git history appears in any file — plain, split into pieces, base64, hex "
        "or reversed.",
    ),
    Rule(
        "no-fallback",
        "Read every secret with `os.environ['NAME']` (or `os.getenv` and refuse `None`): no "
        "default for `JWT_SECRET`, `EXPORT_API_KEY` or `DATABASE_URL` — neither a literal nor "
        "a generated one, neither as an argument nor after `or`.",
    ),
    Rule(
        "names-kept",
        "Keep `JWT_SECRET` in app/config.py and `EXPORT_API_KEY` in app/export.py: drop the "
        "value, not the name.",
    ),
    Rule(
        "debug-off-in-code",
        "`DEBUG` in app/config.py is off when the variable is not set "
        "(`os.environ.get('DEBUG', 'false').lower() == 'true'`).",
    ),
    Rule(
        "env-example",
        "Commit a `.env.example` that names `JWT_SECRET`, `EXPORT_API_KEY` and `DATABASE_URL` "
        "without their values, and never a `.env`.",
    ),
)
ROTATION_RULES = (
    Rule(
        "kid-header",
        "`sign_token` signs HS256 with the active key (`keyring.active_kid`) and puts its id in "
        "the `kid` header — never a key that is only `next`.",
    ),
    Rule(
        "accept-both",
        "`verify_token` accepts a valid token signed with any key whose status is `next`, "
        "`active` or `previous`: nobody is logged out before step 5.",
    ),
    Rule(
        "refuse-retired",
        "Once a key is `retired`, every token it signed is refused — also one without a `kid`.",
    ),
    Rule(
        "verify-signature",
        "Every token is verified with the key its `kid` names, whatever that key's status: a "
        "token signed with any other key (an attacker's, or the leaked one under another "
        "`kid`) is refused, and so is an unknown `kid` or none.",
    ),
    Rule(
        "hs256-only",
        "Verify with `algorithms=['HS256']`, never the token's own `alg`: `none` in any casing, "
        "`HS384` and `HS512` are refused.",
    ),
    Rule("required-claims", "Require `exp`, `iat` and `sub`, and refuse an expired token."),
)


# -- fixes: configuration ----------------------------------------------------------------
def _token(rng: random.Random) -> str:
    """A strong secret in one of the shapes a team uses."""
    n = rng.randint(32, 48)
    return rng.choice(
        [
            secrets.token_urlsafe(n),
            secrets.token_hex(32),
            base64.b64encode(secrets.token_bytes(n)).decode(),
            generate_api_key(),
        ]
    )


def _good_env(rng: random.Random | None = None) -> dict[str, str]:
    rng = rng or random.Random()  # noqa: S311 - probe inputs, not secrets
    user, host = _word(rng), _word(rng)
    return {
        "APP_ENV": "production",
        "JWT_SECRET": _token(rng),
        "EXPORT_API_KEY": rng.choice([generate_api_key(), _token(rng)]),
        "DATABASE_URL": f"postgresql://{user}:{secrets.token_urlsafe(12)}@{host}:5432/notes",
        "LOG_LEVEL": rng.choice(["info", "debug", "warning"]),
        "PORT": str(rng.randint(1024, 65535)),
    }


def _word(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def _casing(rng: random.Random, word: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in word)


def _placeholder_secret(rng: random.Random) -> str:
    word = _casing(rng, rng.choice(PLACEHOLDER_WORDS))
    body = secrets.token_urlsafe(30)
    at = rng.randint(0, len(body))
    return body[:at] + word + body[at:]


def _repetitive_secret(rng: random.Random) -> str:
    chunk = "".join(
        rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(2, 3))
    )
    return (chunk * 30)[: rng.randint(32, 60)]


def _bad_envs(rng: random.Random) -> list[tuple[str, str, dict[str, str]]]:
    """(rule, label, environment) of configurations that must not start."""
    good = _good_env(rng)
    bad: list[tuple[str, str, dict[str, str]]] = []
    for name in ("JWT_SECRET", "EXPORT_API_KEY", "DATABASE_URL"):
        bad.append(("required", f"{name} missing", {k: v for k, v in good.items() if k != name}))
        bad.append(("required", f"{name} empty", {**good, name: ""}))
    for name in ("JWT_SECRET", "EXPORT_API_KEY"):
        short = secrets.token_urlsafe(40)[: rng.randint(12, 31)]
        bad.append(("strong-secrets", f"a {len(short)}-character {name}", {**good, name: short}))
        placeholder = _placeholder_secret(rng)
        bad.append(
            (
                "strong-secrets",
                f"{name}={placeholder!r} (a placeholder word inside)",
                {**good, name: placeholder},
            )
        )
        repetitive = _repetitive_secret(rng)
        bad.append(
            ("strong-secrets", f"{name}={repetitive!r} (a repetition)", {**good, name: repetitive})
        )
    bad.append(
        ("strong-secrets", "JWT_SECRET='changeme' * 4", {**good, "JWT_SECRET": "changeme" * 4})
    )
    not_url = f"{_word(rng)}@{_word(rng)}:5432/notes"
    bad.append(("database-url", f"DATABASE_URL={not_url!r}", {**good, "DATABASE_URL": not_url}))
    on = rng.choice(["true", "True", "1", "yes", "on", "TRUE"])
    bad.append(("debug-off", f"DEBUG={on} with APP_ENV=production", {**good, "DEBUG": on}))
    return bad


def _boot(client: httpx.Client, env: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/_lab/boot", json={"env": env})
    if response.status_code != 200:
        raise AppBroken(f"the boot route answered {response.status_code}{_fault(response)}")
    return dict(response.json())


def _windows(value: str, width: int = 8) -> set[str]:
    """Every run of ``width`` characters of a secret value (not of a public placeholder)."""
    if len(value) < width:
        return set()
    runs = {value[i : i + width] for i in range(len(value) - width + 1)}
    return {r for r in runs if not any(r.lower() in w for w in PLACEHOLDER_WORDS)}


def _echoes(text: str, values: Iterable[str]) -> bool:
    return any(run in text for value in values for run in _windows(value))


def _fail_fast_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    good = _good_env(rng)
    started = _boot(client, good)
    if not findings.expect(
        started["started"],
        f"a good production environment did not start: {started['error']}",
        "a good production environment starts",
        rule="good-config-starts",
    ):
        return
    findings.expect(
        started.get("debug") is False,
        "with no DEBUG variable, settings.debug is on: default it to False",
        rule="debug-off",
    )
    for label, env in (
        (
            "a 64-hex-digit JWT_SECRET (256 random bits)",
            {**good, "JWT_SECRET": secrets.token_hex(32)},
        ),
        ("an lk_live_ EXPORT_API_KEY", {**good, "EXPORT_API_KEY": generate_api_key()}),
    ):
        hexed = _boot(client, env)
        findings.expect(
            hexed["started"], f"{label} was refused: {hexed['error']}", rule="good-config-starts"
        )
    falsy = rng.choice(["false", "False", "0", "no", "off"])
    off = _boot(client, {**good, "DEBUG": falsy})
    findings.expect(
        off["started"] and off.get("debug") is False,
        f"DEBUG={falsy} in production: {off['error'] or 'started with debug on'} — the string "
        f"{falsy!r} is truthy: parse it (pydantic's bool does)",
        rule="debug-off",
    )
    refused = 0
    for rule, label, env in _bad_envs(rng):
        outcome = _boot(client, env)
        if outcome["started"] and not (rule == "debug-off" and outcome.get("debug") is False):
            findings.fail(f"the app starts with {label}: refuse it at startup", rule=rule)
            continue
        refused += 1
        values = [v for k, v in env.items() if k in SECRET_NAMES and "://" not in v]
        password = urlsplit(env.get("DATABASE_URL", "")).password  # not the public scheme
        findings.expect(
            not _echoes(outcome["error"], [*values, *([password] if password else [])]),
            f"refusing {label}, the error repeats part of a value from the environment "
            "(pydantic: model_config = ConfigDict(hide_input_in_errors=True))",
            rule="no-echo",
        )
    findings.saw(f"{refused} broken environments refused at startup, with no value repeated")


def _printing_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    values = _secret_values(_vault(client))
    _login(client, _accounts(client)[0])  # the app works, and logs a login
    good = _good_env(rng)
    _boot(client, good)  # the log line for a fresh config must be masked too
    shown = client.get("/api/_lab/config").json()
    lines = client.get("/api/_lab/logs").json()["lines"]
    everything = {**values, **{f"{k} (booted)": v for k, v in _secret_values(good).items()}}
    places = {
        "masked-settings": {
            "repr(settings)": shown["repr"],
            "str(settings) / f-strings": shown["str"],
            "the app's log": "\n".join(lines),
        },
        "masked-fields": {
            f"{how}(settings.{name})": text
            for how, key in (("str", "fields"), ("repr", "fieldsRepr"), ("format", "fieldsFormat"))
            for name, text in shown.get(key, {}).items()
        },
    }
    clean = True
    for rule, texts in places.items():
        for where, text in texts.items():
            leaks = [name for name, value in everything.items() if _echoes(text, [value])]
            if leaks:
                clean = False
                findings.fail(f"{where} shows {', '.join(leaks)}", rule=rule)
    if clean:
        findings.saw(f"no secret in repr, str, the settings' fields or {len(lines)} log lines")


def _crash_page(client: httpx.Client) -> httpx.Response:
    """The app's own bug (a bad month), on purpose: its 500 is not the learner's crash."""
    hooks = client.event_hooks
    client.event_hooks = {"request": hooks.get("request", []), "response": []}
    try:
        return client.get(CRASH)
    finally:
        client.event_hooks = hooks


def _error_page_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    values = _secret_values(_vault(client))
    page = _crash_page(client)
    findings.expect(page.status_code == 500, f"{CRASH} answered {page.status_code}, not 500")
    with findings.rule("debug-off"):
        leaks = [name for name, value in values.items() if _echoes(page.text, [value])]
        findings.expect(
            not leaks,
            f"the error page shows {', '.join(leaks)}: turn DEBUG off (and default it to off)",
        )
        findings.expect(
            "Traceback" not in page.text,
            "the error page shows a traceback: the client needs an error id, not your code",
            "a 500 shows no secret and no traceback",
        )
        booted = _boot(client, _good_env(rng))
        findings.expect(
            booted["started"] and booted.get("debug") is False,
            f"a good environment without DEBUG: {booted['error'] or 'debug is on'}",
            "without DEBUG, debug is off",
        )
    ok = client.get("/api/stats/2024-05")
    findings.expect(ok.status_code == 200, f"GET /api/stats/2024-05 got {ok.status_code}")


@LAB.check(
    "fail-fast",
    title="Refuse to start with a missing or weak secret",
    kind="fix",
    fixes=("load_settings",),
    rules=FAIL_FAST_RULES,
    hints=(
        "Validate everything inside load_settings: when it returns, the config is good.",
        "Missing or empty, under 32 characters, a placeholder word anywhere, or under 3 bits "
        "of entropy per character: raise. DEBUG on with APP_ENV=production: raise.",
        "pydantic repeats the input in its error message unless model_config sets "
        "hide_input_in_errors=True; your own messages must not quote the value either.",
    ),
)
def fail_fast(ctx: CheckContext) -> Verdict:
    return _run_fix(ctx, _fail_fast_battery).verdict(
        "a bad configuration never starts", "a bad configuration starts"
    )


@LAB.check(
    "never-printed",
    title="Secrets never print: repr, str, fields, logs",
    kind="fix",
    fixes=("load_settings",),
    rules=PRINTED_RULES,
    hints=(
        "Make every secret a pydantic SecretStr (or a type of your own that hides itself).",
        "Check repr(settings), str(settings), f'{settings.jwt_secret}' in a cell.",
        "A custom __repr__ on the settings class is not enough: fields print one by one.",
    ),
)
def never_printed(ctx: CheckContext) -> Verdict:
    return _run_fix(ctx, _printing_battery).verdict("no secret prints anywhere", "a secret prints")


@LAB.check(
    "error-page",
    title="A 500 shows no secret",
    kind="fix",
    fixes=("load_settings",),
    rules=ERROR_PAGE_RULES,
    hints=(
        "The app shows its debug page when settings.debug is true.",
        "DEBUG must default to off: read it from the environment, default False.",
    ),
)
def error_page(ctx: CheckContext) -> Verdict:
    return _run_fix(ctx, _error_page_battery).verdict(
        "errors tell the client nothing", "the error page leaks"
    )


# -- fixes: the committed code -----------------------------------------------------------
_JOINED = re.compile(r"""["']\s*\+?\s*\\?\s*["']""")


def _variants(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "": value,
        " (base64)": base64.b64encode(raw).decode().rstrip("="),
        " (base64url)": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        " (hex)": raw.hex(),
        " (reversed)": value[::-1],
    }


def _encoded_leaks(files: dict[str, str], secrets_: dict[str, str]) -> list[str]:
    """``"<secret> (encoding) in <path>"`` for every known secret found in a file;
    ``secrets_`` maps each secret value to how the message names it."""
    found = []
    for path, text in files.items():
        joined = _JOINED.sub("", text)  # "lk_live_ab" "cd..." and "ab" + "cd" read as one
        haystacks = (text, joined, text.lower(), joined.lower())
        for value, name in secrets_.items():
            for how, variant in _variants(value).items():
                needle = variant if how != " (hex)" else variant.lower()
                if len(needle) >= 8 and any(needle in h for h in haystacks):
                    found.append(f"{name}{how} in {path}")
                    break
    return found


def _env_reads(tree: ast.AST) -> Iterator[tuple[str, ast.AST | None, ast.AST]]:
    """(variable name, its default or None, the node) of every environment read."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called not in ("get", "getenv", "setdefault", "environ_get"):
                continue
            if not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            name = node.args[0].value
            default = node.args[1] if len(node.args) > 1 else None
            default = next((k.value for k in node.keywords if k.arg == "default"), default)
            if isinstance(name, str):
                yield name, default, node
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            first = node.values[0]
            if (
                isinstance(first, ast.Call)
                and first.args
                and isinstance(first.args[0], ast.Constant)
            ):
                name = first.args[0].value
                if isinstance(name, str):
                    yield name, node.values[1], node


def _fallbacks(files: dict[str, str]) -> list[str]:
    found = []
    for path, text in files.items():
        if not path.endswith(".py"):
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:  # the scanner still reads it; there is no code to follow
            continue
        for name, default, node in _env_reads(tree):
            empty = default is None or (isinstance(default, ast.Constant) and default.value is None)
            if name in SECRET_NAMES and not empty:
                found.append(
                    f"{path}:{node.lineno} gives {name} a default ({ast.unparse(default)[:40]})"
                )  # type: ignore[arg-type]
    return found


class _Unknown(Exception):
    """An expression the DEBUG evaluator does not follow."""


def _evaluate(node: ast.AST) -> Any:
    """A DEBUG expression evaluated with an empty environment — only the shapes config code
    uses (environment reads, str methods, comparisons, bool/int), never ``eval``."""
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Tuple(elts=items) | ast.List(elts=items) | ast.Set(elts=items):
            return [_evaluate(item) for item in items]
        case ast.Call(func=ast.Attribute(attr="get" | "getenv"), args=[_, *rest], keywords=kw):
            default = rest[0] if rest else next((k.value for k in kw if k.arg == "default"), None)
            return None if default is None else _evaluate(default)
        case ast.Call(func=ast.Name(id="getenv"), args=[_, *rest]):
            return _evaluate(rest[0]) if rest else None
        case ast.Call(func=ast.Attribute(value=inner, attr=method), args=[]) if method in (
            "lower",
            "upper",
            "strip",
            "casefold",
        ):
            text = _evaluate(inner)
            if not isinstance(text, str):
                raise _Unknown
            return getattr(text, method)()
        case ast.Call(func=ast.Name(id="bool" | "int" | "str" as cast), args=[arg]):
            return {"bool": bool, "int": int, "str": str}[cast](_evaluate(arg))
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _evaluate(operand)
        case ast.BoolOp(op=op, values=values):
            result = _evaluate(values[0])
            for value in values[1:]:
                if bool(result) == isinstance(op, ast.Or):
                    break
                result = _evaluate(value)
            return result
        case ast.Compare(left=left, ops=[op], comparators=[right]):
            a, b = _evaluate(left), _evaluate(right)
            comparisons: dict[type, Callable[[Any, Any], bool]] = {
                ast.Eq: lambda x, y: x == y,
                ast.NotEq: lambda x, y: x != y,
                ast.In: lambda x, y: x in y,
                ast.NotIn: lambda x, y: x not in y,
            }
            if type(op) not in comparisons:
                raise _Unknown
            return comparisons[type(op)](a, b)
    raise _Unknown


def _debug_default(text: str) -> bool | None:
    """What DEBUG in app/config.py is without a DEBUG variable (None: not found or unknown)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        )
        if any(isinstance(t, ast.Name) and t.id.upper() == "DEBUG" for t in targets):
            try:
                return bool(_evaluate(node.value))  # type: ignore[arg-type]
            except (_Unknown, TypeError, ValueError):
                return None
    return None


def _env_example(files: dict[str, str]) -> list[str]:
    problems = []
    if ".env" in files:
        problems.append(".env is committed: add it to .gitignore and git rm --cached .env")
    example = files.get(".env.example")
    if example is None:
        return [*problems, "there is no .env.example naming the variables to set"]
    named = {m.group(1) for m in re.finditer(r"(?m)^\s*(?:export\s+)?(\w+)\s*=", example)}
    missing = [n for n in SECRET_NAMES if n not in named]
    if missing:
        problems.append(f".env.example does not name {', '.join(missing)}")
    return problems


def _scan_battery(
    files: dict[str, str], log: str, findings: Findings, vault: dict[str, str]
) -> None:
    with findings.rule("no-secret-in-code"):
        head = [f for path, text in files.items() for f in scan_text(text, path)]
        findings.expect(
            not head,
            f"the last commit still holds {len(head)} suspected secret(s): "
            + "; ".join(str(f) for f in head[:4]),
            f"the scanner finds nothing in the {len(files)} files of your commit",
        )
        reported = {f.secret for f in head}  # said once, by the scanner
        known = {f.secret: f"a {f.rule} from history" for f in scan_patch(log)}
        known.update({v: f"the vault's {name}" for name, v in _secret_values(vault).items()})
        known = {
            value: label
            for value, label in known.items()
            if len(value) >= MIN_LEAK_CHARS
            and value.lower() not in PLACEHOLDER_WORDS
            and value not in reported
        }
        leaks = _encoded_leaks(files, known)
        findings.expect(
            not leaks,
            f"a known secret is still in the code: {'; '.join(leaks[:3])}",
            "no known secret in the code, encoded or in pieces",
        )
    fallbacks = _fallbacks(files)
    findings.expect(
        not fallbacks,
        f"a secret with a fallback value: {'; '.join(fallbacks[:3])} — "
        "use os.environ['NAME'] and let a missing one stop the app",
        "every secret read without a default",
        rule="no-fallback",
    )
    kept = {"app/config.py": "jwt_secret", "app/export.py": "export_api_key"}
    for path, name in kept.items():
        findings.expect(
            name in files.get(path, "").lower(),
            f"{path} no longer mentions {name.upper()}: keep the name, drop the value",
            rule="names-kept",
        )
    debug = _debug_default(files.get("app/config.py", ""))
    findings.expect(
        debug is not True,
        "app/config.py: DEBUG is on when the variable is not set — default it to off",
        "DEBUG defaults to off",
        rule="debug-off-in-code",
    )
    for problem in _env_example(files):
        findings.fail(problem, rule="env-example")


@LAB.check(
    "scan-clean",
    title="A secret scan of the committed code finds nothing",
    kind="fix",
    rules=SCAN_RULES,
    hints=(
        "Rewrite app/config.py and app/export.py in the lab's repository so they read every "
        "secret from the environment (os.environ['NAME'], no fallback values), DEBUG off by "
        "default, add a .env.example, commit.",
        "secret_scan.scan_tree(repo) must find nothing; git log -p still will — that is "
        "why the next step is rotation.",
        "Hand in the id of your commit: git('rev-parse', 'HEAD').",
    ),
    answer_help="the id (str) of the commit that removed the secrets from the code",
)
def scan_clean(ctx: CheckContext) -> Verdict:
    commit = ctx.answer.strip().lower() if isinstance(ctx.answer, str) else ""
    if len(commit) < 7 or any(c not in "0123456789abcdef" for c in commit):
        return _not_a("a commit id (at least 7 hex digits) as a string", ctx.answer)
    with ctx.target.client() as client:
        repo = client.get("/api/_lab/repo").json()
        vault = _vault(client)
    if not repo["head"].startswith(commit):
        return Verdict(
            False,
            f"{commit[:12]} is not the last commit ({repo['head'][:12]}): "
            "commit your fix, and hand in its id",
        )
    findings = Findings()
    _scan_battery(repo["files"], repo["log"], findings, vault)
    history = scan_patch(repo["log"])
    if history:
        findings.saw(
            f"git history still holds {len(history)} finding(s): every clone has them, so "
            "those secrets must be rotated"
        )
    return findings.verdict("the code is clean (the history is not)", "a secret is still there")


# -- fixes: rotation ---------------------------------------------------------------------
def _signed(client: httpx.Client, kid: str, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token signed by the ring's key ``kid`` (whatever its status), with ``header``."""
    response = client.post(f"{KEYS}/sign", json={"kid": kid, "header": header, "claims": claims})
    return str(response.json()["token"])


def _refused(client: httpx.Client, findings: Findings, token: str, label: str, rule: str) -> None:
    response = client.get(ADMIN, headers=_bearer(token))
    findings.expect(
        response.status_code == 401,
        f"{label}: /api/admin/users answered {response.status_code}{_fault(response)}",
        rule=rule,
    )


def _probe_states(
    client: httpx.Client, findings: Findings, rng: random.Random, header: dict[str, Any], step: str
) -> None:
    """Every key state of the ring now, an unknown kid and none: an attacker's tokens fail,
    and so do HS384/HS512 and alg none; a valid token of each accepted key works."""
    ring = client.get(KEYS).json()["keys"]
    base = {k: v for k, v in header.items() if k != "kid"}
    kids: list[tuple[str, str | None]] = [(f"{k['status']} key {k['kid']}", k["kid"]) for k in ring]
    kids += [("an unknown kid", "k-" + secrets.token_hex(4)), ("no kid", None)]
    for label, kid in kids:
        head = {**base, **({"kid": kid} if kid else {})}
        attacker = secrets.token_bytes(rng.choice([16, 32, 48, 64]))
        _refused(
            client,
            findings,
            forge({**head, "alg": "HS256"}, _admin_claims(), attacker),
            f"{step}: an admin token for {label}, signed with an attacker's key",
            "verify-signature",
        )
        casing = "".join(c.upper() if rng.random() < 0.5 else c for c in "none")
        _refused(
            client,
            findings,
            forge({**head, "alg": casing}, _admin_claims()),
            f"{step}: alg {casing!r} for {label}",
            "hs256-only",
        )
    for key in ring:
        head = {**base, "kid": key["kid"]}
        if key["status"] == "retired":
            continue
        alg = rng.choice(["HS384", "HS512"])
        _refused(
            client,
            findings,
            _signed(client, key["kid"], {**head, "alg": alg}, _admin_claims()),
            f"{step}: alg {alg} signed with the {key['status']} key",
            "hs256-only",
        )
        valid = _signed(client, key["kid"], head, _admin_claims())
        ok = client.get(ADMIN, headers=_bearer(valid))
        findings.expect(
            ok.status_code == 200,
            f"{step}: a valid admin token of the {key['status']} key {key['kid']} got "
            f"{ok.status_code}{_fault(ok)}: accept next, active and previous keys",
            rule="accept-both",
        )


def _rotation_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    accounts = _accounts(client)
    sessions = [_login(client, a) for a in accounts for _ in range(SESSIONS_PER_USER)]
    n = len(sessions)
    first_kid = client.get(KEYS).json()["activeKid"]
    kids = {_kid(t) for t in sessions}
    if not findings.expect(
        kids == {first_kid},
        f"tokens name key {sorted(map(str, kids))}, the active key is {first_kid!r}: put "
        "keyring.active_kid in the kid header",
        rule="kid-header",
    ):
        return
    if not findings.expect(
        all(_alive(client, sessions)),
        _me_problem(client, sessions[0]),
        f"{n} sessions, every token names its key ({first_kid})",
        rule="accept-both",
    ):
        return
    header = decode_unverified(sessions[0])[0]
    _probe_states(client, findings, rng, header, "before rotating")
    now = int(time.time())
    claims_probes = {
        "no exp": {"sub": "1", "role": "admin", "iat": now},
        "no iat": {"sub": "1", "role": "admin", "exp": now + 600},
        "expired": {
            "sub": "1",
            "role": "admin",
            "iat": now - 7200,
            "exp": now - rng.randint(120, 3600),
        },
    }
    for label, claims in claims_probes.items():
        _refused(
            client,
            findings,
            _signed(client, first_kid, header, claims),
            f"a token of the active key with {label}",
            "required-claims",
        )
    garbage = [
        "not-a-token",
        "a.b.c",
        secrets.token_urlsafe(rng.randint(10, 60)),
        f"{secrets.token_urlsafe(8)}.{secrets.token_urlsafe(8)}.",
        "e30.e30.e30",
    ]
    for token in garbage:
        client.get(ME, headers=_bearer(token))  # a 5xx here fails the check as [no-crash]
    new_kid = client.post(f"{KEYS}/new").json()["kid"]
    alive = sum(_alive(client, sessions))
    findings.expect(
        alive == n, f"steps 1–2 (new key added) logged out {n - alive} of {n}", rule="accept-both"
    )
    early = _login(client, accounts[0])
    findings.expect(
        _kid(early) == first_kid,
        f"in step 2 a new token is signed with {_kid(early)!r}, a key that is not active yet: "
        "sign with keyring.active_kid",
        rule="kid-header",
    )
    _probe_states(client, findings, rng, header, "step 2")
    client.post(f"{KEYS}/promote")
    alive = sum(_alive(client, sessions))
    findings.expect(
        alive == n,
        f"step 3 (sign with the new key) logged out {n - alive} of {n} sessions: verify with "
        "the key the token names (kid), among every key that is not retired",
        f"step 3: {alive} of {n} sessions signed with the old key still work — nobody logged out",
        rule="accept-both",
    )
    fresh = _login(client, accounts[0])
    findings.expect(
        _kid(fresh) == new_kid and all(_alive(client, [fresh])),
        f"after step 3 a new login gives a token for key {_kid(fresh)!r} (expected {new_kid!r})"
        f" that {'works' if all(_alive(client, [fresh])) else 'does not work'}",
        "new logins are signed with the new key",
        rule="kid-header",
    )
    _probe_states(client, findings, rng, header, "step 3")
    uses = {k["kid"]: k["uses"] for k in client.get(KEYS).json()["keys"]}
    findings.saw(f"step 4: the old key verified {uses.get(first_kid, 0)} requests so far")
    client.post(f"{KEYS}/retire")
    alive = sum(_alive(client, sessions))
    findings.expect(
        alive == 0,
        f"after step 5 (retire) {alive} of {n} old-key tokens still work: refuse retired keys",
        f"step 5: all {n} old-key tokens refused after retirement",
        rule="refuse-retired",
    )
    findings.expect(
        all(_alive(client, [fresh])), "after step 5 a new-key token fails", rule="accept-both"
    )
    base = {k: v for k, v in header.items() if k != "kid"}
    _refused(
        client,
        findings,
        _signed(client, first_kid, base, _admin_claims()),
        "a token of the retired key without a kid",
        "refuse-retired",
    )
    leaked = _vault(client)["JWT_SECRET"]  # the first key: what leaked through git
    _refused(
        client,
        findings,
        _forge_like(fresh, leaked, **_admin_claims()),
        "the retired (leaked) key under the new kid",
        "verify-signature",
    )
    _probe_states(client, findings, rng, header, "step 5")
    findings.saw("every key state probed with an attacker's tokens, alg none, HS384/HS512")


def _me_problem(client: httpx.Client, token: str) -> str:
    response = client.get(ME, headers=_bearer(token))
    return f"login → /api/me fails before any rotation ({response.status_code}){_fault(response)}"


@LAB.check(
    "rotation",
    title="Rotate the signing key in five steps: nobody logged out, old key refused after",
    kind="fix",
    fixes=("sign_token", "verify_token"),
    rules=ROTATION_RULES,
    hints=(
        "sign_token: sign with keyring.keys[keyring.active_kid] and put its kid in the header.",
        "verify_token: read the kid (jwt.get_unverified_header), pick that key from "
        "keyring.keys, refuse it unless its status is next, active or previous — then verify "
        "the signature with it, whatever the status.",
        "Return None for every bad token (catch jwt.PyJWTError); never trust the "
        "token's alg: algorithms=['HS256'].",
    ),
)
def rotation(ctx: CheckContext) -> Verdict:
    return _run_fix(ctx, _rotation_battery).verdict(
        "the key rotated with nobody logged out, and the old key is dead",
        "the rotation went wrong",
    )


# -- verify: the whole battery -----------------------------------------------------------
def _replay_leaks(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """The attacker's moves against the fixed app: source, history, legitimate use."""
    head, history = _repo_findings(client)
    source_keys = [f.secret for f in head if f.rule == "labkit API key"]
    used = [
        k for k in source_keys if client.get(EXPORT, headers={"X-API-Key": k}).status_code == 200
    ]
    findings.expect(
        not used,
        "the API key written in the source still works: read EXPORT_API_KEY from the "
        "environment (the vault holds a new one)",
        "the key from the source is refused",
        rule="required",
    )
    vault = _vault(client)
    legit = client.get(EXPORT, headers={"X-API-Key": vault["EXPORT_API_KEY"]})
    findings.expect(
        legit.status_code == 200,
        f"the reporting job's key from the vault got {legit.status_code}{_fault(legit)}",
        "the reporting job's key from the vault works",
        rule="required",
    )
    if any(f.secret == vault["JWT_SECRET"] for f in history):
        findings.saw("the signing secret is still in git history: only a rotation retires it")
    accounts = _accounts(client)
    by_role = {a["role"]: a for a in accounts}
    admin = _login(client, by_role["admin"])
    editor = _login(client, by_role["editor"])
    findings.expect(
        client.get(ADMIN, headers=_bearer(admin)).status_code == 200
        and client.get(ADMIN, headers=_bearer(editor)).status_code == 403,
        "the admin route must answer 200 to alice and 403 to bob",
        "logins work: alice reads the admin route, bob gets 403",
        rule="accept-both",
    )


def _after_rotation_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """Once the leaked key is retired, a token forged with it opens nothing."""
    leaked = _vault(client)["JWT_SECRET"]
    real = _login(client, _accounts(client)[-1])
    forged = _forge_like(real, leaked, **_admin_claims())
    findings.expect(
        client.get(ADMIN, headers=_bearer(forged)).status_code == 401,
        "a token forged with the secret from git history still works after the rotation",
        "the secret from git history forges nothing any more",
        rule="refuse-retired",
    )


def replay_own_attacks(client: httpx.Client, findings: Findings, answer: Any) -> None:
    """The learner's own loot from the Attack cells, sent to their fixed app.

    ``answer`` is a dict ``{label: value}``: a JWT (a token they minted) must be refused on
    the admin route, any other string (a key they found) must not open the export.
    """
    if not isinstance(answer, dict):
        return
    replayed = 0
    for label, value in answer.items():
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        replayed += 1
        if _is_token(value):
            response = client.get(ADMIN, headers=_bearer(value))
            findings.expect(
                response.status_code == 401,
                f"your token from {label} still gets {response.status_code} on {ADMIN}"
                f"{_fault(response)}",
                rule="refuse-retired",
            )
        else:
            response = client.get(EXPORT, headers={"X-API-Key": value})
            findings.expect(
                response.status_code != 200,
                f"the key from {label} still opens {EXPORT}",
                rule="required",
            )
    if replayed:
        findings.saw(f"your own attacks ({replayed} replayed) are now refused")


@LAB.check(
    "verify",
    title="Replay every attack against your fixes",
    kind="fix",
    fixes=("load_settings", "sign_token", "verify_token"),
    rules=merge_rules(FAIL_FAST_RULES, PRINTED_RULES, ERROR_PAGE_RULES, ROTATION_RULES),
    points=2,
    hints=(
        "Pass the checks above first; this one replays them all together.",
        "The key from the source must stop working, the vault's key must work.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        for battery in (
            _replay_leaks,
            _fail_fast_battery,
            _printing_battery,
            _error_page_battery,
            _rotation_battery,
            _after_rotation_battery,
        ):
            _run(battery, client, findings, ctx.rng)
        replay_own_attacks(client, findings, ctx.answer)
    return findings.verdict(
        "every leak is closed, the leaked key is retired, and nobody was logged out",
        "an attack still works or a legitimate flow broke",
    )
