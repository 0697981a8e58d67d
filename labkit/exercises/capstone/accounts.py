"""Checks for BrokenShop's accounts: fast password hashes, login enumeration, no auth limits.

Each row's replay runs the battery of the lab that taught it (01-passwords, 11-rate-limiting)
against a patched shop, reusing that lab's battery functions and :mod:`labkit.attacks`
wherever the shop honours the lab's route contract, and adapting them (said where) where it
does not.

One rule runs through all of them: every request of these checks leaves from a fresh loopback
address of its own (``127.x.y.z``; Linux routes all of 127/8 to the loopback). A patched shop
may limit failed logins and sign-ups per client address, and the other parts' checks talk to the
same shop from 127.0.0.1: no battery here may spend their quota, nor inherit a spent one.
"""

from __future__ import annotations

import random
import secrets
import string
from statistics import median
from typing import Any

import httpx

from labkit.attacks.bruteforce import brute_force, case_variants
from labkit.attacks.cracking import crack_unsalted, equal_hash_groups, identify_hash
from labkit.exercises.capstone.antipattern import AntiPattern, fault, replay_battery, retag
from labkit.exercises.check import Findings, Target
from labkit.exercises.labs.passwords import (
    TIMING_FLOOR_MS,
    TIMING_MAX_RATIO,
    _email,
    _hashing_battery,
    _passphrase,
    hash_meets_owasp,
)
from labkit.exercises.labs.ratelimit import BUDGET, EXTRA, _refused_in_budget, _statuses
from labkit.exercises.rules import Rule
from labkit.patterns.ratelimit import LOGIN
from labkit.sandbox.apps.shop.accounts import (
    CUSTOMER_DOMAIN,
    LEAKED_PASSWORD_POOL,
    LOGIN_REFUSED,
    REGISTER,
    WEAK_CUSTOMER,
)
from labkit.wordlists import common_passwords

__all__ = ["ANTI_PATTERNS", "fresh_client"]

REGISTER_PATH, LOGIN_PATH = "/api/auth/register", "/api/auth/login"
BREACH, NEW_USER, ACCOUNTS = "/api/_lab/breach", "/api/_lab/users", "/api/_lab/accounts"
COSTS = "/api/_lab/login-costs"
WRONG = "Wrong-passw0rd-guess!"  # a deliberately wrong guess
#: Enumeration timing: groups of rounds, each group from its own address and against its own
#: account, so that no key ever reaches the login quota (5 failures) while the clock runs.
TIMING_GROUPS, TIMING_ROUNDS_PER_GROUP = 4, 2
#: Accounts for the rate-limit probes are legacy MD5 rows: the limits do not depend on the
#: hash, and a learner's slow hash would make every one of the ~40 guesses cost 0.1 s.
CHEAP = "md5"


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


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(LOGIN_PATH, json={"email": email, "password": password})


def _breach_users(client: httpx.Client) -> dict[str, str]:
    """``{email: password_hash}`` from the stolen database (table ``users``)."""
    rows = client.get(BREACH).json().get("users", [])
    return {r["email"]: str(r.get("password_hash", "")) for r in rows if "email" in r}


def _new_account(
    client: httpx.Client, findings: Findings, scheme: str | None = None
) -> tuple[str, str] | None:
    """A fresh customer (lab-only route, never limited), or None with the problem recorded;
    ``scheme="argon2id"``: its row already upgraded to argon2id."""
    response = client.post(NEW_USER, json={"scheme": scheme} if scheme else None)
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
FAST_HASH_RULES = (
    Rule(
        "salted",
        "Hash the same password differently every time (a random salt per hash): two "
        "sign-ups with one common password leave two different rows, and no wordlist "
        "cracks them.",
    ),
    Rule(
        "slow-hash",
        "Store argon2id at or above one of OWASP's settings (m=19456 KiB with t=2, "
        "m=47104 KiB with t=1, ...) or bcrypt with cost 10 or more.",
    ),
    Rule(
        "verifies",
        "Log in with the right password; refuse a wrong one — one character off, a prefix, "
        "another case — by returning False, never by raising.",
    ),
    Rule(
        "long-passwords",
        "Tell apart passwords that differ only after byte 72 (pre-hash for bcrypt), or "
        "refuse them by policy with a 400; never a 500.",
    ),
    Rule(
        "legacy-login",
        "Still log in every legacy row: unsalted MD5 (32 hex digits) and unsalted SHA-256 "
        "(64 hex digits) — the seeded staff and customers.",
    ),
    Rule(
        "upgrade-at-login",
        "Replace a legacy row with your own hash at its first successful login "
        "(needs_rehash is True for MD5, SHA-256 and outdated parameters), and log it in "
        "again afterwards.",
    ),
)
_FAST_HASH_IDS = frozenset(r.id for r in FAST_HASH_RULES)


