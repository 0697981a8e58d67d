"""Checks for BrokenShop's accounts: fast password hashes, login enumeration, no auth limits.

Each locate runs its exploit at the marked route of the vulnerable shop; each replay runs the
battery of the lab that taught the row (01-passwords, 11-rate-limiting) against a patched shop,
reusing that lab's battery functions and :mod:`labkit.attacks` wherever the shop honours the
lab's route contract, and adapting them (said where) where it does not.

One rule runs through all of them: every request of these checks leaves from a fresh loopback
address of its own (``127.x.y.z``; Linux routes all of 127/8 to the loopback). A patched shop
may limit failed logins and sign-ups per client address, and the other parts' checks talk to the
same shop from 127.0.0.1: no battery here may spend their quota, nor inherit a spent one.
"""

from __future__ import annotations

import secrets
from statistics import median
from typing import Any

import httpx

from labkit.attacks.bruteforce import brute_force, case_variants
from labkit.attacks.cracking import crack_unsalted, equal_hash_groups, identify_hash
from labkit.attacks.timing import time_logins
from labkit.exercises.capstone.antipattern import AntiPattern, fault
from labkit.exercises.check import Findings, Target, Verdict
from labkit.exercises.labs.passwords import (
    TIMING_FLOOR_MS,
    TIMING_MAX_RATIO,
    _comparable,
    _email,
    _hashing_battery,
    _passphrase,
    hash_meets_owasp,
)
from labkit.exercises.labs.ratelimit import BUDGET, EXTRA, _refused_in_budget, _statuses
from labkit.patterns.ratelimit import LOGIN
from labkit.sandbox.apps.shop.accounts import (
    LEAKED_PASSWORD_POOL,
    LOGIN_REFUSED,
    REGISTER,
    WEAK_CUSTOMER,
    WEAK_POOL,
)
from labkit.sandbox.apps.shop.core import LAB_ROUTES
from labkit.wordlists import common_passwords

__all__ = ["ANTI_PATTERNS", "fresh_client"]

REGISTER_PATH, LOGIN_PATH = "/api/auth/register", "/api/auth/login"
BREACH, NEW_USER, ACCOUNTS = "/api/_lab/breach", "/api/_lab/users", "/api/_lab/accounts"
WRONG = "Wrong-passw0rd-guess!"  # a deliberately wrong guess
#: Enumeration timing: groups of rounds, each group from its own address and against its own
#: account, so that no key ever reaches the login quota (5 failures) while the clock runs.
TIMING_GROUPS, TIMING_ROUNDS_PER_GROUP = 6, 2


# -- plumbing ------------------------------------------------------------------------------
def _fresh_address() -> str:
    """A loopback address no other check uses (never 127.0.0.1, nor the proxy's 127.0.0.2)."""
    return (
        f"127.{secrets.randbelow(200) + 40}.{secrets.randbelow(256)}.{secrets.randbelow(250) + 2}"
    )


def fresh_client(target: Target, **kwargs: Any) -> httpx.Client:
    """A client of ``target`` (lab CA trusted, as ``Target.client``) from a fresh address."""
    transport = httpx.HTTPTransport(local_address=_fresh_address(), verify=target.verify())
    return target.client(transport=transport, **kwargs)


def _lab_route(path: str) -> Verdict | None:
    if path.startswith(LAB_ROUTES):
        return Verdict(False, f"{path} is a lab-only route, not part of the shop: mark a real one")
    return None


def _send(client: httpx.Client, method: str, path: str, payload: dict[str, str]) -> httpx.Response:
    if method == "GET":
        return client.get(path, params=payload)
    return client.request(method, path, json=payload)


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(LOGIN_PATH, json={"email": email, "password": password})


def _breach_users(client: httpx.Client) -> dict[str, str]:
    """``{email: password_hash}`` from the stolen database (table ``users``)."""
    rows = client.get(BREACH).json().get("users", [])
    return {r["email"]: str(r.get("password_hash", "")) for r in rows if "email" in r}


def _new_account(client: httpx.Client, findings: Findings) -> tuple[str, str] | None:
    """A fresh customer (lab-only route, never limited), or None with the problem recorded."""
    response = client.post(NEW_USER)
    if not findings.expect(
        response.status_code == 201,
        f"could not create a test account ({response.status_code}){fault(response)}",
    ):
        return None
    account = response.json()
    return account["email"], account["password"]


def _said(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:70]!r}"


