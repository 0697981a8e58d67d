"""The audit's judges: does a finding's evidence show its weakness on *this* shop?

Each weakness — a row of the seed's table, or a bonus flaw outside it — has a judge. A judge
receives a :class:`Judging`: the shop the exploit ran against (:class:`ShopUnderTest`), what
the check learned of it before (:class:`Facts`, :class:`Snapshot`), the evidence and, when
the check serves that shop itself, the requests the exploit made. It tests what the evidence
names against the shop over HTTP — a password logs in, a secret signs a webhook that pays an
order, a card number is the one saved — so evidence from another run, or one that repeats
what the exploit sent, shows nothing.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from labkit.attacks.jwt import decode_unverified
from labkit.exercises.capstone.evidence import (
    JWT,
    Route,
    dicts,
    header,
    integers,
    pairs,
    responses,
    route_matches,
    strings,
)
from labkit.exercises.check import Target, Verdict
from labkit.patterns.cors import APP_ORIGIN
from labkit.patterns.webhooks import sign_webhook
from labkit.sandbox.apps.shop.core import LAB_KEY_HEADER
from labkit.sandbox.apps.shop.edge import MAX_REVIEW_CHARS
from labkit.sandbox.apps.shop.exposure import MAX_EMAIL_CHARS
from labkit.sandbox.inspector import Exchange

__all__ = ["Facts", "Judging", "ShopUnderTest", "Snapshot", "loopback", "prepare", "snapshot"]

LOGIN, REFRESH = "/api/auth/login", "/api/auth/refresh"
#: Failed logins (without a 429) that make an exploit an online guessing attack.
ONLINE_GUESSES = 10
MAX_CANDIDATES = 20
SQL_ERROR = re.compile(
    r"sqlite3|OperationalError|syntax error|unrecognized token|no such column", re.IGNORECASE
)
#: An unsalted MD5 or SHA-256 row (the shop's legacy hashes).
LEGACY = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}")
_LOOPBACK: list[bool] = []


def loopback(block: int, n: int) -> str | None:
    """``127.0.<block>.<n>`` where this machine can bind it (Linux: all of 127/8), else
    None. Each finding's requests come from their own address, so one finding's spent
    rate-limit quota (keyed per IP) does not decide another's."""
    if not _LOOPBACK:
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.13.1", 0))
            _LOOPBACK.append(True)
        except OSError:
            _LOOPBACK.append(False)
    return f"127.0.{block}.{1 + n % 250}" if _LOOPBACK[0] else None


