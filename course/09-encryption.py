# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 09 · Encryption — in transit and at rest
#
# *Workflow step 5: enable encryption (transit + rest).* Standards: [NIST SP 800-38D](https://csrc.nist.gov/pubs/sp/800/38/d/final)
# (AES-GCM: §8.2 IV construction, §8.3 the limit on invocations per key),
# [RFC 6797](https://www.rfc-editor.org/rfc/rfc6797) (HSTS: §6.1 the header, §7.2 "MUST NOT
# include the STS header field in HTTP responses conveyed over non-secure transport", §14.6 the
# bootstrap problem), [RFC 9110 §15.4.9](https://www.rfc-editor.org/rfc/rfc9110#section-15.4.9)
# (308 Permanent Redirect), the OWASP [Cryptographic Storage](https://cheatsheetseries.owasp.org/cheatsheets/Cryptographic_Storage_Cheat_Sheet.html),
# [Transport Layer Security](https://cheatsheetseries.owasp.org/cheatsheets/Transport_Layer_Security_Cheat_Sheet.html)
# and [HTTP Strict Transport Security](https://cheatsheetseries.owasp.org/cheatsheets/HTTP_Strict_Transport_Security_Cheat_Sheet.html)
# cheat sheets, and OWASP ASVS 5.0 chapters V11 (cryptography: 11.3 encryption algorithms) and
# V12 (secure communication: 12.2 HTTPS with external services).
#
# The lab app is a small **private notes service**. It serves real HTTPS, with a certificate
# from a certificate authority generated for this lab, and redirects plain HTTP there. It
# encrypts everything it stores: notes, uploaded files, even the cookie that remembers your
# role. And yet: you will see a picture through its encryption, read other customers' secrets
# without their key, make yourself admin without any key, and get it to talk to you in clear
# text. Then you will fix it.

# %%
import base64
import inspect
import socket
import ssl

import httpx
import matplotlib.pyplot as plt
from cryptography import x509

import labkit
import labkit.vulnerable.crypto
from labkit.attacks import crypto as attack

lab = labkit.open_lab("09-encryption")
lab

# %% [markdown]
# ## Learn
#
# **In transit: TLS, everywhere, and nothing else.** HTTPS gives confidentiality and integrity
# between the browser and the server, *if the client checks the certificate*: that it chains
# to a CA the client trusts and names the host it asked for. Two more things make "HTTPS only"
# real:
#
# - **Redirect** every plain-HTTP request to HTTPS, to the configured origin (never one built
#   from the request's `Host` header). `308` keeps the method and body; the seed's `301` lets a
#   client turn a `POST` into a `GET`.
# - **HSTS** — `Strict-Transport-Security: max-age=31536000; includeSubDomains` on HTTPS
#   responses (a `max-age` of at least a year). From then on, for a year, the browser itself rewrites `http://` to `https://`
#   for this host and its subdomains, and refuses to click through certificate errors. It is
#   sent **only over HTTPS** (RFC 6797 §7.2): over plain HTTP an attacker could forge or strip
#   it, so browsers ignore it there.
#
# Behind a load balancer that terminates TLS, the app only ever sees plain HTTP, and the
# balancer says what the client used in `X-Forwarded-Proto`. Any client can send that header
# too: believe it **only from the proxy's address** — and a proxy *appends* its value to whatever
# the client sent (`X-Forwarded-Proto: https, http`), so only the **last** value is its own.
#
# **At rest: authenticated encryption, a fresh nonce, a bound context, a key you can rotate.**
#
# - **AES-256-GCM** is an AEAD: it encrypts *and* authenticates. Change one bit of the
#   ciphertext, the nonce or the tag and decryption fails — there is no "garbage plaintext" for
#   the app to believe. ECB, CBC and CTR on their own authenticate nothing.
# - **A nonce never repeats under a key.** GCM is counter mode underneath; a repeated nonce
#   repeats the keystream. NIST SP 800-38D §8.2 recommends **96-bit** nonces; random ones are
#   safe for up to 2³² messages per key (§8.3) — rotate before that.
# - **AAD** (associated data) binds a ciphertext to its context — record id, key id — without
#   storing it: move the ciphertext to another row and it no longer decrypts.
# - **A keyring**: every ciphertext carries the id of its key, new data uses the primary key,
#   old keys stay until everything has been re-encrypted, then they are destroyed.
# - **Keys come from outside the code** (a secrets manager or KMS; see lab 08), never from a
#   constant in the source.
#
# The catalogue's pattern, in TypeScript:
#
# ```ts
# app.use((req, res, next) => {
#   if (req.headers["x-forwarded-proto"] !== "https" && process.env.NODE_ENV === "production") {
#     return res.redirect(301, `https://${req.hostname}${req.url}`);
#   }
#   next();
# });
# app.use((req, res, next) => {
#   res.setHeader("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
#   next();
# });
#
# function encrypt(plaintext: string, key: Buffer) {
#   const iv = crypto.randomBytes(16);
#   const cipher = crypto.createCipheriv("aes-256-gcm", key, iv);
#   ...
#   return { ciphertext, iv: iv.toString("hex"), tag: cipher.getAuthTag().toString("hex") };
# }
# ```
#
# It gets a lot right (GCM, a random IV, the tag checked on the way back). Look closely,
# though: the redirect believes a header anyone can send, HSTS goes out over plain HTTP too,
# the IV is 16 bytes instead of 12, and nothing ties a ciphertext to the record it belongs to.

