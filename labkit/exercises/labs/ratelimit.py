"""11-rate-limiting: guess a login, stuff credentials, lie about your IP, spell an account
differently, burst at a window boundary — then limit it properly.

Every check works over HTTP. The attack checks judge the vulnerable shop (``ctx.target.url``,
no limiter) and its ``staging`` companion (the team's hot-fix). The fix checks replay the
attacks against the learner's patched app, playing the shop's reverse proxy by connecting from
:data:`~labkit.sandbox.apps.ratelimit.TRUSTED_PROXY` (a second loopback address) so that they
can stand for many clients with ``X-Forwarded-For``, as a real proxy would.

A learner's functions live in the notebook's kernel and cannot be handed to another process,
so shared storage is judged with two *replicas* of the patched shop in this process, each with
a limiter of its own built by ``new_limiter`` from one storage URI (``lab_app.urls["replica"]``):
they must enforce one limit. The notebook demonstrates real processes with the reference app,
and ``tests/test_ratelimit_processes.py`` proves them.

Generated inputs (client addresses, guesses, spellings, forged X-Forwarded-For) come from the
check's seeded ``ctx.rng``; no address is used twice in one run, so no two simulated clients
ever share a quota by chance, and every window is judged on the server's clock.
"""

from __future__ import annotations

import email.utils
import random
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from labkit.attacks.bruteforce import boundary_burst, case_variants, client_from, random_ip
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules
from labkit.patterns.ratelimit import BURST, ITEMS, LOGIN
from labkit.sandbox.apps.ratelimit import TRUSTED_PROXY

__all__ = ["LAB", "parse_policy_field"]

LAB = LabDefinition("11-rate-limiting", "11 · Rate limiting", "labkit.sandbox.apps.ratelimit")

LOGIN_PATH, ITEMS_PATH = "/api/auth/login", "/api/v1/items"
LOGIN_REFUSED = {"error": "Too many login attempts. Try again later."}
#: A fix must refuse by this attempt: the quota, plus one.
BUDGET = LOGIN.quota + 1
EXTRA = 3  # attempts sent beyond the budget, to see whether any of them gets in
BURST_TRIES = 4  # boundary bursts before judging one a busy machine stretched past a window
_ITEM = re.compile(r'\s*(?:"(?P<string>[^"\\]*)"|(?P<token>[A-Za-z*][\w:/!#$%&\'*+.^`|~-]*))')
_PARAM = re.compile(r";\s*(?P<key>[a-z*][a-z0-9_.*-]*)(?:=(?P<value>\"[^\"]*\"|[^;,\s]+))?")


# -- helpers -------------------------------------------------------------------------------
def parse_policy_field(value: str | None) -> dict[str, dict[str, str]]:
    """A RateLimit / RateLimit-Policy field as ``{policy: {param: value}}`` ({} if malformed).

    Enough of RFC 8941 for these fields: a list of items (sf-String or Token) with parameters.
    """
    if not value:
        return {}
    result: dict[str, dict[str, str]] = {}
    for member in value.split(","):
        match = _ITEM.match(member)
        if not match:
            return {}
        name = match.group("string") if match.group("string") is not None else match["token"]
        rest = member[match.end() :].strip()
        params = {}
        while rest:
            found = _PARAM.match(rest)
            if not found:
                return {}
            params[found["key"]] = (found["value"] or "?1").strip('"')
            rest = rest[found.end() :].strip()
        result[name] = params
    return result


def _fault(response: httpx.Response) -> str:
    try:
        fault = response.json().get("labkitFault", "")
    except (ValueError, AttributeError):
        return ""
    return f" — {fault}" if fault else ""


