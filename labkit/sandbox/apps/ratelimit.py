"""11-rate-limiting: a shop whose login nobody throttles, and a hot-fix on staging that tries.

Routes (CURRICULUM): ``POST /api/auth/login {email,password}`` → 200 ``{"accessToken"}`` /
401 ``{"error"}`` / 429 ``{"error": "Too many login attempts. Try again later."}`` (5 per 15 min
per client IP and per account); every route 100 per 15 min per client IP; ``GET /api/v1/items``
60 per minute per API client (``X-API-Key`` of a registered client, else the client IP).
Refusals are 429 with ``Retry-After``; responses carry the RateLimit header fields. Also
``GET /api/me`` (Bearer token → its claims).

Three ways to build the app:

* ``create_app()`` — the vulnerable shop: **no limiter at all**. Its companion ``staging``
  (``lab.urls["staging"]``, its own accounts and passwords) runs the team's hot-fix: every
  part from :mod:`labkit.vulnerable.ratelimit` (``X-Forwarded-For`` from anyone, account key
  as typed, fixed window in process memory, draft-6 headers).
* ``create_app(**fixes)`` — the hot-fix with the learner's parts plugged in.
* ``create_app(secure=True)`` — every part from :mod:`labkit.patterns.ratelimit`.

Lab-only: ``POST /api/_lab/users`` (a fresh account and its password, for checks),
``POST /api/_lab/api-clients`` (a registered API client), ``GET /api/_lab/leaked-credentials``
(another site's breach), ``GET /api/_lab/burst`` (``/api/v1/items`` with a 1-second window,
10 per second, so a window boundary comes in seconds instead of minutes) and
``GET /api/_lab/burst-log?api_key=`` (when the server let each burst request through).

Only ``X-Forwarded-For`` sent from :data:`TRUSTED_PROXY` is the reverse proxy's: connect from
that address (``labkit.attacks.bruteforce.client_from(url, "127.0.0.2")``) to play the proxy.

The limiter stores its counters in memory, or in the Redis at ``LABKIT_REDIS_URL``. Keys live
under ``labkit:11-rate-limiting`` in that Redis database: the reference app
(``create_app(secure=True)``, ``labkit serve 11-rate-limiting --secure``, :func:`process_app`)
uses that stable namespace, so replicas sharing one Redis enforce one limit;
``LABKIT_REDIS_NAMESPACE=<name>`` isolates a group of them (``labkit:11-rate-limiting:<name>``).
Lab sandboxes (the notebook's app, every patched app) pick a random namespace each, so they
never share counters with each other. :func:`serve_processes` starts real processes.

A patched app given ``new_limiter`` also serves a ``replica`` companion: the same shop behind a
second limiter built by ``new_limiter`` from the *same* storage URI, as a second process would
be. Without Redis that URI is ``labkit-memory://<name>`` (:class:`SharedMemoryStorage`, one
in-process store per name, standing in for Redis), so a limiter that opens the URI it is given
shares its counts with the replica's, and one that opens a storage of its own does not.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from pydantic import BaseModel

from labkit import edition
from labkit.patterns import passwords as secure_passwords
from labkit.patterns import ratelimit as secure_limits
from labkit.patterns.ratelimit import BURST, ITEMS, LOGIN, SITE, Decision, Policy, consume
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.bearer import BearerAuth
from labkit.sandbox.fixes import FixFault, FixSlot, plug_fixes
from labkit.sandbox.store import LabStore, Users, generate_password
from labkit.vulnerable import passwords as weak_passwords
from labkit.vulnerable import ratelimit as weak_limits
from labkit.wordlists import seed_passwords

__all__ = [
    "LAB_ID",
    "NAMESPACE_ENV",
    "REDIS_ENV",
    "SLOTS",
    "TRUSTED_PROXY",
    "SharedMemoryStorage",
    "create_app",
    "private_redis",
    "process_app",
    "serve_processes",
    "shared_fixed_window",
]

LAB_ID = "11-rate-limiting"
REDIS_ENV = "LABKIT_REDIS_URL"
NAMESPACE_ENV = "LABKIT_REDIS_NAMESPACE"
SECURE_ENV = "LABKIT_RATELIMIT_SECURE"
#: The address of the shop's reverse proxy: the only peer whose X-Forwarded-For counts.
TRUSTED_PROXY = "127.0.0.2"
TARGET = "carol@example.com"  # the account whose password is weak
WEAK_POOL = (20, 200)  # carol's password: among the 200 most common, but not the first 20
CUSTOMERS = ("dana", "eli", "farah", "gus", "hiro", "ines", "jala", "kurt", "lin", "mo", "nia")
REUSERS = 4  # customers whose password leaked with another site's breach
LEAK_DECOYS = 19
LOGIN_PATH, ITEMS_PATH, BURST_PATH = "/api/auth/login", "/api/v1/items", "/api/_lab/burst"
LOGIN_REFUSED = {"error": "Too many login attempts. Try again later."}
REFUSED = {"error": "Too many requests, please try again later."}

SLOTS = {
    "client_ip": FixSlot(
        "client_ip",
        str,
        "client_ip(peer: str, forwarded_for: str | None, trusted_proxies: frozenset[str]) -> str",
    ),
    "login_keys": FixSlot(
        "login_keys", Iterable, "login_keys(ip: str, email: str) -> list[str] (any sequence)"
    ),
    "new_limiter": FixSlot(
        "new_limiter", RateLimiter, "new_limiter(storage_uri: str) -> limits RateLimiter"
    ),
    "rate_limit_headers": FixSlot(
        "rate_limit_headers",
        dict,
        "rate_limit_headers(policy, quota, window, remaining, reset, refused) -> dict[str, str]",
    ),
}
SECURE_PARTS = {
    "client_ip": secure_limits.client_ip,
    "login_keys": secure_limits.login_keys,
    "new_limiter": secure_limits.new_limiter,
    "rate_limit_headers": secure_limits.rate_limit_headers,
}
HOTFIX_PARTS = {
    "client_ip": weak_limits.client_ip,
    "login_keys": weak_limits.login_keys,
    "new_limiter": weak_limits.new_limiter,
    "rate_limit_headers": weak_limits.rate_limit_headers,
}


class Credentials(BaseModel):
    email: str
    password: str


@dataclass
class Shop:
    """One shop's data: its database, seeded accounts, and the breach list of another site."""

    store: LabStore
    users: Users
    leak: list[tuple[str, str]]
    hash_password: Any
    verify_password: Any
    dummy_hash: str


