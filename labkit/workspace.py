"""The learner's own copies of the notebooks, apart from the course's.

``notebooks/`` is generated and tracked by git: a learner who worked there would see JupyterLab's
autosave conflict with the next ``git pull`` of course updates. So ``make lab`` opens a working
copy in ``work/`` (ignored by git): each notebook is copied there once, the first time it is
missing, and never overwritten. A notebook added by a course update is copied on the next
``make lab``; ``labkit work --fresh 03-sessions`` sets an old copy aside and takes a new one.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WORK_DIR", "Workspace", "fresh_copy", "sync_workspace"]

WORK_DIR = Path("work")
NOTEBOOKS_DIR = Path("notebooks")
SET_ASIDE = "old"
_PATTERN = "[0-9][0-9]-*.ipynb"


@dataclass(frozen=True)
class Workspace:
    """What :func:`sync_workspace` did: notebooks copied now, and those already there."""

    folder: Path
    copied: tuple[str, ...]
    kept: tuple[str, ...]


def sync_workspace(work: Path = WORK_DIR, notebooks: Path = NOTEBOOKS_DIR) -> Workspace:
    """Copy every course notebook missing from ``work``; never touch one that is there."""
    work.mkdir(parents=True, exist_ok=True)
    copied, kept = [], []
    for source in sorted(notebooks.glob(_PATTERN)):
        target = work / source.name
        if target.exists():
            kept.append(source.name)
        else:
            shutil.copyfile(source, target)
            copied.append(source.name)
    return Workspace(work, tuple(copied), tuple(kept))


def fresh_copy(lab_id: str, work: Path = WORK_DIR, notebooks: Path = NOTEBOOKS_DIR) -> Path:
    """A fresh copy of one lab's notebook in ``work``; an existing copy is moved to
    ``work/old/<lab>-<timestamp>.ipynb`` first (nothing of the learner's is deleted)."""
    name = lab_id.removesuffix(".ipynb") + ".ipynb"
    source = notebooks / name
    if not source.is_file():
        known = ", ".join(p.stem for p in sorted(notebooks.glob(_PATTERN)))
        raise FileNotFoundError(f"no course notebook {name}; labs: {known}")
    target = work / name
    if target.exists():
        aside = work / SET_ASIDE
        aside.mkdir(parents=True, exist_ok=True)
        target.rename(aside / f"{source.stem}-{time.strftime('%Y%m%d-%H%M%S')}.ipynb")
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target