def _login(
    client: httpx.Client, email: str, password: str, forwarded_for: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(LOGIN_PATH, json={"email": email, "password": password}, headers=headers)


def _new_user(client: httpx.Client) -> tuple[str, str]:
    account = client.post("/api/_lab/users").json()
    return account["email"], account["password"]


def _proxy(target: Target) -> httpx.Client:
    """A client playing the shop's reverse proxy (it may speak for many clients)."""
    return client_from(target.url, TRUSTED_PROXY)


def _statuses(responses: list[httpx.Response]) -> str:
    return " ".join(str(r.status_code) for r in responses)


def _refused_in_budget(
    findings: Findings,
    responses: list[httpx.Response],
    attack: str,
    observation: str,
    *,
    rule: str | None = None,
) -> None:
    """Every attempt past the budget must be a 429; none of them may log in."""
    faults = [r for r in responses if r.status_code == 500]
    if faults:
        findings.fail(f"{attack}: the app answered 500{_fault(faults[0])}", rule=rule)
        return
    late = responses[BUDGET - 1 :]
    findings.expect(
        all(r.status_code == 429 for r in late) and not any(r.status_code == 200 for r in late),
        f"{attack}: attempts past the {LOGIN.quota}th were not all refused "
        f"(statuses: {_statuses(responses)})",
        observation,
        rule=rule,
    )


# -- attacks -------------------------------------------------------------------------------
@LAB.check(
    "brute-force",
    title="Brute-force carol's password (the login has no limit)",
    kind="attack",
    hints=(
        "Online guessing: the login itself answers 'right' (200) or 'wrong' (401) for each "
        "word; nothing counts the attempts. Hand in the password that logged in.",
        "for word in words: r = lab.client.post('/api/auth/login', json={'email': "
        "'carol@example.com', 'password': word}); stop when r.status_code == 200.",
        "The ready-made loop: from labkit.attacks import bruteforce; "
        "bruteforce.brute_force(lab.client, 'carol@example.com', words).password",
    ),
    answer_help="carol's password (a str)",
)
def brute_force(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str):
        return Verdict(
            False, f"expected carol's password as a str, got {type(ctx.answer).__name__}"
        )
    with ctx.target.client() as client:
        response = _login(client, "carol@example.com", ctx.answer)
    if response.status_code != 200:
        return Verdict(False, f"that password does not log in as carol ({response.status_code})")
    return Verdict(
        True,
        "carol's password fell to a wordlist",
        ("a few hundred guesses, nobody counted them: the login has no rate limit",),
    )


@LAB.check(
    "credential-stuffing",
    title="Stuff another site's leaked credentials into staging (rotating X-Forwarded-For)",
    kind="attack",
    hints=(
        "From one address the per-IP limit stops you after 5, but staging takes the client's "
        "address from X-Forwarded-For, which anyone can write. Try each leaked pair once and "
        "hand in the list of (email, password) pairs that logged in.",
        "staging.post('/api/auth/login', json={'email': e, 'password': p}, "
        "headers={'X-Forwarded-For': fake_ip()}) for each (e, p) in leak; keep the 200s.",
        "The ready-made loop: from labkit.attacks import bruteforce; "
        "found, statuses = bruteforce.stuff_credentials(staging, leak, rotate_ip=True)",
    ),
    answer_help="a list of (email, password) pairs that log in on staging",
)
def credential_stuffing(ctx: CheckContext) -> Verdict:
    answer = ctx.answer
    if not isinstance(answer, (list, tuple)) or not all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) for x in p)
        for p in answer
    ):
        return Verdict(False, "expected a list of (email, password) pairs")
    staging = Target(ctx.target.urls.get("staging", ctx.target.url))
    with staging.client() as client:
        working = [
            (e, p) for e, p in answer if _login(client, e, p, random_ip()).status_code == 200
        ]
    findings = Findings()
    findings.expect(
        len(working) >= 3,
        f"{len(working)} of your pairs log in on staging; find at least 3 reused passwords",
        f"{len(working)} accounts reuse a password from another site's breach",
    )
    findings.saw("one guess per account: a per-account limit never notices stuffing")
    return findings.verdict("credential stuffing worked", "not enough working credentials")


@LAB.check(
    "case-variants",
    title="Brute-force carol on staging by changing the case of her email",
    kind="attack",
    hints=(
        "Staging counts attempts per account *as typed*, and its login ignores case: "
        "Carol@Example.com is a fresh quota. Hand in carol's staging password (not the one "
        "from the first attack).",
        "In your loop: email = ''.join(c.upper() if random.random() < 0.5 else c for c in "
        "'carol@example.com') for each guess, plus headers={'X-Forwarded-For': fake_ip()}.",
        "The ready-made loop: bruteforce.brute_force(staging, 'carol@example.com', words, "
        "rotate_ip=True, vary_case=True).password",
    ),
    answer_help="carol's password on staging (a str)",
)
def case_variants_check(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str):
        return Verdict(False, f"expected a password str, got {type(ctx.answer).__name__}")
    staging = Target(ctx.target.urls.get("staging", ctx.target.url))
    spellings = case_variants("carol@example.com")
    next(spellings)
    with staging.client() as client:
        response = _login(client, next(spellings), ctx.answer, random_ip())
    if response.status_code != 200:
        return Verdict(False, f"that password does not log in as carol on staging "
                              f"({response.status_code})")  # fmt: skip
    return Verdict(
        True,
        "each spelling of carol's email had a quota of its own",
        ("Carol@Example.com is carol to the login but a new key to the limiter",),
    )


