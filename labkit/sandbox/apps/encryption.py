"""09-encryption: a notes service that encrypts at rest (badly) and serves HTTPS (almost).

One app, two listeners: HTTPS at the main URL (a certificate from a lab-local CA, see
:mod:`labkit.sandbox.tls`) and plain HTTP (companion ``"http"``) whose requests are
redirected to it. ``LabState.extras`` names the plain listener (``http``), the CA certificate
(``ca``) and the trusted proxy's address (``trusted proxy``), so ``labkit serve`` prints them.

Routes: ``POST /api/auth/login`` → ``{"accessToken"}`` (lab 02's pattern, Bearer);
``GET /api/status`` (public); ``GET /api/profile`` → ``{"id","email","role"}`` and the
``profile`` cookie (the user's role, encrypted, read back by ``GET /api/admin/users``, for
admins only); ``GET/POST /api/records``, ``GET /api/records/{id}`` (private encrypted notes,
owner only; 409 ``{"error": "Record failed integrity check"}`` when a stored ciphertext is not
authentic: the stored data, not the server, is at fault — a 5xx means a crash),
``PUT /api/records/{id} {data}`` (edit a note: it is encrypted again);
``POST /api/files`` (raw body), ``GET /api/files/{id}``;
``POST /api/auth/recover {email, code}`` → ``{"accessToken"}`` (recovery codes, which two
customers whose passwords nobody knows keep in a note and in a file...).
Lab-only (what a breach, an operator or an attacker with database access has):
``GET /api/_lab/accounts``, ``GET /api/_lab/dump`` (stored ciphertexts),
``PUT /api/_lab/records/{id}`` (overwrite a stored ciphertext), ``GET /api/_lab/keyring``,
``POST /api/_lab/rotate``, ``POST /api/_lab/reencrypt``, ``POST /api/_lab/retire {keyId}``,
``POST /api/_lab/encrypt-many {count, contexts}`` (nonces of ``count`` fresh encryptions, the
i-th for ``contexts[i % len(contexts)]``: the same record many times, or many records),
``POST /api/_lab/seal {context, data}`` (the stored form of ``data`` sealed for any context, as
an operator with the app's keys could make it) and
``GET /api/_lab/ca.pem`` (the CA certificate: public; in real life it arrives out of band).
Lab-only routes are the lab's plumbing: they answer on both listeners, outside the HTTPS
policy, so a broken fix cannot hide the evidence.

Replaceable parts: ``encrypt_record(plaintext, record_id, key_id, key) -> dict`` and
``decrypt_record(stored, record_id, keyring) -> bytes | None`` (``None``: not authentic) —
once yours are plugged in they protect notes, files and the profile cookie alike;
``effective_scheme(scheme, peer, forwarded_proto, trusted_proxies) -> str`` and
``security_headers(scheme) -> dict`` decide the redirect and the HSTS header.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from labkit.patterns import crypto as secure_crypto
from labkit.patterns import passwords as secure_passwords
from labkit.patterns import transport as secure_transport
from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.bearer import BearerAuth
from labkit.sandbox.connection import connection
from labkit.sandbox.fixes import FixFault, FixSlot, guard, plug_fixes
from labkit.sandbox.store import LabStore, SeedUser, Users, generate_password
from labkit.sandbox.tls import LocalTLS
from labkit.vulnerable import crypto as weak_crypto
from labkit.vulnerable import transport as weak_transport

__all__ = [
    "CA_ROUTE",
    "INTEGRITY_ERROR",
    "INTEGRITY_STATUS",
    "SLOTS",
    "TRUSTED_PROXIES",
    "create_app",
]

LAB_ID = "09-encryption"
#: The address of the lab's (imaginary) TLS-terminating load balancer: the only peer whose
#: ``X-Forwarded-Proto`` counts. All of 127.0.0.0/8 is loopback on Linux.
TRUSTED_PROXIES = frozenset({"127.0.0.2"})
CA_ROUTE = "/api/_lab/ca.pem"
LAB_ROUTES = "/api/_lab/"
INTEGRITY_ERROR = "Record failed integrity check"
#: A stored ciphertext that does not authenticate: the data is at fault, not the request and
#: not the server (a 5xx from a lab app always means a crash, never a refusal).
INTEGRITY_STATUS = 409
CUSTOMER = ("dave@example.com", "user")  # you: an ordinary customer
#: Customers whose passwords nobody in the notebook knows: what they keep encrypted is the prize.
VICTIMS = ("erin@example.com", "frank@example.com")
MAX_PROBES = 20_000
MAX_FILE_BYTES = 1_000_000
ROLE_WIDTH = 6  # the cookie pads the role so its length does not give it away

SLOTS = {
    "encrypt_record": FixSlot(
        "encrypt_record",
        dict,
        "encrypt_record(plaintext: bytes, record_id: str, key_id: str, key: bytes) -> dict",
    ),
    "decrypt_record": FixSlot(
        "decrypt_record",
        (bytes, type(None)),
        "decrypt_record(stored: dict, record_id: str, keyring: dict[str, bytes]) -> bytes | None",
    ),
    "effective_scheme": FixSlot(
        "effective_scheme",
        str,
        "effective_scheme(scheme: str, peer: str, forwarded_proto: str | None, "
        "trusted_proxies: frozenset[str]) -> str",
    ),
    "security_headers": FixSlot(
        "security_headers", dict, "security_headers(scheme: str) -> dict[str, str]"
    ),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL,
    stored TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    stored TEXT NOT NULL DEFAULT '{}'
);
"""


