"""Reading a finding's evidence and a shop's traffic: what the audit's judges work from.

Evidence arrives as the JSON :func:`labkit.sandbox.apps.shop.runner.encode_evidence` made of
whatever the learner's exploit returned (a string, a dict, a list, an ``httpx.Response``...).
The judges never trust it alone: they look for what it names (a token, a password, a card
number) and test that against the shop — and, where the shop is the check's own, against
the requests the exploit really made (its traffic, :class:`~labkit.sandbox.inspector.Exchange`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from labkit.sandbox.inspector import Exchange

__all__ = [
    "JWT",
    "Route",
    "dicts",
    "integers",
    "pairs",
    "parse_cwe",
    "responses",
    "route_matches",
    "strings",
]

JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
#: ``(method, path template)``: ``("GET", "/api/orders/{order_id}")``.
Route = tuple[str, str]


def _walk(value: Any) -> Iterator[Any]:
    """Every value inside the evidence, a response's parsed JSON body included."""
    yield value
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            with contextlib.suppress(binascii.Error, ValueError):
                yield base64.b64decode(value["$bytes"]).decode("latin-1")
            return
        if set(value) == {"$response"} and isinstance(value["$response"], dict):
            response = value["$response"]
            text = str(response.get("text", ""))
            yield text
            for pair in response.get("headers", []):
                yield from (str(x) for x in pair)
            try:
                body = json.loads(text)
            except ValueError:
                return
            yield from _walk(body)
            return
        for key, item in value.items():
            yield key
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def strings(evidence: Any) -> list[str]:
    """Every string in the evidence (keys, values, response texts and headers)."""
    return [v for v in _walk(evidence) if isinstance(v, str)]


def integers(evidence: Any) -> list[int]:
    """Every integer in the evidence (and digit strings of up to 12 digits)."""
    found = []
    for value in _walk(evidence):
        if isinstance(value, int) and not isinstance(value, bool):
            found.append(value)
        elif isinstance(value, str) and value.isdigit() and len(value) <= 12:
            found.append(int(value))
    return found


def dicts(evidence: Any) -> list[dict[str, Any]]:
    """Every dict in the evidence (a response's JSON objects included)."""
    return [v for v in _walk(evidence) if isinstance(v, dict) and "$response" not in v]


def responses(evidence: Any) -> list[dict[str, Any]]:
    """Every ``httpx.Response`` the exploit returned, as the runner encoded it."""
    return [
        v["$response"]
        for v in _walk(evidence)
        if isinstance(v, dict) and isinstance(v.get("$response"), dict)
    ]


def pairs(evidence: Any) -> list[tuple[str, str]]:
    """``(key, value)`` string pairs: a dict's items, 2-item lists (``[email, password]``)."""
    found: list[tuple[str, str]] = []
    for value in _walk(evidence):
        if isinstance(value, dict) and "$response" not in value:
            found += [(k, v) for k, v in value.items() if isinstance(v, str)]
            email, password = value.get("email"), value.get("password")
            if isinstance(email, str) and isinstance(password, str):
                found.append((email, password))
        elif isinstance(value, list) and len(value) == 2 and all(isinstance(x, str) for x in value):
            found.append((value[0], value[1]))
    return found


def header(pairs_: Iterable[Iterable[str]], name: str) -> str | None:
    """The first value of header ``name`` in a list of ``[name, value]`` pairs."""
    for key, value in pairs_:
        if key.lower() == name.lower():
            return value
    return None


def parse_route(mark: object) -> Route | None:
    """``"get /api/orders/{order_id}"`` -> ``("GET", "/api/orders/{order_id}")``, else None."""
    if not isinstance(mark, str):
        return None
    method, _, path = mark.strip().partition(" ")
    method, path = method.upper(), path.strip().split("?")[0]
    if method not in METHODS or not path.startswith("/"):
        return None
    return method, path


def _pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", path)
    body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"{body}/?")


def route_matches(route: Route, exchange: Exchange) -> bool:
    """True when ``exchange`` was a request to ``route`` (a preflight counts for its path)."""
    method, path = route
    if exchange.method not in (method, "OPTIONS"):
        return False
    return bool(_pattern(path).fullmatch(exchange.path))


def parse_cwe(value: object) -> int | None:
    """``"CWE-770"``, ``"cwe770"``, ``770`` -> 770; anything else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.fullmatch(r"\s*(?:cwe)?[-_ ]?(\d{1,4})\s*", str(value or ""), re.IGNORECASE)
    return int(match.group(1)) if match else None
