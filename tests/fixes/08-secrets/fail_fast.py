"""08 fail-fast: loaders that must refuse a missing or weak configuration, and right ones."""

import math
import secrets
from collections import Counter
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")


def _with(settings_class: type[BaseModel]) -> Any:
    return lambda env: settings_class(**P.fields(env))


class _Base(P.Settings):
    """The reference settings, to change one thing in a subclass."""


@wrong("fail-fast", breaks="required", also=("verify",))
def generated_stand_in() -> Fixes:
    """A missing secret gets a random stand-in "so local development just works"."""

    def load_settings(env: dict[str, str]) -> Any:
        env = dict(env)
        for name in ("JWT_SECRET", "EXPORT_API_KEY"):
            env[name] = env.get(name) or secrets.token_urlsafe(32)
        env.setdefault("DATABASE_URL", "sqlite:///notes.db")
        return P.load_settings(env)

    return P.parts(load_settings=load_settings)


@wrong("fail-fast", breaks="required")
def checked_at_first_use() -> Fixes:
    """Reads the environment lazily: starts with anything, fails at the first request."""

    class Lazy:
        def __init__(self, env: dict[str, str]) -> None:
            self._env, self.app_env, self.debug = env, env.get("APP_ENV", "production"), False

        def __getattr__(self, name: str) -> Any:
            value = self._env[name.upper()]
            if P.weakness(value):
                raise ValueError(f"{name} is weak")
            return SecretStr(value)

    return {"load_settings": Lazy}


