# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 08 · Secrets — configuration and rotation
#
# *Workflow step 4: configure secrets management.* Standards and references:
# [OWASP Secrets Management Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Secrets_Management_Cheat_Sheet.html)
# (§ 2.5 Rotation, § 3.3 Detection, § 4 CI/CD), OWASP ASVS 5.0 V13.3 (secret management: secrets
# kept out of source code, in a vault, rotated), the
# [OWASP Error Handling Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Error_Handling_Cheat_Sheet.html),
# CWE-798 (hard-coded credentials), CWE-215 (information exposure through debug information),
# [RFC 7515 §4.1.4](https://www.rfc-editor.org/rfc/rfc7515#section-4.1.4) (the `kid` header),
# [RFC 7518 §3.2](https://www.rfc-editor.org/rfc/rfc7518#section-3.2) (an HS256 key has at least
# 256 bits) and [the twelve-factor app, III. Config](https://12factor.net/config).
#
# The lab app is **TeamNotes**, a small API. Its signing secret, its database password and the
# reporting team's API key have all leaked — through the source, through git history and through
# an error page. And the one time the team rotated the signing key, every user was logged out,
# so they never did it again. You will collect every leak, then fix the configuration and rotate
# the key so that nobody notices.

# %%
import re
import subprocess
from pathlib import Path

import jwt
import matplotlib.pyplot as plt

import labkit

lab = labkit.open_lab("08-secrets")
lab

# %% [markdown]
# ## Learn
#
# A secret is any value that grants access: a signing key, a database password, an API key. The
# code may know a secret's **name**; only the running environment knows its **value**. The
# catalogue's pattern, in Python:
#
# ```python
# from dotenv import load_dotenv
# import os
# load_dotenv()
# api_key = os.getenv("API_KEY")
# db_url = os.getenv("DATABASE_URL")
# ```
#
# That is the right start, and it leaves three gaps this lab closes:
#
# - **`os.getenv` returns `None`** for a missing variable, and nothing checks a weak one. The app
#   starts, and fails (or, worse, works insecurely) at first use. Check everything **at
#   startup** and refuse to start: *fail fast*.
# - **A string prints.** `print(settings)`, a log line, an error report, a debug page — each
#   copies the value somewhere with far weaker protection than the vault. A secret type
#   (pydantic's `SecretStr`) prints `**********` and gives the value only to
#   `get_secret_value()`.
# - **A secret that leaked must be changed,** and changing a signing key the naive way logs
#   everyone out. The catalogue's five steps avoid that:
#
# 1. Generate new secret value
# 2. Deploy code that accepts BOTH old and new values
# 3. Update all consumers to use the new value
# 4. Verify old value is no longer in use
# 5. Revoke old value
#
# *Never: rotate in-place without a transition period.* In production the values live in a
# secrets manager (HashiCorp Vault, AWS Secrets Manager, Azure Key Vault, GCP Secret Manager),
# which injects them as environment variables or files; `.env` files are for a developer's
# laptop and are never committed.

# %% [markdown]
# ## Attack 1 — a key in the source
#
# The lab app's repository is a real git repository on this machine. Clone-level access to
# source code is common: contractors, CI systems, a leaked laptop, a repository made public by
# mistake. Here are its history and its files:

# %%
repo = Path(lab.client.get("/api/_lab/repo").json()["path"])


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


print(git("log", "--format=%h %ad %s", "--date=short"))
print(git("ls-files"))

# %% [markdown]
# Secret scanners (gitleaks, detect-secrets, trufflehog) are mostly regular expressions: a
# known key format, or a name like `*_KEY` / `*_SECRET` assigned a long literal. Write your
# own search over the current files (everything under `repo` but `.git/`), print what it
# finds — the first characters only: a finding in a log is a leak too — and find the API key
# that `GET /api/v1/export` accepts in its `X-API-Key` header. Success: the export answers
# 200 with the users. Keep the key in `source_key`.

