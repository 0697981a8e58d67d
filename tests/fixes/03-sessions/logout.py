"""03 logout: wrong and right ways to end a session on the server."""

from __future__ import annotations

from typing import Any

from labkit.patterns import sessions as secure
from labkit.patterns.sessions import id_digest
from labkit.vulnerable import sessions as weak
from tests.fixes.corpus import Fixes, right, wrong


def _verify(**parts: Any) -> Fixes:
    """The reference's five functions, except ``parts`` (``verify`` needs all five)."""
    return {
        "new_session_id": secure.new_session_id,
        "start_session": secure.start_session,
        "session_cookie": secure.session_cookie,
        "end_session": secure.end_session,
        "session_expired": secure.session_expired,
        **parts,
    }


@wrong("logout", breaks="server-side", also=("verify",))
def cookie_only() -> Fixes:
    """Does nothing on the server: the app clears the browser's cookie, a copy still works."""
    return _verify(end_session=weak.end_session)


@wrong("logout", breaks="server-side")
def deletes_the_hash() -> Fixes:
    """'The store keys by SHA-256', so it deletes the hash of the id: nothing is deleted."""

    def end_session(store: Any, session_id: str) -> None:
        store.delete(id_digest(session_id))

    return {"end_session": end_session}


@wrong("logout", breaks="server-side")
def forgets_the_user_keeps_the_row() -> Fixes:
    """Signs the session out (email None) instead of deleting it: the id lives on."""
    from dataclasses import replace

    def end_session(store: Any, session_id: str) -> None:
        record = store.get(session_id)
        if record is not None:
            store.put(session_id, replace(record, email=None, elevated=False))

    return {"end_session": end_session}


@wrong("logout", breaks="clean-logout")
def everywhere_without_a_check() -> Fixes:
    """Logs the user out everywhere via the record's email, never asking if there is one."""

    def end_session(store: Any, session_id: str) -> None:
        store.delete_user(store.get(session_id).email)

    return _verify(end_session=end_session)


@right("logout", also=("verify",))
def log_out_everywhere() -> Fixes:
    """Ends every session of the user (another device too), then this one."""

    def end_session(store: Any, session_id: str) -> None:
        record = store.get(session_id)
        if record is not None and record.email:
            store.delete_user(record.email)
        store.delete(session_id)

    return _verify(end_session=end_session)


@right("logout")
def a_class() -> Fixes:
    """A small class whose __call__ deletes and ignores whether there was anything."""

    class Logout:
        def __call__(self, store: Any, session_id: str) -> None:
            store.delete(session_id)

    return {"end_session": Logout()}
