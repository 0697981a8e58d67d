"""What every lab app shares: its state object and how the FastAPI app is made."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from labkit.sandbox.apps.pages import add_docs, index_page
from labkit.sandbox.fixes import install_fault_handler
from labkit.sandbox.store import LabStore, Users

__all__ = ["ERROR_RESPONSE", "LabState", "finite_json", "lab_state", "new_lab_app"]

#: Every route's OpenAPI ``default`` response: any status a route does not list comes in the
#: seed's error shape, ``{"error": message}`` or ``{"errors": [...]}`` (a page route may answer
#: an HTML page). ``tests/test_fuzz_apps.py`` holds every secure app to it with schemathesis.
ERROR_RESPONSE: dict[str, Any] = {
    "description": 'An error: {"error": message} or {"errors": [...]} (an HTML page for pages)',
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {
                        "type": "object",
                        "required": ["error"],
                        "properties": {"error": {"type": "string"}},
                    },
                    {
                        "type": "object",
                        "required": ["errors"],
                        "properties": {"errors": {"type": ["array", "object"]}},
                    },
                ]
            }
        },
        "text/html": {"schema": {"type": "string"}},
    },
}


@dataclass
class LabState:
    """What a running lab app knows that the notebook may show: accounts, database, extras.

    ``extras`` holds lab-specific facts the notebook may print (for ``labkit serve`` too),
    as plain strings. A lab made of several apps (an OAuth server and its client) lists the
    others in ``companions``; each is served in its own sandbox, and once all are up
    ``urls`` maps ``"main"`` and every companion name to its base URL and every
    ``on_started`` callback is called with it. ``tls`` names the apps served over HTTPS:
    app name -> (certificate PEM path, key PEM path); ``ca_file`` is the CA the sandboxes'
    own clients (``lab.client``) trust for them.
    """

    secure: bool
    users: Users = field(default_factory=lambda: Users([]))
    store: LabStore | None = None
    extras: dict[str, str] = field(default_factory=dict)
    companions: dict[str, Any] = field(default_factory=dict)
    tls: dict[str, tuple[str, str]] = field(default_factory=dict)
    ca_file: str | None = None
    urls: dict[str, str] = field(default_factory=dict)
    on_started: list[Callable[[dict[str, str]], None]] = field(default_factory=list)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def started(self, urls: dict[str, str]) -> None:
        """Record where every app of the lab is served and tell the apps."""
        self.urls = dict(urls)
        for callback in self.on_started:
            callback(self.urls)

    def close(self) -> None:
        if self.store is not None:
            self.store.guard.close()  # SQL still running stops now, before the callbacks wait
        for callback in self.on_close:
            callback()
        if self.store is not None:
            self.store.close()


def new_lab_app(title: str, *, secure: bool, state: LabState) -> FastAPI:
    """A FastAPI app with the lab's state attached and learner faults turned into 500s."""
    mode = "secure reference" if secure else "DELIBERATELY VULNERABLE"
    app = FastAPI(
        title=f"{title} ({mode})",
        version="labkit",
        docs_url=None,
        redoc_url=None,
        responses={"default": ERROR_RESPONSE},
    )
    app.state.lab = state
    install_fault_handler(app)
    add_docs(app)
    app.add_exception_handler(RequestValidationError, _validation_errors)
    app.add_exception_handler(StarletteHTTPException, _http_errors)
    app.add_exception_handler(OverflowError, _no_such_id)
    return app


async def _no_such_id(request: Request, exc: Exception) -> JSONResponse:
    """An integer id past SQLite's 64 bits (``/api/keys/99999999999999999999``) names nothing:
    404, not the 500 of sqlite3's OverflowError. A learner function's own OverflowError
    never gets here (it is a fault, see labkit.sandbox.fixes)."""
    return JSONResponse({"error": "Not found"}, status_code=404)


async def _http_errors(request: Request, exc: Exception) -> Response:
    """``{"error": ...}`` for 401/403/404... (the seed's shape; FastAPI's is ``detail``).
    ``/`` of an app without a page of its own is its index page, not a 404."""
    if not isinstance(exc, StarletteHTTPException):
        return JSONResponse({"error": "Internal server error"}, status_code=500)
    if exc.status_code == 404 and _app_path(request) in ("", "/") and request.method == "GET":
        return index_page(request.app, request)
    body = {"error": exc.detail if isinstance(exc.detail, str) else "Request refused"}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def _app_path(request: Request) -> str:
    """The request's path inside the app (without a proxy's ``root_path``, if it is there)."""
    path, root = request.scope.get("path", ""), request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def _validation_errors(request: Request, exc: Exception) -> JSONResponse:
    """422 with the contract's ``{"errors": [...]}`` shape (FastAPI's default is ``detail``)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"errors": finite_json(jsonable_encoder(errors))}, status_code=422)


def finite_json(value: Any) -> Any:
    """``value`` (JSON-ready) with NaN and infinities as strings: JSON has none
    (``{"advance": NaN}`` made the 422 itself fail with a 500)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_json(item) for item in value]
    return value


def lab_state(app: Any) -> LabState:
    """The :class:`LabState` of an app made by :func:`new_lab_app`."""
    state = getattr(getattr(app, "state", None), "lab", None)
    if not isinstance(state, LabState):
        raise TypeError(f"{app!r} is not a labkit lab app (no app.state.lab)")
    return state
