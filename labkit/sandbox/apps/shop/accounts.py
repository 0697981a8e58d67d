"""BrokenShop's accounts: register and log in (13-capstone; lessons of 01 and 11).

Routes: ``POST /api/auth/register {email,password}`` → 201 ``{"email"}`` / 400 ``{"errors"}``
/ 429; ``POST /api/auth/login {email,password}`` → what ``shop.login_response(user)`` answers
/ 401 ``{"error"}`` / 429 ``{"error": "Too many login attempts. Try again later."}`` with
``Retry-After``.

Three rows of the anti-pattern summary live here, each with the slots of the lab that taught it:

* ``fast-password-hash`` (01): ``hash_password``, ``verify_password``, ``needs_rehash``. The
  broken shop stores MD5; seeded accounts are legacy unsalted MD5 / SHA-256 in every shop but
  the reference (as in 01, a fixed ``verify_password`` must still accept them, and
  ``needs_rehash`` moves them to the new hash at their next login).
* ``login-enumeration`` (01): ``login(email, password, find_user) -> (status, body)``; on 200
  the shop issues its tokens with ``shop.login_response(user)``. Unless ``login`` is fixed, the
  broken login checks hashes with the shop's ``verify_password`` (the fixed one, if it is).
* ``no-auth-rate-limit`` (11): ``login_keys(ip, email) -> list[str]``. The shop counts every
  *failed* login against each key (:data:`LOGIN`: 5 per 15 min, moving window, memory), and
  every registration (:data:`REGISTER`); a key that is spent answers 429 with Retry-After.
  Successful logins are not counted, so customers (and the other parts' checks) who type
  their password right are never throttled. The IP is the socket peer
  (:func:`~labkit.sandbox.apps.shop.core.connection`): X-Forwarded-For is never believed.
  The broken ``login_keys`` returns no key at all: nothing is limited.

Customers (``<name>@shop.example``) have passwords from the common-password list; two share
one, and :data:`WEAK_CUSTOMER`'s is among the 100 most common. ``shop.state.users`` holds the
seeded staff only (their passwords are on ``/api/_lab/accounts``).

Lab-only: ``GET /api/_lab/dump`` (the users table as 01 showed it), ``POST
/api/_lab/legacy-user`` (an account from before the migration, as in 01) and ``POST
/api/_lab/users`` (a fresh customer and its password, for checks, as in 11; ``{"scheme":
"argon2id"}`` stores it upgraded) and ``GET /api/_lab/login-costs`` (the server's CPU and
wall time of each recent ``login`` call, as in 01: a timing probe a busy machine cannot
blur). None is limited.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import deque
from functools import partial
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel

from labkit.patterns import passwords as secure_passwords
from labkit.patterns import ratelimit as secure_limits
from labkit.patterns.ratelimit import LOGIN, Policy
from labkit.sandbox.apps.passwords import _secure_login, add_breach_routes
from labkit.sandbox.apps.shop.core import LAB_ID, Shop, connection
from labkit.sandbox.fixes import FixFault, FixSlot
from labkit.sandbox.store import LabStore, Users, generate_password
from labkit.vulnerable import passwords as weak_passwords
from labkit.vulnerable import shop_accounts as weak_accounts
from labkit.wordlists import seed_passwords

__all__ = [
    "CUSTOMERS",
    "CUSTOMER_DOMAIN",
    "LOGIN",
    "LOGIN_REFUSED",
    "REGISTER",
    "REGISTER_REFUSED",
    "SECURE",
    "SLOTS",
    "VULNERABLE",
    "WEAK_CUSTOMER",
    "install",
]

CUSTOMER_DOMAIN = "shop.example"
CUSTOMERS = ("amara", "bruno", "chen", "dana", "emeka", "fatima", "gustav", "hana", "ines")
#: The customer whose password is among the 100 most common (the brute-force target).
WEAK_CUSTOMER = f"dana@{CUSTOMER_DOMAIN}"
WEAK_POOL = (20, 100)  # not one of the first 20 words, but within the first 100
LEAKED_PASSWORD_POOL = 2000  # the other customers pick from the 2,000 most common
#: The bought mailing list (``/api/_lab/mailing-list``): some of these people have accounts.
MAILING_NAMES = ("jonas", "priya", "tomasz", "lea", "kwame", "sofia", "mateo", "yuki",
                 "oskar", "nadia", "ravi", "elena")  # fmt: skip
MAILING_DOMAIN = "mail.example"
MAILING_SIZE = 6
#: Registrations counted per key (the keys of ``login_keys``), refused past the quota.
REGISTER = Policy("register", 10, 15 * 60)
LOGIN_REFUSED = {"error": "Too many login attempts. Try again later."}
LOGIN_COSTS_KEPT = 512
REGISTER_REFUSED = {"error": "Too many sign-ups. Try again later."}

SLOTS: dict[str, FixSlot] = {
    "hash_password": FixSlot("hash_password", str, "hash_password(password: str) -> str"),
    "verify_password": FixSlot(
        "verify_password", bool, "verify_password(password: str, stored: str) -> bool"
    ),
    "needs_rehash": FixSlot("needs_rehash", bool, "needs_rehash(stored: str) -> bool"),
    "login": FixSlot(
        "login", tuple, "login(email: str, password: str, find_user) -> tuple[int, dict]"
    ),
    "login_keys": FixSlot(
        "login_keys", (list, tuple), "login_keys(ip: str, email: str) -> list[str]"
    ),
}
SECURE: dict[str, Any] = {
    "hash_password": secure_passwords.hash_password,
    "verify_password": secure_passwords.verify_password,
    "needs_rehash": secure_passwords.needs_rehash,
    "login": _secure_login,  # 01's reference: labkit.patterns.passwords.authenticate
    "login_keys": secure_limits.login_keys,
}
VULNERABLE: dict[str, Any] = {
    "hash_password": weak_passwords.hash_password_md5,
    "verify_password": weak_passwords.verify_password,
    "needs_rehash": weak_accounts.needs_rehash,
    "login": weak_passwords.login,  # checks hashes with the shop's verify_password
    "login_keys": weak_accounts.login_keys,
}


class Credentials(BaseModel):
    email: str
    password: str


class NewUser(BaseModel):
    scheme: str | None = None


class Throttle:
    """The shop's limiter: a moving window in memory, counting per key of ``login_keys``."""

    def __init__(self, keys_for: Any) -> None:
        self.keys_for = keys_for
        self.limiter = MovingWindowRateLimiter(MemoryStorage())  # one shop, one process
        self.namespace = f"labkit:{LAB_ID}:{secrets.token_hex(6)}"

    def keys(self, ip: str, email: str) -> list[str]:
        keys = self.keys_for(ip, email)
        if not all(isinstance(k, str) and k for k in keys):
            raise FixFault(f"login_keys returned {keys!r}: expected a list of non-empty strings")
        return list(dict.fromkeys(keys))

    def wait(self, policy: Policy, keys: list[str]) -> int | None:
        """Seconds until every key may be used again, or None if none of them is spent."""
        waits = []
        for key in keys:
            if not self.limiter.test(policy.item, self.namespace, policy.name, key):
                stats = self.limiter.get_window_stats(policy.item, self.namespace, policy.name, key)
                waits.append(max(1, math.ceil(stats.reset_time - time.time())))
        return max(waits) if waits else None

    def count(self, policy: Policy, keys: list[str]) -> None:
        for key in keys:
            self.limiter.hit(policy.item, self.namespace, policy.name, key)


