"""03-sessions: a small team wallet whose sessions are home-made.

Routes (CURRICULUM): ``POST /api/auth/login {email,password}`` → 200 ``{"email","role"}`` and
the session cookie / 401 ``{"error"}``; ``POST /api/auth/logout`` → 200 ``{"ok": true}`` and a
cookie-clearing ``Set-Cookie``; ``GET /api/me`` → 200 ``{"email","role","elevated"}`` / 401;
``POST /api/transfer`` (JSON or an HTML form: ``to``, ``amount``) → 200 ``{"id","from","to",
"amount"}`` / 401 without a session / 400 bad input / 403 over 1,000 without re-entering the
password. Also ``POST /api/auth/elevate {password}`` (re-authentication, a privilege change:
ASVS 7.5.3) and ``GET /`` (the HTML home page; it starts an anonymous session for every
visitor, as a shop does for its basket).

Lab-only: ``GET /api/_lab/sessions`` (the session store, as a breach would expose it),
``GET /api/_lab/transfers`` (what was transferred, with the request's ``Sec-Fetch-Site`` and
``Origin``), ``POST /api/_lab/users`` (a fresh account with its password, for checks),
``POST /api/_lab/clock {"advance": seconds}`` (move the app's clock, for timeouts) and
``GET /api/_lab/xss?html=...`` (a page that renders ``html`` raw: it stands for an XSS bug
anywhere on this origin, which lab 12 is about; here it shows what HttpOnly limits),
``POST /api/_lab/mint {"count": n}`` (n ids from ``new_session_id`` in a row, each with the
server's clock around the call and whether it moved Python's shared ``random`` generator —
what an attacker collecting ids and a debugger watching the process would see) and
``POST /api/_lab/busy {"sessionId", "every", "until"}`` (a user who sends a request every
``every`` seconds of the lab's clock: how long the session stays alive, for timeouts).

Replaceable parts: ``new_session_id``, ``start_session``, ``session_cookie``, ``end_session``
and ``session_expired``. The session store is SQLite (a table in the lab's database) unless
``LABKIT_REDIS_URL`` is set, then a real Redis under a prefix of this app's own.
"""

from __future__ import annotations

import html
import json
import os
import random
import secrets
import threading
import time
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from labkit.patterns import passwords as secure_passwords
from labkit.patterns import sessions as secure_sessions
from labkit.patterns.sessions import (
    RedisSessionStore,
    SessionRecord,
    SessionStore,
    SqliteSessionStore,
    id_digest,
)
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.apps.pages import planted_page
from labkit.sandbox.fixes import FixFault, FixSlot, plug_fixes
from labkit.sandbox.store import LabStore
from labkit.vulnerable import sessions as weak_sessions

__all__ = ["REDIS_ENV", "SLOTS", "LabClock", "create_app", "open_session_store"]

REDIS_ENV = "LABKIT_REDIS_URL"
LAB_ID = "03-sessions"
VICTIMS = ("alice@example.com", "bob@example.com")  # logged in before the lab opens
ELEVATION_LIMIT = 1000  # transfers above this need the password again
MAX_AMOUNT = 10_000
VULNERABLE_TTL_S = 24 * 60 * 60  # Redis keys of the vulnerable app: cleanup, not security
MAX_MINT = 1000  # ids per /api/_lab/mint request
MAX_BUSY_STEPS = 5000  # requests one /api/_lab/busy user sends at most
CLOCK_MAX_OFFSET_S = 100 * 365 * 24 * 3600  # the lab clock moves 100 years at most, in all

SLOTS = {
    "new_session_id": FixSlot("new_session_id", str, "new_session_id() -> str"),
    "start_session": FixSlot(
        "start_session", str, "start_session(store, old_id: str | None, record) -> str"
    ),
    "session_cookie": FixSlot("session_cookie", str, "session_cookie(session_id: str) -> str"),
    "end_session": FixSlot(
        "end_session", type(None), "end_session(store, session_id: str) -> None"
    ),
    "session_expired": FixSlot(
        "session_expired", bool, "session_expired(created, last_seen, now) -> bool"
    ),
}


class Credentials(BaseModel):
    email: str
    password: str


