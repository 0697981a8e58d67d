"""labkit.exercises.progress: one JSON file, written atomically, that never breaks a lab."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from labkit.exercises.progress import ProgressStore, labkit_home


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    return tmp_path


def leftovers(home: Path) -> list[str]:
    """Files other than the store and its lock file (temp files would show up here)."""
    return sorted(
        p.name for p in home.iterdir() if p.name not in {"progress.json", ".progress.lock"}
    )


def test_home_comes_from_the_environment(home: Path) -> None:
    assert labkit_home() == home
    assert ProgressStore().path == home / "progress.json"


def test_empty_store(home: Path) -> None:
    store = ProgressStore()
    assert store.load() == {"version": 1, "labs": {}}
    assert store.check_entry("00-welcome", "first-ticket") == {}
    assert not store.path.exists()


def test_record_result_and_hints(home: Path) -> None:
    store = ProgressStore()
    store.record_result("01-passwords", "hashing", False, "not yet")
    store.record_result("01-passwords", "hashing", True, "done")
    store.record_result("01-passwords", "hashing", False, "broke it again")
    assert store.record_hint("01-passwords", "hashing") == 1
    assert store.record_hint("01-passwords", "hashing") == 2
    entry = store.check_entry("01-passwords", "hashing")
    assert entry["attempts"] == 3
    assert entry["passed"] is True  # passed stays passed
    assert entry["last"] == "failed"
    assert entry["summary"] == "broke it again"
    assert entry["hints"] == 2
    assert entry["updated"]
    on_disk = json.loads(store.path.read_text("utf-8"))
    assert on_disk["labs"]["01-passwords"]["hashing"]["attempts"] == 3
    assert leftovers(home) == []


def test_reset_one_check_one_lab_or_everything(home: Path) -> None:
    store = ProgressStore()
    for lab, check in [("a", "x"), ("a", "y"), ("b", "z")]:
        store.record_result(lab, check, True)
    store.reset("a", "x")
    assert store.check_entry("a", "x") == {}
    assert store.check_entry("a", "y")["passed"]
    store.reset("a")
    assert "a" not in store.load()["labs"]
    assert store.check_entry("b", "z")["passed"]
    store.reset()
    assert store.load()["labs"] == {}
    store.reset("never-seen", "nothing")  # no error
    assert leftovers(home) == []


def test_export_and_import_merge(home: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other_home = tmp_path_factory.mktemp("other-kernel")
    theirs = ProgressStore(other_home)
    theirs.record_result("01-passwords", "hashing", True, "theirs")
    theirs.record_hint("01-passwords", "hashing")
    theirs.record_result("00-welcome", "first-ticket", False)
    exported = theirs.export(other_home / "export.json")
    assert json.loads(exported.read_text("utf-8")) == theirs.load()

    ours = ProgressStore()
    ours.record_result("01-passwords", "hashing", False, "ours")
    ours.record_result("01-passwords", "hashing", False, "ours")
    ours.record_hint("01-passwords", "hashing")
    ours.record_result("00-welcome", "first-ticket", True)
    ours.import_(exported)

    hashing = ours.check_entry("01-passwords", "hashing")
    assert hashing["passed"] is True
    assert hashing["attempts"] == 3
    assert hashing["hints"] == 2
    ticket = ours.check_entry("00-welcome", "first-ticket")
    assert ticket["passed"] is True  # a failure elsewhere never un-passes a check
    assert ticket["attempts"] == 2
    assert leftovers(home) == []


def test_import_refuses_what_is_not_progress(home: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"labs": ["not", "a", "dict"]}))
    with pytest.raises(ValueError, match="not a labkit progress file"):
        ProgressStore().import_(bogus)


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00\x80 garbage \x9c\x00",
        b"{ not json",
        b'["a list"]',
        b'{"labs": {"00-welcome": ["wrong shape"]}}',
    ],
)
def test_corrupt_file_is_set_aside_with_a_warning(home: Path, content: bytes) -> None:
    store = ProgressStore()
    store.path.write_bytes(content)
    with pytest.warns(UserWarning, match="progress file was unreadable"):
        store.record_result("00-welcome", "first-ticket", True, "ok")
    aside = list(home.glob("progress.corrupt-*.json"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == content
    assert store.check_entry("00-welcome", "first-ticket")["passed"] is True
    assert [p.name for p in home.glob(".progress-*")] == []


def test_two_corruptions_keep_both_copies(home: Path) -> None:
    store = ProgressStore()
    for content in (b"first garbage", b"second garbage"):
        store.path.write_bytes(content)
        with pytest.warns(UserWarning):
            store.load()
    assert sorted(p.read_bytes() for p in home.glob("progress.corrupt-*.json")) == [
        b"first garbage",
        b"second garbage",
    ]


def test_concurrent_writers_lose_no_updates(home: Path) -> None:
    errors: list[BaseException] = []

    def writer(lab: str) -> None:
        store = ProgressStore()  # each thread its own store, like two kernels
        try:
            for n in range(50):
                store.record_result(lab, "shared", n % 2 == 0)
                store.record_result("shared-lab", "shared", False)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"lab-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    store = ProgressStore()
    assert store.check_entry("shared-lab", "shared")["attempts"] == 100
    assert store.check_entry("lab-0", "shared")["attempts"] == 50
    assert store.check_entry("lab-1", "shared")["attempts"] == 50
    assert leftovers(home) == []
