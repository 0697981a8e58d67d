"""Secrets management done right (lab 08-secrets): settings from the environment, secret
types that never print, fail-fast validation, and signing-key rotation with a keyring.

Follows the OWASP Secrets Management Cheat Sheet and ASVS 5.0 §13.3 (secret management):

* **Configuration comes from the environment** (twelve-factor, factor III), optionally from
  a local ``.env`` file that is never committed; real environment variables win over the
  file, as python-dotenv and pydantic-settings do. The code holds *names*, never values.
* **Secret types never print**: every secret is a pydantic :class:`~pydantic.SecretStr`, so
  ``repr``, ``str``, f-strings, ``logging`` and JSON dumps all show ``**********``; reading
  the value takes an explicit ``get_secret_value()``.
* **Fail fast**: a missing, short, low-entropy or placeholder secret, or ``DEBUG`` on in
  production, stops the app at startup with :class:`SettingsError` — never at first use,
  and never with the rejected value in the message (pydantic repeats the input in its
  errors unless ``hide_input_in_errors`` is set).
* **Rotation without logging anybody out** — the catalogue's five steps on a
  :class:`KeyRing` whose keys carry a ``kid`` (RFC 7515 §4.1.4): (1) generate a new key,
  (2) accept it next to the old one, (3) sign with the new one, (4) watch the old one fall
  out of use, (5) retire it. Tokens name their key in the ``kid`` header and are verified
  only with a key of the ring that is still accepted.

Every configuration failure raises :class:`SettingsError` (a ``ValueError``).
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import jwt
from pydantic import (
    BaseModel,
    ConfigDict,
    SecretBytes,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "ACCEPTED_STATUSES",
    "ENV_NAMES",
    "MIN_ENTROPY_BITS_PER_CHAR",
    "MIN_SECRET_CHARS",
    "KeyRing",
    "KeyStatus",
    "Settings",
    "SettingsError",
    "SigningKey",
    "load_settings",
    "read_env_file",
    "secret_problem",
    "shannon_entropy",
    "sign_token",
    "verify_token",
]

#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash output, 256 bits. We
#: ask for 32 *characters* of a random string (a 43-character ``secrets.token_urlsafe(32)``
#: carries 256 bits; 32 hex characters carry only 128, which is still the NIST floor).
MIN_SECRET_CHARS = 32
#: Shannon entropy per character below which a long secret is a repetition or a phrase
#: ("changeme" * 4 scores 2.75; random hex ~3.9, random base64url ~4.8).
MIN_ENTROPY_BITS_PER_CHAR = 3.0
#: Values that appear in tutorials and ``.env.example`` files: never a real secret.
PLACEHOLDERS = ("changeme", "change-me", "change_me", "secret", "password", "example", "your-")
#: Environment variable -> settings field.
ENV_NAMES: dict[str, str] = {
    "APP_ENV": "app_env",
    "DEBUG": "debug",
    "JWT_SECRET": "jwt_secret",
    "EXPORT_API_KEY": "export_api_key",
    "DATABASE_URL": "database_url",
}
TOKEN_TTL_S = 15 * 60
TOKEN_TYP = "at+jwt"  # noqa: S105  (RFC 9068 §2.1 explicit typing, not a secret)
ALGORITHM = "HS256"  # hard-coded: the token header never chooses (RFC 8725 §3.1)

KeyStatus = Literal["next", "active", "previous", "retired"]
#: A key in any of these states verifies tokens; only ``active`` signs.
ACCEPTED_STATUSES: frozenset[str] = frozenset({"next", "active", "previous"})


class SettingsError(ValueError):
    """The configuration is missing, weak or unsafe. The message names variables, never values."""


# -- strength ------------------------------------------------------------------------------
def shannon_entropy(text: str) -> float:
    """Bits of Shannon entropy per character of ``text`` (0.0 for an empty string)."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def secret_problem(value: str) -> str | None:
    """Why ``value`` is not fit to be a secret, or None. Never repeats the value."""
    if not value:
        return "is empty"
    if len(value) < MIN_SECRET_CHARS:
        return f"is {len(value)} characters; use at least {MIN_SECRET_CHARS} random ones"
    lowered = value.lower()
    if any(word in lowered for word in PLACEHOLDERS):
        return "contains a placeholder word (changeme, secret, example...)"
    if shannon_entropy(value) < MIN_ENTROPY_BITS_PER_CHAR:
        return "is a repetition, not random (too little entropy per character)"
    return None


