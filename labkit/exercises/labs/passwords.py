"""01-passwords: crack a leak, enumerate users, abuse bcrypt's 72 bytes — then fix it all.

Every check here works over HTTP. What a breach would expose comes from the lab-only route
``/api/_lab/dump``; everything else is the public register/login API.
"""

from __future__ import annotations

import random
import secrets
import statistics
import string
from collections.abc import Callable
from typing import Any

import httpx

from labkit.attacks.cracking import HashInfo, guess_rate, identify_hash
from labkit.exercises.check import CheckContext, Findings, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules
from labkit.wordlists import common_passwords, seed_passwords

__all__ = ["LAB", "OWASP_ARGON2ID", "hash_meets_owasp"]

LAB = LabDefinition("01-passwords", "01 · Passwords", "labkit.sandbox.apps.passwords")

REGISTER, LOGIN, DUMP = "/api/auth/register", "/api/auth/login", "/api/_lab/dump"
LOGIN_COSTS = "/api/_lab/login-costs"

#: OWASP Password Storage Cheat Sheet: equivalent argon2id settings, (memory KiB, iterations).
OWASP_ARGON2ID = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
OWASP_BCRYPT_MIN_COST = 10


# -- helpers the checks share ------------------------------------------------------------
def hash_meets_owasp(info: HashInfo) -> bool:
    """True for argon2id at or above an OWASP setting, or bcrypt cost >= 10."""
    if info.scheme == "argon2id":
        m, t = info.params.get("m", 0), info.params.get("t", 0)
        return any(m >= need_m and t >= need_t for need_m, need_t in OWASP_ARGON2ID)
    return info.scheme == "bcrypt" and info.params.get("cost", 0) >= OWASP_BCRYPT_MIN_COST


def _email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@checks.example"


def _passphrase(rng: random.Random | None = None) -> str:
    """A strong password that every policy in this lab accepts (good or bad policy)."""
    draw = rng or random.Random()  # noqa: S311 - probe inputs, not secrets
    return f"Lab-{draw.getrandbits(48):012x} Tulip{draw.randrange(10, 100)}!"


def _fault(response: httpx.Response) -> str:
    try:
        fault = response.json().get("labkitFault", "")
    except (ValueError, AttributeError):
        return ""
    return f" — {fault}" if fault else ""


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(LOGIN, json={"email": email, "password": password})