# %% [markdown]
# ## Part 1 — in transit
#
# The lab runs on two listeners: HTTPS at `lab.url`, plain HTTP at `lab.facts["http"]`. Its
# certificate was signed by a CA made for this lab (`lab.facts["ca"]`), which your computer
# does not trust. httpx checks certificates by default, so it refuses to talk:

# %%
print("https:", lab.url)
print("http: ", lab.facts["http"])
print("CA:   ", lab.facts["ca"])
try:
    httpx.get(lab.url + "/api/status")
except httpx.ConnectError as exc:
    print("refused:", exc)

# %% [markdown]
# That is the right behaviour — and `verify=False` is never the answer. Tell the client which
# CA to trust instead; certificate and hostname checks stay on. We use this client `api` for
# the rest of the lab.

# %%
tls = ssl.create_default_context(cafile=lab.facts["ca"])
api = httpx.Client(base_url=lab.url, verify=tls)
response = api.get("/api/status")
print(response.status_code, response.json())
print("Strict-Transport-Security:", response.headers.get("strict-transport-security"))

# %% [markdown]
# What did the server present? Its certificate names `127.0.0.1` and `localhost` in the
# *Subject Alternative Name* extension, the only place clients look (RFC 9525, which replaced
# RFC 6125), with an EC P-256 key:

# %%
host, port = lab.url.removeprefix("https://").split(":")
with socket.create_connection((host, int(port))) as raw, tls.wrap_socket(raw, server_hostname=host) as conn:
    cert = x509.load_der_x509_certificate(conn.getpeercert(binary_form=True))
    print("TLS version:", conn.version(), "| cipher:", conn.cipher()[0])
