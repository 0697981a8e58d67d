"""DELIBERATELY INSECURE — for attack practice in the workbook only; never copy into real code.
The secure twin lives in labkit.patterns.

Session handling as a hurried in-house framework does it (lab 03-sessions): ids counted up
from a number, the id the browser brings kept at login, a cookie any script can read and any
site can make the browser send, a logout that only forgets the cookie in the browser, and no
timeouts. Secure twin: :mod:`labkit.patterns.sessions`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "COOKIE_NAME",
    "SequentialIds",
    "end_session",
    "session_cookie",
    "session_expired",
    "start_session",
]

COOKIE_NAME = "sessionid"


class SequentialIds:
    """Session ids counted up from ``start``: ``"4711"``, ``"4712"``, ...

    Flaw: predictable ids — from your own id, your neighbours' are one subtraction away.
    Exploited in: 03-sessions (enumerate the ids next to yours, hijack alice's session).
    Secure twin: labkit.patterns.sessions.new_session_id.
    """

    def __init__(self, start: int = 1000) -> None:
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            return str(next(self._counter))


def start_session(
    store: Any,
    old_id: str | None,
    record: Any,
    *,
    new_id: Callable[[], str],
) -> str:
    """Log the session in — under the id the browser already had, if it had one.

    Flaw: session fixation — an id known before login (planted by the attacker, or the
    server's own pre-login id) stays valid and is now logged in; unknown ids are even
    adopted as they are (a "permissive" session manager).
    Exploited in: 03-sessions (plant an id, wait for the victim to log in, use it).
    Secure twin: labkit.patterns.sessions.start_session.
    """
    session_id = old_id or new_id()
    store.put(session_id, record)
    return session_id


def session_cookie(session_id: str) -> str:
    """The ``Set-Cookie`` value: ``sessionid=<id>; Path=/`` and nothing else.

    Flaw: no ``HttpOnly`` (any script on the page reads it through ``document.cookie``), no
    ``SameSite`` (other sites' forms carry it), no ``Secure`` (sent over plain HTTP).
    Exploited in: 03-sessions (an injected script steals it; a cross-site form rides it).
    Secure twin: labkit.patterns.sessions.session_cookie.
    """
    return f"{COOKIE_NAME}={session_id}; Path=/"


def end_session(store: Any, session_id: str) -> None:
    """Logout that leaves the server's session alone (the app only clears the cookie).

    Flaw: the session outlives the logout — any copy of the id (stolen, cached, on a shared
    computer) keeps working.
    Exploited in: 03-sessions (replay the cookie after logout).
    Secure twin: labkit.patterns.sessions.end_session.
    """
    return None


def session_expired(created: float, last_seen: float, now: float) -> bool:
    """Sessions never expire.

    Flaw: no idle or absolute timeout — a session id is worth stealing forever.
    Exploited in: 03-sessions (a session left idle for a day still works).
    Secure twin: labkit.patterns.sessions.session_expired.
    """
    return False
