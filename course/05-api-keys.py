# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 05 · API keys — keys for machines
#
# *Workflow step 4 (part): authenticate the machines that call your API.* Standards and
# references: [OWASP REST Security Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/REST_Security_Cheat_Sheet.html)
# (§ API Keys, § Sensitive information in HTTP requests), OWASP ASVS 5.0 requirement 6.5.2
# (when a plain hash is enough for a stored secret), [RFC 6750 §5.3](https://www.rfc-editor.org/rfc/rfc6750#section-5.3)
# (never pass bearer credentials in page URLs), CWE-598 (sensitive query strings), and
# GitHub's token format ("Behind GitHub's new authentication token formats", GitHub blog,
# 2021).
#
# The lab app is a small **reports API**. Scripts, dashboards and partners call it with an API
# key in a header; people log in and create keys for their scripts. The API shipped in a hurry:
# you will use keys from a leaked table, from an access log, from last year's config file,
# after they were revoked and beyond their scope — and then rebuild the key system.

# %%
import math
import re

import matplotlib.pyplot as plt

import labkit

lab = labkit.open_lab("05-api-keys")
REPORTS_API = "/api/v1/reports"
lab

# %% [markdown]
# ## Learn
#
# An API key is a **password for a machine**: a long random secret, made by the server, shown
# to its owner once, and sent with every request. Because nobody has to remember it, it can be
# far stronger than a password — but it lives in config files, CI variables, scripts and logs,
# so it leaks more often. A good key system assumes leaks and limits the damage:
#
# - **≥ 128 random bits** from a CSPRNG (`secrets`), so guessing is hopeless.
# - **A recognisable prefix and a checksum.** GitHub's tokens look like `ghp_` + 30 random
#   characters + a 6-character CRC32 checksum. The prefix tells a scanner (GitHub secret
#   scanning, TruffleHog, your own log filter) *this is a key*; the checksum lets it confirm a
#   match offline, so it can alert — or redact — with almost no false positives. Ours:
#   `lk_live_` + 30 base62 characters (~178 bits) + the CRC32 of those 30 in base62.
# - **Only a hash at rest.** The table keeps `SHA-256(key)`; the server hashes what it receives
#   and looks that up. A leaked table then holds nothing anyone can send.
# - **Scopes, expiry, revocation** — a key does only what it was made for, for a limited time,
#   and can be killed at once.
# - **Several active keys per client**, so a key can be rotated without downtime.
# - **Only in a header** (`X-API-Key`). A URL is copied into access logs, proxy logs, browser
#   history and `Referer` headers.
#
# The catalogue's pattern, in TypeScript:
#
# ```ts
# const apiKey = req.headers["x-api-key"] as string;
# if (!apiKey) return res.status(401).json({ error: "API key required" });
# const hashedKey = crypto.createHash("sha256").update(apiKey).digest("hex");
# const keyRecord = await db.apiKey.findUnique({ where: { hash: hashedKey } });
# if (!keyRecord || keyRecord.revokedAt)
#   return res.status(401).json({ error: "Invalid API key" });
# req.apiClient = { id: keyRecord.clientId, scopes: keyRecord.scopes };
# ```
#
# It hashes and checks revocation; it does not check expiry — you will add that, and scopes.

# %% [markdown]
# **Why SHA-256 and not argon2 here?** Lab 01 taught that passwords need a *slow* hash. That is
# because people choose passwords from a small space an attacker can enumerate. A random key
# has no such space: with 178 bits, even a rig testing a hundred billion SHA-256 guesses per
# second never gets anywhere. ASVS 5.0 §6.5.2 draws the same line for stored secrets: below
# 112 bits of entropy, use a password hash; at or above, a standard hash is enough. A fast hash
# also lets the server *look the key up* by its hash — a salted hash could not be searched.

