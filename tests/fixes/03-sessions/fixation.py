"""03 no-fixation: wrong and right ways to start a session at login and at a privilege change."""

from __future__ import annotations

import uuid
from dataclasses import replace
from functools import partial
from typing import Any

from labkit.patterns import sessions as secure
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


@wrong("no-fixation", breaks="new-id-at-login", also=("verify",))
def keeps_the_browsers_id() -> Fixes:
    """Logs in under whatever id the browser brought (a 'permissive' session manager)."""
    return _verify(start_session=partial(weak.start_session, new_id=secure.new_session_id))


@wrong("no-fixation", breaks="new-id-at-login")
def strict_store_keeps_known_ids() -> Fixes:
    """Refuses made-up ids, but an id the server issued (or the attacker's own) is kept."""

    def start_session(store: Any, old_id: str | None, record: Any) -> str:
        if old_id and store.get(old_id) is not None:
            store.put(old_id, record)
            return old_id
        session_id = secure.new_session_id()
        store.put(session_id, record)
        return session_id

    return {"start_session": start_session}


@wrong("no-fixation", breaks="new-id-at-privilege-change")
def same_user_same_id() -> Fixes:
    """A new id at login, but 'the same user keeps the session' when re-entering the password."""

    def start_session(store: Any, old_id: str | None, record: Any) -> str:
        old = store.get(old_id) if old_id else None
        if old is not None and old.email and old.email == record.email:
            store.put(old_id, record)
            return old_id
        if old_id:
            store.delete(old_id)
        session_id = secure.new_session_id()
        store.put(session_id, record)
        return session_id

    return _verify(start_session=start_session)


@wrong("no-fixation", breaks="old-id-dies")
def new_id_old_left_alive() -> Fixes:
    """A fresh id every time, but the old session is never deleted."""

    def start_session(store: Any, old_id: str | None, record: Any) -> str:
        session_id = secure.new_session_id()
        store.put(session_id, record)
        return session_id

    return _verify(start_session=start_session)


@wrong("no-fixation", breaks="old-id-dies")
def deletes_only_anonymous_sessions() -> Fixes:
    """Deletes a pre-login session, but leaves a signed-in one alive at a privilege change."""

    def start_session(store: Any, old_id: str | None, record: Any) -> str:
        old = store.get(old_id) if old_id else None
        if old is not None and old.email is None:
            store.delete(old_id)
        session_id = secure.new_session_id()
        store.put(session_id, record)
        return session_id

    return {"start_session": start_session}


@wrong("no-fixation", breaks="keeps-record")
def carries_the_old_record_over() -> Fixes:
    """A new id with the *old* record ('keep the basket'): the login itself is lost."""

    def start_session(store: Any, old_id: str | None, record: Any) -> str:
        old = store.get(old_id) if old_id else None
        if old_id:
            store.delete(old_id)
        session_id = secure.new_session_id()
        store.put(session_id, old or record)
        return session_id

    return _verify(start_session=start_session)


@right("no-fixation", also=("verify",))
def rotator_keeping_the_basket() -> Fixes:
    """A class; a fresh id from two uuid4s, the old session's labels merged into the record."""

    class Rotator:
        def __call__(self, store: Any, old_id: str | None, record: Any) -> str:
            old = store.get(old_id) if old_id else None
            if old_id is not None:
                store.delete(old_id)
            labels = {**(old.data if old else {}), **record.data}
            session_id = uuid.uuid4().hex + uuid.uuid4().hex
            store.put(session_id, replace(record, data=labels))
            return session_id

    return _verify(start_session=Rotator())


@right("no-fixation")
def put_first_then_delete() -> Fixes:
    """Stores the new session first, then deletes every old one (delete of None skipped)."""

    def start_session(store: Any, old_id: str | None, record: Any) -> str:
        session_id = secure.new_session_id()
        store.put(session_id, record)
        for stale in filter(None, [old_id]):
            store.delete(stale)
        return session_id

    return {"start_session": start_session}
