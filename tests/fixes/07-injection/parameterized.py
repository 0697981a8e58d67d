"""07 parameterized: wrong and right ways to keep values out of the SQL text."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from labkit.patterns import validation as reference
from tests.fixes.corpus import Fixes, right, wrong

LOGIN_SQL = (
    "SELECT id, email, role, token_version FROM users"
    " WHERE password_matches(?, password_hash) AND email = ?"
)


def _queries(**overrides: Any) -> Fixes:
    fixes: Fixes = {
        "find_users": reference.find_users,
        "create_user": reference.create_user,
        "find_login": reference.find_login,
    }
    return {**fixes, **overrides}


def _whole(**overrides: Any) -> Fixes:
    """All five functions (for verify): the reference schema and body cap, these queries."""
    return {
        **_queries(**overrides),
        "validate_user": reference.validate_user,
        "body_too_large": reference.body_too_large,
    }


def _quote(value: Any) -> str:
    """Hand-made escaping: double every quote, wrap in quotes."""
    return "'" + str(value).replace("'", "''") + "'"


@wrong("parameterized", breaks="lookup-exact", also=("verify",))
def lookup_with_like() -> Fixes:
    """Parameterized, but the lookup uses LIKE: ?email=% lists every member."""

    def find_users(db: sqlite3.Connection, email: str) -> list[Any]:
        return db.execute("SELECT * FROM users WHERE email LIKE ?", (email,)).fetchall()

    return _whole(find_users=find_users)


@wrong("parameterized", breaks="lookup-exact")
def hand_escaped_everywhere() -> Fixes:
    """Every value escaped by doubling quotes into f-strings, age included and quoted."""

    def find_users(db: sqlite3.Connection, email: str) -> list[Any]:
        return db.execute(f"SELECT * FROM users WHERE email = {_quote(email)}").fetchall()

    def create_user(db: sqlite3.Connection, user: dict[str, Any]) -> int:
        age = "NULL" if user.get("age") is None else _quote(user["age"])
        cursor = db.execute(
            "INSERT INTO users (email, name, age, role, password_hash) "
            f"VALUES ({_quote(user['email'])}, {_quote(user['name'])}, {age}, 'viewer', '')"
        )
        return int(cursor.lastrowid or 0)

    def find_login(db: sqlite3.Connection, email: str, password: str) -> list[Any]:
        return db.execute(
            "SELECT id, email, role, token_version FROM users"
            f" WHERE password_matches({_quote(password)}, password_hash)"
            f" AND email = {_quote(email)}"
        ).fetchall()

    return {"find_users": find_users, "create_user": create_user, "find_login": find_login}


@wrong("parameterized", breaks="insert-verbatim")
def escaped_strings_bare_age() -> Fixes:
    """Strings parameterized, but the age pasted in as a number: SQL needs no quote there."""

    def create_user(db: sqlite3.Connection, user: dict[str, Any]) -> int:
        age = "NULL" if user.get("age") is None else str(user["age"]).replace("'", "''")
        cursor = db.execute(
            "INSERT INTO users (email, name, age, role, password_hash) "
            f"VALUES (?, ?, {age}, 'viewer', '')",
            (user["email"], user["name"]),
        )
        return int(cursor.lastrowid or 0)

    return _queries(create_user=create_user)


@wrong("parameterized", breaks="lookup-exact")
def double_quoted_literals() -> Fixes:
    """Hand-escaped into "double quotes": SQLite reads "email" as the column, not a string."""

    def find_users(db: sqlite3.Connection, email: str) -> list[Any]:
        quoted = '"' + email.replace('"', '""') + '"'
        return db.execute(f"SELECT * FROM users WHERE email = {quoted}").fetchall()

    return _queries(find_users=find_users)


@wrong("parameterized", breaks="lookup-exact")
def lookup_with_glob() -> Fixes:
    """GLOB for a case-sensitive match: * and ? are wildcards."""

    def find_users(db: sqlite3.Connection, email: str) -> list[Any]:
        return db.execute("SELECT * FROM users WHERE email GLOB ?", (email,)).fetchall()

    return _queries(find_users=find_users)


@wrong("parameterized", breaks="login-exact")
def login_with_like() -> Fixes:
    """The login matches the email with LIKE: 'a_ice@example.com' logs in as alice."""

    def find_login(db: sqlite3.Connection, email: str, password: str) -> list[Any]:
        return db.execute(
            "SELECT id, email, role, token_version FROM users"
            " WHERE password_matches(?, password_hash) AND email LIKE ?",
            (password, email),
        ).fetchall()

    return _whole(find_login=find_login)


@wrong("parameterized", breaks="login-exact")
def login_forgets_the_password() -> Fixes:
    """The login query finds the account by email only: any password gets in."""

    def find_login(db: sqlite3.Connection, email: str, password: str) -> list[Any]:
        return db.execute(
            "SELECT id, email, role, token_version FROM users WHERE email = ?", (email,)
        ).fetchall()

    return _queries(find_login=find_login)


_BLOCKED = re.compile(r"(?i)\b(or|and|union|select|drop)\b|--|;")


@wrong("parameterized", breaks="no-crash")
def keyword_blocklist() -> Fixes:
    """Strip 'dangerous' words from every value, then paste it in: quotes still break out."""

    def clean(value: Any) -> str:
        return _BLOCKED.sub("", str(value))

    def find_users(db: sqlite3.Connection, email: str) -> list[Any]:
        return db.execute(f"SELECT * FROM users WHERE email = '{clean(email)}'").fetchall()

    def find_login(db: sqlite3.Connection, email: str, password: str) -> list[Any]:
        return db.execute(
            "SELECT id, email, role, token_version FROM users"
            f" WHERE password_matches('{clean(password)}', password_hash)"
            f" AND email = '{clean(email)}'"
        ).fetchall()

    return _queries(find_users=find_users, find_login=find_login)


@wrong("parameterized", breaks="no-injection")
def email_escaped_name_pasted() -> Fixes:
    """The email (the field everyone thinks of) escaped, the name and password pasted."""

    def create_user(db: sqlite3.Connection, user: dict[str, Any]) -> int:
        cursor = db.execute(
            "INSERT INTO users (email, name, age, role, password_hash) "
            f"VALUES ({_quote(user['email'])}, '{user['name']}', ?, 'viewer', '')",
            (user.get("age"),),
        )
        return int(cursor.lastrowid or 0)

    def find_login(db: sqlite3.Connection, email: str, password: str) -> list[Any]:
        return db.execute(
            "SELECT id, email, role, token_version FROM users"
            f" WHERE password_matches('{password}', password_hash) AND email = ?",
            (email,),
        ).fetchall()

    return _whole(create_user=create_user, find_login=find_login)


@wrong("parameterized", breaks="insert-verbatim")
def age_none_as_text() -> Fixes:
    """Every value a parameter, but str() on the age: a missing age is stored as 'None'."""

    def create_user(db: sqlite3.Connection, user: dict[str, Any]) -> int:
        cursor = db.execute(
            "INSERT INTO users (email, name, age, role, password_hash) VALUES (?, ?, ?, ?, ?)",
            (user["email"], user["name"], str(user.get("age")), "viewer", ""),
        )
        return int(cursor.lastrowid or 0)

    return _whole(create_user=create_user)


@right("parameterized", also=("verify",))
def named_placeholders_repository() -> Fixes:
    """A small repository class with named placeholders (:email) and INSERT ... RETURNING."""

    class Users:
        def find(self, db: sqlite3.Connection, email: str) -> list[Any]:
            return db.execute(
                "SELECT id, email, name, age, role FROM users WHERE email = :email",
                {"email": email},
            ).fetchall()

        def add(self, db: sqlite3.Connection, user: dict[str, Any]) -> int:
            row = db.execute(
                "INSERT INTO users (email, name, age, role, password_hash)"
                " VALUES (:email, :name, :age, 'viewer', '') RETURNING id",
                {"email": user["email"], "name": user["name"], "age": user.get("age")},
            ).fetchone()
            return int(row[0])

        def login(self, db: sqlite3.Connection, email: str, password: str) -> list[Any]:
            return db.execute(
                "SELECT id, email, role, token_version FROM users"
                " WHERE email = :email AND password_matches(:password, password_hash)",
                {"email": email, "password": password},
            ).fetchall()

    users = Users()
    return _whole(find_users=users.find, create_user=users.add, find_login=users.login)


@right("parameterized")
def like_with_escaped_wildcards() -> Fixes:
    """LIKE done right: %, _ and \\ escaped, ESCAPE '\\' (case-insensitive, like the column)."""

    def find_users(db: sqlite3.Connection, email: str) -> list[Any]:
        pattern = email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return db.execute(
            "SELECT * FROM users WHERE email LIKE ? ESCAPE '\\'", (pattern,)
        ).fetchall()

    def find_login(db: sqlite3.Connection, email: str, password: str) -> list[Any]:
        rows = db.execute(
            "SELECT id, email, role, token_version, password_hash FROM users"
            " WHERE email = ?1 COLLATE NOCASE",
            (email,),
        ).fetchall()
        return [r for r in rows if db.execute(
            "SELECT password_matches(?, ?)", (password, r["password_hash"])
        ).fetchone()[0]]  # fmt: skip

    return _queries(find_users=find_users, find_login=find_login)