# %%
GUESSES_PER_SECOND = 1e11  # a large GPU rig against SHA-256
YEAR = 365.25 * 24 * 3600
bits = {"4-digit PIN": 13.3, "8 lowercase letters": 37.6, "this app's 64-bit keys": 64,
        "128 bits": 128, "lk_live_ keys (178 bits)": 30 * math.log2(62)}  # fmt: skip
years = {label: 2 ** (b - 1) / GUESSES_PER_SECOND / YEAR for label, b in bits.items()}
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.barh(list(years), list(years.values()), color=["#cf222e"] * 3 + ["#1a7f37"] * 2)
ax.set_xscale("log")
ax.axvline(1.38e10, color="grey", linestyle=":")
ax.text(1.38e10, -0.6, " age of the universe", color="grey", fontsize=8)
ax.set_xlabel("years to find a key by brute force (log scale)")
ax.set_title("Offline guessing against SHA-256 at 10¹¹ guesses/s")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Attack 1 — the leaked keys table
#
# A database backup has leaked. The lab exposes the keys table at `/api/_lab/dump` (a lab-only
# route that plays the part of the breach).

# %%
leak = lab.client.get("/api/_lab/dump").json()["api_keys"]
for row in leak:
    print(f"{row['id']:>2} {row['name']:<16} {row['key_hash']:<20} {row['scopes']}")

# %% [markdown]
# The column is called `key_hash`, but look at the values: a SHA-256 digest would be 64 hex
# characters. Write the attack as a function of the client, `use_leaked_keys(client)`, so you can
# run it again on your fixed app at the end: read the dump, send every value as the `X-API-Key`
# header to `GET /api/v1/reports`, and return the values the API accepts (it answers 200).
# Keep one of them in `stolen`.


# %% labkit={"answer": "leaked-table"}
### BEGIN SOLUTION
def use_leaked_keys(client):
    """Every value of the leaked keys table that the API accepts as a key."""
    table = client.get("/api/_lab/dump").json()["api_keys"]
    accepted = []
    for row in table:
        response = client.get(REPORTS_API, headers={"X-API-Key": row["key_hash"]})
        if response.status_code == 200:
            accepted.append(row["key_hash"])
    return accepted


working = use_leaked_keys(lab.client)
print(f"{len(working)} of {len(leak)} leaked values work as keys")
stolen = working[0]


### STUB
def use_leaked_keys(client):
    # TODO: send each value of the leaked table as X-API-Key; return those that get 200
    raise NotImplementedError


stolen = None  # TODO: one value from the leaked table that the API accepts
### END SOLUTION

# %% labkit={"check": "leaked-table"}
lab.check("leaked-table", stolen)

# %% [markdown]
# ## Attack 2 — keys in the access log
#
# A partner's nightly job pulls reports. Its developer followed the old docs, which said
# "pass `?api_key=` — easier for scripts". Let the job run, then read the access log: in most
# companies many people (and every log pipeline) can.

# %%
lab.client.post("/api/_lab/partner-job").json()

# %%
log_lines = lab.client.get("/api/_lab/access-log").json()["lines"]
print("\n".join(log_lines[-3:]))

# %% [markdown]
# Every request line is in the log, query string and all. Write `find_keys(lines)`: a regular
# expression over the log text that returns every value passed as a credential in a URL
# (`api_key=`, and while you are at it `key=`, `token=`, `access_token=`). Put the partner's key
# in `harvested` — and check that it works before you hand it in.

# %% labkit={"answer": "query-log"}
### BEGIN SOLUTION
CREDENTIAL_IN_URL = re.compile(
    r"[?&](?:api_?key|key|token|access_token)=([^&\s\"]+)", re.IGNORECASE
)


def find_keys(lines):
    """Every credential value passed in a query string in these access-log lines."""
    return list(dict.fromkeys(CREDENTIAL_IN_URL.findall("\n".join(lines))))


found = find_keys(log_lines)
print(found)
harvested = next(
    key
    for key in found
    if lab.client.get(REPORTS_API, headers={"X-API-Key": key}).status_code == 200
)


