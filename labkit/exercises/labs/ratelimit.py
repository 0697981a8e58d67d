"""11-rate-limiting: guess a login, stuff credentials, lie about your IP, spell an account
differently, burst at a window boundary — then limit it properly.

Every check works over HTTP. The attack checks judge the vulnerable shop (``ctx.target.url``,
no limiter) and its ``staging`` companion (the team's hot-fix). The fix checks replay the
attacks against the learner's patched app, playing the shop's reverse proxy by connecting from
:data:`~labkit.sandbox.apps.ratelimit.TRUSTED_PROXY` (a second loopback address) so that they
can stand for many clients with ``X-Forwarded-For``, as a real proxy would.

Two processes sharing one Redis are not a check: a learner's functions live in the notebook's
kernel and cannot be handed to another process. The notebook demonstrates it with the
reference app in real ``labkit serve`` processes, and ``tests/test_ratelimit_processes.py``
proves it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from labkit.attacks.bruteforce import boundary_burst, case_variants, client_from, random_ip
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.patterns.ratelimit import BURST, ITEMS, LOGIN
from labkit.sandbox.apps.ratelimit import TRUSTED_PROXY

__all__ = ["LAB", "parse_policy_field"]

LAB = LabDefinition("11-rate-limiting", "11 · Rate limiting", "labkit.sandbox.apps.ratelimit")

LOGIN_PATH, ITEMS_PATH = "/api/auth/login", "/api/v1/items"
LOGIN_REFUSED = {"error": "Too many login attempts. Try again later."}
#: A fix must refuse by this attempt: the quota, plus one.
BUDGET = LOGIN.quota + 1
CLOCK_SLACK_S = 0.1
EXTRA = 3  # attempts sent beyond the budget, to see whether any of them gets in
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
    findings: Findings, responses: list[httpx.Response], attack: str, observation: str
) -> None:
    """Every attempt past the budget must be a 429; none of them may log in."""
    faults = [r for r in responses if r.status_code == 500]
    if faults:
        findings.fail(f"{attack}: the app answered 500{_fault(faults[0])}")
        return
    late = responses[BUDGET - 1 :]
    findings.expect(
        all(r.status_code == 429 for r in late) and not any(r.status_code == 200 for r in late),
        f"{attack}: attempts past the {LOGIN.quota}th were not all refused "
        f"(statuses: {_statuses(responses)})",
        observation,
    )


# -- attacks -------------------------------------------------------------------------------
@LAB.check(
    "brute-force",
    title="Brute-force carol's password (the login has no limit)",
    kind="attack",
    hints=(
        "labkit.wordlists.common_passwords(300) is the attacker's wordlist, most common first.",
        "bruteforce.brute_force(lab.client, 'carol@example.com', words) tries them in turn.",
        "Hand in the password that logged in.",
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
        "staging = bruteforce.client_from(lab.urls['staging']); "
        "leak = staging.get('/api/_lab/leaked-credentials').json()",
        "From one address the per-IP limit stops you after 5. Staging believes whatever "
        "X-Forwarded-For says: stuff_credentials(staging, leak, rotate_ip=True).",
        "Hand in the list of (email, password) pairs that logged in.",
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
        "Staging counts attempts per account *as typed*, and its login ignores case.",
        "brute_force(staging, 'carol@example.com', words, rotate_ip=True, vary_case=True)",
        "Hand in carol's staging password (it is not the one from the first attack).",
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
        "key = staging.post('/api/_lab/api-clients').json()['apiKey'] registers an API client.",
        "bruteforce.boundary_burst(staging, '/api/_lab/burst', limit=10, window=1, "
        "headers={'X-API-Key': key})",
        "Hand in the API key you used: the check reads when the server let you through.",
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


# -- fix batteries --------------------------------------------------------------------------
def _legitimate_battery(target: Target, findings: Findings) -> None:
    """A user who mistypes twice still logs in, and the token works."""
    with target.client() as client:
        email, password = _new_user(client)
    with _proxy(target) as proxy:
        home = random_ip()
        first = [_login(proxy, email, password + "?", home) for _ in range(2)]
        ok = _login(proxy, email, password, home)
        if not findings.expect(
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
        findings.expect(me.status_code == 200, f"GET /api/me with the token got {me.status_code}")


def _distributed_guessing(target: Target, findings: Findings) -> None:
    """One account, guesses from many addresses: only a per-account limit stops it."""
    with target.client() as client:
        email, password = _new_user(client)
    guesses = [f"guess-{n}" for n in range(BUDGET + EXTRA)]
    guesses[BUDGET] = password  # the right one comes just past the budget
    with _proxy(target) as proxy:
        responses = [_login(proxy, email, guess, random_ip()) for guess in guesses]
    _refused_in_budget(
        findings,
        responses,
        "guessing one account from many addresses",
        f"guessing one account from many addresses: refused after {LOGIN.quota} attempts",
    )


def _stuffing_one_address(target: Target, findings: Findings) -> None:
    """Many accounts, one guess each, one address: only a per-IP limit stops it."""
    with target.client() as client:
        accounts = [_new_user(client) for _ in range(BUDGET + EXTRA)]
    attacker = random_ip()
    with _proxy(target) as proxy:
        responses = [_login(proxy, e, p, attacker) for e, p in accounts]  # all leaked, all right
    _refused_in_budget(
        findings,
        responses,
        "credential stuffing from one address",
        f"credential stuffing from one address: refused after {LOGIN.quota} accounts",
    )


def _case_battery(target: Target, findings: Findings) -> None:
    """One account spelled differently each time: still one account."""
    with target.client() as client:
        email, password = _new_user(client)
    spellings = case_variants(email)
    next(spellings)
    guesses = [f"guess-{n}" for n in range(BUDGET + EXTRA)]
    guesses[BUDGET] = password
    with _proxy(target) as proxy:
        responses = [_login(proxy, next(spellings), g, random_ip()) for g in guesses]
    _refused_in_budget(
        findings,
        responses,
        "case-changed emails (User@Example.com)",
        "case-changed emails count against the same account",
    )
    with target.client() as client:
        other, secret = _new_user(client)
    with _proxy(target) as proxy:
        shouted = _login(proxy, other.upper(), secret, random_ip())
    findings.expect(
        shouted.status_code == 200,
        f"logging in as {other.upper()} with the right password got {shouted.status_code}"
        f"{_fault(shouted)}",
        "an email typed in capitals still logs in",
    )


def _spoofing_battery(target: Target, findings: Findings) -> None:
    """X-Forwarded-For counts only from the proxy, and only the entry the proxy added."""
    with target.client() as client:
        accounts = [_new_user(client) for _ in range(3 * (BUDGET + EXTRA))]
    direct, through, legit = (
        accounts[: BUDGET + EXTRA],
        accounts[BUDGET + EXTRA : 2 * (BUDGET + EXTRA)],
        accounts[2 * (BUDGET + EXTRA) :],
    )
    with target.client() as client:  # straight to the app from 127.0.0.1, lying
        responses = [_login(client, e, p + "!", random_ip()) for e, p in direct]
    _refused_in_budget(
        findings,
        responses,
        "a new X-Forwarded-For per request, sent straight to the app",
        "X-Forwarded-For from a peer that is not the proxy is ignored",
    )
    real = random_ip()
    with _proxy(target) as proxy:  # through the proxy, which appends the real client address
        responses = [_login(proxy, e, p + "!", f"{random_ip()}, {real}") for e, p in through]
    _refused_in_budget(
        findings,
        responses,
        "a forged X-Forwarded-For passed through the proxy (the leftmost entry is the client's)",
        "through the proxy, only the address the proxy appended counts",
    )
    with _proxy(target) as proxy:  # many real customers behind the same proxy
        responses = [_login(proxy, e, p, f"198.51.100.{n + 10}") for n, (e, p) in enumerate(legit)]
    findings.expect(
        all(r.status_code == 200 for r in responses),
        f"{len(legit)} different customers behind the proxy, one login each, got "
        f"{_statuses(responses)}{_fault(responses[-1])}: they share the proxy's quota",
        f"{len(legit)} customers behind the proxy each have their own quota",
    )


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
    ):
        return {}
    reset = state.get("t", "")
    findings.expect(
        state.get("r", "").isdigit() and reset.isdigit() and 0 <= int(reset) <= window,
        f"{where}: RateLimit is {response.headers.get('ratelimit')!r}, expected "
        f'"{name}";r=<remaining>;t=<seconds, at most {window}>',
    )
    return state


def _headers_battery(target: Target, findings: Findings) -> None:
    with target.client() as client:
        email, _ = _new_user(client)
        api_key = client.post("/api/_lab/api-clients").json()["apiKey"]
    home = random_ip()
    with _proxy(target) as proxy:
        responses = [_login(proxy, email, f"wrong-{n}", home) for n in range(BUDGET)]
        items = proxy.get(ITEMS_PATH, headers={"X-API-Key": api_key, "X-Forwarded-For": home})
    first = _check_fields(findings, responses[0], LOGIN.name, LOGIN.quota, LOGIN.window)
    second = _check_fields(findings, responses[1], LOGIN.name, LOGIN.quota, LOGIN.window)
    if first and second:
        findings.expect(
            first["r"] == str(LOGIN.quota - 1) and second["r"] == str(LOGIN.quota - 2),
            f"remaining after 1 and 2 attempts: r={first['r']}, r={second['r']} "
            f"(expected {LOGIN.quota - 1} and {LOGIN.quota - 2})",
            f'on 401: RateLimit-Policy "{LOGIN.name}";q={LOGIN.quota};w={LOGIN.window}, '
            f"RateLimit r={first['r']} then r={second['r']}",
        )
    refused = responses[-1]
    if not findings.expect(
        refused.status_code == 429,
        f"attempt {BUDGET} got {refused.status_code}, not 429 (is the login limited?)",
    ):
        return
    findings.expect(
        refused.json() == LOGIN_REFUSED,
        f"the 429 body is {refused.text[:80]!r}, expected {LOGIN_REFUSED}",
    )
    state = _check_fields(findings, refused, LOGIN.name, LOGIN.quota, LOGIN.window)
    retry = refused.headers.get("retry-after", "")
    if (
        findings.expect(
            retry.isdigit() and int(retry) >= 1,
            f"the 429 has Retry-After {retry!r}: send the seconds to wait (RFC 9110 §10.2.3)",
        )
        and state.get("t", "").isdigit()
    ):
        findings.expect(
            abs(int(retry) - int(state["t"])) <= 1 and state.get("r") == "0",
            f"on 429 Retry-After {retry} and RateLimit {refused.headers.get('ratelimit')!r} "
            "disagree: r must be 0 and t the same moment as Retry-After",
            f"on 429: Retry-After {retry}, RateLimit r=0;t={state['t']}",
        )
    if findings.expect(items.status_code == 200, f"GET {ITEMS_PATH} got {items.status_code}"):
        _check_fields(findings, items, ITEMS.name, ITEMS.quota, ITEMS.window)


def _window_battery(target: Target, findings: Findings) -> None:
    with target.client() as client:
        api_key = client.post("/api/_lab/api-clients").json()["apiKey"]
        events = boundary_burst(
            client,
            "/api/_lab/burst",
            limit=BURST.quota,
            window=BURST.window,
            headers={"X-API-Key": api_key},
        )
        log = client.get("/api/_lab/burst-log", params={"api_key": api_key}).json()
    faults = [status for _, status in events if status == 500]
    if faults:
        findings.fail("the burst route answered 500: is new_limiter written?")
        return
    first_window = [status for t, status in events[: BURST.quota]]
    findings.expect(
        all(status == 200 for status in first_window),
        f"the first {BURST.quota} requests (the quota) were not all allowed: {first_window}",
        f"the first {BURST.quota} requests (the quota) are allowed",
    )
    # server times are taken just after the limiter counted: allow for a little scheduling slack
    peak = _peak(log.get("allowed", []), BURST.window - CLOCK_SLACK_S)
    findings.expect(
        peak <= BURST.quota,
        f"{peak} requests got through within {BURST.window} s around the window boundary "
        f"(limit {BURST.quota} per {BURST.window} s): a fixed window; use a moving window",
        f"around the window boundary at most {peak} requests in any {BURST.window} s",
    )


def _run(batteries: tuple[Callable[[Target, Findings], None], ...], target: Target) -> Findings:
    findings = Findings()
    for battery in batteries:
        battery(target, findings)
    return findings


# -- fixes ---------------------------------------------------------------------------------
@LAB.check(
    "login-limit",
    title="Limit logins per IP and per account: guessing and stuffing fail within the budget",
    kind="fix",
    fixes=("login_keys",),
    hints=(
        "Return two keys: one for the client IP, one for the account.",
        "A per-IP key alone lets a botnet guess one account; a per-account key alone lets "
        "one address try every account once.",
        "Normalise the account the way the login does: email.strip().casefold().",
    ),
)
def login_limit(ctx: CheckContext) -> Verdict:
    findings = _run(
        (_legitimate_battery, _distributed_guessing, _stuffing_one_address, _legitimate_battery),
        ctx.require_patched(),
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
        "The users table compares emails without case: Carol@Example.com is carol.",
        "The account key must be the identity the login resolves: email.strip().casefold().",
    ),
)
def account_case(ctx: CheckContext) -> Verdict:
    findings = _run((_case_battery,), ctx.require_patched())
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
)
def trusted_proxy(ctx: CheckContext) -> Verdict:
    findings = _run((_spoofing_battery,), ctx.require_patched())
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
)
def headers(ctx: CheckContext) -> Verdict:
    findings = _run((_headers_battery,), ctx.require_patched())
    return findings.verdict("clients are told their limits", "the rate-limit headers are not right")


@LAB.check(
    "moving-window",
    title="A moving window: never more than the quota in any span of the window",
    kind="fix",
    fixes=("new_limiter",),
    hints=(
        "limits.strategies has FixedWindowRateLimiter and MovingWindowRateLimiter.",
        "limits.storage.storage_from_string(storage_uri) opens memory:// or redis://.",
    ),
)
def moving_window(ctx: CheckContext) -> Verdict:
    findings = _run((_window_battery,), ctx.require_patched())
    return findings.verdict(
        "the window boundary burst is refused", "the boundary burst gets through"
    )


BATTERIES: dict[str, Callable[[Target, Findings], None]] = {
    "legitimate use": _legitimate_battery,
    "guessing one account": _distributed_guessing,
    "credential stuffing": _stuffing_one_address,
    "case-changed emails": _case_battery,
    "forged X-Forwarded-For": _spoofing_battery,
    "headers": _headers_battery,
    "window boundary": _window_battery,
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
)
def verify(ctx: CheckContext) -> Verdict:
    target = ctx.require_patched()
    findings = Findings()
    for name, battery in BATTERIES.items():
        with findings.section(name, "every attack refused, legitimate use works"):
            battery(target, findings)
    _legitimate_battery(target, findings)  # and still, after all of that
    return findings.verdict(
        "every attack fails and legitimate logins work", "some attacks still get through"
    )
