"""08 scan-clean: commits that leave a secret (or a fallback) in the code, and clean ones.

Each case takes the lab it runs against, makes a commit in that lab's repository (the lab's
own files, rewritten from scratch every time) and hands in its id, as the learner does.
"""

import base64
import subprocess
from pathlib import Path

from labkit.exercises.lab import Lab
from tests.fixes.corpus import Fixes, right, wrong

EXPORT_HEAD = '''"""GET /api/v1/export: the reporting team's cron job pulls every note."""
import hmac
import os

from fastapi import Header, HTTPException

'''
EXPORT_CHECK = """

def check_export_key(x_api_key: str = Header()) -> None:
    if not hmac.compare_digest(x_api_key, EXPORT_API_KEY):
        raise HTTPException(401, "Invalid API key")
"""
CONFIG_HEAD = '''"""TeamNotes configuration, from the environment."""
import os

'''
CLEAN_CONFIG = CONFIG_HEAD + (
    'JWT_SECRET = os.environ["JWT_SECRET"]\n'
    'DEBUG = os.environ.get("DEBUG", "false").lower() == "true"\n'
    'DATABASE_URL = os.environ["DATABASE_URL"]\n'
)
CLEAN_EXPORT = EXPORT_HEAD + 'EXPORT_API_KEY = os.environ["EXPORT_API_KEY"]\n' + EXPORT_CHECK
EXAMPLE = "APP_ENV=production\nJWT_SECRET=\nEXPORT_API_KEY=\nDATABASE_URL=\n"


def _repo(lab: Lab) -> Path:
    """The source repository of the 08 lab the corpus test runs the case against."""
    return Path(lab.client.get("/api/_lab/repo").json()["path"])


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _commit(lab: Lab, files: dict[str, str | None], message: str) -> Fixes:
    """Write ``files`` (None deletes), commit everything, hand in the commit id."""
    repo = _repo(lab)
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return {"answer": _git(repo, "rev-parse", "HEAD")}


def _old_export_key(lab: Lab) -> str:
    """The key the first version of app/export.py hard-coded (still in history)."""
    log = _git(_repo(lab), "log", "-p", "--all", "--no-color", "--", "app/export.py")
    line = next(line for line in log.splitlines() if line.startswith('+EXPORT_API_KEY = "'))
    return line.split('"')[1]


def _clean(**changes: str | None) -> dict[str, str | None]:
    files: dict[str, str | None] = {
        "app/config.py": CLEAN_CONFIG,
        "app/export.py": CLEAN_EXPORT,
        ".env.example": EXAMPLE,
        ".env": None,
    }
    return {**files, **changes}


@wrong("scan-clean", breaks="no-secret-in-code")
def key_in_base64(lab: Lab) -> Fixes:
    """The old key, base64-encoded "so scanners do not flag it"."""
    encoded = base64.b64encode(_old_export_key(lab).encode()).decode()
    line = f'EXPORT_API_KEY = base64.b64decode("{encoded}").decode()\n'
    export = EXPORT_HEAD + "import base64\n\n" + line + EXPORT_CHECK
    return _commit(lab, _clean(**{"app/export.py": export}), "encode the export key")


@wrong("scan-clean", breaks="no-secret-in-code")
def key_in_pieces(lab: Lab) -> Fixes:
    """The old key split into short literals joined at import ("no long string to match")."""
    key = _old_export_key(lab)
    pieces = " + ".join(f'"{key[i : i + 6]}"' for i in range(0, len(key), 6))
    export = EXPORT_HEAD + f"EXPORT_API_KEY = os.environ.get('X') or ({pieces})\n" + EXPORT_CHECK
    return _commit(lab, _clean(**{"app/export.py": export}), "split the export key")


@wrong("scan-clean", breaks="no-fallback")
def generated_fallback(lab: Lab) -> Fixes:
    """JWT_SECRET falls back to a random value when unset: no literal, and no fail-fast."""
    config = CLEAN_CONFIG.replace(
        'JWT_SECRET = os.environ["JWT_SECRET"]',
        'import secrets\nJWT_SECRET = os.environ.get("JWT_SECRET", secrets.token_hex(32))',
    )
    return _commit(lab, _clean(**{"app/config.py": config}), "a random secret if none is set")


@wrong("scan-clean", breaks="no-fallback")
def fallback_after_or(lab: Lab) -> Fixes:
    """os.getenv(...) or "change-me": a placeholder the scanner skips, but still a default."""
    config = CLEAN_CONFIG.replace(
        'JWT_SECRET = os.environ["JWT_SECRET"]',
        'JWT_SECRET = os.getenv("JWT_SECRET") or "change-me"',
    )
    return _commit(lab, _clean(**{"app/config.py": config}), "default for local runs")


@wrong("scan-clean", breaks="names-kept")
def export_module_deleted(lab: Lab) -> Fixes:
    """Deletes app/export.py instead of fixing it: the reporting job loses its endpoint."""
    return _commit(lab, _clean(**{"app/export.py": None}), "remove the export endpoint")


@wrong("scan-clean", breaks="debug-off-in-code")
def debug_still_defaults_on(lab: Lab) -> Fixes:
    """Secrets from the environment, but the DEBUG line of the old config stays."""
    config = CLEAN_CONFIG.replace(
        'DEBUG = os.environ.get("DEBUG", "false").lower() == "true"',
        'DEBUG = os.environ.get("DEBUG", "true").lower() != "false"',
    )
    return _commit(lab, _clean(**{"app/config.py": config}), "secrets from the environment")


@wrong("scan-clean", breaks="env-example")
def no_env_example(lab: Lab) -> Fixes:
    """Clean code, but nothing tells the next developer which variables to set."""
    return _commit(lab, _clean(**{".env.example": None}), "secrets from the environment")


@right("scan-clean")
def require_helper(lab: Lab) -> Fixes:
    """A require() helper that refuses a missing variable; DEBUG as an opt-in word list."""
    config = CONFIG_HEAD + (
        "def require(name: str) -> str:\n"
        "    value = os.getenv(name)\n"
        "    if not value:\n"
        '        raise RuntimeError(f"{name} is not set")\n'
        "    return value\n\n\n"
        'JWT_SECRET = require("JWT_SECRET")\n'
        'DEBUG = os.getenv("DEBUG", "0").strip().lower() in ("1", "true", "yes")\n'
        'DATABASE_URL = require("DATABASE_URL")\n'
    )
    export = CLEAN_EXPORT.replace(
        'EXPORT_API_KEY = os.environ["EXPORT_API_KEY"]',
        "from app.config import require\n\nEXPORT_API_KEY = require('EXPORT_API_KEY')",
    )
    example = (
        "# copy to .env (never committed) and fill in from the vault\n"
        "APP_ENV=production\n"
        "JWT_SECRET=<32+ random characters>\n"
        "EXPORT_API_KEY=<lk_live_ key from the vault>\n"
        "DATABASE_URL=postgresql://notes:<password>@db.internal:5432/notes\n"
    )
    return _commit(
        lab,
        _clean(**{"app/config.py": config, "app/export.py": export, ".env.example": example}),
        "settings from the environment, with a require() helper",
    )


@right("scan-clean")
def environ_only(lab: Lab) -> Fixes:
    """os.environ[...] for every secret, DEBUG off unless "true", a .env.example."""
    return _commit(lab, _clean(), "Secrets come from the environment only")