### STUB
def find_keys(lines):
    # TODO: a regular expression over the log text; return every ?api_key=... value
    raise NotImplementedError


harvested = None  # TODO: the partner's key, found in the access log
### END SOLUTION

# %% labkit={"check": "query-log"}
lab.check("query-log", harvested)

# %% [markdown]
# ## Attack 3 — a revoked key still works
#
# Now be a legitimate user. Alice logs in (an ordinary bearer login, `POST /api/auth/login`),
# creates a key for a script, and revokes it again because she pasted it into a chat.


# %%
def bearer_login(client, email, password):
    """The Authorization header of a bearer login."""
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


alice = bearer_login(lab.client, "alice@example.com", lab.users["alice"].password)
created = lab.client.post("/api/keys", json={"scopes": ["reports:read"], "name": "pasted-in-chat"},
                          headers=alice).json()  # fmt: skip
print(created)
print("revoke:", lab.client.delete(f"/api/keys/{created['id']}", headers=alice).status_code)

# %% [markdown]
# Is it dead? Try it, and put the revoked key in `revoked`.

# %% labkit={"answer": "revoked-key"}
### BEGIN SOLUTION
print(lab.client.get(REPORTS_API, headers={"X-API-Key": created["key"]}).status_code)
revoked = created["key"]
### STUB
revoked = None  # TODO: the revoked key, if it still works
### END SOLUTION

# %% labkit={"check": "revoked-key"}
lab.check("revoked-key", revoked)

# %% [markdown]
# ## Attack 4 — a read-only key writes
#
# Carol is a viewer: the app lets her create keys with the scope `reports:read` only (try
# `reports:write` — you get 403). Her dashboard key should only read. What can it really do?
# The API documents its routes (`lab.routes()` reads its OpenAPI document):

# %%
carol = bearer_login(lab.client, "carol@example.com", lab.users["carol"].password)
print(lab.client.post("/api/keys", json={"scopes": ["reports:write"]}, headers=carol).json())
api_routes = [route for route in lab.routes() if " /api/v1/" in route]
print(api_routes)

# %% [markdown]
# Write `probe(client, key)`: call every route of `api_routes` with the key (a `POST` needs a
# body: `{"title": ...}`) and return `{route: status}`. Create a read-only key for Carol, probe
# it, and put it in `read_only` if it writes (201 on `POST /api/v1/reports`).


# %% labkit={"answer": "missing-scope"}
### BEGIN SOLUTION
def probe(client, key):
    """The status every API route answers to this key."""
    statuses = {}
    for route in api_routes:
        method, path = route.split(" ", 1)
        body = {"title": "written with a read-only key"} if method == "POST" else None
        response = client.request(method, path, headers={"X-API-Key": key}, json=body)
        statuses[route] = response.status_code
    return statuses


dashboard = lab.client.post("/api/keys", json={"scopes": ["reports:read"]}, headers=carol).json()
print(dashboard["scopes"], probe(lab.client, dashboard["key"]))
read_only = dashboard["key"]


### STUB
def probe(client, key):
    # TODO: call every route of api_routes with the key; return {route: status}
    raise NotImplementedError


read_only = None  # TODO: a key with only reports:read that writes all the same
### END SOLUTION

# %% labkit={"check": "missing-scope"}
lab.check("missing-scope", read_only)

# %% [markdown]
# ## Attack 5 — one key forever
#
# A contractor set up a nightly export last year. Their config file is still on a shared drive.
# The key in it expired long ago (the table has an `expires_at` column)... does the API care?
# Put the key in `old`.

# %%
config = lab.client.get("/api/_lab/old-config").json()
print(config["path"])
print(config["content"])

# %% labkit={"answer": "old-key"}
### BEGIN SOLUTION
old = config["content"].split("REPORTS_API_KEY=")[1].split()[0]
### STUB
old = None  # TODO: the key from the old config file
### END SOLUTION

# %% labkit={"check": "old-key"}
lab.check("old-key", old)

