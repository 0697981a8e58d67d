"""05-api-keys: replay a leaked table, harvest logged keys, abuse revoked, expired and
read-only keys — then fix the key system.

Every check works over HTTP. Users log in with the seeded accounts from the lab-only
``/api/_lab/accounts``; what a breach exposes comes from ``/api/_lab/dump`` and
``/api/_lab/access-log``; time moves with ``POST /api/_lab/clock``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import inspect
import random
import re
import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from labkit.attacks.apikeys import REPORTS, decodings, log_in
from labkit.exercises.check import CheckContext, Findings, Verdict, shorten
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules
from labkit.patterns.apikeys import (
    ALPHABET,
    BODY_LENGTH,
    CHECKSUM_LENGTH,
    KEY_PREFIX,
    checksum,
    looks_like_api_key,
)

__all__ = ["LAB", "MIN_BODY_CHARS"]

LAB = LabDefinition("05-api-keys", "05 · API keys", "labkit.sandbox.apps.apikeys")

KEYS, DUMP, LOG, CLOCK = "/api/keys", "/api/_lab/dump", "/api/_lab/access-log", "/api/_lab/clock"
READ, WRITE = "reports:read", "reports:write"
HEADER = "X-API-Key"
#: 22 base62 characters carry 131 bits: the least that meets the 128-bit floor.
MIN_BODY_CHARS = 22
FORMAT_SAMPLES = 12
#: 360 uniform draws from 62 characters miss more than 7 of them, or repeat one more than 25
#: times, with a probability under one in a million.
MIN_DISTINCT_CHARS, MAX_SAME_CHAR = 55, 25
MIN_DIGEST_BYTES = 32
SCOPES = (READ, WRITE)
DAY = 86400.0


# -- helpers the checks share ------------------------------------------------------------
def _fault(response: httpx.Response) -> str:
    try:
        fault = response.json().get("labkitFault", "")
    except (ValueError, AttributeError):
        return ""
    return f" — {fault}" if fault else ""


class AppBroken(Exception):
    """The patched app cannot serve the check at all (a learner function fails every time)."""


def _login(client: httpx.Client, who: str) -> dict[str, str]:
    """Authorization header for the seeded user whose email starts with ``who``."""
    response = client.get("/api/_lab/accounts")
    if response.status_code != 200:
        raise AppBroken(f"the app answers {response.status_code}{_fault(response)}")
    accounts = {a["email"].split("@")[0]: a for a in response.json()}
    return log_in(client, accounts[who]["email"], accounts[who]["password"])


def _new_key(
    client: httpx.Client, auth: dict[str, str], scopes: list[str], **extra: Any
) -> tuple[httpx.Response, str, int]:
    response = client.post(KEYS, headers=auth, json={"scopes": scopes, **extra})
    body = response.json() if response.status_code == 201 else {}
    return response, str(body.get("key", "")), int(body.get("id", 0))


def _read(client: httpx.Client, key: str) -> httpx.Response:
    return client.get(REPORTS, headers={HEADER: key})


def _write(client: httpx.Client, key: str) -> httpx.Response:
    return client.post(REPORTS, headers={HEADER: key}, json={"title": "written by the check"})


def _dump(client: httpx.Client) -> list[dict[str, Any]]:
    return list(client.get(DUMP).json()["api_keys"])


def _row_for(client: httpx.Client, key: str) -> dict[str, Any] | None:
    """The dump row that holds ``key`` itself (only a plaintext table has one)."""
    return next((row for row in _dump(client) if row["key_hash"] == key), None)


def _issued(findings: Findings, response: httpx.Response, what: str) -> bool:
    return findings.expect(
        response.status_code == 201,
        f"creating {what} got {response.status_code}{_fault(response)}",
    )


def _answer_key(answer: Any) -> str | None:
    return answer.strip() if isinstance(answer, str) and answer.strip() else None


def _not_a_key(answer: Any) -> Verdict:
    return Verdict(False, f"expected the API key as a string, got {type(answer).__name__}")


# -- attacks -----------------------------------------------------------------------------
@LAB.check(
    "leaked-table",
    title="Use a key straight from the leaked keys table",
    kind="attack",
    hints=(
        "Look at the key_hash column: a SHA-256 digest is 64 hex characters. Are these values "
        "hashes, or the keys themselves?",
        "A loop over the rows: client.get('/api/v1/reports', headers={'X-API-Key': "
        "row['key_hash']}); a 200 means the API took the value as a key. Hand in one of those.",
        "Ready-made: labkit.attacks.apikeys.try_keys(lab.client, [row['key_hash'] for row in "
        "leak]) returns the values the API accepts.",
    ),
    answer_help="a key (str) taken from the leaked table that the API accepts",
)
def leaked_table(ctx: CheckContext) -> Verdict:
    key = _answer_key(ctx.answer)
    if key is None:
        return _not_a_key(ctx.answer)
    with ctx.target.client() as client:
        row = _row_for(client, key)
        if row is None:
            return Verdict(False, "that value is not in the leaked table: take one from the dump")
        response = _read(client, key)
    if response.status_code != 200:
        return Verdict(False, f"the API refused it ({response.status_code}): try another row")
    return Verdict(
        True,
        "the leaked table is a list of working keys",
        (f"you are now {row['name']!r} with scopes {row['scopes']}",
         "stored as plaintext, a key needs no cracking at all"),
    )  # fmt: skip


@LAB.check(
    "query-log",
    title="Harvest a key from the access log",
    kind="attack",
    hints=(
        "An access log writes the whole request target, query string included: a key sent "
        "as ?api_key=... is in every log line of that request (CWE-598).",
        "re.findall(r'[?&]api_key=([^&\\s\"]+)', '\\n'.join(log_lines)) finds the values; "
        "send one as X-API-Key to check that it works, and hand it in.",
        "Ready-made: labkit.attacks.apikeys.keys_in_log(log_lines) pulls the credential values "
        "out of the request lines.",
    ),
    answer_help="a key (str) you found in the access log",
)
def query_log(ctx: CheckContext) -> Verdict:
    key = _answer_key(ctx.answer)
    if key is None:
        return _not_a_key(ctx.answer)
    with ctx.target.client() as client:
        lines = client.get(LOG).json()["lines"]
        logged = [line for line in lines if key in line]
        if not logged:
            return Verdict(False, "that key does not appear in the access log")
        response = _read(client, key)
    if response.status_code != 200:
        return Verdict(False, f"the API refused that key ({response.status_code})")
    return Verdict(
        True,
        "a key sent in the URL was written to the log, and anyone who reads logs can use it",
        (f"log line: {logged[0][:110]}",),
    )


@LAB.check(
    "revoked-key",
    title="Use a key after it was revoked",
    kind="attack",
    hints=(
        "Revocation only works if every request reads revoked_at: does this app?",
        "Log in (POST /api/auth/login gives an accessToken for the Authorization: Bearer "
        "header), create a key with POST /api/keys, revoke it with DELETE /api/keys/{id}, "
        "then send it as X-API-Key to GET /api/v1/reports. Hand in the revoked key.",
        "Ready-made: labkit.attacks.apikeys.log_in(lab.client, email, password) returns the "
        "Authorization header, and try_keys(lab.client, [key]) tells whether the key works.",
    ),
    answer_help="a key (str) that was revoked with DELETE /api/keys/{id}",
)
def revoked_key(ctx: CheckContext) -> Verdict:
    key = _answer_key(ctx.answer)
    if key is None:
        return _not_a_key(ctx.answer)
    with ctx.target.client() as client:
        row = _row_for(client, key)
        if row is None:
            return Verdict(False, "no key like that was ever issued by this app")
        if row["revoked_at"] is None:
            return Verdict(False, "that key is not revoked yet: DELETE /api/keys/{id} first")
        response = _read(client, key)
    if response.status_code != 200:
        return Verdict(False, f"the API refused the revoked key ({response.status_code})")
    return Verdict(True, "a revoked key still works: revocation is a flag nobody reads")


@LAB.check(
    "missing-scope",
    title="Write a report with a read-only key",
    kind="attack",
    hints=(
        "A scope is only a promise if every route checks it. carol is a viewer: she may only "
        "create keys with the scope reports:read.",
        "Loop over api_routes: method, path = route.split(' ', 1); client.request(method, path, "
        "headers={'X-API-Key': key}, json={'title': 'x'} if method == 'POST' else None). "
        "A 201 on POST /api/v1/reports means the read-only key wrote. Hand in that key.",
        "Ready-made: labkit.attacks.apikeys.probe_scopes(lab.client, key) reads and writes "
        "with the key and returns both statuses.",
    ),
    answer_help="a key (str) without the scope reports:write",
)
def missing_scope(ctx: CheckContext) -> Verdict:
    key = _answer_key(ctx.answer)
    if key is None:
        return _not_a_key(ctx.answer)
    with ctx.target.client() as client:
        row = _row_for(client, key)
        if row is None:
            return Verdict(False, "no key like that was ever issued by this app")
        if WRITE in row["scopes"]:
            return Verdict(False, f"that key has {WRITE}: use one with only {READ}")
        response = _write(client, key)
    if response.status_code != 201:
        return Verdict(False, f"the write was refused ({response.status_code})")
    return Verdict(
        True,
        "a read-only key wrote a report: scopes are stored but never checked",
        (f"the key's scopes: {row['scopes']}",),
    )


@LAB.check(
    "old-key",
    title="Use a key from last year's config file",
    kind="attack",
    hints=(
        "Config files outlive the people who wrote them: an expiry only helps if the API reads it.",
        "config = lab.client.get('/api/_lab/old-config').json()['content']; the key is on the "
        "REPORTS_API_KEY= line (str.split or re.search).",
        "Send it as X-API-Key to GET /api/v1/reports (or labkit.attacks.apikeys.try_keys"
        "(lab.client, [key])): it expired long ago. Hand in the key.",
    ),
    answer_help="the (expired) key from the old config file",
)
def old_key(ctx: CheckContext) -> Verdict:
    key = _answer_key(ctx.answer)
    if key is None:
        return _not_a_key(ctx.answer)
    with ctx.target.client() as client:
        row = _row_for(client, key)
        if row is None:
            return Verdict(False, "no key like that was ever issued by this app")
        now = client.get(CLOCK).json()["now"]
        if row["expires_at"] is None or row["expires_at"] > now:
            return Verdict(False, "that key has not expired: use the one from the old config")
        response = _read(client, key)
    if response.status_code != 200:
        return Verdict(False, f"the API refused the old key ({response.status_code})")
    age = (now - row["created_at"]) / DAY
    expired = (now - row["expires_at"]) / DAY
    return Verdict(
        True,
        "a key from last year still works: one key forever",
        (f"issued {age:.0f} days ago, expired {expired:.0f} days ago",),
    )


# -- fixes: rules --------------------------------------------------------------------------
SECRET_NAMES = ("api_key", "apikey", "key", "token", "access_token")
#: Decoy scopes: near the real one, never equal to it (OAuth scopes are exact strings,
#: RFC 6749 §3.3).
DECOYS: tuple[Callable[[str, str], str], ...] = (
    lambda scope, word: f"{scope}-{word}",  # reports:write-drafts
    lambda scope, word: f"{word}:{scope}",  # admin:reports:write
    lambda scope, word: scope.upper(),
    lambda scope, word: scope.split(":")[0],  # reports
    lambda scope, word: scope.split(":")[0] + ":*",
    lambda scope, word: "*",
    lambda scope, word: f"{scope[:-1]}",  # reports:writ
    lambda scope, word: " ".join((READ, WRITE)) if scope == WRITE else f"{WRITE},{READ}",
)

KEY_FORMAT_RULES = (
    Rule("prefix", f"Every key starts with `{KEY_PREFIX}`."),
    Rule(
        "body-and-checksum",
        f"After the prefix come exactly {BODY_LENGTH} base62 characters (`0-9A-Za-z`) and "
        f"{CHECKSUM_LENGTH} more: the CRC32 (`zlib.crc32`) of those {BODY_LENGTH}, in base62, "
        "most significant digit first, padded with `0`.",
    ),
    Rule(
        "random-body",
        "Each body character is drawn independently and uniformly from all 62 with `secrets`: "
        "keys never repeat, no position is fixed, and every character of the alphabet shows "
        "up (a hex or lower-case body carries too few bits).",
    ),
)
HASHED_RULES = (
    Rule(
        "not-plaintext",
        "The table never holds the key or an encoding of it (base64, hex, reversed, rot13): "
        "no value of a leaked table, nor its decoding, works as a key.",
    ),
    Rule(
        "same-digest",
        "`hash_key` gives the same value for the same key every time (the app looks keys up "
        "by it): no random salt, so no bcrypt or argon2 here.",
    ),
    Rule(
        "strong-digest",
        "Store a digest of at least 256 bits: SHA-256 hex (the reference), SHA-512, SHA-3 or "
        "BLAKE2, or an HMAC of one with a server-side secret; never MD5, SHA-1, CRC32 or a "
        "truncated digest. A fast hash is enough for a random key of 128 bits or more (ASVS "
        "5.0 §6.5.2 draws the line at 112 bits).",
    ),
    Rule(
        "whole-key",
        "The digest covers the whole key exactly as sent: a key that differs in one character "
        "(another letter case, with its checksum recomputed) is refused.",
    ),
)
REVOKE_RULES = (
    Rule(
        "revoked",
        "A revoked key gets 401 from the very next request: read `revoked_at` every time "
        "(no cache of earlier answers).",
    ),
    Rule(
        "expired",
        "A key gets 401 once the app's clock `now` reaches `expires_at` (use `now`, not your "
        "own clock), and a key without `expires_at` is refused too; until then it works.",
    ),
    Rule(
        "one-401",
        "Every key that cannot be used (unknown, malformed, revoked, expired, without "
        'expiry) gets the same `401 {"error": "Invalid API key"}`; no key at all gets '
        '`401 {"error": "API key required"}`.',
    ),
    Rule(
        "well-formed-first",
        "A value that is not a well-formed key (another prefix, another length, a bad "
        "checksum) is refused before `find_key` is called: garbage never reaches the table.",
    ),
)
SCOPE_RULES = (
    Rule(
        "scope-exact",
        f"A key may call a route only when the route's scope (`{READ}`, `{WRITE}`) is exactly "
        "one of its scopes: no substring, prefix, letter-case or wildcard match "
        "(`reports:write-drafts`, `reports`, `REPORTS:WRITE`, `reports:*` grant nothing).",
    ),
    Rule(
        "scope-403",
        'A valid key without the route\'s scope gets `403 {"error": "Insufficient '
        'permissions"}` (not 401, not 200); a key with the scope gets through.',
    ),
)
ROTATION_RULES = (
    Rule(
        "overlap",
        "A client may hold several active keys: a new key for the same client does not retire "
        "the old ones, all of them work until each is revoked or expires.",
    ),
    Rule("retire", "Once the old key is revoked or past its expiry, only the new one works."),
)
QUERY_RULES = (
    Rule(
        "header-only",
        "`read_api_key` takes the key from the `x-api-key` header only: a key in the query "
        "string, under any parameter name, is never accepted (401, as with no key).",
    ),
    Rule(
        "redact-secret-params",
        "The logged URL never shows the value of a credential-named parameter "
        f"({', '.join(f'`{n}`' for n in SECRET_NAMES)}, in any letter case, every time it "
        "appears), whatever the value looks like.",
    ),
    Rule(
        "redact-key-shaped",
        "Every well-formed key (prefix and valid checksum) anywhere in the logged URL, under "
        "any parameter name or in the path, is replaced.",
    ),
    Rule(
        "keep-ordinary",
        "Everything else stays in the log as it was: the path and ordinary parameters with "
        "their values.",
    ),
)


# -- fixes: helpers ------------------------------------------------------------------------
def _lab_key(
    client: httpx.Client,
    scopes: list[str],
    *,
    expires_at: float | None = None,
    revoked_at: float | None = None,
    name: str = "lab-probe",
    key: str | None = None,
) -> str:
    """A key with any scopes and times (lab-only route, the app's generate_key and hash_key);
    ``key`` stores that key instead of a new one."""
    response = client.post(
        "/api/_lab/keys",
        json={"scopes": scopes, "name": name, "expiresAt": expires_at, "revokedAt": revoked_at,
              "key": key},
    )  # fmt: skip
    if response.status_code != 200:
        raise AppBroken(f"issuing a key got {response.status_code}{_fault(response)}")
    return str(response.json()["key"])


def _lab_json(client: httpx.Client, path: str) -> dict[str, Any]:
    response = client.get(path)
    if response.status_code != 200:
        raise AppBroken(f"the app answers {response.status_code}{_fault(response)}")
    return dict(response.json())


def _now(client: httpx.Client) -> float:
    return float(_lab_json(client, CLOCK)["now"])


def _lookups(client: httpx.Client) -> int:
    return int(_lab_json(client, "/api/_lab/lookups")["lookups"])


def _error(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:60]


def _with_checksum(body: str) -> str:
    return f"{KEY_PREFIX}{body}{checksum(body)}"


def _one_off(key: str, rng: random.Random, third: int, recheck: bool = True) -> str:
    """``key`` with one character of the ``third``-th third of its random part changed (a
    letter's case when it has one); a well-formed key gets its checksum recomputed unless
    ``recheck`` is False."""
    formed = looks_like_api_key(key)
    start = len(KEY_PREFIX) if formed else 0
    size = BODY_LENGTH if formed else len(key)
    body = key[start : start + size]
    span = range(third * size // 3, max((third + 1) * size // 3, third * size // 3 + 1))
    letters = [i for i in span if body[i].isalpha()]
    spot = rng.choice(letters or list(span))
    char = body[spot]
    other = char.swapcase() if char.isalpha() else rng.choice(ALPHABET.replace(char, ""))
    changed = body[:spot] + other + body[spot + 1 :]
    if not formed:
        return changed
    return _with_checksum(changed) if recheck else KEY_PREFIX + changed + key[-CHECKSUM_LENGTH:]


def _digest_bytes(stored: str) -> int:
    """Bytes of digest in a stored value (hex or base64, after any ``scheme$`` prefix)."""
    value = re.split(r"[$:]", stored)[-1]
    if re.fullmatch(r"[0-9a-fA-F]+", value) and len(value) % 2 == 0:
        return len(value) // 2
    try:
        return len(base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_"))
    except (ValueError, binascii.Error):
        return len(value.encode()) // 2


# -- fixes: batteries ----------------------------------------------------------------------
def _diagnose_format(key: str) -> tuple[str, str]:
    """(rule, why) when ``key`` is not ``lk_live_`` + base62 body + its CRC32 checksum."""
    if not key.startswith(KEY_PREFIX):
        return "prefix", f"{key[:16]!r}... does not start with the prefix {KEY_PREFIX!r}"
    rest = key[len(KEY_PREFIX) :]
    if any(c not in ALPHABET for c in rest):
        return "body-and-checksum", f"{key!r}: after the prefix use base62 characters only"
    if len(rest) != BODY_LENGTH + CHECKSUM_LENGTH:
        return "body-and-checksum", (
            f"{key!r} has {len(rest)} characters after the prefix: "
            f"{BODY_LENGTH} random + {CHECKSUM_LENGTH} checksum"
        )
    body, check = rest[:BODY_LENGTH], rest[BODY_LENGTH:]
    if not looks_like_api_key(key):
        return "body-and-checksum", (
            f"the last {CHECKSUM_LENGTH} characters {check!r} are not the CRC32 checksum of "
            f"the body (expected {checksum(body)!r}): a scanner cannot validate the key offline"
        )
    return "", ""


def _format_battery(client: httpx.Client, findings: Findings) -> None:
    auth = _login(client, "alice")
    keys: list[str] = []
    for _ in range(FORMAT_SAMPLES):
        response, key, _ = _new_key(client, auth, [READ])
        if not _issued(findings, response, "a key"):
            return
        keys.append(key)
    problems = [p for p in map(_diagnose_format, keys) if p[0]]
    if problems:
        findings.fail(problems[0][1], rule=problems[0][0])
        return
    findings.saw(f"{KEY_PREFIX}... with a valid CRC32 checksum: scanners can recognise it")
    bodies = [k[len(KEY_PREFIX) : len(KEY_PREFIX) + BODY_LENGTH] for k in keys]
    findings.expect(
        len(set(keys)) == len(keys), "two of the new keys are equal", rule="random-body"
    )
    fixed = [i for i in range(BODY_LENGTH) if len({b[i] for b in bodies}) == 1]
    findings.expect(
        not fixed,
        f"body positions {fixed[:6]} are the same in all {len(keys)} keys: the body must be "
        "random (secrets.choice), not a counter or a timestamp",
        f"{len(keys)} keys, all different, no fixed positions: random bodies",
        rule="random-body",
    )
    counts = Counter("".join(bodies))
    findings.expect(
        len(counts) >= MIN_DISTINCT_CHARS and max(counts.values()) <= MAX_SAME_CHAR,
        f"{len(bodies) * BODY_LENGTH} body characters use only {len(counts)} of the 62 "
        f"(the commonest {max(counts.values())} times): draw each from all of 0-9A-Za-z",
        f"the bodies use {len(counts)} of the 62 characters, evenly",
        rule="random-body",
    )
    works = _read(client, keys[0])
    findings.expect(
        works.status_code == 200,
        f"a new key was refused by the API ({works.status_code}){_fault(works)}",
        "a new key works in X-API-Key",
    )


def _stored_twice(client: httpx.Client) -> tuple[str, str]:
    """What the table holds for one key stored twice (through the lab-only route)."""
    key = _with_checksum("".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH)))
    for _ in range(2):
        _lab_key(client, [READ], key=key, name="stored-twice")
    rows = [r for r in _dump(client) if r["name"] == "stored-twice"][-2:]
    return str(rows[0]["key_hash"]), str(rows[1]["key_hash"])


def _storage_battery(client: httpx.Client, findings: Findings) -> None:
    first, second = _stored_twice(client)
    if not findings.expect(
        first == second,
        f"the same key was stored twice as {first[:24]!r}... and {second[:24]!r}...: "
        "the app looks keys up by hash_key(key), so it must give the same value every time "
        "(no random salt)",
        "the same key gives the same digest (the app can look it up)",
        rule="same-digest",
    ):
        return
    auth = _login(client, "alice")
    response, key, key_id = _new_key(client, auth, [READ, WRITE])
    if not _issued(findings, response, "a key"):
        return
    works = _read(client, key)
    if not findings.expect(
        works.status_code == 200,
        f"a new key was refused ({works.status_code}){_fault(works)}",
        "a new key works (the lookup by hash finds it)",
    ):
        return
    rows = _dump(client)
    mine = next((r for r in rows if r["id"] == key_id), None)
    if not findings.expect(mine is not None, "the new key is missing from the table"):
        return
    stored = str(mine["key_hash"])
    findings.expect(
        key not in decodings(stored) and key not in stored,
        f"the table stores the key itself (or an encoding of it): {stored[:24]}...",
        rule="not-plaintext",
    )
    size = _digest_bytes(stored)
    findings.expect(
        size >= MIN_DIGEST_BYTES,
        f"the stored value {shorten(stored, 60)!r} holds {size * 8} bits: store a full "
        "SHA-256 (or stronger) digest, at least 256 bits",
        f"the stored digest has {size * 8} bits",
        rule="strong-digest",
    )
    values = {str(v) for row in rows for v in row.values() if isinstance(v, str)}
    candidates = {c for v in values for c in decodings(v)}
    usable = [c for c in candidates if _read(client, c).status_code == 200]
    findings.expect(
        not usable,
        f"{len(usable)} value(s) from the leaked table work as keys, e.g. {usable[:1]}",
        f"none of {len(candidates)} values (and decodings) from the leaked table is a usable key",
        rule="not-plaintext",
    )
    if stored == hashlib.sha256(key.encode()).hexdigest():
        findings.saw("stored as SHA-256(key)")


def _whole_key_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    body = "".join(rng.choice(ALPHABET) for _ in range(BODY_LENGTH))
    key = _lab_key(client, [READ], expires_at=_now(client) + 30 * DAY, key=_with_checksum(body))
    if _read(client, key).status_code != 200:
        return  # the storage battery names why
    near = [_one_off(key, rng, third, recheck) for third in range(3) for recheck in (1, 0)]
    let_in = [k for k in near if _read(client, k).status_code == 200]
    findings.expect(
        not let_in,
        f"{let_in[0] if let_in else ''} works although the issued key is {key}: hash the whole "
        "key exactly as sent (no lower-casing, no truncation)",
        "keys one character off are refused",
        rule="whole-key",
    )


def _revocation_battery(client: httpx.Client, findings: Findings) -> None:
    auth = _login(client, "alice")
    response, key, key_id = _new_key(client, auth, [READ])
    if not _issued(findings, response, "a key"):
        return
    before = _read(client, key)
    if not findings.expect(
        before.status_code == 200,
        f"a new key was refused ({before.status_code}){_fault(before)}",
        "a new key works",
    ):
        return
    client.delete(f"{KEYS}/{key_id}", headers=auth)
    after = _read(client, key)
    findings.expect(
        after.status_code == 401,
        f"a revoked key got {after.status_code}{_fault(after)}: check revoked_at",
        "a revoked key gets 401",
        rule="revoked",
    )
    config = client.get("/api/_lab/old-config").json()["content"]
    old = config.split("REPORTS_API_KEY=", 1)[1].split()[0]
    stale = _read(client, old)
    findings.expect(
        stale.status_code == 401,
        f"last year's expired key got {stale.status_code}{_fault(stale)}: check expires_at",
        "last year's expired key gets 401",
        rule="expired",
    )
    _, short, _ = _new_key(client, auth, [READ], expiresInDays=1, name="short-lived")
    _, lasting, _ = _new_key(client, auth, [READ], name="long-lived")
    fresh = _read(client, short)
    findings.expect(
        fresh.status_code == 200,
        f"a 1-day key was refused on day one ({fresh.status_code}){_fault(fresh)}",
        rule="expired",
    )
    client.post(CLOCK, json={"advanceDays": 2})
    late = _read(client, short)
    findings.expect(
        late.status_code == 401,
        f"a 1-day key still works 2 days later ({late.status_code}){_fault(late)}: compare "
        "expires_at with now",
        "a 1-day key gets 401 two days later",
        rule="expired",
    )
    still = _read(client, lasting)
    findings.expect(
        still.status_code == 200,
        f"a 90-day key was refused 2 days later ({still.status_code}){_fault(still)}",
        "a 90-day key still works after 2 days",
        rule="expired",
    )


def _dead_keys_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """Keys made dead in every way, at generated times; one 401 for all; garbage unlooked."""
    now = _now(client)
    alive = _lab_key(client, [READ], expires_at=now + rng.uniform(DAY, 80 * DAY))
    if _read(client, alive).status_code != 200:
        findings.fail("a live key made by the lab was refused", rule="expired")
        return
    dead = {
        "an unknown well-formed key": _with_checksum(
            "".join(rng.choice(ALPHABET) for _ in range(BODY_LENGTH))
        ),
        "a key that expired a moment ago": _lab_key(
            client, [READ], expires_at=now - rng.uniform(60, 3600)
        ),
        "a key without expires_at": _lab_key(client, [READ], expires_at=None),
        "a key revoked before its expiry": _lab_key(
            client, [READ], expires_at=now + 30 * DAY, revoked_at=now - rng.uniform(1, DAY)
        ),
    }
    rules = {"a key that expired a moment ago": "expired", "a key without expires_at": "expired"}
    invalid = {"error": "Invalid API key"}
    for label, key in dead.items():
        response = _read(client, key)
        if response.status_code != 401:
            findings.fail(
                f"{label} got {response.status_code}{_fault(response)}",
                rule=rules.get(label, "revoked" if "revoked" in label else "one-401"),
            )
        elif _error(response) != invalid:
            findings.fail(f"{label} got 401 {_error(response)}, not {invalid}", rule="one-401")
    nothing = client.get(REPORTS)
    findings.expect(
        nothing.status_code == 401 and _error(nothing) == {"error": "API key required"},
        f"no key at all got {nothing.status_code} {_error(nothing)}{_fault(nothing)}",
        'no key: 401 "API key required"; every dead key: the same 401 "Invalid API key"',
        rule="one-401",
    )
    body = alive[len(KEY_PREFIX) : len(KEY_PREFIX) + BODY_LENGTH]
    garbage = [
        "lk_test_" + alive[len(KEY_PREFIX) :],
        alive[:-1] + rng.choice(ALPHABET.replace(alive[-1], "")),
        alive + rng.choice(ALPHABET),
        KEY_PREFIX + body,
        secrets_like(rng),
    ]
    before = _lookups(client)
    statuses = [(_read(client, g).status_code, g) for g in garbage]
    looked = _lookups(client) - before
    bad = [f"{g[:20]}... got {s}" for s, g in statuses if s != 401]
    findings.expect(
        not bad, f"malformed keys were accepted: {'; '.join(bad[:2])}", rule="well-formed-first"
    )
    findings.expect(
        looked == 0,
        f"{looked} of {len(garbage)} malformed keys (wrong prefix, bad checksum, wrong length) "
        "were looked up in the table: check prefix, length and checksum first",
        "malformed keys are refused before any lookup",
        rule="well-formed-first",
    )


def secrets_like(rng: random.Random) -> str:
    """A random hex token (what an old key or a stray secret looks like)."""
    return f"{rng.getrandbits(128):032x}"


def _scope_battery(client: httpx.Client, findings: Findings) -> None:
    carol, alice = _login(client, "carol"), _login(client, "alice")
    created = {
        "read-only": _new_key(client, carol, [READ]),
        "write-only": _new_key(client, alice, [WRITE]),
        "read+write": _new_key(client, alice, [READ, WRITE]),
    }
    for label, (response, _, _) in created.items():
        if not _issued(findings, response, f"a {label} key"):
            return
    expected = {
        "read-only": (200, 403),
        "write-only": (403, 201),
        "read+write": (200, 201),
    }
    for label, (read_status, write_status) in expected.items():
        key = created[label][1]
        got = (_read(client, key), _write(client, key))
        for response, want, verb in zip(
            got, (read_status, write_status), ("read", "write"), strict=True
        ):
            findings.expect(
                response.status_code == want
                and (want != 403 or _error(response) == {"error": "Insufficient permissions"}),
                f"a {label} key may {'not ' if want == 403 else ''}{verb}: got "
                f"{response.status_code} {_error(response)}, expected {want}{_fault(response)}",
                rule="scope-403",
            )
    findings.saw("read-only, write-only and read+write keys do exactly their scopes (403 else)")
    nothing = client.get(REPORTS)
    findings.expect(
        nothing.status_code == 401 and nothing.json().get("error") == "API key required",
        f"no key at all got {nothing.status_code} {nothing.text[:60]!r}{_fault(nothing)}",
        'no key: 401 "API key required"',
    )
    garbage = _read(client, KEY_PREFIX + secrets.token_hex(18))
    findings.expect(
        garbage.status_code == 401 and garbage.json().get("error") == "Invalid API key",
        f"an unknown key got {garbage.status_code} {garbage.text[:60]!r}{_fault(garbage)}",
        'unknown key: 401 "Invalid API key"',
    )


def _decoy_scope_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """Keys whose one scope is near a route's scope but not it: every one gets 403."""
    expires = _now(client) + 30 * DAY
    granted = []
    for decoy in DECOYS:
        scope = rng.choice(SCOPES)
        word = rng.choice(("drafts", "admin", "all", "x")) + str(rng.randrange(10))
        fake = decoy(scope, word)
        key = _lab_key(client, [fake], expires_at=expires)
        response = _write(client, key) if scope == WRITE else _read(client, key)
        if response.status_code != 403:
            granted.append(f"a key with only {fake!r} got {response.status_code} at {scope}")
    for line in granted[:3]:
        findings.fail(f"{line}: compare scopes as whole strings", rule="scope-exact")
    if not granted:
        findings.saw(
            f"{len(DECOYS)} near-miss scopes (substrings, prefixes, case, *) grant nothing"
        )


def _rotation_battery(client: httpx.Client, findings: Findings) -> None:
    auth = _login(client, "bob")
    old_response, old, old_id = _new_key(client, auth, [READ], name="nightly-export")
    new_response, new, _ = _new_key(client, auth, [READ], name="nightly-export")
    if not (_issued(findings, old_response, "a key") and _issued(findings, new_response, "a key")):
        return
    window = (_read(client, old).status_code, _read(client, new).status_code)
    findings.expect(
        window == (200, 200),
        f"during the rotation window old and new keys got {window}: both must work",
        "rotation window: the old and the new key both work",
        rule="overlap",
    )
    client.delete(f"{KEYS}/{old_id}", headers=auth)
    after = (_read(client, old).status_code, _read(client, new).status_code)
    findings.expect(
        after == (401, 200),
        f"after revoking the old key: old {after[0]}, new {after[1]} (expected 401, 200)",
        "after the old key is revoked only the new one works",
        rule="retire",
    )


def _many_keys_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """Several keys for one client, one retired by revocation and one by expiry."""
    auth = _login(client, "bob")
    name = f"export-{rng.randrange(1000)}"
    count = rng.randint(3, 4)
    keys = []
    for index in range(count):
        days = 1 if index == 0 else rng.randint(30, 90)
        response, key, key_id = _new_key(client, auth, [READ], name=name, expiresInDays=days)
        if not _issued(findings, response, "a key"):
            return
        keys.append((key, key_id))
    order = rng.sample(range(count), count) * 2  # the newest may be used first
    seen = [(i, _read(client, keys[i][0]).status_code) for i in order]
    statuses = [next((s for i, s in seen if i == k and s != 200), 200) for k in range(count)]
    if not findings.expect(
        all(s == 200 for _, s in seen),
        f"{count} active keys of one client got {statuses}: every active key must work",
        f"{count} active keys of one client all work",
        rule="overlap",
    ):
        return
    revoked = rng.randrange(1, count - 1)
    client.delete(f"{KEYS}/{keys[revoked][1]}", headers=auth)
    client.post(CLOCK, json={"advanceDays": 2})
    want = [401 if i in (0, revoked) else 200 for i in range(count)]
    got = [_read(client, key).status_code for key, _ in keys]
    findings.expect(
        got == want,
        f"after revoking key {revoked + 1} and letting key 1 expire, the keys got {got} "
        f"(expected {want})",
        "a revoked and an expired key are retired, the others keep working",
        rule="retire",
    )


def _query_battery(client: httpx.Client, findings: Findings) -> None:
    auth = _login(client, "alice")
    response, key, _ = _new_key(client, auth, [READ])
    if not _issued(findings, response, "a key"):
        return
    in_url = client.get(REPORTS, params={"api_key": key})
    findings.expect(
        in_url.status_code in (400, 401),
        f"?api_key=<valid key> got {in_url.status_code}{_fault(in_url)}: read the key from the "
        "X-API-Key header only",
        f"a key in the query string is refused ({in_url.status_code})",
        rule="header-only",
    )
    header = _read(client, key)
    findings.expect(
        header.status_code == 200,
        f"the same key in X-API-Key got {header.status_code}{_fault(header)}",
        "the same key in the X-API-Key header works",
        rule="header-only",
    )
    marker = f"page{secrets.randbelow(10**6)}"
    client.get(REPORTS, params={"debug": key})  # a key under a name no rule expects
    client.get(REPORTS, params={"page": marker})
    lines = client.get(LOG).json()["lines"]
    faults = _log_faults(lines)
    if not findings.expect(not faults, faults[0] if faults else "", rule="no-crash"):
        return
    leaked = [line for line in lines if key in line]
    findings.expect(
        not leaked,
        f"the access log holds the key: {leaked[0][:120]}" if leaked else "",
        "the key never reaches the access log (not as api_key=, not under another name)",
        rule="redact-key-shaped",
    )
    findings.expect(
        any(f"page={marker}" in line for line in lines),
        "ordinary query parameters vanished from the log: redact only secrets",
        "ordinary query parameters are still logged",
        rule="keep-ordinary",
    )


def _log_faults(lines: list[str]) -> list[str]:
    """What the access log says when redact_url failed (``!! redact_url fault: ...``)."""
    faults = [line.split("!! ", 1)[-1].split(' HTTP/1.1"', 1)[0] for line in lines if "!! " in line]
    return [shorten(fault, 160) for fault in dict.fromkeys(faults)]


def _case_variant(name: str, rng: random.Random) -> str:
    """``name`` with some letters upper-cased (at least one)."""
    first = rng.choice([i for i, c in enumerate(name) if c.isalpha()])
    return "".join(c.upper() if i == first or rng.random() < 0.5 else c for i, c in enumerate(name))


def _url_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """Keys under every secret name and others, secrets that are not keys, keys in the path."""
    key = _lab_key(client, [READ], expires_at=_now(client) + 30 * DAY)
    accepted = []
    for name in (*SECRET_NAMES, "X-API-Key", f"k{rng.randrange(100)}"):
        response = client.get(REPORTS, params={name: key})
        if response.status_code not in (400, 401):
            accepted.append(f"?{name}=<valid key> got {response.status_code}")
    findings.expect(
        not accepted,
        f"{'; '.join(accepted[:3])}: ignore the query string entirely",
        "a key in the query string is refused under every name",
        rule="header-only",
    )
    token = f"t{rng.getrandbits(80):020x}"  # a credential that does not look like a key
    secret = _case_variant(rng.choice(SECRET_NAMES), rng)
    twice = [(secret, token), ("page", str(rng.randrange(99))), (secret, token[::-1])]
    ordinary = [(f"f{_word(rng)}", _word(rng)) for _ in range(2)]
    client.get(REPORTS, params=[*twice, *ordinary])
    client.get(REPORTS, params=[(f"n{_word(rng)}", key), *ordinary[:1]])
    client.get(f"{REPORTS}/{key}")
    lines = client.get(LOG).json()["lines"][-3:]
    log = "\n".join(lines)
    faults = _log_faults(lines)
    if not findings.expect(not faults, faults[0] if faults else "", rule="no-crash"):
        return
    findings.expect(
        token not in log and token[::-1] not in log,
        f"?{secret}=... appears in the log: {shorten(lines[0], 140)} (names in any case, "
        "every time they appear)",
        f"every value of ?{secret}= is redacted, even when it is no key",
        rule="redact-secret-params",
    )
    findings.expect(
        key not in log,
        f"a key under another name or in the path reached the log: "
        f"{shorten(next((li for li in lines if key in li), ''), 140)}",
        "well-formed keys are redacted under any name and in the path",
        rule="redact-key-shaped",
    )
    missing = [f"{n}={v}" for n, v in ordinary if f"{n}={v}" not in lines[0]]
    findings.expect(
        not missing and REPORTS in lines[0],
        f"the log line {shorten(lines[0], 140)!r} lost {missing or 'the path'}: keep ordinary "
        "parameters",
        "the path and ordinary parameters stay in the log",
        rule="keep-ordinary",
    )


def _word(rng: random.Random, size: int = 6) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))


