"""The learner's progress: every check result and hint use, in one JSON file.

The file lives under ``LABKIT_HOME`` (default ``~/.labkit``) and is written atomically (temp
file + rename) under a lock, so two kernels cannot corrupt it. A corrupt file is set aside with
a warning and progress starts afresh; a lab never crashes because of it. Binder sessions vanish:
``labkit progress --export FILE`` and ``--import FILE`` carry progress across.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["ProgressStore", "labkit_home"]

FORMAT_VERSION = 1

try:  # POSIX advisory locks; on other systems the atomic rename alone protects the file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def labkit_home() -> Path:
    """``$LABKIT_HOME`` or ``~/.labkit``."""
    return Path(os.environ.get("LABKIT_HOME") or Path.home() / ".labkit")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _empty() -> dict[str, Any]:
    return {"version": FORMAT_VERSION, "labs": {}}


def _is_progress(data: Any) -> bool:
    """True for ``{"labs": {lab: {check: {...}}}}``, the shape every method relies on."""
    if not isinstance(data, dict) or not isinstance(data.get("labs"), dict):
        return False
    return all(
        isinstance(checks, dict) and all(isinstance(entry, dict) for entry in checks.values())
        for checks in data["labs"].values()
    )


class ProgressStore:
    """Read and update ``progress.json``; every method is safe to call from any kernel."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or labkit_home()
        self.path = self.home / "progress.json"

    # -- reading ------------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        """The whole progress document; a corrupt file is set aside and reported."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return _empty()
        except OSError as exc:
            warnings.warn(f"labkit: cannot read {self.path}: {exc}", stacklevel=2)
            return _empty()
        try:  # UnicodeDecodeError is a ValueError too: garbage bytes are set aside as well
            data = json.loads(raw.decode("utf-8"))
            if not _is_progress(data):
                raise ValueError("not a labkit progress document")
        except ValueError as exc:
            self._set_aside(f"{exc}")
            return _empty()
        return data

    def check_entry(self, lab: str, check: str) -> dict[str, Any]:
        return dict(self.load()["labs"].get(lab, {}).get(check, {}))

    # -- writing ------------------------------------------------------------------------
    def record_result(self, lab: str, check: str, passed: bool, summary: str = "") -> None:
        with self._update() as data:
            entry = data["labs"].setdefault(lab, {}).setdefault(check, {})
            entry["attempts"] = int(entry.get("attempts", 0)) + 1
            entry["passed"] = bool(entry.get("passed")) or passed
            entry["last"] = "passed" if passed else "failed"
            entry["summary"] = summary
            entry["updated"] = _now()

    def record_hint(self, lab: str, check: str) -> int:
        """Count one more hint revealed for a check; returns how many are now revealed."""
        with self._update() as data:
            entry = data["labs"].setdefault(lab, {}).setdefault(check, {})
            entry["hints"] = int(entry.get("hints", 0)) + 1
            entry["updated"] = _now()
            return int(entry["hints"])

    def reset(self, lab: str | None = None, check: str | None = None) -> None:
        """Forget everything, one lab, or one check."""
        with self._update() as data:
            if lab is None:
                data["labs"] = {}
            elif check is None:
                data["labs"].pop(lab, None)
            else:
                data["labs"].get(lab, {}).pop(check, None)

    def export(self, destination: Path) -> Path:
        destination.write_text(json.dumps(self.load(), indent=2, sort_keys=True), "utf-8")
        return destination

    def import_(self, source: Path) -> None:
        """Merge another progress file into this one (passed stays passed, counts add up)."""
        incoming = json.loads(source.read_bytes().decode("utf-8"))
        if not _is_progress(incoming):
            raise ValueError(f"{source} is not a labkit progress file")
        with self._update() as data:
            for lab, checks in incoming["labs"].items():
                for check, theirs in checks.items():
                    ours = data["labs"].setdefault(lab, {}).setdefault(check, {})
                    ours["passed"] = bool(ours.get("passed")) or bool(theirs.get("passed"))
                    for key in ("attempts", "hints"):
                        ours[key] = int(ours.get(key, 0)) + int(theirs.get(key, 0))
                    ours["last"] = theirs.get("last", ours.get("last", ""))
                    ours["updated"] = max(
                        str(ours.get("updated", "")), str(theirs.get("updated", ""))
                    )

    # -- internals ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _update(self) -> Iterator[dict[str, Any]]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".progress.lock", "a+") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.load()
            yield data
            self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.home, prefix=".progress-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _set_aside(self, reason: str) -> None:
        aside = self.path.with_name(f"progress.corrupt-{time.time_ns()}.json")  # never clobbers
        with contextlib.suppress(OSError):
            os.replace(self.path, aside)
        warnings.warn(
            f"labkit: progress file was unreadable ({reason}); moved to {aside.name} "
            "and starting fresh",
            stacklevel=3,
        )