# %% [markdown]
# ## Fix 1 — a key format scanners can recognise
#
# Write `generate_key() -> str`: `lk_live_` + 30 characters drawn with `secrets.choice` from
# the base62 alphabet (`0-9A-Za-z`, ~5.95 bits each, ~178 bits in all) + `checksum(body)`:
# the CRC32 (`zlib.crc32`) of the 30 body characters, written in base62 with **6** digits,
# most significant first, padded with `0` (62⁶ > 2³², so any CRC32 fits). A `base62` helper is
# given. To see that you got the format right, check a key of yours the way a secret scanner
# does: the prefix, 36 base62 characters, and a checksum that matches the body.
#
# <!-- labkit:rules key-format -->

# %%
import hashlib
import hmac
import re
import secrets
import string
import zlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PREFIX = "lk_live_"
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase


def base62(number: int, width: int) -> str:
    """``number`` in base62, ``width`` digits, most significant first."""
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


# %% labkit={"answer": "key-format"}
def checksum(body: str) -> str:
    ### BEGIN SOLUTION
    return base62(zlib.crc32(body.encode("ascii")), 6)
    ### END SOLUTION


def generate_key() -> str:
    ### BEGIN SOLUTION
    body = "".join(secrets.choice(ALPHABET) for _ in range(30))
    return PREFIX + body + checksum(body)
    ### END SOLUTION


# %% labkit={"check": "key-format"}
lab.check("key-format", generate_key=generate_key)

# %% [markdown]
# ## Fix 2 — only a hash at rest
#
# Write `hash_key(key) -> str`: the SHA-256 hex digest of the key. No salt — the app finds a key
# by its hash, so the same key must always give the same value (and with 178 random bits,
# there is nothing for a salt to protect). The check leaks the table again and tries every value
# in it, and their base64/hex decodings, as a key. Another standard digest of 256 bits or more
# (SHA-512, SHA-3, BLAKE2, an HMAC with a server-side secret) is fine too; MD5, SHA-1 or a
# digest cut short is not.
#
# <!-- labkit:rules hashed-at-rest -->


# %% labkit={"answer": "hashed-at-rest"}
def hash_key(key: str) -> str:
    ### BEGIN SOLUTION
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
    ### END SOLUTION


# %% labkit={"check": "hashed-at-rest"}
lab.check("hashed-at-rest", hash_key=hash_key, generate_key=generate_key)

# %% [markdown]
# ## Fix 3 — revocation, expiry and scopes
#
# Write `authenticate(api_key, scope, find_key, now) -> (status, body)`, the catalogue's
# middleware done fully:
#
# - `api_key` is the key the request carried, or `None` → `(401, {"error": "API key required"})`.
# - `find_key(api_key)` hashes it with your `hash_key`, looks the digest up and re-compares it
#   with `hmac.compare_digest`; it returns the row or `None`. A row has `.id`, `.name`,
#   `.scopes` (a tuple), `.created_at`, `.expires_at` and `.revoked_at` (POSIX seconds or
#   `None`); `now` is the app's clock.
# - Unknown, malformed, revoked, expired (`now >= expires_at`, with `now`, not your own clock)
#   or expiry-less keys all get the *same* `(401, {"error": "Invalid API key"})` — no hint
#   about which — on every request: no cache of earlier answers.
# - A valid key without `scope` (the route's scope, e.g. `"reports:write"`) →
#   `(403, {"error": "Insufficient permissions"})`.
# - Otherwise `(200, {"client": row.name, "keyId": row.id})`.
# - Check the prefix, the length and the checksum *before* calling `find_key`: garbage never
#   reaches the database (the check counts the lookups).
# - Scopes are whole strings: `scope in record.scopes` (a tuple), never a substring test on a
#   joined string, a prefix, a case-insensitive match or a wildcard.
#
# **Constant-time lookup.** The database compares *digests*, which an attacker cannot steer
# one character at a time (they would need SHA-256 preimages), so the timing of the index
# lookup tells them nothing; `find_key` still re-checks the match with `hmac.compare_digest`.
# Comparing the *plaintext* key with `==` — what the old table did — is the classic timing
# leak.