def _refused(body: dict[str, str], wait: int) -> JSONResponse:
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(wait)})


def _seed(store: LabStore, secure: bool) -> Users:
    """Staff and customers: legacy unsalted MD5 / SHA-256 rows, argon2id in the reference."""
    rng = secrets.SystemRandom()
    legacy = (weak_passwords.hash_password_md5, weak_passwords.hash_password_sha256)
    staff = store.seed_staff(secure_passwords.hash_password if secure else legacy[0])
    pool = seed_passwords(LEAKED_PASSWORD_POOL)
    emails = [f"{name}@{CUSTOMER_DOMAIN}" for name in CUSTOMERS]
    weak = seed_passwords(WEAK_POOL[1])  # within the first 100 words of the attack list
    excluded = frozenset(weak)
    common = [w for w in dict.fromkeys(pool) if w not in excluded]  # in the pool's order
    passwords = dict(zip(emails, rng.sample(common, len(emails)), strict=True))
    passwords[WEAK_CUSTOMER] = rng.choice(weak[WEAK_POOL[0] :])
    same_scheme = [e for i, e in enumerate(emails) if i % 2 == 0 and e != WEAK_CUSTOMER]
    first, second = rng.sample(same_scheme, 2)
    passwords[second] = passwords[first]  # two customers share a password: equal hashes
    for index, email in enumerate(emails):
        hasher = secure_passwords.hash_password if secure else legacy[index % 2]
        store.add_user(email, "customer", hasher(passwords[email]))
    return staff


def _mailing_list(store: LabStore, secure: bool) -> list[str]:
    """A list bought from a data broker: some addresses have an account, the others not —
    which ones is drawn afresh for every shop (the login-enumeration target)."""
    rng = secrets.SystemRandom()
    names = rng.sample(MAILING_NAMES, MAILING_SIZE)
    emails = [f"{name}.{rng.randint(10, 99)}@{MAILING_DOMAIN}" for name in names]
    hasher = secure_passwords.hash_password if secure else weak_passwords.hash_password_md5
    for email in rng.sample(emails, rng.randint(2, MAILING_SIZE - 2)):
        store.add_user(email, "customer", hasher(generate_password()))
    return emails


