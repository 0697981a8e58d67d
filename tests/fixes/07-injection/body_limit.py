"""07 body-limit: wrong and right ways to cap a request body."""

from __future__ import annotations

from labkit.patterns import validation as reference
from tests.fixes.corpus import Fixes, right, wrong


def _whole(body_too_large: object) -> Fixes:
    """All five functions (for verify): the reference queries and schema, this cap."""
    return {
        "find_users": reference.find_users,
        "create_user": reference.create_user,
        "find_login": reference.find_login,
        "validate_user": reference.validate_user,
        "body_too_large": body_too_large,
    }


@wrong("body-limit", breaks="streamed-too-large", also=("verify",))
def trusts_content_length() -> Fixes:
    """Only the declared Content-Length is compared: a chunked upload is never counted."""

    def body_too_large(content_length: int | None, received: int) -> bool:
        return (content_length or 0) > 64 * 1024

    return _whole(body_too_large)


@wrong("body-limit", breaks="declared-too-large")
def counts_bytes_only() -> Fixes:
    """Only the bytes received are counted: a declared 2 MiB body is read before refusal."""
    return _whole(lambda content_length, received: received > 64 * 1024)


@wrong("body-limit", breaks="cap-range")
def one_kilobyte() -> Fixes:
    """A 1 KiB cap: too tight for a pretty-printed body."""
    return {"body_too_large": lambda length, received: max(length or 0, received) > 1024}


@wrong("body-limit", breaks="cap-range")
def four_megabytes() -> Fixes:
    """A 4 MiB cap: stops the 5 MB attack, lets a 2 MiB body through."""
    return _whole(lambda length, received: max(length or 0, received) > 4 * 2**20)


@wrong("body-limit", breaks="streamed-too-large")
def crashes_without_content_length() -> Fixes:
    """content_length > cap with no None case: a chunked upload raises TypeError."""
    return {"body_too_large": lambda length, received: length > 65536 or received > 65536}


@right("body-limit")
def megabyte_class() -> Fixes:
    """A callable class with a decimal 1 MB cap (inside 16 KiB .. 1 MiB)."""

    class BodyCap:
        def __init__(self, limit: int) -> None:
            self.limit = limit

        def __call__(self, content_length: int | None, received: int) -> bool:
            declared = content_length if content_length is not None else 0
            return declared > self.limit or received > self.limit

    return {"body_too_large": BodyCap(1_000_000)}


@right("body-limit")
def exactly_sixteen_kib() -> Fixes:
    """The smallest cap allowed: 16 KiB, max() of declared and received."""
    return {"body_too_large": lambda length, received: max(length or 0, received) > 16 * 1024}