class SharedMemoryStorage(MemoryStorage):
    """``labkit-memory://<name>``: ``memory://`` shared by every storage opened with that name
    in this process — what a Redis URL is to several processes, for two app replicas that run
    in one process (a check's patched app and its ``replica``)."""

    STORAGE_SCHEME: ClassVar[list[str]] = ["labkit-memory"]
    _named: ClassVar[weakref.WeakValueDictionary[str, SharedMemoryStorage]] = (
        weakref.WeakValueDictionary()
    )
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __new__(cls, uri: str | None = None, *args: Any, **options: Any) -> SharedMemoryStorage:
        with cls._lock:
            store = cls._named.get(uri or "")
            if store is None:
                store = super().__new__(cls)
                store._opened = False
                cls._named[uri or ""] = store
            return store

    def __init__(self, uri: str | None = None, *args: Any, **options: Any) -> None:
        with self._lock:
            if self._opened:
                return
            self._opened = True
        super().__init__(uri, *args, **options)


def storage_uri(shared: bool = False) -> str:
    """Where counters live: the Redis at ``LABKIT_REDIS_URL``, else this process's memory
    (``shared``: a fresh ``labkit-memory://`` name, for replicas in this process)."""
    redis = os.environ.get(REDIS_ENV, "").strip()
    if redis:
        return redis
    return f"labkit-memory://{secrets.token_hex(8)}" if shared else "memory://"


def namespace(stable: bool) -> str:
    """Where this app's keys live in the storage: ``labkit:11-rate-limiting`` for the reference
    app (``:<name>`` with ``LABKIT_REDIS_NAMESPACE``), a random one for a lab sandbox."""
    if not stable:
        return f"labkit:{LAB_ID}:sandbox-{secrets.token_hex(6)}"
    chosen = os.environ.get(NAMESPACE_ENV, "").strip()
    return f"labkit:{LAB_ID}:{chosen}" if chosen else f"labkit:{LAB_ID}"


