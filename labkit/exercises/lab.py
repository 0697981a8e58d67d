"""``open_lab``: a lab's vulnerable app running live, and the learner's handle on it."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import httpx

from labkit.exercises.check import CheckFailed, CheckResult, strict_mode
from labkit.exercises.feedback import hints_mimebundle, traffic_mimebundle, widget_bundle
from labkit.exercises.hints import Hint, next_hint
from labkit.exercises.progress import ProgressStore
from labkit.exercises.registry import LABS, LabDefinition, get_lab
from labkit.exercises.runner import run_check
from labkit.exercises.running import show_progress
from labkit.sandbox.lab_server import LabServer
from labkit.sandbox.server import Sandbox
from labkit.sandbox.store import Users

__all__ = ["Lab", "open_lab"]

_open: dict[str, Lab] = {}


class Lab:
    """A running lab. Made by :func:`open_lab`; see the README for the learner API."""

    def __init__(self, definition: LabDefinition) -> None:
        self.definition = definition
        self.id = definition.id
        self.server = LabServer(definition.create_app(secure=False), name=self.id).start()
        self._state = self.server.state
        self.sandbox = self.server.main
        self._patched: list[LabServer] = []
        self._progress = ProgressStore()

    # -- the target ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the vulnerable app, e.g. ``http://127.0.0.1:53211``."""
        return self.sandbox.url

    @property
    def client(self) -> httpx.Client:
        """An ``httpx.Client`` aimed at the vulnerable app (``lab.client.get("/api/...")``)."""
        return self.sandbox.client

    @property
    def urls(self) -> dict[str, str]:
        """Every app of the lab by name (``"main"``, and e.g. ``"client"`` in 04-oauth)."""
        return self.server.urls

    @property
    def users(self) -> Users:
        """The seeded accounts with their per-sandbox passwords."""
        return self._state.users

    def routes(self) -> list[str]:
        """Every documented route of the lab's app as ``"METHOD /path"`` (from its OpenAPI
        document; the lab-only ``/api/_lab/...`` routes are not in it)."""
        document = self.client.get("/openapi.json").json()
        return [
            f"{method.upper()} {path}"
            for path, operations in sorted(document.get("paths", {}).items())
            for method in ("get", "post", "put", "patch", "delete")
            if method in operations
        ]

    @property
    def facts(self) -> dict[str, str]:
        """Lab-specific facts about the running app (for example extra URLs)."""
        return dict(self._state.extras)

    # -- fixes and checks ------------------------------------------------------------------
    def patched(self, **fixes: Callable[..., Any]) -> Sandbox:
        """Start a second sandbox running this lab's app with your functions plugged in."""
        return self._start_patched(fixes).main

    def _start_patched(self, fixes: dict[str, Any]) -> LabServer:
        app = self.definition.create_app(secure=False, **fixes)
        server = LabServer(app, name=f"{self.id}-patched").start()
        self._patched.append(server)
        return server

    def check(
        self,
        check_id: str,
        answer: Any = None,
        *,
        seed: int | None = None,
        **fixes: Callable[..., Any],
    ) -> CheckResult:
        """Judge an attack result (``answer``) or your fix (keyword functions) by behaviour.

        ``seed`` replays the generated inputs of a failed run (its message gives the seed).
        """
        with show_progress(check_id):
            result = self._evaluate(check_id, answer, fixes, seed)
        self._progress.record_result(self.id, check_id, result.passed, result.summary)
        if not result.passed and strict_mode():
            raise CheckFailed(repr(result))
        return result

    def hint(self, check_id: str) -> Hint:
        """Reveal the next hint for a check (the Hint button does the same)."""
        return next_hint(self.id, check_id, self._progress)

    def hints(self, check_id: str) -> HintsView:
        """The hints of a check revealed so far, with a Hint button for the next one
        (revealing nothing by itself: running every cell spends no hint)."""
        return HintsView(self.id, check_id)

    def reset(self, check_id: str | None = None) -> None:
        """Forget recorded progress and hints for one check, or the whole lab."""
        self._progress.reset(self.id, check_id)

    def traffic(self, last: int = 20) -> TrafficView:
        """The traffic inspector: recent requests to the vulnerable app."""
        return TrafficView(self.sandbox, last)

    def close(self) -> None:
        """Stop every sandbox of this lab and delete its database."""
        for server in (*self._patched, self.server):  # each has its own database too
            server.close()
        self._patched.clear()
        if _open.get(self.id) is self:
            del _open[self.id]

    # -- internals -------------------------------------------------------------------------
    def _evaluate(
        self, check_id: str, answer: Any, fixes: dict[str, Any], seed: int | None = None
    ) -> CheckResult:
        spec = self.definition.checks.get(check_id)
        target: dict[str, Any] = {"target_url": self.url, "target_urls": self.urls, "seed": seed}
        if spec is None:
            return run_check(self.definition, check_id, **target)
        missing = [name for name in spec.fixes if fixes.get(name) is None]
        if missing:
            return CheckResult(
                self.id,
                check_id,
                False,
                "this check needs your function"
                + ("s " if len(missing) > 1 else " ")
                + ", ".join(missing),
                (f"call it as lab.check({check_id!r}, {', '.join(f'{m}={m}' for m in missing)})",),
            )
        if not spec.fixes:
            return run_check(self.definition, check_id, answer=answer, **target)
        try:
            server = self._start_patched(fixes)
        except Exception as exc:  # a learner function may run (and fail) while the app is built
            return CheckResult(
                self.id, check_id, False, "your fix could not be plugged in", (str(exc),)
            )
        try:
            return run_check(
                self.definition,
                check_id,
                answer=answer,
                patched_url=server.url,
                patched_urls=server.urls,
                **target,
            )
        finally:
            self._patched.remove(server)
            server.close()

    def _status_html(self) -> str:
        rows = "".join(
            f"<tr><td><code>{html.escape(u.email)}</code></td><td>{html.escape(u.role)}</td></tr>"
            for u in self.users.values()
        )
        users = f"<table>{rows}</table>" if rows else ""
        link = html.escape(self.sandbox.browser_url)
        style = "color:#0969da;text-decoration:underline"
        return (
            f"<div class='labkit-lab' style='border-left:4px solid #0969da;padding:6px 10px'>"
            f"<b>🧪 {html.escape(self.definition.title)}</b> — vulnerable app live at "
            f"<a href='{link}' target='_blank' style='{style}'><code>{link}</code></a> "
            f"(<a href='{link}docs' target='_blank' style='{style}'>API docs</a>; "
            f"from code: <code>{html.escape(self.url)}</code>){users}</div>"
        )

    def __repr__(self) -> str:
        state = self.url if self.sandbox.running else "stopped"
        return f"<Lab {self.id}: vulnerable app at {state}, {len(self.users)} seeded users>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        def make() -> Any:
            import ipywidgets as widgets

            return widgets.HTML(value=self._status_html())

        return widget_bundle(make, repr(self), self._status_html())


