"""labkit.patterns.sessions (both stores, real Redis), the vulnerable twin and the attack
helpers that do not need a running app."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from labkit.attacks import sessions as attack
from labkit.patterns import sessions as secure
from labkit.patterns.sessions import (
    RedisSessionStore,
    SessionRecord,
    SessionStore,
    SqliteSessionStore,
)
from labkit.vulnerable import sessions as weak


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    if request.param == "redis":
        made: SessionStore = RedisSessionStore(request.getfixturevalue("redis_url"))
    else:
        made = SqliteSessionStore(tmp_path / "lab.sqlite3")
    try:
        yield made
    finally:
        made.close()


def record(email: str | None = "alice@example.com", at: float = 1000.0) -> SessionRecord:
    return SessionRecord(email=email, created=at, last_seen=at)


def test_store_round_trip(store: SessionStore) -> None:
    sid = secure.new_session_id()
    assert store.get(sid) is None
    store.put(sid, record())
    assert store.get(sid) == record()
    store.put(sid, record().seen(2000.0))
    assert store.get(sid) == SessionRecord("alice@example.com", 1000.0, 2000.0)
    assert store.delete(sid) is True
    assert store.get(sid) is None
    assert store.delete(sid) is False


def test_store_keys_by_hash_only(store: SessionStore) -> None:
    sid = secure.new_session_id()
    store.put(sid, record())
    [(key, stored)] = store.records()
    assert key == secure.id_digest(sid) and stored == record()
    assert store.get(key) is None  # a leaked key is not a session id


def test_store_logs_a_user_out_everywhere(store: SessionStore) -> None:
    ids = [secure.new_session_id() for _ in range(3)]
    store.put(ids[0], record("alice@example.com"))
    store.put(ids[1], record("alice@example.com"))
    store.put(ids[2], record("bob@example.com"))
    assert store.delete_user("alice@example.com") == 2
    assert [store.get(i) is None for i in ids] == [True, True, False]


def test_anonymous_records_are_kept(store: SessionStore) -> None:
    sid = secure.new_session_id()
    store.put(sid, record(None))
    assert store.get(sid) == record(None)


@pytest.mark.redis
def test_redis_prefixes_isolate_apps_and_close_cleans_up(redis_url: str) -> None:
    first, second = RedisSessionStore(redis_url), RedisSessionStore(redis_url)
    sid = secure.new_session_id()
    first.put(sid, record())
    assert second.get(sid) is None and first.get(sid) == record()
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = list(raw.scan_iter(match=f"{first.prefix}*"))
        assert keys and all(sid not in k for k in keys)
        assert 0 < raw.ttl(f"{first.prefix}s:{secure.id_digest(sid)}") <= secure.ABSOLUTE_TIMEOUT_S
        first.close()
        assert list(raw.scan_iter(match=f"{first.prefix}*")) == []
    finally:
        second.close()
        raw.close()


def test_redis_store_validates_its_ttl() -> None:
    with pytest.raises(ValueError, match="ttl_s must be positive"):
        RedisSessionStore("redis://127.0.0.1:1/0", ttl_s=0)


# -- the life cycle ----------------------------------------------------------------------
def test_new_session_ids_are_256_bit_urlsafe() -> None:
    ids = {secure.new_session_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", i) for i in ids)


def test_start_session_renews_and_deletes_the_old_id(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.sqlite3")
    old = secure.new_session_id()
    store.put(old, record(None))
    new = secure.start_session(store, old, record())
    assert new != old and store.get(old) is None and store.get(new) == record()


def test_vulnerable_start_session_keeps_the_id(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.sqlite3")
    ids = weak.SequentialIds(41)
    assert weak.start_session(store, "planted", record(), new_id=ids) == "planted"
    assert weak.start_session(store, None, record(), new_id=ids) == "41"
    assert ids() == "42"


def test_cookie_values() -> None:
    cookie = attack.parse_set_cookie(secure.session_cookie("abc"))
    assert (cookie.name, cookie.value, cookie.http_only, cookie.secure, cookie.same_site) == (
        "__Host-session",
        "abc",
        True,
        True,
        "Strict",
    )
    loose = attack.parse_set_cookie(weak.session_cookie("7"))
    assert (loose.http_only, loose.secure, loose.same_site) == (False, False, None)


def test_clearing_cookie_keeps_the_attributes() -> None:
    cleared = secure.clearing_cookie(secure.session_cookie("abc") + "; Max-Age=60")
    assert cleared == "__Host-session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"


@pytest.mark.parametrize(
    ("idle", "age", "expired"),
    [
        (0, 0, False),
        (899, 899, False),
        (900, 900, True),
        (60, 8 * 3600, True),
        (60, 7 * 3600, False),
    ],
)
def test_session_expired(idle: float, age: float, expired: bool) -> None:
    now = 100_000.0
    assert secure.session_expired(now - age, now - idle, now) is expired
    assert weak.session_expired(now - age, now - idle, now) is False


# -- attack helpers ----------------------------------------------------------------------
def test_parse_set_cookie_last_attribute_wins() -> None:
    cookie = attack.parse_set_cookie("a=b; SameSite=Lax; samesite=strict; Path=/x")
    assert cookie.same_site == "Strict" and cookie.path == "/x"


@pytest.mark.parametrize(
    ("make", "strong", "sequential"),
    [
        (lambda: secrets.token_urlsafe(32), True, False),
        (lambda: secrets.token_hex(16), True, False),
        (lambda: uuid.uuid4().hex, False, False),
        (lambda: str(uuid.uuid4()), False, False),
        (lambda: secrets.token_hex(8), False, False),
    ],
    ids=["token_urlsafe(32)", "token_hex(16)", "uuid4 hex", "uuid4", "token_hex(8)"],
)
def test_analyse_ids(make: object, strong: bool, sequential: bool) -> None:
    analysis = attack.analyse_ids([make() for _ in range(200)])  # type: ignore[operator]
    assert analysis.strong is strong, str(analysis)
    assert analysis.sequential is sequential


def test_analyse_ids_sees_counters_and_uuid4_bits() -> None:
    counter = weak.SequentialIds(123_456)
    assert attack.analyse_ids([counter() for _ in range(50)]).sequential
    uuids = attack.analyse_ids([str(uuid.uuid4()) for _ in range(300)])
    assert 118 <= uuids.bits <= 124  # 122 random bits; version and variant are fixed


def test_other_site_swaps_loopback_names() -> None:
    assert attack.other_site("http://127.0.0.1:8000/x") == "http://localhost:8000/x"
    assert attack.other_site("http://localhost:8000") == "http://127.0.0.1:8000"
    with pytest.raises(ValueError):
        attack.other_site("http://example.com")


def test_simulation_applies_the_cookie_rules() -> None:
    loose = attack.simulate_browser(weak.session_cookie("7"))
    assert loose.document_cookie == "sessionid=7" and loose.sent_on_cross_site_post
    late = attack.simulate_browser(weak.session_cookie("7"), cookie_age_s=300)
    assert not late.sent_on_cross_site_post  # Chromium's Lax-by-default after 2 minutes
    strict = attack.simulate_browser(secure.session_cookie("x"))
    assert strict.stored and strict.document_cookie == "" and not strict.sent_on_cross_site_post
    assert str(strict).startswith("SIMULATION")
    insecure = attack.simulate_browser(secure.session_cookie("x"), secure_context=False)
    assert not insecure.stored


def test_loot_cookies() -> None:
    assert attack.loot_cookies(["a=1; sessionid=42", "", "junk"]) == {"a": "1", "sessionid": "42"}
