"""Input validation and SQL, done right (lab 07-injection).

Two defences, each covering what the other cannot (OWASP SQL Injection Prevention Cheat
Sheet, "Primary Defenses"; OWASP ASVS 5.0 V1.2.4 and V2.2):

- **Parameterized queries, everywhere.** The SQL text is a constant; values travel
  separately as parameters (``?`` in :mod:`sqlite3`, PEP 249 ``paramstyle = "qmark"``), so
  no value can ever become SQL, whatever it contains. This is the defence against
  injection — validation is not: ``o'brien@example.com`` is a valid email address
  (RFC 5322 §3.2.3 allows ``'`` in a local part) and must still be stored and found.
- **Validate the shape of every input** with a schema (pydantic here, zod in the
  catalogue): types, lengths, ranges and no unexpected fields, so a 5 MB name, an age of
  ``"abc"`` or a smuggled ``"role": "admin"`` never reaches the business logic. The
  request body itself is capped before it is parsed (:func:`install_body_limit`).

A validation failure is a 400 with field errors in the catalogue's shape:
``{"errors": {"formErrors": [...], "fieldErrors": {"age": ["..."]}}}`` (zod's
``error.flatten()``).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "EMAIL_PATTERN",
    "MAX_BODY_BYTES",
    "PUBLIC_COLUMNS",
    "BodySizeLimit",
    "BodyTooLarge",
    "CreateUser",
    "Email",
    "body_too_large",
    "create_user",
    "find_login",
    "find_users",
    "flatten_errors",
    "install_body_limit",
    "safe_parse",
    "validate_user",
]

#: Largest request body accepted: far above any legitimate JSON this API takes.
MAX_BODY_BYTES = 64 * 1024

#: The HTML Living Standard's "valid email address" (§4.10.5.1.5, ``<input type=email>``):
#: a pragmatic subset of RFC 5322 that browsers enforce. Note that it allows ``'``, ``|``,
#: ``{``... — a valid address can carry SQL metacharacters, so it protects nothing by itself.
EMAIL_PATTERN = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)

#: What the users lookup may show: never ``password_hash`` or ``token_version``.
PUBLIC_COLUMNS = ("id", "email", "name", "age", "role")


def _email_shape(value: str) -> str:
    if not EMAIL_PATTERN.fullmatch(value):
        raise ValueError("Invalid email")
    return value


#: An email address: trimmed, at most 255 characters (the catalogue's ``.max(255)``,
#: checked before the pattern), in the HTML standard's shape.
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=255),
    AfterValidator(_email_shape),
]


class CreateUser(BaseModel):
    """The body of ``POST /api/users``: the catalogue's ``CreateUserSchema`` in pydantic.

    ``strict=True`` refuses ``"30"`` and ``true`` for an age, as zod's ``z.number()``
    does. Whitespace is trimmed *before* the length checks: the catalogue's
    ``z.string().min(1).max(100).trim()`` checks first and trims after, so it accepts a
    name of only spaces (eslint-plugin-zod's ``prefer-trim-before-string-length-checks``).
    ``extra="forbid"`` refuses unknown fields instead of silently dropping them, so a
    client that sends ``"role": "admin"`` learns it is not accepted.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    email: Email
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    age: Annotated[int, Field(ge=13, le=150)] | None = None


def flatten_errors(exc: ValidationError) -> dict[str, Any]:
    """zod's ``error.flatten()``: ``{"formErrors": [...], "fieldErrors": {field: [...]}}``."""
    form: list[str] = []
    fields: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        location = error["loc"]
        if location:
            fields.setdefault(str(location[0]), []).append(message)
        else:
            form.append(message)
    return {"formErrors": form, "fieldErrors": fields}


def safe_parse(
    model: type[BaseModel], data: Any
) -> tuple[dict[str, Any], None] | tuple[None, dict[str, Any]]:
    """zod's ``safeParse``: ``(clean_data, None)`` or ``(None, flattened_errors)``; never raises."""
    try:
        return model.model_validate(data).model_dump(), None
    except ValidationError as exc:
        return None, flatten_errors(exc)


def validate_user(data: Any) -> tuple[dict[str, Any], None] | tuple[None, dict[str, Any]]:
    """Validate a ``POST /api/users`` body against :class:`CreateUser`."""
    return safe_parse(CreateUser, data)


# -- parameterized queries (the users table of lab 07) -----------------------------------
# The SQL text of each query is a constant; every value is a parameter. Nothing a client
# sends can change what the statement *does*, only which rows it matches.


def find_users(db: sqlite3.Connection, email: str) -> list[sqlite3.Row]:
    """The users with this email (public columns only)."""
    return db.execute(
        "SELECT id, email, name, age, role FROM users WHERE email = ?", (email,)
    ).fetchall()


def create_user(db: sqlite3.Connection, user: Mapping[str, Any]) -> int:
    """Insert a validated user as a viewer without a password; returns the new id."""
    cursor = db.execute(
        "INSERT INTO users (email, name, age, role, password_hash) VALUES (?, ?, ?, 'viewer', '')",
        (user["email"], user["name"], user.get("age")),
    )
    return int(cursor.lastrowid or 0)


def find_login(db: sqlite3.Connection, email: str, password: str) -> list[sqlite3.Row]:
    """The user whose email and password match (``password_matches`` is an SQL function
    the app registers: argon2 verification, like PostgreSQL pgcrypto's ``crypt()``)."""
    return db.execute(
        "SELECT id, email, role, token_version FROM users"
        " WHERE password_matches(?, password_hash) AND email = ?",
        (password, email),
    ).fetchall()


# -- request body size limit ----------------------------------------------------------------


class BodyTooLarge(Exception):
    """The request body went past the limit while it was being read."""


def body_too_large(content_length: int | None, received: int) -> bool:
    """True once a request body is over :data:`MAX_BODY_BYTES`, declared or actually sent.

    ``Content-Length`` is only a claim (and absent from a chunked upload, RFC 9112
    §6.1), so the bytes received are counted too.
    """
    return (content_length or 0) > MAX_BODY_BYTES or received > MAX_BODY_BYTES


class BodySizeLimit:
    """ASGI middleware: 413 for a request body over the limit, before anyone parses it.

    A declared ``Content-Length`` over the limit is refused before a byte of the body is
    read; a body without one (chunked) or longer than declared is counted as it streams
    and stopped with :class:`BodyTooLarge` (answered 413 by the handler that
    :func:`install_body_limit` registers). RFC 9110 §15.5.14 (413 Content Too Large).
    """

    def __init__(
        self, app: ASGIApp, too_large: Callable[[int | None, int], bool] = body_too_large
    ) -> None:
        self.app = app
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if self.too_large(declared, 0):
            await _refuse(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if self.too_large(declared, received):
                    raise BodyTooLarge(f"request body over the limit after {received} bytes")
            return message

        await self.app(scope, counted_receive, send)


def install_body_limit(
    app: Any, too_large: Callable[[int | None, int], bool] = body_too_large
) -> None:
    """Add :class:`BodySizeLimit` to a Starlette/FastAPI app and answer its refusals 413."""

    async def on_too_large(request: Request, exc: Exception) -> JSONResponse:
        return _too_large_response()

    app.add_middleware(BodySizeLimit, too_large=too_large)
    app.add_exception_handler(BodyTooLarge, on_too_large)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large_response() -> JSONResponse:
    # Connection: close — the rest of an unread body must not be taken for the next request
    return JSONResponse(
        {"error": "Request body too large"}, status_code=413, headers={"Connection": "close"}
    )


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    await _too_large_response()(scope, receive, send)