def _new_shop(secure: bool) -> Shop:
    """Staff (alice, bob, carol), customers, and a breach list; carol's password is weak."""
    rng = secrets.SystemRandom()
    if secure:
        hasher, verify = secure_passwords.hash_password, secure_passwords.verify_password
    else:
        hasher, verify = weak_limits.hash_password_fast, weak_passwords.verify_password
    store = LabStore(LAB_ID)
    staff = store.seed_staff(hasher)
    weak = rng.choice(seed_passwords(WEAK_POOL[1])[WEAK_POOL[0] :])
    store.set_password_hash(TARGET, hasher(weak))
    # carol's password is what the learner must find: lab.users lists the others only
    users = Users([u for u in staff.values() if u.email != TARGET])
    reused = rng.sample(seed_passwords(3000)[WEAK_POOL[1] :], len(CUSTOMERS))
    leak: list[tuple[str, str]] = []
    for index, name in enumerate(CUSTOMERS):
        email = f"{name}@example.com"
        own = reused[index] if index < REUSERS else generate_password()
        store.add_user(email, "customer", hasher(own))
        leak.append((email, reused[index]))  # the others changed their password since
    for n in range(LEAK_DECOYS):
        leak.append((f"user{n:02d}.{secrets.token_hex(2)}@example.net", rng.choice(reused)))
    rng.shuffle(leak)
    return Shop(store, users, leak, hasher, verify, hasher(secrets.token_urlsafe(16)))