# -- fast-password-hash (01) -----------------------------------------------------------------
def _locate_fast_hash(target: Target, method: str, path: str) -> Verdict:
    """Sign up twice with one wordlist password at the route, then crack the breach's rows."""
    if (refused := _lab_route(path)) is not None:
        return refused
    password = secrets.choice(common_passwords(LEAKED_PASSWORD_POOL)[100:])
    emails = [_email("audit-a"), _email("audit-b")]
    with fresh_client(target) as client:
        sent = [_send(client, method, path, {"email": e, "password": password}) for e in emails]
        rows = _breach_users(client)
    stored = {e: rows[e] for e in emails if e in rows}
    if not stored:
        return Verdict(
            False,
            f"{method} {path} stored no account (answered {_statuses(sent)}): "
            "passwords are not stored there",
        )
    cracked = crack_unsalted(stored, common_passwords(LEAKED_PASSWORD_POOL))
    scheme = identify_hash(next(iter(stored.values()))).scheme
    if not cracked:
        return Verdict(
            False,
            f"the {scheme} hash {method} {path} stored did not fall to the wordlist: "
            "passwords are not stored with a fast hash there",
        )
    same = any(set(emails) <= set(group) for group in equal_hash_groups(stored))
    return Verdict(
        True,
        f"signed up with {password!r}: its {scheme} hash in the breach cracked at once",
        (
            f"{len(cracked)} of {len(stored)} rows cracked by one lookup table (no salt, no work)",
            "two accounts with the same password have the same hash"
            if same
            else "equal passwords give different hashes",
        ),
    )


def _crack_battery(client: httpx.Client, findings: Findings) -> None:
    """01's crack-leak, on the rows of two sign-ups with one common password: it must fail."""
    password = secrets.choice(common_passwords(LEAKED_PASSWORD_POOL)[:200])
    emails = [_email("common-a"), _email("common-b")]
    for email in emails:
        response = client.post(REGISTER_PATH, json={"email": email, "password": password})
        if not findings.expect(
            response.status_code == 201,
            f"signing up with a common password got {response.status_code}{fault(response)}",
        ):
            return
    rows = _breach_users(client)
    stored = {e: rows.get(e, "") for e in emails}
    cracked = crack_unsalted(stored, common_passwords(LEAKED_PASSWORD_POOL))
    findings.expect(
        not cracked,
        f"the breach's row for a new account fell to a wordlist ({password!r}): "
        "the hash is still fast and unsalted",
        "a new account's row did not fall to crack_unsalted",
    )
    findings.expect(
        not equal_hash_groups(stored),
        "two accounts with the same password have the same hash: add a random salt",
    )


def _seeded_logins(client: httpx.Client, findings: Findings) -> None:
    """The staff (legacy hashes until they log in) still log in with their passwords."""
    refused = []
    for account in client.get(ACCOUNTS).json():
        response = _login(client, account["email"], account["password"])
        if response.status_code != 200:
            refused.append(f"{account['email']} ({response.status_code}){fault(response)}")
    findings.expect(
        not refused,
        f"seeded accounts cannot log in: {'; '.join(refused)} — verify_password must still "
        "accept their legacy MD5 rows",
        "the seeded staff still log in",
    )


def _replay_fast_hash(patched: Target, findings: Findings) -> None:
    """01's hashing battery as it is (salted, slow, long passwords, legacy upgrade at login),
    01's crack on new rows, and the seeded accounts' logins."""
    with fresh_client(patched) as client:
        _hashing_battery(client, findings)
    with fresh_client(patched) as client:
        _crack_battery(client, findings)
        _seeded_logins(client, findings)


# -- login-enumeration (01) ------------------------------------------------------------------
def _locate_enumeration(target: Target, method: str, path: str) -> Verdict:
    """An unknown email and a known one with a wrong password: do the answers differ?"""
    if (refused := _lab_route(path)) is not None:
        return refused
    with fresh_client(target) as client:
        unknown = _send(client, method, path, {"email": _email("nobody"), "password": WRONG})
        known = _send(client, method, path, {"email": "alice@example.com", "password": WRONG})
    if unknown.status_code < 400 or known.status_code < 400:
        return Verdict(
            False,
            f"{method} {path} does not refuse a wrong password (unknown email → "
            f"{unknown.status_code}, alice → {known.status_code}): it is not a login",
            ("a sign-up saying 'Email already registered' is not this row: the OWASP "
             "Authentication Cheat Sheet accepts it behind a rate limit",),
        )  # fmt: skip
    if (unknown.status_code, unknown.content) == (known.status_code, known.content):
        return Verdict(
            False,
            f"{method} {path} answers the same to an unknown email and to a wrong password "
            f"({_said(unknown)})",
        )
    return Verdict(
        True,
        "the answer tells who has an account",
        (f"unknown email → {_said(unknown)}", f"alice, wrong password → {_said(known)}"),
    )


