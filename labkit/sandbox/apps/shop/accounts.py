"""BrokenShop's accounts: register and log in.

STUB (owned by the accounts work): vulnerable behaviour only, no slots yet.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from labkit.sandbox.apps.shop.core import Shop
from labkit.sandbox.fixes import FixSlot
from labkit.sandbox.store import Users
from labkit.vulnerable import passwords as weak_passwords

SLOTS: dict[str, FixSlot] = {}
SECURE: dict[str, Any] = {}
VULNERABLE: dict[str, Any] = {}


class Credentials(BaseModel):
    email: str
    password: str


def install(shop: Shop) -> None:
    store = shop.store
    users: Users = store.seed_staff(weak_passwords.hash_password_md5)
    shop.state.users = users

    @shop.app.post("/api/auth/register", status_code=201, response_model=None)
    def register(body: Credentials) -> Any:
        if store.find_user(body.email) is not None:
            return JSONResponse({"errors": ["Email already registered"]}, status_code=400)
        store.add_user(body.email, "customer", weak_passwords.hash_password_md5(body.password))
        return {"email": body.email}

    @shop.app.post("/api/auth/login", response_model=None)
    def login(body: Credentials) -> Any:
        status, payload = weak_passwords.login(body.email, body.password, store.find_user)
        if status != 200:
            return JSONResponse(payload, status_code=status)
        user = store.find_user(body.email)
        assert shop.login_response is not None
        return shop.login_response(user)
