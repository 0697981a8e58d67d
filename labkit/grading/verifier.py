"""The verifier: the grader's HTTP service that runs checks and records verdicts.

It lives in the grader's worker process, next to the lab target it serves. The kernel
(``labkit.exercises.graded``) asks it for the target's URLs and hands it each check request;
the verifier runs :func:`labkit.exercises.runner.run_check` from the grader's own import
against the grader's target and the learner's patched URLs. A verdict is *recorded* only for
the check whose canonical check cell the grader is executing at that moment (:meth:`Verdicts.
expect`), so a ``lab.check`` call from an answer cell, or one aimed at another check, cannot
set a grade. Every request needs the per-submission bearer token.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from labkit.exercises.check import MAX_MESSAGE_CHARS, CheckResult
from labkit.exercises.graded import decode_answer
from labkit.exercises.registry import LabDefinition
from labkit.exercises.runner import run_check
from labkit.sandbox.lab_server import LabServer

__all__ = ["Verdict", "Verdicts", "verifier_app"]

LOOPBACK_PREFIXES = ("http://127.0.0.1:", "https://127.0.0.1:")


@dataclass(frozen=True)
class Verdict:
    """A recorded verdict for one check."""

    passed: bool
    message: str


class Verdicts:
    """What the verifier saw, shared with the cell runner (same process, two threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expected: str | None = None
        self.recorded: dict[str, Verdict] = {}

    def expect(self, check_id: str | None) -> None:
        """The grader is now executing the canonical check cell of ``check_id`` (or none)."""
        with self._lock:
            self._expected = check_id

    def offer(self, result: CheckResult) -> bool:
        """Record ``result`` if its check is the one being executed; True if recorded."""
        with self._lock:
            if result.check_id != self._expected:
                return False
            self.recorded[result.check_id] = Verdict(result.passed, message_of(result))
            return True


def message_of(result: CheckResult) -> str:
    """The feedback as the notebook shows it, on one line: the summary, then (for a failure)
    every detail, joined by ``"; "`` (capped like the notebook's own message)."""
    if result.passed:
        return result.summary
    text = "; ".join([result.summary, *result.details])
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def _loopback(url: Any) -> bool:
    return isinstance(url, str) and url.startswith(LOOPBACK_PREFIXES)


def verifier_app(lab: LabDefinition, target: LabServer, token: str, verdicts: Verdicts) -> FastAPI:
    """The FastAPI app of the verifier for one submission."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    expected = f"Bearer {token}".encode()

    def authorize(request: Request) -> None:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise HTTPException(401, "bad grader token")

    @app.get("/lab")
    def lab_info(request: Request) -> dict[str, Any]:
        authorize(request)
        state = target.state
        return {
            "lab": lab.id,
            "url": target.url,
            "urls": target.urls,
            "users": [
                {"email": u.email, "role": u.role, "password": u.password}
                for u in state.users.values()
            ],
            "facts": dict(state.extras),
            "ca": Path(state.ca_file).read_text("utf-8") if state.ca_file else None,
        }

    @app.post("/check")
    def check(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        authorize(request)
        result = _judge(lab, target, body)
        recorded = verdicts.offer(result)
        return {
            "passed": result.passed,
            "summary": result.summary,
            "details": list(result.details),
            "recorded": recorded,
        }

    return app


def _judge(lab: LabDefinition, target: LabServer, body: dict[str, Any]) -> CheckResult:
    check_id = str(body.get("check_id", ""))
    try:
        answer = decode_answer(body.get("answer"))
    except (ValueError, TypeError) as exc:
        return CheckResult(lab.id, check_id, False, "the answer could not be read", (str(exc),))
    patched_url = body.get("patched_url")
    patched_urls = body.get("patched_urls") or {}
    patched_ca = body.get("patched_ca")  # the kernel's lab CA: it only vouches for its own app
    if not isinstance(patched_ca, str) or "BEGIN CERTIFICATE" not in patched_ca:
        patched_ca = None
    spec = lab.checks.get(check_id)
    if spec is not None and spec.fixes:
        urls_ok = isinstance(patched_urls, dict) and all(map(_loopback, patched_urls.values()))
        if not (_loopback(patched_url) and urls_ok):
            return CheckResult(
                lab.id,
                check_id,
                False,
                "no patched app to check",
                ("patched_url must be loopback",),
            )
    else:
        patched_url, patched_urls = None, {}
    return run_check(
        lab,
        check_id,
        target_url=target.url,
        target_urls=target.urls,
        answer=answer,
        patched_url=patched_url,
        patched_urls={str(k): str(v) for k, v in patched_urls.items()},
        patched_ca=patched_ca,
    )
