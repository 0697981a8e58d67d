"""12 encoding: what the search page does with the reader's input."""

from __future__ import annotations

import html
import re
from typing import Any

import markupsafe

from labkit.patterns import headers as reference
from tests.fixes.corpus import Fixes, right, wrong


def whole(escape: Any) -> Fixes:
    """The reference headers and cookie, with ``escape``."""
    return {
        "security_headers": reference.security_headers,
        "session_cookie": lambda: dict(reference.SESSION_COOKIE),
        "escape": escape,
    }


@wrong("encoding", breaks="encode-element", also=("verify",))
def script_blocklist() -> Fixes:
    """Removes <script> tags (any case) and escapes quotes: every other tag goes through."""

    def escape(text: str) -> str:
        text = re.sub(r"(?i)<\s*/?\s*script[^>]*>", "", text)
        return text.replace('"', "&quot;").replace("'", "&#x27;")

    return whole(escape)


@wrong("encoding", breaks="encode-attribute")
def angle_brackets_only() -> Fixes:
    """& < > become references, quotes stay: a quote ends value="..."."""
    return whole(lambda text: text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


@wrong("encoding", breaks="encode-attribute")
def double_quotes_only() -> Fixes:
    """html.escape(quote=False) plus the double quote: ' still ends data-query='...'."""
    return whole(lambda text: html.escape(text, quote=False).replace('"', "&quot;"))


@wrong("encoding", breaks="encode-once")
def escaped_twice() -> Fixes:
    """Escapes, and escapes again "to be safe": readers see &amp;lt;b&amp;gt;."""
    return whole(lambda text: html.escape(html.escape(text)))


@wrong("encoding", breaks="encode-once")
def strip_tags() -> Fixes:
    """Deletes anything that looks like a tag, then escapes: '<b>tea</b>' shows as 'tea'."""
    return whole(lambda text: html.escape(re.sub(r"<[^>]*>", "", text)))


@right("encoding")
def markupsafe_escape() -> Fixes:
    """MarkupSafe (Jinja2's autoescape): &#34; and &#39; for the quotes."""
    return whole(lambda text: str(markupsafe.escape(text)))


@right("encoding")
def numeric_references_for_all() -> Fixes:
    """An encoder object: every character but letters, digits and space as &#NNN;."""

    class Encoder:
        def __init__(self) -> None:
            self.safe = re.compile(r"[A-Za-z0-9 ]")

        def __call__(self, text: str) -> str:
            return "".join(c if self.safe.fullmatch(c) else f"&#{ord(c)};" for c in text)

    return whole(Encoder())
