"""The secure token pattern of lab 02, ready for other lab apps (06–13).

Labs whose subject is not authentication still need logged-in users. They use this::

    auth = BearerAuth.for_store(store)          # fresh keys, revocation in the lab's SQLite
    auth.install(app)                           # 401 bodies exactly as the seed
    auth.add_login(app, store, verify_password) # POST /api/auth/login -> {"accessToken"}

    @app.get("/api/posts")
    def posts(user: dict = Depends(auth.current_user)) -> ...:
        user["sub"], user["role"]

``current_user`` returns the verified claims (``sub`` is the user id as a string, ``role``)
or answers 401 ``{"error": "Missing token" | "Token expired" | "Invalid token"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from labkit.patterns.tokens import TokenError, TokenKeys, TokenService, bearer_token
from labkit.sandbox.store import LabStore

__all__ = ["BearerAuth", "SqliteRevocations"]

_REVOCATION_SCHEMA = """
CREATE TABLE IF NOT EXISTS jwt_used_refresh (jti TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS jwt_revoked_families (family TEXT PRIMARY KEY);
"""


class SqliteRevocations:
    """A :class:`labkit.patterns.tokens.RevocationStore` in the lab's SQLite database.

    ``token_version`` is the users table's ``token_version`` column (-1 for an unknown
    user, so no token of a deleted account passes); used refresh ids and revoked families
    get a table each. ``use_once`` is one ``INSERT OR IGNORE``: atomic across threads.
    """

    def __init__(self, store: LabStore) -> None:
        self.store = store
        store.execute_script(_REVOCATION_SCHEMA)

    def token_version(self, sub: str) -> int:
        with self.store.connect() as db:
            row = db.execute("SELECT token_version FROM users WHERE id = ?", (str(sub),)).fetchone()
        return int(row[0]) if row else -1

    def revoke_all(self, sub: str) -> None:
        with self.store.connect() as db:
            db.execute(
                "UPDATE users SET token_version = token_version + 1 WHERE id = ?", (str(sub),)
            )

    def use_once(self, jti: str) -> bool:
        with self.store.connect() as db:
            cursor = db.execute("INSERT OR IGNORE INTO jwt_used_refresh VALUES (?)", (str(jti),))
        return cursor.rowcount == 1

    def revoke_family(self, family: str) -> None:
        with self.store.connect() as db:
            db.execute("INSERT OR IGNORE INTO jwt_revoked_families VALUES (?)", (str(family),))

    def family_revoked(self, family: str) -> bool:
        with self.store.connect() as db:
            row = db.execute(
                "SELECT 1 FROM jwt_revoked_families WHERE family = ?", (str(family),)
            ).fetchone()
        return row is not None

    def __repr__(self) -> str:
        return (
            "<ledger: token_version(sub), revoke_all(sub), use_once(jti), "
            "revoke_family(family), family_revoked(family)>"
        )


class _Credentials(BaseModel):
    email: str
    password: str


class BearerAuth:
    """``Authorization: Bearer`` authentication with a :class:`TokenService`."""

    def __init__(self, service: TokenService) -> None:
        self.service = service

    @classmethod
    def for_store(cls, store: LabStore, *, asymmetric: bool = False) -> BearerAuth:
        """Fresh random keys; logout revocation kept in ``store``."""
        return cls(
            TokenService(TokenKeys.generate(asymmetric=asymmetric), SqliteRevocations(store))
        )

    def install(self, app: FastAPI) -> None:
        """Answer every :class:`TokenError` with 401 and the seed's body."""

        async def on_token_error(request: Request, exc: Exception) -> JSONResponse:
            body = exc.body if isinstance(exc, TokenError) else {"error": "Invalid token"}
            return JSONResponse(body, status_code=401)

        app.add_exception_handler(TokenError, on_token_error)

    def current_user(self, request: Request) -> dict[str, Any]:
        """FastAPI dependency: the verified access-token claims, or a 401 (via ``install``)."""
        token = bearer_token(request.headers.get("authorization"))
        return self.service.verify_access_token(token)

    def add_login(
        self,
        app: FastAPI,
        store: LabStore,
        verify_password: Callable[[str, str], bool],
        *,
        dummy_hash: str | None = None,
    ) -> None:
        """Add ``POST /api/auth/login {email,password}`` → ``{"accessToken"}`` / 401.

        ``dummy_hash`` (a hash of any password) keeps unknown emails as slow as wrong
        passwords (lab 01).
        """

        @app.post("/api/auth/login", response_model=None)
        def login(body: _Credentials) -> Any:
            user = store.find_user(body.email)
            stored = user.password_hash if user is not None else dummy_hash
            ok = stored is not None and verify_password(body.password, stored)
            if user is None or not ok:
                return JSONResponse({"error": "Invalid email or password"}, status_code=401)
            pair = self.service.issue_tokens(
                {"id": user.id, "role": user.role, "tokenVersion": user.token_version}
            )
            return {"accessToken": pair["accessToken"]}
