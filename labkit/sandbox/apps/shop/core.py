"""What every part of BrokenShop shares: the running shop, its database, its learner parts.

BrokenShop (13-capstone) is one app that carries every row of the seed's "Common
Anti-Patterns Summary" at once. Each concern lives in its own module of this package
(``tokens``, ``accounts``, ``edge``, ``data``); each module declares the parts a learner
may replace (``SLOTS``), the reference functions (``SECURE``), the broken ones
(``VULNERABLE``, from :mod:`labkit.vulnerable`) and ``install(shop)``, which adds its
routes to the app. :func:`labkit.sandbox.apps.shop.create_app` builds a :class:`Shop` and
installs the modules in order — ``tokens`` first, because the others authenticate with it.

Like 09, the shop is served over HTTPS (``urls["main"]``, a fresh lab CA) and on a plain
HTTP listener (``urls["http"]``, the same app), whose ``/api/_lab/ca.pem`` hands out the CA.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from labkit.sandbox.apps.base import LabState
from labkit.sandbox.connection import connection
from labkit.sandbox.store import LabStore
from labkit.sandbox.tls import LocalTLS

__all__ = [
    "ATTACKER_ROUTES",
    "CA_ROUTE",
    "LAB_ID",
    "LAB_KEY_HEADER",
    "LAB_ROUTES",
    "TRUSTED_PROXIES",
    "Shop",
    "add_core_routes",
    "connection",
]

LAB_ID = "13-capstone"
CA_ROUTE = "/api/_lab/ca.pem"
LAB_ROUTES = "/api/_lab/"
#: Lab-only routes that play what an attacker holds (the stolen database, the public
#: repository, a leaked log, a bought mailing list): open to exploits in a keyed shop.
ATTACKER_ROUTES = frozenset(
    {
        CA_ROUTE,
        "/api/_lab/breach",
        "/api/_lab/dump",
        "/api/_lab/source",
        "/api/_lab/old-config",
        "/api/_lab/token-log",
        "/api/_lab/mailing-list",
    }
)
#: A keyed shop (the audit's fresh shops) answers its other lab-only routes only to a
#: request carrying its key in this header: the check's, never the learner's exploit.
LAB_KEY_HEADER = "X-Labkit-Lab-Key"
#: The shop's load balancer (as in 09): the only peer whose X-Forwarded-* may be believed.
TRUSTED_PROXIES = frozenset({"127.0.0.2"})

Dependency = Callable[..., Any]


@dataclass
class Shop:
    """The running shop as its modules see it.

    ``parts`` maps every slot name to the function the shop uses — the secure or the broken
    default, or the learner's guarded fix; ``fixed`` names the slots the learner plugged in.
    Modules hang their shared hooks here: ``tokens`` sets ``login_response`` (what a
    successful login answers) and ``current_user`` (a FastAPI dependency returning the
    verified claims: ``sub``, ``email``, ``role``).
    """

    secure: bool
    app: FastAPI
    state: LabState
    store: LabStore
    tls: LocalTLS
    parts: dict[str, Callable[..., Any]]
    fixed: frozenset[str]
    lab_key: str | None = None
    login_response: Callable[..., Any] | None = None
    current_user: Dependency | None = None
    lab_facts: dict[str, Any] = field(default_factory=dict)

    def uses(self, slot: str) -> bool:
        """True when the shop has a function for ``slot`` (a secure default or a fix)."""
        return slot in self.parts


class LabKeyGate:
    """In a keyed shop, the lab-only routes outside :data:`ATTACKER_ROUTES` answer 403
    unless the request carries the shop's key (the audit's check holds it)."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app, self.key = app, key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and path.startswith(LAB_ROUTES) and path not in ATTACKER_ROUTES:
            sent = Headers(scope=scope).get(LAB_KEY_HEADER, "")
            if not hmac.compare_digest(sent.encode(), self.key.encode()):
                body = {"error": "lab-only route: not something an attacker holds"}
                await JSONResponse(body, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def add_core_routes(shop: Shop) -> None:
    """Lab-only routes every part uses: the CA, and the breach (a dump of every table)."""
    app, store = shop.app, shop.store

    @app.get(CA_ROUTE, include_in_schema=False)
    def ca_pem() -> PlainTextResponse:
        return PlainTextResponse(shop.tls.ca_pem, media_type="application/x-pem-file")

    @app.get("/api/_lab/breach", include_in_schema=False)
    def breach() -> dict[str, list[dict[str, Any]]]:
        """What an attacker who stole the database file holds: every row of every table."""
        with store.connect() as db:
            tables = [
                row[0]
                for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            dump = {}
            for table in tables:
                cursor = db.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from sqlite_master)
                columns = [c[0] for c in cursor.description]
                dump[table] = [
                    {
                        c: (v.hex() if isinstance(v, bytes) else v)
                        for c, v in zip(columns, r, strict=True)
                    }
                    for r in cursor.fetchall()
                ]
        return dump

    @app.get("/api/_lab/accounts", include_in_schema=False)
    def accounts() -> list[dict[str, Any]]:
        """The seeded accounts with their passwords (what each user types in)."""
        return [
            {"email": u.email, "role": u.role, "password": u.password}
            for u in shop.state.users.values()
        ]