@dataclass
class ShopUnderTest:
    """A shop a finding is replayed against: its URLs and CA, the key to its lab-only
    routes, and — when the check serves it — the traffic logs of its listeners."""

    name: str
    target: Target
    lab_key: str | None = None
    traffic: list[Any] = field(default_factory=list)  # TrafficLog of each listener

    @property
    def observed(self) -> bool:
        return bool(self.traffic)

    def client(self, address: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {LAB_KEY_HEADER: self.lab_key} if self.lab_key else {}
        transport = httpx.HTTPTransport(verify=self.target.verify(), local_address=address)
        return httpx.Client(
            base_url=self.target.url, headers=headers, transport=transport, timeout=30.0,
            trust_env=False, **kwargs,
        )  # fmt: skip

    def clear(self) -> None:
        for log in self.traffic:
            log.clear()

    def exchanges(self) -> list[Exchange] | None:
        return [e for log in self.traffic for e in log] if self.traffic else None


@dataclass
class Facts:
    """What the check set up in a shop before any exploit: its own customer, a victim's
    order, the bought mailing list and who on it has an account, the leaked partner key."""

    bearer: dict[str, str]
    victim_item: str
    mailing: list[str]
    customers: set[str]
    leaked_key: str


@dataclass
class Snapshot:
    """The shop's rows just before one exploit ran (what existed is not the exploit's)."""

    users: dict[str, dict[str, Any]]
    ages: dict[str, Any]
    reviews: set[int]
    cards: dict[int, str]


def _register(client: httpx.Client) -> dict[str, str]:
    email = f"audit-{secrets.token_hex(5)}@shop.example"
    password = secrets.token_urlsafe(12)
    client.post("/api/auth/register", json={"email": email, "password": password})
    answer = client.post(LOGIN, json={"email": email, "password": password})
    token = answer.json().get("accessToken") if answer.status_code == 200 else None
    return {"Authorization": f"Bearer {token}"} if isinstance(token, str) and token else {}


def snapshot(shop: ShopUnderTest, address: str | None = None) -> Snapshot:
    with shop.client(address) as client:
        breach = client.get("/api/_lab/breach").json()
        numbers = client.get("/api/_lab/cards/numbers")
    users = {str(u["email"]): u for u in breach.get("users", [])}
    by_id = {u["id"]: email for email, u in users.items()}
    ages = {by_id[p["user_id"]]: p.get("age") for p in breach.get("profiles", [])
            if p.get("user_id") in by_id}  # fmt: skip
    cards = {int(c["id"]): str(c["number"]) for c in numbers.json()} if numbers.is_success else {}
    return Snapshot(users, ages, {int(r["id"]) for r in breach.get("reviews", [])}, cards)


def prepare(shop: ShopUnderTest, address: str | None = None) -> Facts:
    """Set the shop up for the judges (once per shop, before the first exploit)."""
    with shop.client(address) as client:
        bearer = _register(client)
        victim = _register(client)
        item = f"gift {secrets.token_hex(6)}"
        client.post("/api/orders", json={"item": item}, headers=victim)
        mailing = list(client.get("/api/_lab/mailing-list").json().get("emails", []))
        emails = {u["email"] for u in client.get("/api/_lab/breach").json().get("users", [])}
        log = client.get("/api/_lab/old-config").json().get("content", "")
    key = log.split("REPORTS_API_KEY=")[1].split()[0] if "REPORTS_API_KEY=" in log else ""
    return Facts(bearer, item, mailing, {e for e in mailing if e in emails}, key)


@dataclass
class Judging:
    """One finding's evidence, and the shop it was replayed against."""

    shop: ShopUnderTest
    facts: Facts
    before: Snapshot
    evidence: Any
    exchanges: list[Exchange] | None
    routes: list[Route]
    address: str | None = None

    def client(self, **kwargs: Any) -> httpx.Client:
        return self.shop.client(self.address, **kwargs)

    def touched(self, method: str, path: str) -> list[Exchange]:
        return [e for e in self.exchanges or [] if route_matches((method, path), e)]

    def failed_logins(self) -> tuple[int, int]:
        """(401s, 429s) the exploit got from the login."""
        logins = self.touched("POST", LOGIN)
        return sum(e.status == 401 for e in logins), sum(e.status == 429 for e in logins)

    def after(self) -> Snapshot:
        return snapshot(self.shop, self.address)


Judge = Callable[[Judging], Verdict]


def _no(summary: str) -> Verdict:
    return Verdict(False, summary)


def _tokens(evidence: Any) -> list[str]:
    found = [s for s in strings(evidence) if JWT.fullmatch(s.strip())]
    for text in strings(evidence):  # a token inside a header value or a longer text
        found += [m.group(0) for m in JWT.finditer(text) if m.group(0).count(".") == 2]
    return list(dict.fromkeys(t.strip() for t in found if len(t) > 40))[:MAX_CANDIDATES]


# -- the rows --------------------------------------------------------------------------------
def storage(j: Judging) -> Verdict:
    tokens = _tokens(j.evidence)
    if not tokens:
        return _no("your evidence holds no token")
    with j.client() as client:
        for token in tokens:
            answer = client.post(REFRESH, json={"refreshToken": token})
            if answer.status_code == 200 and "refreshToken" in answer.text:
                return Verdict(True, "a refresh token taken from a JSON body refreshed the "
                               "session with no cookie at all")  # fmt: skip
    return _no(
        "no token in your evidence refreshes on its own (POST /api/auth/refresh with "
        "{'refreshToken': ...}, no cookie): refresh tokens work once — return an unused one"
    )


def _logins(j: Judging) -> tuple[list[str], list[str]]:
    """(accounts the evidence's passwords open, accounts the exploit made itself)."""
    opened, own = [], []
    with j.client() as client:
        for email, password in pairs(j.evidence)[:MAX_CANDIDATES]:
            if email not in j.before.users:
                own += [email] if "@" in email else []
                continue
            answer = client.post(LOGIN, json={"email": email, "password": password})
            if answer.status_code == 200:
                opened.append(email)
    return opened, own


def _echoed_accounts(own: list[str]) -> Verdict:
    return _no(
        f"{own[0]} did not exist before your exploit ran: its password is your own input, "
        "not something the shop gave away"
    )


def _no_login(own: list[str]) -> Verdict:
    """Why evidence of passwords opened no account of this shop."""
    return _echoed_accounts(own) if own else _no(
        "no {email: password} in your evidence logs in to an account of this shop"
    )


def fast_hash(j: Judging) -> Verdict:
    opened, own = _logins(j)
    if not opened:
        return _no_login(own)
    failed, _ = j.failed_logins()
    if failed >= ONLINE_GUESSES:
        return _no(
            f"your exploit guessed online ({failed} failed logins): that shows a missing rate "
            "limit — a fast hash is shown offline, by cracking the stolen rows"
        )
    if not j.shop.observed:  # a fixed shop keeps legacy rows until each user logs in again
        after = j.after().users
        still = [e for e in opened if LEGACY.fullmatch(str(after[e].get("password_hash", "")))]
        if not still:
            return _no("it cracked only rows from before the fix, and each one moved to the "
                       "slow hash at its login")  # fmt: skip
    return Verdict(True, f"cracked offline from the stolen hashes: {', '.join(opened[:3])}")


def rate_limit(j: Judging) -> Verdict:
    opened, own = _logins(j)
    if not opened:
        return _no_login(own)
    failed, refused = j.failed_logins()
    if j.exchanges is not None and failed < ONLINE_GUESSES:
        return _no(
            f"your exploit failed only {failed} logins: guessing online takes many tries "
            "(a password cracked offline shows a fast hash, not a missing limit)"
        )
    return Verdict(True, f"{failed} wrong passwords in a row, {refused} refusals, then "
                   f"{opened[0]}'s password")  # fmt: skip


def secret(j: Judging) -> Verdict:
    candidates = [s for s in dict.fromkeys(strings(j.evidence)) if 16 <= len(s) <= 200]
    if not candidates:
        return _no("your evidence holds no secret (a string of 16 or more characters)")
    with j.client() as client:
        order = client.post("/api/orders", json={"item": "audit"}, headers=j.facts.bearer)
        order_id = order.json().get("id") if order.status_code == 201 else None
        if order_id is None:
            return _no(f"the check could not place an order ({order.status_code})")
        event = json.dumps({"type": "payment.succeeded", "orderId": order_id}).encode()
        for candidate in candidates[:MAX_CANDIDATES]:
            client.post("/api/webhooks/payment", content=event,
                        headers={"X-Signature": sign_webhook(event, candidate),
                                 "Content-Type": "application/json"})  # fmt: skip
            status = client.get(f"/api/orders/{order_id}", headers=j.facts.bearer).json()
            if status.get("status") == "paid":
                return Verdict(True, "a 'paid' event signed with the secret from your "
                               "evidence paid the check's own order")  # fmt: skip
    return _no("no string in your evidence signs a webhook this shop believes")


def _foreign(origin: str | None) -> bool:
    return bool(origin) and origin != APP_ORIGIN and origin != "null"


def cors(j: Judging) -> Verdict:
    if j.exchanges is None:  # not the check's shop: the evidence's own responses
        for r in responses(j.evidence):
            allowed = header(r.get("headers", []), "access-control-allow-origin")
            if _foreign(allowed) and header(r.get("headers", []),
                                            "access-control-allow-credentials") == "true":
                return Verdict(True, f"{allowed} may read answers with credentials")
        return _no("no response in your evidence lets a foreign origin read it")
    said = set(strings(j.evidence))
    for e in j.exchanges:
        if not any(route_matches(r, e) for r in j.routes):
            continue
        origin = dict(e.request_headers).get("origin")
        answer = dict(e.response_headers)
        if (_foreign(origin) and answer.get("access-control-allow-origin") == origin
                and answer.get("access-control-allow-credentials") == "true"):  # fmt: skip
            if origin in said or any(origin in s for s in said):
                return Verdict(True, f"the shop let {origin} read {e.method} {e.path} with the "
                               "visitor's credentials")  # fmt: skip
            return _no(f"the shop did answer {origin} with credentials — return that response "
                       "(or its Access-Control-Allow-Origin) as your evidence")  # fmt: skip
    return _no("no request of your exploit from a foreign Origin was answered with "
               "Access-Control-Allow-Origin: <that origin> and credentials")  # fmt: skip


def _login_answers_alike(j: Judging, customer: str) -> bool:
    """The control behind a right list: a wrong password for ``customer`` and one for an
    unknown email, from the judge's own address, get the same answer (or a 429). A list that
    matches by chance — a throttled exploit reads every 429 as "has an account" — meets it."""
    stranger = f"nobody-{secrets.token_hex(6)}@{customer.rpartition('@')[2]}"
    with j.client() as client:
        answers = [client.post(LOGIN, json={"email": email, "password": secrets.token_urlsafe(12)})
                   for email in (customer, stranger)]  # fmt: skip
    if any(a.status_code == 429 for a in answers):
        return True
    return len({(a.status_code, a.text) for a in answers}) == 1


def enumeration(j: Judging) -> Verdict:
    mailing = {e.lower(): e for e in j.facts.mailing}
    said = {s.strip().lower() for s in strings(j.evidence)}
    named = {mailing[s] for s in said if s in mailing}
    truth = j.facts.customers
    if not named:
        return _no("your evidence names nobody of the mailing list (/api/_lab/mailing-list)")
    if named == truth:
        if _login_answers_alike(j, sorted(truth)[0]):
            return _no(
                "this shop's login answers a customer and a stranger alike (a 429 of its rate "
                "limit says nothing about the account): your list did not come from its answers"
            )
        return Verdict(True, f"told {len(truth)} customers from {len(mailing) - len(truth)} "
                       "strangers on the bought mailing list, by the login's answers")  # fmt: skip
    wrong, missed = sorted(named - truth), sorted(truth - named)
    said = f"{wrong[0]} has no account" if wrong else f"{missed[0]} has one and you missed it"
    return _no(f"your list is not who shops here: {said}")


def crypto(j: Judging) -> Verdict:
    digits = {re.sub(r"[ -]", "", s) for s in strings(j.evidence)}
    digits = {d for d in digits if d.isdigit() and 12 <= len(d) <= 19}
    if not digits:
        return _no("your evidence holds no card number")
    theirs = {n for n in j.before.cards.values() if n in digits}
    if theirs:
        return Verdict(True, "recovered a card number saved before your exploit ran, "
                       "from the stored ciphertexts")  # fmt: skip
    if digits & set(j.after().cards.values()):
        return _no("the card number in your evidence is one your exploit saved itself: "
                   "recover somebody else's")  # fmt: skip
    return _no("no number in your evidence is a card saved in this shop")


def injection(j: Judging) -> Verdict:
    text = "\n".join(strings(j.evidence))
    hashes = {e: u.get("password_hash") for e, u in j.before.users.items()}
    leaked = [e for e, h in hashes.items() if isinstance(h, str) and len(h) >= 32 and h in text]
    if leaked:
        return Verdict(True, f"the password hash of {leaked[0]} came out of the friend lookup")
    return _no("your evidence holds no password hash of this shop's users")


def api_key(j: Judging) -> Verdict:
    key = j.facts.leaked_key
    if not key or not any(key in s for s in strings(j.evidence)):
        return _no("your evidence holds no key this shop ever issued and retired")
    with j.client() as client:
        answer = client.get("/api/v1/reports", headers={"X-API-Key": key})
    if answer.status_code == 200:
        return Verdict(True, "the key from last year's log still reads the reports")
    return _no(f"the old key from your evidence gets {answer.status_code}")


def https(j: Judging) -> Verdict:
    plain = j.shop.target.urls.get("http", "")
    for r in responses(j.evidence):
        url, status = str(r.get("url", "")), int(r.get("status", 0))
        if plain and url.startswith(plain) and 200 <= status < 300:
            path = httpx.URL(url).path
            seen = [e for e in j.exchanges or [] if e.path == path and 200 <= e.status < 300]
            if j.exchanges is None or seen:
                return Verdict(True, f"http://…{path} answered {status} in clear text, "
                               "no redirect to HTTPS")  # fmt: skip
        hsts = header(r.get("headers", []), "strict-transport-security")
        if url.startswith("https://") and 200 <= status < 300 and not hsts:
            path = httpx.URL(url).path
            seen = [e for e in j.exchanges or [] if e.path == path
                    and "strict-transport-security" not in dict(e.response_headers)]  # fmt: skip
            if j.exchanges is None or seen:
                return Verdict(True, f"https://…{path} sent no Strict-Transport-Security")
    return _no("no response in your evidence came over plain HTTP (or over HTTPS "
               "without HSTS) with a 2xx")  # fmt: skip


def symmetric(j: Judging) -> Verdict:
    tokens = _tokens(j.evidence)
    if not tokens:
        return _no("your evidence holds no token")
    roles = {str(u["id"]): u.get("role") for u in j.before.users.values()}
    genuine = False
    with j.client() as client:
        for token in tokens:
            answer = client.get("/api/admin/orders", headers={"Authorization": f"Bearer {token}"})
            if answer.status_code != 200:
                continue
            try:
                sub = str(decode_unverified(token)[1].get("sub"))
            except (ValueError, KeyError, TypeError):
                continue
            if roles.get(sub) != "admin":
                return Verdict(True, "a token you signed yourself (the subject is no admin) "
                               "opened the admin orders")  # fmt: skip
            genuine = True
    if genuine:
        return _no("that is a genuine admin token (a cracked admin password?): forge one "
                   "for a customer instead")  # fmt: skip
    return _no("no token in your evidence opens GET /api/admin/orders")


def length(j: Judging) -> Verdict:
    with j.client() as client:
        rows = client.get("/api/_lab/breach").json().get("reviews", [])
    new = [r for r in rows if int(r["id"]) not in j.before.reviews]
    odd = [r for r in new if len(str(r.get("text") or "")) > MAX_REVIEW_CHARS
           or not isinstance(r.get("rating"), int)]  # fmt: skip
    if not odd:
        return _no(f"no review your exploit posted is over {MAX_REVIEW_CHARS} characters "
                   "or of the wrong type")  # fmt: skip
    named = set(integers(j.evidence))
    hit = [r for r in odd if int(r["id"]) in named]
    if not hit:
        return _no("your exploit stored an oversized review, but your evidence does not "
                   "name it: return the answer (or its id)")  # fmt: skip
    size = len(str(hit[0].get("text") or ""))
    return Verdict(True, f"review {hit[0]['id']} was stored with {size:,} characters")


# -- the bonus flaws ---------------------------------------------------------------------------
def long_email(j: Judging) -> Verdict:
    after = j.after()
    new = [e for e in after.users if e not in j.before.users and len(e) > MAX_EMAIL_CHARS]
    said = [s for s in strings(j.evidence) if len(s) > MAX_EMAIL_CHARS]
    hit = [e for e in new if any(e.startswith(s) or s.startswith(e) for s in said)]
    if hit:
        return Verdict(True, f"an account with a {len(hit[0]):,}-character email was stored")
    if new:
        return _no("your exploit stored an oversized email: return it (or the answer) as "
                   "evidence")  # fmt: skip
    return _no(f"no account with an email over {MAX_EMAIL_CHARS} characters was created")


def sql_error(j: Judging) -> Verdict:
    if not any(SQL_ERROR.search(s) for s in strings(j.evidence)):
        return _no("your evidence holds no database error text")
    if j.exchanges is not None and not [e for e in j.exchanges if e.status >= 500]:
        return _no("your exploit got no server error from the shop")
    probe = f"{secrets.token_hex(3)}'"
    with j.client() as client:
        answer = client.get("/api/users", params={"email": probe}, headers=j.facts.bearer)
    if answer.status_code >= 500 and SQL_ERROR.search(answer.text):
        return Verdict(True, "the shop prints the database's own error message")
    return _no("this shop's errors name no SQL")


def data_exposure(j: Judging) -> Verdict:
    for d in dicts(j.evidence):
        email = d.get("email")
        age = j.before.ages.get(email) if isinstance(email, str) else None
        if age is not None and d.get("age") == age:
            return Verdict(True, f"the friend lookup told a customer {email}'s age "
                           f"({d['age']}) and role")  # fmt: skip
    return _no("your evidence holds no other user's age as the shop shows it")


def order_idor(j: Judging) -> Verdict:
    if any(j.facts.victim_item in s for s in strings(j.evidence)):
        return Verdict(True, "read another customer's order (placed by the check before "
                       "your exploit ran)")  # fmt: skip
    return _no("your evidence holds no order of another customer")


def validation_echo(j: Judging) -> Verdict:
    echoed = [r for r in responses(j.evidence) if int(r.get("status", 0)) == 422]
    if not echoed:
        return _no("your evidence holds no 422 answer")
    marker = f"echo-{secrets.token_hex(6)}"
    url = httpx.URL(str(echoed[0].get("url", "")))
    method = str(echoed[0].get("method") or "POST")
    with j.client() as client:
        answer = client.request(method, url.path, json={"email": [marker], "password": [marker]},
                                headers=j.facts.bearer)  # fmt: skip
    if answer.status_code == 422 and marker in answer.text:
        return Verdict(True, f"{method} {url.path} repeats the request it refuses in its 422")
    return _no(f"{method} {url.path} does not repeat what it was sent")
