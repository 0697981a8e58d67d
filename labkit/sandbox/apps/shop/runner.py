"""The audit's exploit runner: a learner's findings, replayed on request against any shop.

A finding is ``{"routes": ["METHOD /path", ...], "weakness": "<row id>" | "other", "cwe":
"CWE-n" (for "other"), "exploit": exploit(client) -> evidence}``. The learner's findings
are plugged into *their own* shop (``create_app(findings=...)``, started in their kernel, like
a fix); the audit and verify checks then ask this route to run finding ``n`` against a shop
the check names — a fresh BrokenShop it serves itself, the secure shop, the fixed shop — and
judge the evidence it returns, and what that shop saw, on their side.

The exploit runs guarded (:func:`labkit.sandbox.fixes.guard`): a crash, an endless loop or a
hang is reported as that finding's ``error``, never a 500. Its evidence crosses back as
plain JSON (:func:`encode_evidence`): an ``httpx.Response`` becomes its method, URL, status,
headers and text.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from labkit.sandbox.fixes import FixFault, FixSlot, guard
from labkit.sandbox.tls import client_context, lab_trust

__all__ = [
    "EXPLOIT_TIMEOUT_S",
    "LIST_ROUTE",
    "RUN_ROUTE",
    "ShopClient",
    "describe",
    "encode_evidence",
    "install_runner",
]

LIST_ROUTE = "/api/_lab/findings"
RUN_ROUTE = "/api/_lab/findings/run"
#: One exploit's budget (a brute force of 100 logins takes a few seconds).
EXPLOIT_TIMEOUT_S = 30.0
MAX_TEXT_CHARS = 1_100_000
MAX_ITEMS = 2000
MAX_DEPTH = 8


class ShopClient(httpx.Client):
    """What an exploit receives: an ``httpx.Client`` aimed at the shop (``base_url``, its
    lab CA trusted), and ``urls``: every listener of that shop by name (``"main"``,
    ``"http"``, ``"shipping"``)."""

    def __init__(self, urls: Mapping[str, str], ca_pem: str | None, local_address: str | None):
        self.urls = dict(urls)
        verify: Any = client_context(cadata=ca_pem) if ca_pem else (lab_trust() or True)
        self.verify = verify
        transport = httpx.HTTPTransport(verify=verify, local_address=local_address)
        super().__init__(
            base_url=self.urls["main"], transport=transport, timeout=10.0, trust_env=False
        )


def describe(item: Any) -> dict[str, Any]:
    """A finding as plain data: its routes, weakness, CWE and exploit name, or what is wrong."""
    if not isinstance(item, Mapping):
        return {"problem": f"a finding is a dict, got {type(item).__name__}"}
    routes = item.get("routes", item.get("route"))
    if isinstance(routes, str):
        routes = [routes]
    if not isinstance(routes, list | tuple) or not all(isinstance(r, str) for r in routes):
        routes = []
    exploit = item.get("exploit")
    found = {
        "routes": list(routes),
        "weakness": item.get("weakness") if isinstance(item.get("weakness"), str) else None,
        "cwe": str(item["cwe"]) if item.get("cwe") is not None else None,
        "exploit": getattr(exploit, "__name__", None) if callable(exploit) else None,
    }
    if not callable(exploit):
        found["problem"] = "its 'exploit' is not a function: exploit(client) -> evidence"
    return found


def encode_evidence(value: Any, depth: int = 0) -> Any:
    """Evidence as JSON: scalars as they are, bytes as ``{"$bytes"}``, containers as lists
    and dicts (string keys), an ``httpx.Response`` as ``{"$response": {...}}``."""
    if depth > MAX_DEPTH:
        return {"$repr": "(nested too deep)"}
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value[:MAX_TEXT_CHARS]
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value[:MAX_TEXT_CHARS])).decode("ascii")}
    if isinstance(value, httpx.Response):
        return {"$response": _response(value)}
    if isinstance(value, Mapping):
        items = list(value.items())[:MAX_ITEMS]
        return {str(k): encode_evidence(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode_evidence(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    return {"$repr": repr(value)[:500], "$type": type(value).__name__}


def _response(response: httpx.Response) -> dict[str, Any]:
    try:
        response.read()
        text = response.text[:MAX_TEXT_CHARS]
    except (httpx.HTTPError, UnicodeDecodeError, RuntimeError):
        text = ""
    try:
        request = response.request
        method, url, sent = request.method, str(request.url), list(request.headers.items())
    except RuntimeError:  # a Response made by hand has no request
        method, url, sent = "", "", []
    return {
        "method": method,
        "url": url,
        "status": response.status_code,
        "headers": [[k, v] for k, v in response.headers.multi_items()],
        "requestHeaders": [[k, v] for k, v in sent],
        "text": text,
    }


class RunRequest(BaseModel):
    index: int = Field(ge=0)
    urls: dict[str, str]
    ca: str | None = None
    localAddress: str | None = None


def _run(exploit: Callable[..., Any], number: int, body: RunRequest) -> dict[str, Any]:
    name = getattr(exploit, "__name__", "exploit")
    slot = FixSlot(f"finding {number} ({name})", object, "exploit(client)", EXPLOIT_TIMEOUT_S)
    try:
        client = ShopClient(body.urls, body.ca, body.localAddress)
    except (KeyError, ValueError, OSError) as exc:
        return {"evidence": None, "error": f"could not make the client: {exc}"}
    try:
        evidence = guard(slot, exploit)(client)
    except FixFault as exc:
        return {"evidence": None, "error": str(exc)}
    finally:
        client.close()
    return {"evidence": encode_evidence(evidence), "error": None}


def install_runner(app: Any, findings: Any) -> None:
    """Add the runner's two lab-only routes to ``app`` for the learner's ``findings``."""
    items = list(findings) if isinstance(findings, list | tuple) else []
    problem = None if isinstance(findings, list | tuple) else (
        f"FINDINGS must be a list of findings, got {type(findings).__name__}"
    )

    @app.get(LIST_ROUTE, include_in_schema=False)
    def listed() -> dict[str, Any]:
        return {"findings": [describe(item) for item in items], "problem": problem}

    @app.post(RUN_ROUTE, include_in_schema=False)
    async def run(body: RunRequest) -> dict[str, Any]:
        if body.index >= len(items) or "main" not in body.urls:
            return {"evidence": None, "error": f"no finding {body.index + 1}"}
        item = items[body.index]
        exploit = item.get("exploit") if isinstance(item, Mapping) else None
        if not callable(exploit):
            return {"evidence": None, "error": "its 'exploit' is not a function"}
        return await run_in_threadpool(_run, exploit, body.index + 1, body)