class HintsView:
    """What ``lab.hints()`` returns: revealed hints and a Hint button; plain text in logs."""

    def __init__(self, lab_id: str, check_id: str) -> None:
        self._lab_id, self._check_id = lab_id, check_id

    def __repr__(self) -> str:
        return str(hints_mimebundle(self._lab_id, self._check_id)["text/plain"])

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return hints_mimebundle(self._lab_id, self._check_id)


class TrafficView:
    """What ``lab.traffic()`` returns: a widget in Jupyter, a table as text."""

    def __init__(self, sandbox: Sandbox, last: int) -> None:
        self._sandbox, self._last = sandbox, last

    def __repr__(self) -> str:
        from labkit.sandbox.inspector import render_text

        return render_text(self._sandbox.traffic.last(self._last))

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return traffic_mimebundle(self._sandbox.traffic, self._last)


def open_lab(lab_id: str) -> Lab:
    """Start lab ``lab_id`` (e.g. ``"01-passwords"``): its vulnerable app, live on loopback.

    Opening a lab again replaces the running one (fresh database and passwords).
    """
    from labkit.exercises.graded import grading_mode, open_graded_lab

    if grading_mode():  # under `labkit grade`: the grader serves the target and judges
        return open_graded_lab(lab_id)
    definition = get_lab(lab_id)
    previous = _open.pop(lab_id, None)
    if previous is not None:
        previous.close()
    lab = Lab(definition)
    _open[lab_id] = lab
    if definition.uses_browser:
        from labkit.browser import warm_up

        warm_up()
    return lab


def known_labs() -> list[str]:
    return list(LABS)
