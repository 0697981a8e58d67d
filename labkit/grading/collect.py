"""``labkit collect``: gather the lab notebooks of every learner on a JupyterHub.

For hubs whose home folders the instructor can read (The Littlest JupyterHub keeps each
learner in ``/home/jupyter-<name>``): every ``*.ipynb`` under a home that is a lab notebook
(its metadata names a lab of the course, or its file name does) is copied to
``OUT/<name>/``, keeping its modification time, so ``labkit grade OUT`` grades the most
recently saved copy of each lab. Symbolic links, hidden folders (``.ipynb_checkpoints``,
``.local``...) and files over the size limit are skipped: a learner cannot make the
collector read outside their home or hang on a special file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from labkit.grading.canonical import Course
from labkit.grading.submissions import MAX_BYTES

__all__ = ["Collected", "collect"]

#: How deep below a home folder notebooks are looked for.
MAX_DEPTH = 4


@dataclass(frozen=True)
class Collected:
    """What was copied: (student, source, destination) per notebook."""

    copied: list[tuple[str, Path, Path]]
    students: int


def _is_lab_notebook(path: Path, course: Course) -> bool:
    if course.lab_of(path.name):
        return True
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(MAX_BYTES))
        lab = data.get("metadata", {}).get("labkit", {}).get("lab")
    except (OSError, ValueError, AttributeError):
        return False
    return lab in course.labs


def _notebooks(home: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(home, followlinks=False):
        depth = len(Path(folder).relative_to(home).parts)
        dirs[:] = [] if depth >= MAX_DEPTH else sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if not name.endswith(".ipynb") or name.startswith("."):
                continue
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_BYTES:
                found.append(path)
    return found


def _unique(folder: Path, name: str) -> Path:
    target = folder / name
    stem, n = target.stem, 1
    while target.exists():
        target = folder / f"{stem} ({n}).ipynb"  # still recognised as that lab's copy
        n += 1
    return target


def collect(homes: Path, out: Path, course: Course, *, prefix: str = "jupyter-") -> Collected:
    """Copy every learner's lab notebooks from ``homes/<prefix><name>/`` to ``out/<name>/``."""
    copied: list[tuple[str, Path, Path]] = []
    students = 0
    for home in sorted(p for p in homes.iterdir() if p.is_dir() and not p.is_symlink()):
        if not home.name.startswith(prefix) or home.name == prefix:
            continue
        student = home.name.removeprefix(prefix)
        notebooks = [p for p in _notebooks(home) if _is_lab_notebook(p, course)]
        students += bool(notebooks)
        for path in notebooks:
            folder = out / student
            folder.mkdir(parents=True, exist_ok=True)
            target = _unique(folder, path.name)
            shutil.copy2(path, target, follow_symlinks=False)  # keeps the mtime
            copied.append((student, path, target))
    return Collected(copied, students)
