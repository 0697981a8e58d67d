"""08-secrets: a correct loader and keyring functions, for corpus cases that get one part
wrong. Not a case file (it declares no case); the case files load it by path."""

import math
from collections import Counter
from typing import Any, Literal

import jwt
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

ENV_NAMES = {"APP_ENV": "app_env", "DEBUG": "debug", "JWT_SECRET": "jwt_secret",
             "EXPORT_API_KEY": "export_api_key", "DATABASE_URL": "database_url"}  # fmt: skip
PLACEHOLDER_WORDS = ("changeme", "change-me", "secret", "password", "example")
ACCEPTED = {"next", "active", "previous"}


def entropy_per_char(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) if text else 0.0


def weakness(secret: str) -> str | None:
    """Why a secret is weak, or None (never the value)."""
    if len(secret) < 32:
        return "needs at least 32 random characters"
    if any(word in secret.lower() for word in PLACEHOLDER_WORDS):
        return "is a placeholder"
    if entropy_per_char(secret) < 3.0:
        return "is not random enough"
    return None


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    app_env: Literal["development", "production"] = "production"
    debug: bool = False
    jwt_secret: SecretStr
    export_api_key: SecretStr
    database_url: SecretStr

    @field_validator("jwt_secret", "export_api_key")
    @classmethod
    def strong(cls, value: SecretStr) -> SecretStr:
        problem = weakness(value.get_secret_value())
        if problem:
            raise ValueError(problem)
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


def fields(env: dict[str, str]) -> dict[str, str]:
    return {field: env[name] for name, field in ENV_NAMES.items() if name in env}


def load_settings(env: dict[str, str]) -> "Settings":
    return Settings(**fields(env))


def sign_token(claims: dict[str, Any], keyring: Any) -> str:
    kid = keyring.active_kid
    secret = keyring.keys[kid].secret.get_secret_value()
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})


def key_for(token: str, keyring: Any) -> bytes | None:
    """The secret of the accepted key the token's kid names, or None."""
    kid = jwt.get_unverified_header(token).get("kid")
    key = keyring.keys.get(kid) if isinstance(kid, str) else None
    return key.secret.get_secret_value() if key is not None and key.status in ACCEPTED else None


def verify_token(token: str, keyring: Any) -> dict[str, Any] | None:
    try:
        secret = key_for(token, keyring)
        if secret is None:
            return None
        return jwt.decode(token, secret, algorithms=["HS256"],
                          options={"require": ["exp", "iat", "sub"]})  # fmt: skip
    except jwt.PyJWTError:
        return None


def parts(**replaced: Any) -> dict[str, Any]:
    return {"load_settings": load_settings, "sign_token": sign_token,
            "verify_token": verify_token, **replaced}  # fmt: skip