Battery = Callable[..., None]


def _fix_verdict(
    ctx: CheckContext, batteries: dict[str, Battery], passed: str, failed: str, sections: bool
) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        for name, battery in batteries.items():
            with findings.section(name) if sections else contextlib.nullcontext():
                _run(battery, client, findings, ctx.rng if _takes_rng(battery) else None)
    return findings.verdict(passed, failed)


def _issued_keys_work(client: httpx.Client) -> bool:
    try:
        _, key, _ = _new_key(client, _login(client, "alice"), [READ])
    except (AppBroken, httpx.HTTPError, ValueError):
        return False
    return bool(key) and _read(client, key).status_code == 200


def _takes_rng(battery: Battery) -> bool:
    """Whether a battery draws generated inputs (only then is a seed worth reporting)."""
    return "rng" in inspect.signature(battery).parameters


def _run(
    battery: Battery,
    client: httpx.Client,
    findings: Findings,
    rng: random.Random | None = None,
) -> None:
    try:
        if _takes_rng(battery) and rng is not None:
            battery(client, findings, rng)
        else:
            battery(client, findings)
    except AppBroken as exc:
        findings.fail(str(exc))


@LAB.check(
    "key-format",
    title="Keys with 128+ random bits, a prefix and a checksum",
    kind="fix",
    fixes=("generate_key",),
    rules=KEY_FORMAT_RULES,
    hints=(
        f"{KEY_PREFIX} + {BODY_LENGTH} characters from secrets.choice(ALPHABET) + checksum.",
        "checksum(body): zlib.crc32(body.encode()) written in base62, 6 characters, "
        "most significant digit first, padded with '0'.",
        "Check a key of yours as a scanner does: re.fullmatch(r'lk_live_[0-9A-Za-z]{36}', key) "
        "and checksum(key[8:-6]) == key[-6:].",
    ),
)
def key_format(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        {"key format": _format_battery},
        "keys are random, recognisable and self-checking",
        "key format wrong",
        sections=False,
    )