print("subject:", cert.subject.rfc4514_string())
print("issuer: ", cert.issuer.rfc4514_string())
print("SAN:    ", cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
print("key:    ", cert.public_key().curve.name, "| valid until", cert.not_valid_after_utc)

# %% [markdown]
# The plain listener answers everything with a redirect to HTTPS. Notice the HSTS header on
# that plain-HTTP response: the seed's middleware adds it everywhere.

# %%
plain = httpx.Client(base_url=lab.facts["http"])
response = plain.get("/api/status?page=2")
print(response.status_code, "→", response.headers.get("location"))
print("Strict-Transport-Security:", response.headers.get("strict-transport-security"))

# %% [markdown]
# **Why HSTS matters: the first request.** A user types `notes.example` into the address bar.
# The browser's first request goes out over plain HTTP, and the redirect comes back over plain
# HTTP too. An attacker on the same Wi-Fi answers that request instead (*sslstrip*): they keep
# talking HTTPS to the server and plain HTTP to the victim, rewriting every `https://` link on
# the way. The redirect never reaches the victim. HSTS closes this for every visit *after* the
# first HTTPS response; the HSTS preload list (built into browsers) closes it for the first one
# too (RFC 6797 §14.6). An HSTS header over plain HTTP protects nothing: the attacker strips it.
#
# ## Attack 1 — claim you are already on HTTPS
#
# The app asks `X-Forwarded-Proto` which scheme the client used — whoever sends it. Make the
# plain listener serve you without a redirect; put the headers you send in `spoof`.

# %% labkit={"answer": "forwarded-proto"}
### BEGIN SOLUTION
spoof = {"X-Forwarded-Proto": "https"}
### STUB
spoof = {}  # TODO: the header that makes the app believe you came over HTTPS
### END SOLUTION
response = plain.get("/api/status", headers=spoof)
print(response.status_code, response.text)

# %% labkit={"check": "forwarded-proto"}
lab.check("forwarded-proto", spoof)

# %% [markdown]
# ## Part 2 — at rest
#
# You are **dave**, an ordinary customer. The accounts of the two customers whose secrets you
# are after, erin and frank, are not yours to log in to. A helper to log in:

# %%
def login(email: str, password: str) -> dict[str, str]:
    token = api.post("/api/auth/login", json={"email": email, "password": password}).json()["accessToken"]
    return {"Authorization": f"Bearer {token}"}


dave = login(lab.users["dave"].email, lab.users["dave"].password)
api.get("/api/profile", headers=dave).json()

# %% [markdown]
# A copy of the database has leaked (the lab-only route `/api/_lab/dump` plays the breach).
# Every note is stored as `{keyId, nonce, ciphertext}`; files too. Look at the nonces.

# %%
dump = api.get("/api/_lab/dump").json()
for row in dump["records"]:
    print(f"note {row['id']} of {row['owner']:<18} nonce={row['stored']['nonce']} "
          f"ciphertext={row['stored']['ciphertext'][:24]}...")
for row in dump["files"]:
    print(f"file {row['id']} of {row['owner']:<18} {row['name']} ciphertext={row['stored']['ciphertext'][:24]}...")

# %% [markdown]
# ## Attack 2 — a picture through ECB
#
# Files go into a legacy "vault" that encrypts with AES in **ECB** mode: each 16-byte block on
# its own, with the same key. Equal plaintext blocks give equal ciphertext blocks. Upload a
# picture (a padlock drawn in code, one byte per pixel, 256 pixels wide) and keep its `file_id`.

# %% labkit={"answer": "ecb-picture"}
picture = attack.sample_bitmap()
### BEGIN SOLUTION
file_id = api.post("/api/files", content=picture, headers=dave).json()["id"]
### STUB
file_id = None  # TODO: upload `picture` as dave (POST /api/files, raw body) and keep its id
### END SOLUTION

# %% [markdown]
# Now plot what the vault stored, byte for byte, next to the original — and, on the right,
# each ciphertext block coloured by which other blocks it equals:

# %%
uploaded = [f for f in api.get("/api/_lab/dump").json()["files"] if f["id"] == file_id]
ciphertext = base64.b64decode(uploaded[0]["stored"]["ciphertext"]) if uploaded else bytes(len(picture))
fig, axes = plt.subplots(1, 3, figsize=(11, 2.8))
for ax, image, title in zip(
    axes,
    (attack.byte_image(picture, 256), attack.byte_image(ciphertext, 256), attack.block_image(ciphertext, 256)),
    ("what you uploaded", "what the vault stored (AES-ECB)", "equal ciphertext blocks"),
    strict=True,
):
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title)
    ax.axis("off")
plt.tight_layout()
plt.show()
print(f"{attack.repeated_block_ratio(ciphertext):.0%} of the ciphertext blocks repeat an earlier block")

# %% labkit={"check": "ecb-picture"}
lab.check("ecb-picture", file_id)

# %% [markdown]
# ## Attack 3 — the key is in the source code
#
# Worse, the vault's key is a constant in the service's code, which is on GitHub (and in every
# clone, backup and fork, and in git history forever, even after a "fix"). Here it is,
# `labkit.vulnerable.crypto`, as anyone can read it. Find the key, decrypt **frank's** backup
# codes file from the dump, and put his recovery code into `frank_code`.

# %%
source = inspect.getsource(labkit.vulnerable.crypto)
keys = attack.keys_in_source(source)
print(f"{len(keys)} key(s) in the source:", [k.hex()[:16] + "..." for k in keys])

# %% labkit={"answer": "hardcoded-key"}
franks = next(f for f in dump["files"] if f["owner"] == "frank@example.com")
### BEGIN SOLUTION
text = attack.decrypt_ecb(keys[0], base64.b64decode(franks["stored"]["ciphertext"])).decode()
print(text)
frank_code = attack.find_codes(text)[0]
### STUB
frank_code = None  # TODO: attack.decrypt_ecb(key, ciphertext), then attack.find_codes(...)
### END SOLUTION

# %% labkit={"check": "hardcoded-key"}
lab.check("hardcoded-key", frank_code)