# %% labkit={"answer": "hardcoded-key"}
### BEGIN SOLUTION
ASSIGNED = re.compile(r"""(\w*(?:KEY|SECRET|TOKEN|PASSWORD)\w*)\s*=\s*["']([^"']{16,})["']""")
found = {}
for path in sorted(repo.rglob("*")):
    if ".git" in path.relative_to(repo).parts or not path.is_file():
        continue
    for name, value in ASSIGNED.findall(path.read_text(errors="replace")):
        print(f"{path.relative_to(repo)}: {name} = {value[:8]}...")
        found[name] = value
for name, value in found.items():
    export = lab.client.get("/api/v1/export", headers={"X-API-Key": value})
    if export.status_code == 200:
        source_key = value
        print(f"{name} opens the export:", export.json()["users"][:2])
### STUB
source_key = None  # TODO: the API key written in the source
### END SOLUTION

# %% labkit={"check": "hardcoded-key"}
lab.check("hardcoded-key", source_key)

# %% [markdown]
# ## Attack 2 — a secret in git history
#
# The current `app/config.py` reads `JWT_SECRET` from the environment. But a repository holds
# every version of every file: `git log -p` prints each commit's changes, including files that
# were deleted later.

# %%
print(git("log", "--stat", "--format=%n%h %s"))

# %% [markdown]
# Someone committed `.env` and deleted it the next day — the secret is still one `git show`
# away, and the app still signs its tokens with it (HS256). Log in as carol (a viewer) and read
# her token:

# %%
carol = lab.client.post(
    "/api/auth/login", json={"email": "carol@example.com", "password": lab.users["carol"].password}
).json()["accessToken"]
header, claims = jwt.get_unverified_header(carol), jwt.decode(carol, options={"verify_signature": False})
print(header, claims)

# %% [markdown]
# Search the whole history (`git("log", "-p", "--all")`, the added lines start with `+`) for
# the signing secret, then mint yourself an admin token with it: carol's claims, user `"1"`,
# role `"admin"`, signed with PyJWT. Success: `/api/admin/users` answers 200 with the user
# list. Keep the token in `forged`.

# %% labkit={"answer": "git-history"}
### BEGIN SOLUTION
patches = git("log", "-p", "--all")
candidates = set(re.findall(r"""^\+\s*JWT_SECRET\s*=\s*["']?([\w-]{16,})["']?\s*(?:#.*)?$""", patches, re.M))
print(len(candidates), "value(s) of JWT_SECRET in history:", [c[:8] + "..." for c in candidates])
for history_secret in candidates:
    forged = jwt.encode({**claims, "sub": "1", "role": "admin"}, history_secret, algorithm="HS256")
    answer = lab.client.get("/api/admin/users", headers={"Authorization": f"Bearer {forged}"})
    if answer.status_code == 200:
        print(answer.json())
        break
### STUB
forged = None  # TODO: an admin token signed with the secret from history
### END SOLUTION

# %% labkit={"check": "git-history"}
lab.check("git-history", forged)

# %% [markdown]
# ## Attack 3 — the debug page
#
# `GET /api/stats/{month}` expects `YYYY-MM`. Send it something else: the app crashes, and
# because `DEBUG` is on (it defaults to on), the framework answers with its friendly debug page
# — traceback, settings and the whole environment. This is the Django `DEBUG = True` and
# Laravel `APP_DEBUG=true` leak that search engines and scanners find every day.
#
# Make the app crash with one request, look at what comes back, and read `JWT_SECRET` off the
# page (it is HTML: its last tables are *Settings* and *Environment*). Success: the value you
# read is on the page and signs the app's tokens. Keep it in `page_secret`.

# %% labkit={"answer": "debug-page"}
### BEGIN SOLUTION
page = lab.client.get("/api/stats/2024-13")
print(page.status_code, page.headers["content-type"])
print(re.sub(r"<[^>]+>", " ", page.text)[:300], "...")
rows = dict(re.findall(r"<tr><th>(\w+)</th><td>([^<]*)</td></tr>", page.text))
page_secret = rows["JWT_SECRET"]
### STUB
page_secret = None  # TODO: the JWT_SECRET shown on the error page
### END SOLUTION

# %% labkit={"check": "debug-page"}
lab.check("debug-page", page_secret)

