"""03 timeouts: wrong and right idle and absolute limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


def _limits(idle: float, absolute: float) -> Fixes:
    def session_expired(created: float, last_seen: float, now: float) -> bool:
        return now - last_seen >= idle or now - created >= absolute

    return {"session_expired": session_expired}


@wrong("timeouts", breaks="idle-timeout", also=("verify",))
def never_expires() -> Fixes:
    """The app's own: sessions never expire."""
    return _verify(session_expired=weak.session_expired)


@wrong("timeouts", breaks="idle-timeout")
def absolute_only() -> Fixes:
    """8 hours absolute, no idle limit: an unattended session stays open all day."""
    return {"session_expired": lambda created, last_seen, now: now - created >= 8 * 3600}


@wrong("timeouts", breaks="idle-timeout")
def milliseconds() -> Fixes:
    """Limits written in milliseconds ('like JavaScript'): 15,000 minutes idle."""
    return _limits(15 * 60 * 1000, 8 * 3600 * 1000)


@wrong("timeouts", breaks="idle-timeout")
def minutes_as_seconds() -> Fixes:
    """'15 minutes idle, 480 absolute', compared with seconds: out after 15 seconds."""
    return _limits(15, 480)


@wrong("timeouts", breaks="idle-from-last-request")
def idle_from_login() -> Fixes:
    """'Idle' measured from the login: a busy user is thrown out after 15 minutes."""
    return _verify(**_limits(15 * 60, 15 * 60))


@wrong("timeouts", breaks="absolute-timeout")
def idle_only() -> Fixes:
    """15 minutes idle and nothing else: a session kept busy lives forever."""
    return _verify(session_expired=lambda created, last_seen, now: now - last_seen >= 15 * 60)


@wrong("timeouts", breaks="absolute-timeout")
def absolute_from_last_request() -> Fixes:
    """Both limits measured from the last request: the 'absolute' one never comes."""

    def session_expired(created: float, last_seen: float, now: float) -> bool:
        return now - last_seen >= 20 * 60 or now - last_seen >= 8 * 3600

    return {"session_expired": session_expired}


@wrong("timeouts", breaks="absolute-timeout")
def a_day_absolute() -> Fixes:
    """30 minutes idle, 24 hours absolute: twice what the check allows."""
    return _limits(30 * 60, 24 * 3600)


@right("timeouts", also=("verify",))
def high_value_with_datetime() -> Fixes:
    """5 minutes idle, 4 hours absolute, computed with datetime and timedelta."""

    def session_expired(created: float, last_seen: float, now: float) -> bool:
        at = datetime.fromtimestamp(now, UTC)
        idle = at - datetime.fromtimestamp(last_seen, UTC)
        age = at - datetime.fromtimestamp(created, UTC)
        return idle > timedelta(minutes=5) or age > timedelta(hours=4)

    return _verify(session_expired=session_expired)


@right("timeouts")
def the_loosest_limits() -> Fixes:
    """Exactly 30 minutes idle and 12 hours absolute, as a class with a strict '>'."""

    class Expiry:
        idle_s, absolute_s = 30 * 60, 12 * 3600

        def __call__(self, created: float, last_seen: float, now: float) -> bool:
            return now - last_seen > self.idle_s or now - created > self.absolute_s

    return {"session_expired": Expiry()}