@LAB.check(
    "window-burst",
    title="Get twice the quota through a fixed window's boundary",
    kind="attack",
    hints=(
        "A fixed window forgets its count at the boundary: 10 requests just before it and 10 "
        "just after are 20 within a second. Hand in the API key you used: the check reads "
        "when the server let you through.",
        "staging.get('/api/_lab/burst', headers={'X-API-Key': key}) once, time.sleep(0.5), "
        "9 more; then repeat until one is not 429 (the boundary) and send 9 more at once.",
        "The ready-made burst: bruteforce.boundary_burst(staging, '/api/_lab/burst', "
        "limit=10, window=1, headers={'X-API-Key': key})",
    ),
    answer_help="the API key (str) you sent the burst with",
)
def window_burst(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str):
        return Verdict(False, f"expected your API key as a str, got {type(ctx.answer).__name__}")
    staging = Target(ctx.target.urls.get("staging", ctx.target.url))
    with staging.client() as client:
        log = client.get("/api/_lab/burst-log", params={"api_key": ctx.answer}).json()
    peak = _peak(log.get("allowed", []), float(log.get("window", BURST.window)))
    quota = int(log.get("quota", BURST.quota))
    if peak <= quota:
        return Verdict(
            False,
            f"at most {peak} requests got through in any {BURST.window} s (the quota is {quota})",
            ("spend the quota just before the window ends and again just after",),
        )
    return Verdict(
        True,
        f"{peak} requests in {BURST.window} s through a limit of {quota}",
        ("a fixed window forgets everything at its boundary",),
    )