class Reauthentication(BaseModel):
    password: str


class ClockMove(BaseModel):
    advance: float = Field(default=0, allow_inf_nan=False)  # NaN stopped the clock (#14)


class Mint(BaseModel):
    count: int = 1


class Busy(BaseModel):
    sessionId: str
    every: float = Field(allow_inf_nan=False)
    until: float = Field(allow_inf_nan=False)


class LabClock:
    """Wall-clock time plus an offset the lab can move forward (to test timeouts)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds
        return self.now()


def _clock_limit(field: str, offset: float) -> JSONResponse:
    """422: the lab clock would move past :data:`CLOCK_MAX_OFFSET_S` in all."""
    msg = f"the lab clock moves at most {CLOCK_MAX_OFFSET_S:g} s in all (it is {offset:g} s ahead)"
    error = {"loc": ["body", field], "msg": msg, "type": "lab_clock_limit"}
    return JSONResponse({"errors": [error]}, status_code=422)


def open_session_store(lab_store: LabStore, *, ttl_s: int) -> tuple[SessionStore, str]:
    """Redis when ``LABKIT_REDIS_URL`` is set (a fresh prefix per app), else SQLite."""
    url = os.environ.get(REDIS_ENV, "").strip()
    if url:
        store = RedisSessionStore(
            url, prefix=f"labkit:{LAB_ID}:{secrets.token_hex(6)}:", ttl_s=ttl_s
        )
        return store, f"redis {store.prefix}*"
    table = SqliteSessionStore(lab_store.path, connect=lab_store.connect)  # guarded (#14)
    return table, f"sqlite {lab_store.path} (table sessions)"


def _parts(secure: bool, fixes: dict[str, Any], start: int) -> dict[str, Any]:
    if secure:
        defaults: dict[str, Any] = {
            "new_session_id": secure_sessions.new_session_id,
            "session_cookie": secure_sessions.session_cookie,
            "end_session": secure_sessions.end_session,
            "session_expired": secure_sessions.session_expired,
        }
    else:
        defaults = {
            "new_session_id": weak_sessions.SequentialIds(start),
            "session_cookie": weak_sessions.session_cookie,
            "end_session": weak_sessions.end_session,
            "session_expired": weak_sessions.session_expired,
        }
    parts = plug_fixes(SLOTS, defaults, fixes)
    if "start_session" not in parts:  # the chosen id generator, fixed or not
        twin = secure_sessions.start_session if secure else weak_sessions.start_session
        parts["start_session"] = partial(twin, new_id=parts["new_session_id"])
    return parts


class CookieSpec:
    """The session cookie's name, learned once from ``session_cookie`` (the learner's choice)."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._name: str | None = None
        self._lock = threading.Lock()

    def header(self, session_id: str) -> str:
        value = self._make(session_id)
        name, sep, _ = value.partition("=")
        if not sep or not name.strip() or ";" in name:
            raise FixFault(
                f"session_cookie returned {value[:60]!r}: expected 'name=value; Attribute; ...'"
            )
        return value

    @property
    def name(self) -> str:
        with self._lock:
            if self._name is None:
                self._name = self.header("probe").partition("=")[0].strip()
            return self._name


def _body_fields(raw: bytes, content_type: str) -> dict[str, Any]:
    """JSON or an urlencoded HTML form (what a cross-site <form> sends)."""
    if "application/json" in content_type:
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in fields.items()}


def _amount(value: Any) -> float | None:
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return None
    return amount if 0 < amount <= MAX_AMOUNT else None


