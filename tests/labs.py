"""What the lab test modules share: a running lab with a progress home of its own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from labkit.exercises.lab import Lab
from labkit.exercises.registry import get_lab

__all__ = ["running_lab"]


@contextlib.contextmanager
def running_lab(factory: pytest.TempPathFactory, lab_id: str) -> Iterator[Lab]:
    """Lab ``lab_id`` served for a test module, its progress under a temp ``LABKIT_HOME``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABKIT_HOME", str(factory.mktemp("labkit-home")))
        opened = Lab(get_lab(lab_id))
        try:
            yield opened
        finally:
            opened.close()