# %% [markdown]
# ## Attack 4 — rotating in place logs everyone out
#
# The secret leaked three ways, so it must change. The team's runbook says: generate a new
# key, restart with it. Everybody is logged in twice (a laptop and a phone). Count the live
# sessions, rotate the old way (`POST /api/_lab/keys/rotate`), count again, and keep the tokens
# that were live before in `logged_out`.


# %%
def log_in(client, email: str, password: str) -> str | None:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    return response.json()["accessToken"] if response.status_code == 200 else None


def alive(client, tokens) -> int:
    return sum(client.get("/api/me", headers={"Authorization": f"Bearer {t}"}).status_code == 200
               for t in tokens if t)  # fmt: skip


sessions = [log_in(lab.client, u.email, u.password) for u in lab.users.values() for _ in "ab"]
before = alive(lab.client, sessions)
print(f"{before} live sessions")

# %% labkit={"answer": "rotate-in-place"}
### BEGIN SOLUTION
print(lab.client.post("/api/_lab/keys/rotate").json())
after = alive(lab.client, sessions)
logged_out = sessions
### STUB
after = before
logged_out = None  # TODO: rotate in place, then hand in the tokens that were live before
### END SOLUTION

# %%
fig, ax = plt.subplots(figsize=(5, 2.6))
ax.bar(["before", "after in-place rotation"], [before, after], color=["#1a7f37", "#cf222e"])
ax.set_ylabel("live sessions")
ax.set_title("One in-place key rotation")
plt.tight_layout()
plt.show()

# %% labkit={"check": "rotate-in-place"}
lab.check("rotate-in-place", logged_out)

# %% [markdown]
# ## Fix 1 — settings that fail fast and never print
#
# Write `Settings` (a pydantic model) and `load_settings(env)`. The app calls
# `load_settings(env)` once at startup with its environment (a dict; in a real app it defaults
# to `os.environ`) and reads `settings.jwt_secret`, `settings.export_api_key`,
# `settings.database_url`, `settings.debug` and `settings.app_env`. `ENV_NAMES` maps each
# variable to its field.
#
# - The three secrets are `SecretStr`. The app reads them with `get_secret_value()`.
# - All three are **required**: no default, and never a fallback value in the code.
# - `JWT_SECRET` and `EXPORT_API_KEY` are refused when shorter than 32 characters, when they
#   contain a placeholder word (`PLACEHOLDER_WORDS`) or when they carry less than 3 bits of
#   entropy per character (`entropy_per_char`) — `"changeme" * 4` is 32 characters of nothing.
# - `DATABASE_URL` must contain `://`.
# - `debug` defaults to **False** (`DEBUG=false` is off too: the *string* `"false"` is truthy,
#   so parse it — pydantic's `bool` does), and `DEBUG` on with `APP_ENV=production` is an error.
# - Every error is raised by `load_settings` itself, at startup — not at first use.
# - **pydantic copies the rejected input into its error message** (`input_value='...'`),
#   which ends up in logs and crash reports. `model_config = ConfigDict(hide_input_in_errors=True)`
#   stops that; your own messages must not quote the value either.
# - The environment holds other variables too (`LOG_LEVEL`, `PORT`...): ignore them.
#
# <!-- labkit:rules fail-fast -->
#
# In a real project, [pydantic-settings](https://docs.pydantic.dev/latest/concepts/pydantic_settings/)'
# `BaseSettings` reads the environment and `.env` for you (real variables win over the file);
# here the lab hands the environment in, so the checks can start your code with any
# configuration.

# %%
import math
import os
from collections import Counter
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

ENV_NAMES = {"APP_ENV": "app_env", "DEBUG": "debug", "JWT_SECRET": "jwt_secret",
             "EXPORT_API_KEY": "export_api_key", "DATABASE_URL": "database_url"}  # fmt: skip
PLACEHOLDER_WORDS = ("changeme", "change-me", "secret", "password", "example")


