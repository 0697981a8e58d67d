"""labkit.sandbox.store: a real SQLite file per lab, fresh seeded passwords each time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from labkit.sandbox.store import STAFF, LabStore, generate_password


def plain(password: str) -> str:
    return "plain:" + password


@pytest.fixture
def store() -> Iterator[LabStore]:
    lab_store = LabStore("test")
    try:
        yield lab_store
    finally:
        lab_store.close()


def test_each_store_has_its_own_file() -> None:
    first, second = LabStore("a"), LabStore("b")
    try:
        assert first.path != second.path
        assert first.path.parent != second.path.parent
        assert first.path.is_file() and second.path.is_file()
        assert first.path.parent.name.startswith("labkit-a-")
        first.add_user("x@example.com", "viewer", "h")
        assert first.find_user("x@example.com") is not None
        assert second.find_user("x@example.com") is None
    finally:
        first.close()
        second.close()


def test_seeded_staff_roles_and_hashes(store: LabStore) -> None:
    users = store.seed_staff(plain)
    assert [(u.email, u.role) for u in users.values()] == list(STAFF)
    assert [(u.email, u.role) for u in users.values()] == [
        ("alice@example.com", "admin"),
        ("bob@example.com", "editor"),
        ("carol@example.com", "viewer"),
    ]
    for seed in users.values():
        record = store.find_user(seed.email)
        assert record is not None
        assert record.role == seed.role
        assert record.password_hash == plain(seed.password)
    passwords = [u.password for u in users.values()]
    assert len(set(passwords)) == 3
    assert all(len(p) >= 16 for p in passwords)
    # a real SQLite database file, readable by any client
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT email, role FROM users ORDER BY id").fetchall()
    assert rows == list(STAFF)


def test_two_stores_get_different_passwords() -> None:
    first, second = LabStore(), LabStore()
    try:
        a, b = first.seed_staff(plain), second.seed_staff(plain)
        for name in ("alice", "bob", "carol"):
            assert a[name].password != b[name].password
    finally:
        first.close()
        second.close()


def test_generate_password_is_random() -> None:
    assert len({generate_password() for _ in range(50)}) == 50


def test_users_by_short_name_and_email(store: LabStore) -> None:
    users = store.seed_staff(plain)
    assert users["alice"] is users["alice@example.com"]
    assert users["bob"].role == "editor"
    assert users["carol@example.com"].role == "viewer"
    assert len(users) == 3
    assert list(users) == [email for email, _ in STAFF]
    assert "alice@example.com" in repr(users)


def test_unknown_user_names_the_choices(store: LabStore) -> None:
    users = store.seed_staff(plain)
    with pytest.raises(KeyError) as info:
        users["mallory"]
    message = str(info.value)
    assert "mallory" in message
    for email, _ in STAFF:
        assert email in message


def test_queries_and_updates(store: LabStore) -> None:
    created = store.add_user("Dan@Example.com", "customer", "h1")
    assert created.id > 0
    found = store.find_user("dan@example.com")  # emails compare case-insensitively
    assert found is not None and found.id == created.id
    store.set_password_hash("dan@example.com", "h2")
    assert store.find_user("DAN@example.com").password_hash == "h2"  # type: ignore[union-attr]
    assert [u.email for u in store.all_users()] == ["Dan@Example.com"]
    with pytest.raises(sqlite3.IntegrityError):
        store.add_user("dan@example.com", "customer", "h3")


def test_close_deletes_the_directory() -> None:
    lab_store = LabStore()
    lab_store.seed_staff(plain)
    directory = lab_store.path.parent
    assert directory.is_dir()
    lab_store.close()
    assert not directory.exists()
    lab_store.close()  # twice is fine