def _checked_headers(value: Any) -> dict[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise FixFault("rate_limit_headers must return a dict of str to str")
    return value


def _checked_keys(value: Iterable[Any]) -> list[str]:
    """Any sequence of keys (a list, a tuple...), but not one string or a mapping."""
    keys = [] if isinstance(value, (str, bytes, Mapping)) else list(value)
    if not keys or not all(isinstance(k, str) and k for k in keys):
        shown = repr(value)[:120]
        raise FixFault(f"login_keys returned {shown}: expected a non-empty list of strings")
    return keys


@dataclass
class Registry:
    """What replicas of one shop share besides the storage: its API clients and burst log."""

    api_clients: dict[str, str] = field(default_factory=dict)  # API key -> client id
    #: client id -> (server time before, after, allowed) of the limiter's burst decisions
    burst_log: dict[str, list[tuple[float, float, bool]]] = field(default_factory=dict)


class Limits:
    """The limiter of one app: its parts, its storage and the API clients it knows."""

    def __init__(
        self,
        parts: dict[str, Any],
        *,
        trusted: frozenset[str],
        uri: str,
        namespace: str,
        registry: Registry | None = None,
    ) -> None:
        self.parts = parts
        self.trusted = trusted
        self.uri = uri
        self.limiter: RateLimiter = parts["new_limiter"](uri)
        self.namespace = namespace
        self.registry = registry or Registry()
        self.api_clients = self.registry.api_clients
        self.burst_log = self.registry.burst_log

    def replica(self) -> Limits:
        """The limiter of a second instance of the app: the same parts, storage URI and
        namespace (as a second process would have), a limiter of its own."""
        return Limits(
            self.parts,
            trusted=self.trusted,
            uri=self.uri,
            namespace=self.namespace,
            registry=self.registry,
        )

    def consume(self, checks: list[tuple[Policy, str]]) -> Decision:
        return consume(self.limiter, checks, namespace=self.namespace)

    def headers(self, decision: Decision) -> dict[str, str]:
        policy = decision.policy
        value = self.parts["rate_limit_headers"](
            policy.name,
            policy.quota,
            policy.window,
            decision.remaining,
            decision.reset,
            not decision.allowed,
        )
        return _checked_headers(value)

    def describe(self) -> str:
        kind = type(self.limiter).__name__
        where = "redis" if self.uri.startswith("redis") else "process memory"
        return f"{kind} in {where}"


def _binding(decisions: list[Decision]) -> Decision:
    refused = [d for d in decisions if not d.allowed]
    if refused:
        return max(refused, key=lambda d: d.reset)
    return min(decisions, key=lambda d: (d.remaining, -d.reset))


def _install_limits(app: Any, limits: Limits) -> None:
    """Count every request (site-wide, items, burst) before its route runs; add the headers."""

    @app.middleware("http")
    async def rate_limit(request: Request, call_next: Any) -> Any:
        path = request.url.path
        if path.startswith("/api/_lab/") and path != BURST_PATH:
            return await call_next(request)
        # the socket peer: sandboxes (and serve_processes) run uvicorn with proxy headers off,
        # so scope["client"] is the connection's address, not one taken from a header
        peer = request.client.host if request.client else "0.0.0.0"  # noqa: S104
        # several X-Forwarded-For lines are one list (RFC 9110 §5.3): the proxy's is the last
        forwarded = ", ".join(request.headers.getlist("x-forwarded-for")) or None
        ip = await run_in_threadpool(limits.parts["client_ip"], peer, forwarded, limits.trusted)
        request.scope["labkit.client_ip"] = ip
        api_key = request.headers.get("x-api-key")
        client = limits.api_clients.get(api_key or "")
        if api_key and client is None and path in (ITEMS_PATH, BURST_PATH):
            return JSONResponse({"error": "Invalid API key"}, status_code=401)
        client_key = f"client:{client}" if client else f"ip:{ip}"
        if path == BURST_PATH:
            checks = [(BURST, client_key)]
        elif path == ITEMS_PATH:
            checks = [(SITE, f"ip:{ip}"), (ITEMS, client_key)]
        else:
            checks = [(SITE, f"ip:{ip}")]
        before = time.time()
        decision = await run_in_threadpool(limits.consume, checks)
        decided = (before, time.time())  # the limiter decided in between
        if decision.allowed:
            decisions = [decision]
            request.scope["labkit.decisions"] = decisions
            response = await call_next(request)
            decision = _binding(decisions)
            allowed = response.status_code == 200
        else:
            body = LOGIN_REFUSED if path == LOGIN_PATH else REFUSED
            response = JSONResponse(body, status_code=429)
            allowed = False
        if path == BURST_PATH and client:
            limits.burst_log.setdefault(client, []).append((*decided, allowed))
        headers = await run_in_threadpool(limits.headers, decision)
        for name, value in headers.items():
            response.headers[name] = value
        return response


def _build(shop: Shop, state: LabState, limits: Limits | None, title: str) -> Any:
    """The shop's FastAPI app, rate-limited by ``limits`` (or not at all)."""
    app = new_lab_app(title, secure=state.secure, state=state)
    auth = BearerAuth.for_store(shop.store)
    auth.install(app)
    if limits is not None:
        _install_limits(app, limits)
    store = shop.store

    @app.post(LOGIN_PATH, response_model=None)
    def login(body: Credentials, request: Request) -> Any:
        if limits is not None:
            ip = request.scope.get("labkit.client_ip", "0.0.0.0")  # noqa: S104
            keys = _checked_keys(limits.parts["login_keys"](ip, body.email))
            decision = limits.consume([(LOGIN, key) for key in keys])
            request.scope.setdefault("labkit.decisions", []).append(decision)
            if not decision.allowed:
                return JSONResponse(LOGIN_REFUSED, status_code=429)
        # the login resolves the account without surrounding whitespace and without case
        # (the users table compares emails COLLATE NOCASE): " Carol@Example.com" is carol
        user = store.find_user(body.email.strip())
        stored = user.password_hash if user is not None else shop.dummy_hash
        ok = shop.verify_password(body.password, stored)
        if user is None or not ok:
            return JSONResponse({"error": "Invalid email or password"}, status_code=401)
        pair = auth.service.issue_tokens(
            {"id": user.id, "role": user.role, "tokenVersion": user.token_version}
        )
        return {"accessToken": pair["accessToken"]}

    current_user = Depends(auth.current_user)  # a local: string annotations cannot see it

    @app.get("/api/me")
    def me(claims: dict[str, Any] = current_user) -> dict[str, Any]:
        return {"sub": claims["sub"], "role": claims["role"]}

    @app.get(ITEMS_PATH)
    def items() -> dict[str, Any]:
        return {"items": [{"id": n, "name": f"item {n}"} for n in range(1, 6)]}

    @app.get(BURST_PATH, include_in_schema=False)
    def burst() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/_lab/burst-log", include_in_schema=False)
    def burst_log(api_key: str) -> dict[str, Any]:
        """The limiter's burst decisions on the server's clock: ``decisions`` ([before, after,
        allowed] per request, in order), ``spans`` ([before, after] of the allowed ones) and
        ``allowed`` (the time just after each yes)."""
        client = limits.api_clients.get(api_key) if limits is not None else None
        log = limits.burst_log.get(client, []) if limits is not None and client else []
        spans = [[before, after] for before, after, allowed in log if allowed]
        return {
            "window": BURST.window,
            "quota": BURST.quota,
            "allowed": [after for _, after in spans],
            "spans": spans,
            "decisions": [list(entry) for entry in log],
        }

    @app.post("/api/_lab/users", status_code=201, include_in_schema=False)
    def new_user() -> dict[str, str]:
        email = f"user-{secrets.token_hex(5)}@example.com"
        password = generate_password()
        store.add_user(email, "customer", shop.hash_password(password))
        return {"email": email, "password": password}

    @app.post("/api/_lab/api-clients", status_code=201, include_in_schema=False)
    def new_api_client() -> dict[str, str]:
        key, client = f"lk_{secrets.token_urlsafe(18)}", f"client-{secrets.token_hex(4)}"
        if limits is not None:
            limits.api_clients[key] = client
        return {"apiKey": key, "clientId": client}

    @app.get("/api/_lab/leaked-credentials", include_in_schema=False)
    def leaked() -> list[tuple[str, str]]:
        return shop.leak

    return app


def _state(shop: Shop, secure: bool, limits: Limits | None) -> LabState:
    extras = {
        "trusted-proxy": TRUSTED_PROXY,
        "limiter": limits.describe() if limits is not None else "none",
    }
    return LabState(secure=secure, users=shop.users, store=shop.store, extras=extras)


def create_app(secure: bool = False, *, served: bool | None = None, **fixes: Any) -> Any:
    """The 11-rate-limiting shop; ``secure=True`` is the reference, keyword fixes plug in yours.

    ``served`` (default: ``secure``) keeps the counters in the stable namespace that every
    replica of the served shop shares (see the module docstring); a sandbox's are its own.
    A patched app given ``new_limiter`` also serves its ``replica`` (same storage URI).
    """
    trusted = frozenset({TRUSTED_PROXY})
    if secure:
        parts = plug_fixes(SLOTS, SECURE_PARTS, fixes)
    else:
        parts = plug_fixes(SLOTS, HOTFIX_PARTS, fixes)
    limited = secure or any(fn is not None for fn in fixes.values())
    stable = secure if served is None else served
    replicated = fixes.get("new_limiter") is not None and not secure and not stable
    shop = _new_shop(secure)
    try:
        limits = (
            Limits(parts, trusted=trusted, uri=storage_uri(replicated), namespace=namespace(stable))
            if limited
            else None
        )
        replica = limits.replica() if limits is not None and replicated else None
    except Exception:
        shop.store.close()
        raise
    state = _state(shop, secure, limits)
    app = _build(shop, state, limits, LAB_ID)
    if replica is not None:  # a second instance of the same shop: a second process would be
        replica_state = LabState(secure=secure, users=shop.users, extras=dict(state.extras))
        state.companions["replica"] = _build(shop, replica_state, replica, f"{LAB_ID} replica")
    if not limited:  # the vulnerable shop: staging runs the team's hot-fix beside it
        staging_shop = _new_shop(False)
        staging_limits = Limits(
            dict(HOTFIX_PARTS), trusted=trusted, uri=storage_uri(), namespace=namespace(False)
        )
        staging_state = _state(staging_shop, False, staging_limits)
        state.companions["staging"] = _build(
            staging_shop, staging_state, staging_limits, f"{LAB_ID} staging hot-fix"
        )
        state.extras["staging-limiter"] = staging_limits.describe()
        state.on_started.append(lambda urls: state.extras.update(staging=urls["staging"]))
        state.on_close.append(staging_state.close)
    return app


def shared_fixed_window(storage_uri: str) -> RateLimiter:
    """The hot-fix's fixed window, but counting in the storage it is given: what the student
    edition's processes run (the multi-process lesson is the storage). Not 11's answer: a
    fixed window lets a burst through at its boundary."""
    return FixedWindowRateLimiter(storage_from_string(storage_uri))


def process_app() -> Any:
    """App factory for ``uvicorn --factory``: the shop with the reference limiter, or with the
    hot-fix's when ``LABKIT_RATELIMIT_SECURE=0``. Accounts use the fast hash of the vulnerable
    shop: these processes start in a notebook cell, and their lesson is the limiter."""
    if os.environ.get(SECURE_ENV, "1") == "0":
        parts = HOTFIX_PARTS
    elif edition.STUDENT:  # no reference parts there; this lesson is the storage alone
        parts = {**HOTFIX_PARTS, "new_limiter": shared_fixed_window}
    else:
        parts = SECURE_PARTS
    return create_app(served=True, **parts)


# -- several processes and a private Redis (the multi-process lesson) -----------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_ping(port: int, password: str) -> bool:
    """True once the Redis on ``port`` answers PING after AUTH with ``password``."""
    secret = password.encode()
    auth = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(secret), secret)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(auth + b"*1\r\n$4\r\nPING\r\n")
            reply = b""
            while b"\r\n" not in reply[5:] and not reply.startswith(b"-"):
                if not (chunk := s.recv(64)):
                    break
                reply += chunk
            return reply.startswith(b"+OK\r\n+PONG")
    except OSError:
        return False


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def private_redis(timeout: float = 15.0) -> Iterator[str | None]:
    """A private, non-persistent ``redis-server`` on a free loopback port; None if not installed.

    Yields ``redis://:<password>@127.0.0.1:<port>/0`` and stops the server (and deletes its
    folder) after. The password is random: on a shared host any user can reach the port, and
    without it could ``FLUSHALL`` or ``CONFIG SET`` this Redis. It goes to redis-server in a
    config file only this user can read, never on the command line (which ``ps`` shows to
    every user); ``CONFIG`` is disabled (no client of the lab needs it).
    """
    exe = shutil.which("redis-server")
    if exe is None:
        yield None
        return
    workdir = Path(tempfile.mkdtemp(prefix="labkit-redis-"))  # mode 0700
    port, password = _free_port(), secrets.token_urlsafe(24)
    config = workdir / "redis.conf"
    config.touch(mode=0o600)
    config.write_text(
        f"port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {workdir}\n"
        f'daemonize no\nrequirepass {password}\nrename-command CONFIG ""\n',
        encoding="utf-8",
    )
    process = subprocess.Popen(  # noqa: S603  (redis-server from PATH, fixed arguments)
        [exe, str(config)], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + timeout
        while not _redis_ping(port, password):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on 127.0.0.1:{port}")
            time.sleep(0.02)
        yield f"redis://:{password}@127.0.0.1:{port}/0"
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def serve_processes(
    groups: Mapping[str, str | None],
    *,
    count: int = 2,
    secure: bool = True,
    timeout: float = 90.0,
) -> Iterator[dict[str, list[str]]]:
    """Start ``count`` real uvicorn processes of this lab's app per group; yield their URLs.

    ``groups`` maps a name to a Redis URL or None: the processes of a group share one key
    namespace and, given a Redis URL, that Redis (one set of counters); with None each keeps
    its counters in its own memory. All processes start at once; all are stopped after.
    uvicorn runs with ``--no-proxy-headers``: the app itself decides whom to trust.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    urls: dict[str, list[str]] = {}
    try:
        for name, redis_url in groups.items():
            env = {k: v for k, v in os.environ.items() if k != REDIS_ENV}
            env[NAMESPACE_ENV] = f"procs-{secrets.token_hex(4)}"
            env[SECURE_ENV] = "1" if secure else "0"
            if redis_url:
                env[REDIS_ENV] = redis_url
            for _ in range(count):
                port = _free_port()
                log = Path(tempfile.mkstemp(prefix="labkit-uvicorn-", suffix=".log")[1])
                command = [sys.executable, "-m", "uvicorn", f"{__name__}:process_app",
                           "--factory", "--host", "127.0.0.1", "--port", str(port),
                           "--no-proxy-headers", "--no-access-log",
                           "--http", "labkit.sandbox.limits:GuardedH11Protocol",
                           "--lifespan", "off"]  # fmt: skip
                with open(log, "wb") as out:
                    process = subprocess.Popen(  # noqa: S603  (this Python, fixed arguments)
                        command, env=env, stdout=out, stderr=subprocess.STDOUT
                    )
                processes.append((process, log))
                urls.setdefault(name, []).append(f"http://127.0.0.1:{port}")
        for process, log in processes:
            _wait_until_serving(process, log, timeout)
        yield urls
    finally:
        for process, log in processes:
            _stop(process)
            log.unlink(missing_ok=True)


def _wait_until_serving(process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    port = int(process.args[process.args.index("--port") + 1])  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"uvicorn on port {port} did not start:\n{tail}")
        time.sleep(0.05)
