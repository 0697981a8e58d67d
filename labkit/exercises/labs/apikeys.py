"""05-api-keys: replay a leaked table, harvest logged keys, abuse revoked, expired and
read-only keys — then fix the key system.

Every check works over HTTP. Users log in with the seeded accounts from the lab-only
``/api/_lab/accounts``; what a breach exposes comes from ``/api/_lab/dump`` and
``/api/_lab/access-log``; time moves with ``POST /api/_lab/clock``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any

import httpx

from labkit.attacks.apikeys import REPORTS, decodings, log_in
from labkit.exercises.check import CheckContext, Findings, Verdict
from labkit.exercises.registry import LabDefinition
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


def _run(
    battery: Callable[[httpx.Client, Findings], None], client: httpx.Client, findings: Findings
) -> None:
    try:
        battery(client, findings)
    except AppBroken as exc:
        findings.fail(str(exc))


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
        "leak = lab.client.get('/api/_lab/dump').json()['api_keys'] is what the breach exposed.",
        "Look at the key_hash column: is it a hash?",
        "Send one of those values as the X-API-Key header to GET /api/v1/reports and hand it in.",
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
        "Run the partner's nightly job: lab.client.post('/api/_lab/partner-job').",
        "Then read lab.client.get('/api/_lab/access-log').json()['lines'].",
        "labkit.attacks.apikeys.keys_in_log(lines) pulls ?api_key= values out of request lines.",
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
        "Log in (labkit.attacks.apikeys.log_in), create a key with POST /api/keys, use it.",
        "Revoke it: DELETE /api/keys/{id} with the same Authorization header.",
        "Use it again. Hand in the revoked key.",
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
        "carol is a viewer: she may only create keys with the scope reports:read.",
        "Create such a key and POST /api/v1/reports {'title': ...} with it.",
        "Hand in the read-only key.",
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
        "config = lab.client.get('/api/_lab/old-config').json()['content']",
        "The key is on the REPORTS_API_KEY= line.",
        "It expired long ago. Does the API care? Hand in the key.",
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


# -- fixes -------------------------------------------------------------------------------
def _diagnose_format(key: str) -> str:
    """Why ``key`` is not ``lk_live_`` + base62 body + its CRC32 checksum ("" if it is)."""
    if not key.startswith(KEY_PREFIX):
        return f"{key[:16]!r}... does not start with the prefix {KEY_PREFIX!r}"
    rest = key[len(KEY_PREFIX) :]
    if any(c not in ALPHABET for c in rest):
        return f"{key!r}: after the prefix use base62 characters only (0-9, A-Z, a-z)"
    if len(rest) != BODY_LENGTH + CHECKSUM_LENGTH:
        return (
            f"{key!r} has {len(rest)} characters after the prefix: "
            f"{BODY_LENGTH} random + {CHECKSUM_LENGTH} checksum"
        )
    body, check = rest[:BODY_LENGTH], rest[BODY_LENGTH:]
    if not looks_like_api_key(key):
        return (
            f"the last {CHECKSUM_LENGTH} characters {check!r} are not the CRC32 checksum of "
            f"the body (expected {checksum(body)!r}): a scanner cannot validate the key offline"
        )
    return ""


def _format_battery(client: httpx.Client, findings: Findings) -> None:
    auth = _login(client, "alice")
    keys: list[str] = []
    for _ in range(FORMAT_SAMPLES):
        response, key, _ = _new_key(client, auth, [READ])
        if not _issued(findings, response, "a key"):
            return
        keys.append(key)
    problems = [p for p in map(_diagnose_format, keys) if p]
    if not findings.expect(not problems, problems[0] if problems else ""):
        return
    findings.saw(f"{KEY_PREFIX}... with a valid CRC32 checksum: scanners can recognise it")
    bodies = [k[len(KEY_PREFIX) : len(KEY_PREFIX) + BODY_LENGTH] for k in keys]
    findings.expect(len(set(keys)) == len(keys), "two of the new keys are equal")
    fixed = [i for i in range(BODY_LENGTH) if len({b[i] for b in bodies}) == 1]
    findings.expect(
        not fixed,
        f"body positions {fixed[:6]} are the same in all {len(keys)} keys: the body must be "
        "random (secrets.choice), not a counter or a timestamp",
        f"{len(keys)} keys, all different, no fixed positions: random bodies",
    )
    works = _read(client, keys[0])
    findings.expect(
        works.status_code == 200,
        f"a new key was refused by the API ({works.status_code}){_fault(works)}",
        "a new key works in X-API-Key",
    )


def _storage_battery(client: httpx.Client, findings: Findings) -> None:
    auth = _login(client, "alice")
    response, key, key_id = _new_key(client, auth, [READ, WRITE])
    if not _issued(findings, response, "a key"):
        return
    works = _read(client, key)
    if not findings.expect(
        works.status_code == 200,
        f"a new key was refused ({works.status_code}){_fault(works)}: the app looks keys up by "
        "hash_key(key), so hash_key must give the same value every time (no random salt)",
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
    )
    findings.expect(
        len(stored) >= 32,
        f"the stored value {stored!r} is too short to keep 128 bits: use the full SHA-256 digest",
    )
    values = {str(v) for row in rows for v in row.values() if isinstance(v, str)}
    candidates = {c for v in values for c in decodings(v)}
    usable = [c for c in candidates if _read(client, c).status_code == 200]
    findings.expect(
        not usable,
        f"{len(usable)} value(s) from the leaked table work as keys, e.g. {usable[:1]}",
        f"none of {len(candidates)} values (and decodings) from the leaked table is a usable key",
    )
    if stored == hashlib.sha256(key.encode()).hexdigest():
        findings.saw("stored as SHA-256(key)")


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
    )
    config = client.get("/api/_lab/old-config").json()["content"]
    old = config.split("REPORTS_API_KEY=", 1)[1].split()[0]
    stale = _read(client, old)
    findings.expect(
        stale.status_code == 401,
        f"last year's expired key got {stale.status_code}{_fault(stale)}: check expires_at",
        "last year's expired key gets 401",
    )
    _, short, _ = _new_key(client, auth, [READ], expiresInDays=1, name="short-lived")
    _, lasting, _ = _new_key(client, auth, [READ], name="long-lived")
    fresh = _read(client, short)
    findings.expect(
        fresh.status_code == 200,
        f"a 1-day key was refused on day one ({fresh.status_code}){_fault(fresh)}",
    )
    client.post(CLOCK, json={"advanceDays": 2})
    late = _read(client, short)
    findings.expect(
        late.status_code == 401,
        f"a 1-day key still works 2 days later ({late.status_code}){_fault(late)}: compare "
        "expires_at with now",
        "a 1-day key gets 401 two days later",
    )
    still = _read(client, lasting)
    findings.expect(
        still.status_code == 200,
        f"a 90-day key was refused 2 days later ({still.status_code}){_fault(still)}",
        "a 90-day key still works after 2 days",
    )


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
                response.status_code == want,
                f"a {label} key may not {verb}: got {response.status_code}, expected {want}"
                f"{_fault(response)}",
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
    )
    client.delete(f"{KEYS}/{old_id}", headers=auth)
    after = (_read(client, old).status_code, _read(client, new).status_code)
    findings.expect(
        after == (401, 200),
        f"after revoking the old key: old {after[0]}, new {after[1]} (expected 401, 200)",
        "after the old key is revoked only the new one works",
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
    )
    header = _read(client, key)
    findings.expect(
        header.status_code == 200,
        f"the same key in X-API-Key got {header.status_code}{_fault(header)}",
        "the same key in the X-API-Key header works",
    )
    marker = f"page{secrets.randbelow(10**6)}"
    client.get(REPORTS, params={"debug": key})  # a key under a name no rule expects
    client.get(REPORTS, params={"page": marker})
    lines = client.get(LOG).json()["lines"]
    faults = [line for line in lines if "redact_url fault" in line]
    if not findings.expect(not faults, faults[0].split("!! ", 1)[-1][:160] if faults else ""):
        return
    leaked = [line for line in lines if key in line]
    findings.expect(
        not leaked,
        f"the access log holds the key: {leaked[0][:120]}" if leaked else "",
        "the key never reaches the access log (not as api_key=, not under another name)",
    )
    findings.expect(
        any(f"page={marker}" in line for line in lines),
        "ordinary query parameters vanished from the log: redact only secrets",
        "ordinary query parameters are still logged",
    )


@LAB.check(
    "key-format",
    title="Keys with 128+ random bits, a prefix and a checksum",
    kind="fix",
    fixes=("generate_key",),
    hints=(
        f"{KEY_PREFIX} + {BODY_LENGTH} characters from secrets.choice(ALPHABET) + checksum.",
        "checksum(body): zlib.crc32(body.encode()) written in base62, 6 characters, "
        "most significant digit first, padded with '0'.",
        "labkit.patterns.apikeys.looks_like_api_key(key) tells you whether you got it right.",
    ),
)
def key_format(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(_format_battery, client, findings)
    return findings.verdict("keys are random, recognisable and self-checking", "key format wrong")


@LAB.check(
    "hashed-at-rest",
    title="Store only SHA-256(key): a leaked table yields no usable key",
    kind="fix",
    fixes=("hash_key",),
    hints=(
        "hashlib.sha256(key.encode()).hexdigest()",
        "No salt: the app finds a key by its hash, so the same key must give the same hash.",
        "Base64 or hex is an encoding, not a hash: anyone can undo it.",
    ),
)
def hashed_at_rest(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(_storage_battery, client, findings)
    return findings.verdict("the leaked table is useless to an attacker", "the leak still hurts")


@LAB.check(
    "revoke-expire",
    title="Revoked and expired keys get 401",
    kind="fix",
    fixes=("generate_key", "hash_key", "authenticate"),
    hints=(
        "record = find_key(api_key) gives the row (or None): look at record.revoked_at "
        "and record.expires_at.",
        "A key is usable only when revoked_at is None and now < expires_at.",
        'Every unusable key gets the same (401, {"error": "Invalid API key"}).',
    ),
)
def revoke_expire(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(_revocation_battery, client, findings)
    return findings.verdict("revoked and expired keys are refused", "dead keys still work")


@LAB.check(
    "scopes",
    title="A key without the scope gets 403",
    kind="fix",
    fixes=("generate_key", "hash_key", "authenticate"),
    hints=(
        "authenticate receives the scope the route needs, e.g. 'reports:write'.",
        "record.scopes is a tuple of the key's scopes.",
        'Missing scope: (403, {"error": "Insufficient permissions"}).',
    ),
)
def scopes(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(_scope_battery, client, findings)
    return findings.verdict("each key does only what its scopes allow", "scopes are not enforced")


@LAB.check(
    "rotation",
    title="Rotate a key: old and new overlap, then only the new one works",
    kind="fix",
    fixes=("generate_key", "hash_key", "authenticate"),
    hints=(
        "The app already lets a client hold several keys: rotation needs revocation to work.",
        "Create the new key, switch the client over, DELETE the old key.",
    ),
)
def rotation(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(_rotation_battery, client, findings)
    return findings.verdict("keys rotate without downtime", "rotation does not work yet")


@LAB.check(
    "query-string",
    title="Keys only in the header, never in URLs or logs",
    kind="fix",
    fixes=("generate_key", "read_api_key", "redact_url"),
    hints=(
        "read_api_key: return headers.get('x-api-key') and ignore query entirely.",
        "redact_url: urllib.parse.urlsplit / parse_qsl / urlencode; replace the value of "
        "api_key (and friends) with REDACTED.",
        "Keys under other names: find them by their shape — prefix and a valid checksum "
        "(labkit.patterns.apikeys.find_api_keys does this) — and replace them too.",
    ),
)
def query_string(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _run(_query_battery, client, findings)
    return findings.verdict("keys stay out of URLs and logs", "keys still travel in URLs or logs")


BATTERIES: dict[str, Callable[[httpx.Client, Findings], None]] = {
    "key format": _format_battery,
    "storage": _storage_battery,
    "revocation and expiry": _revocation_battery,
    "scopes": _scope_battery,
    "rotation": _rotation_battery,
    "query string and logs": _query_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("generate_key", "hash_key", "read_api_key", "authenticate", "redact_url"),
    points=2,
    hints=(
        "Pass all five of your functions: together they are the key system.",
        "Each battery names what failed; fix that function and run the cell again.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        for name, battery in BATTERIES.items():
            with findings.section(name):
                _run(battery, client, findings)
        partner = client.post("/api/_lab/partner-job")
        if partner.status_code == 200:
            findings.saw(
                f"the partner's old ?api_key= job now gets {partner.json()['status']}: tell "
                "them to send the key in the header (and rotate it: it was in your logs)"
            )
    return findings.verdict(
        "every attack fails and legitimate clients work", "some attacks still get through"
    )
