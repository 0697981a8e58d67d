"""08-secrets: recover secrets from source, git history and an error page, log everyone out
with an in-place rotation — then fix configuration and rotate with a keyring.

Every check works over HTTP. The app's repository comes as text from ``/api/_lab/repo``;
what must never leak is what the secrets manager holds (``/api/_lab/vault``); how the app
prints its settings is ``/api/_lab/config`` and ``/api/_lab/logs``; a restart with another
environment is ``POST /api/_lab/boot``; key operations are under ``/api/_lab/keys``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from labkit.attacks.jwt import decode_unverified, forge
from labkit.attacks.secret_scan import Finding, scan_patch, scan_text
from labkit.exercises.check import EXPECTED_CRASH, CheckContext, Findings, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.patterns.apikeys import generate_api_key

__all__ = ["LAB", "SESSIONS_PER_USER"]

LAB = LabDefinition("08-secrets", "08 · Secrets", "labkit.sandbox.apps.settings")

ME, ADMIN, EXPORT = "/api/me", "/api/admin/users", "/api/v1/export"
CRASH = "/api/stats/13-2024"  # not YYYY-MM: the stats route crashes
KEYS = "/api/_lab/keys"
SECRET_NAMES = ("JWT_SECRET", "EXPORT_API_KEY", "DATABASE_URL")
SESSIONS_PER_USER = 2  # a laptop and a phone each
MIN_ROTATION_VICTIMS = 3


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
    """Each secret and the password inside DATABASE_URL: none may ever be shown."""
    values = {name: vault[name] for name in SECRET_NAMES if name in vault}
    password = urlsplit(vault.get("DATABASE_URL", "")).password
    if password:
        values["the database password"] = password
    return values


def _leaked(text: str, values: dict[str, str]) -> list[str]:
    return [name for name, value in values.items() if value and value in text]


def _is_token(answer: Any) -> bool:
    return isinstance(answer, str) and answer.count(".") == 2


def _not_a(kind: str, answer: Any) -> Verdict:
    return Verdict(False, f"expected {kind}, got {type(answer).__name__}")


def _run(battery: Callable[[httpx.Client, Findings], None], client: httpx.Client,
         findings: Findings) -> None:  # fmt: skip
    try:
        battery(client, findings)
    except AppBroken as exc:
        findings.fail(str(exc))


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
        "repo = lab.client.get('/api/_lab/repo').json()['path'] is a real git repository.",
        "secret_scan.scan_tree(repo) scans the current files; read app/export.py.",
        "Try the key as X-API-Key on GET /api/v1/export and hand it in.",
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
        "The current config.py reads the environment; the *history* may not. "
        "secret_scan.scan_git_history(repo), or git log -p in a terminal.",
        "A commit added .env, a later one deleted it: the deleted file is still in history.",
        "Log in as carol, copy her token's header and claims, set role 'admin' and sub '1', "
        "sign with the secret: labkit.attacks.jwt.forge(header, claims, secret.encode()).",
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
        "Make the app crash: GET /api/stats/{month} expects YYYY-MM.",
        "The 500 page is HTML: look at its Environment table.",
        "Hand in the value of JWT_SECRET as a string.",
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


# -- fixes: configuration ----------------------------------------------------------------
def _good_env() -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "JWT_SECRET": secrets.token_urlsafe(32),
        "EXPORT_API_KEY": generate_api_key(),
        "DATABASE_URL": f"postgresql://notes:{secrets.token_urlsafe(12)}@db:5432/notes",
    }


def _bad_envs() -> list[tuple[str, dict[str, str]]]:
    good = _good_env()

    def without(name: str) -> dict[str, str]:
        return {k: v for k, v in good.items() if k != name}

    short = secrets.token_urlsafe(15)  # 20 characters: sensitive, and too short
    return [
        ("JWT_SECRET missing", without("JWT_SECRET")),
        ("JWT_SECRET empty", {**good, "JWT_SECRET": ""}),
        ("JWT_SECRET='changeme'", {**good, "JWT_SECRET": "changeme"}),
        (f"a {len(short)}-character JWT_SECRET", {**good, "JWT_SECRET": short}),
        ("JWT_SECRET='changeme' * 4 (32 characters)", {**good, "JWT_SECRET": "changeme" * 4}),
        ("EXPORT_API_KEY missing", without("EXPORT_API_KEY")),
        ("DATABASE_URL missing", without("DATABASE_URL")),
        ("DEBUG=true with APP_ENV=production", {**good, "DEBUG": "true"}),
    ]


def _boot(client: httpx.Client, env: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/_lab/boot", json={"env": env})
    if response.status_code != 200:
        raise AppBroken(f"the boot route answered {response.status_code}{_fault(response)}")
    return dict(response.json())


def _fail_fast_battery(client: httpx.Client, findings: Findings) -> None:
    good = _good_env()
    started = _boot(client, good)
    if not findings.expect(
        started["started"],
        f"a good production environment did not start: {started['error']}",
        "a good production environment starts",
    ):
        return
    hexed = _boot(client, {**good, "JWT_SECRET": secrets.token_hex(32)})
    findings.expect(
        hexed["started"],
        f"a 64-hex-digit JWT_SECRET (256 random bits) was refused: {hexed['error']}",
    )
    refused = 0
    for label, env in _bad_envs():
        outcome = _boot(client, env)
        if outcome["started"]:
            findings.fail(f"the app starts with {label}: refuse it at startup")
            continue
        refused += 1
        echoed = [env[k] for k in SECRET_NAMES if len(env.get(k, "")) >= 8 and env[k] in
                  outcome["error"]]  # fmt: skip
        findings.expect(
            not echoed,
            f"refusing {label}, the error message repeats a value from the environment "
            "(pydantic: model_config = ConfigDict(hide_input_in_errors=True))",
        )
    findings.saw(f"{refused} broken environments refused at startup, with no value repeated")


def _printing_battery(client: httpx.Client, findings: Findings) -> None:
    values = _secret_values(_vault(client))
    _login(client, _accounts(client)[0])  # the app works, and logs a login
    good = _good_env()
    _boot(client, good)  # the log line for a fresh config must be masked too
    shown = client.get("/api/_lab/config").json()
    places = {
        "repr(settings)": shown["repr"],
        "str(settings) / f-strings": shown["str"],
        **{f"str(settings.{name})": text for name, text in shown["fields"].items()},
    }
    lines = client.get("/api/_lab/logs").json()["lines"]
    places["the app's log"] = "\n".join(lines)
    everything = {**values, **{f"{k} (booted)": v for k, v in _secret_values(good).items()}}
    clean = True
    for where, text in places.items():
        leaks = _leaked(text, everything)
        if leaks:
            clean = False
            findings.fail(f"{where} shows {', '.join(leaks)}")
    if clean:
        findings.saw(f"no secret in repr, str, the settings' fields or {len(lines)} log lines")


def _error_page_battery(client: httpx.Client, findings: Findings) -> None:
    values = _secret_values(_vault(client))
    page = client.get(CRASH, headers=EXPECTED_CRASH)
    findings.expect(page.status_code == 500, f"{CRASH} answered {page.status_code}, not 500")
    leaks = _leaked(page.text, values)
    findings.expect(
        not leaks,
        f"the error page shows {', '.join(leaks)}: turn DEBUG off (and default it to off)",
    )
    findings.expect(
        "Traceback" not in page.text,
        "the error page shows a traceback: the client needs an error id, not your code",
        "a 500 shows no secret and no traceback",
    )
    ok = client.get("/api/stats/2024-05")
    findings.expect(ok.status_code == 200, f"GET /api/stats/2024-05 got {ok.status_code}")


@LAB.check(
    "fail-fast",
    title="Refuse to start with a missing or weak secret",
    kind="fix",
    fixes=("load_settings",),
    hints=(
        "Validate everything inside load_settings: when it returns, the config is good.",
        "Missing or empty, under 32 characters, a placeholder word, or under 3 bits of "
        "entropy per character: raise. DEBUG on with APP_ENV=production: raise.",
        "pydantic repeats the input in its error message unless model_config sets "
        "hide_input_in_errors=True.",
    ),
)
def fail_fast(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(_fail_fast_battery, client, findings)
    return findings.verdict("a bad configuration never starts", "a bad configuration starts")


@LAB.check(
    "never-printed",
    title="Secrets never print: repr, str, fields, logs",
    kind="fix",
    fixes=("load_settings",),
    hints=(
        "Make every secret a pydantic SecretStr (or a type of your own that hides itself).",
        "Check repr(settings), str(settings), f'{settings.jwt_secret}' in a cell.",
        "A custom __repr__ on the settings class is not enough: fields print one by one.",
    ),
)
def never_printed(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(_printing_battery, client, findings)
    return findings.verdict("no secret prints anywhere", "a secret prints")


@LAB.check(
    "error-page",
    title="A 500 shows no secret",
    kind="fix",
    fixes=("load_settings",),
    hints=(
        "The app shows its debug page when settings.debug is true.",
        "DEBUG must default to off: read it from the environment, default False.",
    ),
)
def error_page(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(_error_page_battery, client, findings)
    return findings.verdict("errors tell the client nothing", "the error page leaks")


@LAB.check(
    "scan-clean",
    title="A secret scan of the committed code finds nothing",
    kind="fix",
    hints=(
        "Rewrite app/config.py and app/export.py in the lab's repository so they read every "
        "secret from the environment (no fallback values), add a .env.example, commit.",
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
        head, history = _repo_findings(client)
    if not repo["head"].startswith(commit):
        return Verdict(False, f"{commit[:12]} is not the last commit ({repo['head'][:12]}): "
                              "commit your fix, and hand in its id")  # fmt: skip
    findings = Findings()
    findings.expect(
        not head,
        f"the last commit still holds {len(head)} suspected secret(s): "
        + "; ".join(str(f) for f in head[:4]),
        f"the scanner finds nothing in the {len(repo['files'])} files of your commit",
    )
    kept = {"app/config.py": "jwt_secret", "app/export.py": "export_api_key"}
    for path, name in kept.items():
        findings.expect(
            name in repo["files"].get(path, "").lower(),
            f"{path} no longer mentions {name.upper()}: keep the name, drop the value",
        )
    if history:
        findings.saw(
            f"git history still holds {len(history)} finding(s): every clone has them, so "
            "those secrets must be rotated"
        )
    return findings.verdict("the code is clean (the history is not)", "a secret is still there")


# -- fixes: rotation ---------------------------------------------------------------------
def _rotation_battery(client: httpx.Client, findings: Findings) -> None:
    accounts = _accounts(client)
    sessions = [_login(client, a) for a in accounts for _ in range(SESSIONS_PER_USER)]
    n = len(sessions)
    first_kid = client.get(KEYS).json()["activeKid"]
    kids = {_kid(t) for t in sessions}
    if not findings.expect(
        kids == {first_kid},
        f"tokens name key {sorted(map(str, kids))}, the active key is {first_kid!r}: put "
        "keyring.active_kid in the kid header",
    ):
        return
    if not findings.expect(
        all(_alive(client, sessions)),
        _me_problem(client, sessions[0]),
        f"{n} sessions, every token names its key ({first_kid})",
    ):
        return
    new_kid = client.post(f"{KEYS}/new").json()["kid"]
    alive = sum(_alive(client, sessions))
    findings.expect(alive == n, f"steps 1–2 (new key added) logged out {n - alive} of {n}")
    early = _login(client, accounts[0])
    findings.expect(
        _kid(early) == first_kid,
        f"in step 2 a new token is signed with {_kid(early)!r}, a key that is not active yet: "
        "sign with keyring.active_kid",
    )
    client.post(f"{KEYS}/promote")
    alive = sum(_alive(client, sessions))
    findings.expect(
        alive == n,
        f"step 3 (sign with the new key) logged out {n - alive} of {n} sessions: verify with "
        "the key the token names (kid), among every key that is not retired",
        f"step 3: {alive} of {n} sessions signed with the old key still work — nobody logged out",
    )
    fresh = _login(client, accounts[0])
    findings.expect(
        _kid(fresh) == new_kid and all(_alive(client, [fresh])),
        f"after step 3 a new login gives a token for key {_kid(fresh)!r} (expected {new_kid!r})"
        f" that {'works' if all(_alive(client, [fresh])) else 'does not work'}",
        "new logins are signed with the new key",
    )
    leaked = _vault(client)["JWT_SECRET"]  # the first key: what leaked through git
    forged_old = _forge_like(sessions[0], leaked, **_admin_claims())
    uses = {k["kid"]: k["uses"] for k in client.get(KEYS).json()["keys"]}
    findings.saw(f"step 4: the old key verified {uses.get(first_kid, 0)} requests so far")
    client.post(f"{KEYS}/retire")
    alive = sum(_alive(client, sessions))
    findings.expect(
        alive == 0,
        f"after step 5 (retire) {alive} of {n} old-key tokens still work: refuse retired keys",
        f"step 5: all {n} old-key tokens refused after retirement",
    )
    findings.expect(all(_alive(client, [fresh])), "after step 5 a new-key token fails")
    attempts = {
        "a token forged with the retired (leaked) key": forged_old,
        "the retired key under the new kid": _forge_like(fresh, leaked, **_admin_claims()),
        "an unknown kid": forge({**decode_unverified(fresh)[0], "kid": "k-attacker"},
                                _admin_claims(), secrets.token_bytes(32)),
        "alg none": forge({**decode_unverified(fresh)[0], "alg": "none"}, _admin_claims()),
    }  # fmt: skip
    accepted = [label for label, token in attempts.items() if any(_alive(client, [token]))]
    findings.expect(
        not accepted,
        f"accepted after retirement: {', '.join(accepted)}",
        "forged tokens (retired key, unknown kid, alg none) refused",
    )


def _me_problem(client: httpx.Client, token: str) -> str:
    response = client.get(ME, headers=_bearer(token))
    return f"login → /api/me fails before any rotation ({response.status_code}){_fault(response)}"


@LAB.check(
    "rotation",
    title="Rotate the signing key in five steps: nobody logged out, old key refused after",
    kind="fix",
    fixes=("sign_token", "verify_token"),
    hints=(
        "sign_token: sign with keyring.keys[keyring.active_kid] and put its kid in the header.",
        "verify_token: read the kid (jwt.get_unverified_header), pick that key from "
        "keyring.keys, refuse it unless its status is next, active or previous.",
        "Return None for every bad token (catch jwt.InvalidTokenError); never trust the "
        "token's alg: algorithms=['HS256'].",
    ),
)
def rotation(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(_rotation_battery, client, findings)
    return findings.verdict(
        "the key rotated with nobody logged out, and the old key is dead",
        "the rotation went wrong",
    )


# -- verify: the whole battery -----------------------------------------------------------
def _replay_leaks(client: httpx.Client, findings: Findings) -> None:
    """The attacker's moves against the fixed app: source, history, legitimate use."""
    head, history = _repo_findings(client)
    source_keys = [f.secret for f in head if f.rule == "labkit API key"]
    used = [k for k in source_keys if client.get(EXPORT, headers={"X-API-Key": k}).status_code
            == 200]  # fmt: skip
    findings.expect(
        not used,
        "the API key written in the source still works: read EXPORT_API_KEY from the "
        "environment (the vault holds a new one)",
        "the key from the source is refused",
    )
    vault = _vault(client)
    legit = client.get(EXPORT, headers={"X-API-Key": vault["EXPORT_API_KEY"]})
    findings.expect(
        legit.status_code == 200,
        f"the reporting job's key from the vault got {legit.status_code}{_fault(legit)}",
        "the reporting job's key from the vault works",
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
    )


def _after_rotation_battery(client: httpx.Client, findings: Findings) -> None:
    """Once the leaked key is retired, a token forged with it opens nothing."""
    leaked = _vault(client)["JWT_SECRET"]
    real = _login(client, _accounts(client)[-1])
    forged = _forge_like(real, leaked, **_admin_claims())
    findings.expect(
        client.get(ADMIN, headers=_bearer(forged)).status_code == 401,
        "a token forged with the secret from git history still works after the rotation",
        "the secret from git history forges nothing any more",
    )


@LAB.check(
    "verify",
    title="Replay every attack against your fixes",
    kind="fix",
    fixes=("load_settings", "sign_token", "verify_token"),
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
            _run(battery, client, findings)
    return findings.verdict(
        "every leak is closed, the leaked key is retired, and nobody was logged out",
        "an attack still works or a legitimate flow broke",
    )
