"""09-encryption: ECB pictures, bit-flipped cookies, reused nonces, keys in source, spoofed
``X-Forwarded-Proto`` — then AES-GCM done right, a keyring, and HTTPS with HSTS.

Every check works over HTTP(S). The lab app listens on HTTPS (``urls["main"]``, a lab-local
CA whose certificate the plain listener ``urls["http"]`` serves at ``/api/_lab/ca.pem``) and
on plain HTTP. What an attacker with database access sees and does comes from the lab-only
routes ``/api/_lab/dump`` and ``PUT /api/_lab/records/{id}``; key management from
``/api/_lab/rotate``, ``/api/_lab/reencrypt`` and ``/api/_lab/retire``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import socket
from collections.abc import Callable
from typing import Any

import httpx

from labkit.attacks.crypto import repeated_block_ratio, sample_bitmap
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.sandbox.tls import client_context

__all__ = ["HSTS_MAX_AGE", "LAB", "PROXY_ADDRESS", "proxy_address_usable"]

LAB = LabDefinition("09-encryption", "09 · Encryption", "labkit.sandbox.apps.encryption")

CA, DUMP, RECORDS = "/api/_lab/ca.pem", "/api/_lab/dump", "/api/records"
STATUS, ADMIN, PROFILE = "/api/status", "/api/admin/users", "/api/profile"
INTEGRITY_ERROR = "Record failed integrity check"
HSTS_MAX_AGE = 31_536_000
PROXY_ADDRESS = "127.0.0.2"  # the lab's load balancer (the app trusts only this peer)
NONCE_PROBES = 10_000
ECB_LEAK = 0.25  # at least this share of repeated blocks means the picture shows through
COUNTER_SPREAD = 2**40  # 10k random 96-bit nonces spread over ~2**96, a counter over ~10**4


# -- plumbing ----------------------------------------------------------------------------
def proxy_address_usable() -> bool:
    """True where 127.0.0.2 is a local address (Linux: all of 127/8; macOS: only .1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((PROXY_ADDRESS, 0))
        except OSError:
            return False
    return True


def _plain(target: Target, **kwargs: Any) -> httpx.Client:
    """A client for the plain-HTTP listener (no redirects followed)."""
    return httpx.Client(base_url=target.urls["http"], trust_env=False, timeout=30.0, **kwargs)


def _secure(target: Target) -> httpx.Client:
    """A client for the HTTPS listener that trusts the lab's CA — and only it."""
    with _plain(target) as plain:
        pem = plain.get(CA).text
    return target.client(verify=client_context(cadata=pem))


def _fault(response: httpx.Response) -> str:
    try:
        fault = response.json().get("labkitFault", "")
    except (ValueError, AttributeError):
        return ""
    return f" — {fault}" if fault else ""


class AppBroken(Exception):
    """The app cannot even do what the check needs to start (log in, save a note)."""


def _accounts(client: httpx.Client) -> dict[str, dict[str, Any]]:
    return {a["role"]: a for a in client.get("/api/_lab/accounts").json()}


def _login(client: httpx.Client, account: dict[str, Any]) -> dict[str, str]:
    response = client.post(
        "/api/auth/login", json={"email": account["email"], "password": account["password"]}
    )
    if response.status_code != 200:
        raise AppBroken(f"logging in as {account['email']} got {response.status_code}"
                        f"{_fault(response)}")  # fmt: skip
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def _run(battery: Callable[..., None], subject: Any, findings: Findings) -> None:
    """Run a battery; an app too broken to start it is one problem, not a crash."""
    try:
        battery(subject, findings)
    except AppBroken as exc:
        findings.fail(str(exc))


def _cookie(value: str) -> dict[str, str]:
    """The profile cookie as a header (the client's own jar stays empty)."""
    return {"Cookie": f"profile={value}"}


def _dump_row(client: httpx.Client, table: str, row_id: int) -> dict[str, Any] | None:
    rows = client.get(DUMP).json()[table]
    return next((r for r in rows if r["id"] == row_id), None)


def _new_record(
    client: httpx.Client, auth: dict[str, str], text: str, findings: Findings
) -> int | None:
    response = client.post(RECORDS, json={"data": text}, headers=auth)
    if not findings.expect(
        response.status_code == 201,
        f"saving a note got {response.status_code}{_fault(response)}",
    ):
        return None
    return int(response.json()["id"])


def _read(client: httpx.Client, auth: dict[str, str], record_id: int) -> httpx.Response:
    return client.get(f"{RECORDS}/{record_id}", headers=auth)


def _b64(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _flip(stored: dict[str, Any], field: str, index: int) -> dict[str, Any] | None:
    raw = _b64(stored.get(field))
    if not raw:
        return None
    changed = bytearray(raw)
    changed[index % len(changed)] ^= 0x01
    return {**stored, field: base64.b64encode(bytes(changed)).decode()}


def _refused(
    findings: Findings, response: httpx.Response, secret: str, problem: str, observation: str
) -> None:
    if response.status_code == 200:
        try:
            body = str(response.json().get("data", ""))
        except (ValueError, AttributeError):
            body = ""
        leaked = " (and it returned the other record's text)" if secret and secret in body else ""
        findings.fail(f"{problem}: the app answered 200{leaked}")
        return
    fault = _fault(response)
    if fault:
        findings.saw(f"{observation} (by crashing{fault}; returning None answers cleanly)")
    else:
        findings.saw(observation)


def _text(tag: str) -> str:
    """A note long enough to span several AES blocks, with non-ASCII text."""
    return f"{tag} {secrets.token_hex(8)} — café, naïve, 東京, 🔐 " + "lorem ipsum " * 5


# -- attacks -----------------------------------------------------------------------------
@LAB.check(
    "ecb-picture",
    title="See a picture through AES-ECB",
    kind="attack",
    hints=(
        "picture = labkit.attacks.crypto.sample_bitmap() draws a padlock (one byte a pixel).",
        "Upload it as dave: client.post('/api/files', content=picture, headers=dave) returns "
        "its id; the dump's files[...]['stored']['ciphertext'] is what the vault stored.",
        "Hand in the file id (an int); the check counts repeated 16-byte blocks.",
    ),
    answer_help="the id (int) of a file you uploaded whose ciphertext shows its picture",
)
def ecb_picture(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not isinstance(answer, int) or isinstance(answer, bool):
        return Verdict(False, f"expected the id of your uploaded file (an int), got {answer!r}")
    with _secure(ctx.target) as client:
        row = _dump_row(client, "files", answer)
    if row is None:
        return Verdict(False, f"there is no file {answer} in the dump")
    sealed = _b64(row["stored"].get("ciphertext")) or b""
    ratio = repeated_block_ratio(sealed)
    findings = Findings()
    findings.expect(
        ratio >= ECB_LEAK,
        f"only {ratio:.0%} of the stored 16-byte blocks repeat: upload a picture with large "
        "flat areas (labkit.attacks.crypto.sample_bitmap())",
        f"{ratio:.0%} of the {len(sealed) // 16} ciphertext blocks repeat an earlier one: "
        "equal plaintext blocks, equal ciphertext blocks",
    )
    return findings.verdict("ECB let the picture through", "no ECB pattern in that file")


@LAB.check(
    "bit-flip",
    title="Become admin by flipping bits of the encrypted profile cookie",
    kind="attack",
    hints=(
        "Log in as dave, GET /api/profile: the 'profile' cookie is base64url(IV || AES-CBC).",
        "Its plaintext starts 'role=user  ;uid=4' — the role field is 6 characters wide.",
        "labkit.attacks.crypto.cbc_flip(cookie, 5, b'user  ', b'admin ') edits the IV. "
        "Hand in the forged cookie (a str).",
    ),
    answer_help="the forged profile cookie (str) that gets dave into /api/admin/users",
)
def bit_flip(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not isinstance(answer, str) or not answer:
        return Verdict(False, f"expected the forged cookie as a string, got {answer!r}")
    with _secure(ctx.target) as client:
        dave = _accounts(client)["user"]
        response = client.get(ADMIN, headers={**_login(client, dave), **_cookie(answer)})
    if response.status_code != 200:
        return Verdict(
            False,
            "the app did not let dave in with that cookie",
            (f"GET {ADMIN} answered {response.status_code}: {response.text[:120]}",),
        )
    seen = response.json().get("as", {})
    return Verdict(
        True,
        "dave, a customer, is admin now",
        (
            f"the app decrypted your cookie as uid={seen.get('uid')} role={seen.get('role')}",
            "you never knew the key: CBC without a MAC lets anyone edit the plaintext",
        ),
    )


def _recovered(ctx: CheckContext, email: str, what: str) -> Verdict:
    answer = ctx.answer
    if not isinstance(answer, str) or not answer.strip():
        return Verdict(False, f"expected {what} as a string, got {answer!r}")
    with _secure(ctx.target) as client:
        response = client.post("/api/auth/recover", json={"email": email, "code": answer})
    if response.status_code != 200:
        return Verdict(
            False, f"that is not {email}'s recovery code", (f"answered {response.status_code}",)
        )
    return Verdict(True, f"you signed in as {email} with a code you decrypted without permission")


@LAB.check(
    "nonce-reuse",
    title="Read erin's note: every note shares one GCM nonce",
    kind="attack",
    hints=(
        "In the dump every note has the same 'nonce'. Save a long note of your own (as dave) "
        "whose text you know, e.g. 'A' * 300.",
        "Same key + same nonce = same keystream: C1 XOR C2 = P1 XOR P2. "
        "labkit.attacks.crypto.recover_with_known_plaintext(erin_ct, your_ct, your_text).",
        "labkit.attacks.crypto.find_codes(text) finds the recovery code; hand it in.",
    ),
    answer_help="erin's recovery code (str)",
)
def nonce_reuse(ctx: CheckContext) -> Verdict:
    return _recovered(ctx, "erin@example.com", "erin's recovery code")


@LAB.check(
    "hardcoded-key",
    title="Decrypt frank's file with the key from the source code",
    kind="attack",
    hints=(
        "inspect.getsource(labkit.vulnerable.crypto) is the service's code, as on GitHub.",
        "labkit.attacks.crypto.keys_in_source(source) finds AES-sized keys written into it.",
        "decrypt_ecb(key, ciphertext_of_franks_file), then find_codes(...). Hand in the code.",
    ),
    answer_help="frank's recovery code (str)",
)
def hardcoded_key(ctx: CheckContext) -> Verdict:
    return _recovered(ctx, "frank@example.com", "frank's recovery code")


@LAB.check(
    "forwarded-proto",
    title="Get served over plain HTTP by claiming X-Forwarded-Proto: https",
    kind="attack",
    hints=(
        "A plain request to lab.facts['http'] + '/api/status' is redirected to HTTPS.",
        "The app asks X-Forwarded-Proto which scheme the client used — and believes anyone.",
        "Hand in the headers you sent, as a dict.",
    ),
    answer_help="a dict of request headers that make the plain listener answer 200",
)
def forwarded_proto(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not isinstance(answer, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in answer.items()
    ):
        return Verdict(False, f"expected the headers as a dict of strings, got {answer!r}")
    with _plain(ctx.target) as plain:
        baseline = plain.get(STATUS)
        spoofed = plain.get(STATUS, headers=answer)
    if spoofed.status_code != 200:
        return Verdict(
            False,
            "the plain listener still redirected you",
            (f"with your headers: {spoofed.status_code} → {spoofed.headers.get('location')}",),
        )
    return Verdict(
        True,
        "served in clear text: the redirect was skipped on your word",
        (
            f"without the header: {baseline.status_code}; with it: 200 over http://",
            "a network attacker (sslstrip) can do the same for a victim's first request",
        ),
    )


# -- fixes -------------------------------------------------------------------------------
def _tamper_battery(client: httpx.Client, findings: Findings) -> None:
    accounts = _accounts(client)
    dave = _login(client, accounts["user"])
    text = _text("tamper")
    record = _new_record(client, dave, text, findings)
    if record is None:
        return
    first = _read(client, dave, record)
    if not findings.expect(
        first.status_code == 200 and first.json().get("data") == text,
        f"reading a note back got {first.status_code}{_fault(first)}",
        "a note reads back unchanged",
    ):
        return
    row = _dump_row(client, "records", record)
    stored = dict(row["stored"]) if row else {}
    sealed = _b64(stored.get("ciphertext"))
    if not findings.expect(
        sealed is not None,
        "the stored form needs a base64 'ciphertext' field (see the contract above the fix)",
    ):
        return
    findings.expect(
        text.encode() not in (sealed or b"") and "lorem ipsum" not in json.dumps(stored),
        "the note is stored in clear text",
    )
    again = _new_record(client, dave, text, findings)
    twin = _dump_row(client, "records", again) if again else None
    if twin is not None:
        findings.expect(
            twin["stored"].get("ciphertext") != stored.get("ciphertext"),
            "the same text encrypted twice gave the same ciphertext: a fresh nonce every time",
            "the same text encrypts differently every time",
        )
    length = len(sealed or b"")
    tampered = {
        "a flipped bit in the first ciphertext byte": _flip(stored, "ciphertext", 0),
        "a flipped bit in the middle": _flip(stored, "ciphertext", length // 2),
        "a flipped bit in the last byte (the tag)": _flip(stored, "ciphertext", -1),
        "a flipped bit in the nonce": _flip(stored, "nonce", 0),
        "the ciphertext cut short by one byte": {
            **stored,
            "ciphertext": base64.b64encode((sealed or b"")[:-1]).decode(),
        },
    }
    for label, changed in tampered.items():
        if changed is None:
            continue
        client.put(f"/api/_lab/records/{record}", json=changed)
        _refused(
            findings,
            _read(client, dave, record),
            "",
            f"{label} went unnoticed",
            f"{label}: rejected",
        )
    client.put(f"/api/_lab/records/{record}", json=stored)
    restored = _read(client, dave, record)
    findings.expect(
        restored.status_code == 200 and restored.json().get("data") == text,
        f"the untouched ciphertext no longer reads ({restored.status_code}{_fault(restored)})",
    )
    _cookie_battery(client, accounts, findings)


def _flipped_cookies(cookie: str) -> list[str]:
    """Every way to turn 'user  ' into 'admin ' at offset 5 this check knows."""
    delta = bytes(a ^ b for a, b in zip(b"user  ", b"admin ", strict=True))

    def xor_at(raw: bytes, offset: int) -> bytes:
        out = bytearray(raw)
        for i, d in enumerate(delta):
            if offset + i < len(out):
                out[offset + i] ^= d
        return bytes(out)

    forged = []
    try:
        raw = base64.urlsafe_b64decode(cookie.encode())
    except (binascii.Error, ValueError):
        return forged
    forged.append(base64.urlsafe_b64encode(xor_at(raw, 5)).decode())  # IV || CBC
    try:
        stored = json.loads(raw)
    except ValueError:
        return forged
    if isinstance(stored, dict):
        for field in ("nonce", "ciphertext", "iv"):
            value = _b64(stored.get(field))
            if value:
                changed = {**stored, field: base64.b64encode(xor_at(value, 5)).decode()}
                forged.append(base64.urlsafe_b64encode(json.dumps(changed).encode()).decode())
    return forged


def _cookie_battery(
    client: httpx.Client, accounts: dict[str, dict[str, Any]], findings: Findings
) -> None:
    alice = _login(client, accounts["admin"])
    response = client.get(PROFILE, headers=alice)
    if not findings.expect(
        response.status_code == 200 and "profile" in response.cookies,
        f"GET {PROFILE} got {response.status_code}{_fault(response)}",
    ):
        return
    genuine = response.cookies["profile"]
    client.cookies.clear()
    own = client.get(ADMIN, headers={**alice, **_cookie(genuine)})
    findings.expect(
        own.status_code == 200,
        f"alice's own profile cookie no longer opens {ADMIN} ({own.status_code}{_fault(own)})",
        "an admin's genuine profile cookie still works",
    )
    dave = _login(client, accounts["user"])
    cookie = client.get(PROFILE, headers=dave).cookies.get("profile", "")
    client.cookies.clear()
    for forged in _flipped_cookies(cookie):
        answer = client.get(ADMIN, headers={**dave, **_cookie(forged)})
        if answer.status_code == 200:
            findings.fail("a bit-flipped profile cookie made dave admin: encryption without "
                          "integrity (use AES-GCM)")  # fmt: skip
            return
    client.cookies.clear()
    findings.saw("bit-flipped profile cookies are refused")


def _swap_battery(client: httpx.Client, findings: Findings) -> None:
    accounts = _accounts(client)
    dave, carol = _login(client, accounts["user"]), _login(client, accounts["viewer"])
    victim_text, own_text = _text("carol's secret"), _text("dave's note")
    victim = _new_record(client, carol, victim_text, findings)
    own = _new_record(client, dave, own_text, findings)
    second = _new_record(client, dave, _text("dave's other note"), findings)
    if victim is None or own is None or second is None:
        return
    rows = {r["id"]: r["stored"] for r in client.get(DUMP).json()["records"]}
    cases = {
        "carol's ciphertext copied into dave's row": (own, rows[victim], victim_text),
        "one of dave's notes copied over another": (second, rows[own], own_text),
    }
    for label, (target_row, stored, secret) in cases.items():
        client.put(f"/api/_lab/records/{target_row}", json=stored)
        _refused(
            findings,
            _read(client, dave, target_row),
            secret,
            f"{label} decrypted as dave's record — bind each ciphertext to its record with AAD",
            f"{label}: rejected",
        )
    for row_id in (own, second):
        client.put(f"/api/_lab/records/{row_id}", json=rows[row_id])
    back = _read(client, dave, own)
    findings.expect(
        back.status_code == 200 and back.json().get("data") == own_text,
        f"dave's note does not read in its own row ({back.status_code}{_fault(back)})",
        "every ciphertext still reads in its own row",
    )


def _nonce_battery(client: httpx.Client, findings: Findings) -> None:
    response = client.post("/api/_lab/encrypt-many", json={"count": NONCE_PROBES})
    if not findings.expect(
        response.status_code == 200,
        f"{NONCE_PROBES:,} encryptions failed: {response.status_code}{_fault(response)}",
    ):
        return
    nonces = [_b64(n) for n in response.json()["nonces"]]
    if not findings.expect(
        all(n is not None for n in nonces),
        "some encryptions stored no base64 'nonce' field",
    ):
        return
    found = [n for n in nonces if n is not None]
    distinct = len(set(found))
    findings.expect(
        distinct == len(found),
        f"{len(found) - distinct:,} of {len(found):,} encryptions reused a nonce: with GCM "
        "that leaks P1 XOR P2 and the authentication key",
        f"{len(found):,} encryptions, {distinct:,} distinct nonces",
    )
    sizes = sorted({len(n) for n in found})
    findings.expect(
        sizes == [12],
        f"nonces are {', '.join(map(str, sizes))} bytes: use 96-bit (12-byte) nonces as "
        "NIST SP 800-38D §8.2 recommends (other lengths are hashed into the counter block)",
        "every nonce is 96 bits",
    )
    values = [int.from_bytes(n, "big") for n in found]
    if distinct > 1:
        findings.expect(
            max(values) - min(values) > COUNTER_SPREAD,
            "the nonces count up (or follow the clock): a counter starts again at 0 when the "
            "process restarts or on a second server — use os.urandom(12)",
            "the nonces look random (no counter, no clock)",
        )


def _rotation_battery(client: httpx.Client, findings: Findings) -> None:
    dave = _login(client, _accounts(client)["user"])
    ring = client.get("/api/_lab/keyring").json()
    old_key = ring["primary"]
    texts = {name: _text(f"rotation {name}") for name in "ABCD"}
    ids: dict[str, int] = {}
    made = _new_record(client, dave, texts["A"], findings)
    if made is None:
        return
    ids["A"] = made
    stored = (_dump_row(client, "records", ids["A"]) or {}).get("stored", {})
    findings.expect(
        stored.get("keyId") == old_key,
        f"the stored form names key {stored.get('keyId')!r}, not the key it was encrypted "
        f"with ({old_key!r}): store key_id as 'keyId'",
    )
    new_key = client.post("/api/_lab/rotate").json()["primary"]
    after = _read(client, dave, ids["A"])
    if not findings.expect(
        after.status_code == 200 and after.json().get("data") == texts["A"],
        f"after a key rotation, a note written under the old key got {after.status_code}"
        f"{_fault(after)}: decrypt with the key the record names (keyring[stored['keyId']])",
        "data written under the old key still reads after rotation",
    ):
        return
    moved = (_dump_row(client, "records", ids["A"]) or {}).get("stored", {})
    if moved.get("keyId") == new_key:
        findings.saw("reading it re-encrypted it under the new key")
    for name in "BC":
        made = _new_record(client, dave, texts[name], findings)
        if made is None:
            return
        ids[name] = made
    fresh = (_dump_row(client, "records", ids["B"]) or {}).get("stored", {})
    findings.expect(
        fresh.get("keyId") == new_key,
        f"a new note was stored under {fresh.get('keyId')!r}, not the new primary key",
    )
    client.post("/api/_lab/rotate")
    batch = client.post("/api/_lab/reencrypt").json()
    findings.expect(
        batch.get("failed") == 0,
        f"re-encrypting everything under the newest key failed for {batch.get('failed')} rows",
    )
    for key_id in (old_key, new_key):
        client.post("/api/_lab/retire", json={"keyId": key_id})
    unreadable = [n for n in "ABC" if _read(client, dave, ids[n]).json().get("data") != texts[n]]
    findings.expect(
        not unreadable,
        f"after re-encrypting and retiring the old keys, notes {unreadable} do not read",
        "after a batch re-encryption the old keys were retired and every note still reads",
    )
    _shred_battery(client, dave, texts["D"], findings)


def _shred_battery(
    client: httpx.Client, dave: dict[str, str], text: str, findings: Findings
) -> None:
    """Destroying a key must destroy what only it encrypted (else the key was not used)."""
    made = _new_record(client, dave, text, findings)
    if made is None:
        return
    doomed = client.get("/api/_lab/keyring").json()["primary"]
    client.post("/api/_lab/rotate")
    client.post("/api/_lab/retire", json={"keyId": doomed})
    _refused(
        findings,
        _read(client, dave, made),
        "",
        "a note still decrypts after its key was destroyed: your functions do not use the "
        "keys the app hands them (a key of your own, hard-coded?)",
        "a note whose key was destroyed is gone (crypto-shredding works)",
    )


def _files_battery(client: httpx.Client, findings: Findings) -> None:
    dave = _login(client, _accounts(client)["user"])
    picture = sample_bitmap()
    response = client.post("/api/files", content=picture, headers=dave)
    if not findings.expect(
        response.status_code == 201,
        f"uploading a file got {response.status_code}{_fault(response)}",
    ):
        return
    file_id = response.json()["id"]
    row = _dump_row(client, "files", file_id) or {"stored": {}}
    ratio = repeated_block_ratio(_b64(row["stored"].get("ciphertext")) or b"")
    findings.expect(
        ratio == 0,
        f"{ratio:.0%} of the stored file's blocks repeat: the picture still shows (ECB?)",
        "the stored picture is noise: no block repeats",
    )
    back = client.get(f"/api/files/{file_id}", headers=dave)
    findings.expect(
        back.status_code == 200 and back.content == picture,
        f"downloading the file got {back.status_code}{_fault(back)}",
        "the file downloads unchanged",
    )


def _hsts_ok(value: str | None) -> bool:
    if not value:
        return False
    parts = {p.strip().split("=")[0].lower(): p.strip() for p in value.split(";") if p.strip()}
    try:
        max_age = int(parts.get("max-age", "max-age=0").split("=")[1].strip('"'))
    except (IndexError, ValueError):
        return False
    return max_age >= HSTS_MAX_AGE and "includesubdomains" in parts


def _transport_battery(target: Target, findings: Findings) -> None:
    https_origin = target.url
    with _secure(target) as client:
        secure = client.get(STATUS)
    hsts = secure.headers.get("strict-transport-security")
    if not findings.expect(
        secure.status_code == 200,
        f"GET {STATUS} over HTTPS got {secure.status_code}{_fault(secure)}",
        "HTTPS works with the lab CA's certificate (verified, hostname 127.0.0.1)",
    ):
        return
    findings.expect(
        _hsts_ok(hsts),
        f"over HTTPS the Strict-Transport-Security header is {hsts!r}: send "
        "'max-age=31536000; includeSubDomains'",
        f"HTTPS responses carry Strict-Transport-Security: {hsts}",
    )
    with _plain(target) as plain:
        redirected = plain.get(f"{STATUS}?page=2")
        spoofed = plain.get(STATUS, headers={"X-Forwarded-Proto": "https"})
        listed = plain.get(STATUS, headers={"X-Forwarded-Proto": "http, https"})
    location = redirected.headers.get("location", "")
    findings.expect(
        redirected.status_code in (301, 308) and location == f"{https_origin}{STATUS}?page=2",
        f"plain HTTP got {redirected.status_code}{_fault(redirected)} → {location!r}: "
        "redirect to the HTTPS origin, same path and query",
        f"plain HTTP is redirected ({redirected.status_code}) to {location}",
    )
    findings.expect(
        "strict-transport-security" not in redirected.headers,
        "HSTS is sent over plain HTTP: RFC 6797 §7.2 forbids it (browsers ignore it there)",
        "no HSTS header over plain HTTP (RFC 6797 §7.2)",
    )
    for label, response in (("X-Forwarded-Proto: https", spoofed),
                            ("X-Forwarded-Proto: http, https", listed)):  # fmt: skip
        findings.expect(
            response.status_code in (301, 308),
            f"a client (not the proxy) sent {label} over plain HTTP and was served "
            f"({response.status_code}{_fault(response)}): trust the header only from "
            "the configured proxy",
            f"{label} from an ordinary client: still redirected",
        )
    if not proxy_address_usable():
        findings.saw(f"(skipped the load-balancer test: {PROXY_ADDRESS} is not local here)")
        return
    transport = httpx.HTTPTransport(local_address=PROXY_ADDRESS)
    with _plain(target, transport=transport) as proxy:
        forwarded = proxy.get(STATUS, headers={"X-Forwarded-Proto": "https"})
        unforwarded = proxy.get(STATUS, headers={"X-Forwarded-Proto": "http"})
    findings.expect(
        forwarded.status_code == 200
        and _hsts_ok(forwarded.headers.get("strict-transport-security")),
        f"the load balancer ({PROXY_ADDRESS}) forwarded an HTTPS request and got "
        f"{forwarded.status_code}{_fault(forwarded)}"
        + ("" if forwarded.status_code != 200 else " without HSTS")
        + ": behind a TLS-terminating proxy, trust its X-Forwarded-Proto",
        f"requests the load balancer ({PROXY_ADDRESS}) forwards as https are served, with HSTS",
    )
    findings.expect(
        unforwarded.status_code in (301, 308),
        f"the load balancer forwarded a plain-HTTP request and it was served "
        f"({unforwarded.status_code})",
        "...and those it forwards as http are redirected",
    )


@LAB.check(
    "tamper",
    title="Authenticated encryption: a tampered ciphertext is rejected",
    kind="fix",
    fixes=("encrypt_record", "decrypt_record"),
    hints=(
        "AESGCM(key).encrypt(nonce, plaintext, aad) returns ciphertext || 16-byte tag.",
        "Return {'keyId': key_id, 'nonce': b64(nonce), 'ciphertext': b64(sealed)}.",
        "decrypt_record: catch cryptography.exceptions.InvalidTag and return None.",
    ),
)
def tamper(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with _secure(ctx.require_patched()) as client:
        _run(_tamper_battery, client, findings)
    return findings.verdict(
        "tampering is detected, genuine data reads", "tampered ciphertexts are not rejected"
    )


@LAB.check(
    "swap",
    title="AAD: a ciphertext moved to another record is rejected",
    kind="fix",
    fixes=("encrypt_record", "decrypt_record"),
    hints=(
        "The third argument of AESGCM.encrypt/decrypt is associated data: authenticated, "
        "not encrypted, not stored — the decrypting side supplies it again.",
        "Use something like f'{record_id}|{key_id}'.encode() for both.",
    ),
)
def swap(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with _secure(ctx.require_patched()) as client:
        _run(_swap_battery, client, findings)
    return findings.verdict(
        "each ciphertext is bound to its record", "a ciphertext can be moved to another record"
    )


@LAB.check(
    "nonces",
    title=f"{NONCE_PROBES:,} encryptions, {NONCE_PROBES:,} distinct random 96-bit nonces",
    kind="fix",
    fixes=("encrypt_record",),
    hints=(
        "nonce = os.urandom(12), fresh inside encrypt_record on every call.",
        "Not a counter and not the clock: both repeat after a restart or on a second server.",
    ),
)
def nonces(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with _secure(ctx.require_patched()) as client:
        _run(_nonce_battery, client, findings)
    return findings.verdict("every nonce is fresh and random", "nonces are not safe yet")


@LAB.check(
    "rotation",
    title="Key rotation: old data still reads, retired keys are gone",
    kind="fix",
    fixes=("encrypt_record", "decrypt_record"),
    hints=(
        "Store key_id in the result ('keyId'); decrypt with keyring[stored['keyId']].",
        "An unknown key id is a rejection (return None), not a KeyError.",
        "Use only the keys the app passes you: never a key of your own.",
    ),
)
def rotation(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with _secure(ctx.require_patched()) as client:
        _run(_rotation_battery, client, findings)
    return findings.verdict("rotation works", "key rotation is broken")


@LAB.check(
    "transport",
    title="HTTPS only: redirect, HSTS over HTTPS only, X-Forwarded-Proto from the proxy only",
    kind="fix",
    fixes=("effective_scheme", "security_headers"),
    hints=(
        "effective_scheme: believe forwarded_proto only if peer in trusted_proxies.",
        "security_headers: {'Strict-Transport-Security': 'max-age=31536000; "
        "includeSubDomains'} when scheme == 'https', else {}.",
        "A proxy may send a list ('http, https'): its own value is the last one.",
    ),
)
def transport(ctx: CheckContext) -> Verdict:
    findings = Findings()
    _run(_transport_battery, ctx.require_patched(), findings)
    return findings.verdict("HTTPS is enforced properly", "HTTPS is not enforced properly")


BATTERIES: dict[str, Callable[[httpx.Client, Findings], None]] = {
    "tampering": _tamper_battery,
    "swapped records": _swap_battery,
    "nonces": _nonce_battery,
    "files (ECB)": _files_battery,
    "key rotation": _rotation_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("encrypt_record", "decrypt_record", "effective_scheme", "security_headers"),
    points=2,
    hints=(
        "Pass all four functions: your encryption at rest and your HTTPS policy.",
        "Each battery names what failed; the single checks above say more.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    findings = Findings()
    patched = ctx.require_patched()
    with _secure(patched) as client:
        for name, battery in BATTERIES.items():
            with findings.section(name):
                _run(battery, client, findings)
    with findings.section("transport"):
        _run(_transport_battery, patched, findings)
    return findings.verdict(
        "every attack fails and legitimate use works", "some attacks still get through"
    )