class NewRecord(BaseModel):
    data: str = Field(max_length=100_000)


class Recovery(BaseModel):
    email: str
    code: str


class Retire(BaseModel):
    keyId: str


class Probe(BaseModel):
    count: int = Field(default=10_000, ge=1, le=MAX_PROBES)
    contexts: list[str] = Field(default_factory=list, max_length=MAX_PROBES)


class Seal(BaseModel):
    context: str = Field(max_length=200)
    data: str = Field(max_length=100_000)


def _claims(request: Request) -> dict[str, Any]:
    """The verified access-token claims (lab 02's pattern), or a 401."""
    auth: BearerAuth = request.app.state.auth
    return auth.current_user(request)


CLAIMS = Depends(_claims)


def _parts(secure: bool, fixes: dict[str, Any]) -> dict[str, Any]:
    if secure:
        defaults: dict[str, Any] = {
            "encrypt_record": secure_crypto.encrypt_record,
            "decrypt_record": secure_crypto.decrypt_record,
            "effective_scheme": secure_transport.effective_scheme,
            "security_headers": secure_transport.security_headers,
        }
    else:
        defaults = {
            "encrypt_record": weak_crypto.encrypt_record,
            "decrypt_record": weak_crypto.decrypt_record,
            "effective_scheme": weak_transport.effective_scheme,
            "security_headers": weak_transport.security_headers,
        }
    return plug_fixes(SLOTS, defaults, fixes)


