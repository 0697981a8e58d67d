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
import re
import socket
import ssl

import httpx
import matplotlib.pyplot as plt
from cryptography import x509
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

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
# its own, with the same key. Equal plaintext blocks give equal ciphertext blocks. Here is a
# picture, a padlock drawn in code: one byte per pixel, 256 pixels wide, large flat areas.

# %%
picture = attack.sample_bitmap()
print(len(picture), "bytes =", len(picture) // 256, "rows of 256 pixels")

# %% [markdown]
# Upload it as dave (`POST /api/files`, the raw bytes as the body; the answer has its `id`),
# find what the vault stored for it in the dump (`files`, base64 `stored.ciphertext`), cut that
# ciphertext every 16 bytes and count the pieces that **equal an earlier piece**: `repeated`.
# No key needed — the repeats alone tell you ECB, and where the picture's flat areas are.

# %% labkit={"answer": "ecb-picture"}
### BEGIN SOLUTION
file_id = api.post("/api/files", content=picture, headers=dave).json()["id"]
row = next(f for f in api.get("/api/_lab/dump").json()["files"] if f["id"] == file_id)
ciphertext = base64.b64decode(row["stored"]["ciphertext"])
cut = [ciphertext[i : i + 16] for i in range(0, len(ciphertext), 16)]
repeated = len(cut) - len(set(cut))
### STUB
file_id = None  # TODO: upload `picture` as dave and keep its id
ciphertext = b""  # TODO: what the vault stored for it (from the dump)
repeated = None  # TODO: how many 16-byte pieces of `ciphertext` equal an earlier piece
### END SOLUTION
print(f"{repeated} of {len(ciphertext) // 16} ciphertext pieces repeat an earlier one")

# %% [markdown]
# Now plot what the vault stored, byte for byte, next to the original — and, on the right,
# each ciphertext block coloured by which other blocks it equals:

# %%
ciphertext = ciphertext or bytes(len(picture))
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
lab.check("ecb-picture", (file_id, repeated))

# %% [markdown]
# ## Attack 3 — the key is in the source code
#
# Worse, the vault's key is a constant in the service's code, which is on GitHub (and in every
# clone, backup and fork, and in git history forever, even after a "fix"). Here it is,
# `labkit.vulnerable.crypto`, as anyone can read it. Find the key, decrypt **frank's** backup
# codes file from the dump, and put his recovery code into `frank_code`. The vault is AES-ECB
# with PKCS#7 padding; `cryptography` decrypts it (`Cipher`, `algorithms.AES`, `modes.ECB`,
# `padding.PKCS7(128)`), and a recovery code looks like `K7QD-2MXA-WP4Z` (base32 letters and
# digits).

# %%
source = inspect.getsource(labkit.vulnerable.crypto)
keys = attack.keys_in_source(source)
print(f"{len(keys)} key(s) in the source:", [k.hex()[:16] + "..." for k in keys])

# %% labkit={"answer": "hardcoded-key"}
franks = next(f for f in dump["files"] if f["owner"] == "frank@example.com")
### BEGIN SOLUTION
decryptor = Cipher(algorithms.AES(keys[0]), modes.ECB()).decryptor()
padded = decryptor.update(base64.b64decode(franks["stored"]["ciphertext"])) + decryptor.finalize()
unpadder = padding.PKCS7(128).unpadder()
text = (unpadder.update(padded) + unpadder.finalize()).decode()
print(text)
frank_code = re.findall(r"[A-Z2-7]{4}(?:-[A-Z2-7]{4}){2}", text)[0]
### STUB
frank_code = None  # TODO: decrypt frank's file with the key, then find his code in the text
### END SOLUTION

# %% labkit={"check": "hardcoded-key"}
lab.check("hardcoded-key", frank_code)

# %% [markdown]
# ## Attack 4 — one nonce for every note
#
# Notes use AES-256-GCM with a key nobody has leaked — but every note's `nonce` in the dump is
# the same. GCM encrypts as `C = P ⊕ keystream(key, nonce)`, so under one nonce
# `C₁ ⊕ C₂ = P₁ ⊕ P₂`: the key cancels out. Save a note whose text you know, long enough to
# cover erin's, and XOR your way to her recovery code.
#
# Write `decrypt_with_known(target, mine, known)`: the plaintext of the ciphertext `target`,
# given your ciphertext `mine` of the text `known` under the same key and nonce. (Each stored
# ciphertext ends with GCM's 16-byte tag, which is not keystream.) You will aim it at your
# own fix later.

# %% labkit={"answer": "nonce-reuse"}
known = "A" * 300
mine = api.post("/api/records", json={"data": known}, headers=dave).json()["id"]
rows = {r["id"]: r for r in api.get("/api/_lab/dump").json()["records"]}
erins = next(r for r in rows.values() if r["owner"] == "erin@example.com")


def decrypt_with_known(target: bytes, mine: bytes, known: bytes) -> bytes:
    ### BEGIN SOLUTION
    keystream = bytes(c ^ p for c, p in zip(mine, known, strict=False))  # C = P XOR keystream
    return bytes(c ^ k for c, k in zip(target[:-16], keystream, strict=False))  # tag cut off
    ### STUB
    return b""  # TODO: the plaintext of `target`, from your `mine` = encryption of `known`
    ### END SOLUTION


recovered = decrypt_with_known(
    base64.b64decode(erins["stored"]["ciphertext"]),
    base64.b64decode(rows[mine]["stored"]["ciphertext"]),
    known.encode(),
).decode(errors="replace")
print(recovered)
codes = re.findall(r"[A-Z2-7]{4}(?:-[A-Z2-7]{4}){2}", recovered)
erin_code = codes[0] if codes else None

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
# no key needed. XOR-ing a byte with `known ⊕ wanted` turns `known` into `wanted`.
#
# Write `flip(raw, offset, known, wanted)`: the bytes `raw` with `known ⊕ wanted` XOR-ed in at
# `offset`. Then turn `user  ` (at offset 5 of the plaintext) into `admin ` by editing the
# cookie's IV, and keep the forged cookie (base64url again) in `forged`.

# %%
cookie = api.get("/api/profile", headers=dave).cookies["profile"]
api.cookies.clear()  # we send the cookie by hand below
print("IV:", base64.urlsafe_b64decode(cookie)[:16].hex(), "| ciphertext:", len(base64.urlsafe_b64decode(cookie)) - 16, "bytes")
print("as dave:", api.get("/api/admin/users", headers={**dave, "Cookie": f"profile={cookie}"}).json())

# %% labkit={"answer": "bit-flip"}
def flip(raw: bytes, offset: int, known: bytes, wanted: bytes) -> bytes:
    ### BEGIN SOLUTION
    edited = bytearray(raw)
    for i, (k, w) in enumerate(zip(known, wanted, strict=True)):
        edited[offset + i] ^= k ^ w
    return bytes(edited)
    ### STUB
    return raw  # TODO: XOR known ^ wanted into raw at offset
    ### END SOLUTION


### BEGIN SOLUTION
raw = base64.urlsafe_b64decode(cookie)  # IV (16 bytes) || ciphertext; P1 = D(C1) XOR IV
forged = base64.urlsafe_b64encode(flip(raw, 5, b"user  ", b"admin ")).decode()
### STUB
forged = cookie  # TODO: the cookie with its IV edited (flip its raw bytes, base64url again)
### END SOLUTION

# %%
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
# **Your own exploits, against your fix.** Start an app that runs your two functions, and aim
# your `flip` from Attack 5 and your `decrypt_with_known` from Attack 4 at it. GCM is counter
# mode too: byte 5 of the cookie's ciphertext *is* byte 5 of the plaintext XOR keystream, so
# without the tag your flip would make dave admin again. And without a repeated nonce, your
# known note's keystream is not erin's.

# %%
try:
    fixed = lab.patched(encrypt_record=encrypt_record, decrypt_record=decrypt_record).client
    user = next(a for a in fixed.get("/api/_lab/accounts").json() if a["role"] == "user")
    token = fixed.post("/api/auth/login", json={"email": user["email"], "password": user["password"]})
    me = {"Authorization": f"Bearer {token.json()['accessToken']}"}
    their_cookie = fixed.get("/api/profile", headers=me).cookies["profile"]
    fixed.cookies.clear()
    sealed = json.loads(base64.urlsafe_b64decode(their_cookie))  # your stored form, as a cookie
    body = base64.b64decode(sealed["ciphertext"])
    sealed["ciphertext"] = base64.b64encode(flip(body, 5, b"user  ", b"admin ")).decode()
    forged_again = base64.urlsafe_b64encode(json.dumps(sealed).encode()).decode()
    answer = fixed.get("/api/admin/users", headers={**me, "Cookie": f"profile={forged_again}"})
    print("your bit-flip from Attack 5:", answer.status_code, answer.json(),
          "— refused" if answer.status_code != 200 else "— STILL WORKS")  # fmt: skip

    my_note = fixed.post("/api/records", json={"data": known}, headers=me).json()["id"]
    stolen_rows = {r["id"]: r for r in fixed.get("/api/_lab/dump").json()["records"]}
    erin_row = next(r for r in stolen_rows.values() if r["owner"] == "erin@example.com")
    guess = decrypt_with_known(
        base64.b64decode(erin_row["stored"]["ciphertext"]),
        base64.b64decode(stolen_rows[my_note]["stored"]["ciphertext"]),
        known.encode(),
    ).decode(errors="replace")
    nonces = [r["stored"]["nonce"] for r in stolen_rows.values()]
    print(f"your nonce-reuse attack from Attack 4: {len(set(nonces))} distinct nonces for "
          f"{len(nonces)} notes; erin's note 'decrypts' to {guess[:32]!r}...",
          "— no code in it" if not re.findall(r"[A-Z2-7]{4}(?:-[A-Z2-7]{4}){2}", guess)
          else "— her code is STILL readable")  # fmt: skip
except Exception as exc:  # e.g. your functions are not written yet
    print("your fix could not be attacked yet:", repr(exc))

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
# and access to the KMS is logged and revocable. Your own two functions can sketch it — a key
# is just 32 bytes of plaintext to wrap:

# %%
kek = {"kms-key-1": AESGCM.generate_key(bit_length=256)}  # lives in the KMS
dek = AESGCM.generate_key(bit_length=256)  # one per record
try:
    wrapped = encrypt_record(dek, "dek:record:1", "kms-key-1", kek["kms-key-1"])  # done by the KMS
    record = encrypt_record(b"erin's note", "record:1", "dek-1", dek)
    print("stored next to the data:", {"wrappedKey": wrapped["ciphertext"][:20] + "...", **record})
    unwrapped = decrypt_record(wrapped, "dek:record:1", kek)  # the KMS unwraps it, if you may
    print("read back:", decrypt_record(record, "record:1", {"dek-1": unwrapped}))
except NotImplementedError:
    print("write encrypt_record and decrypt_record first")

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