# -- settings ------------------------------------------------------------------------------
class Settings(BaseModel):
    """The app's configuration. Secrets are :class:`SecretStr`: they never print."""

    # frozen: nothing rewrites config at run time; hide_input_in_errors: a rejected secret
    # is not copied into the ValidationError text (which ends up in logs and crash reports)
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    app_env: Literal["development", "production"] = "production"
    debug: bool = False  # secure default: a debug page must be asked for
    jwt_secret: SecretStr
    export_api_key: SecretStr
    database_url: SecretStr

    @field_validator("jwt_secret", "export_api_key")
    @classmethod
    def _strong(cls, value: SecretStr) -> SecretStr:
        problem = secret_problem(value.get_secret_value())
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("database_url")
    @classmethod
    def _has_url(cls, value: SecretStr) -> SecretStr:
        if "://" not in value.get_secret_value():
            raise ValueError("is not a URL (scheme://user:password@host/db)")
        return value

    @model_validator(mode="after")
    def _no_debug_in_production(self) -> Settings:
        # A debug page shows tracebacks, settings and the environment to whoever hits a 500
        if self.debug and self.app_env == "production":
            raise ValueError("DEBUG must be off when APP_ENV=production")
        return self


def read_env_file(path: str | Path) -> dict[str, str]:
    """``KEY=VALUE`` pairs of a ``.env`` file (``#`` comments, ``export``, quotes).

    A deliberately small reader, the subset python-dotenv's ``dotenv_values`` handles that
    config files use: no interpolation, no multi-line values. A missing file reads as empty.
    """
    file = Path(path)
    if not file.is_file():
        return {}
    values: dict[str, str] = {}
    for raw in file.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[name.strip()] = value
    return values


