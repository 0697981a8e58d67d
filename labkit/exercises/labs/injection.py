"""07-injection: bypass a login, read the hashes, extract them blind, overflow and mistype the
input — then parameterize every query, validate every body and cap its size.

Every check works over HTTP. What a breach exposes comes from the lab-only
``/api/_lab/dump`` (the users table); the seeded logins from ``/api/_lab/accounts``.
The fix checks replay :data:`labkit.attacks.injection.PAYLOADS` plus legitimate data that
looks like SQL (O'Brien, ``o'hara@...``, Bobby Tables) and must be stored as it is.
"""

from __future__ import annotations

import json
import random
import secrets
import socket
import string
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from labkit.attacks.injection import PAYLOADS, replay
from labkit.exercises.check import CheckContext, Findings, Verdict, shorten
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules

__all__ = ["LAB", "MIN_OVERSIZED_CHARS"]

LAB = LabDefinition("07-injection", "07 · Injection", "labkit.sandbox.apps.injection")

USERS, LOGIN, ME = "/api/users", "/api/auth/login", "/api/auth/me"
DUMP, ACCOUNTS = "/api/_lab/dump", "/api/_lab/accounts"
#: A name this long proves there is no length limit at all (the schema allows 100).
MIN_OVERSIZED_CHARS = 1_000_000
BIG_BODY_BYTES = 5 * 1024 * 1024
#: A legitimate client may send this much (pretty-printed JSON, long names in other scripts).
ACCEPTED_BODY_BYTES = 16 * 1024
MAX_LISTED = 12
PER_ROUTE = 3
ROUTE_NAMES = {
    "lookup": "GET /api/users",
    "login": "POST /api/auth/login",
    "create": "POST /api/users",
}


# -- helpers the checks share ------------------------------------------------------------
class AppBroken(Exception):
    """The app cannot serve the check at all (a learner function fails every time)."""


