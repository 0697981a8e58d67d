"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

BrokenShop's flaws outside the seed's twelve rows (lab 13-capstone): the things testers find
on a real audit besides the catalogue — an unbounded sign-up, an order any customer reads,
a friend lookup that shows more than a friend needs, database errors printed to the client
and validation errors that repeat the whole request. Each is a bonus finding of the audit.
Their secure twins are BrokenShop's own (:mod:`labkit.sandbox.apps.shop.exposure`): none of
them is a pattern of the catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "accept_email",
    "can_read_order",
    "database_error",
    "public_profile",
    "validation_errors",
]


def accept_email(email: str) -> str | None:
    """Every email is acceptable at sign-up: no length, no shape (``None``: no error).

    Flaw: an unbounded string is stored — a 1 MB "email" fills the users table, every
    breach, backup and admin page that lists users (CWE-770, CWE-1284).
    Exploited in: 13-capstone (bonus finding oversized-email at POST /api/auth/register).
    Secure twin: labkit.sandbox.apps.shop.exposure.accept_email.
    """
    return None


def can_read_order(owner_id: str, claims: Mapping[str, Any]) -> bool:
    """Any logged-in customer may read any order: "nobody guesses order numbers".

    Flaw: broken object-level authorization (IDOR, CWE-639): order ids are sequential, so
    every customer's purchases are one loop away. OWASP API Security Top 10 2023 API1.
    Exploited in: 13-capstone (bonus finding order-idor at GET /api/orders/{order_id}).
    Secure twin: labkit.sandbox.apps.shop.exposure.can_read_order.
    """
    return True


def public_profile(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the friend lookup shows of a user: every column, role and age included.

    Flaw: excessive data exposure (CWE-213): a customer sending a gift card learns staff
    roles and every user's age. OWASP API Security Top 10 2023 API3.
    Exploited in: 13-capstone (bonus finding excessive-data-exposure at GET /api/users).
    Secure twin: labkit.sandbox.apps.shop.exposure.public_profile.
    """
    return {k: row[k] for k in ("id", "email", "name", "age", "role") if k in row}


def database_error(exc: Exception) -> dict[str, Any]:
    """The body of a 500 after a database error: SQLite's own message, as debug builds do.

    Flaw: the error text carries the SQL and where it broke (CWE-209), which turns a blind
    injection into a guided one. Exploited in: 13-capstone (bonus finding
    sql-error-disclosure at GET /api/users).
    Secure twin: labkit.sandbox.apps.shop.exposure.database_error.
    """
    return {"error": "Database error", "detail": f"{type(exc).__name__}: {exc}"}


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A 422's errors as the validator made them, ``input`` included.

    Flaw: the answer repeats what the client sent — a password in a malformed login, a
    megabyte of text — into the response, browser caches and the logs that keep responses
    (CWE-209, CWE-200). Exploited in: 13-capstone (bonus finding validation-echo).
    Secure twin: labkit.sandbox.apps.shop.exposure.validation_errors.
    """
    return errors
