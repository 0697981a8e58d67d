"""What the lab test modules share: a running lab with a progress home of its own."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from labkit.exercises.check import Target
from labkit.exercises.lab import Lab
from labkit.exercises.registry import get_lab
from labkit.sandbox.lab_server import LabServer

__all__ = ["running_lab", "served"]


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


@contextlib.contextmanager
def served(app: Any, name: str) -> Iterator[Target]:
    """A lab app (every app of it) served for a test, as a check's :class:`Target`."""
    server = LabServer(app, name=name).start()
    try:
        yield Target(server.url, server.urls)
    finally:
        server.close()


def free_port() -> int:
    """A loopback TCP port free at the moment of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
