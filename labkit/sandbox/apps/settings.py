"""08-secrets: TeamNotes, an API whose secrets leaked through its code, its git history and its
error page — and whose signing key cannot be rotated without logging everyone out.

Routes: ``POST /api/auth/login {email,password}`` → ``{"accessToken"}``; ``GET /api/me`` →
``{"id","role"}``; ``GET /api/admin/users`` (admin); ``GET /api/v1/export`` (``X-API-Key``:
the reporting team's machine client); ``GET /api/stats/{month}`` (``YYYY-MM``; anything else
crashes it — a 500). 401 bodies ``{"error": "Missing token" | "Invalid token"}``, ``{"error":
"API key required" | "Invalid API key"}``; 403 ``{"error": "Insufficient permissions"}``.

Lab-only routes (``/api/_lab/...``) play what the lab needs from outside: ``repo`` (the app's
git repository: its path for real ``git``, HEAD, its files and ``git log -p``), ``vault`` (what the
secrets manager holds — checks search for these values), ``config`` (how the app prints its
settings), ``logs`` (its log lines), ``issued`` (SHA-256 of every token its login issued),
``accounts``, ``POST boot {"env"}`` (would the app start with this environment?), and the
key operations ``GET keys``, ``POST keys/new`` (steps 1–2), ``keys/promote`` (3),
``keys/retire`` (5) and ``keys/rotate`` (in place: the old runbook; 409 on the secure app), and
``POST keys/sign {"kid", "header", "claims"}``: a token signed with the ring's key ``kid``
whatever its status (what another replica, or a thief of that key, could sign), so a check
can probe every key state.

Replaceable parts: ``load_settings(env)``, ``sign_token(claims, keyring)`` and
``verify_token(token, keyring) -> dict | None``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import jwt
from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from labkit.attacks.jwt import forge
from labkit.patterns import passwords as secure_passwords
from labkit.patterns import settings as secure_settings
from labkit.patterns.apikeys import generate_api_key
from labkit.patterns.tokens import TokenError, bearer_token
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.fixes import FixFault, FixSlot, plug_fixes
from labkit.sandbox.store import LabStore
from labkit.vulnerable import settings as weak_settings

__all__ = ["SETTINGS_FIELDS", "SLOTS", "create_app", "deployment_env"]

TOKEN_TTL_S = secure_settings.TOKEN_TTL_S
LOG_LINES = 500
#: The settings attributes the app reads (the learner's object must have them).
SETTINGS_FIELDS = ("app_env", "debug", "jwt_secret", "export_api_key", "database_url")
SECRET_FIELDS = ("jwt_secret", "export_api_key", "database_url")

SLOTS = {
    "load_settings": FixSlot("load_settings", object, "load_settings(env: dict) -> settings"),
    "sign_token": FixSlot("sign_token", str, "sign_token(claims: dict, keyring) -> str"),
    "verify_token": FixSlot(
        "verify_token", (dict, type(None)), "verify_token(token: str, keyring) -> dict | None"
    ),
}


def deployment_env() -> dict[str, str]:
    """The production environment of one sandbox: fresh, strong secrets every time."""
    return {
        "APP_ENV": "production",
        "JWT_SECRET": secrets.token_urlsafe(32),
        "EXPORT_API_KEY": generate_api_key(),
        "DATABASE_URL": f"postgresql://notes:{secrets.token_urlsafe(18)}@db.internal:5432/notes",
        "LOG_LEVEL": "info",
        "PORT": "8000",
        "TZ": "UTC",
    }


# -- the app's source repository (real git, in a temp dir) ---------------------------------
_AUTHOR = {"GIT_AUTHOR_NAME": "Dana Okafor", "GIT_AUTHOR_EMAIL": "dana@teamnotes.example"}
_README = "# TeamNotes API\n\nNotes for small teams. `uvicorn app.main:app`.\n"
_MAIN = '''"""TeamNotes API."""
from fastapi import FastAPI

from app import config

app = FastAPI(debug=config.DEBUG)
'''


def _leaky_history(values: Mapping[str, str]) -> list[tuple[str, str, dict[str, str | None]]]:
    """(date, message, {path: text or None to delete}) — how the vulnerable repo grew."""
    jwt_secret, db_url = values["JWT_SECRET"], values["DATABASE_URL"]
    return [
        ("2024-01-08T10:12:00", "TeamNotes API: first version", {
            "README.md": _README,
            "app/__init__.py": "",
            "app/main.py": _MAIN,
            "app/config.py": (
                '"""TeamNotes configuration."""\n\n'
                f'JWT_SECRET = "{jwt_secret}"  # TODO: move to env before launch\n'
                "DEBUG = True\n"
                'DATABASE_URL = "sqlite:///notes.db"\n'
            ),
        }),
        ("2024-02-12T16:40:00", "Export endpoint for the reporting team's nightly job", {
            "app/export.py": (
                '"""GET /api/v1/export: the reporting team\'s cron job pulls every note."""\n'
                "from fastapi import Header, HTTPException\n\n"
                "# the reporting team's cron job sends this key\n"
                f'EXPORT_API_KEY = "{values["HARDCODED_EXPORT_API_KEY"]}"\n\n\n'
                "def check_export_key(x_api_key: str = Header()) -> None:\n"
                "    if x_api_key != EXPORT_API_KEY:\n"
                "        raise HTTPException(401, \"Invalid API key\")\n"
            ),
        }),
        ("2024-03-04T09:05:00", "Security review: configuration from environment variables", {
            "app/config.py": (
                '"""TeamNotes configuration, from the environment (see .env)."""\n'
                "import os\n\nfrom dotenv import load_dotenv\n\nload_dotenv()\n\n"
                'JWT_SECRET = os.environ.get("JWT_SECRET", "dev-secret-change-me")\n'
                'DEBUG = os.environ.get("DEBUG", "true").lower() != "false"\n'
                'DATABASE_URL = os.environ["DATABASE_URL"]\n'
            ),
            ".env": f"APP_ENV=production\nJWT_SECRET={jwt_secret}\nDATABASE_URL={db_url}\n",
        }),
        ("2024-03-05T08:30:00", "Remove .env: secrets do not belong in git", {
            ".env": None,
            ".gitignore": ".env\n__pycache__/\n",
        }),
    ]  # fmt: skip


