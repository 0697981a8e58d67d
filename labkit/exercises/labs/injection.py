"""07-injection: bypass a login, read the hashes, extract them blind, overflow and mistype the
input — then parameterize every query, validate every body and cap its size.

Every check works over HTTP. What a breach exposes comes from the lab-only
``/api/_lab/dump`` (the users table); the seeded logins from ``/api/_lab/accounts``.
The fix checks replay :data:`labkit.attacks.injection.PAYLOADS` plus legitimate data that
looks like SQL (O'Brien, ``o'hara@...``, Bobby Tables) and must be stored as it is.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from labkit.attacks.injection import PAYLOADS, replay, wrong_type_bodies
from labkit.exercises.check import CheckContext, Findings, Verdict
from labkit.exercises.registry import LabDefinition

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


def _run(
    battery: Callable[[httpx.Client, Findings], None], client: httpx.Client, findings: Findings
) -> None:
    try:
        battery(client, findings)
    except AppBroken as exc:
        findings.fail(str(exc))


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
        "Hand in the body you logged in with: {'email': \"' OR '1'='1\", 'password': 'x'}.",
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
        "injection.union_read(lab.client, 'SELECT id, email, ... FROM users') does the "
        "request; hand in a dict {email: password_hash}.",
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
        "ask = injection.lookup_oracle(lab.client, 'alice@example.com') answers any SQL "
        "condition with True (alice comes back) or False (no rows).",
        "ask(\"length((SELECT password_hash FROM users WHERE email = 'alice@example.com')) "
        '> 50") — bisect numbers; unicode(substr(expr, i, 1)) gives the i-th character.',
        "injection.blind_extract(ask, expression, progress=True) does it all.",
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
        "A stacked query ends the first statement and starts another: '; DROP TABLE users; --",
        "Hand in the email you sent to the lookup; the check sends it again.",
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
        "injection.create(lab.client, {'email': ..., 'name': 'x' * 5_000_000})",
        "Hand in the email of the account you created.",
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
        "injection.wrong_type_bodies() has bodies with age 'abc', [30], {...}, true...",
        "Create a few of them and hand in the list of their emails.",
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
            findings.fail(f"{ROUTE_NAMES[route]}: {line}")
        if len(lines) > PER_ROUTE:
            findings.fail(f"{ROUTE_NAMES[route]}: ...and {len(lines) - PER_ROUTE} more payloads")
    table = _dump(client)
    findings.expect(
        "alice@example.com" in table, "the users table lost its rows during the battery"
    )
    if not problems:
        findings.saw(f"all {len(PAYLOADS)} injection payloads found nothing")


def _create(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post(USERS, json=body)


#: Legitimate people whose data looks like SQL: it must be stored and found as it is.
LEGIT_NAMES = (
    "Siobhan O'Brien",
    "Gregory Orr-Ortega",
    "Robert'); DROP TABLE students;--",  # xkcd 327: a name is data, whatever it says
    "Zoë Ørsted 宮崎",
)


def _legit_battery(client: httpx.Client, findings: Findings) -> None:
    problems: list[str] = []
    for name in LEGIT_NAMES:
        email = _email("member")
        response = _create(client, {"email": email, "name": name, "age": 38})
        stored = response.json() if response.status_code == 201 else {}
        if stored.get("name") != name:
            problems.append(
                f"the name {name!r} was not stored as it is ({response.status_code}"
                f"{_fault(response)})"
            )
            continue
        found = client.get(USERS, params={"email": email})
        rows = found.json().get("users", []) if found.status_code == 200 else []
        if [r.get("name") for r in rows] != [name]:
            problems.append(f"looking up {name!r} by email gave {found.status_code}{_fault(found)}")
    quoted = f"o'hara-{secrets.token_hex(3)}@checks.example"
    response = _create(client, {"email": quoted, "name": "Scarlett O'Hara"})
    found = client.get(USERS, params={"email": quoted})
    if response.status_code != 201 or len(found.json().get("users", [])) != 1:
        problems.append(
            f"the valid address {quoted!r} could not be stored and found "
            f"({response.status_code}/{found.status_code}{_fault(found) or _fault(response)})"
        )
    again = _create(client, {"email": quoted, "name": "Scarlett O'Hara"})
    if again.status_code != 409:
        problems.append(f"registering {quoted!r} twice got {again.status_code}, not 409")
    seeded = client.get(USERS, params={"email": "o'neill@example.com"})
    if seeded.status_code != 200 or len(seeded.json().get("users", [])) != 1:
        problems.append(f"the member o'neill@example.com cannot be found ({seeded.status_code})")
    _login_battery(client, problems)
    for problem in problems:
        findings.fail(f"legitimate use broke: {problem}")
    if not problems:
        findings.saw("O'Brien, o'hara@..., Bobby Tables and the staff logins all work")


def _login_battery(client: httpx.Client, problems: list[str]) -> None:
    email, password = next(iter(_accounts(client).items()))
    response = client.post(LOGIN, json={"email": email, "password": password})
    me = _whoami(client, _token(response))
    if me.get("email") != email:
        problems.append(f"{email} cannot log in ({response.status_code}{_fault(response)})")
    wrong = client.post(LOGIN, json={"email": email, "password": password + "x"})
    if wrong.status_code != 401:
        problems.append(f"a wrong password got {wrong.status_code}{_fault(wrong)}, not 401")


#: Bodies the schema must refuse, and the field each error must name.
def _invalid_bodies() -> Iterator[tuple[str, Any, str]]:
    yield "a 101-character name", {"email": _email("len"), "name": "n" * 101}, "name"
    yield "a 5,000-character name", {"email": _email("len"), "name": "n" * 5000}, "name"
    yield "a name of spaces", {"email": _email("len"), "name": "    "}, "name"
    yield "no name", {"email": _email("len")}, "name"
    yield "a 300-character email", {"email": "e" * 288 + "@checks.example", "name": "E"}, "email"
    for label, body in wrong_type_bodies(lambda: _email("types")).items():
        yield label, body, "name" if label.startswith("name") else "age"
    yield "age 12", {"email": _email("range"), "name": "Young", "age": 12}, "age"
    yield "age 151", {"email": _email("range"), "name": "Old", "age": 151}, "age"
    yield "not an email", {"email": "not-an-email", "name": "E"}, "email"
    yield "an email that is a list", {"email": [_email("list")], "name": "E"}, "email"
    yield "an extra role field", {"email": _email("extra"), "name": "E", "role": "admin"}, "role"


#: Bodies the schema must accept, and what must be stored.
def _valid_bodies() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    yield "no age", {"email": _email("ok"), "name": "No Age"}, {"age": None}
    yield "age 13", {"email": _email("ok"), "name": "Teen", "age": 13}, {"age": 13}
    yield "age 150", {"email": _email("ok"), "name": "Elder", "age": 150}, {"age": 150}
    yield "a 100-character name", {"email": _email("ok"), "name": "m" * 100}, {"name": "m" * 100}
    yield "a padded name", {"email": _email("ok"), "name": "  Ann Lee  "}, {"name": "Ann Lee"}


def _validation_battery(client: httpx.Client, findings: Findings) -> None:
    problems, refused = [], []
    for label, body, field in _invalid_bodies():
        response = _create(client, body)
        if not _names_field(response, field):
            problems.append(
                f"{label}: expected 400 with an error for {field!r}, got "
                f"{response.status_code} {response.text[:80]}"
            )
        if isinstance(body.get("email"), str):
            refused.append(body["email"].lower())
    for label, body in (("a JSON list", [1, 2]), ("a JSON string", "hello")):
        response = client.post(USERS, json=body)
        if response.status_code not in (400, 422) or "errors" not in response.text:
            problems.append(f"{label} as the body got {response.status_code}{_fault(response)}")
    for label, body, expected in _valid_bodies():
        response = _create(client, body)
        stored = response.json() if response.status_code == 201 else {}
        wrong = {k: stored.get(k) for k, v in expected.items() if stored.get(k) != v}
        if response.status_code != 201 or wrong:
            problems.append(f"{label}: got {response.status_code} {wrong or response.text[:80]}")
    table = _dump(client)
    leaked = [email for email in refused if email in table]
    if leaked:
        problems.append(f"{len(leaked)} refused body(ies) were stored anyway")
    for problem in _listed(problems):
        findings.fail(problem)
    if not problems:
        findings.saw("every wrong type, length, range and extra field refused with field errors")


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"email": "' + _email("stream").encode() + b'", "name": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


def _post_big(client: httpx.Client, content: Any, headers: dict[str, str]) -> httpx.Response | str:
    try:
        return client.post(USERS, content=content, headers=headers)
    except httpx.TransportError as exc:  # the server may cut an upload off mid-stream
        return f"connection closed ({type(exc).__name__})"


def _body_limit_battery(client: httpx.Client, findings: Findings) -> None:
    json_headers = {"content-type": "application/json"}
    big_email = _email("huge")
    declared = json.dumps({"email": big_email, "name": "x" * BIG_BODY_BYTES}).encode()
    response = _post_big(client, declared, json_headers)
    status = response if isinstance(response, str) else response.status_code
    findings.expect(
        status == 413,
        f"a 5 MB body with Content-Length got {status}"
        f"{'' if isinstance(response, str) else _fault(response)}: refuse it with 413",
        "a 5 MB body with Content-Length: 413 before it was read",
    )
    streamed = _post_big(client, _chunks(BIG_BODY_BYTES), json_headers)
    status = streamed if isinstance(streamed, str) else streamed.status_code
    findings.expect(
        status == 413 or isinstance(streamed, str),
        f"a 5 MB chunked body (no Content-Length) got {status}"
        f"{'' if isinstance(streamed, str) else _fault(streamed)}: count the bytes as they "
        "arrive, Content-Length is only a claim",
        "a 5 MB chunked body: stopped while streaming",
    )
    padded = json.dumps({"email": _email("padded"), "name": "Padded Body"})
    padded = padded[:-1] + " " * ACCEPTED_BODY_BYTES + "}"  # JSON allows any whitespace
    fine = client.post(USERS, content=padded.encode(), headers=json_headers)
    findings.expect(
        fine.status_code == 201,
        f"a legitimate {len(padded) // 1024} KB body got {fine.status_code}{_fault(fine)}: "
        "the limit is too tight",
        f"a {len(padded) // 1024} KB body is still accepted",
    )
    findings.expect(big_email not in _dump(client), "the 5 MB body was stored")


BATTERIES: dict[str, Callable[[httpx.Client, Findings], None]] = {
    "injection": _injection_battery,
    "legitimate use": _legit_battery,
    "validation": _validation_battery,
    "body size": _body_limit_battery,
}


def _patched_verdict(
    ctx: CheckContext, batteries: tuple[str, ...], passed: str, failed: str
) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        for name in batteries:
            _run(BATTERIES[name], client, findings)
    return findings.verdict(passed, failed)


@LAB.check(
    "parameterized",
    title="Parameterize every query",
    kind="fix",
    fixes=("find_users", "create_user", "find_login"),
    hints=(
        "Keep the SQL text constant and put a ? where each value goes: "
        "db.execute('SELECT * FROM users WHERE email = ?', (email,)).fetchall()",
        "All three: the lookup, the INSERT (email, name, age) and the login "
        "(password_matches(?, password_hash) AND email = ?).",
        "No escaping, no blocklists: O'Brien and Bobby Tables are legitimate names.",
    ),
)
def parameterized(ctx: CheckContext) -> Verdict:
    return _patched_verdict(
        ctx,
        ("injection", "legitimate use"),
        "no payload changes a query, and every name is stored as it is",
        "some queries can still be changed from outside",
    )


@LAB.check(
    "validation",
    title="Validate the body with a schema (the catalogue's CreateUserSchema)",
    kind="fix",
    fixes=("validate_user",),
    hints=(
        "A pydantic model: email (max 255, an email shape), name (1-100 after trimming), "
        "age (int, 13-150, optional); model_config = ConfigDict(extra='forbid', strict=True).",
        "Return (model.model_dump(), None) when valid, (None, errors) when not — catch "
        "ValidationError and build {'formErrors': [...], 'fieldErrors': {field: [...]}}.",
        "StringConstraints(strip_whitespace=True, min_length=1) trims before it counts.",
    ),
)
def validation(ctx: CheckContext) -> Verdict:
    return _patched_verdict(
        ctx,
        ("validation",),
        "the schema refuses every malformed body and keeps the good ones",
        "some malformed bodies get through",
    )


@LAB.check(
    "body-limit",
    title="Cap the request body size (413)",
    kind="fix",
    fixes=("body_too_large",),
    hints=(
        "The app asks body_too_large(content_length, received) before reading (received=0) "
        "and after every chunk; True stops it with 413.",
        "content_length is None for a chunked upload, and a client may lie about it: "
        "check the bytes received too.",
        "64 KiB is plenty for this API: MAX_BODY_BYTES = 64 * 1024.",
    ),
)
def body_limit(ctx: CheckContext) -> Verdict:
    return _patched_verdict(
        ctx,
        ("body size",),
        "oversized bodies stop at the door, declared or streamed",
        "an oversized body still gets in",
    )


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("find_users", "create_user", "find_login", "validate_user", "body_too_large"),
    points=2,
    hints=(
        "Pass all five functions: your whole fixed users API.",
        "Each battery names what got through or which legitimate request broke.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    return _patched_verdict(
        ctx,
        tuple(BATTERIES),
        "every payload finds nothing, every malformed body is refused, real users still work",
        "some attacks still get through",
    )