@LAB.check(
    "hashed-at-rest",
    title="Store only SHA-256(key): a leaked table yields no usable key",
    kind="fix",
    fixes=("hash_key",),
    rules=HASHED_RULES,
    hints=(
        "hashlib.sha256(key.encode()).hexdigest()",
        "No salt: the app finds a key by its hash, so the same key must give the same hash.",
        "Base64 or hex is an encoding, not a hash: anyone can undo it.",
    ),
)
def hashed_at_rest(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        {"storage": _storage_battery, "whole key": _whole_key_battery},
        "the leaked table is useless to an attacker",
        "the leak still hurts",
        sections=False,
    )


@LAB.check(
    "revoke-expire",
    title="Revoked and expired keys get 401",
    kind="fix",
    fixes=("generate_key", "hash_key", "authenticate"),
    rules=REVOKE_RULES,
    hints=(
        "record = find_key(api_key) gives the row (or None): look at record.revoked_at "
        "and record.expires_at.",
        "A key is usable only when revoked_at is None and now < expires_at.",
        'Every unusable key gets the same (401, {"error": "Invalid API key"}).',
        "Check the prefix, the length and the checksum before calling find_key.",
    ),
)
def revoke_expire(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        {"revocation": _revocation_battery, "dead keys": _dead_keys_battery},
        "revoked and expired keys are refused",
        "dead keys still work",
        sections=False,
    )


