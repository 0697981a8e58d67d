"""07 validation: wrong and right schemas for POST /api/users.

(No ``from __future__ import annotations``: pydantic resolves the models' local types.)
"""

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
)

from labkit.patterns import validation as reference
from tests.fixes.corpus import Fixes, right, wrong

EMAIL = reference.EMAIL_PATTERN


def _shape(value: str) -> str:
    if not EMAIL.fullmatch(value):
        raise ValueError("Invalid email")
    return value


Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=255), AfterValidator(_shape)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Age = Annotated[int, Field(ge=13, le=150)]


def _with(model: type[BaseModel]) -> Fixes:
    def validate_user(data: Any) -> tuple[Any, Any]:
        try:
            return model.model_validate(data).model_dump(), None
        except ValidationError as exc:
            return None, reference.flatten_errors(exc)

    return {"validate_user": validate_user}


def _whole(validate: Fixes) -> Fixes:
    """All five functions (for verify): the reference queries and body cap, this schema."""
    return {
        "find_users": reference.find_users,
        "create_user": reference.create_user,
        "find_login": reference.find_login,
        "body_too_large": reference.body_too_large,
        **validate,
    }


@wrong("validation", breaks="age-field", also=("verify",))
def lax_model() -> Fixes:
    """The reference model without strict=True: pydantic turns "30" into 30."""

    class CreateUser(BaseModel):
        model_config = ConfigDict(extra="forbid")
        email: Email
        name: Name
        age: Age | None = None

    return _whole(_with(CreateUser))


@wrong("validation", breaks="no-extra-fields")
def extra_fields_ignored() -> Fixes:
    """Strict, but pydantic's default extra='ignore': role=admin silently dropped."""

    class CreateUser(BaseModel):
        model_config = ConfigDict(strict=True)
        email: Email
        name: Name
        age: Age | None = None

    return _whole(_with(CreateUser))


@wrong("validation", breaks="name-field")
def length_before_trim() -> Fixes:
    """Field(min_length=1) counts first, a validator trims after: a name of spaces passes."""

    def trim(value: str) -> str:
        return value.strip()

    class CreateUser(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        email: Email
        name: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(trim)]
        age: Age | None = None

    return _whole(_with(CreateUser))


@wrong("validation", breaks="name-field")
def name_without_max_length() -> Fixes:
    """Trimmed and required, but no max_length on the name."""

    class CreateUser(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        email: Email
        name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
        age: Age | None = None

    return _with(CreateUser)


@wrong("validation", breaks="name-field")
def name_counted_in_bytes() -> Fixes:
    """The 100 counted in UTF-8 bytes: a 100-character name in another script is refused."""

    def fits(value: str) -> str:
        if len(value.encode()) > 100:
            raise ValueError("Name too long")
        return value

    class CreateUser(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        email: Email
        name: Annotated[Name, AfterValidator(fits)]
        age: Age | None = None

    return _with(CreateUser)


@wrong("validation", breaks="email-field")
def email_pattern_without_max() -> Fixes:
    """The email pattern, but no max_length: a 300-character address passes."""

    class CreateUser(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        email: Annotated[str, AfterValidator(_shape)]
        name: Name
        age: Age | None = None

    return _whole(_with(CreateUser))


@wrong("validation", breaks="email-field")
def optional_email() -> Fixes:
    """email: Email | None — a null email gets in."""

    class CreateUser(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        email: Email | None = None
        name: Name
        age: Age | None = None

    return _with(CreateUser)


@wrong("validation", breaks="field-errors")
def errors_without_fields() -> Fixes:
    """Refuses the right bodies, but answers only {"errors": ["Invalid body"]}."""
    check = _with(reference.CreateUser)["validate_user"]

    def validate_user(data: Any) -> tuple[Any, Any]:
        clean, errors = check(data)
        return (clean, None) if errors is None else (None, ["Invalid body"])

    return _whole({"validate_user": validate_user})


@wrong("validation", breaks="no-crash")
def raises_on_a_non_object() -> Fixes:
    """A hand-written validator that calls data.get(): a JSON list body crashes it."""

    def validate_user(data: Any) -> tuple[Any, Any]:
        errors = {}
        if not isinstance(data.get("email"), str):
            errors["email"] = ["Required"]
        return (None, {"fieldErrors": errors}) if errors else (dict(data), None)

    return {"validate_user": validate_user}


@right("validation", also=("verify",))
def hand_written_checks() -> Fixes:
    """No pydantic: explicit type, length and range checks, zod's error shape."""

    def validate_user(data: Any) -> tuple[Any, Any]:
        if not isinstance(data, dict):
            return None, {"formErrors": ["Expected an object"], "fieldErrors": {}}
        fields: dict[str, list[str]] = {}
        email, name, age = data.get("email"), data.get("name"), data.get("age")
        if not isinstance(email, str) or len(email) > 255 or not re.fullmatch(EMAIL, email):
            fields["email"] = ["Invalid email"]
        name = name.strip() if isinstance(name, str) else None
        if name is None or not 1 <= len(name) <= 100:
            fields["name"] = ["Name must be 1 to 100 characters"]
        if "age" in data and (type(age) is not int or not 13 <= age <= 150):
            fields["age"] = ["Age must be a whole number from 13 to 150"]
        for extra in set(data) - {"email", "name", "age"}:
            fields[extra] = ["Unrecognized key"]
        if fields:
            return None, {"formErrors": [], "fieldErrors": fields}
        return {"email": email, "name": name, "age": age}, None

    return _whole({"validate_user": validate_user})


@right("validation")
def strict_types_per_field() -> Fixes:
    """StrictStr/StrictInt per field instead of strict=True; pydantic's own error list."""

    class CreateUser(BaseModel):
        model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
        email: Annotated[StrictStr, Field(max_length=255), AfterValidator(_shape)]
        name: Annotated[StrictStr, Field(min_length=1, max_length=100)]
        age: Annotated[StrictInt, Field(ge=13, le=150)] | None = None

    def validate_user(data: Any) -> tuple[Any, Any]:
        try:
            return CreateUser.model_validate(data).model_dump(), None
        except ValidationError as exc:
            return None, exc.errors(include_url=False, include_input=False, include_context=False)

    return {"validate_user": validate_user}