def _clean_history() -> list[tuple[str, str, dict[str, str | None]]]:
    """The secure repo: names in the code, placeholders in .env.example, .env ignored."""
    return [
        ("2024-01-08T10:12:00", "TeamNotes API: settings from the environment", {
            "README.md": _README + "\nCopy `.env.example` to `.env` (never committed).\n",
            ".gitignore": ".env\n__pycache__/\n",
            ".env.example": (
                "APP_ENV=production\n"
                "# 32+ random characters: secrets.token_urlsafe(32), kept in the vault\n"
                "JWT_SECRET=\n"
                "EXPORT_API_KEY=\n"
                "DATABASE_URL=postgresql://notes:<password>@db.internal:5432/notes\n"
            ),
            "app/__init__.py": "",
            "app/main.py": _MAIN.replace("config.DEBUG", "config.settings.debug"),
            "app/config.py": (
                '"""TeamNotes configuration: names here, values in the environment."""\n'
                "from labkit.patterns.settings import load_settings\n\n"
                'settings = load_settings(env_file=".env")  # fails fast when weak or missing\n'
            ),
            "app/export.py": (
                '"""GET /api/v1/export: the reporting team\'s cron job pulls every note."""\n'
                "import hmac\n\nfrom fastapi import Header, HTTPException\n\n"
                "from app.config import settings\n\n\n"
                "def check_export_key(x_api_key: str = Header()) -> None:\n"
                "    expected = settings.export_api_key.get_secret_value()\n"
                "    if not hmac.compare_digest(x_api_key, expected):\n"
                "        raise HTTPException(401, \"Invalid API key\")\n"
            ),
        }),
    ]  # fmt: skip


