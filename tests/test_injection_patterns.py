"""labkit.patterns.validation and its vulnerable twin, as plain library code: the schema,
zod-shaped errors, the body limit rule, and the queries on a real SQLite database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from labkit.patterns import validation as secure
from labkit.vulnerable import BANNER
from labkit.vulnerable import validation as weak


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.row_factory = sqlite3.Row
    connection.create_function("password_matches", 2, lambda pw, stored: int(pw == stored))
    connection.executescript(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY, email TEXT UNIQUE COLLATE NOCASE, role TEXT,
            password_hash TEXT, token_version INTEGER DEFAULT 0, name TEXT, age INTEGER);
        INSERT INTO users (email, role, password_hash, name, age)
            VALUES ('alice@example.com', 'admin', 'secret', 'Alice', 34);
        """
    )
    yield connection
    connection.close()


@pytest.mark.parametrize(
    "email",
    ["o'brien@example.com", "a+tag@sub.example.org", "x|y{z}@example.com", "ada@localhost"],
)
def test_valid_emails_may_carry_sql_metacharacters(email: str) -> None:
    clean, errors = secure.validate_user({"email": email, "name": "A"})
    assert errors is None
    assert clean == {"email": email, "name": "A", "age": None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "name": "A"}, "email"),
        ({"email": "a@example.com' OR '1'='1", "name": "A"}, "email"),
        ({"email": "e" * 250 + "@example.com", "name": "A"}, "email"),
        ({"email": "a@example.com", "name": "   "}, "name"),
        ({"email": "a@example.com", "name": "n" * 101}, "name"),
        ({"email": "a@example.com", "name": "A", "age": "30"}, "age"),
        ({"email": "a@example.com", "name": "A", "age": True}, "age"),
        ({"email": "a@example.com", "name": "A", "age": 12}, "age"),
        ({"email": "a@example.com", "name": "A", "age": 151}, "age"),
        ({"email": "a@example.com", "name": "A", "role": "admin"}, "role"),
    ],
)
def test_the_schema_refuses_with_zod_shaped_field_errors(body: dict[str, Any], field: str) -> None:
    clean, errors = secure.validate_user(body)
    assert clean is None
    assert errors is not None
    assert errors["formErrors"] == []
    assert list(errors["fieldErrors"]) == [field]


def test_the_schema_trims_before_it_counts() -> None:
    clean, _ = secure.validate_user({"email": " a@example.com ", "name": " " + "n" * 100 + " "})
    assert clean is not None
    assert (clean["email"], clean["name"]) == ("a@example.com", "n" * 100)


@pytest.mark.parametrize("data", [[1, 2], "hello", None, 42])
def test_safe_parse_never_raises_on_a_non_object(data: Any) -> None:
    clean, errors = secure.validate_user(data)
    assert clean is None
    assert errors is not None
    assert errors["formErrors"]


def test_body_too_large_counts_declared_and_received_bytes() -> None:
    limit = secure.MAX_BODY_BYTES
    assert not secure.body_too_large(None, 0)
    assert not secure.body_too_large(limit, limit)
    assert secure.body_too_large(limit + 1, 0)
    assert secure.body_too_large(None, limit + 1)
    assert secure.body_too_large(10, limit + 1)  # a Content-Length that lied
    assert not weak.body_too_large(10**9, 10**9)


def test_parameterized_queries_keep_data_as_data(db: sqlite3.Connection) -> None:
    assert secure.find_users(db, "' OR '1'='1") == []
    new_id = secure.create_user(db, {"email": "b@example.com", "name": "x', 'admin') --"})
    row = db.execute("SELECT role, name FROM users WHERE id = ?", (new_id,)).fetchone()
    assert (row["role"], row["name"]) == ("viewer", "x', 'admin') --")
    assert secure.find_login(db, "' OR '1'='1", "x") == []
    assert [r["email"] for r in secure.find_login(db, "alice@example.com", "secret")] == [
        "alice@example.com"
    ]
    assert "password_hash" not in secure.find_users(db, "alice@example.com")[0].keys()  # noqa: SIM118


def test_the_vulnerable_queries_execute_data_as_sql(db: sqlite3.Connection) -> None:
    assert len(weak.find_users(db, "' OR '1'='1")) == 1
    assert [r["role"] for r in weak.find_login(db, "' OR '1'='1", "wrong")] == ["admin"]
    with pytest.raises(sqlite3.OperationalError):
        weak.find_users(db, "o'neill@example.com")
    with pytest.raises(sqlite3.ProgrammingError, match="one statement at a time"):
        weak.find_users(db, "'; DROP TABLE users; --")


def test_the_vulnerable_module_is_labelled() -> None:
    assert (weak.__doc__ or "").startswith(BANNER[:40])
    for name in weak.__all__:
        doc = getattr(weak, name).__doc__ or ""
        assert "Flaw:" in doc
        assert "Exploited in: 07-injection" in doc
        assert f"Secure twin: labkit.patterns.validation.{name}" in doc
