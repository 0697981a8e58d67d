"""Checks for BrokenShop's data part: saved cards, the friend lookup, the partner API.

Three rows of the seed's summary, each row's *replay* judged over HTTP only:

- ``homemade-crypto`` (09-encryption): adapts 09's tamper/swap/rotation batteries to the
  cards (09's batteries drive 09's notes routes, which the shop does not have) with the same
  attack, ``recover_with_known_plaintext``.
- ``trusting-input`` (07-injection): sends 07's lookup payloads
  (:data:`labkit.attacks.injection.PAYLOADS`, judged by 07's own
  :func:`~labkit.attacks.injection.replay`) — 07's ``_injection_battery`` also attacks
  07's login and insert, and reads 07's dump route, so only its lookup half applies here.
- ``eternal-api-key`` (05-api-keys): runs 05's revocation, expiry, scope and rotation probes
  on the shop's partner API (05's routes), with generated lifetimes.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable
from typing import Any

import httpx

from labkit.attacks.crypto import recover_with_known_plaintext
from labkit.attacks.injection import PAYLOADS, lookup, replay_all
from labkit.exercises.capstone.antipattern import AntiPattern, fault
from labkit.exercises.check import Findings, Target
from labkit.exercises.labs.encryption import _b64, _flip  # 09's record helpers
from labkit.exercises.rules import Rule
from labkit.patterns.apikeys import KEY_PREFIX
from labkit.sandbox.apps.shop.data import luhn_valid

__all__ = ["ANTI_PATTERNS", "KNOWN_CARD"]

ACCOUNTS, BREACH, CARDS, USERS = (
    "/api/_lab/accounts",
    "/api/_lab/breach",
    "/api/cards",
    "/api/users",
)
KEYRING, ROTATE = "/api/_lab/cards/keyring", "/api/_lab/cards/rotate"
ALICE = "alice@example.com"
#: The card the attacker saves: its number is the known plaintext.
KNOWN_CARD = "4242424242424242"
#: 05's partner API, as the shop serves it.
API_KEY_HEADER, REPORTS = "X-API-Key", "/api/v1/reports"
KEYS, CLOCK = "/api/keys", "/api/_lab/clock"
READ, WRITE = "reports:read", "reports:write"
LOOKUP_PAYLOADS = tuple(p for p in PAYLOADS if p.route == "lookup")
LISTED = 4


class AppBroken(Exception):
    """The shop cannot do what the check needs to start (log in, save a card)."""


def _card_number(rng: random.Random) -> str:
    """A Luhn-valid 16-digit test card (generated): the attacker's known plaintext."""
    body = "4" + "".join(rng.choices("0123456789", k=14))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def _login(client: httpx.Client, who: str) -> dict[str, str]:
    """``Authorization`` for the seeded user whose email starts with ``who``."""
    accounts = {a["email"].split("@")[0]: a for a in client.get(ACCOUNTS).json()}
    account = accounts[who]
    response = client.post(
        "/api/auth/login", json={"email": account["email"], "password": account["password"]}
    )
    if response.status_code != 200:
        raise AppBroken(f"logging in as {who} got {response.status_code}{fault(response)}")
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def _breach(client: httpx.Client) -> dict[str, list[dict[str, Any]]]:
    return dict(client.get(BREACH).json())


def _user_id(breach: dict[str, list[dict[str, Any]]], email: str) -> Any:
    return next((u["id"] for u in breach.get("users", []) if u["email"] == email), None)


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    try:
        stored = json.loads(row.get("stored") or "{}")
    except ValueError:
        return {}
    return stored if isinstance(stored, dict) else {}


def _cards(breach: dict[str, list[dict[str, Any]]]) -> dict[int, dict[str, Any]]:
    """The breach's cards by id, each with its stored form parsed."""
    return {int(c["id"]): {**c, "stored": _stored(c)} for c in breach.get("cards", [])}


def _run(
    battery: Callable[[httpx.Client, Findings, random.Random], None],
    target: Target,
    f: Findings,
    rng: random.Random,
) -> None:
    with target.client() as client:
        try:
            battery(client, f, rng)
        except AppBroken as exc:
            f.fail(str(exc))


