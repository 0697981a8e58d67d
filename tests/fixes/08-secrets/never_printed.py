"""08 never-printed: settings whose secrets print, and ones that never do."""

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from tests.fixes.corpus import Fixes, right, sibling, wrong

P = sibling(__file__, "_parts")


class Plain:
    """Validated settings handed out as plain attributes."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Settings({self.__dict__})"


def _validated(env: dict[str, str]) -> dict[str, Any]:
    good = P.load_settings(env)
    return {
        "app_env": good.app_env,
        "debug": good.debug,
        **{
            n: getattr(good, n).get_secret_value()
            for n in ("jwt_secret", "export_api_key", "database_url")
        },
    }


@wrong("never-printed", breaks="masked-settings", also=("verify",))
def plain_strings() -> Fixes:
    """Validates like the reference, then hands out plain strings: repr(settings) shows them."""
    return P.parts(load_settings=lambda env: Plain(**_validated(env)))


@wrong("never-printed", breaks="masked-fields")
def repr_hidden_fields_plain() -> Fixes:
    """The settings object hides itself in repr/str, but its fields are plain str."""

    class Hidden(Plain):
        def __repr__(self) -> str:
            return "Settings(<hidden>)"

        __str__ = __repr__

    return P.parts(load_settings=lambda env: Hidden(**_validated(env)))


@wrong("never-printed", breaks="masked-fields")
def database_url_as_str() -> Fixes:
    """SecretStr for the two keys, but DATABASE_URL (with its password) is a str."""

    def load_settings(env: dict[str, str]) -> Any:
        values = _validated(env)
        for name in ("jwt_secret", "export_api_key"):
            values[name] = SecretStr(values[name])
        return Plain(**values)

    return {"load_settings": load_settings}


class _Hidden(Plain):
    def __repr__(self) -> str:
        return "Settings(...)"

    __str__ = __repr__


class Tail(SecretStr):
    """Masks the value, but "helpfully" shows its last twelve characters."""

    def _display(self) -> str:
        return "*" * 8 + self.get_secret_value()[-12:]


@wrong("never-printed", breaks="masked-fields")
def masked_but_for_the_tail() -> Fixes:
    """A SecretStr subclass that shows the last 12 characters ("to tell keys apart")."""

    def load_settings(env: dict[str, str]) -> Any:
        values = _validated(env)
        for name in ("jwt_secret", "export_api_key", "database_url"):
            values[name] = Tail(values[name])
        return _Hidden(**values)

    return {"load_settings": load_settings}


class Masked:
    """A secret of its own that never prints."""

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Masked('[redacted]')"

    def __str__(self) -> str:
        return "[redacted]"


@right("never-printed", also=("verify",))
def own_secret_type() -> Fixes:
    """A hand-written Masked type instead of SecretStr, in a plain class."""

    def load_settings(env: dict[str, str]) -> Any:
        values = _validated(env)
        for name in ("jwt_secret", "export_api_key", "database_url"):
            values[name] = Masked(values[name])
        return Plain(**values)

    return P.parts(load_settings=load_settings)


@right("never-printed")
def frozen_pydantic_model() -> Fixes:
    """A second pydantic model built from the validated one (SecretStr all the way)."""

    class Public(BaseModel):
        model_config = ConfigDict(frozen=True)
        app_env: str
        debug: bool
        jwt_secret: SecretStr
        export_api_key: SecretStr
        database_url: SecretStr

    return {"load_settings": lambda env: Public(**_validated(env))}


class MaskedUrl(Masked):
    """A database URL that prints with its password masked, as SQLAlchemy's URL does."""

    def __str__(self) -> str:
        parts = urlsplit(self._value)
        host = parts.netloc.rsplit("@", 1)[-1]
        return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()

    __repr__ = __str__


@right("never-printed")
def url_with_masked_password() -> Fixes:
    """The database URL prints with scheme, user and host, its password masked."""

    def load_settings(env: dict[str, str]) -> Any:
        values = _validated(env)
        for name in ("jwt_secret", "export_api_key"):
            values[name] = Masked(values[name])
        values["database_url"] = MaskedUrl(values["database_url"])
        return Plain(**values)

    return {"load_settings": load_settings}