def _crack_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """01's crack-leak, on the rows of two sign-ups with one common password: it must fail."""
    password = rng.choice(common_passwords(LEAKED_PASSWORD_POOL)[:200])
    emails = [_email("common-a"), _email("common-b")]
    for email in emails:
        response = client.post(REGISTER_PATH, json={"email": email, "password": password})
        if not findings.expect(
            response.status_code == 201,
            f"signing up with a common password got {response.status_code}{fault(response)}",
            rule="verifies",
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
        rule="salted",
    )
    findings.expect(
        not equal_hash_groups(stored),
        "two accounts with the same password have the same hash: add a random salt",
        rule="salted",
    )


def _legacy_battery(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    """Both legacy schemes of the shop (MD5 and SHA-256, generated passwords): a wrong
    password is refused, the right one logs in, the row is upgraded, and logs in again."""
    for scheme, label in (("md5", "MD5"), ("sha256", "SHA-256")):
        email = _email(f"legacy-{scheme}")
        password = "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(10, 24)))
        client.post("/api/_lab/legacy-user",
                    json={"email": email, "password": password, "scheme": scheme})  # fmt: skip
        wrong = _login(client, email, password[:-1] + ("x" if password[-1] != "x" else "y"))
        findings.expect(
            wrong.status_code == 401,
            f"a wrong password for a legacy {label} row got {_said(wrong)}{fault(wrong)}",
            rule="verifies",
        )
        first = _login(client, email, password)
        if not findings.expect(
            first.status_code == 200,
            f"a legacy {label} account could not log in ({_said(first)}){fault(first)}: "
            f"verify_password must still accept unsalted {label} hex digests",
            f"a legacy {label} account still logs in",
            rule="legacy-login",
        ):
            continue
        upgraded = identify_hash(_breach_users(client).get(email, ""))
        findings.expect(
            hash_meets_owasp(upgraded),
            f"after login the legacy {label} row is still {upgraded.scheme}: rehash it "
            "(needs_rehash)",
            f"its {label} row was upgraded to {upgraded.scheme} at login",
            rule="upgrade-at-login",
        )
        again = _login(client, email, password)
        findings.expect(
            again.status_code == 200,
            f"after the upgrade the {label} account cannot log in ({_said(again)})",
            rule="upgrade-at-login",
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
        rule="legacy-login",
    )


def _replay_fast_hash(patched: Target, findings: Findings, rng: random.Random) -> None:
    """01's hashing battery as it is (salted, slow, long passwords, legacy upgrade at login),
    01's crack on new rows, both legacy schemes of the shop, and the seeded accounts."""
    with fresh_client(patched) as client, retag(findings, _FAST_HASH_IDS, "verifies"):
        replay_battery(_hashing_battery, client, findings, rng)
    with fresh_client(patched) as client:
        _crack_battery(client, findings, rng)
        _legacy_battery(client, findings, rng)
        _seeded_logins(client, findings)


# -- login-enumeration (01) ------------------------------------------------------------------
ENUMERATION_RULES = (
    Rule(
        "logs-in",
        "Log in the right password with 200 {'email', 'role'} — legacy rows and rows already "
        "upgraded to argon2id alike — and refuse every wrong one with 401.",
    ),
    Rule(
        "same-answer",
        "Answer an unknown email and a wrong password identically: the same 401 status and "
        "the same JSON body ({'error': 'Invalid email or password'}), whatever the email.",
    ),
    Rule(
        "same-work",
        "Make an unknown email cost one password verification too: verify against a dummy "
        "hash made once with row 2's hash_password. The server's median CPU time for an "
        "unknown email must be at least half that for a wrong password on an argon2id row "
        "(m=19456 KiB, t=2) — and within 2x of it once every row is your own hash (verify).",
    ),
)


def _unknown_emails(rng: random.Random) -> list[str]:
    """Emails nobody has, in the shapes a mailing list holds (generated)."""
    name = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 10)))
    return [f"{name}@{CUSTOMER_DOMAIN}", f"{name}.{rng.randint(1, 99)}@example.com",
            _email("nobody")]  # fmt: skip


