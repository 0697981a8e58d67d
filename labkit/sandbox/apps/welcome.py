"""00-welcome: a friendly practice app — one request, one header, one small fix.

Routes: ``GET /api/hello``; ``GET /api/ticket`` (needs the header ``X-Workbook: ready``);
``POST /api/greet {"name"}`` → 200 ``{"greeting"}`` / 400 ``{"errors": [...]}``.
Lab-only: ``GET /api/_lab/tickets/{ticket}`` (200 when this sandbox issued the ticket).
The replaceable part is ``validate_name(name) -> list[str]`` (errors; empty when fine).
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from labkit.sandbox.apps.base import LabState, new_lab_app
from labkit.sandbox.fixes import FixSlot, plug_fixes

__all__ = ["SLOTS", "create_app"]

MAX_NAME_LENGTH = 40
SLOTS = {
    "validate_name": FixSlot(
        "validate_name", list, "validate_name(name: str) -> list[str]: the problems, [] if fine"
    ),
}


def accept_any_name(name: str) -> list[str]:
    """The practice app's starting point: every name is accepted (empty, 1 MB, anything)."""
    return []


def validate_name_reference(name: str) -> list[str]:
    """Trimmed name of 1 to 40 characters."""
    cleaned = name.strip()
    if not cleaned:
        return ["Name is required"]
    if len(cleaned) > MAX_NAME_LENGTH:
        return [f"Name must be at most {MAX_NAME_LENGTH} characters"]
    return []


class Greeting(BaseModel):
    name: str


def create_app(secure: bool = False, **fixes: Any) -> Any:
    """The welcome app; ``secure=True`` validates names, ``validate_name=`` plugs in yours."""
    default = validate_name_reference if secure else accept_any_name
    parts = plug_fixes(SLOTS, {"validate_name": default}, fixes)
    validate_name = parts["validate_name"]
    issued: set[str] = set()
    app = new_lab_app("00-welcome", secure=secure, state=LabState(secure=secure))

    @app.get("/api/hello")
    def hello() -> dict[str, str]:
        return {"message": "Hello from your sandbox! Everything you send here is recorded."}

    @app.get("/api/ticket", response_model=None)
    def ticket(x_workbook: str | None = Header(default=None)) -> Any:
        if x_workbook != "ready":
            return JSONResponse({"error": "Send the header X-Workbook: ready"}, status_code=400)
        value = secrets.token_urlsafe(12)
        issued.add(value)
        return {"ticket": value}

    @app.post("/api/greet", response_model=None)
    def greet(body: Greeting) -> Any:
        errors = validate_name(body.name)
        if errors:
            return JSONResponse({"errors": [str(e) for e in errors]}, status_code=400)
        return {"greeting": f"Hello, {body.name.strip()}!"}

    @app.get("/api/_lab/tickets/{value}", include_in_schema=False, response_model=None)
    def known_ticket(value: str) -> Any:
        if value in issued:
            return {"ticket": value, "issued": True}
        return JSONResponse({"error": "Not found"}, status_code=404)

    return app
