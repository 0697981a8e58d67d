"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

The users API as the catalogue's anti-example writes it (lab 07-injection): SQL built by
string formatting — ``SELECT * FROM users WHERE email = '${req.body.email}'`` in Python
f-string form — and request bodies trusted as they come: any type, any length, any field.
Secure twin: :mod:`labkit.patterns.validation`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

__all__ = ["body_too_large", "create_user", "find_login", "find_users", "validate_user"]


def find_users(db: sqlite3.Connection, email: str) -> list[sqlite3.Row]:
    """Look users up by email, pasting the email into the SQL text.

    Flaw: SQL injection — a quote in ``email`` ends the string literal and the rest is SQL
    (``' OR '1'='1``, ``' UNION SELECT ... password_hash ...``, blind ``AND`` conditions).
    Exploited in: 07-injection (UNION read of the hashes, boolean-blind extraction,
    stacked query attempt). Secure twin: labkit.patterns.validation.find_users.
    """
    return db.execute(f"SELECT * FROM users WHERE email = '{email}'").fetchall()


def create_user(db: sqlite3.Connection, user: Mapping[str, Any]) -> int:
    """Insert a user, pasting every field into the SQL text.

    Flaw: SQL injection in an INSERT — a name like ``x', NULL, 'admin', '') --`` writes its
    own role — and legitimate names with an apostrophe (O'Brien) crash it.
    Exploited in: 07-injection (INSERT injection, wrong types).
    Secure twin: labkit.patterns.validation.create_user.
    """
    age = user.get("age")
    age_sql = "NULL" if age is None else f"'{age}'"
    cursor = db.execute(
        "INSERT INTO users (email, name, age, role, password_hash) "
        f"VALUES ('{user.get('email')}', '{user.get('name')}', {age_sql}, 'viewer', '')"
    )
    return int(cursor.lastrowid or 0)


def find_login(db: sqlite3.Connection, email: str, password: str) -> list[sqlite3.Row]:
    """Find the user whose password and email match, pasting both into the SQL text.

    Flaw: SQL injection — ``' OR '1'='1`` as the email makes the WHERE clause true for every
    row (``AND`` binds tighter than ``OR``), so the first user, the admin, logs in.
    Exploited in: 07-injection (auth bypass).
    Secure twin: labkit.patterns.validation.find_login.
    """
    return db.execute(
        "SELECT id, email, role, token_version FROM users"
        f" WHERE password_matches('{password}', password_hash) AND email = '{email}'"
    ).fetchall()


def validate_user(data: Any) -> tuple[dict[str, Any], None]:
    """Accept a request body as it is.

    Flaw: no validation — any type (``"age": "abc"``, ``"age": [1]``), any length (a 5 MB
    name), any extra field. Exploited in: 07-injection (oversized input, wrong types).
    Secure twin: labkit.patterns.validation.validate_user.
    """
    return dict(data), None


def body_too_large(content_length: int | None, received: int) -> bool:
    """Never refuse a request body.

    Flaw: no body size limit — the server reads and parses megabytes before anything looks at
    them. Exploited in: 07-injection (oversized input).
    Secure twin: labkit.patterns.validation.body_too_large.
    """
    return False