def _code() -> str:
    """A recovery code like ``K7QD-2MXA-WP4Z`` (60 bits, base32)."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode()[:12]
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


class Vault:
    """Where the app's encryption happens: notes, files and the profile cookie.

    ``aead`` is True in the secure app and once a learner's ``encrypt_record`` is plugged
    in: then every kind of data goes through ``encrypt_record``/``decrypt_record`` (with its
    own context string as ``record_id``). Otherwise files use the legacy ECB vault and the
    cookie AES-CBC, as the vulnerable service shipped them.
    """

    def __init__(self, parts: dict[str, Any], *, aead: bool) -> None:
        self.parts = parts
        self.aead = aead
        self.keyring = secure_crypto.Keyring.generate()
        self.cookie_key = secrets.token_bytes(32)  # the CBC cookie's key (per sandbox)
        self.lock = threading.Lock()

    # -- AEAD path (the slots) -----------------------------------------------------------
    def seal(self, context: str, plaintext: bytes) -> dict[str, Any]:
        with self.lock:
            key_id = self.keyring.primary
            key = self.keyring.keys[key_id]
        return dict(self.parts["encrypt_record"](plaintext, context, key_id, key))

    def open(self, context: str, stored: dict[str, Any]) -> bytes | None:
        with self.lock:
            keys = dict(self.keyring.keys)
        return self.parts["decrypt_record"](dict(stored), context, keys)

    def stale(self, stored: dict[str, Any]) -> bool:
        return stored.get("keyId") != self.keyring.primary

    # -- files -------------------------------------------------------------------------
    def seal_file(self, file_id: int, data: bytes) -> dict[str, Any]:
        if self.aead:
            return self.seal(f"file:{file_id}", data)
        sealed = weak_crypto.encrypt_file(data)
        return {"keyId": "file-vault", "nonce": "", "ciphertext": base64.b64encode(sealed).decode()}

    def open_file(self, file_id: int, stored: dict[str, Any]) -> bytes | None:
        if self.aead:
            return self.open(f"file:{file_id}", stored)
        try:
            return weak_crypto.decrypt_file(base64.b64decode(stored["ciphertext"]))
        except (KeyError, ValueError, TypeError):
            return None

    # -- the profile cookie ------------------------------------------------------------
    def seal_cookie(self, uid: int, role: str) -> str:
        text = f"role={role:<{ROLE_WIDTH}};uid={uid}".encode()
        if not self.aead:
            return weak_crypto.encrypt_cookie(self.cookie_key, text)
        stored = self.seal(f"profile:{uid}", text)
        return base64.urlsafe_b64encode(json.dumps(stored).encode()).decode()

    def open_cookie(self, uid: str, token: str) -> dict[str, str] | None:
        if not self.aead:
            text = weak_crypto.decrypt_cookie(self.cookie_key, token)
        else:
            try:
                stored = json.loads(base64.urlsafe_b64decode(token.encode()))
            except (ValueError, binascii.Error, UnicodeError):
                return None
            if not isinstance(stored, dict):
                return None
            text = self.open(f"profile:{uid}", stored)
        if text is None:
            return None
        fields = {}
        for part in text.decode("utf-8", "replace").split(";"):
            name, _, value = part.partition("=")
            fields[name.strip()] = value.strip()
        return fields


class Tables:
    """The notes and files tables (stored ciphertexts as JSON text)."""

    def __init__(self, store: LabStore) -> None:
        self.store = store
        store.execute_script(_SCHEMA)

    def add(self, table: str, owner_id: int, name: str = "") -> int:
        with self.store.connect() as db:
            if table == "files":
                cursor = db.execute(
                    "INSERT INTO files (owner_id, name) VALUES (?, ?)", (owner_id, name)
                )
            else:
                cursor = db.execute("INSERT INTO records (owner_id) VALUES (?)", (owner_id,))
            return int(cursor.lastrowid or 0)

    def put(self, table: str, row_id: int, stored: dict[str, Any]) -> None:
        sql = f"UPDATE {table} SET stored = ? WHERE id = ?"  # noqa: S608  (table is ours)
        with self.store.connect() as db:
            db.execute(sql, (json.dumps(stored), row_id))

    def get(self, table: str, row_id: int) -> dict[str, Any] | None:
        with self.store.connect() as db:
            row = db.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()  # noqa: S608
        return _row(row) if row else None

    def all(self, table: str, owner_id: int | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT * FROM {table}"  # noqa: S608
        args: tuple[Any, ...] = ()
        if owner_id is not None:
            sql, args = sql + " WHERE owner_id = ?", (owner_id,)
        with self.store.connect() as db:
            rows = db.execute(sql + " ORDER BY id", args).fetchall()
        return [_row(r) for r in rows]


def _row(row: Any) -> dict[str, Any]:
    data = dict(row)
    try:
        data["stored"] = json.loads(data["stored"])
    except ValueError:
        data["stored"] = {}
    return data


def _fault(exc: FixFault) -> JSONResponse:
    return JSONResponse(
        {"error": "Internal server error", "labkitFault": str(exc)}, status_code=500
    )


def _forwarded_proto(request: Request) -> str | None:
    """Every ``X-Forwarded-Proto`` value, in order: repeated header lines are one list
    (RFC 9110 §5.3), so ``a`` then ``b`` reads ``"a, b"`` — the proxy's own value is last."""
    values = request.headers.getlist("x-forwarded-proto")
    return ", ".join(values) if values else None