def load_settings(
    env: Mapping[str, str] | None = None, *, env_file: str | Path | None = None
) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``) over ``env_file``.

    Raises :class:`SettingsError` naming every missing or weak variable — at startup.
    """
    if env is None:
        env = os.environ
    merged = {**(read_env_file(env_file) if env_file else {}), **env}
    fields = {field: merged[name] for name, field in ENV_NAMES.items() if name in merged}
    try:
        return Settings(**fields)
    except ValidationError as exc:
        names = {field: name for name, field in ENV_NAMES.items()}
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            where = names.get(str(error["loc"][0]), "settings") if error["loc"] else "settings"
            message = "is missing" if error["type"] == "missing" else error["msg"]
            problems.append(f"{where} {message.removeprefix('Value error, ')}")
        raise SettingsError("refusing to start: " + "; ".join(problems)) from None


# -- the keyring ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SigningKey:
    """One HMAC key of a :class:`KeyRing`: its id, its secret (never printed), its state."""

    kid: str
    secret: SecretBytes
    status: KeyStatus
    created_at: float


def _secret_bytes(secret: bytes | str | SecretStr | SecretBytes) -> bytes:
    if isinstance(secret, SecretStr | SecretBytes):
        secret = secret.get_secret_value()
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_CHARS:
        raise SettingsError(f"a signing key needs at least {MIN_SECRET_CHARS} bytes")
    return raw


def new_kid() -> str:
    """A fresh key id: public, unique, meaningless (never derived from the key)."""
    return "k-" + secrets.token_hex(4)


class KeyRing:
    """The signing keys of one service, for rotation without downtime. Thread-safe.

    ``keys`` maps every ``kid`` to its :class:`SigningKey` (retired ones stay listed, like
    a disabled key version in a cloud KMS); ``active_kid`` names the one that signs.
    """

    def __init__(
        self,
        secret: bytes | str | SecretStr | SecretBytes,
        *,
        kid: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        first = SigningKey(kid or new_kid(), SecretBytes(_secret_bytes(secret)), "active", clock())
        self._keys: dict[str, SigningKey] = {first.kid: first}
        self._uses: dict[str, int] = {first.kid: 0}
        self._last_used: dict[str, float | None] = {first.kid: None}

    @property
    def keys(self) -> dict[str, SigningKey]:
        with self._lock:
            return dict(self._keys)

    @property
    def active_kid(self) -> str:
        with self._lock:
            return next(k for k, key in self._keys.items() if key.status == "active")

    def accepted(self) -> dict[str, SigningKey]:
        """The keys that may verify a token right now."""
        with self._lock:
            return {k: key for k, key in self._keys.items() if key.status in ACCEPTED_STATUSES}

    def _set(self, kid: str, status: KeyStatus) -> None:
        self._keys[kid] = replace(self._keys[kid], status=status)

    def add_next(self, secret: bytes | None = None) -> str:
        """Steps 1–2: a new random key, accepted by verifiers but not yet signing."""
        key = SigningKey(
            new_kid(), SecretBytes(_secret_bytes(secret or secrets.token_bytes(32))), "next",
            self._clock(),
        )  # fmt: skip
        with self._lock:
            self._keys[key.kid] = key
            self._uses[key.kid], self._last_used[key.kid] = 0, None
        return key.kid

    def promote(self) -> str:
        """Step 3: the newest ``next`` key signs; the old active key only verifies."""
        with self._lock:
            upcoming = [key for key in self._keys.values() if key.status == "next"]
            if not upcoming:
                raise SettingsError("no new key to promote: add one first (step 1)")
            newest = max(upcoming, key=lambda key: key.created_at)
            for kid, key in list(self._keys.items()):
                if key.status == "active":
                    self._set(kid, "previous")
            self._set(newest.kid, "active")
            return newest.kid

    def retire(self) -> list[str]:
        """Step 5: every ``previous`` key stops verifying. Returns their ids."""
        with self._lock:
            old = [kid for kid, key in self._keys.items() if key.status == "previous"]
            for kid in old:
                self._set(kid, "retired")
            return old

    def record_use(self, kid: str) -> None:
        """Step 4's evidence: a token signed with ``kid`` was accepted just now."""
        with self._lock:
            if kid in self._uses:
                self._uses[kid] += 1
                self._last_used[kid] = self._clock()

    def status(self) -> list[dict[str, Any]]:
        """Each key's id, state, age and last use — never its secret."""
        with self._lock:
            return [
                {
                    "kid": key.kid,
                    "status": key.status,
                    "createdAt": key.created_at,
                    "uses": self._uses[key.kid],
                    "lastUsedAt": self._last_used[key.kid],
                }
                for key in self._keys.values()
            ]

    def __repr__(self) -> str:
        states = ", ".join(f"{k}={key.status}" for k, key in self.keys.items())
        return f"<KeyRing {states}>"


def sign_token(claims: Mapping[str, Any], keyring: KeyRing) -> str:
    """An HS256 access token signed with the active key, naming it in ``kid``."""
    kid = keyring.active_kid
    key = keyring.keys[kid].secret.get_secret_value()
    headers = {"kid": kid, "typ": TOKEN_TYP}
    return jwt.encode(dict(claims), key, algorithm=ALGORITHM, headers=headers)


def verify_token(token: str, keyring: KeyRing) -> dict[str, Any] | None:
    """The claims of a token signed by a key the ring still accepts, or None.

    The ``kid`` only *selects* among our accepted keys (never a path, URL or new key), the
    algorithm is ours, and ``exp``, ``iat`` and ``sub`` are required.
    """
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = keyring.accepted().get(kid) if isinstance(kid, str) else None
        if key is None or header.get("typ") != TOKEN_TYP:
            return None
        return jwt.decode(
            token,
            key.secret.get_secret_value(),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.InvalidTokenError:
        return None