# %% [markdown]
# ## Attack 4 — one nonce for every note
#
# Notes use AES-256-GCM with a key nobody has leaked — but every note's `nonce` in the dump is
# the same. GCM encrypts as `C = P ⊕ keystream(key, nonce)`, so under one nonce
# `C₁ ⊕ C₂ = P₁ ⊕ P₂`: the key cancels out. Save a note whose text you know, long enough to
# cover erin's, and XOR your way to her recovery code. Put it in `erin_code`.

# %% labkit={"answer": "nonce-reuse"}
known = "A" * 300
mine = api.post("/api/records", json={"data": known}, headers=dave).json()["id"]
rows = {r["id"]: r for r in api.get("/api/_lab/dump").json()["records"]}
erins = next(r for r in rows.values() if r["owner"] == "erin@example.com")
### BEGIN SOLUTION
recovered = attack.recover_with_known_plaintext(
    base64.b64decode(erins["stored"]["ciphertext"]),
    base64.b64decode(rows[mine]["stored"]["ciphertext"]),
    known.encode(),
)
print(recovered.decode(errors="replace"))
erin_code = attack.find_codes(recovered.decode(errors="replace"))[0]
### STUB
erin_code = None  # TODO: attack.recover_with_known_plaintext(...), then attack.find_codes(...)
### END SOLUTION

# %% labkit={"check": "nonce-reuse"}
lab.check("nonce-reuse", erin_code)

# %% [markdown]
# Reading is not all. GCM's tag is a polynomial in a hash key `H` that depends only on the
# key; two messages under one nonce give two equations in `H`, which an attacker solves
# (Joux's "forbidden attack", 2006). With `H` they can compute valid tags for ciphertexts of
# their choosing: nonce reuse turns GCM's integrity off as well.
#
# ## Attack 5 — flip bits, become admin
#
# To save a database query, the app keeps your role in an encrypted `profile` cookie and
# trusts it on `/api/admin/users`. The cookie is `base64url(IV ‖ AES-CBC(plaintext))`, and the
# plaintext starts `role=user  ;uid=4` (the role is padded to 6 characters). CBC decrypts the
# first block as `D(C₁) ⊕ IV`: flip a bit of the IV and the same bit of the plaintext flips —
# no key needed. Turn `user  ` (at offset 5) into `admin ` and keep the cookie in `forged`.

# %%
cookie = api.get("/api/profile", headers=dave).cookies["profile"]
api.cookies.clear()  # we send the cookie by hand below
print("IV:", base64.urlsafe_b64decode(cookie)[:16].hex(), "| ciphertext:", len(base64.urlsafe_b64decode(cookie)) - 16, "bytes")
print("as dave:", api.get("/api/admin/users", headers={**dave, "Cookie": f"profile={cookie}"}).json())

# %% labkit={"answer": "bit-flip"}
### BEGIN SOLUTION
forged = attack.cbc_flip(cookie, 5, b"user  ", b"admin ")
### STUB
forged = cookie  # TODO: attack.cbc_flip(cookie, offset, known, wanted)
### END SOLUTION
print(api.get("/api/admin/users", headers={**dave, "Cookie": f"profile={forged}"}).json())

# %% labkit={"check": "bit-flip"}
lab.check("bit-flip", forged)

# %% [markdown]
# ## Fix 1 — AES-256-GCM, done right
#
# Write the two functions the app calls for everything it stores (notes, files, the cookie):
#
# - `encrypt_record(plaintext, record_id, key_id, key) -> dict` returns the stored form
#   `{"keyId": key_id, "nonce": base64(nonce), "ciphertext": base64(ciphertext ‖ tag)}` (base64
#   is `base64.b64encode(...).decode()`). A fresh `os.urandom(12)` nonce every call — the app
#   encrypts a record again each time it is edited or re-keyed, so nothing derived from the
#   record will do; AAD that contains the whole `record_id` (`"record:7"`, `"file:7"` or
#   `"profile:7"`; adding `key_id` costs nothing).
# - `decrypt_record(stored, record_id, keyring) -> bytes | None`: `keyring` maps every live key
#   id to its 32-byte key; use the key `stored["keyId"]` names, the same AAD, and return `None`
#   for anything that does not authenticate — a wrong tag, an unknown key id, a malformed field.
#   Never let an exception out: the app would answer 500, and a crash is not a rejection (a
#   rejected record is a `409 {"error": "Record failed integrity check"}`).
#
# Any AEAD from `cryptography` passes: AES-GCM, ChaCha20-Poly1305, AES-GCM-SIV.
#
# <!-- labkit:rules tamper swap nonces rotation -->
#
# `cryptography.hazmat.primitives.ciphers.aead.AESGCM` does the AES-GCM part:
# `AESGCM(key).encrypt(nonce, plaintext, aad)` returns the ciphertext with the 16-byte tag
# appended; `decrypt` raises `InvalidTag`.
#
# **Why 12 bytes and not the seed's 16?** GCM is defined for 96-bit IVs: the counter block is
# `IV ‖ 0³¹1`. Any other length is first hashed with GHASH into a counter block, so two
# different IVs can collide into overlapping keystreams, and the bound on how many messages a
# key may encrypt gets worse. NIST SP 800-38D §8.2 recommends 96 bits; every library's default
# is 12 bytes.