def _timing(patched: Target, findings: Findings) -> None:
    """01's timing comparison (same rounds interleaved, same medians and tolerance), spread
    over fresh addresses and accounts: 01 sends 24 failures from one client against one
    account, which a rate-limited shop refuses after 5."""
    samples: dict[str, list[float]] = {"unknown user": [], "wrong password": []}
    for _ in range(TIMING_GROUPS):
        with fresh_client(patched) as client:
            account = _new_account(client, findings)
            if account is None:
                return
            client.get(ACCOUNTS)  # open the connection before the clock runs
            attempts = {"unknown user": (_email("nobody"), WRONG),
                        "wrong password": (account[0], WRONG)}  # fmt: skip
            for label, times in time_logins(
                client, attempts, rounds=TIMING_ROUNDS_PER_GROUP
            ).items():
                samples[label].extend(times)
    known, unknown = median(samples["wrong password"]), median(samples["unknown user"])
    ratio = max(known, unknown) / max(min(known, unknown), 0.001)
    findings.expect(
        abs(known - unknown) <= TIMING_FLOOR_MS or ratio <= TIMING_MAX_RATIO,
        f"median login time: unknown user {unknown:.1f} ms vs wrong password {known:.1f} ms "
        f"({ratio:.1f}x) — verify a dummy hash for unknown users",
        f"median times {unknown:.1f} ms vs {known:.1f} ms ({ratio:.1f}x, at most "
        f"{TIMING_MAX_RATIO:g}x allowed)",
    )


def _replay_enumeration(patched: Target, findings: Findings) -> None:
    """01's enumeration battery, adapted: the same identical-401 comparison (01's
    ``_comparable``), and 01's timing test only once the shop stores slow hashes (with fast
    ones both failures cost nothing, and a correct dummy-hash login is *slower* for unknown
    users until the hashing row is fixed too), spread over fresh addresses and accounts.

    Sign-up's "Email already registered" is accepted, as in 01 (OWASP Authentication Cheat
    Sheet: acceptable when sign-up is rate limited).
    """
    email, password = _email("victim"), _passphrase()
    with fresh_client(patched) as client:
        created = client.post(REGISTER_PATH, json={"email": email, "password": password})
        if not findings.expect(
            created.status_code == 201,
            f"could not register a test account ({created.status_code}){fault(created)}",
        ):
            return
        ok = _login(client, email, password)
        if not findings.expect(
            ok.status_code == 200,
            f"the right password was refused ({_said(ok)}){fault(ok)}",
            "the right password still logs in",
        ):
            return
        first, second = _login(client, _email("nobody"), WRONG), _login(client, email, WRONG)
        stored = _breach_users(client).get(email, "")
    findings.expect(
        first.status_code == 401 and _comparable(first) == _comparable(second),
        f"unknown user -> {_said(first)}{fault(first)}; wrong password -> {_said(second)}: "
        "the responses must be identical 401s",
        "unknown user and wrong password get identical 401 responses",
    )
    if hash_meets_owasp(identify_hash(stored)):
        _timing(patched, findings)
    else:
        findings.saw(
            "timing not compared: passwords are still stored with a fast hash "
            "(fast-password-hash); once they are not, unknown users must cost a hash too"
        )


# -- no-auth-rate-limit (11) -----------------------------------------------------------------
def _locate_no_limit(target: Target, method: str, path: str) -> Verdict:
    """11's brute force (labkit.attacks.bruteforce) of dana's password, sent to the route."""
    if (refused := _lab_route(path)) is not None:
        return refused

    def to_the_mark(request: httpx.Request) -> None:
        request.method = method
        request.url = request.url.copy_with(path=path)

    words = common_passwords(WEAK_POOL[1])
    with fresh_client(target, event_hooks={"request": [to_the_mark]}) as client:
        result = brute_force(client, WEAK_CUSTOMER, words)
    tried = ", ".join(f"{code}×{n}" for code, n in sorted(result.statuses.items()))
    if result.password is not None:
        return Verdict(
            True,
            f"{WEAK_CUSTOMER}'s password {result.password!r} found after {result.attempts} "
            "guesses, none refused",
            (f"statuses: {tried}: nobody counted the failures",),
        )
    if result.blocked:
        return Verdict(
            False,
            f"{method} {path} refused the guessing with 429 after {result.attempts} attempts: "
            "it is limited",
        )
    return Verdict(
        False,
        f"{result.attempts} guesses at {method} {path} logged nobody in ({tried}): "
        "it is not where the shop logs customers in",
    )