@LAB.check(
    "scopes",
    title="A key without the scope gets 403",
    kind="fix",
    fixes=("generate_key", "hash_key", "authenticate"),
    rules=SCOPE_RULES,
    hints=(
        "authenticate receives the scope the route needs, e.g. 'reports:write'.",
        "record.scopes is a tuple of the key's scopes: `scope in record.scopes` compares "
        "whole strings; `scope in str(record.scopes)` does not.",
        'Missing scope: (403, {"error": "Insufficient permissions"}).',
    ),
)
def scopes(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        {"scopes": _scope_battery, "near-miss scopes": _decoy_scope_battery},
        "each key does only what its scopes allow",
        "scopes are not enforced",
        sections=False,
    )


@LAB.check(
    "rotation",
    title="Rotate a key: old and new overlap, then only the new one works",
    kind="fix",
    fixes=("generate_key", "hash_key", "authenticate"),
    rules=ROTATION_RULES,
    hints=(
        "The app already lets a client hold several keys: rotation needs revocation to work.",
        "Create the new key, switch the client over, DELETE the old key.",
    ),
)
def rotation(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        {"rotation": _rotation_battery, "several keys": _many_keys_battery},
        "keys rotate without downtime",
        "rotation does not work yet",
        sections=False,
    )


@LAB.check(
    "query-string",
    title="Keys only in the header, never in URLs or logs",
    kind="fix",
    fixes=("generate_key", "read_api_key", "redact_url"),
    rules=QUERY_RULES,
    hints=(
        "read_api_key: return headers.get('x-api-key') and ignore query entirely.",
        "redact_url: urllib.parse.urlsplit / parse_qsl / urlencode; replace the value of "
        "api_key (and friends, in any letter case) with REDACTED.",
        "Keys under other names or in the path: find them by their shape — KEY_SHAPE.sub with "
        "a function that replaces a match only when checksum(body) equals its last 6 "
        "characters.",
    ),
)
def query_string(ctx: CheckContext) -> Verdict:
    return _fix_verdict(
        ctx,
        {"query string and logs": _query_battery, "every name": _url_battery},
        "keys stay out of URLs and logs",
        "keys still travel in URLs or logs",
        sections=False,
    )