def install(shop: Shop) -> None:
    """Seed the accounts; add register, login and the lab-only account routes."""
    store, parts = shop.store, shop.parts
    shop.state.users = _seed(store, shop.secure)
    mailing = _mailing_list(store, shop.secure)

    @shop.app.get("/api/_lab/mailing-list", include_in_schema=False)
    def mailing_list() -> dict[str, Any]:
        """A marketing list an attacker bought: which of these people shop here?"""
        return {"source": "data broker, spring sale", "emails": mailing}

    login_with = parts["login"]
    if not shop.secure and "login" not in shop.fixed:  # 01's broken login, the shop's verifier
        login_with = partial(weak_passwords.login, verify=parts["verify_password"])
    throttle = Throttle(parts["login_keys"])

    @shop.app.post("/api/auth/register", status_code=201, response_model=None)
    def register(body: Credentials, request: Request) -> Any:
        """Create a customer account.

        "Email already registered" tells who has an account, but a sign-up form cannot avoid
        it without an email round trip; the OWASP Authentication Cheat Sheet accepts it when
        the form is rate limited — as it is here, once ``login_keys`` returns keys.
        """
        keys = throttle.keys(connection(request, shop.state)[1], body.email)
        wait = throttle.wait(REGISTER, keys)
        if wait is not None:
            return _refused(REGISTER_REFUSED, wait)
        throttle.count(REGISTER, keys)
        refused = shop.parts["accept_email"](body.email)
        if refused:
            return JSONResponse({"errors": [refused]}, status_code=400)
        if store.find_user(body.email) is not None:
            return JSONResponse({"errors": ["Email already registered"]}, status_code=400)
        store.add_user(body.email, "customer", parts["hash_password"](body.password))
        return {"email": body.email}

    costs: deque[dict[str, Any]] = deque(maxlen=LOGIN_COSTS_KEPT)

    @shop.app.get("/api/_lab/login-costs", include_in_schema=False)
    def login_costs() -> list[dict[str, Any]]:
        """What each recent ``login`` call cost the server: CPU time of the whole process
        (hash work, whichever thread does it) and wall time, oldest first (as 01)."""
        return list(costs)

    @shop.app.post("/api/auth/login", response_model=None)
    def login(body: Credentials, request: Request) -> Any:
        """Log in; failed attempts count against every key of ``login_keys``."""
        keys = throttle.keys(connection(request, shop.state)[1], body.email)
        wait = throttle.wait(LOGIN, keys)
        if wait is not None:
            return _refused(LOGIN_REFUSED, wait)
        cpu, wall = time.process_time(), time.perf_counter()
        status, payload = login_with(body.email, body.password, store.find_user)
        costs.append({"email": body.email, "cpuMs": (time.process_time() - cpu) * 1000,
                      "wallMs": (time.perf_counter() - wall) * 1000})  # fmt: skip
        user = store.find_user(body.email) if int(status) == 200 else None
        if user is None:
            throttle.count(LOGIN, keys)
            if int(status) == 200:
                raise FixFault(f"login returned 200 for {body.email!r}, which has no account")
            return JSONResponse(payload, status_code=int(status))
        if parts["needs_rehash"](user.password_hash):
            store.set_password_hash(user.email, parts["hash_password"](body.password))
        assert shop.login_response is not None
        return shop.login_response(user)

    add_breach_routes(shop.app, store)  # 01's /api/_lab/dump and /api/_lab/legacy-user

    @shop.app.post("/api/_lab/users", status_code=201, include_in_schema=False)
    def new_user(body: NewUser | None = None) -> dict[str, str]:
        """A fresh customer and its password, stored with the shop's hash_password — or,
        with ``{"scheme": "argon2id"}``, as a row already upgraded: the learner's own
        hash_password once it is fixed, else argon2id (OWASP's m=19456 KiB, t=2), so a
        login costs a real hash verification; ``{"scheme": "md5"}``: a legacy MD5 row."""
        email = f"user-{secrets.token_hex(5)}@{CUSTOMER_DOMAIN}"
        password = generate_password()
        scheme = body.scheme if body is not None else None
        fixed = shop.secure or "hash_password" in shop.fixed
        hasher = parts["hash_password"]
        if scheme == "argon2id" and not fixed:
            hasher = secure_passwords.hash_password
        elif scheme == "md5":  # a legacy row: cheap to make and to check (rate-limit probes)
            hasher = weak_passwords.hash_password_md5
        store.add_user(email, "customer", hasher(password))
        return {"email": email, "password": password}