def _guesses(password: str) -> list[str]:
    """11's guess list: wrong guesses, and the right password just past the budget."""
    guesses = [f"guess-{n}" for n in range(BUDGET + EXTRA)]
    guesses[BUDGET] = password
    return guesses


def _legitimate(patched: Target, findings: Findings) -> bool:
    """11's legitimate battery: a customer who mistypes twice still logs in."""
    with fresh_client(patched) as client:
        account = _new_account(client, findings)
        if account is None:
            return False
        email, password = account
        tries = [_login(client, email, password + "?") for _ in range(2)]
        tries.append(_login(client, email, password))
    return findings.expect(
        tries[-1].status_code == 200,
        f"a customer who mistyped twice could not log in (statuses: {_statuses(tries)})"
        f"{fault(tries[-1])}",
        "a customer who mistyped twice still logs in",
    )


def _one_address(patched: Target, findings: Findings) -> None:
    """Brute force from one address (11's attack function), then the refusal itself."""
    with fresh_client(patched) as client:
        account = _new_account(client, findings)
        if account is None:
            return
        result = brute_force(client, account[0], _guesses(account[1]))
        again = _login(client, account[0], account[1])
    if not findings.expect(
        result.password is None and result.blocked and result.attempts <= BUDGET,
        f"brute force from one address: {result!r} — failed logins are not limited",
        f"brute force from one address: refused with 429 after {result.attempts - 1} failures",
    ):
        return
    retry = again.headers.get("retry-after", "")
    findings.expect(
        again.status_code == 429 and again.json() == LOGIN_REFUSED and retry.isdigit(),
        f"once refused, the right password got {_said(again)} (Retry-After {retry!r})",
        f"the refusal is 429 {LOGIN_REFUSED['error']!r} with Retry-After: {retry}",
    )


def _many_addresses(patched: Target, findings: Findings) -> None:
    """11's distributed guessing, from real addresses: only a per-account key stops it."""
    with fresh_client(patched) as client:
        account = _new_account(client, findings)
    if account is None:
        return
    responses = []
    for guess in _guesses(account[1]):
        with fresh_client(patched) as client:
            responses.append(_login(client, account[0], guess))
    _refused_in_budget(
        findings,
        responses,
        "guessing one account from many addresses",
        "guessing one account from many addresses: refused after 5 failures (per-account key)",
    )


def _case_changed(patched: Target, findings: Findings) -> None:
    """11's case battery, each spelling from its own address: still one account."""
    with fresh_client(patched) as client:
        account, other = _new_account(client, findings), _new_account(client, findings)
    if account is None or other is None:
        return
    spellings = case_variants(account[0])
    next(spellings)
    responses = []
    for guess in _guesses(account[1]):
        with fresh_client(patched) as client:
            responses.append(_login(client, next(spellings), guess))
    _refused_in_budget(
        findings,
        responses,
        "case-changed emails (User@Shop.Example)",
        "case-changed emails count against the same account",
    )
    with fresh_client(patched) as client:
        shouted = _login(client, other[0].upper(), other[1])
    findings.expect(
        shouted.status_code == 200,
        f"logging in as {other[0].upper()} with the right password got {_said(shouted)}"
        f"{fault(shouted)}",
        "an email typed in capitals still logs in",
    )


def _stuffing(patched: Target, findings: Findings) -> None:
    """11's credential stuffing from one address: stale pairs first, then working ones."""
    accounts = []
    with fresh_client(patched) as client:
        for _ in range(BUDGET + EXTRA):
            account = _new_account(client, findings)
            if account is None:
                return
            accounts.append(account)
    pairs = [(e, p if n >= LOGIN.quota else p + "-old") for n, (e, p) in enumerate(accounts)]
    with fresh_client(patched) as client:
        responses = [_login(client, e, p) for e, p in pairs]
    _refused_in_budget(
        findings,
        responses,
        "credential stuffing from one address",
        "credential stuffing from one address: refused after 5 failed accounts (per-IP key)",
    )


def _forged_forwarded_for(patched: Target, findings: Findings) -> None:
    """11's X-Forwarded-For rotation: the shop counts the socket's address, whatever it says."""
    with fresh_client(patched) as client:
        account = _new_account(client, findings)
        if account is None:
            return
        result = brute_force(client, account[0], _guesses(account[1]), rotate_ip=True)
    findings.expect(
        result.password is None and result.blocked,
        f"a new X-Forwarded-For per guess: {result!r}",
        "a new X-Forwarded-For per guess buys no attempts",
    )