# %% labkit={"answer": "revoke-expire"}
def authenticate(api_key, scope, find_key, now):
    ### BEGIN SOLUTION
    if not api_key:
        return 401, {"error": "API key required"}
    well_formed = (
        api_key.startswith(PREFIX)
        and len(api_key) == len(PREFIX) + 36
        and hmac.compare_digest(checksum(api_key[len(PREFIX) : -6]), api_key[-6:])
    )
    record = find_key(api_key) if well_formed else None
    usable = (
        record is not None
        and record.revoked_at is None
        and record.expires_at is not None
        and now < record.expires_at
    )
    if not usable:
        return 401, {"error": "Invalid API key"}
    if scope not in record.scopes:
        return 403, {"error": "Insufficient permissions"}
    return 200, {"client": record.name, "keyId": record.id}
    ### END SOLUTION


# %% [markdown]
# Three checks replay the attacks against your `authenticate`. The first revokes a key,
# replays last year's key, and moves the app's clock two days past a one-day key:
#
# <!-- labkit:rules revoke-expire -->

# %% labkit={"check": "revoke-expire"}
key_system = {"generate_key": generate_key, "hash_key": hash_key, "authenticate": authenticate}
lab.check("revoke-expire", **key_system)

# %% [markdown]
# Read-only, write-only and read+write keys, each against both routes, and keys whose scope is
# only *near* the route's (`reports:write-drafts`, `reports`, `REPORTS_API:WRITE`, `reports:*`):
#
# <!-- labkit:rules scopes -->

# %% labkit={"check": "scopes"}
lab.check("scopes", **key_system)

# %% [markdown]
# **Rotation.** Because a client may hold several active keys, rotating is: create the new
# key, deploy it, check the client works, revoke the old key. During the window both work;
# afterwards only the new one. (One key per client would force a flag day — so nobody rotates,
# and a leaked key lives forever.)
#
# <!-- labkit:rules rotation -->

# %% labkit={"check": "rotation"}
lab.check("rotation", **key_system)

# %% [markdown]
# ## Fix 4 — never in a URL, never in a log
#
# Two small functions:
#
# - `read_api_key(headers, query) -> str | None`: the key from the `x-api-key` header (names
#   arrive in lower case). Ignore `query` completely: a key that came in a URL is already in
#   somebody's log.
# - `redact_url(url) -> str`: what the access log writes for a request target such as
#   `/api/v1/reports?api_key=...&page=2`. Replace the value of credential-named parameters
#   (`api_key`, `apikey`, `key`, `token`, `access_token`, in any letter case, every time one
#   appears) with `REDACTED`, **and** every well-formed key anywhere in the URL, the path
#   included — found by its prefix and *valid checksum*, whatever the parameter is called.
#   The path and ordinary parameters stay as they are.
#
# <!-- labkit:rules query-string -->

# %% labkit={"answer": "query-string"}
SECRET_PARAMS = {"api_key", "apikey", "key", "token", "access_token"}
KEY_SHAPE = re.compile(re.escape(PREFIX) + "[0-9A-Za-z]{36}")


def read_api_key(headers, query):
    ### BEGIN SOLUTION
    return headers.get("x-api-key") or None
    ### END SOLUTION