def _https_origin(state: LabState) -> str:
    """The configured HTTPS origin (never built from the request's Host header)."""
    main = state.urls.get("main", "")
    return main if main.startswith("https://") else "https://127.0.0.1"


def create_app(secure: bool = False, **fixes: Any) -> Any:
    """The 09-encryption notes service; ``secure=True`` is the reference, fixes plug in yours."""
    parts = _parts(secure, fixes)
    store = LabStore(LAB_ID)
    tables = Tables(store)
    staff = store.seed_staff(secure_passwords.hash_password)
    customer = SeedUser(CUSTOMER[0], CUSTOMER[1], generate_password())
    store.add_user(customer.email, customer.role, secure_passwords.hash_password(customer.password))
    for email in VICTIMS:  # no password works: they sign in with passkeys (and recovery codes)
        store.add_user(email, "user", "!no-password")
    users = Users([*staff.values(), customer])
    vault = Vault(parts, aead=secure or fixes.get("encrypt_record") is not None)
    tls = LocalTLS.create(prefix="labkit-09-tls-")
    codes = {email: _code() for email in VICTIMS}

    state = LabState(secure=secure, users=users, store=store)
    state.tls["main"] = (tls.certfile, tls.keyfile)
    state.ca_file = tls.ca  # lab.client trusts the lab CA
    state.extras.update({"http": "(starting)", "ca": tls.ca, "trusted proxy": "127.0.0.2"})
    state.on_started.append(lambda urls: state.extras.update(http=urls.get("http", "")))
    state.on_close.append(tls.remove)
    app = new_lab_app(LAB_ID, secure=secure, state=state)
    state.companions["http"] = app  # the same app, on a plain-HTTP listener
    redirect_status = secure_transport.REDIRECT_STATUS if secure else 301  # the seed's 301

    auth = BearerAuth.for_store(store)
    app.state.auth = auth
    auth.install(app)
    auth.add_login(app, store, secure_passwords.verify_password)
    seeded: list[bool] = []
    seed_lock = threading.Lock()

    def seed() -> None:
        """Write the seeded notes and files on first use, with the app's own encryption
        (a learner's function must not run, and fail, while the app is being built)."""
        with seed_lock:
            if seeded:
                return
            seeded.append(True)  # one attempt: a failing fix must not seed twice
            ids = {u.email: u.id for u in store.all_users()}
            notes = [
                ("erin@example.com", "My account recovery code, in case I lose my phone:\n"
                 f"{codes['erin@example.com']}\nDo not share it with anyone."),
                ("carol@example.com", "Dentist on Tuesday at 10. Bring the insurance card."),
                ("dave@example.com", "Gift ideas: a tent, a kite, a book about bees."),
            ]  # fmt: skip
            for email, text in notes:
                row = tables.add("records", ids[email])
                tables.put("records", row, vault.seal(f"record:{row}", text.encode()))
            body = f"frank@example.com: backup codes\n{codes['frank@example.com']}\n".encode()
            row = tables.add("files", ids["frank@example.com"], "backup-codes.txt")
            tables.put("files", row, vault.seal_file(row, body))

    def read(table: str, row: dict[str, Any]) -> bytes | None:
        """Decrypt a row; data under an older key moves to the primary key (re-encrypt on
        read). The legacy ECB vault has no keys to rotate."""
        kind = "record" if table == "records" else "file"
        if kind == "file":
            plaintext = vault.open_file(row["id"], row["stored"])
        else:
            plaintext = vault.open(f"record:{row['id']}", row["stored"])
        if (
            plaintext is not None
            and vault.stale(row["stored"])
            and (kind == "record" or vault.aead)
        ):
            tables.put(table, row["id"], vault.seal(f"{kind}:{row['id']}", plaintext))
        return plaintext

    @app.middleware("http")
    async def https_only(request: Request, call_next: Callable[..., Any]) -> Response:
        if request.scope["path"].startswith(LAB_ROUTES):  # the lab's plumbing, not the app
            with contextlib.suppress(FixFault):  # a broken fix shows on the app's routes
                await run_in_threadpool(seed)
            return await call_next(request)
        own_scheme, peer = connection(request, state)
        try:
            await run_in_threadpool(seed)
            scheme = await run_in_threadpool(
                parts["effective_scheme"],
                own_scheme,
                peer,
                _forwarded_proto(request),
                TRUSTED_PROXIES,
            )
            headers = await run_in_threadpool(parts["security_headers"], scheme)
        except FixFault as exc:
            return _fault(exc)
        if scheme != "https":
            query = request.scope.get("query_string", b"").decode("latin-1")
            target = secure_transport.https_redirect_url(
                _https_origin(state), request.scope["path"], query
            )
            response: Response = RedirectResponse(target, status_code=redirect_status)
        else:
            response = await call_next(request)
        for name, value in headers.items():
            response.headers[str(name)] = str(value)
        return response

    # -- public ----------------------------------------------------------------------------
    @app.get("/api/status")
    def status(request: Request) -> dict[str, Any]:
        return {"ok": True, "connection": connection(request, state)[0]}

    @app.post("/api/auth/recover", response_model=None)
    def recover(body: Recovery) -> Any:
        expected = codes.get(body.email.lower(), "")
        user = store.find_user(body.email)
        if (
            not expected
            or user is None
            or not hmac.compare_digest(expected.encode(), body.code.strip().upper().encode())
        ):
            return JSONResponse({"error": "Invalid recovery code"}, status_code=401)
        pair = auth.service.issue_tokens(
            {"id": user.id, "role": user.role, "tokenVersion": user.token_version}
        )
        return {"accessToken": pair["accessToken"]}

    # -- the profile cookie ----------------------------------------------------------------
    @app.get("/api/profile", response_model=None)
    def profile(user: dict[str, Any] = CLAIMS) -> Any:
        record = next((u for u in store.all_users() if str(u.id) == str(user["sub"])), None)
        if record is None:
            return JSONResponse({"error": "Invalid token"}, status_code=401)
        cookie = vault.seal_cookie(record.id, record.role)
        response = JSONResponse({"id": record.id, "email": record.email, "role": record.role})
        response.set_cookie(
            "profile", cookie, httponly=True, secure=True, samesite="strict", path="/api"
        )
        return response

    @app.get("/api/admin/users", response_model=None)
    def admin_users(request: Request, user: dict[str, Any] = CLAIMS) -> Any:
        # The role comes from the encrypted cookie ("saves a database query"): encryption
        # is trusted to mean integrity. It only does with an AEAD.
        token = request.cookies.get("profile")
        if not token:
            return JSONResponse({"error": "Missing profile cookie"}, status_code=401)
        fields = vault.open_cookie(str(user["sub"]), token)
        if fields is None or fields.get("uid") != str(user["sub"]):
            return JSONResponse({"error": "Invalid profile cookie"}, status_code=401)
        if fields.get("role") != "admin":
            return JSONResponse({"error": "Insufficient permissions"}, status_code=403)
        people = [{"id": u.id, "email": u.email, "role": u.role} for u in store.all_users()]
        return {"as": {"uid": fields.get("uid"), "role": fields.get("role")}, "users": people}

    # -- notes -----------------------------------------------------------------------------
    def allowed(user: dict[str, Any], row: dict[str, Any] | None) -> JSONResponse | None:
        if row is None:
            return JSONResponse({"error": "Record not found"}, status_code=404)
        if str(row["owner_id"]) != str(user["sub"]):  # private notes: owners only
            return JSONResponse({"error": "Insufficient permissions"}, status_code=403)
        return None

    @app.get("/api/records")
    def my_records(user: dict[str, Any] = CLAIMS) -> list[dict[str, int]]:
        return [{"id": r["id"]} for r in tables.all("records", int(user["sub"]))]

    @app.post("/api/records", status_code=201, response_model=None)
    def new_record(body: NewRecord, user: dict[str, Any] = CLAIMS) -> Any:
        row = tables.add("records", int(user["sub"]))
        tables.put("records", row, vault.seal(f"record:{row}", body.data.encode()))
        return {"id": row, "data": body.data}

    @app.put("/api/records/{record_id}", response_model=None)
    def edit_record(record_id: int, body: NewRecord, user: dict[str, Any] = CLAIMS) -> Any:
        row = tables.get("records", record_id)
        refusal = allowed(user, row)
        if refusal is not None:
            return refusal
        tables.put("records", record_id, vault.seal(f"record:{record_id}", body.data.encode()))
        return {"id": record_id, "data": body.data}

    @app.get("/api/records/{record_id}", response_model=None)
    def get_record(record_id: int, user: dict[str, Any] = CLAIMS) -> Any:
        row = tables.get("records", record_id)
        refusal = allowed(user, row)
        if refusal is not None or row is None:
            return refusal
        plaintext = read("records", row)
        if plaintext is None:
            return JSONResponse({"error": INTEGRITY_ERROR}, status_code=INTEGRITY_STATUS)
        return {"id": record_id, "data": plaintext.decode("utf-8", "replace")}

    # -- files -----------------------------------------------------------------------------
    @app.post("/api/files", status_code=201, response_model=None)
    async def upload(request: Request, user: dict[str, Any] = CLAIMS) -> Any:
        data = await request.body()
        if len(data) > MAX_FILE_BYTES:
            return JSONResponse({"error": "File too large"}, status_code=413)
        name = request.headers.get("x-filename", "upload.bin")[:100]

        def store_file() -> int:
            row = tables.add("files", int(user["sub"]), name)
            tables.put("files", row, vault.seal_file(row, data))
            return row

        return {"id": await run_in_threadpool(store_file), "size": len(data)}

    @app.get("/api/files/{file_id}", response_model=None)
    def download(file_id: int, user: dict[str, Any] = CLAIMS) -> Any:
        row = tables.get("files", file_id)
        refusal = allowed(user, row)
        if refusal is not None or row is None:
            return refusal
        plaintext = read("files", row)
        if plaintext is None:
            return JSONResponse({"error": INTEGRITY_ERROR}, status_code=INTEGRITY_STATUS)
        return Response(plaintext, media_type="application/octet-stream")

    _add_lab_routes(app, store, tables, vault, parts, fixes, tls, read)
    return app