class SourceRepo:
    """The app's git repository, built on first use in a temp dir with real ``git``."""

    def __init__(self, history: list[tuple[str, str, dict[str, str | None]]]) -> None:
        self._history = history
        self._lock = threading.Lock()
        self._dir: Path | None = None

    def _git(self, path: Path, *args: str, date: str = "") -> str:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_CONFIG_GLOBAL": os.devnull,  # the learner's own git config plays no part
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
            **_AUTHOR,
            "GIT_COMMITTER_NAME": _AUTHOR["GIT_AUTHOR_NAME"],
            "GIT_COMMITTER_EMAIL": _AUTHOR["GIT_AUTHOR_EMAIL"],
        }
        if date:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date + "+00:00"
        command = ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args]
        done = subprocess.run(  # noqa: S603 - git with fixed arguments
            command, cwd=path, env=env, capture_output=True, text=True, check=True, timeout=30
        )
        return done.stdout

    @property
    def path(self) -> Path:
        with self._lock:
            if self._dir is None:
                self._dir = self._build()
            return self._dir

    def _build(self) -> Path:
        root = Path(tempfile.mkdtemp(prefix="labkit-08-")) / "teamnotes"
        root.mkdir()
        self._git(root, "init", "-q")
        for name, value in (("user.name", _AUTHOR["GIT_AUTHOR_NAME"]),
                            ("user.email", _AUTHOR["GIT_AUTHOR_EMAIL"]),
                            ("commit.gpgsign", "false")):  # fmt: skip
            self._git(root, "config", name, value)  # so the learner can commit here too
        for date, message, changes in self._history:
            for name, text in changes.items():
                file = root / name
                if text is None:
                    file.unlink()
                    continue
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(text, encoding="utf-8")
            self._git(root, "add", "-A")
            self._git(root, "commit", "-q", "-m", message, date=date)
        return root

    def files(self) -> dict[str, str]:
        """Every file of the last commit (what a clone gets), by path."""
        root = self.path
        names = self._git(root, "ls-tree", "-r", "--name-only", "HEAD").splitlines()
        return {name: self._git(root, "show", f"HEAD:{name}") for name in names}

    def head(self) -> str:
        return self._git(self.path, "rev-parse", "HEAD").strip()

    def log(self) -> str:
        return self._git(self.path, "log", "-p", "--all", "--no-color")

    def remove(self) -> None:
        with self._lock:
            if self._dir is not None:
                shutil.rmtree(self._dir.parent, ignore_errors=True)
                self._dir = None


# -- using whatever settings object the loader returned ------------------------------------
def reveal(value: Any) -> str:
    """The plain value of a secret setting: a ``str``, or anything with ``get_secret_value``."""
    if isinstance(value, str):
        return value
    getter = getattr(value, "get_secret_value", None)
    if callable(getter):
        plain = getter()
        if isinstance(plain, bytes):
            plain = plain.decode("utf-8")
        if isinstance(plain, str):
            return plain
    raise FixFault(
        f"a secret setting is a {type(value).__name__}: use a str or a type with "
        "get_secret_value() (pydantic.SecretStr)"
    )


def _check_interface(settings: Any) -> None:
    missing = [name for name in SETTINGS_FIELDS if not hasattr(settings, name)]
    if missing:
        raise FixFault(
            f"load_settings returned a {type(settings).__name__} without {', '.join(missing)}"
        )
    for name in SECRET_FIELDS:
        reveal(getattr(settings, name))


def _printed(settings: Any, how: Any) -> str:
    try:
        return str(how(settings))
    except Exception as exc:  # a learner's __repr__ may raise; that is not a leak
        return f"<unprintable: {type(exc).__name__}>"


class Credentials(BaseModel):
    email: str
    password: str


class BootRequest(BaseModel):
    env: dict[str, str]


class SignRequest(BaseModel):
    kid: str
    header: dict[str, Any]
    claims: dict[str, Any]


def _parts(secure_app: bool, hardcoded: Mapping[str, str], fixes: dict[str, Any]) -> dict:
    if secure_app:
        defaults: dict[str, Any] = {
            "load_settings": secure_settings.load_settings,
            "sign_token": secure_settings.sign_token,
            "verify_token": secure_settings.verify_token,
        }
    else:
        defaults = {
            "load_settings": partial(weak_settings.load_settings, hardcoded=hardcoded),
            "sign_token": weak_settings.sign_token,
            "verify_token": weak_settings.verify_token,
        }
    return plug_fixes(SLOTS, defaults, fixes)


