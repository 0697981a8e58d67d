"""12-headers: a bookshop whose pages trust the browser to behave — and whose headers don't ask.

Routes (CURRICULUM): ``GET /`` (HTML search page reflecting ``q``), ``GET /profile`` (HTML,
the logged-in reader's page with a "make my reading list public" button); every response
goes through the app's security-header middleware. Also: ``GET /login`` (a form driven by
``/static/login.js``), ``POST /api/auth/login {email,password}`` → ``{"accessToken"}`` plus a
``session`` cookie holding the same token (pages are opened by the browser, which sends
cookies, not your ``Authorization`` header), ``GET|PUT /api/profile``, ``POST /profile/
visibility`` (the button's form), ``POST /api/uploads {filename, content}`` → 201
``{"url"}`` and ``GET /uploads/{id}/{filename}`` (served as ``text/plain``), ``POST
/api/auth/forgot {email}`` (mails a reset link), ``GET /reset?token=`` (the link's page, with
a link to the third-party help centre), ``GET /api/auth/reset/{token}`` and ``POST
/api/auth/reset {token,password}`` (and the page's own form, ``POST /reset``), ``GET
/robots.txt``, ``/static/site.css``. The HTML forms refuse cross-site posts (``Origin``).
Lab-only: ``GET /api/_lab/victim`` (the victim's login, as typed into her own browser),
``GET /api/_lab/mailbox?email=`` (the last reset link mailed to her), ``GET /api/_lab/urls``
(every app of the lab) and ``GET /api/_lab/ca.pem`` (the lab CA, for the HTTPS twin).

Companion ``https``: the *same* app (same database) served over real TLS with a
certificate from a fresh local CA — what the shop looks like to an HTTPS visitor, where
``Strict-Transport-Security`` belongs (RFC 6797 §7.2). Browsers attack the HTTP origin.

Companion ``attacker`` (another sandbox, so another origin): ``GET /`` a page framing the
victim's ``/profile`` under a decoy button; ``GET /steal?c=`` records what it is sent;
``GET /help`` (the "third-party help centre" the reset page links to) records the
``Referer``; ``POST /api/_lab/pages {html}`` hosts a page you write at ``/p/{id}``;
``GET /api/_lab/loot`` lists everything recorded.

Replaceable parts: ``security_headers(https: bool) -> dict`` (the header set the
middleware adds, asked afresh for every response so that a CSP nonce can be fresh),
``session_cookie() -> dict`` (keyword arguments for ``set_cookie``) and ``escape(text: str) ->
str`` (output encoding for every value put into HTML: element text, ``value="..."`` and the
results list's single-quoted ``data-query='...'``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labkit.patterns import headers as secure_headers
from labkit.patterns.passwords import hash_password, verify_password
from labkit.patterns.tokens import ACCESS_TTL, TokenError, bearer_token
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.apps.pages import (
    browser_link,
    planted_page,
    proxy_context,
    served_directly,
)
from labkit.sandbox.bearer import BearerAuth
from labkit.sandbox.fixes import FixFault, FixSlot, plug_fixes
from labkit.sandbox.store import LabStore
from labkit.sandbox.tls import LocalTLS
from labkit.vulnerable import headers as weak_headers

__all__ = ["BOOKS", "SESSION_COOKIE", "SHARE_BUTTON", "SLOTS", "VICTIM", "create_app"]

VICTIM = "alice@example.com"
SESSION_COOKIE = "session"
NAMES = {"alice@example.com": "Alice Admin", "bob@example.com": "Bob Editor"}
RESET_TTL_S = 30 * 60
MAX_UPLOAD = 64 * 1024
#: Where /profile's "make public" button sits (px from the page's top-left), per site.css.
SHARE_BUTTON = {"top": 180, "left": 24, "width": 280, "height": 44}
BOOKS = (
    ("The Book of Tea", "Kakuzō Okakura"),
    ("Tea: A History of the Drink That Changed the World", "John Griffiths"),
    ("Pride & Prejudice", "Jane Austen"),
    ('"Surely You\'re Joking, Mr. Feynman!"', "Richard P. Feynman"),
    ("The Art of Computer Programming", "Donald E. Knuth"),
    ("Security Engineering", "Ross Anderson"),
    ("The Tangled Web", "Michal Zalewski"),
    ("Café Society <and other stories>", "Anonymous"),
)

SLOTS = {
    "security_headers": FixSlot(
        "security_headers", dict, "security_headers(https: bool) -> dict[str, str]"
    ),
    "session_cookie": FixSlot(
        "session_cookie", dict, "session_cookie() -> dict (keyword arguments for set_cookie)"
    ),
    "escape": FixSlot("escape", str, "escape(text: str) -> str"),
}
_COOKIE_KEYS = {"max_age", "expires", "path", "domain", "secure", "httponly", "samesite"}

SITE_CSS = f"""body {{ margin: 0; font: 16px/1.4 system-ui, sans-serif; }}
header {{ height: 56px; background: #0b3d2e; color: #fff; display: flex; gap: 24px;
  align-items: center; padding: 0 24px; }}