def _add_lab_routes(
    app: FastAPI,
    store: LabStore,
    tables: Tables,
    vault: Vault,
    parts: dict[str, Any],
    fixes: dict[str, Any],
    tls: LocalTLS,
    read: Callable[[str, dict[str, Any]], bytes | None],
) -> None:
    users = app.state.lab.users
    emails = {u.id: u.email for u in store.all_users()}

    def keyring_view() -> dict[str, Any]:
        return {"primary": vault.keyring.primary, "keyIds": sorted(vault.keyring.keys)}

    @app.get(CA_ROUTE, include_in_schema=False)
    def ca_pem() -> PlainTextResponse:
        return PlainTextResponse(tls.ca_pem, media_type="application/x-pem-file")

    @app.get("/api/_lab/accounts", include_in_schema=False)
    def accounts() -> list[dict[str, Any]]:
        ids = {u.email: u.id for u in store.all_users()}
        return [
            {"id": ids[u.email], "email": u.email, "role": u.role, "password": u.password}
            for u in users.values()
        ]

    @app.get("/api/_lab/dump", include_in_schema=False)
    def dump() -> dict[str, list[dict[str, Any]]]:
        def public(row: dict[str, Any]) -> dict[str, Any]:
            out = {"id": row["id"], "owner": emails.get(row["owner_id"], str(row["owner_id"]))}
            if "name" in row:
                out["name"] = row["name"]
            return {**out, "stored": row["stored"]}

        return {
            "records": [public(r) for r in tables.all("records")],
            "files": [public(r) for r in tables.all("files")],
        }

    @app.put("/api/_lab/records/{record_id}", include_in_schema=False, response_model=None)
    def overwrite(record_id: int, stored: dict[str, Any]) -> Any:
        if tables.get("records", record_id) is None:
            return JSONResponse({"error": "Record not found"}, status_code=404)
        tables.put("records", record_id, stored)
        return {"id": record_id, "stored": stored}

    @app.get("/api/_lab/keyring", include_in_schema=False)
    def keyring() -> dict[str, Any]:
        return keyring_view()

    @app.post("/api/_lab/rotate", include_in_schema=False)
    def rotate() -> dict[str, Any]:
        with vault.lock:
            vault.keyring.rotate()
        return keyring_view()

    @app.post("/api/_lab/retire", include_in_schema=False, response_model=None)
    def retire(body: Retire) -> Any:
        with vault.lock:
            if body.keyId == vault.keyring.primary:
                return JSONResponse({"error": "Cannot retire the primary key"}, status_code=409)
            vault.keyring.retire(body.keyId)
        return keyring_view()

    @app.post("/api/_lab/reencrypt", include_in_schema=False)
    def reencrypt_all() -> dict[str, int]:
        moved = failed = 0
        for table in ("records", "files"):
            for row in tables.all(table):
                if not vault.stale(row["stored"]):
                    continue
                if table == "files" and not vault.aead:
                    continue
                if read(table, row) is None:
                    failed += 1
                else:
                    moved += 1
        return {"reencrypted": moved, "failed": failed}

    @app.post("/api/_lab/encrypt-many", include_in_schema=False, response_model=None)
    def encrypt_many(body: Probe) -> Any:
        with vault.lock:
            key_id = vault.keyring.primary
            key = vault.keyring.keys[key_id]
        encrypt = fixes.get("encrypt_record")
        if encrypt is None:  # the app's own function, unguarded
            encrypt = parts["encrypt_record"]

        contexts = body.contexts or [f"probe:{i}" for i in range(body.count)]

        def batch() -> list:
            return [
                encrypt(b"probe", contexts[i % len(contexts)], key_id, key)
                for i in range(body.count)
            ]

        slot = FixSlot("encrypt_record", list, SLOTS["encrypt_record"].doc, timeout=60)
        try:
            sealed = guard(slot, batch)()
        except FixFault as exc:
            return _fault(exc)
        nonces = [s.get("nonce") if isinstance(s, dict) else None for s in sealed]
        return {"count": len(nonces), "nonces": nonces}

    @app.post("/api/_lab/seal", include_in_schema=False, response_model=None)
    def seal(body: Seal) -> Any:
        try:
            return {"stored": vault.seal(body.context, body.data.encode())}
        except FixFault as exc:
            return _fault(exc)