def _fault(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    fault = body.get("labkitFault") or body.get("detail")
    return f" — {fault}" if isinstance(fault, str) and fault else ""


def _email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@checks.example"


def _dump(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get(DUMP)
    if response.status_code != 200:
        raise AppBroken(f"the app answers {response.status_code}{_fault(response)}")
    return {str(u["email"]).lower(): u for u in response.json()["users"]}


def _accounts(client: httpx.Client) -> dict[str, str]:
    response = client.get(ACCOUNTS)
    if response.status_code != 200:
        raise AppBroken(f"the app answers {response.status_code}{_fault(response)}")
    return {a["email"]: a["password"] for a in response.json()}


def _whoami(client: httpx.Client, token: str) -> dict[str, Any]:
    if not token:
        return {}
    response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    return response.json() if response.status_code == 200 else {}


def _token(response: httpx.Response) -> str:
    if response.status_code != 200:
        return ""
    try:
        return str(response.json().get("accessToken", ""))
    except (ValueError, AttributeError):
        return ""


def _names_field(response: httpx.Response, field: str) -> bool:
    """A 400/422 whose ``errors`` mention ``field`` (zod's flatten, pydantic's list...)."""
    if response.status_code not in (400, 422):
        return False
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return False
    return bool(errors) and field in json.dumps(errors)


def _listed(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_LISTED:
        return problems
    return [*problems[:MAX_LISTED], f"...and {len(problems) - MAX_LISTED} more"]


# -- attacks -----------------------------------------------------------------------------
@LAB.check(
    "auth-bypass",
    title="Log in as the admin without her password",
    kind="attack",
    hints=(
        "The login pastes your email into: ... WHERE password_matches('<password>', "
        "password_hash) AND email = '<email>'",
        "AND binds tighter than OR: close the quote, then add OR with a condition that is "
        "always true. The app's own closing quote must still fit: end with '1'='1",
        "lab.client.post('/api/auth/login', json=bypass) with bypass = {'email': \"' OR "
        "'1'='1\", 'password': 'x'} (or labkit.attacks.injection.login(lab.client, **bypass)); "
        "hand in the body.",
    ),
    answer_help="the login body {'email': ..., 'password': ...} that logs you in as alice",
)
def auth_bypass(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if isinstance(answer, (tuple, list)) and len(answer) == 2:
        answer = {"email": answer[0], "password": answer[1]}
    if not (
        isinstance(answer, dict)
        and isinstance(answer.get("email"), str)
        and isinstance(answer.get("password"), str)
    ):
        return Verdict(False, "expected the login body {'email': ..., 'password': ...}")
    with ctx.target.client() as client:
        accounts = _accounts(client)
        if answer["password"] in accounts.values():
            return Verdict(False, "that is a real password: log in without knowing one")
        response = client.post(LOGIN, json=answer)
        me = _whoami(client, _token(response))
    if not me:
        return Verdict(
            False,
            "that login does not get in",
            (f"the login answered {response.status_code}{_fault(response)}",),
        )
    if me.get("role") != "admin":
        return Verdict(False, f"you got in as {me.get('email')} ({me.get('role')}), not an admin")
    return Verdict(
        True,
        f"logged in as {me.get('email')} ({me.get('role')}) without a password",
        ("the WHERE clause became true for every row, and the first row is the admin",),
    )


@LAB.check(
    "union-hashes",
    title="Read every password hash through the lookup (UNION SELECT)",
    kind="attack",
    hints=(
        "Count the lookup's columns first: ' ORDER BY n -- errors once n is too large.",
        "' UNION SELECT <as many columns> FROM users -- : put password_hash where the "
        "response shows a text field, e.g. the name (6th column).",
        "Send it as lab.client.get('/api/users', params={'email': union}); the rows come "
        "back in .json()['users']. Ready-made: labkit.attacks.injection.column_count("
        "lab.client) and union_read(lab.client, 'SELECT id, email, ... FROM users'). Hand in "
        "a dict {email: password_hash}.",
    ),
    answer_help="a dict {email: password_hash} for alice, bob and carol",
)
def union_hashes(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not isinstance(answer, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in answer.items()
    ):
        return Verdict(False, f"expected a dict {{email: hash}}, got {type(answer).__name__}")
    with ctx.target.client() as client:
        table = _dump(client)
    staff = {email: row for email, row in table.items() if row.get("password_hash")}
    right = [
        e
        for e, h in answer.items()
        if e.lower() in staff and staff[e.lower()]["password_hash"] == h
    ]
    findings = Findings()
    findings.expect(
        len(right) == len(staff),
        f"{len(right)} of the {len(staff)} password hashes are right",
        f"all {len(staff)} password hashes read through a lookup that shows names",
    )
    return findings.verdict("the hashes leaked through the lookup", "not every hash was read")


@LAB.check(
    "blind-extract",
    title="Extract alice's hash one yes/no question at a time",
    kind="attack",
    hints=(
        "One bit per request is enough: 'alice comes back' or 'no rows' answers any SQL "
        "condition you can AND into her lookup.",
        'oracle: the email f"alice@example.com\' AND ({condition}) --", True when '
        ".json()['users'] is not empty. Bisect: while low < high: middle = (low + high) // 2; "
        "if oracle(f'({expr}) > {middle}'): low = middle + 1 else: high = middle — on "
        "length((SELECT ...)) and on unicode(substr((SELECT ...), i, 1)) for each i.",
        "Ready-made: oracle = labkit.attacks.injection.lookup_oracle(lab.client, "
        "'alice@example.com'); labkit.attacks.injection.blind_extract(oracle, alice_hash_sql, "
        "progress=True) does the bisection.",
    ),
    answer_help="alice's password hash, as a string",
)
def blind_extract(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str) or not ctx.answer:
        return Verdict(False, f"expected the hash as a string, got {type(ctx.answer).__name__}")
    with ctx.target.client() as client:
        real = _dump(client)["alice@example.com"]["password_hash"]
    if ctx.answer != real:
        pairs = enumerate(zip(ctx.answer, real, strict=False))
        same = next((i for i, (a, b) in pairs if a != b), min(len(ctx.answer), len(real)))
        return Verdict(
            False,
            "that is not alice's hash",
            (f"the first {same} characters are right; you have {len(ctx.answer)} of {len(real)}",),
        )
    return Verdict(
        True,
        f"all {len(real)} characters read without the app ever showing them",
        ("only 'rows or no rows' was used: any true/false difference is enough",),
    )


@LAB.check(
    "stacked-query",
    title="Try a stacked query (a second statement after ';')",
    kind="attack",
    hints=(
        "A stacked query ends the first statement with ';' and starts another.",
        "Close the quote, end the statement, add the second one and comment out the rest: "
        "'; DROP TABLE users; --. Hand in the email you sent; the check sends it again.",
        "Ready-made: labkit.attacks.injection.STACKED is that email.",
    ),
    answer_help="the lookup email carrying '; <second statement>",
)
def stacked_query(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str) or ";" not in ctx.answer:
        return Verdict(False, "expected an email string with ';' and a second statement in it")
    with ctx.target.client() as client:
        response = client.get(USERS, params={"email": ctx.answer})
        survived = "alice@example.com" in _dump(client)
    detail = _fault(response)
    if response.status_code != 500 or "one statement at a time" not in detail:
        return Verdict(
            False,
            "that did not reach the database as two statements",
            (f"the lookup answered {response.status_code}{detail}",),
        )
    return Verdict(
        True,
        "sqlite3 refused to run two statements in one execute()",
        (
            f"the app answered 500{detail}",
            "the users table is still there" if survived else "the users table is gone!",
            "execute() runs one statement; executescript() (and many other drivers) run all",
        ),
    )


@LAB.check(
    "oversized",
    title="Store a multi-megabyte name",
    kind="attack",
    hints=(
        "Nothing caps the request body or the name: what does the app do with megabytes?",
        "lab.client.post('/api/users', json={'email': <a new address>, 'name': 'x' * "
        "5_000_000}); hand in the email.",
        "Ready-made: labkit.attacks.injection.create(lab.client, body) and "
        "injection.fresh_email('huge').",
    ),
    answer_help="the email of an account whose name is over a million characters",
)
def oversized(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str):
        return Verdict(False, f"expected an email string, got {type(ctx.answer).__name__}")
    with ctx.target.client() as client:
        row = _dump(client).get(ctx.answer.lower())
    if row is None:
        return Verdict(False, f"no account {ctx.answer!r} in the database")
    length = int(row.get("nameLength") or 0)
    if length < MIN_OVERSIZED_CHARS:
        return Verdict(False, f"its name is {length:,} characters: go past {MIN_OVERSIZED_CHARS:,}")
    return Verdict(
        True,
        f"a {length:,}-character name is in the database",
        (
            "nothing capped the request body or the field: memory, disk and every page showing "
            "that name pay for it",
        ),
    )


@LAB.check(
    "wrong-types",
    title="Store ages that are not numbers",
    kind="attack",
    hints=(
        "JSON has strings, numbers, booleans, lists and objects; the app stores whatever "
        "arrives as age.",
        "Sign up a few new emails with age 'abc', [30], {'$gt': 0}, True, 30.5 "
        "(lab.client.post('/api/users', json=body)); hand in the list of the emails that got "
        "201.",
        "Ready-made: labkit.attacks.injection.wrong_type_bodies() holds such bodies.",
    ),
    answer_help="a list of emails of accounts whose stored age is not a number",
)
def wrong_types(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not isinstance(answer, (list, tuple, set)) or not all(isinstance(e, str) for e in answer):
        return Verdict(False, f"expected a list of emails, got {type(answer).__name__}")
    with ctx.target.client() as client:
        table = _dump(client)
    ages = {e: table[e.lower()].get("age") for e in answer if e.lower() in table}
    odd = {e: a for e, a in ages.items() if isinstance(a, (str, float))}
    findings = Findings()
    findings.expect(
        len(odd) >= 2,
        f"{len(odd)} of your accounts has an age that is not a whole number; store at least 2",
    )
    for email, age in list(odd.items())[:MAX_LISTED]:
        findings.saw(f"{email}: age {age!r}")
    return findings.verdict(
        "the database holds ages that are not numbers", "not enough wrongly typed ages stored"
    )


# -- the fix: rules ----------------------------------------------------------------------
#: A body up to this size is legitimate (pretty-printed JSON, long names in other scripts)...
MIN_CAP_BYTES = 16 * 1024
#: ...and one over this size is never needed by this API.
MAX_CAP_BYTES = 1024 * 1024
#: How long the app may take to refuse a declared oversized body it has not received.
DECLARED_WAIT_S = 5.0

PARAMETERIZED_RULES = (
    Rule(
        "no-injection",
        "No value a client sends changes what a query does: the check's payload battery "
        "(tautologies, UNION reads, blind conditions, stacked queries, comment tricks) finds "
        "nothing in the lookup, the login or the sign-up.",
    ),
    Rule(
        "lookup-exact",
        "The lookup returns exactly the users whose email equals the one asked for, whatever "
        "it holds: `'`, `\"`, `%`, `_`, `*`, `?`, `[`, `\\`, a NUL character, a column name "
        "and non-ASCII letters are ordinary characters (no LIKE or GLOB, no escaping by hand). "
        "Letter case may be ignored, as the column's `COLLATE NOCASE` does.",
    ),
    Rule(
        "insert-verbatim",
        "Sign-up stores `email`, `name` and `age` exactly as they were sent (quotes, `--`, "
        "`;`, `||`, and SQL sent where a number goes, are data), a missing age as NULL, "
        "with role `viewer`; the same email twice gets 409.",
    ),
    Rule(
        "login-exact",
        "The login returns the account whose email equals the one sent, and only when its "
        "password matches: a wrong password, a password holding quotes or a NUL, or an email "
        "with `%` or `_` standing for letters gets 401.",
    ),
)
VALIDATION_RULES = (
    Rule(
        "email-field",
        "`email` is required: a string of at most 255 characters (255 is accepted) in the "
        "shape of `EMAIL_PATTERN`, the HTML standard's valid email address (so "
        "`o'hara@example.com` is accepted); `null`, a number, a boolean, a list or an object "
        "is refused.",
    ),
    Rule(
        "name-field",
        "`name` is required: a string of 1 to 100 characters (characters, not bytes) after "
        "trimming the spaces around it, and the trimmed name is what is stored; `null`, "
        "only spaces, a number, a boolean, a list or an object is refused.",
    ),
    Rule(
        "age-field",
        "`age` may be left out (stored as NULL); when given it is a JSON integer from 13 to "
        '150. A string such as `"30"`, `true` or `false`, a fraction such as `30.5`, a list '
        "or an object is refused, never converted (pydantic: `strict=True`).",
    ),
    Rule(
        "no-extra-fields",
        "A body with any other field (`role`, `id`, `password_hash`, anything) is refused, "
        "not silently dropped.",
    ),
    Rule(
        "field-errors",
        'A refused body gets 400 with `{"errors": ...}` naming each wrong field (zod\'s '
        '`{"formErrors": [...], "fieldErrors": {...}}` is the reference shape); a body that '
        "is not a JSON object (a list, a string, a number, `null`) gets 400 too; nothing "
        "refused is stored.",
    ),
)
BODY_LIMIT_RULES = (
    Rule(
        "cap-range",
        f"Your cap lies between {MIN_CAP_BYTES // 1024} KiB and {MAX_CAP_BYTES // 1024**2} MiB: "
        f"every body of up to {MIN_CAP_BYTES:,} bytes is accepted, every body over "
        f"{MAX_CAP_BYTES:,} bytes gets 413 (the check sends sizes in between at random).",
    ),
    Rule(
        "declared-too-large",
        "A request whose `Content-Length` is over your cap gets 413 before its body is read "
        f"(the check declares one and waits up to {DECLARED_WAIT_S:g} s without sending it).",
    ),
    Rule(
        "streamed-too-large",
        "A body sent without `Content-Length` (chunked: `content_length` is `None`) is "
        "counted as it arrives and stopped with 413 once it passes your cap.",
    ),
)


# -- the fix: generated inputs -----------------------------------------------------------
#: Characters the HTML standard allows in an email's local part besides letters and digits.
LOCAL_SPECIALS = "'%_*?{|}~^`#$&+/=!-"
#: Characters anyone can put in a look-up (the lookup does not validate).
LOOKUP_SPECIALS = LOCAL_SPECIALS + '"\\[];() '
NON_ASCII = "éøßçñüåæž宮"
SQL_FRAGMENTS = ("'", "''", "--", ";", "||", "/*", "*/", " OR ", "%", "_", '"', "\\", ")")
DOMAINS = ("checks.example", "mail.checks.example", "x-y.example")
_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
ALNUM = string.ascii_lowercase + string.digits
SEED_ROUTE = "/api/_lab/members"


def _fold(text: str) -> str:
    """SQLite's NOCASE: ASCII letters only."""
    return text.translate(_ASCII_FOLD)


def _word(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(ALNUM) for _ in range(size))


def _sprinkle(rng: random.Random, base: str, specials: str, count: int) -> str:
    chars = list(base)
    for special in rng.sample(specials, count):
        chars.insert(rng.randrange(1, len(chars) + 1), special)
    return "".join(chars)


def _valid_email(rng: random.Random, quotes: bool = True, length: int = 0) -> str:
    """A valid address with metacharacters in it (``'`` only when ``quotes``)."""
    specials = LOCAL_SPECIALS if quotes else LOCAL_SPECIALS.replace("'", "")
    domain = rng.choice(DOMAINS)
    local = _sprinkle(rng, "m" + _word(rng, 9), specials, 3)
    if length:
        local = (local + _word(rng, length))[: length - len(domain) - 1]
    return f"{local}@{domain}"


def _lookup_email(rng: random.Random) -> str:
    """An email with any character in it (seeded straight into the table)."""
    local = _sprinkle(rng, "q" + _word(rng, 8), LOOKUP_SPECIALS, 3)
    return _sprinkle(rng, local, NON_ASCII, 1) + "@" + rng.choice(DOMAINS)


def _hostile_name(rng: random.Random) -> str:
    parts = [rng.choice(("Ann", "Bo", "Cai", "Dée", "Eun-ji", "宮崎"))]
    for fragment in rng.sample(SQL_FRAGMENTS, 4):
        parts.append(fragment + _word(rng, 2))
    return "".join(parts).strip()[:100]


def _lookup_queries(rng: random.Random, members: list[str]) -> list[str]:
    """Exact emails, their wildcard and case variants, NUL, a quote, column names."""
    target = rng.choice(members)
    cut = rng.randrange(2, len(target) - 2)
    spot = rng.choice([i for i, c in enumerate(target) if c in ALNUM])
    before, after = target[:spot], target[spot + 1 :]
    return [
        *members,
        target.translate(_ASCII_UPPER),
        rng.choice(("%", "_%", "%@%", "%%")),
        rng.choice(("*", "?*", "*@*")),
        target[:cut] + "%",
        "%" + target[cut:],
        before + "_" + after,
        before + "?" + after,
        before + f"[{target[spot]}]" + after,
        target[:cut] + "*",
        target[:cut] + "\x00" + target[cut:],
        target + "'",
        rng.choice(("email", "name", "role", "EMAIL")),
        rng.choice(('"email"', "`email`", "[email]")),
        "o'neill@example.com",
    ]


def _numeric_payloads(rng: random.Random) -> list[str]:
    """SQL sent where the INSERT puts a number: no quote to escape."""
    age = rng.randint(13, 150)
    return [
        f"{age}, char(97,100,109,105,110), char(120)) --",
        "(SELECT password_hash FROM users ORDER BY id LIMIT 1)",
        f"{age} + (SELECT count(*) FROM users)",  # noqa: S608 - a payload, not our query
    ]


# -- the fix: batteries ------------------------------------------------------------------
def _injection_battery(client: httpx.Client, findings: Findings) -> None:
    problems: dict[str, list[str]] = {}
    for payload in PAYLOADS:
        outcome = replay(client, payload)
        if outcome.found:
            line = f"{payload.id} ({payload.goal}): {outcome.evidence}"
            problems.setdefault(payload.route, []).append(line)
    for route, lines in problems.items():  # a few of each route: every hole gets named
        for line in lines[:PER_ROUTE]:
            findings.fail(f"{ROUTE_NAMES[route]}: {line}", rule="no-injection")
        if len(lines) > PER_ROUTE:
            findings.fail(
                f"{ROUTE_NAMES[route]}: ...and {len(lines) - PER_ROUTE} more payloads",
                rule="no-injection",
            )
    table = _dump(client)
    findings.expect(
        "alice@example.com" in table,
        "the users table lost its rows during the battery",
        rule="no-injection",
    )
    if not problems:
        findings.saw(f"all {len(PAYLOADS)} injection payloads found nothing")


def _create(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post(USERS, json=body)


def _users_of(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        users = response.json().get("users")
    except (ValueError, AttributeError):
        return []
    return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []


def _table(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get(DUMP)
    if response.status_code != 200:
        raise AppBroken(f"the app answers {response.status_code}{_fault(response)}")
    return list(response.json()["users"])


def _report(findings: Findings, rule: str, problems: list[str], limit: int = 3) -> None:
    for problem in problems[:limit]:
        findings.fail(problem, rule=rule)
    if len(problems) > limit:
        findings.fail(f"...and {len(problems) - limit} more like these", rule=rule)


def _lookup_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    members = [_lookup_email(rng) for _ in range(5)]
    users = [{"email": email, "name": "Probe"} for email in members]
    seeded = client.post(SEED_ROUTE, json={"users": users})
    if seeded.status_code != 200:
        raise AppBroken(f"seeding look-ups got {seeded.status_code}{_fault(seeded)}")
    table = _table(client)
    email_of = {row["id"]: row["email"] for row in table}
    queries = _lookup_queries(rng, members)
    problems = []
    for query in queries:
        response = client.get(USERS, params={"email": query})
        expected = sorted(e for e in email_of.values() if _fold(e) == _fold(query))
        if response.status_code != 200:
            problems.append(f"looking up {query!r} got {response.status_code}{_fault(response)}")
            continue
        got = sorted(str(u.get("email") or email_of.get(u.get("id"))) for u in _users_of(response))
        if got != expected:
            shown = ", ".join(repr(e) for e in got[:2]) + (", ..." if len(got) > 2 else "")
            problems.append(
                f"looking up {query!r} returned {len(got)} row(s) ({shown or 'none'}); exactly "
                f"{len(expected)} user(s) have that email"
            )
    _report(findings, "lookup-exact", problems)
    if not problems:
        findings.saw(
            f"{len(queries)} look-ups (quotes, %, _, *, ?, [, \\, NUL, column names) returned "
            "exactly the matching rows"
        )


def _stored(table: list[dict[str, Any]], email: str) -> dict[str, Any] | None:
    return next((row for row in table if _fold(str(row["email"])) == _fold(email)), None)


def _insert_battery(
    client: httpx.Client, findings: Findings, rng: random.Random, quotes: bool = True
) -> None:
    names = [*LEGIT_NAMES, *(_hostile_name(rng) for _ in range(3))]
    if not quotes:
        names = [n.replace("'", "") for n in names]
    bodies = []
    for index, name in enumerate(names):
        body: dict[str, Any] = {"email": _valid_email(rng, quotes), "name": name}
        # the first sign-up has no age and the second has one, whatever the seed: a missing
        # age must be stored as NULL, a given one as that number
        if index == 1 or (index > 1 and rng.random() < 0.7):
            body["age"] = rng.randint(13, 150)
        bodies.append(body)
    problems = []
    created = []
    for body in bodies:
        response = _create(client, body)
        if response.status_code != 201:
            problems.append(
                f"signing up {body['name']!r} <{body['email']}> got "
                f"{response.status_code}{_fault(response)}"
            )
        else:
            created.append(body)
    numeric = []
    for payload in _numeric_payloads(rng):
        body = {"email": _valid_email(rng, quotes), "name": "Numeric Context", "age": payload}
        response = _create(client, body)
        if response.status_code == 201:
            numeric.append(body)
        elif response.status_code >= 500:
            problems.append(f"an age of {payload!r} got {response.status_code}{_fault(response)}")
    table = _table(client)
    for body in [*created, *numeric]:
        row = _stored(table, body["email"])
        want = {"email": body["email"], "name": body["name"], "age": body.get("age")}
        want["role"] = "viewer"
        got = {k: row.get(k) for k in want} if row else {}
        if got != want:
            diff = {k: got.get(k) for k in want if got.get(k) != want[k]}
            problems.append(f"sent {_short(body)}, stored {diff or 'nothing'}")
    for body in created[:3]:
        found = client.get(USERS, params={"email": body["email"]})
        if [u.get("name") for u in _users_of(found)] != [body["name"]]:
            problems.append(f"{body['email']!r} cannot be found after signing up")
    if created:
        again = _create(client, {"email": created[0]["email"], "name": "Twice"})
        if again.status_code != 409:
            problems.append(
                f"signing up {created[0]['email']!r} twice got {again.status_code}, not 409"
            )
    _report(findings, "insert-verbatim", problems)
    if not problems:
        findings.saw(
            f"{len(created)} sign-ups with quotes, --, ; and || in them stored exactly, "
            "and SQL sent as the age never ran"
        )


def _short(body: dict[str, Any]) -> str:
    return shorten(json.dumps(body, ensure_ascii=False), 120)


def _login_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    email, password = rng.choice(sorted(_accounts(client).items()))
    problems = []
    response = client.post(LOGIN, json={"email": email, "password": password})
    me = _whoami(client, _token(response))
    if me.get("email") != email:
        problems.append(f"{email} cannot log in ({response.status_code}{_fault(response)})")
    spot = rng.choice([i for i, c in enumerate(email) if c.isalpha()])
    cut = email.index("@")
    wrong_passwords = [
        password + rng.choice("x'1"),
        password[:-1],
        password.swapcase(),
        f"{password[:4]}'{password[4:]}",
        f"{password[:3]}\x00{password[3:]}",
    ]
    wrong_emails = [email[:spot] + "_" + email[spot + 1 :], "%" + email[cut:], email[:cut] + "%"]
    attempts = [(email, p, f"the wrong password {p!r}") for p in wrong_passwords]
    attempts += [(e, password, f"the email {e!r} with the right password") for e in wrong_emails]
    for sent_email, sent_password, label in attempts:
        refused = client.post(LOGIN, json={"email": sent_email, "password": sent_password})
        if refused.status_code != 401:
            problems.append(f"{label} got {refused.status_code}{_fault(refused)}, not 401")
    _report(findings, "login-exact", problems)
    if not problems:
        findings.saw("the login takes the exact email with its password, nothing else")


#: Legitimate people whose data looks like SQL: it must be stored and found as it is.
LEGIT_NAMES = (
    "Siobhan O'Brien",
    "Gregory Orr-Ortega",
    "Robert'); DROP TABLE students;--",  # xkcd 327: a name is data, whatever it says
    "Zoë Ørsted 宮崎",
)


# -- validation --------------------------------------------------------------------------
def _invalid_bodies(rng: random.Random, quotes: bool) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(label, the field that is wrong, body): every field mistyped, out of range or absent."""

    def base() -> dict[str, Any]:
        return {"email": _valid_email(rng, quotes), "name": "Val Idation", "age": 40}

    age, name = rng.randint(13, 150), "N" + _word(rng, 5)
    wrong: dict[str, list[Any]] = {
        "email": [
            None, rng.randint(1, 10**6), rng.choice((True, False)), [_valid_email(rng, quotes)],
            {"$ne": None}, "", "no-at-sign.example", f"{_word(rng, 5)}@@checks.example",
            f"{_word(rng, 3)} {_word(rng, 3)}@checks.example", f"@{rng.choice(DOMAINS)}",
            f"{_word(rng, 5)}@-bad.example", _valid_email(rng, quotes, length=256),
            _valid_email(rng, quotes, length=rng.randint(257, 2000)),
        ],
        "name": [
            None, rng.randint(1, 10**6), rng.choice((True, False)), [name], {"first": name},
            "", " " * rng.randint(1, 8), "n" * 101, "  " + _word(rng, 101) + "  ",
            _word(rng, rng.randint(102, 5000)),
        ],
        "age": [
            str(age), "abc", True, False, age + 0.5, [age], {"years": age},
            12, 151, rng.randint(152, 10**6), rng.randint(-(10**6), 12),
        ],
    }  # fmt: skip
    for field, values in wrong.items():
        for value in values:
            body = base()
            body[field] = value
            yield f"{field} {shorten(json.dumps(value, ensure_ascii=False), 40)}", field, body
        body = base()
        if field != "age":
            del body[field]
            yield f"no {field}", field, body
    for extra in ("role", "id", "password_hash", f"x_{_word(rng, 4)}"):
        body = base()
        body[extra] = "admin" if extra == "role" else rng.randint(1, 99)
        yield f"an extra field {extra!r}", extra, body


def _valid_bodies(
    rng: random.Random, quotes: bool
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(label, body, what must be stored)."""
    unicode_name = "".join(rng.choice("Zoëåßçñ宮崎ž") for _ in range(100))
    plain = "P" + _word(rng, rng.randint(3, 30))
    age = rng.randint(13, 150)
    email = _valid_email(rng, quotes)
    yield "no age", {"email": email, "name": plain}, {"name": plain, "age": None}
    for value in (13, 150, age):
        yield (
            f"age {value}",
            {"email": _valid_email(rng, quotes), "name": plain, "age": value},
            {"age": value},
        )
    yield "a 1-character name", {"email": _valid_email(rng, quotes), "name": "Q"}, {"name": "Q"}
    long_name = "m" + _word(rng, 99)
    yield (
        "a 100-character name",
        {"email": _valid_email(rng, quotes), "name": long_name},
        {"name": long_name},
    )
    yield (
        "a 100-character non-ASCII name",
        {
            "email": _valid_email(rng, quotes),
            "name": unicode_name,
        },
        {"name": unicode_name},
    )
    padded = " " * rng.randint(1, 4) + long_name + " " * rng.randint(1, 4)
    yield (
        "a 100-character name with spaces around",
        {
            "email": _valid_email(rng, quotes),
            "name": padded,
        },
        {"name": long_name},
    )
    full = _valid_email(rng, quotes, length=255)
    yield "a 255-character email", {"email": full, "name": plain}, {"email": full}
    yield "an email with metacharacters", {"email": email.replace("@", "x@"), "name": plain}, {}


def _validation_battery(
    client: httpx.Client, findings: Findings, rng: random.Random, quotes: bool = True
) -> None:
    problems: dict[str, list[str]] = {}
    refused: list[str] = []
    for label, field, body in _invalid_bodies(rng, quotes):
        response = _create(client, body)
        rule = f"{field}-field" if field in ("email", "name", "age") else "no-extra-fields"
        if response.status_code in (400, 422) and not _names_field(response, field):
            problems.setdefault("field-errors", []).append(
                f"{label}: {response.status_code} but the errors do not name {field!r}: "
                f"{response.text[:80]}"
            )
        elif response.status_code not in (400, 422):
            kept = response.json().get(field) if response.status_code == 201 else None
            stored = f" (stored {shorten(repr(kept), 40)})" if response.status_code == 201 else ""
            problems.setdefault(rule, []).append(
                f"{label} got {response.status_code}{stored}: refuse it with 400"
            )
        if response.status_code in (400, 422) and isinstance(body.get("email"), str):
            refused.append(_fold(body["email"]))
    for value in ([1, 2], "hello", rng.randint(0, 99), None, True):
        response = client.post(USERS, json=value)
        if response.status_code not in (400, 422) or "errors" not in response.text:
            problems.setdefault("field-errors", []).append(
                f"the body {json.dumps(value)} got {response.status_code}{_fault(response)}"
            )
    for label, body, expected in _valid_bodies(rng, quotes):
        response = _create(client, body)
        stored = response.json() if response.status_code == 201 else {}
        wrong = {k: stored.get(k) for k, v in expected.items() if stored.get(k) != v}
        if response.status_code != 201 or wrong:
            field = next(iter(wrong or expected), "email")  # the field stored wrongly
            problems.setdefault(f"{field}-field", []).append(
                f"{label} (valid): got {response.status_code} "
                f"{shorten(repr(wrong), 80) if wrong else response.text[:80]}"
            )
    table = {_fold(str(row["email"])) for row in _table(client)}
    leaked = [email for email in refused if email in table]
    if leaked:
        problems.setdefault("field-errors", []).append(
            f"{len(leaked)} refused body(ies) were stored anyway"
        )
    for rule, lines in problems.items():
        _report(findings, rule, lines, limit=2)
    if not problems:
        findings.saw("every wrong type, length, range and extra field refused with field errors")


# -- body size ---------------------------------------------------------------------------
def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"email": "' + _email("stream").encode() + b'", "name": "'
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size
    yield b'"}'


def _post_big(client: httpx.Client, content: Any, headers: dict[str, str]) -> httpx.Response | str:
    try:
        return client.post(USERS, content=content, headers=headers)
    except httpx.TransportError as exc:  # the server may cut an upload off mid-stream
        return f"connection closed ({type(exc).__name__})"


def _padded_body(size: int) -> bytes:
    """A valid sign-up of exactly ``size`` bytes (JSON allows any whitespace)."""
    body = json.dumps({"email": _email("padded"), "name": "Padded Body"})
    return (body[:-1] + " " * (size - len(body)) + "}").encode()


def _declared_without_body(client: httpx.Client, size: int) -> str:
    """Declare ``size`` bytes, send none: the status line the app answers, or why none came."""
    url = client.base_url
    try:
        with socket.create_connection((url.host, url.port or 80), timeout=DECLARED_WAIT_S) as sock:
            sock.sendall(
                (
                    f"POST {USERS} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
                ).encode()
            )
            head = sock.recv(64).decode("latin-1")
    except TimeoutError:
        return "no answer"
    except OSError as exc:
        return f"connection failed ({type(exc).__name__})"
    return head.split("\r\n", 1)[0]


def _body_limit_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    json_headers = {"content-type": "application/json"}
    over = rng.randint(MAX_CAP_BYTES + 1, 2 * MAX_CAP_BYTES)
    declared = _padded_body(over)
    response = _post_big(client, declared, json_headers)
    status = response if isinstance(response, str) else response.status_code
    refused = findings.expect(
        status == 413,
        f"a {over:,}-byte body with Content-Length got {status}"
        f"{'' if isinstance(response, str) else _fault(response)}: refuse it with 413",
        f"a {over:,}-byte body with Content-Length: 413",
        rule="cap-range",
    )
    if refused and url_is_plain(client):
        line = _declared_without_body(client, rng.randint(MAX_CAP_BYTES + 1, 2 * MAX_CAP_BYTES))
        findings.expect(
            " 413 " in f"{line} ",
            f"declaring an oversized body and sending none got {line!r} within "
            f"{DECLARED_WAIT_S:g} s: refuse on content_length before reading (received == 0)",
            "a declared oversized body is refused before it is sent",
            rule="declared-too-large",
        )
    streamed_size = rng.randint(MAX_CAP_BYTES + 1, 2 * MAX_CAP_BYTES)
    streamed = _post_big(client, _chunks(streamed_size), json_headers)
    status = streamed if isinstance(streamed, str) else streamed.status_code
    findings.expect(
        status == 413 or isinstance(streamed, str),
        f"a {streamed_size:,}-byte chunked body (no Content-Length) got {status}"
        f"{'' if isinstance(streamed, str) else _fault(streamed)}: count the bytes as they "
        "arrive, Content-Length is only a claim",
        "an oversized chunked body: stopped while streaming",
        rule="streamed-too-large",
    )
    for size in (MIN_CAP_BYTES, rng.randint(MIN_CAP_BYTES // 2, MIN_CAP_BYTES - 1)):
        for how, content in (("", _padded_body(size)), (" chunked", iter([_padded_body(size)]))):
            fine = _post_big(client, content, json_headers)
            status = fine if isinstance(fine, str) else fine.status_code
            findings.expect(
                status == 201,
                f"a legitimate {size:,}-byte{how} body got {status}"
                f"{'' if isinstance(fine, str) else _fault(fine)}: the cap is too tight",
                f"a {size:,}-byte{how} body is accepted",
                rule="cap-range",
            )
    findings.expect(
        not any(row.get("nameLength", 0) > MIN_CAP_BYTES for row in _table(client)),
        "an oversized body was stored",
        rule="cap-range",
    )


def url_is_plain(client: httpx.Client) -> bool:
    return client.base_url.scheme == "http"


Battery = Callable[[httpx.Client, Findings, random.Random], None]


def _run(
    battery: Callable[..., None],
    client: httpx.Client,
    findings: Findings,
    rng: random.Random | None = None,
) -> None:
    try:
        battery(client, findings) if rng is None else battery(client, findings, rng)
    except AppBroken as exc:
        findings.fail(str(exc))


def _no_quotes(battery: Callable[..., None]) -> Battery:
    return lambda client, findings, rng: battery(client, findings, rng, quotes=False)


BATTERIES: dict[str, Battery] = {
    "injection": lambda client, findings, rng: _injection_battery(client, findings),
    "lookup": _lookup_battery,
    "sign-up": _insert_battery,
    "login": _login_battery,
    "validation": _validation_battery,
    "body size": _body_limit_battery,
}


def _patched_verdict(
    ctx: CheckContext, batteries: dict[str, Battery], passed: str, failed: str
) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        for battery in batteries.values():
            _run(battery, client, findings, ctx.rng)
    return findings.verdict(passed, failed)


def _pick(*names: str) -> dict[str, Battery]:
    return {name: BATTERIES[name] for name in names}


@LAB.check(
    "parameterized",
    title="Parameterize every query",
    kind="fix",
    fixes=("find_users", "create_user", "find_login"),
    rules=PARAMETERIZED_RULES,
    hints=(
        "Keep the SQL text constant and put a ? where each value goes: "
        "db.execute('SELECT * FROM users WHERE email = ?', (email,)).fetchall()",
        "All three: the lookup, the INSERT (email, name, age) and the login "
        "(password_matches(?, password_hash) AND email = ?).",
        "= compares; LIKE and GLOB match patterns (% and _ are wildcards). No escaping by "
        "hand, no blocklists: O'Brien and Bobby Tables are legitimate names.",
    ),
)
def parameterized(ctx: CheckContext) -> Verdict:
    return _patched_verdict(
        ctx,
        _pick("injection", "lookup", "sign-up", "login"),
        "no payload changes a query, and every name is stored and found as it is",
        "some queries can still be changed from outside",
    )


@LAB.check(
    "validation",
    title="Validate the body with a schema (the catalogue's CreateUserSchema)",
    kind="fix",
    fixes=("validate_user",),
    rules=VALIDATION_RULES,
    hints=(
        "A pydantic model: email (max 255, an email shape), name (1-100 after trimming), "
        "age (int, 13-150, optional); model_config = ConfigDict(extra='forbid', strict=True).",
        "Return (model.model_dump(), None) when valid, (None, errors) when not — catch "
        "ValidationError and build {'formErrors': [...], 'fieldErrors': {field: [...]}}.",
        "StringConstraints(strip_whitespace=True, min_length=1) trims before it counts.",
    ),
)
def validation(ctx: CheckContext) -> Verdict:
    # the app's queries are still the vulnerable ones here: no quote in the valid bodies
    return _patched_verdict(
        ctx,
        {"validation": _no_quotes(_validation_battery)},
        "the schema refuses every malformed body and keeps the good ones",
        "some malformed bodies get through",
    )


@LAB.check(
    "body-limit",
    title="Cap the request body size (413)",
    kind="fix",
    fixes=("body_too_large",),
    rules=BODY_LIMIT_RULES,
    hints=(
        "The app asks body_too_large(content_length, received) before reading (received=0) "
        "and after every chunk; True stops it with 413.",
        "content_length is None for a chunked upload, and a client may lie about it: "
        "check the bytes received too.",
        "64 KiB is plenty for this API: MAX_BODY_BYTES = 64 * 1024 (anything from 16 KiB to "
        "1 MiB passes).",
    ),
)
def body_limit(ctx: CheckContext) -> Verdict:
    return _patched_verdict(
        ctx,
        _pick("body size"),
        "oversized bodies stop at the door, declared or streamed",
        "an oversized body still gets in",
    )


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("find_users", "create_user", "find_login", "validate_user", "body_too_large"),
    points=2,
    rules=merge_rules(PARAMETERIZED_RULES, VALIDATION_RULES, BODY_LIMIT_RULES),
    hints=(
        "Pass all five functions: your whole fixed users API.",
        "Each battery names what got through or which legitimate request broke.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    return _patched_verdict(
        ctx,
        BATTERIES,
        "every payload finds nothing, every malformed body is refused, real users still work",
        "some attacks still get through",
    )