header a {{ color: #fff; }}
main {{ padding: 16px 24px; }}
#share {{ position: absolute; top: {SHARE_BUTTON["top"]}px; left: {SHARE_BUTTON["left"]}px;
  width: {SHARE_BUTTON["width"]}px; height: {SHARE_BUTTON["height"]}px; }}
.results li {{ margin: 4px 0; }}
"""

LOGIN_JS = """// The site's own script: script-src 'self' allows it (a file, not inline).
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch("api/auth/login", {  // relative: works under a proxy prefix
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({email: form.get("email"), password: form.get("password")}),
  });
  if (response.ok) { location.href = "profile"; }
  else { document.getElementById("status").textContent = "Invalid email or password"; }
});
"""


class Credentials(BaseModel):
    email: str
    password: str


class Upload(BaseModel):
    filename: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._-]+$")
    content: str = Field(max_length=MAX_UPLOAD)


class Visibility(BaseModel):
    public: bool


class ForgotPassword(BaseModel):
    email: str


class ResetPassword(BaseModel):
    token: str
    password: str = Field(min_length=12, max_length=128)


def _header_policy(fn: Callable[[bool], Any]) -> Callable[[bool], list[tuple[bytes, bytes]]]:
    """The (possibly learner's) header function, called for every response — a CSP nonce must
    be fresh each time — with its answer checked; tried once per scheme right away, so a
    broken function fails when the app is built."""

    def policy(https: bool) -> list[tuple[bytes, bytes]]:
        headers = fn(https)
        try:
            return secure_headers.validate_headers(headers)
        except (ValueError, AttributeError) as exc:
            raise FixFault(f"security_headers({https}) returned a bad header: {exc}") from exc

    for https in (False, True):
        policy(https)
    return policy


class _HeadersPerResponse:
    """Pure ASGI middleware: ``policy(https)`` asked afresh for every HTTP response (the
    reference :class:`~labkit.patterns.headers.SecurityHeaders` computes its set once; a
    learner's set may carry a per-response CSP nonce)."""

    def __init__(self, app: ASGIApp, *, policy: Callable[[bool], list[tuple[bytes, bytes]]]):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = await run_in_threadpool(self.policy, scope.get("scheme") == "https")

        async def send_headed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    key, text = name.decode("latin-1"), value.decode("latin-1")
                    if key.lower() == "content-security-policy" and key in headers:
                        # a planted page's sandbox (pages.planted_page) stays: both apply
                        headers.append(key, text)
                    else:
                        headers[key] = text
            await send(message)

        await self.app(scope, receive, send_headed)


def _cookie_options(fn: Callable[[], Any]) -> dict[str, Any]:
    options = dict(fn())
    unknown = sorted(set(options) - _COOKIE_KEYS)
    if unknown:
        raise FixFault(
            f"session_cookie returned unknown set_cookie arguments: {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(_COOKIE_KEYS))})"
        )
    samesite = options.get("samesite")
    if samesite is not None and str(samesite).lower() not in ("lax", "strict", "none"):
        raise FixFault(
            f"session_cookie: samesite must be 'lax', 'strict' or 'none', not {samesite!r}"
        )
    return options


def _claims(request: Request) -> dict[str, Any]:
    """The verified access token, from ``Authorization: Bearer`` or the session cookie."""
    auth: BearerAuth = request.app.state.headers_auth
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    token = bearer_token(header) if header or not cookie else cookie
    return auth.service.verify_access_token(token)


Claims = Annotated[dict[str, Any], Depends(_claims)]


#: A form post that answers with a redirect to the next page (no body).
_SAVED: dict[int | str, dict[str, Any]] = {303: {"description": "Done: see Location"}}


def _text(media_type: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI for a route that serves a static text file (not FastAPI's default JSON)."""
    return {200: {"content": {media_type: {"schema": {"type": "string"}}}}}


def _same_origin(request: Request) -> bool:
    """A browser's form post from this very origin (``Origin``, RFC 6454 §7; Fetch
    Metadata's ``Sec-Fetch-Site`` when present)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == f"{request.url.scheme}://{request.url.netloc}":
        return True
    # through a hub's proxy the page is https://hub/..., the hop to the app plain http
    return proxy_context(request) is not None and urlsplit(origin).netloc == request.url.netloc


def _layout(
    title: str, body: str, esc: Callable[[str], str], *, script: str = "", inline_css: bool = False
) -> str:
    """A bookshop page. ``inline_css``: the stylesheet in the page (a sandboxed page behind a
    hub's proxy: its own request for site.css would carry no hub cookie, so the hub refuses)."""
    # every page sits at the app's top level (/, /login, /profile, /reset): URLs relative to
    # it work at / and under a hub's /user/NAME/proxy/PORT/ alike
    tag = f'<script src="static/{script}"></script>' if script else ""
    link = '<link rel="stylesheet" href="static/site.css">'
    style = f"<style>{SITE_CSS}</style>" if inline_css else link
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)} · Example Books</title>"
        f"{style}</head><body>"
        '<header><b>Example Books</b><a href="./">Search</a><a href="profile">Profile</a>'
        f'<a href="login">Log in</a></header><main>{body}</main>{tag}</body></html>'
    )


def _attacker_app(state: LabState) -> FastAPI:
    app = FastAPI(title="12-headers attacker site", openapi_url=None)
    loot: list[dict[str, Any]] = []
    pages: dict[str, str] = {}
    lock = threading.Lock()

    def record(kind: str, value: str, request: Request) -> None:
        with lock:
            loot.append({"kind": kind, "value": value, "at": time.time(), "path": request.url.path})

    @app.get("/", response_class=HTMLResponse)
    def framing_page(request: Request) -> str:
        victim = state.urls.get("main", "")
        return _default_clickjack_page(browser_link(request, victim + "/profile"))

    @app.get("/steal")
    def steal(request: Request, c: str = "") -> Response:
        record("cookie", c, request)
        return Response(status_code=204)

    @app.get("/help", response_class=HTMLResponse)
    def help_centre(request: Request) -> str:
        record("referer", request.headers.get("referer", ""), request)
        return "<!doctype html><title>Help centre</title><h1>Help centre</h1><p>How can we help?"

    @app.post("/api/_lab/pages", response_model=None)
    async def host_page(request: Request) -> Any:
        body = await request.json()
        html = body.get("html") if isinstance(body, dict) else None
        if not isinstance(html, str) or len(html) > 256 * 1024:
            return JSONResponse({"errors": ["html must be a string (max 256 KiB)"]}, 400)
        page_id = secrets.token_urlsafe(8)
        with lock:
            pages[page_id] = html
        return {"url": f"/p/{page_id}"}

    @app.get("/p/{page_id}", response_class=HTMLResponse)
    def hosted(page_id: str, request: Request) -> Response:
        html = pages.get(page_id)
        if html is None:
            return JSONResponse({"error": "Not found"}, status_code=404)
        return planted_page(request, html)  # sandboxed behind a hub's proxy

    @app.get("/api/_lab/loot")
    def show_loot() -> dict[str, Any]:
        with lock:
            return {"loot": list(loot)}

    return app


def _default_clickjack_page(target: str) -> str:
    box = SHARE_BUTTON
    return (
        "<!doctype html><meta charset='utf-8'><title>You won!</title>"
        "<style>body{margin:0;font:16px system-ui}"
        "iframe{position:absolute;top:0;left:0;width:900px;height:600px;border:0;"
        "opacity:0.05;z-index:2}"
        f"#prize{{position:absolute;top:{box['top']}px;left:{box['left']}px;"
        f"width:{box['width']}px;height:{box['height']}px;z-index:1}}</style>"
        f"<iframe src='{target}'></iframe><button id='prize'>Claim your free e-book!</button>"
    )


def create_app(secure: bool = False, **fixes: Any) -> Any:
    """The 12-headers bookshop; ``secure=True`` is the reference, keyword fixes plug in yours."""
    if secure:
        defaults: dict[str, Callable[..., Any]] = {
            "security_headers": secure_headers.security_headers,
            "session_cookie": lambda: dict(secure_headers.SESSION_COOKIE),
            "escape": secure_headers.escape,
        }
    else:
        defaults = {
            "security_headers": weak_headers.legacy_headers,
            "session_cookie": weak_headers.legacy_cookie_options,
            "escape": weak_headers.no_escape,
        }
    parts = plug_fixes(SLOTS, defaults, fixes)
    policy = _header_policy(parts["security_headers"])  # a FixFault here: "could not plug in"
    cookie_options = _cookie_options(parts["session_cookie"])
    esc: Callable[[str], str] = parts["escape"]

    tls = LocalTLS.create(prefix="labkit-12-tls-")
    store = LabStore("12-headers")
    users = store.seed_staff(hash_password)
    state = LabState(secure=secure, users=users, store=store)
    app = new_lab_app("12-headers", secure=secure, state=state)
    app.add_middleware(_HeadersPerResponse, policy=policy)
    auth = BearerAuth.for_store(store)
    auth.install(app)
    app.state.headers_auth = auth
    public: dict[str, bool] = {}
    resets: dict[str, tuple[str, float]] = {}
    mailbox: dict[str, str] = {}
    uploads: dict[str, tuple[str, str]] = {}
    victim_password = {"value": users[VICTIM].password}
    lock = threading.Lock()

    def profile_of(claims: Mapping[str, Any]) -> dict[str, Any]:
        for user in users.values():
            record = store.find_user(user.email)
            if record is not None and str(record.id) == str(claims.get("sub")):
                return {
                    "email": record.email,
                    "name": NAMES.get(record.email, record.email.split("@")[0].title()),
                    "role": record.role,
                    "public": public.get(record.email, False),
                }
        raise TokenError("invalid", "no such user")

    # -- pages ------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def search(request: Request, q: str = "") -> Response:
        hits = [b for b in BOOKS if q and q.lower() in (b[0] + " " + b[1]).lower()]
        items = "".join(f"<li>{esc(title)} — <i>{esc(author)}</i></li>" for title, author in hits)
        heading = f"<h2 id='results-for'>Results for {esc(q)}</h2>" if q else ""
        body = (
            '<form action="./" method="get" role="search">'
            f'<input id="q" name="q" value="{esc(q)}" aria-label="Search books">'
            f"<button>Search</button></form>{heading}"
            f"<ul class='results' data-query='{esc(q)}'>{items}</ul>"
            + ("<p>No books found.</p>" if q and not hits else "")
        )
        # q is the lesson's XSS: sandboxed behind a hub's proxy (JupyterLab's origin)
        inline = not served_directly(request)
        return planted_page(request, _layout("Search", body, esc, inline_css=inline))

    @app.get("/login", response_class=HTMLResponse)
    def login_page() -> str:
        body = (
            '<h1>Log in</h1><form id="login"><label>Email <input name="email" type="email">'
            '</label> <label>Password <input name="password" type="password"></label> '
            '<button id="submit">Log in</button></form><p id="status"></p>'
        )
        return _layout("Log in", body, esc, script="login.js")

    @app.get("/profile", response_class=HTMLResponse, response_model=None)
    def profile_page(request: Request) -> Response:
        try:
            profile = profile_of(_claims(request))
        except TokenError:
            body = '<h1>Your profile</h1><p>Please <a href="login">log in</a> first.</p>'
            return HTMLResponse(_layout("Profile", body, esc), status_code=401)
        state_text = "public" if profile["public"] else "private"
        body = (
            f"<h1>{esc(profile['name'])}</h1><p id='email'>{esc(profile['email'])}</p>"
            f"<p>Your reading list is <b id='visibility'>{state_text}</b>.</p>"
            '<form method="post" action="profile/visibility">'
            '<input type="hidden" name="public" value="1">'
            '<button id="share">Make my reading list public</button></form>'
        )
        return HTMLResponse(_layout("Profile", body, esc))

    @app.post("/profile/visibility", response_model=None, responses=_SAVED)
    async def set_visibility_form(request: Request) -> Response:
        # the form refuses cross-site posts (lab 03's CSRF lesson): only a click on the real
        # page — which clickjacking borrows — can change the setting
        if not _same_origin(request):
            return JSONResponse({"error": "Cross-site request refused"}, status_code=403)
        try:
            profile = profile_of(_claims(request))
        except TokenError:
            return JSONResponse({"error": "Missing token"}, status_code=401)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        public[profile["email"]] = form.get("public", ["0"])[0] == "1"
        # relative to /profile/visibility, so it works under a proxy prefix too
        return Response(status_code=303, headers={"Location": "../profile"})

    @app.get("/reset", response_class=HTMLResponse, response_model=None)
    def reset_page(request: Request, token: str = "") -> Response:
        email = valid_reset(token)
        if email is None:
            body = "<h1>Reset your password</h1><p>This link is invalid or has expired.</p>"
            return HTMLResponse(_layout("Reset", body, esc), status_code=404)
        helpdesk = browser_link(request, state.urls.get("attacker", "") + "/help")
        body = (
            f"<h1>Reset your password</h1><p>Choose a new password for "
            f"<b id='email'>{esc(email)}</b>.</p>"
            '<form method="post" action="reset">'
            f'<input type="hidden" name="token" value="{esc(token)}">'
            '<input name="password" type="password" minlength="12"> <button>Save</button></form>'
            f'<p>Questions? Visit our <a id="help" href="{esc(helpdesk)}">help centre</a>.</p>'
        )
        return HTMLResponse(_layout("Reset", body, esc))

    @app.post("/reset", response_model=None, responses=_SAVED)
    async def reset_form(request: Request) -> Response:
        if not _same_origin(request):
            return JSONResponse({"error": "Cross-site request refused"}, status_code=403)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token, password = form.get("token", [""])[0], form.get("password", [""])[0]
        if not 12 <= len(password) <= 128:
            return JSONResponse({"errors": ["password: 12 to 128 characters"]}, status_code=400)
        if change_password(token, password) is None:
            return JSONResponse({"error": "Invalid or expired reset token"}, status_code=400)
        return Response(status_code=303, headers={"Location": "login"})

    @app.get("/static/site.css", response_class=Response, responses=_text("text/css"))
    def site_css() -> Response:
        return Response(SITE_CSS, media_type="text/css")

    @app.get("/static/login.js", response_class=Response, responses=_text("text/javascript"))
    def login_js() -> Response:
        return Response(LOGIN_JS, media_type="text/javascript")

    @app.get("/robots.txt", response_class=PlainTextResponse)
    def robots() -> PlainTextResponse:
        return PlainTextResponse("User-agent: *\nDisallow:\n")

    # -- API ----------------------------------------------------------------------------------
    @app.post("/api/auth/login", response_model=None)
    def login(body: Credentials) -> Any:
        user = store.find_user(body.email)
        if user is None or not verify_password(body.password, user.password_hash):
            return JSONResponse({"error": "Invalid email or password"}, status_code=401)
        pair = auth.service.issue_tokens(
            {"id": user.id, "role": user.role, "tokenVersion": user.token_version}
        )
        response = JSONResponse({"accessToken": pair["accessToken"]})
        options = {"max_age": int(ACCESS_TTL.total_seconds()), **cookie_options}
        response.set_cookie(SESSION_COOKIE, pair["accessToken"], **options)
        return response

    @app.get("/api/profile")
    def read_profile(claims: Claims) -> dict[str, Any]:
        return profile_of(claims)

    @app.put("/api/profile")
    def update_profile(body: Visibility, claims: Claims) -> dict[str, Any]:
        profile = profile_of(claims)
        public[profile["email"]] = body.public
        return profile_of(claims)

    @app.post("/api/uploads", status_code=201)
    def upload(body: Upload, claims: Claims) -> dict[str, str]:
        profile_of(claims)
        upload_id = secrets.token_urlsafe(9)
        with lock:
            uploads[upload_id] = (body.filename, body.content)
        return {"url": f"/uploads/{upload_id}/{quote(body.filename)}"}

    @app.get("/uploads/{upload_id}/{filename}", response_model=None)
    def download(upload_id: str, filename: str) -> Response:
        stored = uploads.get(upload_id)
        if stored is None or stored[0] != filename:
            return JSONResponse({"error": "Not found"}, status_code=404)
        # the app decides the type (never the uploader): plain text, always
        return PlainTextResponse(stored[1])

    def valid_reset(token: str) -> str | None:
        entry = resets.get(token) if token else None
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]

    @app.post("/api/auth/forgot", status_code=202)
    def forgot(body: ForgotPassword) -> dict[str, str]:
        if store.find_user(body.email) is not None:  # same answer either way (lab 01)
            token = secrets.token_urlsafe(24)
            with lock:
                resets[token] = (body.email, time.time() + RESET_TTL_S)
                mailbox[body.email] = f"{state.urls.get('main', '')}/reset?token={token}"
        return {"status": "If the account exists, we sent a reset link."}

    @app.get("/api/auth/reset/{token}", response_model=None)
    def reset_status(token: str) -> Any:
        email = valid_reset(token)
        if email is None:
            return JSONResponse({"error": "Not found"}, status_code=404)
        return {"email": email}

    def change_password(token: str, password: str) -> str | None:
        """Use a reset token once; the email whose password changed, or None."""
        with lock:
            email = valid_reset(token)
            if email is not None:
                del resets[token]
        if email is None:
            return None
        store.set_password_hash(email, hash_password(password))
        if email == VICTIM:  # she now logs in with the new one (the lab's browser does too)
            victim_password["value"] = password
        return email

    @app.post("/api/auth/reset", response_model=None)
    def reset(body: ResetPassword) -> Any:
        email = change_password(body.token, body.password)
        if email is None:
            return JSONResponse({"error": "Invalid or expired reset token"}, status_code=400)
        return {"email": email}

    # -- lab-only -------------------------------------------------------------------------------
    @app.get("/api/_lab/victim", include_in_schema=False)
    def victim() -> dict[str, str]:
        return {"email": VICTIM, "password": victim_password["value"]}

    @app.get("/api/_lab/urls", include_in_schema=False)
    def lab_urls() -> dict[str, str]:
        return dict(state.urls)

    @app.get("/api/_lab/ca.pem", include_in_schema=False)
    def ca_pem() -> PlainTextResponse:
        return PlainTextResponse(tls.ca_pem)

    @app.get("/api/_lab/mailbox", include_in_schema=False, response_model=None)
    def read_mailbox(email: str = VICTIM) -> Any:
        link = mailbox.get(email)
        if link is None:
            return JSONResponse({"error": "Not found"}, status_code=404)
        return {"email": email, "link": link}

    state.companions["attacker"] = _attacker_app(state)
    state.companions["https"] = app  # the same shop, over TLS: HSTS is sent there only
    state.tls["https"] = (tls.certfile, tls.keyfile)
    state.ca_file = tls.ca
    state.on_close.append(tls.remove)
    state.on_started.append(lambda urls: state.extras.update(urls))
    return app