def _mass_sign_up(patched: Target, findings: Findings) -> None:
    """Sign-ups from one address are limited too (the seed: "login/register")."""
    with fresh_client(patched) as client:
        responses = [
            client.post(REGISTER_PATH, json={"email": _email("bulk"), "password": _passphrase()})
            for _ in range(REGISTER.quota + EXTRA)
        ]
    late = responses[REGISTER.quota :]
    findings.expect(
        all(r.status_code == 429 for r in late),
        f"{len(responses)} sign-ups from one address: those past the {REGISTER.quota}th were "
        f"not all refused (statuses: {_statuses(responses)}){fault(responses[-1])}",
        f"sign-ups from one address: refused after {REGISTER.quota}",
    )


def _not_locked_out(patched: Target, findings: Findings) -> None:
    """After all that, another customer and the seeded staff still log in."""
    with fresh_client(patched) as client:
        account = _new_account(client, findings)
        staff = client.get(ACCOUNTS).json()
    if account is None:
        return
    for email, password in [account, *((s["email"], s["password"]) for s in staff)]:
        with fresh_client(patched) as client:
            response = _login(client, email, password)
        findings.expect(
            response.status_code == 200,
            f"{email} could not log in after the attacks ({_said(response)}){fault(response)}",
        )
    findings.saw("another customer and the seeded staff are not locked out by the attacker")


def _replay_no_limit(patched: Target, findings: Findings) -> None:
    """11's batteries, adapted: the shop believes no X-Forwarded-For (it has no proxy in front
    of it), so "many clients" are real loopback addresses instead of 11's forwarded ones."""
    if not _legitimate(patched, findings):
        return
    for battery in (_one_address, _many_addresses, _case_changed, _stuffing,
                    _forged_forwarded_for, _mass_sign_up, _not_locked_out):  # fmt: skip
        battery(patched, findings)


ANTI_PATTERNS: tuple[AntiPattern, ...] = (
    AntiPattern(
        id="fast-password-hash",
        avoid="MD5/SHA for passwords",
        instead="bcrypt or argon2 with proper cost factor",
        lab="01-passwords",
        fixes=("hash_password", "verify_password", "needs_rehash"),
        locate=_locate_fast_hash,
        replay=_replay_fast_hash,
        title="Store passwords with argon2id (or bcrypt), and upgrade the legacy rows",
        hints=(
            "Sign up with a password from labkit.wordlists.common_passwords(), then look for "
            "your row in lab.client.get('/api/_lab/breach').json()['users'].",
            "labkit.attacks.cracking.crack_unsalted({email: hash}) cracks it if the hash is fast.",
        ),
        fix_hints=(
            "Paste hash_password, verify_password and needs_rehash from 01-passwords.",
            "The seeded accounts are legacy MD5/SHA-256 rows: verify_password must still "
            "accept them (hmac.compare_digest), needs_rehash moves them to argon2id at login.",
        ),
    ),
    AntiPattern(
        id="login-enumeration",
        avoid='"Invalid password" message',
        instead='"Invalid email or password" (no enumeration)',
        lab="01-passwords",
        fixes=("login",),
        locate=_locate_enumeration,
        replay=_replay_enumeration,
        title="One answer for unknown users and wrong passwords",
        hints=(
            "Log in as an email nobody has, then as alice with a wrong password: compare.",
            "labkit.attacks.timing.probe_logins(lab.client, emails) sends one login per email.",
        ),
        fix_hints=(
            "Paste login from 01-passwords: (401, {'error': 'Invalid email or password'}) "
            "for both failures.",
            "An unknown user must cost one hash verification too (a dummy hash), or the "
            "timing tells what the message no longer does.",
        ),
    ),
    AntiPattern(
        id="no-auth-rate-limit",
        avoid="No rate limiting on auth",
        instead="Strict rate limits on login/register",
        lab="11-rate-limiting",
        fixes=("login_keys",),
        locate=_locate_no_limit,
        replay=_replay_no_limit,
        title="Limit failed logins and sign-ups per client address and per account",
        hints=(
            f"One customer, {WEAK_CUSTOMER}, chose one of the 100 most common passwords.",
            "labkit.attacks.bruteforce.brute_force(lab.client, email, "
            "labkit.wordlists.common_passwords(100)) tries them in turn.",
        ),
        fix_hints=(
            "Paste login_keys from 11-rate-limiting: the shop counts failures against each key.",
            "One key for the client IP (stops stuffing), one for the account, case-folded "
            "(stops guessing from many addresses and User@Shop.Example).",
        ),
    ),
)
