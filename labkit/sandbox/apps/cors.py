"""10-cors: an account API whose CORS policy lets other origins read it with your cookies.

Routes (CURRICULUM): ``GET /api/account`` (credentialed: the session cookie or a Bearer
token; the account's private data) and ``PUT /api/account {name}`` (JSON, so browsers send
a preflight); ``POST /api/auth/login {email,password}`` → ``{"accessToken"}`` plus an
``HttpOnly; Secure; SameSite=Lax`` ``session`` cookie holding the same token (browsers send
cookies, not your Authorization header). ``GET /api/legacy/{gateway}/account`` (and PUT):
older gateways of the same API, each guarded by one hand-written origin check in the
vulnerable app (``null``, ``suffix``, ``prefix``, ``regex``, ``http``); in the secure and
patched apps the one policy covers them too. Lab-only: ``GET /api/_lab/victim`` (the
victim's login, as typed into their own browser).

Companions, each its own sandbox and so its own origin: ``attacker`` (the attacker's page,
:data:`labkit.attacks.cors.ATTACKER_PAGE`) and ``frontend`` (the legitimate web app that
reads the API). Sandboxes on 127.0.0.1 are different origins but the same *site*, so the
``SameSite=Lax`` cookie goes along with the attacker's fetch: CORS is the defence here.

The allowlist: exactly ``https://app.example.com``, plus the frontend sandbox's origin when
the lab has a frontend. ``create_app(secure, frontend=None)``: the frontend exists by
default in the notebook's apps (``secure=False``, with or without fixes) and not in
``create_app(secure=True)`` — which is what ``labkit serve 10-cors --secure`` runs, so it
trusts ``https://app.example.com`` only; ``frontend=True`` adds it to a secure app.

Replaceable part: ``cors_settings(trusted_origins: list[str]) -> dict`` — the keyword
arguments for Starlette's ``CORSMiddleware``, given the origins the app should trust.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from labkit.attacks.cors import ATTACKER_PAGE
from labkit.patterns import cors as secure_cors
from labkit.patterns.passwords import hash_password, verify_password
from labkit.patterns.tokens import ACCESS_TTL, TokenError, bearer_token
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.apps.pages import browser_link, planted_page
from labkit.sandbox.bearer import BearerAuth
from labkit.sandbox.fixes import FixFault, FixSlot, plug_fixes
from labkit.sandbox.store import LabStore
from labkit.vulnerable import cors as weak_cors

__all__ = ["APP_ORIGIN", "GATEWAYS", "SESSION_COOKIE", "SLOTS", "VICTIM", "create_app"]

APP_ORIGIN = secure_cors.APP_ORIGIN
VICTIM = "alice@example.com"
SESSION_COOKIE = "session"
GATEWAYS = tuple(weak_cors.HANDWRITTEN_CHECKS)
LEGACY_PREFIX = "/api/legacy/"

SLOTS = {
    "cors_settings": FixSlot(
        "cors_settings", dict, "cors_settings(trusted_origins: list[str]) -> dict"
    ),
}

NAMES = {"alice@example.com": "Alice Admin", "bob@example.com": "Bob Editor"}

LANDING_PAGE = """<!doctype html><meta charset="utf-8"><title>Account API</title>
<h1>Example Bank — account API</h1><p>Log in with <code>POST /api/auth/login</code>.</p>"""

FRONTEND_PAGE = """<!doctype html>
<meta charset="utf-8"><title>Example App</title>
<h1>Example App — your account</h1>
<pre id="result">loading…</pre>
<script>
const API = %(api)s;
async function run() {
  try {
    const response = await fetch(API + "/api/account", {credentials: "include"});
    const body = await response.text();
    let wrote = null;
    if (response.ok) {  // save the name back: a JSON PUT, so the browser sends a preflight
      const update = await fetch(API + "/api/account", {
        method: "PUT", credentials: "include",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({name: JSON.parse(body).name}),
      });
      wrote = update.status;
    }
    return {readable: true, status: response.status, body, error: "", wrote};
  } catch (error) {
    return {readable: false, status: null, body: null, error: String(error), wrote: null};
  }
}
run().then(result => {
  window.labkitResult = result;
  document.getElementById("result").textContent = JSON.stringify(result, null, 1);
});
</script>
"""


class NameChange(BaseModel):
    name: str = Field(min_length=1, max_length=80)


class Credentials(BaseModel):
    email: str
    password: str


class CorsPolicy:
    """The app's CORS settings for its current allowlist, or why they could not be made.

    The allowlist grows once the lab is served (the frontend sandbox's origin is only known
    then), so the settings are recomputed by :meth:`update`; a learner's ``cors_settings``
    that raises, returns the wrong type or returns arguments ``CORSMiddleware`` refuses
    becomes a ``fault`` — every request then answers 500 with ``labkitFault``.
    """

    def __init__(self, settings_for: Callable[[list[str]], dict[str, Any]]) -> None:
        self.settings_for = settings_for
        self.trusted: list[str] = []
        self.settings: dict[str, Any] = {}
        self.fault = ""
        self.version = 0
        self._lock = threading.Lock()

    def update(self, trusted: list[str]) -> None:
        try:
            settings = dict(self.settings_for(list(trusted)))
            CORSMiddleware(_no_app, **settings)  # refuses unknown keys, compiles the regex
            fault = ""
        except FixFault as exc:
            settings, fault = {}, str(exc)
        except Exception as exc:  # CORSMiddleware rejected the settings (TypeError, re.error)
            settings = {}
            fault = f"cors_settings returned settings CORSMiddleware refuses: {exc}"
        with self._lock:
            self.trusted, self.settings, self.fault = list(trusted), settings, fault
            self.version += 1


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    raise RuntimeError("placeholder app")


class PolicyMiddleware:
    """Answer each request with the lab's CORS policy (or a legacy gateway's hand-written one)."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy, legacy: bool) -> None:
        self.app = app
        self.policy = policy
        self.gateways = (
            {
                name: weak_cors.HandRolledCORS(app, check)
                for name, check in weak_cors.HANDWRITTEN_CHECKS.items()
            }
            if legacy
            else {}
        )
        self._built: tuple[int, ASGIApp] | None = None

    def _main(self) -> ASGIApp:
        built = self._built
        if built is None or built[0] != self.policy.version:
            built = (self.policy.version, CORSMiddleware(self.app, **self.policy.settings))
            self._built = built
        return built[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.policy.fault:
            reply = JSONResponse(
                {"error": "Internal server error", "labkitFault": self.policy.fault},
                status_code=500,
            )
            await reply(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(LEGACY_PREFIX):
            gateway = self.gateways.get(path[len(LEGACY_PREFIX) :].split("/", 1)[0])
            if gateway is not None:
                await gateway(scope, receive, send)
                return
        await self._main()(scope, receive, send)


def _claims(request: Request) -> dict[str, Any]:
    """The verified access token, from ``Authorization: Bearer`` or the session cookie."""
    auth: BearerAuth = request.app.state.cors_auth
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    token = bearer_token(header) if header or not cookie else cookie
    return auth.service.verify_access_token(token)


Claims = Annotated[dict[str, Any], Depends(_claims)]


def _accounts(store: LabStore, users: Any) -> dict[str, dict[str, Any]]:
    """Each user's private data; the recovery code is fresh per sandbox."""
    accounts = {}
    for user in users.values():
        record = store.find_user(user.email)
        if record is None:
            continue
        accounts[str(record.id)] = {
            "id": record.id,
            "email": record.email,
            "role": record.role,
            "name": NAMES.get(record.email, record.email.split("@")[0].title()),
            "iban": f"DE{secrets.randbelow(10**20):020d}",
            "recoveryCode": "-".join(secrets.token_hex(3) for _ in range(4)),
        }
    return accounts


def _attacker_app() -> FastAPI:
    app = FastAPI(title="10-cors attacker site", openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> HTMLResponse:
        # it reads any ?target= with the visitor's cookies: sandboxed behind a hub's proxy
        return planted_page(request, ATTACKER_PAGE)

    return app


def _frontend_app(state: LabState) -> FastAPI:
    app = FastAPI(title="10-cors frontend (Example App)", openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> str:
        # the API as this browser reaches it: through the same proxy behind a hub
        api = browser_link(request, state.urls.get("main", ""))
        return FRONTEND_PAGE % {"api": json.dumps(api.rstrip("/")).replace("</", "<\\/")}

    return app


def create_app(secure: bool = False, *, frontend: bool | None = None, **fixes: Any) -> Any:
    """The 10-cors account API; ``secure=True`` is the reference, ``cors_settings=`` plugs
    in yours. ``frontend`` (default: ``not secure``) serves the legitimate frontend and
    trusts its origin."""
    defaults: dict[str, Callable[..., Any]] = {
        "cors_settings": (
            secure_cors.cors_settings
            if secure
            else lambda trusted: weak_cors.reflect_any_origin_settings()
        )
    }
    parts = plug_fixes(SLOTS, defaults, fixes)
    with_frontend = (not secure) if frontend is None else frontend
    store = LabStore("10-cors")
    users = store.seed_staff(hash_password)
    state = LabState(secure=secure, users=users, store=store)
    app = new_lab_app("10-cors", secure=secure, state=state)
    auth = BearerAuth.for_store(store)
    auth.install(app)
    app.state.cors_auth = auth
    accounts = _accounts(store, users)
    policy = CorsPolicy(parts["cors_settings"])
    policy.update([APP_ORIGIN])
    legacy = not secure and not fixes.get("cors_settings")
    app.add_middleware(PolicyMiddleware, policy=policy, legacy=legacy)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def landing() -> str:
        return LANDING_PAGE

    @app.post("/api/auth/login", response_model=None)
    def login(body: Credentials) -> Any:
        user = store.find_user(body.email)
        if user is None or not verify_password(body.password, user.password_hash):
            return JSONResponse({"error": "Invalid email or password"}, status_code=401)
        pair = auth.service.issue_tokens(
            {"id": user.id, "role": user.role, "tokenVersion": user.token_version}
        )
        response = JSONResponse({"accessToken": pair["accessToken"]})
        response.set_cookie(
            SESSION_COOKIE,
            pair["accessToken"],
            max_age=int(ACCESS_TTL.total_seconds()),
            path="/api",
            secure=True,  # browsers treat http://127.0.0.1 as a secure context
            httponly=True,
            samesite="lax",  # lax: same-SITE pages (other ports, sibling subdomains) still send it
        )
        return response

    def account_of(claims: dict[str, Any]) -> dict[str, Any]:
        account = accounts.get(str(claims.get("sub")))
        if account is None:
            raise TokenError("invalid", "no account for this subject")
        return account

    def read(claims: Claims) -> dict[str, Any]:
        return dict(account_of(claims))

    def update(body: NameChange, claims: Claims) -> Any:
        account = account_of(claims)
        account["name"] = body.name
        return dict(account)

    app.get("/api/account")(read)
    app.put("/api/account")(update)

    @app.get("/api/legacy/{gateway}/account", response_model=None)
    def legacy_read(gateway: str, claims: Claims) -> Any:
        if gateway not in GATEWAYS:
            return JSONResponse({"error": "Not found"}, status_code=404)
        return read(claims)

    @app.put("/api/legacy/{gateway}/account", response_model=None)
    def legacy_update(gateway: str, body: NameChange, claims: Claims) -> Any:
        if gateway not in GATEWAYS:
            return JSONResponse({"error": "Not found"}, status_code=404)
        return update(body, claims)

    @app.get("/api/_lab/victim", include_in_schema=False)
    def victim() -> dict[str, str]:
        return {"email": VICTIM, "password": users[VICTIM].password}

    state.companions["attacker"] = _attacker_app()
    if with_frontend:
        state.companions["frontend"] = _frontend_app(state)

    def started(urls: dict[str, str]) -> None:
        trusted = [APP_ORIGIN] + ([urls["frontend"]] if "frontend" in urls else [])
        policy.update(trusted)
        state.extras["allowed_origins"] = " ".join(policy.trusted)
        state.extras["attacker"] = urls["attacker"]
        if "frontend" in urls:
            state.extras["frontend"] = urls["frontend"]
        state.extras["victim"] = VICTIM

    state.on_started.append(started)
    return app