def create_app(secure: bool = False, **fixes: Any) -> Any:
    """The 08-secrets TeamNotes API; ``secure=True`` is the reference, keyword fixes plug in."""
    env = deployment_env()
    hardcoded = {"EXPORT_API_KEY": generate_api_key()}  # in the vulnerable source, forever
    parts = _parts(secure, hardcoded, fixes)
    settings = parts["load_settings"](dict(env))  # fail fast: a bad config never serves
    _check_interface(settings)
    ring = secure_settings.KeyRing(reveal(settings.jwt_secret))
    source = {**env, "HARDCODED_EXPORT_API_KEY": hardcoded["EXPORT_API_KEY"]}
    repo = SourceRepo(_clean_history() if secure else _leaky_history(source))
    store = LabStore("08-secrets")
    users = store.seed_staff(secure_passwords.hash_password)
    log: deque[str] = deque(maxlen=LOG_LINES)
    issued: set[str] = set()
    state = LabState(
        secure=secure,
        users=users,
        store=store,
        extras={"source repo": "GET /api/_lab/repo → {'path': ...} (run git log -p there)"},
    )
    state.on_close.append(repo.remove)
    app = new_lab_app("08-secrets", secure=secure, state=state)

    def write_log(level: str, message: str) -> None:
        log.append(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {level} teamnotes: {message}")

    write_log("INFO", f"starting with settings {_printed(settings, str)}")

    def current_claims(request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        try:
            token = bearer_token(request.headers.get("authorization"))
        except TokenError as exc:
            return None, JSONResponse(exc.body, status_code=401)
        claims = parts["verify_token"](token, ring)
        if not isinstance(claims, dict) or "sub" not in claims or "role" not in claims:
            return None, JSONResponse({"error": "Invalid token"}, status_code=401)
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            kid = None
        ring.record_use(kid if isinstance(kid, str) else ring.active_kid)
        return claims, None

    @app.middleware("http")
    async def error_page(request: Request, call_next: Any) -> Response:
        try:
            return await call_next(request)
        except Exception as exc:  # learner faults are answered inside; this is the app's bugs
            incident = secrets.token_hex(6)
            write_log(
                "ERROR",
                f"incident {incident} {request.method} {request.url.path}: {exc!r} "
                f"settings={_printed(settings, repr)}",
            )
            if bool(getattr(settings, "debug", False)):
                page = weak_settings.debug_error_page(exc, settings, env, request.url.path)
                return HTMLResponse(page, status_code=500)
            return JSONResponse(
                {"error": "Internal server error", "incident": incident}, status_code=500
            )

    # -- the public API ---------------------------------------------------------------------
    @app.post("/api/auth/login", response_model=None)
    def login(body: Credentials) -> Any:
        user = secure_passwords.authenticate(body.email, body.password, store.find_user)
        if user is None:
            return JSONResponse({"error": "Invalid email or password"}, status_code=401)
        now = int(time.time())
        claims = {"sub": str(user.id), "role": user.role, "iat": now, "exp": now + TOKEN_TTL_S}
        token = parts["sign_token"](claims, ring)
        issued.add(hashlib.sha256(token.encode()).hexdigest())
        write_log("INFO", f"login user={user.id}")
        return {"accessToken": token}

    @app.get("/api/me", response_model=None)
    def me(request: Request) -> Any:
        claims, refused = current_claims(request)
        if claims is None:
            return refused
        return {"id": str(claims["sub"]), "role": claims["role"]}

    @app.get("/api/admin/users", response_model=None)
    def admin_users(request: Request) -> Any:
        claims, refused = current_claims(request)
        if claims is None:
            return refused
        if claims["role"] != "admin":
            return JSONResponse({"error": "Insufficient permissions"}, status_code=403)
        return {"users": [{"id": u.id, "email": u.email, "role": u.role} for u in
                          store.all_users()]}  # fmt: skip

    @app.get("/api/v1/export", response_model=None)
    def export(request: Request) -> Any:
        presented = request.headers.get("x-api-key")
        if not presented:
            return JSONResponse({"error": "API key required"}, status_code=401)
        expected = reveal(settings.export_api_key)
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            return JSONResponse({"error": "Invalid API key"}, status_code=401)
        users = [{"id": u.id, "email": u.email, "role": u.role} for u in store.all_users()]
        return {"client": "reporting", "users": users}

    @app.get("/api/stats/{month}")
    def stats(month: str) -> dict[str, Any]:
        start = datetime.strptime(month, "%Y-%m")  # a bad month is an unhandled ValueError
        return {"month": start.strftime("%Y-%m"), "notesCreated": 40 + start.month * 3}

    # -- lab-only ---------------------------------------------------------------------------
    @app.get("/api/_lab/repo", include_in_schema=False)
    def source_repo() -> dict[str, Any]:
        return {"path": str(repo.path), "head": repo.head(), "files": repo.files(),
                "log": repo.log()}  # fmt: skip

    @app.get("/api/_lab/vault", include_in_schema=False)
    def vault() -> dict[str, Any]:
        return {"env": env}

    @app.get("/api/_lab/config", include_in_schema=False)
    def config() -> dict[str, Any]:
        return {
            "repr": _printed(settings, repr),
            "str": _printed(settings, str),
            "fields": {name: _printed(getattr(settings, name), str) for name in SETTINGS_FIELDS},
            "fieldsRepr": {
                name: _printed(getattr(settings, name), repr) for name in SETTINGS_FIELDS
            },
            "fieldsFormat": {
                name: _printed(getattr(settings, name), "{}".format) for name in SETTINGS_FIELDS
            },
        }

    @app.get("/api/_lab/logs", include_in_schema=False)
    def logs() -> dict[str, list[str]]:
        return {"lines": list(log)}

    @app.get("/api/_lab/issued", include_in_schema=False)
    def issued_tokens() -> dict[str, list[str]]:
        return {"sha256": sorted(issued)}

    @app.get("/api/_lab/accounts", include_in_schema=False)
    def accounts() -> list[dict[str, str]]:
        return [{"email": u.email, "role": u.role, "password": u.password} for u in
                users.values()]  # fmt: skip

    @app.post("/api/_lab/boot", include_in_schema=False)
    def boot(body: BootRequest) -> dict[str, Any]:
        try:  # only the loader runs: what it accepts here, the app would start with
            candidate = parts["load_settings"](dict(body.env))
        except Exception as exc:  # the point: does it refuse, and what does it say?
            message = str(exc) if isinstance(exc, FixFault) else f"{type(exc).__name__}: {exc}"
            write_log("ERROR", f"startup failed: {message}")
            return {"started": False, "error": message}
        write_log("INFO", f"would start with settings {_printed(candidate, str)}")
        return {"started": True, "error": "", "debug": bool(getattr(candidate, "debug", False))}

    @app.get("/api/_lab/keys", include_in_schema=False)
    def keys() -> dict[str, Any]:
        return {"activeKid": ring.active_kid, "keys": ring.status()}

    @app.post("/api/_lab/keys/new", include_in_schema=False)
    def new_key() -> dict[str, Any]:
        return {"step": "1-2: generated, accepted, not signing", "kid": ring.add_next()}

    @app.post("/api/_lab/keys/promote", include_in_schema=False, response_model=None)
    def promote() -> Any:
        try:
            kid = ring.promote()
        except secure_settings.SettingsError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return {"step": "3: signing with the new key", "kid": kid}

    @app.post("/api/_lab/keys/retire", include_in_schema=False)
    def retire() -> dict[str, Any]:
        return {"step": "5: old keys retired", "retired": ring.retire()}

    @app.post("/api/_lab/keys/sign", include_in_schema=False, response_model=None)
    def sign_with(body: SignRequest) -> Any:
        key = ring.keys.get(body.kid)
        if key is None:
            return JSONResponse({"error": f"no key {body.kid!r}"}, status_code=404)
        header = {"alg": "HS256", **body.header}
        return {"token": forge(header, body.claims, key.secret.get_secret_value())}

    @app.post("/api/_lab/keys/rotate", include_in_schema=False, response_model=None)
    def rotate_in_place() -> Any:
        if secure:
            return JSONResponse(
                {"error": "in-place rotation would log everyone out: use keys/new, "
                          "keys/promote, then keys/retire"}, status_code=409)  # fmt: skip
        return {"step": "in place: new key signing, old key destroyed",
                "kid": weak_settings.rotate_in_place(ring)}  # fmt: skip

    return app
