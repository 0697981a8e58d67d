"""05 query-string: wrong and right ways to keep keys out of URLs and logs."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from labkit.patterns import apikeys as reference
from labkit.sandbox.apps.apikeys import _secure_authenticate
from labkit.vulnerable import apikeys as weak
from tests.fixes.corpus import Fixes, right, wrong

SECRET = {"api_key", "apikey", "key", "token", "access_token"}
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _fixes(
    read_api_key: Callable[..., Any] = reference.read_api_key,
    redact_url: Callable[[str], str] = reference.redact_url,
) -> Fixes:
    return {
        "generate_key": reference.generate_api_key,
        "read_api_key": read_api_key,
        "redact_url": redact_url,
    }


def _whole(**parts: Callable[..., Any]) -> Fixes:
    """All five functions (for verify): the reference key system with these parts."""
    return {**_fixes(**parts), "hash_key": reference.hash_api_key,
            "authenticate": _secure_authenticate}  # fmt: skip


def _named_only(url: str, names: set[str], case: bool = False) -> str:
    parts = urlsplit(url)
    pairs = [
        (n, "REDACTED" if (n.lower() if case else n) in names else v)
        for n, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


@wrong("query-string", breaks="header-only", also=("verify",))
def query_fallback() -> Fixes:
    """The app's old reader: X-API-Key, or else ?api_key= ("easier for scripts")."""
    return _whole(read_api_key=weak.read_api_key)


@wrong("query-string", breaks="header-only")
def reads_key_param() -> Fixes:
    """X-API-Key, or else ?key= (a name the first check never tried)."""
    return _fixes(read_api_key=lambda headers, query: headers.get("x-api-key") or query.get("key"))


@wrong("query-string", breaks="redact-key-shaped")
def logs_everything() -> Fixes:
    """The app's old redact_url: the URL unchanged."""
    return _fixes(redact_url=weak.redact_url)


@wrong("query-string", breaks="redact-secret-params")
def api_key_exact_name() -> Fixes:
    """Redacts ?api_key= and friends, compared case-sensitively; finds keys by shape."""

    def redact_url(url: str) -> str:
        return re.sub(r"lk_live_[0-9A-Za-z]{36}", "REDACTED", _named_only(url, SECRET))

    return _fixes(redact_url=redact_url)


@wrong("query-string", breaks="redact-secret-params")
def key_shape_only() -> Fixes:
    """Finds keys by shape everywhere, but lets ?token=<anything else> through."""
    return _whole(redact_url=lambda url: re.sub(r"lk_live_[0-9A-Za-z]{36}", "REDACTED", url))


@wrong("query-string", breaks="redact-key-shaped")
def query_only() -> Fixes:
    """Named parameters and key-shaped values in the query, but the path is left alone."""

    def redact_url(url: str) -> str:
        parts = urlsplit(url)
        query = re.sub(r"lk_live_[0-9A-Za-z]{36}", "REDACTED", parts.query)
        return _named_only(urlunsplit(parts._replace(query=query)), SECRET, case=True)

    return _whole(redact_url=redact_url)


@wrong("query-string", breaks="keep-ordinary")
def drops_the_query() -> Fixes:
    """Logs only the path: safe, but the log no longer says what was asked."""
    return _whole(redact_url=lambda url: url.split("?", 1)[0].replace("lk_live_", "REDACTED_"))


@wrong("query-string", breaks="keep-ordinary")
def redacts_every_value() -> Fixes:
    """Every parameter value REDACTED, and key-shaped paths too."""

    def redact_url(url: str) -> str:
        parts = urlsplit(url)
        pairs = [(n, "REDACTED") for n, _ in parse_qsl(parts.query, keep_blank_values=True)]
        path = re.sub(r"lk_live_[0-9A-Za-z]{36}", "REDACTED", parts.path)
        return urlunsplit(parts._replace(path=path, query=urlencode(pairs)))

    return _fixes(redact_url=redact_url)


@wrong("query-string", breaks="no-crash")
def assumes_a_query() -> Fixes:
    """Splits on '?' and takes [1]: a request without a query string crashes the logger."""

    def redact_url(url: str) -> str:
        path, query = url.split("?")
        return path + "?" + _named_only("?" + query, SECRET, case=True).lstrip("?")

    return _fixes(redact_url=redact_url)


def _valid(match: re.Match[str]) -> bool:
    number, digits = zlib.crc32(match.group(1).encode()), ""
    for _ in range(6):
        number, digit = divmod(number, 62)
        digits = BASE62[digit] + digits
    return digits == match.group(2)


@right("query-string", also=("verify",))
def regex_redactor() -> Fixes:
    """One regex for secret parameters (any case), one for checksummed keys; a header loop."""
    param = re.compile(r"(?i)(?<=[?&])(api_key|apikey|key|token|access_token)=[^&#]*")
    shaped = re.compile(r"lk_live_([0-9A-Za-z]{30})([0-9A-Za-z]{6})")

    def redact_url(url: str) -> str:
        url = param.sub(lambda m: f"{m.group(1)}=***", url)
        return shaped.sub(lambda m: "[key]" if _valid(m) else m.group(0), url)

    def read_api_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
        for name, value in headers.items():
            if name.casefold() == "x-api-key" and value:
                return value
        return None

    return _whole(read_api_key=read_api_key, redact_url=redact_url)


@right("query-string")
def split_and_rebuild() -> Fixes:
    """Split on & by hand, a tuple of secret names, patterns' find_api_keys for the rest."""
    names = ("api_key", "apikey", "key", "token", "access_token")

    def redact_url(url: str) -> str:
        path, _, query = url.partition("?")
        kept = []
        for pair in query.split("&") if query else ():
            name, eq, _value = pair.partition("=")
            kept.append(f"{name}{eq}REDACTED" if name.lower() in names else pair)
        text = path + ("?" + "&".join(kept) if query else "")
        for key in reference.find_api_keys(text):
            text = text.replace(key, "<redacted key>")
        return text

    return _fixes(redact_url=redact_url)
