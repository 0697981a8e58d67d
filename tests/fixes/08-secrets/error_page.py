"""08 error-page: loaders whose DEBUG is on by default, and ones whose DEBUG is off."""

from typing import Any

from pydantic import SecretStr

from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")


class _Loose(P.Settings):
    """The reference's checks, without the rule against DEBUG in production."""

    def no_debug_in_production(self) -> "_Loose":
        return self


class DebugOn(_Loose):
    debug: bool = True


@wrong("error-page", breaks="debug-off", also=("verify",))
def debug_defaults_on() -> Fixes:
    """debug: bool = True "so developers see tracebacks"; production never sets DEBUG."""
    return P.parts(load_settings=lambda env: DebugOn(**P.fields(env)))


@wrong("error-page", breaks="debug-off")
def debug_from_a_string() -> Fixes:
    """debug = bool(env.get("DEBUG", "false")): any non-empty string is true."""

    def load_settings(env: dict[str, str]) -> Any:
        settings = _Loose(**P.fields({k: v for k, v in env.items() if k != "DEBUG"}))
        return settings.model_copy(update={"debug": bool(env.get("DEBUG", "false"))})

    return {"load_settings": load_settings}


@wrong("error-page", breaks="debug-off")
def debug_unless_zero() -> Fixes:
    """debug = env.get("DEBUG", "1") == "1": on unless someone turns it off."""

    def load_settings(env: dict[str, str]) -> Any:
        settings = _Loose(**P.fields({k: v for k, v in env.items() if k != "DEBUG"}))
        return settings.model_copy(update={"debug": env.get("DEBUG", "1") == "1"})

    return {"load_settings": load_settings}


class Settings:
    """A plain class; DEBUG only when it says so, never in production."""

    def __init__(self, env: dict[str, str]) -> None:
        self.app_env = env.get("APP_ENV", "production")
        self.debug = env.get("DEBUG", "").lower() in ("1", "true", "yes", "on")
        if self.debug and self.app_env == "production":
            raise RuntimeError("DEBUG is on in production")
        checked = P.load_settings({k: v for k, v in env.items() if k != "DEBUG"})
        self.jwt_secret: SecretStr = checked.jwt_secret
        self.export_api_key: SecretStr = checked.export_api_key
        self.database_url: SecretStr = checked.database_url

    def __repr__(self) -> str:
        return f"Settings(app_env={self.app_env!r}, debug={self.debug})"


@right("error-page")
def plain_class_debug_opt_in() -> Fixes:
    """A plain class: DEBUG is an opt-in word list; production refuses it."""
    return {"load_settings": Settings}


@right("error-page", also=("verify",))
def debug_from_app_env() -> Fixes:
    """debug follows APP_ENV (on only in development) unless DEBUG says otherwise."""

    def load_settings(env: dict[str, str]) -> Any:
        if "DEBUG" not in env and env.get("APP_ENV") == "development":
            env = {**env, "DEBUG": "true"}
        return P.load_settings(env)

    return P.parts(load_settings=load_settings)