@wrong("fail-fast", breaks="strong-secrets")
def length_only() -> Fixes:
    """Secrets need 32 characters, and that is all: "changeme" * 4 is fine."""

    def strong(value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("needs at least 32 characters")
        return value

    class Settings(BaseModel):
        model_config = ConfigDict(hide_input_in_errors=True)
        app_env: str = "production"
        debug: bool = False
        jwt_secret: Annotated[SecretStr, AfterValidator(strong)]
        export_api_key: Annotated[SecretStr, AfterValidator(strong)]
        database_url: SecretStr

        @model_validator(mode="after")
        def production(self) -> "Settings":
            if (self.debug and self.app_env == "production") or "://" not in str(
                self.database_url.get_secret_value()
            ):
                raise ValueError("DEBUG in production or DATABASE_URL not a URL")
            return self

    return P.parts(load_settings=_with(Settings))


@wrong("fail-fast", breaks="strong-secrets")
def exact_placeholder_match() -> Fixes:
    """Refuses a secret that *is* a placeholder word, not one that contains it."""

    class Settings(BaseModel):
        model_config = ConfigDict(hide_input_in_errors=True)
        app_env: str = "production"
        debug: bool = False
        jwt_secret: SecretStr
        export_api_key: SecretStr
        database_url: SecretStr

        @model_validator(mode="after")
        def checks(self) -> "Settings":
            for value in (self.jwt_secret, self.export_api_key):
                secret = value.get_secret_value()
                if len(secret) < 32 or secret.lower() in P.PLACEHOLDER_WORDS:
                    raise ValueError("weak secret")
                if P.entropy_per_char(secret) < 3.0:
                    raise ValueError("not random")
            if "://" not in self.database_url.get_secret_value():
                raise ValueError("DATABASE_URL is not a URL")
            if self.debug and self.app_env == "production":
                raise ValueError("DEBUG in production")
            return self

    return {"load_settings": _with(Settings)}


@wrong("fail-fast", breaks="good-config-starts")
def password_complexity_rules() -> Fixes:
    """Secrets must mix upper and lower case, like passwords: a 64-hex-digit key is refused."""

    class Settings(_Base):
        @model_validator(mode="after")
        def mixed_case(self) -> "Settings":
            for value in (self.jwt_secret, self.export_api_key):
                secret = value.get_secret_value()
                if secret.lower() == secret or secret.upper() == secret:
                    raise ValueError("needs upper and lower case letters")
            return self

    return P.parts(load_settings=_with(Settings))


@wrong("fail-fast", breaks="no-echo")
def pydantic_echoes_input() -> Fixes:
    """Every check right, but without hide_input_in_errors: input_value='...' in the error."""

    class Settings(_Base):
        model_config = ConfigDict(frozen=True, hide_input_in_errors=False)

    return P.parts(load_settings=_with(Settings))


@wrong("fail-fast", breaks="no-echo")
def own_message_quotes_the_value() -> Fixes:
    """hide_input_in_errors is set, but its own message quotes the start of the secret."""

    def load_settings(env: dict[str, str]) -> Any:
        for name in ("JWT_SECRET", "EXPORT_API_KEY"):
            value = env.get(name, "")
            if value and P.weakness(value):
                raise ValueError(f"{name} {value[:12]!r}... {P.weakness(value)}")
        return P.load_settings(env)

    return {"load_settings": load_settings}


@wrong("fail-fast", breaks="debug-off")
def debug_is_any_string() -> Fixes:
    """debug = bool(env.get("DEBUG")): the string "false" is true."""

    def load_settings(env: dict[str, str]) -> Any:
        settings = P.load_settings({k: v for k, v in env.items() if k != "DEBUG"})
        debug = bool(env.get("DEBUG"))
        if debug and settings.app_env == "production":
            raise ValueError("DEBUG must be off in production")
        return settings.model_copy(update={"debug": debug})

    return {"load_settings": load_settings}


@wrong("fail-fast", breaks="debug-off")
def debug_allowed_in_production() -> Fixes:
    """No rule against DEBUG in production ("we may need it to investigate")."""

    class Settings(_Base):
        @model_validator(mode="after")
        def no_debug_in_production(self) -> "Settings":
            return self

    return {"load_settings": _with(Settings)}


@wrong("fail-fast", breaks="database-url")
def database_url_unchecked() -> Fixes:
    """DATABASE_URL is required but anything goes."""

    def load_settings(env: dict[str, str]) -> Any:
        url = env.get("DATABASE_URL")
        fields = {**env, "DATABASE_URL": "postgresql://checked@later/db"} if url else env
        settings = P.load_settings(fields)
        return settings.model_copy(update={"database_url": SecretStr(url or "")})

    return P.parts(load_settings=load_settings)


class Secret:
    """A value that never prints."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


class PlainSettings:
    """Settings as a plain class."""

    def __init__(self, app_env: str, debug: bool, *secrets_: Secret) -> None:
        self.app_env, self.debug = app_env, debug
        self.jwt_secret, self.export_api_key, self.database_url = secrets_


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


@right("fail-fast", also=("verify",))
def plain_class_loader() -> Fixes:
    """No pydantic: a plain class, its own Secret type and error messages of names only."""

    def load_settings(env: dict[str, str]) -> PlainSettings:
        problems = []
        for name in ("JWT_SECRET", "EXPORT_API_KEY", "DATABASE_URL"):
            if not env.get(name):
                problems.append(f"{name} is not set")
        for name in ("JWT_SECRET", "EXPORT_API_KEY"):
            value = env.get(name) or ""
            lowered = value.lower()
            if value and (
                len(value) < 32
                or _entropy(value) < 3
                or any(w in lowered for w in P.PLACEHOLDER_WORDS)
            ):
                problems.append(f"{name} is weak (32+ random characters, no placeholder)")
        if env.get("DATABASE_URL") and "://" not in env["DATABASE_URL"]:
            problems.append("DATABASE_URL is not a URL")
        app_env = env.get("APP_ENV", "production")
        debug = env.get("DEBUG", "false").strip().lower() in {"1", "true", "yes", "on"}
        if debug and app_env == "production":
            problems.append("DEBUG is on in production")
        if problems:
            raise RuntimeError("refusing to start: " + "; ".join(problems))
        return PlainSettings(
            app_env,
            debug,
            Secret(env["JWT_SECRET"]),
            Secret(env["EXPORT_API_KEY"]),
            Secret(env["DATABASE_URL"]),
        )

    return P.parts(load_settings=load_settings)


@right("fail-fast")
def pydantic_annotated() -> Fixes:
    """pydantic with Annotated validators, Field(min_length=32) and extra variables ignored."""

    def strong(value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if any(w in secret.lower() for w in P.PLACEHOLDER_WORDS) or _entropy(secret) < 3:
            raise ValueError("is a placeholder or a repetition")
        return value

    def url(value: SecretStr) -> SecretStr:
        if "://" not in value.get_secret_value():
            raise ValueError("is not a URL")
        return value

    Strong = Annotated[SecretStr, Field(min_length=32), AfterValidator(strong)]

    class Settings(BaseModel):
        model_config = ConfigDict(extra="ignore", hide_input_in_errors=True, frozen=True)
        app_env: str = Field("production", alias="APP_ENV")
        debug: bool = Field(False, alias="DEBUG")
        jwt_secret: Strong = Field(alias="JWT_SECRET")
        export_api_key: Strong = Field(alias="EXPORT_API_KEY")
        database_url: Annotated[SecretStr, AfterValidator(url)] = Field(alias="DATABASE_URL")

        @model_validator(mode="after")
        def production(self) -> "Settings":
            if self.debug and self.app_env == "production":
                raise ValueError("DEBUG must be off in production")
            return self

    return {"load_settings": Settings.model_validate}