# %% labkit={"answer": "tamper"}
import binascii
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict:
    ### BEGIN SOLUTION
    nonce = os.urandom(12)
    aad = json.dumps([record_id, key_id]).encode()  # unambiguous: no "ab"+"c" == "a"+"bc"
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return {"keyId": key_id, "nonce": base64.b64encode(nonce).decode(), "ciphertext": base64.b64encode(sealed).decode()}
    ### END SOLUTION


def decrypt_record(stored: dict, record_id: str, keyring: dict) -> bytes | None:
    ### BEGIN SOLUTION
    key_id = stored.get("keyId")
    if key_id not in keyring:
        return None
    try:
        nonce = base64.b64decode(stored["nonce"], validate=True)
        sealed = base64.b64decode(stored["ciphertext"], validate=True)
        return AESGCM(keyring[key_id]).decrypt(nonce, sealed, json.dumps([record_id, key_id]).encode())
    except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
        return None
    ### END SOLUTION


# %% [markdown]
# The checks flip bits in a stored note, its nonce and its tag, cut it short, and forge the
# profile cookie — each must be rejected while genuine data reads.

# %% labkit={"check": "tamper"}
lab.check("tamper", encrypt_record=encrypt_record, decrypt_record=decrypt_record)

# %% [markdown]
# An attacker who can write to the database (a backup restore, an SQL injection) copies erin's
# ciphertext into a row of their own, then reads "their" note through the API. AAD makes the
# ciphertext valid only in its own row:

# %% labkit={"check": "swap"}
lab.check("swap", encrypt_record=encrypt_record, decrypt_record=decrypt_record)

# %% [markdown]
# Ten thousand encryptions through your function — a few dozen records, each encrypted again
# and again — must give ten thousand distinct 96-bit nonces in which every byte looks random
# (a counter or a timestamp is refused: it restarts with the process, or collides on a second
# server; a hash of the record repeats when the record is encrypted again). A note edited
# twice must get three different nonces too:

# %% labkit={"check": "nonces"}
lab.check("nonces", encrypt_record=encrypt_record)

# %% [markdown]
# **Rotation.** The check writes notes, rotates the key (`/api/_lab/rotate`), and reads the old
# notes back: your `decrypt_record` must pick the key by `keyId`. The app re-encrypts a note
# under the new key when it reads it (*re-encrypt on read*), and `/api/_lab/reencrypt` does all
# of them in one batch; then the old keys are retired. Finally it destroys a key that still
# encrypts a note: that note must be gone for good (*crypto-shredding*: deleting a key deletes
# every copy of the data, backups included).

# %% labkit={"check": "rotation"}
lab.check("rotation", encrypt_record=encrypt_record, decrypt_record=decrypt_record)

# %% [markdown]
# **Envelope encryption.** In production the keys above would not sit in the app's memory as
# a dict. Each record (or file, or tenant) gets its own random *data key* (DEK); the DEK is
# encrypted — *wrapped* — by a *key-encryption key* (KEK) that never leaves a KMS or HSM, and
# the wrapped DEK is stored next to the data. Reading means asking the KMS to unwrap the DEK.
# Rotating the KEK re-wraps a few hundred bytes per record instead of re-encrypting the data,
# and access to the KMS is logged and revocable. `labkit.patterns.crypto` sketches it:

# %%
from labkit.patterns import crypto as recipes

kek = {"kms-key-1": AESGCM.generate_key(bit_length=256)}  # lives in the KMS
dek = AESGCM.generate_key(bit_length=256)  # one per record
wrapped = recipes.wrap_data_key(dek, kek_id="kms-key-1", kek=kek["kms-key-1"])
record = recipes.encrypt_with(b"erin's note", context="record:1", key_id="dek", key=dek)
print("stored next to the data:", {"wrappedKey": wrapped["ciphertext"][:20] + "...", **record})
assert recipes.decrypt_with(record, context="record:1", keys={"dek": recipes.unwrap_data_key(wrapped, keks=kek)}) == b"erin's note"