def create_app(secure: bool = False, **fixes: Any) -> Any:
    """The 03-sessions wallet; ``secure=True`` is the reference, keyword fixes plug in yours."""
    parts = _parts(secure, fixes, start=10_000 + secrets.randbelow(80_000))
    store = LabStore(LAB_ID)
    users = store.seed_staff(secure_passwords.hash_password)
    ttl = secure_sessions.ABSOLUTE_TIMEOUT_S if secure else VULNERABLE_TTL_S
    try:
        sessions, where = open_session_store(store, ttl_s=ttl)
    except Exception:
        store.close()
        raise
    state = LabState(secure=secure, users=users, store=store, extras={"session-store": where})
    state.on_close.append(sessions.close)
    app = new_lab_app(LAB_ID, secure=secure, state=state)
    clock = LabClock()
    cookie = CookieSpec(parts["session_cookie"])
    transfers: list[dict[str, Any]] = []
    logged_out: set[str] = set()
    lock, mint_lock = threading.Lock(), threading.Lock()

    def new_record(email: str | None, **data: str) -> SessionRecord:
        now = clock.now()
        return SessionRecord(email=email, created=now, last_seen=now, data=dict(data))

    def current(request: Request) -> tuple[str, SessionRecord] | None:
        """The live session the request's cookie names, touched; expired ones are deleted."""
        session_id = request.cookies.get(cookie.name)
        if not session_id:
            return None
        record = sessions.get(session_id)
        if record is None:
            return None
        now = clock.now()
        if parts["session_expired"](record.created, record.last_seen, now):
            sessions.delete(session_id)
            return None
        sessions.put(session_id, record.seen(now))
        return session_id, record

    def signed_in(request: Request) -> tuple[str, SessionRecord] | None:
        found = current(request)
        return found if found is not None and found[1].email else None

    def with_cookie(response: Response, session_id: str) -> Response:
        response.headers.append("set-cookie", cookie.header(session_id))
        return response

    def cross_site(request: Request) -> Response | None:
        """Reference only, defence in depth (ASVS 3.5.1, OWASP CSRF CS "Fetch Metadata"):
        refuse state-changing requests another site started, whatever the cookie does."""
        if secure and request.headers.get("sec-fetch-site") == "cross-site":
            return JSONResponse({"error": "Cross-site request refused"}, status_code=403)
        return None

    def unauthenticated() -> JSONResponse:
        return JSONResponse({"error": "Not authenticated"}, status_code=401)

    # Alice and Bob are at work already: their sessions exist before the lab opens.
    for email in VICTIMS:
        try:
            parts["start_session"](sessions, None, new_record(email, origin="victim"))
        except FixFault:
            break  # a learner's unfinished start_session: the checks will say so

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> Response:
        found = current(request)
        response = HTMLResponse(_home_page(found[1].email if found else None, secure))
        if found is None:  # every visitor gets a session, before any login
            session_id = parts["new_session_id"]()
            sessions.put(session_id, new_record(None))
            with_cookie(response, session_id)
        return response

    @app.post("/api/auth/login", response_model=None)
    def login(body: Credentials, request: Request) -> Response:
        if (refused := cross_site(request)) is not None:
            return refused
        user = secure_passwords.authenticate(body.email, body.password, store.find_user)
        if user is None:
            return JSONResponse({"error": "Invalid email or password"}, status_code=401)
        presented = request.cookies.get(cookie.name) or None
        record = new_record(user.email)
        session_id = parts["start_session"](sessions, presented, record)
        if session_id == presented:  # bookkeeping for the lab's dump: the id survived login
            sessions.put(session_id, replace(record, data={"kept": "login"}))
        return with_cookie(JSONResponse({"email": user.email, "role": user.role}), session_id)

    @app.post("/api/auth/elevate", response_model=None)
    def elevate(body: Reauthentication, request: Request) -> Response:
        if (refused := cross_site(request)) is not None:
            return refused
        found = signed_in(request)
        if found is None:
            return unauthenticated()
        old_id, old = found
        email = old.email or ""
        if secure_passwords.authenticate(email, body.password, store.find_user) is None:
            return JSONResponse({"error": "Invalid password"}, status_code=401)
        record = replace(old, elevated=True, last_seen=clock.now(), data={})
        session_id = parts["start_session"](sessions, old_id, record)
        if session_id == old_id:
            sessions.put(session_id, replace(record, data={"kept": "elevate"}))
        return with_cookie(JSONResponse({"email": email, "elevated": True}), session_id)

    @app.post("/api/auth/logout", response_model=None)
    def logout(request: Request) -> Response:
        if (refused := cross_site(request)) is not None:
            return refused
        session_id = request.cookies.get(cookie.name)
        if session_id:
            parts["end_session"](sessions, session_id)
            with lock:
                logged_out.add(id_digest(session_id))
        response = JSONResponse({"ok": True})
        clearing = secure_sessions.clearing_cookie(cookie.header("probe"))
        response.headers.append("set-cookie", clearing)
        return response

    @app.get("/api/me", response_model=None)
    def me(request: Request) -> Response:
        found = signed_in(request)
        if found is None:
            return unauthenticated()
        record = found[1]
        user = store.find_user(record.email or "")
        role = user.role if user is not None else "unknown"
        return JSONResponse({"email": record.email, "role": role, "elevated": record.elevated})

    def do_transfer(request: Request, raw: bytes) -> Response:
        if (refused := cross_site(request)) is not None:
            return refused
        found = signed_in(request)
        if found is None:
            return unauthenticated()
        record = found[1]
        fields = _body_fields(raw, request.headers.get("content-type", ""))
        to, amount = str(fields.get("to", "")).strip(), _amount(fields.get("amount"))
        if not to or len(to) > 64 or amount is None:
            return JSONResponse(
                {"error": f"Send 'to' (1-64 characters) and 'amount' (0 < amount <= {MAX_AMOUNT})"},
                status_code=400,
            )
        if amount > ELEVATION_LIMIT and not record.elevated:
            return JSONResponse(
                {"error": "Re-enter your password first (POST /api/auth/elevate)"}, status_code=403
            )
        with lock:
            entry = {
                "id": len(transfers) + 1,
                "from": record.email,
                "to": to,
                "amount": amount,
                "fetchSite": request.headers.get("sec-fetch-site"),
                "origin": request.headers.get("origin"),
            }
            transfers.append(entry)
        return JSONResponse({k: entry[k] for k in ("id", "from", "to", "amount")})

    @app.post("/api/transfer", response_model=None)
    async def transfer(request: Request) -> Response:
        # JSON or a urlencoded form; the body is read here, the work (store, learner
        # functions) runs in the thread pool like every other route
        raw = await request.body()
        return await run_in_threadpool(do_transfer, request, raw)

    # -- lab-only ----------------------------------------------------------------------
    @app.get("/api/_lab/sessions", include_in_schema=False)
    def dump_sessions() -> dict[str, Any]:
        rows = []
        for digest, record in sessions.records():
            rows.append(
                {
                    "idSha256": digest,
                    "email": record.email,
                    "created": record.created,
                    "lastSeen": record.last_seen,
                    "elevated": record.elevated,
                    "loggedOut": digest in logged_out,
                    **record.data,
                }
            )
        return {"store": where.split()[0], "now": clock.now(), "sessions": rows}

    @app.get("/api/_lab/transfers", include_in_schema=False)
    def list_transfers() -> list[dict[str, Any]]:
        with lock:
            return list(transfers)

    @app.post("/api/_lab/users", status_code=201, include_in_schema=False)
    def new_user() -> dict[str, str]:
        email = f"user-{secrets.token_hex(4)}@wallet.example"
        password = f"Pw-{secrets.token_urlsafe(12)}"
        store.add_user(email, "customer", secure_passwords.hash_password(password))
        return {"email": email, "password": password, "role": "customer"}

    @app.post("/api/_lab/clock", include_in_schema=False)
    def move_clock(body: ClockMove) -> Any:
        if body.advance < 0:
            return JSONResponse({"error": "the clock only moves forward"}, status_code=400)
        if clock.offset + body.advance > CLOCK_MAX_OFFSET_S:
            return _clock_limit("advance", clock.offset)
        return {"now": clock.advance(body.advance), "offset": clock.offset}

    @app.post("/api/_lab/mint", include_in_schema=False)
    def mint(body: Mint) -> dict[str, Any]:
        # one caller at a time, so the ids are consecutive outputs of the generator
        ids, windows, moved = [], [], 0
        with mint_lock:
            for _ in range(max(1, min(body.count, MAX_MINT))):
                shared = random.getstate()
                before = time.time_ns()
                session_id = parts["new_session_id"]()
                windows.append([before, time.time_ns()])
                moved += random.getstate() != shared
                ids.append(session_id)
        return {"ids": ids, "windowsNs": windows, "sharedRandomMoved": moved}

    @app.post("/api/_lab/busy", include_in_schema=False, response_model=None)
    def busy(body: Busy) -> Any:
        if not (body.every > 0 and 0 <= body.until <= body.every * MAX_BUSY_STEPS):
            return JSONResponse({"error": "0 < every, until <= every * 5000"}, status_code=400)
        if clock.offset + body.until + body.every > CLOCK_MAX_OFFSET_S:
            return _clock_limit("until", clock.offset)
        record = sessions.get(body.sessionId)
        alive_s = 0.0
        # one request every `every` seconds: the same touch as current(), the store's
        # round trips left out (thousands of them would make the check slow, not stricter)
        while record is not None and alive_s < body.until:
            clock.advance(body.every)
            if parts["session_expired"](record.created, record.last_seen, clock.now()):
                sessions.delete(body.sessionId)
                record = None
                break
            record = record.seen(clock.now())
            alive_s += body.every
        if record is not None:
            sessions.put(body.sessionId, record)
        return {"aliveFor": alive_s, "alive": sessions.get(body.sessionId) is not None}

    @app.get("/api/_lab/xss", response_class=HTMLResponse, include_in_schema=False)
    def xss(request: Request, html: str = "") -> HTMLResponse:
        # Deliberately raw in BOTH apps: this page stands for an XSS bug somewhere on the
        # origin. What the injected script can reach is this lab's lesson, not the bug.
        # Through a hub's proxy (JupyterLab's origin) it is sandboxed: see planted_page.
        return planted_page(request, _XSS_PAGE.format(comment=html))

    return app


