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
import random
import secrets
import socket
from collections.abc import Callable
from typing import Any

import httpx

from labkit.attacks.crypto import repeated_block_ratio, sample_bitmap
from labkit.attacks.session_ids import MT_WORDS, clone_mersenne
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules
from labkit.sandbox.tls import client_context

__all__ = ["HSTS_MAX_AGE", "LAB", "PROXY_ADDRESS", "proxy_address_usable"]

LAB = LabDefinition("09-encryption", "09 · Encryption", "labkit.sandbox.apps.encryption")

CA, DUMP, RECORDS = "/api/_lab/ca.pem", "/api/_lab/dump", "/api/records"
STATUS, ADMIN, PROFILE = "/api/status", "/api/admin/users", "/api/profile"
HSTS_MAX_AGE = 31_536_000
PROXY_ADDRESS = "127.0.0.2"  # the lab's load balancer (the app trusts only this peer)
NONCE_PROBES = 10_000
ECB_LEAK = 0.25  # at least this share of repeated blocks means the picture shows through
#: Over 10,000 random nonces every byte position takes (almost surely) all 256 values; a
#: counter, a clock, padding or hex text leaves some positions with a handful.
BYTE_VARIETY = 200
REDIRECTS = (301, 307, 308)


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
    """A client for the plain-HTTP listener (no redirects followed); its 5xx answers count
    as crashes of ``target`` like those of any check client."""
    plain = Target(target.urls["http"], target.urls, target.ca_pem, crashes=target.crashes)
    return plain.client(**kwargs)


def _secure(target: Target) -> httpx.Client:
    """A client for the HTTPS listener that trusts the lab's CA — and only it."""
    with _plain(target) as plain:
        pem = plain.get(CA).text
    return target.client(verify=client_context(cadata=pem))


def _fault(response: httpx.Response) -> str:
    """For a 5xx: a pointer to the crash, which the runner names once under [no-crash]."""
    return " — a crash (see [no-crash])" if response.status_code >= 500 else ""


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


def _run(battery: Callable[..., None], findings: Findings, *args: Any) -> None:
    """Run a battery; an app too broken to start it is one problem, not a crash."""
    try:
        battery(*args, findings)
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
    findings: Findings,
    response: httpx.Response,
    secret: str,
    problem: str,
    observation: str,
    rule: str,
) -> None:
    """A 200 is a failure of ``rule``; a 5xx is a crash (the runner says so), not a refusal."""
    if response.status_code == 200:
        try:
            body = str(response.json().get("data", ""))
        except (ValueError, AttributeError):
            body = ""
        leaked = " (and it returned the other record's text)" if secret and secret in body else ""
        findings.fail(f"{problem}: the app answered 200{leaked}", rule=rule)
    elif response.status_code < 500:
        findings.saw(observation)


def _text(tag: str, rng: random.Random | None = None) -> str:
    """A note long enough to span several AES blocks, with non-ASCII text."""
    token = f"{rng.getrandbits(64):016x}" if rng else secrets.token_hex(8)
    return f"{tag} {token} — café, naïve, 東京, 🔐 " + "lorem ipsum " * 5


# -- attacks -----------------------------------------------------------------------------
@LAB.check(
    "ecb-picture",
    title="See a picture through AES-ECB",
    kind="attack",
    hints=(
        "ECB encrypts each 16-byte block on its own with one key: equal plaintext blocks give "
        "equal ciphertext blocks, so a picture's flat areas repeat in the ciphertext.",
        "Upload the picture as dave (POST /api/files, content=picture) and read the file's "
        "stored ciphertext in the dump (base64). Cut it with [c[i:i + 16] for i in "
        "range(0, len(c), 16)]; len(cut) - len(set(cut)) blocks repeat an earlier one.",
        "labkit.attacks.crypto.repeated_block_ratio(ciphertext) gives the share of repeated "
        "blocks (times len(ciphertext) // 16 for the count). Hand in (file_id, repeated).",
    ),
    answer_help="(file_id, repeated): the id of the file you uploaded and how many of its "
    "16-byte ciphertext blocks repeat an earlier block",
)
def ecb_picture(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if (
        not isinstance(answer, (tuple, list))
        or len(answer) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in answer)
    ):
        return Verdict(
            False,
            f"expected (file_id, repeated), two ints, got {answer!r}",
            (
                "file_id: the id of your upload; repeated: how many 16-byte blocks of its "
                "stored ciphertext equal an earlier block",
            ),
        )
    file_id, repeated = answer
    with _secure(ctx.target) as client:
        row = _dump_row(client, "files", file_id)
    if row is None:
        return Verdict(False, f"there is no file {file_id} in the dump")
    sealed = _b64(row["stored"].get("ciphertext")) or b""
    cut = [sealed[i : i + 16] for i in range(0, len(sealed) - len(sealed) % 16, 16)]
    counts: dict[bytes, int] = {}
    for block in cut:
        counts[block] = counts.get(block, 0) + 1
    later = len(cut) - len(counts)  # blocks equal to an earlier block
    shared = sum(n for n in counts.values() if n > 1)  # blocks that occur more than once
    ratio = repeated_block_ratio(sealed)
    findings = Findings()
    if not findings.expect(
        ratio >= ECB_LEAK,
        f"only {ratio:.0%} of the stored 16-byte blocks repeat: upload a picture with large "
        "flat areas (the padlock `picture`)",
        f"{ratio:.0%} of the {len(cut)} ciphertext blocks repeat an earlier one: "
        "equal plaintext blocks, equal ciphertext blocks",
    ):
        return findings.verdict("", "no ECB pattern in that file")
    findings.expect(
        repeated in (later, shared),
        f"you counted {repeated} repeated blocks; the stored ciphertext has {len(cut)} "
        f"blocks of 16 bytes, {len(counts)} of them distinct: cut it every 16 bytes and "
        "compare the pieces",
        f"your count is right: {repeated} of {len(cut)} blocks",
    )
    return findings.verdict(
        "ECB let the picture through, and you found the repeats yourself",
        "your block count does not match the stored ciphertext",
    )