# -- homemade-crypto -------------------------------------------------------------------------
def recover_card(
    victim: dict[str, Any], known: dict[str, Any], number: str = KNOWN_CARD
) -> str | None:
    """The victim's card number from two stored forms and :data:`KNOWN_CARD`, if the same
    keystream encrypted both (as a stream cipher without a nonce, or GCM with a fixed one)."""
    target, sample = _b64(victim.get("ciphertext")), _b64(known.get("ciphertext"))
    if not target or not sample:
        return None
    for tag in (0, 16):  # a bare stream cipher; GCM's 16-byte tag at the end
        plain = recover_with_known_plaintext(target, sample, number.encode(), tag=tag)
        text = plain.decode("ascii", "replace")
        if 12 <= len(text) <= 19 and luhn_valid(text):
            return text
    return None


def _alice_card(client: httpx.Client, breach: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """alice's stored card (from the breach) and its last four digits (as she sees them)."""
    alice = _user_id(breach, ALICE)
    rows = [c for c in _cards(breach).values() if c["owner_id"] == alice]
    if not rows:
        raise AppBroken("alice's saved card is not in the breach (the shop could not seed it)")
    listed = client.get(CARDS, headers=_login(client, "alice"))
    cards = listed.json().get("cards", []) if listed.status_code == 200 else []
    last4 = next((str(c.get("last4")) for c in cards if c.get("id") == rows[0]["id"]), "")
    return rows[0], last4


CRYPTO_RULES = (
    Rule(
        "cards-work",
        "Cards read back: encrypt_record returns {'keyId', 'nonce', 'ciphertext'} (base64 "
        "text), a saved card lists masked to its last four digits, and alice's card on file "
        "still reads.",
    ),
    Rule(
        "encrypted",
        "Encrypt with a library AEAD (AES-256-GCM or ChaCha20-Poly1305) under a fresh random "
        "96-bit nonce every time: no number in clear, the same number saved twice gives two "
        "different ciphertexts, and a card you know decrypts no other card.",
    ),
    Rule(
        "tamper-evident",
        "Return None (never raise) when the stored ciphertext or nonce was changed: a flipped "
        "bit anywhere is refused.",
    ),
    Rule(
        "bound-to-record",
        "Bind each ciphertext to its record id (associated data): alice's ciphertext copied "
        "into bob's card row does not decrypt there.",
    ),
    Rule(
        "key-rotation",
        "Store the key id as 'keyId' and decrypt with keyring[stored['keyId']]: after a key "
        "rotation older cards still read and new cards use the new primary key.",
    ),
)


def _refused(f: Findings, response: httpx.Response, problem: str, seen: str, rule: str) -> None:
    """A 200 is a failure of ``rule``; any refusal is fine (a 5xx is a crash the runner
    names on its own)."""
    if response.status_code == 200:
        f.fail(f"{problem}: the shop answered 200", rule=rule)
    else:
        f.saw(seen)


def _save(client: httpx.Client, auth: dict[str, str], number: str, f: Findings) -> int | None:
    response = client.post(CARDS, json={"number": number, "holder": "Bob Okafor"}, headers=auth)
    if not f.expect(
        response.status_code == 201 and isinstance(response.json().get("id"), int),
        f"saving a card got {response.status_code}{fault(response)}",
        rule="cards-work",
    ):
        return None
    return int(response.json()["id"])


def _card_battery(client: httpx.Client, f: Findings, rng: random.Random) -> None:
    """09's tamper, swap and rotation batteries, on the shop's cards (see the module doc),
    with a generated known card and generated bit positions."""
    known = _card_number(rng)
    bob = _login(client, "bob")
    own = _save(client, bob, " ".join(known[i : i + 4] for i in range(0, 16, 4)), f)
    if own is None:
        return
    listed = client.get(CARDS, headers=bob)
    mine = {c.get("id"): c for c in listed.json().get("cards", [])} if listed.is_success else {}
    if not f.expect(
        mine.get(own, {}).get("last4") == known[-4:],
        f"listing your cards got {listed.status_code}{fault(listed)}: a saved card must read "
        "back (decrypt_record returns the plaintext bytes)",
        "a saved card lists masked to its last four digits",
        rule="cards-work",
    ):
        return
    breach = _breach(client)
    victim, last4 = _alice_card(client, breach)
    f.expect(
        last4.isdigit() and len(last4) == 4,
        f"alice's card on file no longer reads (last4 {last4!r})",
        "alice's card on file still reads",
        rule="cards-work",
    )
    stored = _cards(breach)[own]["stored"]
    sealed = _b64(stored.get("ciphertext"))
    if not f.expect(
        sealed is not None,
        "the stored card needs a base64 'ciphertext' field (09's contract: keyId, nonce, "
        "ciphertext)",
        rule="cards-work",
    ):
        return
    f.expect(
        known not in json.dumps(stored) and known.encode() not in (sealed or b""),
        "the card number is stored in clear text",
        rule="encrypted",
    )
    number = recover_card(victim["stored"], stored, known)
    f.expect(
        number is None,
        f"your known card's ciphertext decrypted alice's card from the breach "
        f"(…{number and number[-4:]}): the same keystream encrypts every card — use a "
        "fresh random nonce per encryption",
        "known plaintext + the breach: alice's card stays unreadable",
        rule="encrypted",
    )
    twin = _save(client, bob, known, f)
    if twin is None:
        return
    twin_stored = _cards(_breach(client))[twin]["stored"]
    f.expect(
        twin_stored.get("ciphertext") != stored.get("ciphertext")
        and twin_stored.get("nonce") != stored.get("nonce"),
        "the same number saved twice gave the same ciphertext or nonce: a fresh random "
        "nonce every time",
        "the same number encrypts differently every time",
        rule="encrypted",
    )
    _tampering(client, bob, own, stored, known, f, rng)
    _swapping(client, bob, twin, twin_stored, victim["stored"], last4, f)
    _rotating(client, bob, own, stored, known, f)


def _tampering(
    client: httpx.Client,
    bob: dict[str, str],
    own: int,
    stored: dict[str, Any],
    known: str,
    f: Findings,
    rng: random.Random,
) -> None:
    length = len(_b64(stored.get("ciphertext")) or b"")
    middle = rng.randrange(1, max(2, length - 1))
    tampered = {
        "a flipped bit in the first ciphertext byte": _flip(stored, "ciphertext", 0),
        f"a flipped bit in ciphertext byte {middle}": _flip(stored, "ciphertext", middle),
        "a flipped bit in the last byte": _flip(stored, "ciphertext", -1),
        "a flipped bit in the nonce": _flip(stored, "nonce", rng.randrange(0, 12)),
    }
    for label, changed in tampered.items():
        if changed is None:
            continue
        client.put(f"/api/_lab/cards/{own}", json=changed)
        _refused(
            f,
            client.get(f"{CARDS}/{own}", headers=bob),
            f"{label} went unnoticed — use an AEAD (AES-GCM)",
            f"{label}: rejected",
            "tamper-evident",
        )
    client.put(f"/api/_lab/cards/{own}", json=stored)
    back = client.get(f"{CARDS}/{own}", headers=bob)
    f.expect(
        back.status_code == 200 and back.json().get("last4") == known[-4:],
        f"the untouched ciphertext no longer reads ({back.status_code}{fault(back)})",
        rule="cards-work",
    )


def _swapping(
    client: httpx.Client,
    bob: dict[str, str],
    row: int,
    own: dict[str, Any],
    victim: dict[str, Any],
    last4: str,
    f: Findings,
) -> None:
    client.put(f"/api/_lab/cards/{row}", json=victim)
    moved = client.get(f"{CARDS}/{row}", headers=bob)
    if moved.status_code == 200:
        shown = moved.json().get("last4") if isinstance(moved.json(), dict) else None
        leaked = f" — it shows alice's •••• {shown}" if last4 and shown == last4 else ""
        f.fail(
            f"alice's ciphertext copied into bob's card row decrypted there{leaked}: bind each "
            "ciphertext to its record id with AAD",
            rule="bound-to-record",
        )
    else:
        f.saw("alice's ciphertext copied into bob's card row: rejected")
    client.put(f"/api/_lab/cards/{row}", json=own)


def _rotating(
    client: httpx.Client,
    bob: dict[str, str],
    own: int,
    stored: dict[str, Any],
    known: str,
    f: Findings,
) -> None:
    primary = client.get(KEYRING).json()["primary"]
    f.expect(
        stored.get("keyId") == primary,
        f"the stored card names key {stored.get('keyId')!r}, not the key it was encrypted "
        f"with ({primary!r}): store key_id as 'keyId'",
        "the stored card names its key id",
        rule="key-rotation",
    )
    new_key = client.post(ROTATE).json()["primary"]
    old = client.get(f"{CARDS}/{own}", headers=bob)
    f.expect(
        old.status_code == 200 and old.json().get("last4") == known[-4:],
        f"after a key rotation, a card saved under the old key got {old.status_code}"
        f"{fault(old)}: decrypt with the key the card names (keyring[stored['keyId']])",
        "after a key rotation, older cards still read",
        rule="key-rotation",
    )
    fresh = _save(client, bob, known, f)
    if fresh is not None:
        key_id = _cards(_breach(client))[fresh]["stored"].get("keyId")
        f.expect(
            key_id == new_key,
            f"a card saved after the rotation names key {key_id!r}, not the new primary",
            "new cards use the new primary key",
            rule="key-rotation",
        )


def replay_homemade_crypto(patched: Target, findings: Findings, rng: random.Random) -> None:
    with findings.rule("cards-work"):
        _run(_card_battery, patched, findings, rng)


# -- trusting-input --------------------------------------------------------------------------
INPUT_RULES = (
    Rule(
        "exact-match",
        "Find exactly the users whose email equals the input (=, never LIKE): alice's email "
        "finds alice only, and '%' or '_' are characters of an email that match nobody.",
    ),
    Rule(
        "parameterized",
        "Send the email as a parameter (db.execute(sql, (email,))): none of 07's lookup "
        "payloads (quotes, UNION SELECT, tautologies, comments) finds or changes anything, "
        "and no input — a NUL byte included — makes the lookup fail.",
    ),
    Rule(
        "quotes-are-data",
        "Treat an apostrophe as data: an email like o'brien@example.com is answered 200 and "
        "finds that customer once registered.",
    ),
)


def _register(client: httpx.Client, email: str) -> bool:
    response = client.post(
        "/api/auth/register", json={"email": email, "password": secrets.token_urlsafe(16)}
    )
    return response.status_code == 201


def _lookup_battery(client: httpx.Client, f: Findings, rng: random.Random) -> None:
    """07's lookup payloads (judged by 07's ``replay``), then legitimate lookups, generated
    quoted emails and wildcard probes."""
    client.headers.update(_login(client, "bob"))
    exact = lookup(client, ALICE)
    if not f.expect(
        exact.status_code == 200,
        f"looking up {ALICE} got {exact.status_code}{fault(exact)}",
        rule="exact-match",
    ):
        return  # a lookup that always fails would "refuse" every payload too
    found = [o for o in replay_all(client, LOOKUP_PAYLOADS) if o.found]
    for outcome in found[:LISTED]:
        f.fail(
            f"GET {USERS}: {outcome.payload.id} ({outcome.payload.goal}): {outcome.evidence}",
            rule="parameterized",
        )
    if len(found) > LISTED:
        f.fail(f"GET {USERS}: ...and {len(found) - LISTED} more payloads", rule="parameterized")
    if not found:
        f.saw(f"all {len(LOOKUP_PAYLOADS)} lookup payloads of 07 found nothing")
    f.expect(
        any(u["email"] == ALICE for u in _breach(client).get("users", [])),
        "the users table lost its rows during the payloads",
        rule="parameterized",
    )
    nul = lookup(client, f"x{rng.randint(1, 999)}\x00@example.com")
    f.expect(
        nul.status_code == 200 and nul.json().get("users") == [],
        f"an email with a NUL byte got {nul.status_code}{fault(nul)}: SQL text built from "
        "input (even escaped) fails where a parameter does not",
        "an email with a NUL byte: 200, nobody",
        rule="parameterized",
    )
    emails = [u.get("email") for u in exact.json().get("users", [])]
    f.expect(
        emails == [ALICE],
        f"looking up {ALICE} found {emails}: the friend lookup must find exactly that user",
        "an exact email finds exactly that user",
        rule="exact-match",
    )
    wildcards = []
    name = ALICE.split("@")[0]
    spot = rng.randrange(len(name))
    for probe in ("%", name[:spot] + "_" + name[spot + 1 :] + "@example.com",
                  f"%{ALICE[-rng.randint(4, 11):]}", name[: spot + 1] + "%"):  # fmt: skip
        response = lookup(client, probe)
        rows = response.json().get("users") if response.status_code == 200 else None
        if rows is None:
            f.fail(f"looking up {probe!r} got {response.status_code}{fault(response)}",
                   rule="exact-match")  # fmt: skip
        elif rows:
            wildcards.append(f"{probe!r} found {len(rows)}")
    f.expect(
        not wildcards,
        f"{', '.join(wildcards)}: '%' and '_' are characters of an email, not wildcards "
        "(use =, not LIKE)",
        "'%' and '_' are literal characters: they match nobody",
        rule="exact-match",
    )
    quoted = f"o'{rng.choice(['brien', 'neil', 'hara'])}-{secrets.token_hex(3)}@example.com"
    quote = lookup(client, quoted)
    f.expect(
        quote.status_code == 200,
        f"an email with an apostrophe got {quote.status_code}{fault(quote)}: a quote is data",
        "an email with an apostrophe is just an email (200)",
        rule="quotes-are-data",
    )
    if _register(client, quoted):
        again = lookup(client, quoted)
        rows = again.json().get("users", []) if again.status_code == 200 else []
        f.expect(
            [u.get("email") for u in rows] == [quoted],
            f"after {quoted} registered, looking it up found "
            f"{[u.get('email') for u in rows]} ({again.status_code}{fault(again)})",
            "a registered email with an apostrophe finds exactly that customer",
            rule="quotes-are-data",
        )


def replay_trusting_input(patched: Target, findings: Findings, rng: random.Random) -> None:
    with findings.rule("parameterized"):
        _run(_lookup_battery, patched, findings, rng)


# -- eternal-api-key -------------------------------------------------------------------------
def _leaked_key(client: httpx.Client) -> str:
    content = client.get("/api/_lab/old-config").json()["content"]
    return str(content.split("REPORTS_API_KEY=", 1)[1].split()[0])


KEY_RULES = (
    Rule(
        "key-works",
        "Let a live key with the route's scope through (200 reading, 201 writing) — two "
        "live keys of one client side by side during a rotation; no key gets 401 {'error': "
        "'API key required'}, an unknown key 401 {'error': 'Invalid API key'}.",
    ),
    Rule(
        "key-expiry",
        "Refuse a key from its expires_at on (now >= expires_at) with 401 {'error': "
        "'Invalid API key'}, like last year's partner key.",
    ),
    Rule(
        "key-revocation",
        "Refuse a revoked key (revoked_at set) from the moment it is revoked, with the same "
        "401; the client's other live key keeps working.",
    ),
    Rule(
        "key-scopes",
        "Refuse a live key without the route's scope with 403 {'error': 'Insufficient "
        "permissions'}.",
    ),
)


def _new_key(
    client: httpx.Client, auth: dict[str, str], scopes: list[str], **extra: Any
) -> tuple[str, int]:
    response = client.post(KEYS, headers=auth, json={"scopes": scopes, **extra})
    if response.status_code != 201:
        raise AppBroken(f"creating a key got {response.status_code}{fault(response)}")
    body = response.json()
    return str(body["key"]), int(body["id"])


def _read(client: httpx.Client, key: str | None) -> httpx.Response:
    return client.get(REPORTS, headers={API_KEY_HEADER: key} if key is not None else {})


def _write(client: httpx.Client, key: str) -> httpx.Response:
    return client.post(REPORTS, headers={API_KEY_HEADER: key}, json={"title": "by the check"})


def _said(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:60]!r}{fault(response)}"


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _key_battery(client: httpx.Client, f: Findings, rng: random.Random) -> None:
    """05's revocation, expiry, scope and rotation batteries, on the shop's partner API,
    with generated lifetimes and clock jumps."""
    alice, carol = _login(client, "alice"), _login(client, "carol")
    invalid = {"error": "Invalid API key"}
    nothing = _read(client, None)
    f.expect(
        nothing.status_code == 401 and _body(nothing) == {"error": "API key required"},
        f"no key at all got {_said(nothing)}",
        'no key: 401 "API key required"',
        rule="key-works",
    )
    garbage = _read(client, KEY_PREFIX + secrets.token_hex(18))
    f.expect(
        garbage.status_code == 401 and _body(garbage) == invalid,
        f"an unknown key got {_said(garbage)}",
        'an unknown key: 401 "Invalid API key"',
        rule="key-works",
    )
    stale = _read(client, _leaked_key(client))
    f.expect(
        stale.status_code == 401 and _body(stale) == invalid,
        f"last year's expired partner key got {_said(stale)}: check expires_at",
        "last year's expired key: 401",
        rule="key-expiry",
    )
    keys = {
        "read-only": (_new_key(client, carol, [READ])[0], 200, 403),
        "write-only": (_new_key(client, alice, [WRITE])[0], 403, 201),
        "read+write": (_new_key(client, alice, [READ, WRITE])[0], 200, 201),
    }
    for label, (key, read_want, write_want) in keys.items():
        for response, want, verb in (
            (_read(client, key), read_want, "read"),
            (_write(client, key), write_want, "write"),
        ):
            denied = want == 403
            good = response.status_code == want and (
                not denied or _body(response) == {"error": "Insufficient permissions"}
            )
            f.expect(
                good,
                f"a {label} key may {'not ' if denied else ''}{verb}: got {_said(response)}, "
                f"expected {want}",
                rule="key-scopes" if denied else "key-works",
            )
    f.saw("read-only, write-only and read+write keys do exactly their scopes (403 else)")
    days = rng.randint(1, 30)  # the long-lived key lives 90 days
    short, _ = _new_key(client, alice, [READ], expiresInDays=days, name="short-lived")
    lasting, _ = _new_key(client, alice, [READ], expiresInDays=90, name="long-lived")
    first = _read(client, short)
    f.expect(first.status_code == 200, f"a {days}-day key was refused on day one "
             f"({_said(first)})", rule="key-works")  # fmt: skip
    client.post(CLOCK, json={"advanceDays": days - 0.5})
    before = _read(client, short)
    f.expect(before.status_code == 200, f"a {days}-day key was refused half a day before it "
             f"expires ({_said(before)})", rule="key-expiry")  # fmt: skip
    client.post(CLOCK, json={"advanceDays": round(rng.uniform(0.6, 3), 2)})
    late = _read(client, short)
    f.expect(
        late.status_code == 401 and _body(late) == invalid,
        f"a {days}-day key still works after {days} days ({_said(late)}): compare expires_at "
        "with now",
        f"a {days}-day key gets 401 once it expired",
        rule="key-expiry",
    )
    kept_long = _read(client, lasting)
    f.expect(kept_long.status_code == 200, f"a 90-day key stopped working early "
             f"({_said(kept_long)})", rule="key-expiry")  # fmt: skip
    old, old_id = _new_key(client, alice, [READ], name="rotating")
    new, _ = _new_key(client, alice, [READ], name="rotating-next")
    both = (_read(client, old).status_code, _read(client, new).status_code)
    f.expect(both == (200, 200), f"during a rotation the two live keys got {both}",
             "two live keys of one client both work", rule="key-works")  # fmt: skip
    client.delete(f"{KEYS}/{old_id}", headers=alice)
    revoked, kept = _read(client, old), _read(client, new)
    f.expect(
        revoked.status_code == 401 and _body(revoked) == invalid,
        f"a revoked key got {_said(revoked)}: check revoked_at",
        "a revoked key gets 401 at once",
        rule="key-revocation",
    )
    f.expect(kept.status_code == 200, f"revoking the old key stopped the new one "
             f"({_said(kept)})", "the new key keeps working", rule="key-revocation")  # fmt: skip