def entropy_per_char(text: str) -> float:
    """Shannon entropy of ``text``, in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) if text else 0.0


# %% labkit={"answer": "fail-fast"}
class Settings(BaseModel):
    ### BEGIN SOLUTION
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    app_env: Literal["development", "production"] = "production"
    debug: bool = False
    jwt_secret: SecretStr
    export_api_key: SecretStr
    database_url: SecretStr

    @field_validator("jwt_secret", "export_api_key")
    @classmethod
    def strong(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if len(secret) < 32:
            raise ValueError("needs at least 32 random characters")
        if any(word in secret.lower() for word in PLACEHOLDER_WORDS):
            raise ValueError("is a placeholder")
        if entropy_per_char(secret) < 3.0:
            raise ValueError("is not random enough")
        return value

    @field_validator("database_url")
    @classmethod
    def url(cls, value: SecretStr) -> SecretStr:
        if "://" not in value.get_secret_value():
            raise ValueError("is not a URL")
        return value

    @model_validator(mode="after")
    def no_debug_in_production(self) -> "Settings":
        if self.debug and self.app_env == "production":
            raise ValueError("DEBUG must be off in production")
        return self

    ### STUB
    pass  # TODO: the five fields (secrets as SecretStr), validators, model_config
    ### END SOLUTION


def load_settings(env=None):
    """Settings from ``env`` (default ``os.environ``); raises at once if anything is wrong."""
    ### BEGIN SOLUTION
    env = os.environ if env is None else env
    return Settings(**{field: env[name] for name, field in ENV_NAMES.items() if name in env})
    ### END SOLUTION


# %% [markdown]
# Try it: a weak secret must be refused *without* the value appearing in the message, and a
# good configuration must print nothing secret.

# %%
import secrets

weak = {"APP_ENV": "production", "JWT_SECRET": secrets.token_urlsafe(12), "DATABASE_URL": "x"}
try:
    load_settings(weak)
except Exception as exc:
    print(type(exc).__name__, exc)
    print("value repeated in the message:", weak["JWT_SECRET"] in str(exc))
good = {"APP_ENV": "production", "JWT_SECRET": secrets.token_urlsafe(32),
        "EXPORT_API_KEY": secrets.token_urlsafe(32), "DATABASE_URL": "postgresql://u:p@db/x"}  # fmt: skip
try:
    print(load_settings(good))
except Exception as exc:
    print(type(exc).__name__, exc)

# %% [markdown]
# Three checks start the app with your `load_settings`. The first restarts it (dry run,
# `POST /api/_lab/boot`) with broken environments generated afresh each run — missing, empty,
# short, placeholder and repetitive secrets, a `DATABASE_URL` without `://`, `DEBUG` on in
# production — and good ones:

# %% labkit={"check": "fail-fast"}
lab.check("fail-fast", load_settings=load_settings)

# %% [markdown]
# The second looks everywhere the app prints its settings — `repr`, `str`, each field, the log
# — for the values the vault holds (any 8 characters of one in a row count):
#
# <!-- labkit:rules never-printed -->

# %% labkit={"check": "never-printed"}
lab.check("never-printed", load_settings=load_settings)

# %% [markdown]
# The third crashes the app, as you did in Attack 3. With `DEBUG` off the client gets
# `{"error": "Internal server error", "incident": "..."}`; the details go to the server log,
# where the incident id finds them (OWASP Error Handling Cheat Sheet).
#
# <!-- labkit:rules error-page -->

# %% labkit={"check": "error-page"}
lab.check("error-page", load_settings=load_settings)

# %% [markdown]
# ## Fix 2 — clean the code, and see what that cannot fix
#
# Now fix the repository itself: `app/export.py` and `app/config.py` must read every secret
# from the environment, with **no fallback values** (`os.environ.get("JWT_SECRET", "dev-...")`
# is a hard-coded secret with extra steps), `DEBUG` must default to off, and a `.env.example`
# with empty values documents what to set. Commit, and hand in the commit's id in `fix_commit`:
# the check scans your commit the way CI would on every push (the OWASP cheat sheet § 4;
# detect-secrets, gitleaks, GitHub push protection) — and also looks for every secret it knows
# (the vault's, the history's) in base64, hex, reversed or cut into pieces: hiding a key from
# the scanner does not remove it. Notebooks get committed too: a key pasted into a cell is a
# leak like any other.
#
# <!-- labkit:rules scan-clean -->


# %% labkit={"answer": "scan-clean"}
### BEGIN SOLUTION
def rewrite(path: str, new_lines: dict[str, str]) -> None:
    """Replace every line that starts with a key of ``new_lines`` by its value."""
    file = repo / path
    lines = [next((new for start, new in new_lines.items() if line.startswith(start)), line)
             for line in file.read_text().splitlines()]  # fmt: skip
    file.write_text("\n".join(lines) + "\n")


rewrite("app/export.py", {
    "from fastapi": "import os\n\nfrom fastapi import Header, HTTPException",
    "EXPORT_API_KEY =": 'EXPORT_API_KEY = os.environ["EXPORT_API_KEY"]',
})  # fmt: skip
rewrite("app/config.py", {
    "JWT_SECRET =": 'JWT_SECRET = os.environ["JWT_SECRET"]',
    "DEBUG =": 'DEBUG = os.environ.get("DEBUG", "false").lower() == "true"',
})  # fmt: skip
(repo / ".env.example").write_text(
    "APP_ENV=production\nJWT_SECRET=\nEXPORT_API_KEY=\nDATABASE_URL=\n"
)
git("add", "-A")
git("commit", "-q", "-m", "Secrets come from the environment only")
from labkit.attacks import secret_scan  # the scanner CI would run

print(secret_scan.scan_tree(repo), len(secret_scan.scan_git_history(repo)), "findings in history")
fix_commit = git("rev-parse", "HEAD").strip()
### STUB
fix_commit = None  # TODO: fix the two files, add .env.example, commit; the commit's id
### END SOLUTION

# %% labkit={"check": "scan-clean"}
lab.check("scan-clean", fix_commit)

# %% [markdown]
# The last commit is clean; every earlier one still holds the secrets, and so does every clone,
# fork and CI cache. Rewriting history (`git filter-repo`) helps new clones only. **A secret that
# reached a repository is compromised: rotate it.** The export key is easy — one client, so
# ops issued a new one with the move to the environment (the vault's `EXPORT_API_KEY`). The
# signing key is harder: every logged-in user holds a token signed with it.
#
# ## Fix 3 — rotate the signing key without logging anyone out
#
# The app keeps its signing keys in a **keyring**: `keyring.keys` maps each key id (`kid`) to a
# key with `.secret` (`SecretBytes`: `.get_secret_value()` gives the bytes) and `.status`;
# `keyring.active_kid` names the key that signs. The operator's steps change the statuses:
#
# | step | route | statuses |
# | --- | --- | --- |
# | 1–2 generate, accept both | `POST /api/_lab/keys/new` | new key `next` (verifies, does not sign) |
# | 3 sign with the new key | `POST /api/_lab/keys/promote` | new `active`, old `previous` |
# | 4 old key no longer used | `GET /api/_lab/keys` | watch `uses` / `lastUsedAt` of the old key |
# | 5 revoke the old key | `POST /api/_lab/keys/retire` | old `retired` |
#
# Write the code that makes step 2 true — "accepts BOTH old and new values":
#
# - `sign_token(claims, keyring) -> str`: HS256 with the active key, and its id in the
#   `kid` header (RFC 7515 §4.1.4), so a verifier knows which key to use.
# - `verify_token(token, keyring) -> dict | None`: read the `kid` from the (unverified) header,
#   take *that* key from `keyring.keys`, refuse it unless its status is `next`, `active` or
#   `previous`, and verify the signature with it — whatever its status — using
#   `algorithms=["HS256"]` (never the token's own `alg`), requiring `exp`, `iat` and `sub`.
#   Return the claims, or `None` for any bad token (never raise).
#
# The `kid` only *chooses among your keys*: never a file name, a URL or a key of its own (lab
# 02's `kid` and `jku` attacks).
#
# <!-- labkit:rules rotation -->


# %% labkit={"answer": "rotation"}
ACCEPTED = {"next", "active", "previous"}


def sign_token(claims: dict, keyring) -> str:
    ### BEGIN SOLUTION
    kid = keyring.active_kid
    secret = keyring.keys[kid].secret.get_secret_value()
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})
    ### END SOLUTION


def verify_token(token: str, keyring) -> dict | None:
    ### BEGIN SOLUTION
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = keyring.keys.get(kid) if isinstance(kid, str) else None
        if key is None or key.status not in ACCEPTED:
            return None
        return jwt.decode(token, key.secret.get_secret_value(), algorithms=["HS256"],
                          options={"require": ["exp", "iat", "sub"]})  # fmt: skip
    except jwt.InvalidTokenError:
        return None
    ### END SOLUTION


# %% [markdown]
# Watch the five steps on two apps: the vulnerable one (one key, no `kid`) and one running your
# two functions (`lab.patched(...)` starts it). The line is the number of sessions from *before*
# the rotation that still work.


# %%
def rotation_timeline(app) -> list[int]:
    client = app.client
    tokens = [log_in(client, u.email, u.password) for u in lab.users.values() for _ in "ab"]
    counts = [alive(client, tokens)]
    for step in ("new", "promote", "retire"):
        client.post(f"/api/_lab/keys/{step}")
        counts.append(alive(client, tokens))
    return counts


fixed = lab.patched(sign_token=sign_token, verify_token=verify_token)
steps = ["start", "1–2 new key", "3 promote", "5 retire"]
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(steps, rotation_timeline(lab.sandbox), "o-", color="#cf222e", label="one key, no kid")
ax.plot(steps, rotation_timeline(fixed), "o-", color="#1a7f37", label="keyring + kid (yours)")
ax.set_ylabel("old sessions still live")
ax.set_title("Five-step rotation")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The check logs six sessions in, runs the five steps, and after each one replays every token:
# nobody may be logged out until step 5, and after it every old-key token — including one an
# attacker forges with the leaked secret — must be refused. At every step it also sends admin
# tokens an attacker signed with a key of their own for each `kid` of the ring (and an unknown
# `kid`, and none), with `alg` `none`, `HS384` and `HS512`, and tokens without `exp` or `iat`.

# %% labkit={"check": "rotation"}
lab.check("rotation", sign_token=sign_token, verify_token=verify_token)

# %% [markdown]
# **The overlap is a window for the attacker, too.** While the leaked key is `previous`, tokens
# forged with it still pass. Keep the overlap as short as the longest token lifetime (15 minutes
# for these access tokens), then retire. If you know the key is being abused, retire it at once
# and accept the logouts: the transition period is for planned rotations.

# %% [markdown]
# ## Verify — replay every attack
#
# Your three functions together: the key from the source must fail and the vault's key work,
# nothing secret may print or show on an error page, broken configurations must not start, the
# key must rotate with nobody logged out — and afterwards a token forged with the secret from
# git history must open nothing. Your own loot goes in too: the key you found in Attack 1 and
# the admin token you minted in Attack 2 are replayed against your fixed app, and must now be
# refused.
#
# <!-- labkit:rules verify -->

# %%
my_attacks = {"Attack 1 (the key in the source)": source_key, "Attack 2 (the secret from history)": forged}

# %% labkit={"check": "verify"}
lab.check("verify", my_attacks, load_settings=load_settings, sign_token=sign_token, verify_token=verify_token)

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | Hardcoded secrets in code | Environment variables + secrets manager |
# | `os.getenv("X", "fallback")`, `None` at first use | required settings, checked at startup (fail fast) |
# | secrets as `str` (they print) | `SecretStr`; `hide_input_in_errors=True` |
# | `DEBUG` on by default | off by default, refused in production |
# | deleting a leaked file from git | rotating the secret (history is forever) |
# | Rotate in-place without a transition period | five steps with a keyring and `kid` |
#
# What a reviewer looks for in real code:
#
# - no literal secret anywhere — code, tests, notebooks, CI files, Dockerfiles — and a secret
#   scanner in CI and as a pre-commit hook; `.env` in `.gitignore`, a `.env.example` with empty
#   values;
# - one settings object, built and validated at startup; secret fields typed so they never print;
#   no fallbacks for secrets;
# - error pages that show an incident id, never tracebacks, settings or the environment;
# - every signing and encryption key with an id, a keyring that verifies with old and new,
#   a written rotation runbook, and the old key retired after the longest token lifetime;
# - a leaked secret treated as compromised: rotated first, history cleaned second.

# %%
labkit.progress()

# %%
lab.close()