_XSS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Team wallet · comments</title></head>
<body><h1>Latest comment</h1><div id="comment">{comment}</div></body></html>"""


def _home_page(email: str | None, secure: bool) -> str:
    mode = "secure reference" if secure else "DELIBERATELY VULNERABLE"
    who = f"Signed in as <b id='who'>{html.escape(email)}</b>" if email else "Welcome, guest"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Team wallet ({mode})</title></head>
<body>
<h1>Team wallet</h1>
<p id="status">{who}</p>
<form id="login">
  <input id="email" name="email" placeholder="email" autocomplete="username">
  <input id="password" name="password" type="password" placeholder="password"
         autocomplete="current-password">
  <button id="signin" type="submit">Sign in</button>
</form>
<form id="send">
  <input id="to" name="to" placeholder="to"> <input id="amount" name="amount" placeholder="amount">
  <button id="transfer" type="submit">Transfer</button>
</form>
<button id="logout">Sign out</button>
<pre id="result"></pre>
<script>
// Every URL relative to this page: it works at / and under a hub's /user/NAME/proxy/PORT/.
const post = (url, body) => fetch(url, {{method: "POST", credentials: "same-origin",
  headers: {{"content-type": "application/json"}}, body: JSON.stringify(body || {{}})}});
const show = async (r) => {{
  document.getElementById("result").textContent = r.status + " " + await r.text(); return r;
}};
// Who am I? Asked with the cookie the browser kept: the proof that the session works.
const refresh = async () => {{
  const r = await fetch("api/me", {{credentials: "same-origin"}});
  const status = document.getElementById("status");
  status.textContent = r.ok ? "Signed in as " : "Welcome, guest";
  if (r.ok) {{
    const who = document.createElement("b");
    who.id = "who"; who.textContent = (await r.json()).email; status.append(who);
  }}
  return r.ok;
}};
document.getElementById("login").onsubmit = async (e) => {{
  e.preventDefault();
  document.body.dataset.login = "pending";
  const r = await show(await post("api/auth/login", {{
    email: document.getElementById("email").value,
    password: document.getElementById("password").value}}));
  if (r.ok && !(await refresh())) {{
    document.getElementById("result").textContent += " (but the browser did not keep the cookie)";
  }}
  document.body.dataset.login = "done";
}};
document.getElementById("send").onsubmit = async (e) => {{
  e.preventDefault();
  await show(await post("api/transfer", {{to: document.getElementById("to").value,
    amount: document.getElementById("amount").value}}));
}};
document.getElementById("logout").onclick = async () => {{
  await show(await post("api/auth/logout")); await refresh();
}};
</script>
</body></html>"""
