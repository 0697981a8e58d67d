"""A lab app and its companion apps, each live in its own sandbox, told each other's URLs."""

from __future__ import annotations

from typing import Any

from labkit.sandbox.apps.base import LabState, lab_state
from labkit.sandbox.server import LOOPBACK, Sandbox

__all__ = ["LabServer"]


class LabServer:
    """Serve a lab app (``main``) and its ``companions``; ``urls`` names every base URL.

    Most labs have one app. Lab 04 has two (authorization server and client): two sandboxes
    are two origins, so the OAuth redirects between them are real.
    """

    def __init__(self, app: Any, *, name: str, host: str = LOOPBACK, port: int = 0) -> None:
        self.state: LabState = lab_state(app)
        self.main = Sandbox(app, name=name, host=host, port=port, **self._tls("main"))
        self.companions = {
            key: Sandbox(companion, name=f"{name}-{key}", host=host, **self._tls(key))
            for key, companion in self.state.companions.items()
        }

    def _tls(self, key: str) -> dict[str, str]:
        if key not in self.state.tls:
            return {}
        certfile, keyfile = self.state.tls[key]
        options = {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
        if self.state.ca_file:
            options["ssl_ca_file"] = self.state.ca_file
        return options

    @property
    def url(self) -> str:
        return self.main.url

    @property
    def urls(self) -> dict[str, str]:
        return {"main": self.main.url, **{k: box.url for k, box in self.companions.items()}}

    def start(self) -> LabServer:
        """Start every app (idempotent), then tell the lab where each one is."""
        try:
            for box in (self.main, *self.companions.values()):
                box.start()
            self.state.started(self.urls)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for box in (*self.companions.values(), self.main):
            box.stop()

    def close(self) -> None:
        """Stop every app and delete the lab's database."""
        self.stop()
        self.state.close()