def replay_eternal_api_key(patched: Target, findings: Findings, rng: random.Random) -> None:
    """05's batteries, adapted to the shop's partner API (its routes are 05's)."""
    with findings.rule("key-works"):
        _run(_key_battery, patched, findings, rng)


ANTI_PATTERNS: tuple[AntiPattern, ...] = (
    AntiPattern(
        id="homemade-crypto",
        avoid="Rolling your own crypto",
        instead="Use established libraries (jose, bcrypt)",
        lab="09-encryption",
        fixes=("encrypt_record", "decrypt_record"),
        replay=replay_homemade_crypto,
        rules=CRYPTO_RULES,
        title="Saved cards: AES-256-GCM from a library, not a home-made cipher",
        hints=(
            "Where does the shop encrypt something you choose? Save a card whose number you "
            "know (4242 4242 4242 4242 is a test card).",
            "The breach (/api/_lab/breach) shows every stored card. Is the number XOR-ed with "
            "the same keystream each time?",
            "labkit.attacks.crypto.recover_with_known_plaintext(alice_ct, your_ct, your_number, "
            "tag=0) — then mark the route that stored your card.",
        ),
        fix_hints=(
            "Your encrypt_record/decrypt_record from 09 plug in unchanged: the shop calls them "
            "with record_id 'card:<id>'.",
            "AESGCM(key).encrypt(os.urandom(12), plaintext, aad) with aad naming the record "
            "id and key id; store keyId, nonce and ciphertext as base64 text.",
            "decrypt_record: keyring.get(stored['keyId']), catch InvalidTag → return None.",
        ),
    ),
    AntiPattern(
        id="trusting-input",
        avoid="Trusting user input",
        instead="Validate with zod/joi, parameterized queries",
        lab="07-injection",
        fixes=("find_users",),
        replay=replay_trusting_input,
        rules=INPUT_RULES,
        title="The friend lookup: a parameterized query",
        hints=(
            "Which route takes an email in its query string? Log in first: "
            "lab.client.headers['Authorization'] = 'Bearer ' + token.",
            "A lone quote in ?email= — does the shop answer 500 with SQLite's message?",
            "injection.column_count(lab.client), then injection.union_read(lab.client, "
            "'SELECT id, email, role, password_hash, ... FROM users').",
        ),
        fix_hints=(
            "Your find_users from 07 plugs in unchanged: db has a users table with 07's "
            "columns (id, email, name, age, role...).",
            "db.execute('SELECT id, email, name, age, role FROM users WHERE email = ?', "
            "(email,)).fetchall()",
            "No LIKE (a '%' would list everyone), no blocklists, no escaping by hand.",
        ),
    ),
    AntiPattern(
        id="eternal-api-key",
        avoid="Same API key forever",
        instead="Rotate keys regularly, support multiple active",
        lab="05-api-keys",
        fixes=("authenticate",),
        replay=replay_eternal_api_key,
        rules=KEY_RULES,
        title="The partner API: keys expire, revoked keys stop, scopes hold",
        hints=(
            "A partner's integration log from last year sits on a shared drive: "
            "lab.client.get('/api/_lab/old-config').json()['content'].",
            "Its REPORTS_API_KEY expired long ago. Send it as X-API-Key.",
            "Mark the route it still opens.",
        ),
        fix_hints=(
            "Your authenticate from 05 plugs in unchanged (same find_key and row).",
            "Usable only when record.revoked_at is None and now < record.expires_at "
            "(no expiry = not usable); 401 'Invalid API key' otherwise.",
            "scope not in record.scopes → (403, {'error': 'Insufficient permissions'}).",
        ),
    ),
)