# %% [markdown]
# ## Fix 2 — HTTPS only, properly
#
# Write the two functions the app's HTTPS middleware calls on every request:
#
# - `effective_scheme(scheme, peer, forwarded_proto, trusted_proxies) -> str`: the scheme the
#   *client* used. `scheme` is the connection's own (`"http"` or `"https"`), `peer` the TCP
#   peer's address, `forwarded_proto` the `X-Forwarded-Proto` header (or `None`). Believe the
#   header only when `peer in trusted_proxies` (the lab's load balancer is `127.0.0.2`). A proxy
#   appends to the list it received (`"http, https"`; header lines sent twice reach you joined
#   the same way): the last value is the one it wrote, everything before it came from the client.
# - `security_headers(scheme) -> dict`: the headers for a response to a client on `scheme` —
#   HSTS with a `max-age` of at least one year when it is `"https"`, nothing otherwise.
#
# The app redirects whenever `effective_scheme` is not `"https"`.
#
# <!-- labkit:rules transport -->

# %% labkit={"answer": "transport"}
HSTS = "max-age=31536000; includeSubDomains"


def effective_scheme(scheme: str, peer: str, forwarded_proto: str | None, trusted_proxies: frozenset) -> str:
    ### BEGIN SOLUTION
    if forwarded_proto and peer in trusted_proxies:
        claimed = forwarded_proto.split(",")[-1].strip().lower()
        if claimed in ("http", "https"):
            return claimed
    return scheme
    ### END SOLUTION


def security_headers(scheme: str) -> dict:
    ### BEGIN SOLUTION
    return {"Strict-Transport-Security": HSTS} if scheme == "https" else {}
    ### END SOLUTION


# %% [markdown]
# The check talks to your app over real HTTPS (trusting the lab CA), over plain HTTP with
# forged `X-Forwarded-Proto` headers (single values, lists, repeated lines) from ordinary
# clients, and — where this computer has the address `127.0.0.2` (Linux does) — as the load
# balancer, forwarding generated lists whose last value decides.

# %% labkit={"check": "transport"}
lab.check("transport", effective_scheme=effective_scheme, security_headers=security_headers)

# %% [markdown]
# ## Verify — replay every attack
#
# Your four functions together: tampering, bit-flipped cookies, swapped records, nonces, the
# ECB picture, key rotation and crypto-shredding, the HTTPS redirect, HSTS and the forwarded
# header — while dave and alice go on using the service. Everything the single checks asked for:
#
# <!-- labkit:rules verify -->

# %% labkit={"check": "verify"}
lab.check(
    "verify",
    encrypt_record=encrypt_record,
    decrypt_record=decrypt_record,
    effective_scheme=effective_scheme,
    security_headers=security_headers,
)

# %% [markdown]
# ## Recap
#
# | avoid | do instead |
# | --- | --- |
# | No HTTPS redirect | Force HTTPS + HSTS header |
# | Rolling your own crypto | Use established libraries |
# | Hardcoded secrets in code | Environment variables + secrets manager |
#
# What a reviewer looks for in real code:
#
# - `verify=False`, `CERT_NONE`, `rejectUnauthorized: false` anywhere: a finding, always.
#   Trust a private CA explicitly instead.
# - HSTS only on HTTPS responses, `max-age` of a year, `includeSubDomains` once every subdomain
#   is HTTPS; then consider preload. Redirects to a configured origin, `308` for APIs.
# - `X-Forwarded-*` believed only from the proxy (`--forwarded-allow-ips` in uvicorn, `trust
#   proxy` in Express) — and check the server's own default: uvicorn trusts them from
#   127.0.0.1 out of the box.
# - `MODE_ECB`, `AES.new(key, AES.MODE_CBC)` without an HMAC, CTR without a MAC: use an AEAD
#   (AES-GCM, ChaCha20-Poly1305) or a recipe (Fernet, Tink, libsodium's secretbox).
# - A nonce that is a constant, a counter in memory or derived from time; IVs of 16 bytes for GCM.
# - Ciphertexts without AAD where rows can be swapped; no key id stored; no way to rotate.
# - Keys in source, config files or images; keys and plaintext in logs.

# %%
labkit.progress()

# %%
for client in (api, plain):
    client.close()
lab.close()