def _timing(patched: Target, findings: Findings, scheme: str | None, both_ways: bool) -> None:
    """01's timing comparison, measured where a busy machine cannot blur it: the server's CPU
    time of each login call (``/api/_lab/login-costs``), unknown users against wrong
    passwords, interleaved, spread over fresh addresses and accounts (01 sends 24 failures
    from one client against one account, which a rate-limited shop refuses after 5)."""
    sent: dict[str, str] = {}
    for _ in range(TIMING_GROUPS):
        with fresh_client(patched) as client:
            account = _new_account(client, findings, scheme)
            if account is None:
                return
            for _ in range(TIMING_ROUNDS_PER_GROUP):
                for label, email in (("unknown user", _email("nobody")),
                                     ("wrong password", account[0])):  # fmt: skip
                    _login(client, email, WRONG)
                    sent.setdefault(email, label)
    with fresh_client(patched) as client:
        costs = client.get(COSTS).json()
    samples: dict[str, list[float]] = {"unknown user": [], "wrong password": []}
    for cost in costs:
        label = sent.get(str(cost.get("email")))
        if label is not None:
            samples[label].append(float(cost["cpuMs"]))
    if not findings.expect(
        all(samples.values()), "the shop recorded no login costs", rule="same-work"
    ):
        return
    known, unknown = median(samples["wrong password"]), median(samples["unknown user"])
    ratio = max(known, unknown) / max(min(known, unknown), 0.001)
    # Rows of the learner's own hash: the dummy must cost the same, either way. Rows of a
    # fixed argon2id (row 2 not plugged in): the dummy, made with whatever row 2 uses, must
    # cost at least as much (a slower one is row 2's choice, and its rows will match).
    cheaper = unknown * TIMING_MAX_RATIO < known
    alike = ratio <= TIMING_MAX_RATIO if both_ways else not cheaper
    findings.expect(
        abs(known - unknown) <= TIMING_FLOOR_MS or alike,
        f"median server CPU per login: unknown user {unknown:.1f} ms vs wrong password "
        f"{known:.1f} ms ({ratio:.1f}x) — verify a dummy hash for unknown users",
        f"median server CPU per login {unknown:.1f} ms (unknown user) vs {known:.1f} ms "
        f"(wrong password): {ratio:.1f}x",
        rule="same-work",
    )


def _replay_enumeration(patched: Target, findings: Findings, rng: random.Random) -> None:
    """01's enumeration battery, adapted: the same identical-401 comparison (status and
    body) over generated unknown emails and wrong passwords, and 01's timing test
    against accounts whose rows cost a real verification — the shop's own new rows once they
    are slow hashes, else rows already upgraded to argon2id — spread over fresh addresses.

    Sign-up's "Email already registered" is accepted, as in 01 (OWASP Authentication Cheat
    Sheet: acceptable when sign-up is rate limited).
    """
    email, password = _email("victim"), _passphrase()
    with fresh_client(patched) as client:
        created = client.post(REGISTER_PATH, json={"email": email, "password": password})
        upgraded = _new_account(client, findings, "argon2id")
        if not findings.expect(
            created.status_code == 201 and upgraded is not None,
            f"could not register a test account ({created.status_code}){fault(created)}",
            rule="logs-in",
        ):
            return
        assert upgraded is not None
        for who, secret in ((email, password), upgraded):
            ok = _login(client, who, secret)
            if not findings.expect(
                ok.status_code == 200,
                f"the right password was refused ({_said(ok)}){fault(ok)}",
                rule="logs-in",
            ):
                return
        findings.saw("the right password logs in (a new row and an upgraded argon2id row)")
        wrongs = [_login(client, who, guess) for who, guess in (
            (email, password + rng.choice("!x1")), (upgraded[0], WRONG))]  # fmt: skip
        stored = _breach_users(client).get(email, "")
    with fresh_client(patched) as client:  # another address: no quota shared with the above
        misses = [_login(client, who, WRONG) for who in _unknown_emails(rng)]
    findings.expect(
        all(r.status_code == 401 for r in wrongs),
        f"a wrong password got {', '.join(_said(r) for r in wrongs)}",
        rule="logs-in",
    )
    answers = {(r.status_code, r.content) for r in misses + wrongs}
    findings.expect(
        len(answers) == 1 and misses[0].status_code == 401,
        f"unknown user -> {_said(misses[0])}{fault(misses[0])}; wrong password -> "
        f"{_said(wrongs[0])}: the responses must be identical 401s",
        "unknown users and wrong passwords get identical 401 responses",
        rule="same-answer",
    )
    own = hash_meets_owasp(identify_hash(stored))  # new rows are the learner's slow hash
    _timing(patched, findings, None if own else "argon2id", both_ways=own)