@LAB.check(
    "bit-flip",
    title="Become admin by flipping bits of the encrypted profile cookie",
    kind="attack",
    hints=(
        "CBC decrypts the first block as D(C1) XOR IV: change a bit of the IV and the same "
        "bit of the first plaintext block changes, and nothing else does. No key needed.",
        "raw = base64.urlsafe_b64decode(cookie) is IV || ciphertext, and the plaintext starts "
        "'role=user  ;uid=4': for each i, raw[5 + i] ^= b'user  '[i] ^ b'admin '[i]; "
        "encode it back with base64.urlsafe_b64encode(...).decode().",
        "labkit.attacks.crypto.cbc_flip(cookie, 5, b'user  ', b'admin ') does the same. "
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
        "GCM is counter mode: C = P XOR keystream(key, nonce). One nonce for every note means "
        "one keystream for every note, and your own note's plaintext is known to you.",
        "keystream = bytes(c ^ p for c, p in zip(your_ct, your_text)); erin's plaintext = "
        "bytes(c ^ k for c, k in zip(erin_ct[:-16], keystream)) (the last 16 bytes are the "
        "tag). Her code looks like XXXX-XXXX-XXXX: re.findall(r'[A-Z2-7]{4}(?:-[A-Z2-7]{4}){2}', "
        "text).",
        "labkit.attacks.crypto.recover_with_known_plaintext(erin_ct, your_ct, your_text), "
        "then labkit.attacks.crypto.find_codes(text). Hand in the code.",
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
        "A key in the source is a key for everyone who can read the source. The vault is "
        "AES-ECB with PKCS#7 padding: decrypt frank's file with it.",
        "Cipher(algorithms.AES(key), modes.ECB()).decryptor(): update(ct) + finalize(); then "
        "padding.PKCS7(128).unpadder() removes the padding. His code looks like "
        "XXXX-XXXX-XXXX (re.findall).",
        "labkit.attacks.crypto.decrypt_ecb(key, ciphertext), then "
        "labkit.attacks.crypto.find_codes(text). Hand in the code.",
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


# -- fixes: the rules --------------------------------------------------------------------
TAMPER_RULES = (
    Rule(
        "authenticated",
        "Reject (return None) a stored record, file or profile cookie whose ciphertext, tag or "
        "nonce was changed or cut short: use an AEAD (AES-GCM, ChaCha20-Poly1305, AES-GCM-SIV) "
        "whose tag covers the nonce and the ciphertext.",
    ),
    Rule(
        "confidential",
        "Store nothing of the plaintext: the same text encrypts to a different ciphertext every "
        "time, and no stored picture shows through (no repeated 16-byte blocks).",
    ),
    Rule(
        "round-trip",
        "decrypt_record gives back exactly the bytes encrypt_record was given: empty notes, "
        "non-ASCII text, binary files, the profile cookie.",
    ),
    Rule(
        "stored-form",
        'encrypt_record returns {"keyId": key_id, "nonce": base64(nonce), "ciphertext": '
        "base64(ciphertext ‖ tag)} (standard base64: base64.b64encode(...).decode()).",
    ),
)
SWAP_RULES = (
    Rule(
        "aad-record",
        "Bind each ciphertext to its record with AAD that contains the whole record_id: a "
        "ciphertext moved to another row (another user's note, another of your notes, a file or "
        "cookie with the same number) does not decrypt; in its own row it does.",
    ),
)
NONCE_RULES = (
    Rule(
        "unique-nonce",
        "Never reuse a nonce under a key: the same record encrypted again (a note edited, the "
        "same text saved twice) and every other record get a new one.",
    ),
    Rule(
        "random-nonce",
        "Draw each nonce from the OS CSPRNG (os.urandom(12), secrets.token_bytes(12)): all 96 "
        "bits random — not Python's random module (predictable), a counter (it restarts with "
        "the process), a clock, a hash of the record, hex text or a few random bytes padded.",
    ),
    Rule(
        "nonce-96",
        "Use 96-bit nonces: 12 bytes, stored base64 in 'nonce' (NIST SP 800-38D §8.2; the "
        "seed's 16-byte IV is hashed into the counter block).",
    ),
)
ROTATION_RULES = (
    Rule(
        "key-id",
        "Store the key_id you encrypted with as 'keyId' and decrypt with keyring[stored['keyId']]: "
        "after a rotation new data uses the new key and old data still reads.",
    ),
    Rule(
        "retired-key",
        "Use only the keys the app passes you: a record whose keyId is retired or unknown is "
        "rejected (return None, never raise, never decrypt with a key of your own).",
    ),
)
TRANSPORT_RULES = (
    Rule(
        "hsts-https",
        f"On every HTTPS response send Strict-Transport-Security with max-age of at least "
        f"{HSTS_MAX_AGE} (one year); includeSubDomains and preload are optional; RFC 6797 "
        "syntax (directives separated by ';', each once).",
    ),
    Rule(
        "hsts-not-http",
        "Never send Strict-Transport-Security over plain HTTP, not even on the redirect "
        "(RFC 6797 §7.2).",
    ),
    Rule(
        "proxy-only",
        f"Believe X-Forwarded-Proto only when the TCP peer is in trusted_proxies (the lab's "
        f"load balancer, {PROXY_ADDRESS}); otherwise the scheme is the connection's own: any "
        "other client over plain HTTP is redirected, whatever it sends in the header, and over "
        "HTTPS is served.",
    ),
    Rule(
        "proxy-https",
        f"Trust the load balancer: a request {PROXY_ADDRESS} forwards with X-Forwarded-Proto: "
        "https is served (with HSTS); one it forwards as http, or without the header, is "
        "redirected.",
    ),
    Rule(
        "rightmost-proto",
        "Believe only the last (rightmost) X-Forwarded-Proto value, the one the trusted proxy "
        "appended: everything before it came from the client ('https, http' is http; repeated "
        "header lines reach you joined as 'a, b').",
    ),
)


# -- fixes: the batteries ----------------------------------------------------------------
def _tamper_battery(client: httpx.Client, rng: random.Random, findings: Findings) -> None:
    accounts = _accounts(client)
    dave = _login(client, accounts["user"])
    text = _text("tamper", rng)
    record = _new_record(client, dave, text, findings)
    if record is None:
        return
    first = _read(client, dave, record)
    if not findings.expect(
        first.status_code == 200 and first.json().get("data") == text,
        f"reading a note back got {first.status_code}{_fault(first)}",
        "a note reads back unchanged",
        rule="round-trip",
    ):
        return
    row = _dump_row(client, "records", record)
    stored = dict(row["stored"]) if row else {}
    sealed, nonce = _b64(stored.get("ciphertext")), _b64(stored.get("nonce"))
    if not findings.expect(
        sealed is not None and nonce is not None and stored.get("keyId") is not None,
        f"the stored form is {_shape(stored)}: return keyId, and nonce and ciphertext in "
        "standard base64",
        rule="stored-form",
    ):
        return
    size, expected = len(sealed or b""), len(text.encode())
    if not findings.expect(
        expected + 12 <= size <= expected + 64,
        f"the 'ciphertext' of a {expected}-byte note decodes to {size} bytes: store "
        "base64(ciphertext ‖ tag) — a tag adds 16 bytes (hex text is not base64)",
        "the stored ciphertext is the note's length plus a tag",
        rule="stored-form",
    ):
        return
    _confidential(client, dave, text, stored, findings)
    _empty_note(client, dave, findings)
    _tampered(client, dave, record, stored, rng, findings)
    _cookie_battery(client, accounts, findings)
    _files_battery(client, dave, rng, findings)


def _shape(stored: dict[str, Any]) -> str:
    fields = ", ".join(f"{k}: {type(v).__name__}" for k, v in list(stored.items())[:6])
    return "{" + fields + "}"


def _confidential(
    client: httpx.Client,
    dave: dict[str, str],
    text: str,
    stored: dict[str, Any],
    findings: Findings,
) -> None:
    sealed = _b64(stored.get("ciphertext")) or b""
    raw = json.dumps(stored)
    words = ("lorem ipsum", "café")
    findings.expect(
        text.encode() not in sealed
        and not any(w in raw or w.encode() in sealed for w in words)
        and text.encode().hex()[:40] not in raw,
        "the note's text can be read in the stored form: encrypt it",
        "no plaintext in the stored form",
        rule="confidential",
    )
    plain = text.encode()
    other = text.swapcase()
    again, different = (_new_record(client, dave, t, findings) for t in (text, other))
    twins = [_dump_row(client, "records", r) if r else None for r in (again, different)]
    if twins[0] is None or twins[1] is None:
        return
    same = _b64(twins[0]["stored"].get("ciphertext")) or b""
    swapped = _b64(twins[1]["stored"].get("ciphertext")) or b""
    shared = _common_prefix(sealed, same)
    span = min(len(sealed), len(swapped), len(plain)) - 16
    xored = bytes(a ^ b for a, b in zip(sealed[:span], swapped[:span], strict=True))
    known = bytes(a ^ b for a, b in zip(plain[:span], other.encode()[:span], strict=True))
    findings.expect(
        shared < 8 and not (span > 16 and xored == known),
        "the same text saved twice shares its first "
        f"{shared} ciphertext bytes, and C1 XOR C2 = P1 XOR P2 for two texts: one keystream "
        "for every note (a repeated nonce) — a fresh nonce every time"
        if shared >= 8
        else "two different notes give C1 XOR C2 = P1 XOR P2: one keystream for every note "
        "(a repeated nonce)",
        "the same text encrypts differently every time (no shared keystream)",
        rule="confidential",
    )


def _common_prefix(a: bytes, b: bytes) -> int:
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return size


def _empty_note(client: httpx.Client, dave: dict[str, str], findings: Findings) -> None:
    empty = _new_record(client, dave, "", findings)
    if empty is None:
        return
    back = _read(client, dave, empty)
    findings.expect(
        back.status_code == 200 and back.json().get("data") == "",
        f"an empty note does not read back ({back.status_code}{_fault(back)}): b'' is a "
        "plaintext, None is a rejection",
        "an empty note reads back",
        rule="round-trip",
    )


def _tampered(
    client: httpx.Client,
    dave: dict[str, str],
    record: int,
    stored: dict[str, Any],
    rng: random.Random,
    findings: Findings,
) -> None:
    sealed = _b64(stored.get("ciphertext")) or b""
    length = len(sealed)
    middle = rng.randrange(1, max(2, length - 1))
    tampered = {
        "a flipped bit in the first ciphertext byte": _flip(stored, "ciphertext", 0),
        f"a flipped bit at byte {middle}": _flip(stored, "ciphertext", middle),
        "a flipped bit in the last byte (the tag)": _flip(stored, "ciphertext", -1),
        "a flipped bit in the nonce": _flip(stored, "nonce", rng.randrange(12)),
        "the ciphertext cut short by one byte": {
            **stored,
            "ciphertext": base64.b64encode(sealed[:-1]).decode(),
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
            "authenticated",
        )
    client.put(f"/api/_lab/records/{record}", json=stored)
    restored = _read(client, dave, record)
    findings.expect(
        restored.status_code == 200,
        f"the untouched ciphertext no longer reads ({restored.status_code}{_fault(restored)})",
        rule="round-trip",
    )


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
        rule="round-trip",
    ):
        return
    genuine = response.cookies["profile"]
    client.cookies.clear()
    own = client.get(ADMIN, headers={**alice, **_cookie(genuine)})
    findings.expect(
        own.status_code == 200,
        f"alice's own profile cookie no longer opens {ADMIN} ({own.status_code}{_fault(own)})",
        "an admin's genuine profile cookie still works",
        rule="round-trip",
    )
    dave = _login(client, accounts["user"])
    cookie = client.get(PROFILE, headers=dave).cookies.get("profile", "")
    client.cookies.clear()
    for forged in _flipped_cookies(cookie):
        answer = client.get(ADMIN, headers={**dave, **_cookie(forged)})
        if answer.status_code == 200:
            findings.fail(
                "a bit-flipped profile cookie made dave admin: encryption without integrity "
                "(use an AEAD)",
                rule="authenticated",
            )
            return
    client.cookies.clear()
    findings.saw("bit-flipped profile cookies are refused")


def _files_battery(
    client: httpx.Client, dave: dict[str, str], rng: random.Random, findings: Findings
) -> None:
    picture = sample_bitmap()
    blob = rng.randbytes(rng.randrange(1, 4096))
    for label, content in (("the padlock picture", picture), ("a random binary file", blob)):
        response = client.post("/api/files", content=content, headers=dave)
        if not findings.expect(
            response.status_code == 201,
            f"uploading {label} got {response.status_code}{_fault(response)}",
            rule="round-trip",
        ):
            return
        file_id = response.json()["id"]
        if content is picture:
            row = _dump_row(client, "files", file_id) or {"stored": {}}
            ratio = repeated_block_ratio(_b64(row["stored"].get("ciphertext")) or b"")
            findings.expect(
                ratio == 0,
                f"{ratio:.0%} of the stored file's blocks repeat: the picture still shows (ECB?)",
                "the stored picture is noise: no block repeats",
                rule="confidential",
            )
        back = client.get(f"/api/files/{file_id}", headers=dave)
        findings.expect(
            back.status_code == 200 and back.content == content,
            f"{label} ({len(content)} bytes) did not download unchanged "
            f"({back.status_code}{_fault(back)}"
            + (f", {len(back.content)} bytes back" if back.status_code == 200 else "")
            + ")",
            f"{label} downloads unchanged",
            rule="round-trip",
        )


def _swap_battery(client: httpx.Client, rng: random.Random, findings: Findings) -> None:
    accounts = _accounts(client)
    dave, carol = _login(client, accounts["user"]), _login(client, accounts["viewer"])
    victim_text, own_text = _text("carol's secret", rng), _text("dave's note", rng)
    victim = _new_record(client, carol, victim_text, findings)
    own = _new_record(client, dave, own_text, findings)
    second = _new_record(client, dave, _text("dave's other note", rng), findings)
    if victim is None or own is None or second is None:
        return
    rows = {r["id"]: r["stored"] for r in client.get(DUMP).json()["records"]}
    cases = {
        "carol's ciphertext copied into dave's row": (own, rows[victim], victim_text),
        "one of dave's notes copied over another": (second, rows[own], own_text),
    }
    other = rng.choice([n for n in range(1, own + 50) if n != own])
    secret = _text("sealed elsewhere", rng)
    for context in (f"file:{own}", f"profile:{own}", f"record:{other}"):
        sealed = client.post("/api/_lab/seal", json={"context": context, "data": secret})
        if sealed.status_code == 200:
            label = f"a ciphertext made for {context!r} put into row {own}"
            cases[label] = (own, sealed.json()["stored"], secret)
    for label, (target_row, stored, text) in cases.items():
        client.put(f"/api/_lab/records/{target_row}", json=stored)
        _refused(
            findings,
            _read(client, dave, target_row),
            text,
            f"{label} decrypted as dave's record — bind each ciphertext to its record_id with AAD",
            f"{label}: rejected",
            "aad-record",
        )
    for row_id in (own, second):
        client.put(f"/api/_lab/records/{row_id}", json=rows[row_id])
    back = _read(client, dave, own)
    findings.expect(
        back.status_code == 200 and back.json().get("data") == own_text,
        f"dave's note does not read in its own row ({back.status_code}{_fault(back)})",
        "every ciphertext still reads in its own row",
        rule="aad-record",
    )


def _nonce_battery(client: httpx.Client, rng: random.Random, findings: Findings) -> None:
    contexts = [f"record:{n}" for n in rng.sample(range(1, 10**6), rng.randrange(20, 60))]
    response = client.post(
        "/api/_lab/encrypt-many", json={"count": NONCE_PROBES, "contexts": contexts}
    )
    if not findings.expect(
        response.status_code == 200,
        f"{NONCE_PROBES:,} encryptions failed: {response.status_code}{_fault(response)}",
    ):
        return
    nonces = [_b64(n) for n in response.json()["nonces"]]
    if not findings.expect(
        all(n is not None for n in nonces),
        "some encryptions stored no standard-base64 'nonce' field",
        rule="nonce-96",
    ):
        return
    found = [n for n in nonces if n is not None]
    _unique(found, contexts, findings)
    sizes = sorted({len(n) for n in found})
    findings.expect(
        sizes == [12],
        f"nonces are {', '.join(map(str, sizes))} bytes: use 96-bit (12-byte) nonces as "
        "NIST SP 800-38D §8.2 recommends (other lengths are hashed into the counter block)",
        "every nonce is 96 bits",
        rule="nonce-96",
    )
    if sizes == [12]:
        variety = [len({n[i] for n in found}) for i in range(12)]
        poor = [i for i, v in enumerate(variety) if v < BYTE_VARIETY]
        findings.expect(
            not poor,
            f"over {len(found):,} nonces, byte {poor[0] if poor else 0} took only "
            f"{min(variety)} different values (random bytes take all 256): a counter, a "
            "clock, padding or text, not 96 random bits — use os.urandom(12)",
            "every byte of the nonces looks random (no counter, clock or padding)",
            rule="random-nonce",
        )
        twister = _mersenne(found)
        findings.expect(
            not twister,
            f"the nonces come from Python's random module ({twister}): its Mersenne Twister "
            "gives away its whole state after 624 outputs, so every later nonce is known in "
            "advance — use os.urandom(12)",
            rule="random-nonce",
        )
    _edited_note(client, rng, findings)


def _mersenne(found: list[bytes]) -> str:
    """How the 12-byte nonces follow Python's random (MT19937), or "": rebuild its state from
    624 consecutive 32-bit outputs, then predict the next ones."""
    orders: dict[str, Callable[[bytes], list[int]]] = {
        "random.randbytes(12)": lambda n: [
            int.from_bytes(n[i : i + 4], "little") for i in (0, 4, 8)
        ],
        "random.getrandbits(96)": lambda n: [
            int.from_bytes(n[i : i + 4], "big") for i in (8, 4, 0)
        ],
    }
    for how, words_of in orders.items():
        stream = [w for nonce in found[:260] for w in words_of(nonce)]
        if len(stream) < MT_WORDS + 32:
            return ""
        clone = clone_mersenne(stream[:MT_WORDS])
        if all(clone.getrandbits(32) == w for w in stream[MT_WORDS : MT_WORDS + 32]):
            return how
    return ""


def _unique(found: list[bytes], contexts: list[str], findings: Findings) -> None:
    first: dict[bytes, int] = {}
    same_record = other_record = 0
    for i, nonce in enumerate(found):
        if nonce in first:
            j = first[nonce]
            if contexts[i % len(contexts)] == contexts[j % len(contexts)]:
                same_record += 1
            else:
                other_record += 1
        else:
            first[nonce] = i
    where = []
    if same_record:
        where.append(f"{same_record:,} when the same record was encrypted again")
    if other_record:
        where.append(f"{other_record:,} across different records")
    findings.expect(
        not where,
        f"{len(found):,} encryptions of {len(contexts)} records reused a nonce "
        f"({'; '.join(where)}): with GCM that leaks P1 XOR P2 and the authentication key",
        f"{len(found):,} encryptions of {len(contexts)} records (each many times): "
        f"{len(first):,} distinct nonces",
        rule="unique-nonce",
    )


def _edited_note(client: httpx.Client, rng: random.Random, findings: Findings) -> None:
    """A note saved, then edited twice with the same text: three nonces, all different."""
    dave = _login(client, _accounts(client)["user"])
    text = _text("edited", rng)
    record = _new_record(client, dave, text, findings)
    if record is None:
        return
    seen = [(_dump_row(client, "records", record) or {}).get("stored", {}).get("nonce")]
    for _ in range(2):
        edit = client.put(f"{RECORDS}/{record}", json={"data": text}, headers=dave)
        if not findings.expect(
            edit.status_code == 200, f"editing a note got {edit.status_code}{_fault(edit)}"
        ):
            return
        seen.append((_dump_row(client, "records", record) or {}).get("stored", {}).get("nonce"))
    findings.expect(
        len(set(seen)) == len(seen),
        f"a note saved and edited twice (same text) was stored under {len(set(seen))} "
        "nonce(s) for 3 encryptions: a nonce derived from the record repeats",
        "a note edited twice got a new nonce each time",
        rule="unique-nonce",
    )


def _rotation_battery(client: httpx.Client, rng: random.Random, findings: Findings) -> None:
    dave = _login(client, _accounts(client)["user"])
    ring = client.get("/api/_lab/keyring").json()
    old_key = ring["primary"]
    texts = {name: _text(f"rotation {name}", rng) for name in "ABCD"}
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
        rule="key-id",
    )
    new_key = client.post("/api/_lab/rotate").json()["primary"]
    after = _read(client, dave, ids["A"])
    if not findings.expect(
        after.status_code == 200 and after.json().get("data") == texts["A"],
        f"after a key rotation, a note written under the old key got {after.status_code}"
        f"{_fault(after)}: decrypt with the key the record names (keyring[stored['keyId']])",
        "data written under the old key still reads after rotation",
        rule="key-id",
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
        rule="key-id",
    )
    client.post("/api/_lab/rotate")
    batch = client.post("/api/_lab/reencrypt").json()
    findings.expect(
        batch.get("failed") == 0,
        f"re-encrypting everything under the newest key failed for {batch.get('failed')} rows",
        rule="key-id",
    )
    for key_id in (old_key, new_key):
        client.post("/api/_lab/retire", json={"keyId": key_id})
    unreadable = [n for n in "ABC" if _read(client, dave, ids[n]).json().get("data") != texts[n]]
    findings.expect(
        not unreadable,
        f"after re-encrypting and retiring the old keys, notes {unreadable} do not read",
        "after a batch re-encryption the old keys were retired and every note still reads",
        rule="key-id",
    )
    _shred_battery(client, dave, texts["D"], rng, findings)


def _shred_battery(
    client: httpx.Client,
    dave: dict[str, str],
    text: str,
    rng: random.Random,
    findings: Findings,
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
        "retired-key",
    )
    live = _new_record(client, dave, text, findings)
    row = _dump_row(client, "records", live) if live else None
    if row is None:
        return
    unknown = f"k{rng.randrange(100, 999)}-{rng.getrandbits(24):06x}"
    client.put(f"/api/_lab/records/{live}", json={**row["stored"], "keyId": unknown})
    _refused(
        findings,
        _read(client, dave, live),
        "",
        f"a note relabelled with the unknown key id {unknown!r} still decrypts",
        "a note naming an unknown key id is rejected",
        "retired-key",
    )


def _hsts_problem(value: str | None) -> str:
    """Why ``value`` is not an HSTS header meeting the floor (RFC 6797 §6.1), or ""."""
    if not value:
        return "missing"
    directives: dict[str, str] = {}
    for part in value.split(";"):
        name, _, arg = part.strip().partition("=")
        name = name.strip().lower()
        if not name:
            continue
        if name in directives:
            return f"{name} appears twice (RFC 6797 §6.1: each directive once)"
        directives[name] = arg.strip()
    raw = directives.get("max-age")
    if raw is None:
        return "it has no max-age directive"
    digits = raw[1:-1] if len(raw) > 1 and raw[0] == raw[-1] == '"' else raw
    if not digits.isdigit():
        return f"max-age={raw} is not a number of seconds"
    if int(digits) < HSTS_MAX_AGE:
        return f"max-age={digits} is under one year ({HSTS_MAX_AGE})"
    return ""


def _proto_lists(rng: random.Random) -> list[tuple[list[str], bool]]:
    """Generated X-Forwarded-Proto lists (values, as one line or repeated lines) — always
    one with https first and http last, one the other way round, and single values."""
    lists = [["https", "http"], ["http", "https"]]
    for _ in range(3):
        lists.append([rng.choice(("http", "https")) for _ in range(rng.randrange(2, 5))])
    return [(values, rng.random() < 0.5) for values in lists]


def _proto_headers(values: list[str], repeated: bool, rng: random.Random) -> list[tuple[str, str]]:
    if repeated:
        return [("X-Forwarded-Proto", v) for v in values]
    glue = rng.choice((",", ", ", " , ", ",  "))
    return [("X-Forwarded-Proto", glue.join(values))]


def _shown(headers: list[tuple[str, str]]) -> str:
    return " + ".join(f"X-Forwarded-Proto: {v}" for _, v in headers) or "no X-Forwarded-Proto"


def _redirected(response: httpx.Response) -> bool:
    return response.status_code in REDIRECTS


def _transport_battery(target: Target, rng: random.Random, findings: Findings) -> None:
    with _secure(target) as client:
        secure = client.get(STATUS)
        lied = client.get(STATUS, headers={"X-Forwarded-Proto": "http"})
    if not findings.expect(
        secure.status_code == 200,
        f"GET {STATUS} over HTTPS got {secure.status_code}{_fault(secure)}",
        "HTTPS works with the lab CA's certificate (verified, hostname 127.0.0.1)",
    ):
        return
    hsts = secure.headers.get("strict-transport-security")
    problem = _hsts_problem(hsts)
    findings.expect(
        not problem,
        f"over HTTPS the Strict-Transport-Security header is {hsts!r}: {problem}",
        f"HTTPS responses carry Strict-Transport-Security: {hsts}",
        rule="hsts-https",
    )
    findings.expect(
        lied.status_code == 200,
        f"over HTTPS, an ordinary client's X-Forwarded-Proto: http got {lied.status_code}: "
        "only the proxy's header counts",
        "over HTTPS, a client's X-Forwarded-Proto: http changes nothing",
        rule="proxy-only",
    )
    _plain_battery(target, rng, findings)
    if not proxy_address_usable():
        findings.saw(f"(skipped the load-balancer test: {PROXY_ADDRESS} is not local here)")
        return
    _proxy_battery(target, rng, findings)


def _plain_battery(target: Target, rng: random.Random, findings: Findings) -> None:
    path = f"{STATUS}?page={rng.randrange(2, 999)}&q=x%20y"
    spoofs = [[("X-Forwarded-Proto", "https")]]
    for values, repeated in _proto_lists(rng):
        if "https" in values:
            spoofs.append(_proto_headers(values, repeated, rng))
    peers = ["127.0.0.1"]
    if proxy_address_usable():
        peers.append(f"127.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(3, 255)}")
    with _plain(target) as plain:
        redirected = plain.get(path)
    location = redirected.headers.get("location", "")
    findings.expect(
        _redirected(redirected) and location == f"{target.url}{path}",
        f"plain HTTP got {redirected.status_code}{_fault(redirected)} → {location!r}: "
        "redirect to the HTTPS origin, same path and query",
        f"plain HTTP is redirected ({redirected.status_code}) to the HTTPS origin",
        rule="proxy-only",
    )
    findings.expect(
        "strict-transport-security" not in redirected.headers,
        "HSTS is sent over plain HTTP: RFC 6797 §7.2 forbids it (browsers ignore it there)",
        "no HSTS header over plain HTTP (RFC 6797 §7.2)",
        rule="hsts-not-http",
    )
    for peer in peers:
        transport = httpx.HTTPTransport(local_address=peer)
        with _plain(target, transport=transport) as plain:
            for headers in spoofs:
                response = plain.get(STATUS, headers=headers)
                if not findings.expect(
                    _redirected(response),
                    f"a client at {peer} (not the proxy) sent {_shown(headers)} over plain "
                    f"HTTP and was served ({response.status_code}{_fault(response)}): trust "
                    "the header only from the configured proxy",
                    rule="proxy-only",
                ):
                    break
            else:
                findings.saw(
                    f"{len(spoofs)} forged X-Forwarded-Proto forms from {peer}: all redirected"
                )


def _proxy_battery(target: Target, rng: random.Random, findings: Findings) -> None:
    transport = httpx.HTTPTransport(local_address=PROXY_ADDRESS)
    with _plain(target, transport=transport) as proxy:
        singles = [
            ([("X-Forwarded-Proto", "https")], True),
            ([("X-Forwarded-Proto", "http")], False),
            ([], False),
        ]
        if all(
            _judge_forwarded(proxy.get(STATUS, headers=h), h, https, "proxy-https", findings)
            for h, https in singles
        ):
            findings.saw(
                "the load balancer's https is served with HSTS; its http (or no header) "
                "is redirected"
            )
        lists = [_proto_headers(v, repeated, rng) for v, repeated in _proto_lists(rng)]
        verdicts = [
            _judge_forwarded(
                proxy.get(STATUS, headers=h),
                h,
                h[-1][1].rsplit(",", 1)[-1].strip() == "https",
                "rightmost-proto",
                findings,
            )
            for h in lists
        ]
        if all(verdicts):
            findings.saw(
                f"{len(lists)} lists from the load balancer (e.g. {_shown(lists[0])}): the "
                "last value decided each time"
            )


def _judge_forwarded(
    response: httpx.Response,
    headers: list[tuple[str, str]],
    https: bool,
    rule: str,
    findings: Findings,
) -> bool:
    """Served with HSTS when ``https``, else redirected without it; False on a problem."""
    sent = f"the load balancer ({PROXY_ADDRESS}) forwarded {_shown(headers)}"
    if https:
        hsts = response.headers.get("strict-transport-security")
        if not findings.expect(
            response.status_code == 200,
            f"{sent} and got {response.status_code}{_fault(response)}: its last value says "
            "the client used HTTPS — serve it",
            rule=rule,
        ):
            return False
        problem = _hsts_problem(hsts)
        return findings.expect(
            not problem,
            f"{sent}: served, but Strict-Transport-Security is {hsts!r} ({problem})",
            rule="hsts-https",
        )
    return findings.expect(
        _redirected(response),
        f"{sent} and was served ({response.status_code}): the last value (the one the "
        "proxy wrote) is not https — redirect",
        rule=rule,
    ) & findings.expect(
        "strict-transport-security" not in response.headers,
        f"{sent}: HSTS on a plain-HTTP response",
        rule="hsts-not-http",
    )


# -- fixes: the checks -------------------------------------------------------------------
AT_REST_HINT = (
    "AESGCM(key).encrypt(nonce, plaintext, aad) returns ciphertext || 16-byte tag; "
    "ChaCha20Poly1305 and AESGCMSIV work the same way."
)


def _at_rest(ctx: CheckContext, battery: Callable[..., None], passed: str, failed: str) -> Verdict:
    findings = Findings()
    with _secure(ctx.require_patched()) as client:
        _run(battery, findings, client, ctx.rng)
    return findings.verdict(passed, failed)


@LAB.check(
    "tamper",
    title="Authenticated encryption: a tampered ciphertext is rejected",
    kind="fix",
    fixes=("encrypt_record", "decrypt_record"),
    rules=TAMPER_RULES,
    hints=(
        AT_REST_HINT,
        "Return {'keyId': key_id, 'nonce': b64(nonce), 'ciphertext': b64(sealed)}.",
        "decrypt_record: catch cryptography.exceptions.InvalidTag (and malformed fields) and "
        "return None — an exception is a crash, not a rejection.",
    ),
)
def tamper(ctx: CheckContext) -> Verdict:
    return _at_rest(
        ctx,
        _tamper_battery,
        "tampering is detected, genuine data reads",
        "tampered ciphertexts are not rejected (or genuine data does not read)",
    )


@LAB.check(
    "swap",
    title="AAD: a ciphertext moved to another record is rejected",
    kind="fix",
    fixes=("encrypt_record", "decrypt_record"),
    rules=SWAP_RULES,
    hints=(
        "The third argument of AESGCM.encrypt/decrypt is associated data: authenticated, "
        "not encrypted, not stored — the decrypting side supplies it again.",
        "Use the whole record_id (it is 'record:7', 'file:7' or 'profile:7'), e.g. "
        "json.dumps([record_id, key_id]).encode(), for both.",
    ),
)
def swap(ctx: CheckContext) -> Verdict:
    return _at_rest(
        ctx,
        _swap_battery,
        "each ciphertext is bound to its record",
        "a ciphertext can be moved to another record",
    )


@LAB.check(
    "nonces",
    title=f"{NONCE_PROBES:,} encryptions, {NONCE_PROBES:,} distinct random 96-bit nonces",
    kind="fix",
    fixes=("encrypt_record",),
    rules=NONCE_RULES,
    hints=(
        "nonce = os.urandom(12), fresh inside encrypt_record on every call.",
        "Not a counter, not the clock, not a hash of the record: the same record is encrypted "
        "again when it is edited, and a counter restarts with the process.",
    ),
)
def nonces(ctx: CheckContext) -> Verdict:
    return _at_rest(
        ctx, _nonce_battery, "every nonce is fresh and random", "nonces are not safe yet"
    )


@LAB.check(
    "rotation",
    title="Key rotation: old data still reads, retired keys are gone",
    kind="fix",
    fixes=("encrypt_record", "decrypt_record"),
    rules=ROTATION_RULES,
    hints=(
        "Store key_id in the result ('keyId'); decrypt with keyring[stored['keyId']].",
        "An unknown key id is a rejection (return None), not a KeyError.",
        "Use only the keys the app passes you: never a key of your own.",
    ),
)
def rotation(ctx: CheckContext) -> Verdict:
    return _at_rest(ctx, _rotation_battery, "rotation works", "key rotation is broken")


@LAB.check(
    "transport",
    title="HTTPS only: redirect, HSTS over HTTPS only, X-Forwarded-Proto from the proxy only",
    kind="fix",
    fixes=("effective_scheme", "security_headers"),
    rules=TRANSPORT_RULES,
    hints=(
        "effective_scheme: believe forwarded_proto only if peer in trusted_proxies.",
        "security_headers: {'Strict-Transport-Security': 'max-age=31536000; "
        "includeSubDomains'} when scheme == 'https', else {}.",
        "A proxy appends to the list it received ('http, https'): its own value is the last.",
    ),
)
def transport(ctx: CheckContext) -> Verdict:
    findings = Findings()
    _run(_transport_battery, findings, ctx.require_patched(), ctx.rng)
    return findings.verdict("HTTPS is enforced properly", "HTTPS is not enforced properly")


BATTERIES: dict[str, Callable[[httpx.Client, random.Random, Findings], None]] = {
    "tampering": _tamper_battery,
    "swapped records": _swap_battery,
    "nonces": _nonce_battery,
    "key rotation": _rotation_battery,
}


def _section(findings: Findings, name: str, battery: Callable[..., None], *args: Any) -> None:
    """One battery of verify: its problems, or one line saying it held."""
    inner = Findings()
    _run(battery, inner, *args)
    findings.problems.extend(inner.problems)
    if not inner.problems:
        findings.saw(f"{name}: every attack refused")


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("encrypt_record", "decrypt_record", "effective_scheme", "security_headers"),
    points=2,
    rules=merge_rules(TAMPER_RULES, SWAP_RULES, NONCE_RULES, ROTATION_RULES, TRANSPORT_RULES),
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
            _section(findings, name, battery, client, ctx.rng)
    _section(findings, "transport", _transport_battery, patched, ctx.rng)
    return findings.verdict(
        "every attack fails and legitimate use works", "some attacks still get through"
    )