def redact_url(url: str) -> str:
    ### BEGIN SOLUTION
    parts = urlsplit(url)
    pairs = [
        (name, "REDACTED" if name.lower() in SECRET_PARAMS else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    cleaned = urlunsplit(parts._replace(query=urlencode(pairs)))

    def scrub(match: re.Match) -> str:
        key = match.group(0)
        return "REDACTED" if checksum(key[len(PREFIX) : -6]) == key[-6:] else key

    return KEY_SHAPE.sub(scrub, cleaned)
    ### END SOLUTION


# %% labkit={"check": "query-string"}
lab.check(
    "query-string", read_api_key=read_api_key, redact_url=redact_url, generate_key=generate_key
)

# %% [markdown]
# ## Verify — replay every attack
#
# Your five functions together are the new key system. The check below replays the whole
# battery against it — key format, the leaked table, revoked and expired keys, scopes, rotation,
# keys in URLs and logs — while legitimate clients create and use keys.
#
# <!-- labkit:rules verify -->

# %% labkit={"check": "verify"}
fixes = dict(
    generate_key=generate_key,
    hash_key=hash_key,
    read_api_key=read_api_key,
    authenticate=authenticate,
    redact_url=redact_url,
)
lab.check("verify", **fixes)

# %% [markdown]
# ## Your own exploits against your fix
#
# The check replayed the lab's battery. Now run *your* attacks again, unchanged, on an app
# that runs your five functions: `use_leaked_keys` on its leaked table (Attack 1), `find_keys`
# on its access log after the partner's job (Attack 2), a revoked key (Attack 3), `probe` with
# a read-only key (Attack 4) and last year's key (Attack 5).

# %%
fixed = lab.patched(**fixes)


def status_with(key):
    return fixed.client.get(REPORTS_API, headers={"X-API-Key": key}).status_code


def new_fixed_key(email):
    accounts = fixed.client.get("/api/_lab/accounts").json()  # the fixed app's own passwords
    password = next(a["password"] for a in accounts if a["email"] == email)
    auth = bearer_login(fixed.client, email, password)
    created = fixed.client.post("/api/keys", json={"scopes": ["reports:read"]}, headers=auth)
    return auth, created.json()


def attack_1():
    return f"{len(use_leaked_keys(fixed.client))} value(s) of the leaked table work as keys"


def attack_2():
    fixed.client.post("/api/_lab/partner-job")
    found = find_keys(fixed.client.get("/api/_lab/access-log").json()["lines"])
    return f"the log shows {found}; {sum(status_with(k) == 200 for k in found)} of them work"


def attack_3():
    auth, created = new_fixed_key("alice@example.com")
    fixed.client.delete(f"/api/keys/{created['id']}", headers=auth)
    return f"the revoked key gets {status_with(created['key'])}"


def attack_4():
    _, created = new_fixed_key("carol@example.com")
    return f"a read-only key gets {probe(fixed.client, created['key'])}"


def attack_5():
    content = fixed.client.get("/api/_lab/old-config").json()["content"]
    return f"last year's key gets {status_with(content.split('REPORTS_API_KEY=')[1].split()[0])}"


for number, attack in enumerate((attack_1, attack_2, attack_3, attack_4, attack_5), 1):
    try:
        outcome = attack()
    except NotImplementedError:
        outcome = "your exploit is not written yet"
    except Exception as exc:  # a fix not written yet makes the fixed app answer 500
        outcome = f"could not run ({type(exc).__name__}: {exc}) — are your fixes written?"
    print(f"Attack {number}: {outcome}")

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | Same API key forever | Rotate keys regularly, support multiple active |
# | keys stored as they are | only `SHA-256(key)` at rest; a fast hash is fine for ≥ 128 random bits |
# | `?api_key=` in URLs | `X-API-Key` header only; redact credentials from logs |
#
# What a reviewer looks for in real code:
#
# - keys from `secrets`, never `random`, `uuid1` or a timestamp; ≥ 128 bits; a prefix and a
#   checksum so secret scanning and log filters can find them;
# - the table stores a digest, the key is shown once, lookup is by digest;
# - every request checks revocation, expiry and the route's scope — one 401 for every dead
#   key, 403 for a missing scope;
# - more than one active key per client, a documented rotation, and a maximum lifetime;
# - no credential ever in a URL, and a log pipeline that redacts what slips through (a key
#   found in a log is compromised: rotate it);
# - and, next door: rate limits keyed by API client (lab 11).

# %%
labkit.progress()

# %%
lab.close()