def _register(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(REGISTER, json={"email": email, "password": password})


def _dump(client: httpx.Client) -> dict[str, str]:
    return {u["email"]: u["password_hash"] for u in client.get(DUMP).json()["users"]}


# -- attacks -----------------------------------------------------------------------------
@LAB.check(
    "crack-leak",
    title="Crack the leaked MD5 and SHA-256 hashes",
    kind="attack",
    hints=(
        "An unsalted hash of a word is the same for everybody: hash each candidate word once "
        "and look for the result among ALL the leaked hashes (32 hex digits: MD5, 64: SHA-256).",
        "hashlib.md5(word.encode()).hexdigest() and hashlib.sha256(...).hexdigest() for every "
        "word of labkit.wordlists.common_passwords(); a dict {digest: word} makes each lookup "
        "instant. Hand in {email: password}: the check logs in with each pair.",
        "Stuck? labkit.attacks.cracking.crack_unsalted(leak) is the ready-made loop "
        "(crack = cracking.crack_unsalted).",
    ),
    answer_help="a dict {email: password} of accounts you cracked",
)
def crack_leak(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not isinstance(answer, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in answer.items()
    ):
        return Verdict(False, f"expected a dict {{email: password}}, got {type(answer).__name__}")
    with ctx.target.client() as client:
        leak = _dump(client)
        crackable = {e: h for e, h in leak.items() if identify_hash(h).scheme in ("md5", "sha256")}
        if not crackable:
            return Verdict(False, "this app's leak holds no MD5/SHA-256 hashes to crack")
        cracked = {
            email: identify_hash(leak[email]).scheme
            for email, password in answer.items()
            if email in leak and _login(client, email, password).status_code == 200
        }
    wrong = len(answer) - len(cracked)
    schemes = set(cracked.values())
    needed = len(crackable) // 2
    findings = Findings()
    findings.expect(
        len(cracked) >= needed,
        f"you logged in as {len(cracked)} of {len(crackable)} leaked accounts; "
        f"crack at least {needed}",
        f"logged in as {len(cracked)} of {len(crackable)} leaked accounts",
    )
    findings.expect(
        {"md5", "sha256"} <= schemes,
        "crack both kinds of hash: MD5 (32 hex digits) and SHA-256 (64)",
        "both MD5 and SHA-256 fell to a wordlist: fast, unsalted hashes protect nothing",
    )
    if wrong:
        findings.saw(f"{wrong} of your pairs did not log in")
    return findings.verdict("the leak is cracked", "not enough of the leak is cracked yet")


@LAB.check(
    "enumerate-users",
    title="Find which leaked emails have an account, from the login messages",
    kind="attack",
    hints=(
        "A login with a wrong password answers differently for an account that exists: "
        "compare each candidate's answer with the one for an email you made up.",
        "client.post('/api/auth/login', json={'email': email, 'password': 'wrong'}) for each "
        "email; response.status_code and response.json()['error'] are the answer. Hand in the "
        "list of the emails answered unlike the made-up one.",
        "Stuck? labkit.attacks.timing.probe_logins(client, emails) sends them all and returns "
        "{email: (status, body)}.",
    ),
    answer_help="a list of the candidate emails that have an account",
)
def enumerate_users(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not isinstance(answer, (list, set, tuple)) or not all(isinstance(e, str) for e in answer):
        return Verdict(False, f"expected a list of emails, got {type(answer).__name__}")
    with ctx.target.client() as client:
        candidates = client.get("/api/_lab/candidates").json()
        existing = set(candidates) & set(_dump(client))
    claimed = set(answer)
    findings = Findings()
    missed, invented = existing - claimed, claimed - existing
    findings.expect(not missed, f"{len(missed)} existing account(s) missing from your list")
    findings.expect(not invented, f"{len(invented)} email(s) in your list have no account")
    findings.saw(f"all {len(existing)} customers among {len(candidates)} candidates found")
    return findings.verdict(
        "the login told you who has an account", "your list does not match who has an account"
    )


#: A timing oracle is clear when the slower median is at least this many times the faster.
ORACLE_MIN_RATIO = 2.0
ORACLE_MIN_SAMPLES = 5


@LAB.check(
    "timing-oracle",
    title="Tell who has an account by the clock alone",
    kind="attack",
    hints=(
        "A failed login for a real account runs bcrypt (slow); for an unknown email it "
        "returns at once. Time both, many times, interleaved.",
        "start = time.perf_counter(); client.post('/api/auth/login', json=...); "
        "(time.perf_counter() - start) * 1000 is one sample in ms. Hand in "
        "{email: [ms, ...]} for an account that exists and one that does not.",
        "Stuck? labkit.attacks.timing.time_logins(client, {label: (email, password)}, "
        "rounds=10) measures interleaved rounds; timing.summarize(...) gives the medians.",
    ),
    answer_help="a dict {email: [milliseconds, ...]}: an account that exists and one that does not",
)
def timing_oracle(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not (
        isinstance(answer, dict)
        and answer
        and all(
            isinstance(email, str)
            and isinstance(times, (list, tuple))
            and all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in times)
            for email, times in answer.items()
        )
    ):
        return Verdict(
            False, f"expected a dict {{email: [milliseconds, ...]}}, got {_shape(answer)}"
        )
    short = [email for email, times in answer.items() if len(times) < ORACLE_MIN_SAMPLES]
    if len(answer) < 2 or short:
        return Verdict(
            False,
            f"time at least two emails, {ORACLE_MIN_SAMPLES} or more attempts each"
            + (f" ({', '.join(short)} has fewer)" if short else ""),
        )
    with ctx.target.client() as client:
        existing = set(_dump(client))
    medians = {email: statistics.median(times) for email, times in answer.items()}
    real = {e: m for e, m in medians.items() if e in existing}
    unknown = {e: m for e, m in medians.items() if e not in existing}
    if not real or not unknown:
        return Verdict(
            False,
            "time an email that has an account AND one that does not "
            f"({'none' if not real else 'all'} of yours exist)",
        )
    slowest_unknown, fastest_real = max(unknown.values()), min(real.values())
    details = tuple(
        f"{email}: median {value:.1f} ms ({'exists' if email in existing else 'no account'})"
        for email, value in medians.items()
    )
    if fastest_real < ORACLE_MIN_RATIO * max(slowest_unknown, 0.01):
        return Verdict(
            False,
            "your times do not tell them apart: an account that exists must be at least "
            f"{ORACLE_MIN_RATIO:g}x slower (bcrypt) than an unknown email",
            details,
        )
    return Verdict(True, "the clock alone tells who has an account", details)


def _shape(value: Any) -> str:
    return "None" if value is None else type(value).__name__


@LAB.check(
    "bcrypt-72",
    title="Log in with a different password (bcrypt's 72-byte limit)",
    kind="attack",
    hints=(
        "bcrypt only ever sees the first 72 bytes of a password: whatever comes after them "
        "does not count.",
        "Register (POST /api/auth/register) with a password of more than 72 bytes "
        "(len(password.encode())), then log in with password[:72] + 'anything else'.",
        "Hand in (email, password_you_registered, other_password): both must log in. "
        "E.g. p = 'Correct-Horse-Battery-1 ' * 4; (email, p, p[:72] + 'X').",
    ),
    answer_help="a tuple (email, password_a, password_b) with a != b, both logging in",
)
def bcrypt_72(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not (
        isinstance(answer, (tuple, list))
        and len(answer) == 3
        and all(isinstance(x, str) for x in answer)
    ):
        return Verdict(False, "expected a tuple (email, password_a, password_b) of strings")
    email, first, second = answer
    if first == second:
        return Verdict(False, "the two passwords are the same: make them differ")
    with ctx.target.client() as client:
        statuses = [_login(client, email, pw).status_code for pw in (first, second)]
    if statuses != [200, 200]:
        return Verdict(False, "both passwords must log in", (f"login statuses: {statuses}",))
    return Verdict(
        True,
        "two different passwords open the same account",
        (f"they share the first {_common_prefix_bytes(first, second)} bytes",),
    )


def _common_prefix_bytes(a: str, b: str) -> int:
    x, y = a.encode(), b.encode()
    n = 0
    while n < min(len(x), len(y)) and x[n] == y[n]:
        n += 1
    return n


# -- fixes -------------------------------------------------------------------------------
HASHING_RULES = (
    Rule("salted", "Hash the same password differently every time (a random salt per hash)."),
    Rule(
        "slow-hash",
        "Store argon2id at or above one of OWASP's settings (m=19456 KiB with t=2, "
        "m=47104 KiB with t=1, ...) or bcrypt with cost 10 or more. OWASP also lists scrypt "
        "and PBKDF2; this lab accepts argon2id and bcrypt only.",
    ),
    Rule(
        "verifies",
        "Log in with the right password; refuse a wrong one, for new and legacy accounts alike "
        "(False, never raise).",
    ),
    Rule(
        "long-passwords",
        "Tell apart passwords that differ only after byte 72: every password of up to 128 "
        "characters is used whole (with bcrypt, pre-hash it); never a 500.",
    ),
    Rule("legacy-login", "Still log in accounts stored as legacy unsalted MD5 (32 hex digits)."),
    Rule(
        "upgrade-at-login",
        "At the first successful login, replace a legacy MD5 hash, or an argon2id hash with "
        "weaker settings than yours, by your own hash (needs_rehash says True for both).",
    ),
)
#: Weaker argon2id settings than any learner's (the app's ``argon2id-weak`` legacy scheme).
WEAK_ARGON2 = {"m": 8192, "t": 1, "p": 1}


def _hashing_battery(
    client: httpx.Client,
    findings: Findings,
    rng: random.Random | None = None,
    *,
    upgrades: bool = False,
    rate: bool = True,
) -> None:
    """Salt, parameters, right and wrong passwords, long passwords, the legacy upgrade.

    ``upgrades`` adds 01's probes of the upgrade path (wrong passwords on a legacy account,
    weaker argon2id settings); ``rate`` measures an attacker's guess rate for the message.
    """
    rng = rng or random.Random()  # noqa: S311 - probe inputs, not secrets
    password = _passphrase(rng)
    first, second = _email("salt-a"), _email("salt-b")
    for email in (first, second):
        response = _register(client, email, password)
        if not findings.expect(
            response.status_code == 201,
            f"registering a strong password got {response.status_code}{_fault(response)}",
        ):
            return
    leak = _dump(client)
    info = identify_hash(leak[first])
    findings.expect(
        leak[first] != leak[second],
        "the same password gave the same hash twice: add a random salt",
        "same password, different hashes: salted",
        rule="salted",
    )
    findings.expect(
        hash_meets_owasp(info),
        f"stored hash looks like {info.scheme} {info.params or ''}: use argon2id "
        "(m>=19456 KiB, t>=2) or bcrypt (cost>=10)",
        f"stored as {info.scheme} {info.params} (meets OWASP's minimum)",
        rule="slow-hash",
    )
    if rate and hash_meets_owasp(info):
        guesses = guess_rate(
            info.scheme,
            seconds=0.05,
            bcrypt_cost=info.params.get("cost", 12),
            argon2_params=(info.params.get("t", 2), info.params.get("m", 19456), 1),
        )
        findings.saw(f"an attacker now gets ~{guesses:,.0f} guesses/s per core (MD5: millions)")
    ok = _login(client, first, password)
    findings.expect(
        ok.status_code == 200,
        f"the right password was refused ({ok.status_code}){_fault(ok)}",
        "the right password logs in",
        rule="verifies",
    )
    _refuses(client, findings, first, _near_misses(password, rng), "")
    with findings.rule("long-passwords"):
        _long_password_battery(client, findings, rng)
    _legacy_upgrade_battery(client, findings, rng, wrong_first=upgrades)
    if upgrades:
        _weaker_settings_battery(client, findings, rng, info)


def _refuses(
    client: httpx.Client, findings: Findings, email: str, wrongs: list[str], whose: str
) -> None:
    for wrong in wrongs:
        bad = _login(client, email, wrong)
        if not findings.expect(
            bad.status_code == 401,
            f"the wrong password {wrong!r} got {bad.status_code}{_fault(bad)}{whose}",
            rule="verifies",
        ):
            return
    findings.saw(f"wrong passwords ({len(wrongs)} near misses) are refused{whose}")


def _near_misses(password: str, rng: random.Random) -> list[str]:
    """Wrong passwords a sloppy verifier lets through: a case change, one character changed,
    empty (each costs the server one slow hash, so three)."""
    at = rng.randrange(len(password))
    changed = password[:at] + ("x" if password[at] != "x" else "y") + password[at + 1 :]
    return [password.swapcase(), changed, ""]


def _long_password_battery(
    client: httpx.Client, findings: Findings, rng: random.Random | None = None
) -> None:
    rng = rng or random.Random()  # noqa: S311 - probe inputs, not secrets
    email = _email("long")
    base = "🔐 A long passphrase, 1 that keeps going and going past seventy-two bytes "
    tail = f"{rng.randrange(10**6):06d}"
    password, other = f"{base}— ending one {tail}", f"{base}— ending two {tail}"
    response = _register(client, email, password)
    if not findings.expect(
        response.status_code == 201,
        f"registering a {len(password)}-character ({len(password.encode())}-byte) password got "
        f"{response.status_code}{_fault(response)}: up to 128 characters must be accepted",
    ):
        return
    findings.expect(
        _login(client, email, password).status_code == 200,
        "a long password was stored but cannot log in",
        "a long password with emoji logs in",
    )
    findings.expect(
        _login(client, email, other).status_code == 401,
        "a different password sharing the first 72 bytes logs in: input is truncated",
        "passwords differing after byte 72 are told apart",
    )


def _legacy_upgrade_battery(
    client: httpx.Client,
    findings: Findings,
    rng: random.Random | None = None,
    *,
    wrong_first: bool = False,
) -> None:
    rng = rng or random.Random()  # noqa: S311 - probe inputs, not secrets
    email, password = _email("legacy"), _passphrase(rng)
    client.post("/api/_lab/legacy-user", json={"email": email, "password": password})
    if wrong_first:  # MD5 compares are cheap: the legacy branch gets the prefix and the suffix
        _refuses(client, findings, email, [password[:-1], password + "!"], " (legacy MD5)")
    first = _login(client, email, password)
    if not findings.expect(
        first.status_code == 200,
        f"a legacy MD5 account could not log in ({first.status_code}){_fault(first)}: "
        "verify_password must still accept old hashes",
        "a legacy MD5 account still logs in",
        rule="legacy-login",
    ):
        return
    upgraded = identify_hash(_dump(client)[email])
    findings.expect(
        hash_meets_owasp(upgraded),
        f"after login the legacy hash is still {upgraded.scheme}: rehash it (needs_rehash)",
        f"its hash was upgraded to {upgraded.scheme} at login",
        rule="upgrade-at-login",
    )
    again = _login(client, email, password)
    findings.expect(
        again.status_code == 200,
        "after the upgrade the account cannot log in",
        rule="upgrade-at-login",
    )


def _weaker_settings_battery(
    client: httpx.Client, findings: Findings, rng: random.Random, yours: HashInfo
) -> None:
    """An argon2id account below OWASP's settings must be rehashed at login (argon2id only:
    a bcrypt verifier cannot read it)."""
    if yours.scheme != "argon2id":
        findings.saw("weaker-settings upgrade probed for argon2id storage only")
        return
    email, password = _email("weak-argon2"), _passphrase(rng)
    client.post(
        "/api/_lab/legacy-user",
        json={"email": email, "password": password, "scheme": "argon2id-weak"},
    )
    weak = _dump(client)[email]
    response = _login(client, email, password)
    if not findings.expect(
        response.status_code == 200,
        f"an account stored as argon2id m={WEAK_ARGON2['m']}, t={WEAK_ARGON2['t']} could not "
        f"log in ({response.status_code}){_fault(response)}",
        rule="verifies",
    ):
        return
    now = _dump(client)[email]
    upgraded = identify_hash(now)
    findings.expect(
        now != weak and hash_meets_owasp(upgraded),
        f"an argon2id hash with weaker settings (m={WEAK_ARGON2['m']}, t={WEAK_ARGON2['t']}) "
        "was kept after login: needs_rehash must say True for it "
        "(PasswordHasher.check_needs_rehash)",
        f"a weaker argon2id hash was upgraded to {upgraded.params} at login",
        rule="upgrade-at-login",
    )


@LAB.check(
    "hashing",
    title="Store passwords with argon2id (or bcrypt), upgrade legacy hashes at login",
    kind="fix",
    fixes=("hash_password", "verify_password", "needs_rehash"),
    rules=HASHING_RULES,
    hints=(
        "argon2.PasswordHasher() from argon2-cffi hashes with a random salt for you.",
        "verify_password must return False (not raise) for a wrong password, and also "
        "accept the old 32-hex-digit MD5 hashes (compare with hmac.compare_digest).",
        "needs_rehash: True for legacy hex hashes; for argon2 hashes ask "
        "PasswordHasher().check_needs_rehash(stored).",
    ),
)
def hashing(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _hashing_battery(client, findings, ctx.rng, upgrades=True)
    return findings.verdict("passwords are stored safely", "password storage is not safe yet")


POLICY_RULES = (
    Rule(
        "min-length",
        "Refuse a password shorter than 12 characters, counted with len() — one Unicode code "
        "point is one character (11 characters are too short even when they are 30 bytes); "
        "accept exactly 12.",
    ),
    Rule(
        "max-length",
        "Accept every password of up to 128 characters (emoji included, not bytes, not a "
        "64-character cap) and refuse 129 or more.",
    ),
    Rule(
        "blocklist",
        "Refuse every password in labkit.wordlists.common_passwords() — all 30,000 of them, "
        "compared in lower case ('SONNENSCHEIN' is as common as 'sonnenschein').",
    ),
    Rule(
        "no-composition",
        "No composition rules: accept all-lowercase passphrases with spaces, and passwords "
        "made only of emoji or other non-Latin characters (no digit, capital or symbol needed).",
    ),
)
POLICY_MIN, POLICY_MAX = 12, 128
UNPRINTABLE = (
    "mastur",
    "master",
    "bait",
    "lick",
    "suck",
    "anal",
    "nude",
    "naked",
    "pizd",
    "pidor",
    "huy",
    "blya",
)
#: Single code points (no combining marks, no variation selectors), several UTF-8 bytes each.
WIDE_CHARACTERS = "éüßøçñжщλπ中文字日本語한국🔐🌈🦄🍕🎸🚀🌊🔥🎈🧩📚🐙"
ASCII_POOL = string.ascii_letters + string.digits + "!#%&*+-=?@^_~"
WORDS = [
    "tulip",
    "violet",
    "harbor",
    "pencil",
    "comet",
    "marble",
    "quiet",
    "lantern",
    "meadow",
    "copper",
    "walnut",
    "ember",
    "orbit",
    "saddle",
    "prism",
    "juniper",
    "velvet",
    "anchor",
]


def _composed(rng: random.Random, length: int, wide: bool = False) -> str:
    """A random password of exactly ``length`` code points that satisfies every composition
    rule (a capital, a lower-case letter, a digit, a symbol), with wide characters if asked."""
    fixed = [rng.choice(string.ascii_uppercase), rng.choice(string.ascii_lowercase),
             rng.choice(string.digits), rng.choice("!#%&*+-=?@^_~")]  # fmt: skip
    pool = ASCII_POOL + (WIDE_CHARACTERS * 3 if wide else "")
    chars = fixed + [rng.choice(pool) for _ in range(length - len(fixed))]
    if wide:
        chars[-1] = rng.choice(WIDE_CHARACTERS)
    head, tail = chars[:1], chars[1:]
    rng.shuffle(tail)
    return "".join(head + tail)


def _policy_probes(
    rng: random.Random,
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(rule, label, password) to refuse and to accept, generated."""
    blocklist = set(common_passwords())
    # drawn from the whole list (minus words not fit to print in feedback)
    shown = [p for p in seed_passwords(len(blocklist)) if not any(w in p for w in UNPRINTABLE)]
    long_common = [p for p in shown if len(p) >= POLICY_MIN]
    lettered = [p for p in long_common if any(c.isalpha() for c in p)]
    short = _composed(rng, POLICY_MIN - 1, wide=True)
    refuse = [
        ("min-length", f"{len(short)} characters ({len(short.encode())} bytes)", short),
        ("max-length", f"{POLICY_MAX + 1} characters", _composed(rng, POLICY_MAX + 1)),
    ]
    for word in rng.sample(long_common, 3):
        refuse.append(("blocklist", f"the common password {word!r}", word))
    recased = rng.choice([str.upper, str.title, str.swapcase])(rng.choice(lettered))
    refuse.append(("blocklist", f"the common password {recased!r} (another case)", recased))
    phrase = " ".join(rng.sample(WORDS, 4))
    emoji = "".join(rng.choice(WIDE_CHARACTERS) for _ in range(rng.randrange(12, 20)))
    accept = [
        ("min-length", f"exactly {POLICY_MIN} characters", _composed(rng, POLICY_MIN)),
        (
            "max-length",
            f"exactly {POLICY_MAX} characters with emoji",
            _composed(rng, POLICY_MAX, wide=True),
        ),
        ("no-composition", "an all-lowercase passphrase with spaces", phrase),
        ("no-composition", f"{len(emoji)} emoji and non-Latin characters", emoji),
    ]
    accept = [(r, label, p) for r, label, p in accept if p.lower() not in blocklist]
    return refuse, accept


def _policy_battery(
    client: httpx.Client, findings: Findings, rng: random.Random | None = None
) -> None:
    rng = rng or random.Random()  # noqa: S311 - probe inputs, not secrets
    refuse, accept = _policy_probes(rng)
    for rule, label, password in refuse:
        response = _register(client, _email("policy"), password)
        errors = response.json().get("errors") if response.status_code == 400 else None
        findings.expect(
            response.status_code == 400 and bool(errors),
            f"{label} was not refused (got {response.status_code}{_fault(response)})",
            f"{label} refused",
            rule=rule,
        )
    for rule, label, password in accept:
        response = _register(client, _email("policy"), password)
        body = response.json() if response.status_code == 400 else {}
        findings.expect(
            response.status_code == 201,
            f"{label} ({password!r}) was refused: {body.get('errors', '')}{_fault(response)}",
            f"{label} accepted",
            rule=rule,
        )


@LAB.check(
    "policy",
    title="A NIST-style password policy: length and a blocklist, no composition rules",
    kind="fix",
    fixes=("validate_password",),
    rules=POLICY_RULES,
    hints=(
        "Count characters with len(password): NIST counts each Unicode code point as one.",
        "Minimum 12, maximum 128; no 'must contain a digit' rules (NIST SP 800-63B forbids them).",
        "labkit.wordlists.common_passwords() is a blocklist; compare password.lower().",
    ),
)
def policy(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _policy_battery(client, findings, ctx.rng)
    return findings.verdict("the policy follows NIST SP 800-63B", "the policy is not right yet")


ENUMERATION_RULES = (
    Rule(
        "logs-in",
        'Log in the right password with (200, {"email": ..., "role": ...}) — never the '
        "password hash.",
    ),
    Rule(
        "same-answer",
        'Answer an unknown email and a wrong password alike, with exactly (401, {"error": '
        '"Invalid email or password"}).',
    ),
    Rule(
        "same-work",
        "Do the same hashing work for an unknown email as for a wrong password: verify the "
        "password against a dummy hash made once with your own hash_password (not per call, "
        "not a cheaper hash, not a sleep). The check compares the server's CPU time per login.",
    ),
)
LOGIN_REFUSED = {"error": "Invalid email or password"}
#: Two populations of logins leak when one costs the server more than this many times the CPU
#: time of the other (no dummy hash: 100x; a dummy hashed per call: 2x) and more than the floor.
#: CPU time, not the client's clock: a busy machine slows both alike and adds no CPU time.
WORK_MAX_RATIO = 1.5
WORK_FLOOR_MS = 2.0
TIMING_ROUNDS = 5
#: The client-clock thresholds the capstone's timing probe still uses.
TIMING_MAX_RATIO = 2.0
TIMING_FLOOR_MS = 5.0


def _comparable(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k.lower() != "date")
    return response.status_code, response.content, headers


def _wrong_guess(rng: random.Random) -> str:
    return _composed(rng, rng.randrange(POLICY_MIN, 24))


def _enumeration_battery(
    client: httpx.Client, findings: Findings, rng: random.Random | None = None
) -> None:
    rng = rng or random.Random()  # noqa: S311 - probe inputs, not secrets
    email, password = _email("victim"), _passphrase(rng)
    created = _register(client, email, password)
    if not findings.expect(
        created.status_code == 201,
        f"could not register a test account ({created.status_code}){_fault(created)}",
    ):
        return
    ok = _login(client, email, password)
    stored = _dump(client).get(email, "")
    with findings.rule("logs-in"):
        if not findings.expect(
            ok.status_code == 200,
            f"the right password was refused ({ok.status_code}){_fault(ok)}",
            "the right password still logs in",
        ):
            return
        body = ok.json() if ok.headers.get("content-type", "").startswith("application/") else {}
        findings.expect(
            isinstance(body, dict)
            and body.get("email") == email
            and body.get("role") == "customer",
            f"a successful login answered {ok.text[:80]!r}: return {{'email': ..., 'role': ...}}",
        )
        findings.expect(
            not stored or stored not in ok.text,
            "a successful login sends the password hash back: answer email and role only",
        )
    unknown = _email("nobody")
    _login(client, unknown, _wrong_guess(rng))  # warm-up: a dummy hash made on first use
    responses: dict[str, httpx.Response] = {}
    for _ in range(TIMING_ROUNDS):
        for label, who in (("unknown email", unknown), ("wrong password", email)):
            responses[label] = _login(client, who, _wrong_guess(rng))
    first, second = responses["unknown email"], responses["wrong password"]
    alike = first.status_code == 401 and _comparable(first) == _comparable(second)
    exact = first.status_code == 401 and _json(first) == LOGIN_REFUSED
    findings.expect(
        alike and exact,
        f"unknown email -> {first.status_code} {first.text[:60]!r}{_fault(first)}; wrong "
        f"password -> {second.status_code} {second.text[:60]!r}: both must be exactly "
        f"401 {LOGIN_REFUSED}",
        "unknown email and wrong password get identical 401 responses",
        rule="same-answer",
    )
    _judge_work(client, findings, unknown, email)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _judge_work(client: httpx.Client, findings: Findings, unknown: str, known: str) -> None:
    costs = client.get(LOGIN_COSTS).json()
    cpu = {who: [c["cpuMs"] for c in costs if c["email"] == who][-TIMING_ROUNDS:]
           for who in (unknown, known)}  # fmt: skip
    wall = {who: [c["wallMs"] for c in costs if c["email"] == who][-TIMING_ROUNDS:]
            for who in (unknown, known)}  # fmt: skip
    if not all(cpu.values()):
        findings.fail("the app recorded no login costs (this is a bug in the lab)")
        return
    nobody, wrong = statistics.median(cpu[unknown]), statistics.median(cpu[known])
    ratio = max(nobody, wrong) / max(min(nobody, wrong), 0.01)
    alike = abs(nobody - wrong) <= WORK_FLOOR_MS or ratio <= WORK_MAX_RATIO
    walls = (
        f"wall {statistics.median(wall[unknown]):.0f} vs {statistics.median(wall[known]):.0f} ms"
    )
    findings.expect(
        alike,
        f"server CPU per login: unknown email {nobody:.1f} ms vs wrong password {wrong:.1f} ms "
        f"({ratio:.1f}x; {walls}): verify a dummy hash made once with your hash_password",
        f"server CPU per login {nobody:.1f} ms vs {wrong:.1f} ms ({ratio:.1f}x, at most "
        f"{WORK_MAX_RATIO:g}x allowed)",
        rule="same-work",
    )


@LAB.check(
    "no-enumeration",
    title="One answer and one timing for unknown users and wrong passwords",
    kind="fix",
    fixes=("login", "hash_password", "verify_password"),
    rules=ENUMERATION_RULES,
    hints=(
        "Return exactly (401, {'error': 'Invalid email or password'}) for both failures.",
        "An unknown user costs no hashing: that is a timing oracle.",
        "Verify the password against a dummy hash (made once with your hash_password) "
        "when the user does not exist.",
    ),
)
def no_enumeration(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _enumeration_battery(client, findings, ctx.rng)
    return findings.verdict(
        "the login no longer tells who has an account", "the login still leaks who has an account"
    )


def _verify_storage(client: httpx.Client, findings: Findings, rng: random.Random) -> None:
    _hashing_battery(client, findings, rng, upgrades=True, rate=False)


BATTERIES: dict[str, Callable[[httpx.Client, Findings, random.Random], None]] = {
    "hash storage": _verify_storage,
    "password policy": _policy_battery,
    "enumeration": _enumeration_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("hash_password", "verify_password", "needs_rehash", "validate_password", "login"),
    points=2,
    rules=merge_rules(HASHING_RULES, POLICY_RULES, ENUMERATION_RULES),
    hints=(
        "Pass all five of your functions: this is your whole fixed login system.",
        "Each battery names what failed; fix that function and run the cell again.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        for name, battery in BATTERIES.items():
            with findings.section(name):
                battery(client, findings, ctx.rng)
    return findings.verdict(
        "every attack fails and legitimate logins work", "some attacks still get through"
    )
