"""01-passwords: crack a leak, enumerate users, abuse bcrypt's 72 bytes — then fix it all.

Every check here works over HTTP. What a breach would expose comes from the lab-only route
``/api/_lab/dump``; everything else is the public register/login API.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Callable

import httpx

from labkit.attacks.cracking import HashInfo, guess_rate, identify_hash
from labkit.exercises.check import CheckContext, Findings, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule
from labkit.wordlists import common_passwords

__all__ = ["LAB", "OWASP_ARGON2ID", "hash_meets_owasp"]

LAB = LabDefinition("01-passwords", "01 · Passwords", "labkit.sandbox.apps.passwords")

REGISTER, LOGIN, DUMP = "/api/auth/register", "/api/auth/login", "/api/_lab/dump"

#: OWASP Password Storage Cheat Sheet: equivalent argon2id settings, (memory KiB, iterations).
OWASP_ARGON2ID = ((47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5))
OWASP_BCRYPT_MIN_COST = 10
#: Two login populations leak when one median is more than this many times the other (a
#: missing dummy hash makes it 10x or more) and they differ by more than the floor. A ratio,
#: not a difference, so a busy machine slowing both populations does not fail a real fix.
TIMING_MAX_RATIO = 2.0
TIMING_FLOOR_MS = 5.0
TIMING_ROUNDS = 12


# -- helpers the checks share ------------------------------------------------------------
def hash_meets_owasp(info: HashInfo) -> bool:
    """True for argon2id at or above an OWASP setting, or bcrypt cost >= 10."""
    if info.scheme == "argon2id":
        m, t = info.params.get("m", 0), info.params.get("t", 0)
        return any(m >= need_m and t >= need_t for need_m, need_t in OWASP_ARGON2ID)
    return info.scheme == "bcrypt" and info.params.get("cost", 0) >= OWASP_BCRYPT_MIN_COST


def _email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@checks.example"


def _passphrase() -> str:
    """A strong password that every policy in this lab accepts (good or bad policy)."""
    return f"Lab-{secrets.token_hex(6)} Tulip{secrets.randbelow(90) + 10}!"


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
        "leak = lab.client.get('/api/_lab/dump').json()['users'] is what the breach exposed.",
        "labkit.attacks.cracking.crack_unsalted({email: hash}) tries the shipped wordlist.",
        "Hand in a dict {email: password}; the check logs in with each pair.",
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
        "candidates = lab.client.get('/api/_lab/candidates').json()",
        "labkit.attacks.timing.probe_logins(lab.client, candidates) returns each (status, body).",
        "The error message differs for accounts that exist. Hand in the list of those emails.",
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


@LAB.check(
    "bcrypt-72",
    title="Log in with a different password (bcrypt's 72-byte limit)",
    kind="attack",
    hints=(
        "Register an account with a password longer than 72 bytes.",
        "bcrypt only ever sees the first 72 bytes: change what comes after them.",
        "Hand in (email, password_you_registered, other_password).",
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
        "m=47104 KiB with t=1, ...) or bcrypt with cost 10 or more.",
    ),
    Rule("verifies", "Log in with the right password; refuse a wrong one (False, never raise)."),
    Rule(
        "long-passwords",
        "Tell apart passwords that differ only after byte 72 (pre-hash for bcrypt), or refuse "
        "them by policy with a 400; never a 500.",
    ),
    Rule("legacy-login", "Still log in accounts stored as legacy unsalted MD5 (32 hex digits)."),
    Rule(
        "upgrade-at-login",
        "Replace a legacy hash with your own at the first successful login (needs_rehash).",
    ),
)


def _hashing_battery(client: httpx.Client, findings: Findings) -> None:
    password = _passphrase()
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
    if hash_meets_owasp(info):
        rate = guess_rate(
            info.scheme,
            seconds=0.2,
            bcrypt_cost=info.params.get("cost", 12),
            argon2_params=(info.params.get("t", 2), info.params.get("m", 19456), 1),
        )
        findings.saw(f"an attacker now gets ~{rate:,.0f} guesses/s per core (MD5: millions)")
    ok = _login(client, first, password)
    findings.expect(
        ok.status_code == 200,
        f"the right password was refused ({ok.status_code}){_fault(ok)}",
        "the right password logs in",
        rule="verifies",
    )
    for wrong in _near_misses(password):
        bad = _login(client, first, wrong)
        if not findings.expect(
            bad.status_code == 401,
            f"the wrong password {wrong!r} got {bad.status_code}{_fault(bad)}",
            rule="verifies",
        ):
            break
    else:
        findings.saw("wrong passwords (one character off, a prefix, a case change) are refused")
    with findings.rule("long-passwords"):
        _long_password_battery(client, findings)
    _legacy_upgrade_battery(client, findings)


def _near_misses(password: str) -> list[str]:
    """Wrong passwords a sloppy comparison lets through: a prefix, one more character, a
    case change, one character changed, empty."""
    return [password + "x", password[:-1], password.swapcase(), "x" + password[1:], ""]


def _long_password_battery(client: httpx.Client, findings: Findings) -> None:
    email = _email("long")
    base = "🔐 A long passphrase, 1 that keeps going and going past seventy-two bytes "
    password, other = base + "— ending one", base + "— ending two"
    response = _register(client, email, password)
    if response.status_code == 400:
        findings.saw("a >72-byte password is rejected by policy (allowed; never a 500)")
        return
    if not findings.expect(
        response.status_code == 201,
        f"registering a {len(password.encode())}-byte password got {response.status_code}"
        f"{_fault(response)}",
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


def _legacy_upgrade_battery(client: httpx.Client, findings: Findings) -> None:
    email, password = _email("legacy"), _passphrase()
    client.post("/api/_lab/legacy-user", json={"email": email, "password": password})
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
        _hashing_battery(client, findings)
    return findings.verdict("passwords are stored safely", "password storage is not safe yet")


POLICY_REJECT = {
    "11 characters": "Qm9-vT2#pLx",
    "129 characters": "a long sentence " * 8 + "x",
}
POLICY_ACCEPT = {
    "a passphrase with spaces": "correct horse battery staple",
    "lowercase letters only": "purple monkey dishwasher",
    "12 emoji": "🔐🌈🦄🍕🎸🚀🌊🔥🎈🧩📚🐙",
    "exactly 12 characters": "tulip.violet",
    "exactly 128 characters": "w" * 64 + " " + "v" * 63,
}


def _policy_battery(client: httpx.Client, findings: Findings) -> None:
    common = [p for p in common_passwords() if len(p) >= 12]
    rejects = dict(POLICY_REJECT)
    rejects.update(
        {f"the common password {p!r}": p for p in secrets.SystemRandom().sample(common, 2)}
    )
    for label, password in rejects.items():
        response = _register(client, _email("policy"), password)
        findings.expect(
            response.status_code == 400 and bool(response.json().get("errors")),
            f"{label} was not refused (got {response.status_code}{_fault(response)})",
            f"{label} refused",
        )
    for label, password in POLICY_ACCEPT.items():
        response = _register(client, _email("policy"), password)
        body = response.json() if response.status_code == 400 else {}
        findings.expect(
            response.status_code == 201,
            f"{label} ({password!r}) was refused: {body.get('errors', '')}{_fault(response)}",
            f"{label} accepted",
        )


@LAB.check(
    "policy",
    title="A NIST-style password policy: length and a blocklist, no composition rules",
    kind="fix",
    fixes=("validate_password",),
    hints=(
        "Count characters with len(password): NIST counts each Unicode code point as one.",
        "Minimum 12, maximum 128; no 'must contain a digit' rules (NIST SP 800-63B forbids them).",
        "labkit.wordlists.common_passwords() is a blocklist; compare password.lower().",
    ),
)
def policy(ctx: CheckContext) -> Verdict:
    findings = Findings()
    with ctx.require_patched().client() as client:
        _policy_battery(client, findings)
    return findings.verdict("the policy follows NIST SP 800-63B", "the policy is not right yet")


def _timed(client: httpx.Client, email: str, password: str) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = _login(client, email, password)
    return response, (time.perf_counter() - start) * 1000


def _comparable(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k.lower() != "date")
    return response.status_code, response.content, headers


def _enumeration_battery(client: httpx.Client, findings: Findings) -> None:
    email, password = _email("victim"), _passphrase()
    created = _register(client, email, password)
    if not findings.expect(
        created.status_code == 201,
        f"could not register a test account ({created.status_code}){_fault(created)}",
    ):
        return
    ok = _login(client, email, password)
    if not findings.expect(
        ok.status_code == 200,
        f"the right password was refused ({ok.status_code}){_fault(ok)}",
        "the right password still logs in",
    ):
        return
    unknown, known = _email("nobody"), email
    samples: dict[str, list[float]] = {"unknown user": [], "wrong password": []}
    responses: dict[str, httpx.Response] = {}
    for _ in range(TIMING_ROUNDS):
        for label, who in (("unknown user", unknown), ("wrong password", known)):
            response, ms = _timed(client, who, "Wrong-passw0rd-guess!")
            samples[label].append(ms)
            responses[label] = response
    first, second = responses["unknown user"], responses["wrong password"]
    findings.expect(
        first.status_code == 401 and _comparable(first) == _comparable(second),
        f"unknown user -> {first.status_code} {first.text[:60]!r}{_fault(first)}; wrong password "
        f"-> {second.status_code} {second.text[:60]!r}: the responses must be identical 401s",
        "unknown user and wrong password get identical 401 responses",
    )
    known, unknown_ms = (statistics.median(samples[k]) for k in ("wrong password", "unknown user"))
    ratio = max(known, unknown_ms) / max(min(known, unknown_ms), 0.001)
    alike = abs(known - unknown_ms) <= TIMING_FLOOR_MS or ratio <= TIMING_MAX_RATIO
    findings.expect(
        alike,
        f"median login time: unknown user {unknown_ms:.1f} ms vs wrong password {known:.1f} ms "
        f"({ratio:.1f}x) — verify a dummy hash for unknown users",
        f"median times {unknown_ms:.1f} ms vs {known:.1f} ms ({ratio:.1f}x, at most "
        f"{TIMING_MAX_RATIO:g}x allowed)",
    )


@LAB.check(
    "no-enumeration",
    title="One answer and one timing for unknown users and wrong passwords",
    kind="fix",
    fixes=("login",),
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
        _enumeration_battery(client, findings)
    return findings.verdict(
        "the login no longer tells who has an account", "the login still leaks who has an account"
    )


BATTERIES: dict[str, Callable[[httpx.Client, Findings], None]] = {
    "hash storage": _hashing_battery,
    "password policy": _policy_battery,
    "enumeration": _enumeration_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("hash_password", "verify_password", "needs_rehash", "validate_password", "login"),
    points=2,
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
                battery(client, findings)
    return findings.verdict(
        "every attack fails and legitimate logins work", "some attacks still get through"
    )