BATTERIES: dict[str, Battery] = {
    "key format": _format_battery,
    "storage": _storage_battery,
    "whole key": _whole_key_battery,
    "revocation and expiry": _revocation_battery,
    "dead keys": _dead_keys_battery,
    "scopes": _scope_battery,
    "near-miss scopes": _decoy_scope_battery,
    "rotation": _rotation_battery,
    "several keys": _many_keys_battery,
    "query string and logs": _query_battery,
    "every name": _url_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("generate_key", "hash_key", "read_api_key", "authenticate", "redact_url"),
    points=2,
    rules=merge_rules(
        KEY_FORMAT_RULES, HASHED_RULES, REVOKE_RULES, SCOPE_RULES, ROTATION_RULES, QUERY_RULES
    ),
    hints=(
        "Pass all five of your functions: together they are the key system.",
        "Each battery names what failed; fix that function and run the cell again.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        for name, battery in BATTERIES.items():
            if name not in ("key format", "storage") and not _issued_keys_work(client):
                findings.fail(
                    "a key the app has just issued is refused: generate_key, hash_key and "
                    "authenticate must agree (the batteries that need a working key did not run)"
                )
                break
            with findings.section(name):
                _run(battery, client, findings, ctx.rng if _takes_rng(battery) else None)
        partner = client.post("/api/_lab/partner-job")
        if partner.status_code == 200:
            findings.saw(
                f"the partner's old ?api_key= job now gets {partner.json()['status']}: tell "
                "them to send the key in the header (and rotate it: it was in your logs)"
            )
    return findings.verdict(
        "every attack fails and legitimate clients work", "some attacks still get through"
    )