def _peak(times: list[float], window: float) -> int:
    times = sorted(times)
    best, left = 0, 0
    for right, t in enumerate(times):
        while t - times[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


# -- rules ----------------------------------------------------------------------------------
LEGIT = Rule(
    "legit-login",
    "Keep logins working: a user who mistypes twice and then types the right password "
    "logs in, and so does an email typed in capitals or with spaces around it.",
)
LOGIN_RULES = (
    Rule(
        "per-account",
        f"Count every attempt against the account: at most {LOGIN.quota} per 15 minutes for "
        "one account from any number of addresses (a botnet's 6th guess at carol is a 429).",
    ),
    Rule(
        "per-ip",
        f"Count every attempt against the client IP: at most {LOGIN.quota} per 15 minutes "
        "from one address, whatever accounts it tries (credential stuffing's 6th try is a 429).",
    ),
    Rule(
        "separate-keys",
        "Keep the two kinds of key apart (e.g. `ip:…` and `account:…`): logging in as an "
        "'email' that spells someone's IP address must not spend that address's quota.",
    ),
    LEGIT,
)
CASE_RULES = (
    Rule(
        "account-normalised",
        "Key the account as the login resolves it: the login ignores case and surrounding "
        "whitespace, so `Carol@Example.com` and `  carol@example.com\\t` are carol and share "
        "her quota — `email.strip().casefold()` (or `.lower()`).",
    ),
    LEGIT,
)
PROXY_RULES = (
    Rule(
        "proxy-only",
        "Believe X-Forwarded-For only when the connection comes from a trusted proxy "
        "(`peer in trusted_proxies`); from anyone else the client is the peer.",
    ),
    Rule(
        "rightmost-hop",
        "From a trusted proxy, take the rightmost address that is not a trusted proxy: "
        "entries to its left (and X-Forwarded-For lines sent before the proxy's) are what the "
        "client wrote.",
    ),
    Rule(
        "per-customer",
        "Customers behind the proxy keep a quota each: do not ignore the proxy's header "
        "(every customer would share the proxy's address).",
    ),
)
HEADER_RULES = (
    Rule(
        "policy-field",
        f'Send `RateLimit-Policy: "<name>";q=<quota>;w=<window seconds>` on every limited '
        f'answer: `"{LOGIN.name}";q={LOGIN.quota};w={LOGIN.window}` on the login, '
        f'`"{ITEMS.name}";q={ITEMS.quota};w={ITEMS.window}` on {ITEMS_PATH} '
        "(draft-ietf-httpapi-ratelimit-headers-10).",
    ),
    Rule(
        "remaining-field",
        'Send `RateLimit: "<name>";r=<remaining>;t=<seconds until reset>` — r counts down '
        "with every attempt, t is a delay in seconds (at most the window), never a timestamp.",
    ),
    Rule(
        "retry-after",
        "On a 429, send `Retry-After` (seconds to wait, at least 1, or an HTTP-date) for the "
        "same moment as `t`, with `r=0`.",
    ),
)
WINDOW_RULES = (
    Rule(
        "allows-quota",
        f"Allow the quota: the first {BURST.quota} requests to the burst route "
        f"({BURST.quota} per {BURST.window} s) all pass.",
    ),
    Rule(
        "moving-window",
        f"Never let more than the quota through in any span of the window — a moving window; "
        f"a fixed window lets up to {2 * BURST.quota} through around its boundary.",
    ),
    Rule(
        "shared-storage",
        "Open the storage URI the app hands you (`storage_from_string(storage_uri)`): two "
        "replicas of the shop built from one URI share one count; a `MemoryStorage()` of your "
        "own counts alone.",
    ),
)
ALL_RULES = merge_rules(LOGIN_RULES, CASE_RULES, PROXY_RULES, HEADER_RULES, WINDOW_RULES)


# -- fix batteries --------------------------------------------------------------------------
@dataclass
class Run:
    """One check's run against the patched app: the target, the findings, and generated
    inputs — client addresses that are never the same twice in a run (two simulated clients
    sharing an address would share a quota, and a verdict would depend on luck)."""

    target: Target
    findings: Findings
    rng: random.Random
    _used: set[str] = field(default_factory=set)

    def ip(self) -> str:
        """A fresh documentation address (RFC 5737), unused so far in this run."""
        while True:
            ip = f"{self.rng.choice(_DOC_NETS)}.{self.rng.randint(1, 254)}"
            if ip not in self._used:
                self._used.add(ip)
                return ip

    def users(self, count: int) -> list[tuple[str, str]]:
        with self.target.client() as client:
            return [_new_user(client) for _ in range(count)]


_DOC_NETS = ("192.0.2", "198.51.100", "203.0.113")


def _legitimate_battery(run: Run) -> None:
    """A user who mistypes twice still logs in, and the token works."""
    ((email, password),) = run.users(1)
    with _proxy(run.target) as proxy, run.findings.rule(LEGIT.id):
        home = run.ip()
        first = [_login(proxy, email, password + "?", home) for _ in range(2)]
        ok = _login(proxy, email, password, home)
        if not run.findings.expect(
            ok.status_code == 200 and "accessToken" in ok.text,
            f"a user who mistyped twice could not log in (statuses: "
            f"{_statuses([*first, ok])}){_fault(ok)}",
            "a user who mistyped twice still logs in",
        ):
            return
        me = proxy.get(
            "/api/me",
            headers={
                "Authorization": f"Bearer {ok.json()['accessToken']}",
                "X-Forwarded-For": home,
            },
        )
        run.findings.expect(
            me.status_code == 200, f"GET /api/me with the token got {me.status_code}"
        )


def _guesses(password: str) -> list[str]:
    """Wrong guesses, with the right password just past the budget."""
    guesses = [f"guess-{secrets.token_hex(3)}" for _ in range(BUDGET + EXTRA)]
    guesses[BUDGET] = password
    return guesses


def _distributed_guessing(run: Run) -> None:
    """One account, guesses from many addresses: only a per-account limit stops it."""
    ((email, password),) = run.users(1)
    with _proxy(run.target) as proxy:
        responses = [_login(proxy, email, g, run.ip()) for g in _guesses(password)]
    _refused_in_budget(
        run.findings,
        responses,
        "guessing one account from many addresses",
        f"guessing one account from many addresses: refused after {LOGIN.quota} attempts",
        rule="per-account",
    )


def _stuffing_one_address(run: Run) -> None:
    """Many accounts, one guess each, one address: only a per-IP limit stops it."""
    accounts = run.users(BUDGET + EXTRA)
    attacker = run.ip()
    with _proxy(run.target) as proxy:  # all leaked, all right: a success counts too
        responses = [_login(proxy, e, p, attacker) for e, p in accounts]
    _refused_in_budget(
        run.findings,
        responses,
        "credential stuffing from one address",
        f"credential stuffing from one address: refused after {LOGIN.quota} accounts",
        rule="per-ip",
    )


def _separate_keys(run: Run) -> None:
    """An 'email' spelling a customer's address must not spend that address's quota."""
    ((email, password),) = run.users(1)
    victim, attacker = run.ip(), run.ip()
    with _proxy(run.target) as proxy:
        for _ in range(LOGIN.quota):
            _login(proxy, victim, "guess", attacker)
        ok = _login(proxy, email, password, victim)
    run.findings.expect(
        ok.status_code == 200,
        f"after {LOGIN.quota} logins as the 'email' {victim!r} from another address, the "
        f"customer at {victim} got {ok.status_code} logging in: an IP key and an account key "
        "collide",
        "an email spelling an IP address does not spend that address's quota",
        rule="separate-keys",
    )


def _spellings(run: Run, email: str) -> Iterator[str]:
    """``email`` spelled differently every time: case changed, or padded with whitespace."""
    seen = {email}
    pads = (" ", "  ", "\t", "\n", " \t")
    while True:
        chars = [c.upper() if c.isalpha() and run.rng.random() < 0.5 else c for c in email]
        spelled = "".join(chars)
        if len(seen) % 2:  # every other spelling is padded (the case may stay as it is)
            spelled = run.rng.choice(pads) + spelled + run.rng.choice(("", *pads))
        if spelled not in seen:
            seen.add(spelled)
            yield spelled


def _case_battery(run: Run) -> None:
    """One account spelled differently each time: still one account."""
    ((email, password), (other, secret)) = run.users(2)
    spellings = _spellings(run, email)
    with _proxy(run.target) as proxy:
        responses = [_login(proxy, next(spellings), g, run.ip()) for g in _guesses(password)]
    _refused_in_budget(
        run.findings,
        responses,
        "one account spelled differently each time (Carol@Example.com, ' carol@example.com')",
        "case-changed and padded emails count against the same account",
        rule="account-normalised",
    )
    typed = f" {other.upper()}\t"
    with _proxy(run.target) as proxy:
        shouted = _login(proxy, typed, secret, run.ip())
    run.findings.expect(
        shouted.status_code == 200,
        f"logging in as {typed!r} with the right password got {shouted.status_code}"
        f"{_fault(shouted)}",
        "an email typed in capitals with spaces around it still logs in",
        rule=LEGIT.id,
    )


def _forged(run: Run, real: str) -> dict[str, str] | list[tuple[str, str]]:
    """What the proxy forwards when the client sent a forged X-Forwarded-For: the client's
    entries then the proxy's, in one line or in several lines (the proxy adds its own)."""
    forged = [run.ip() for _ in range(run.rng.randint(1, 3))]
    if run.rng.random() < 0.5:
        return {"X-Forwarded-For": ", ".join([*forged, real])}
    return [*(("X-Forwarded-For", f) for f in forged), ("X-Forwarded-For", real)]


def _spoofing_battery(run: Run) -> None:
    """X-Forwarded-For counts only from the proxy, and only the entry the proxy added."""
    size = BUDGET + EXTRA
    direct, through, legit, chained = (run.users(size) for _ in range(4))
    with run.target.client() as client:  # straight to the app from 127.0.0.1, lying
        responses = [_login(client, e, p + "!", run.ip()) for e, p in direct]
    _refused_in_budget(
        run.findings,
        responses,
        "a new X-Forwarded-For per request, sent straight to the app (not from the proxy)",
        "X-Forwarded-For from a peer that is not the proxy is ignored",
        rule="proxy-only",
    )
    real = run.ip()
    with _proxy(run.target) as proxy:  # through the proxy, which appends the real address
        responses = [
            proxy.post(
                LOGIN_PATH, json={"email": e, "password": p + "!"}, headers=_forged(run, real)
            )
            for e, p in through
        ]
    _refused_in_budget(
        run.findings,
        responses,
        "forged X-Forwarded-For entries passed through the proxy (the proxy's entry is the "
        "rightmost)",
        "through the proxy, only the address the proxy appended counts",
        rule="rightmost-hop",
    )
    with _proxy(run.target) as proxy:  # many real customers behind the same proxy
        responses = [_login(proxy, e, p, run.ip()) for e, p in legit]
        chain = [_login(proxy, e, p, f"{run.ip()}, {TRUSTED_PROXY}") for e, p in chained]
    run.findings.expect(
        all(r.status_code == 200 for r in responses),
        f"{len(legit)} different customers behind the proxy, one login each, got "
        f"{_statuses(responses)}{_fault(responses[-1])}: they share the proxy's quota",
        f"{len(legit)} customers behind the proxy each have their own quota",
        rule="per-customer",
    )
    run.findings.expect(
        all(r.status_code == 200 for r in chain),
        f"{len(chained)} customers through two proxy tiers (X-Forwarded-For: <client>, "
        f"{TRUSTED_PROXY}), one login each, got {_statuses(chain)}: skip trusted proxies "
        "from the right",
        "customers behind two proxy tiers each have their own quota",
        rule="rightmost-hop",
    )


def _retry_seconds(response: httpx.Response) -> int | None:
    """Retry-After as seconds: delay-seconds, or an HTTP-date minus the response's Date."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return int(value)
    try:
        then = email.utils.parsedate_to_datetime(value)
        now = email.utils.parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        return None
    return round((then - now).total_seconds())


def _check_fields(
    findings: Findings, response: httpx.Response, name: str, quota: int, window: int
) -> dict[str, str]:
    """RateLimit-Policy names the policy with q and w; RateLimit gives r and t."""
    policy = parse_policy_field(response.headers.get("ratelimit-policy")).get(name)
    state = parse_policy_field(response.headers.get("ratelimit")).get(name, {})
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    if not findings.expect(
        policy is not None and policy.get("q") == str(quota) and policy.get("w") == str(window),
        f"{where}: RateLimit-Policy is {response.headers.get('ratelimit-policy')!r}, expected "
        f'"{name}";q={quota};w={window} (draft-ietf-httpapi-ratelimit-headers-10)'
        f"{_fault(response)}",
        rule="policy-field",
    ):
        return {}
    reset = state.get("t", "")
    findings.expect(
        state.get("r", "").isdigit() and reset.isdigit() and 0 <= int(reset) <= window,
        f"{where}: RateLimit is {response.headers.get('ratelimit')!r}, expected "
        f'"{name}";r=<remaining>;t=<seconds, at most {window}>',
        rule="remaining-field",
    )
    return state


def _headers_battery(run: Run) -> None:
    findings = run.findings
    ((email, _),) = run.users(1)
    with run.target.client() as client:
        api_key = client.post("/api/_lab/api-clients").json()["apiKey"]
    home = run.ip()
    with _proxy(run.target) as proxy:
        responses = [_login(proxy, email, f"wrong-{n}", home) for n in range(BUDGET)]
        items = proxy.get(ITEMS_PATH, headers={"X-API-Key": api_key, "X-Forwarded-For": home})
    states = [
        _check_fields(findings, r, LOGIN.name, LOGIN.quota, LOGIN.window)
        for r in responses[: LOGIN.quota]
    ]
    if all(states):
        remaining = [s["r"] for s in states]
        expected = [str(LOGIN.quota - n) for n in range(1, LOGIN.quota + 1)]
        findings.expect(
            remaining == expected,
            f"remaining after each of {LOGIN.quota} attempts: r={', '.join(remaining)} "
            f"(expected {', '.join(expected)})",
            f'on 401: RateLimit-Policy "{LOGIN.name}";q={LOGIN.quota};w={LOGIN.window}, '
            f"RateLimit r={', '.join(remaining)}",
            rule="remaining-field",
        )
    refused = responses[-1]
    if not findings.expect(
        refused.status_code == 429,
        f"attempt {BUDGET} got {refused.status_code}, not 429 (is the login limited?)",
    ):
        return
    state = _check_fields(findings, refused, LOGIN.name, LOGIN.quota, LOGIN.window)
    retry = _retry_seconds(refused)
    shown = refused.headers.get("retry-after", "")
    if (
        findings.expect(
            retry is not None and retry >= 1,
            f"the 429 has Retry-After {shown!r}: send the seconds to wait (RFC 9110 §10.2.3)",
            rule="retry-after",
        )
        and retry is not None
        and state.get("t", "").isdigit()
    ):
        findings.expect(
            abs(retry - int(state["t"])) <= 1 and state.get("r") == "0",
            f"on 429 Retry-After {shown} and RateLimit {refused.headers.get('ratelimit')!r} "
            "disagree: r must be 0 and t the same moment as Retry-After",
            f"on 429: Retry-After {shown}, RateLimit r=0;t={state['t']}",
            rule="retry-after",
        )
    if findings.expect(items.status_code == 200, f"GET {ITEMS_PATH} got {items.status_code}"):
        _check_fields(findings, items, ITEMS.name, ITEMS.quota, ITEMS.window)


def _peak_spans(spans: list[list[float]], window: float) -> int:
    """The most allowed requests whose limiter decisions surely fell within one window: all
    of them decided between one request's ``before`` and another's ``after``, less than
    ``window`` apart (server clock only, so a busy machine cannot inflate the count)."""
    spans = sorted(spans)
    best = 0
    for i, (start, _) in enumerate(spans):
        best = max(best, sum(1 for _, after in spans[i:] if after - start < window))
    return best


def _burst(run: Run) -> tuple[list[tuple[float, int]], dict[str, Any]]:
    """One boundary burst with a fresh API client: the client's events and the server's log."""
    with run.target.client() as client:
        api_key = client.post("/api/_lab/api-clients").json()["apiKey"]
        events = boundary_burst(
            client,
            "/api/_lab/burst",
            limit=BURST.quota,
            window=BURST.window,
            headers={"X-API-Key": api_key},
        )
        log = client.get("/api/_lab/burst-log", params={"api_key": api_key}).json()
    return events, log


def _conclusive(log: dict[str, Any]) -> bool:
    """Did the server decide the whole burst — the batch at half the window through the last
    request after the boundary — within one window? Only then would a fixed window have shown
    its double quota; a busy machine can stretch a burst past that (then try again)."""
    decisions = log.get("decisions", [])
    if len(decisions) < BURST.quota + 1:
        return False
    return decisions[-1][1] - decisions[1][0] < BURST.window


def _window_battery(run: Run) -> None:
    findings = run.findings
    for _ in range(BURST_TRIES):
        events, log = _burst(run)
        if _conclusive(log):
            break
    first_window = [status for _, status in events[: BURST.quota]]
    findings.expect(
        all(status == 200 for status in first_window),
        f"the first {BURST.quota} requests (the quota) were not all allowed: {first_window}",
        f"the first {BURST.quota} requests (the quota) are allowed",
        rule="allows-quota",
    )
    peak = _peak_spans(log.get("spans", []), BURST.window)
    findings.expect(
        peak <= BURST.quota,
        f"{peak} requests got through within {BURST.window} s around the window boundary "
        f"(limit {BURST.quota} per {BURST.window} s): a fixed window; use a moving window",
        f"around the window boundary at most {peak} requests in any {BURST.window} s",
        rule="moving-window",
    )


def _replica_battery(run: Run) -> None:
    """Two instances of the shop on one storage URI (as two processes on one Redis): guesses
    at one account alternate between them and must meet one limit."""
    replica = run.target.urls.get("replica")
    if not replica:
        run.findings.fail("the patched app has no replica (this is a bug in the check)")
        return
    ((email, password),) = run.users(1)
    proxies = [_proxy(run.target), client_from(replica, TRUSTED_PROXY)]
    try:
        responses = [
            _login(proxies[n % 2], email, guess, run.ip())
            for n, guess in enumerate(_guesses(password))
        ]
    finally:
        for proxy in proxies:
            proxy.close()
    _refused_in_budget(
        run.findings,
        responses,
        "guesses alternating between two replicas of the shop on one storage URI "
        "(each counted alone?)",
        "two replicas on one storage URI enforce one limit",
        rule="shared-storage",
    )


def _run(ctx: CheckContext, batteries: tuple[Callable[[Run], None], ...]) -> Findings:
    run = Run(ctx.require_patched(), Findings(), ctx.rng)
    for battery in batteries:
        battery(run)
    return run.findings


# -- fixes ---------------------------------------------------------------------------------
@LAB.check(
    "login-limit",
    title="Limit logins per IP and per account: guessing and stuffing fail within the budget",
    kind="fix",
    fixes=("login_keys",),
    hints=(
        "Return two keys: one for the client IP, one for the account (any sequence: a list "
        "or a tuple).",
        "A per-IP key alone lets a botnet guess one account; a per-account key alone lets "
        "one address try every account once.",
        "Prefix them ('ip:…', 'account:…') so an email can never be mistaken for an address.",
    ),
    rules=LOGIN_RULES,
)
def login_limit(ctx: CheckContext) -> Verdict:
    findings = _run(
        ctx,
        (
            _legitimate_battery,
            _distributed_guessing,
            _stuffing_one_address,
            _separate_keys,
            _legitimate_battery,
        ),
    )
    return findings.verdict(
        "guessing and stuffing are refused within the budget", "logins are not limited yet"
    )


@LAB.check(
    "account-case",
    title="One account, one quota, however its email is spelled",
    kind="fix",
    fixes=("login_keys",),
    hints=(
        "The login finds Carol@Example.com and ' carol@example.com ' alike: both are carol.",
        "The account key must be the identity the login resolves: email.strip().casefold().",
    ),
    rules=CASE_RULES,
)
def account_case(ctx: CheckContext) -> Verdict:
    findings = _run(ctx, (_case_battery,))
    return findings.verdict(
        "spelling tricks no longer buy attempts", "spelling still buys attempts"
    )


@LAB.check(
    "trusted-proxy",
    title="Honour X-Forwarded-For only from the trusted proxy, and only its entry",
    kind="fix",
    fixes=("client_ip",),
    hints=(
        "If the peer is not in trusted_proxies, the header is the client's word: return peer.",
        "A proxy appends the address it saw at the right. Walk from the right, skip your "
        "proxies, return the first other address.",
        "Ignoring the header altogether puts every customer behind the proxy in one quota.",
    ),
    rules=PROXY_RULES,
)
def trusted_proxy(ctx: CheckContext) -> Verdict:
    findings = _run(ctx, (_spoofing_battery,))
    return findings.verdict(
        "X-Forwarded-For can no longer be forged", "the client IP can still be forged"
    )


@LAB.check(
    "headers",
    title="429 with Retry-After, and the RateLimit header fields on every answer",
    kind="fix",
    fixes=("rate_limit_headers",),
    hints=(
        'RateLimit-Policy: "login";q=5;w=900 — the policy name as a quoted string, its quota '
        "and its window in seconds.",
        'RateLimit: "login";r=4;t=900 — remaining and seconds until reset (never a timestamp).',
        "When refused, add Retry-After with the same number of seconds as t.",
    ),
    rules=HEADER_RULES,
)
def headers(ctx: CheckContext) -> Verdict:
    findings = _run(ctx, (_headers_battery,))
    return findings.verdict("clients are told their limits", "the rate-limit headers are not right")


@LAB.check(
    "moving-window",
    title="A moving window in shared storage: never more than the quota in any window",
    kind="fix",
    fixes=("new_limiter",),
    hints=(
        "limits.strategies has FixedWindowRateLimiter and MovingWindowRateLimiter.",
        "limits.storage.storage_from_string(storage_uri) opens the URI you are given "
        "(memory://, redis://, or the check's labkit-memory://).",
    ),
    rules=WINDOW_RULES,
)
def moving_window(ctx: CheckContext) -> Verdict:
    findings = _run(ctx, (_window_battery, _replica_battery))
    return findings.verdict(
        "the window boundary burst is refused, and replicas share one count",
        "the limiter is not a shared moving window yet",
    )


BATTERIES: dict[str, Callable[[Run], None]] = {
    "legitimate use": _legitimate_battery,
    "guessing one account": _distributed_guessing,
    "credential stuffing": _stuffing_one_address,
    "separate keys": _separate_keys,
    "case-changed emails": _case_battery,
    "forged X-Forwarded-For": _spoofing_battery,
    "headers": _headers_battery,
    "window boundary": _window_battery,
    "two replicas": _replica_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("client_ip", "login_keys", "new_limiter", "rate_limit_headers"),
    points=2,
    hints=(
        "Pass all four of your functions: they are the shop's whole rate limiter.",
        "Each battery names what failed; fix that function and run the cell again.",
    ),
    rules=ALL_RULES,
)
def verify(ctx: CheckContext) -> Verdict:
    run = Run(ctx.require_patched(), Findings(), ctx.rng)
    for name, battery in BATTERIES.items():
        with run.findings.section(name, "every attack refused, legitimate use works"):
            battery(run)
    _legitimate_battery(run)  # and still, after all of that
    return run.findings.verdict(
        "every attack fails and legitimate logins work", "some attacks still get through"
    )