# -- no-auth-rate-limit (11) -----------------------------------------------------------------
def _guesses(password: str) -> list[str]:
    """11's guess list: wrong guesses, and the right password just past the budget."""
    guesses = [f"guess-{n}" for n in range(BUDGET + EXTRA)]
    guesses[BUDGET] = password
    return guesses


def _legitimate(patched: Target, findings: Findings) -> bool:
    """11's legitimate battery: a customer who mistypes twice still logs in."""
    with fresh_client(patched) as client:
        account = _new_account(client, findings, CHEAP)
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
        account = _new_account(client, findings, CHEAP)
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
        account = _new_account(client, findings, CHEAP)
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
        account = _new_account(client, findings, CHEAP)
        other = _new_account(client, findings, CHEAP)
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
            account = _new_account(client, findings, CHEAP)
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
        account = _new_account(client, findings, CHEAP)
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
        account = _new_account(client, findings, CHEAP)
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


LIMIT_RULES = (
    Rule(
        "per-ip",
        "Return a key for the client address (ip): one address trying many accounts "
        f"(credential stuffing) is refused with 429 after {LOGIN.quota} failures, and "
        f"sign-ups from one address past the {REGISTER.quota}th.",
    ),
    Rule(
        "per-account",
        f"Return a key for the account: guessing one account is refused after {LOGIN.quota} "
        "failures, from one address or from many (a botnet), whatever X-Forwarded-For says.",
    ),
    Rule(
        "case-folded",
        "Key the account by its email trimmed and case-folded: Dana@Shop.Example and "
        "dana@shop.example share one quota.",
    ),
    Rule(
        "no-lockout",
        "Keep customers in: one who mistypes twice still logs in, and an attacker's failures "
        "lock out no other customer or staff member (no global key).",
    ),
)
_LIMIT_IDS = frozenset(r.id for r in LIMIT_RULES)


def _replay_no_limit(patched: Target, findings: Findings, rng: random.Random) -> None:
    """11's batteries, adapted: the shop believes no X-Forwarded-For (it has no proxy in front
    of it), so "many clients" are real loopback addresses instead of 11's forwarded ones."""
    with retag(findings, _LIMIT_IDS, "no-lockout"):
        if not _legitimate(patched, findings):
            return
    batteries = [(_one_address, "per-account"), (_many_addresses, "per-account"),
                 (_case_changed, "case-folded"), (_stuffing, "per-ip"),
                 (_forged_forwarded_for, "per-account"), (_mass_sign_up, "per-ip"),
                 (_not_locked_out, "no-lockout")]  # fmt: skip
    for battery, rule in batteries:
        with retag(findings, _LIMIT_IDS, rule):
            battery(patched, findings)


ANTI_PATTERNS: tuple[AntiPattern, ...] = (
    AntiPattern(
        id="fast-password-hash",
        avoid="MD5/SHA for passwords",
        instead="bcrypt or argon2 with proper cost factor",
        lab="01-passwords",
        fixes=("hash_password", "verify_password", "needs_rehash"),
        replay=_replay_fast_hash,
        rules=FAST_HASH_RULES,
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
        replay=_replay_enumeration,
        rules=ENUMERATION_RULES,
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
        replay=_replay_no_limit,
        rules=LIMIT_RULES,
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
