"""Grading mode, kernel side: ``open_lab`` attaches to the grader instead of serving the lab.

``labkit grade`` runs each submission in a kernel whose environment names the grader's
verifier (:data:`GRADER_URL_ENV`) and a per-submission token (:data:`GRADER_TOKEN_ENV`).
There, :func:`open_graded_lab` returns a :class:`GradedLab`: its ``url``, ``client`` and
``users`` are those of the vulnerable app the *grader* serves, and ``lab.check`` sends the
check id, the answer (as plain data) and the URLs of the learner's patched sandbox (started
here, in the kernel, where the learner's code lives) to the verifier. The verifier runs the
check from the grader's own import and records the verdict; this module only displays it.
Nothing computed here can set a grade.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

import httpx

from labkit.exercises.check import CheckResult
from labkit.exercises.lab import Lab
from labkit.exercises.registry import LabDefinition, get_lab
from labkit.sandbox.store import SeedUser, Users
from labkit.sandbox.tls import client_context

__all__ = [
    "GRADER_TOKEN_ENV",
    "GRADER_URL_ENV",
    "GradedLab",
    "NotPlainData",
    "decode_answer",
    "encode_answer",
    "grading_mode",
    "open_graded_lab",
]

GRADER_URL_ENV = "LABKIT_GRADER_URL"
GRADER_TOKEN_ENV = "LABKIT_GRADER_TOKEN"  # noqa: S105 - the name of a variable
#: The verifier may replay a whole attack battery: give it time.
VERIFY_TIMEOUT_S = 600.0


def grading_mode() -> bool:
    """True inside a kernel started by ``labkit grade``."""
    return bool(os.environ.get(GRADER_URL_ENV))


# -- answers on the wire -----------------------------------------------------------------
class NotPlainData(TypeError):
    """An answer the grader cannot receive (only plain data crosses to the verifier)."""


def encode_answer(value: Any) -> Any:
    """Plain data -> JSON, keeping the types a check may test (tuple, bytes, set, dict keys)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [encode_answer(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode_answer(v) for v in value]}
    if isinstance(value, set | frozenset):
        return {"$set": [encode_answer(v) for v in value]}
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {"$dict": [[encode_answer(k), encode_answer(v)] for k, v in value.items()]}
    raise NotPlainData(
        f"a {type(value).__name__} cannot be handed in: answers must be plain data "
        "(str, bytes, numbers, lists, tuples, sets, dicts)"
    )


def decode_answer(value: Any) -> Any:
    """The inverse of :func:`encode_answer`; raises ``ValueError`` on anything else."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [decode_answer(v) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "$tuple" and isinstance(inner, list):
            return tuple(decode_answer(v) for v in inner)
        if tag == "$set" and isinstance(inner, list):
            return {decode_answer(v) for v in inner}
        if tag == "$bytes" and isinstance(inner, str):
            return base64.b64decode(inner, validate=True)
        if tag == "$dict" and isinstance(inner, list):
            return {decode_answer(k): decode_answer(v) for k, v in inner}
    raise ValueError(f"not an encoded answer: {str(value)[:60]}")


# -- the graded lab ----------------------------------------------------------------------
class RemoteApp:
    """The grader's vulnerable app as the notebook sees it (``lab.sandbox``)."""

    def __init__(self, name: str, url: str, ca_pem: str | None = None) -> None:
        self.name, self.url, self.running = name, url, True
        self.ca_pem = ca_pem  # the grader's lab CA, for a target served over HTTPS
        self._client: httpx.Client | None = None

    @property
    def browser_url(self) -> str:
        return self.url + "/"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            verify = client_context(cadata=self.ca_pem) if self.ca_pem else True
            self._client = httpx.Client(
                base_url=self.url, timeout=30.0, trust_env=False, verify=verify
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        return f"<graded target {self.name} {self.url}>"


class GradedLab(Lab):
    """A lab whose target is served, and whose checks are judged, by the grader."""

    def __init__(self, definition: LabDefinition, grader_url: str, token: str) -> None:
        self.definition, self.id = definition, definition.id
        self._grader = httpx.Client(
            base_url=grader_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=VERIFY_TIMEOUT_S,
            trust_env=False,
        )
        info = self._grader.get("/lab").raise_for_status().json()
        if info.get("lab") != self.id:
            raise RuntimeError(f"this submission is graded as lab {info.get('lab')}, not {self.id}")
        self._urls: dict[str, str] = dict(info["urls"])
        self._users = Users([SeedUser(**u) for u in info["users"]])
        self._facts: dict[str, str] = dict(info["facts"])
        self.sandbox = RemoteApp(self.id, info["url"], info.get("ca"))  # type: ignore[assignment]
        self._patched = []
        from labkit.exercises.progress import ProgressStore

        self._progress = ProgressStore()

    @property
    def url(self) -> str:
        return self.sandbox.url

    @property
    def client(self) -> httpx.Client:
        return self.sandbox.client

    @property
    def urls(self) -> dict[str, str]:
        return dict(self._urls)

    @property
    def users(self) -> Users:
        return self._users

    @property
    def facts(self) -> dict[str, str]:
        return dict(self._facts)

    def traffic(self, last: int = 20) -> Any:  # type: ignore[override]
        """The traffic inspector lives in the grader while grading."""
        return "(the traffic inspector is not available while grading)"

    def close(self) -> None:
        for server in self._patched:
            server.close()
        self._patched.clear()
        self.sandbox.close()  # type: ignore[attr-defined]

    def _evaluate(
        self, check_id: str, answer: Any, fixes: dict[str, Any], seed: int | None = None
    ) -> CheckResult:
        """Send the answer and the patched app to the grader (which draws its own seed)."""
        spec = self.definition.checks.get(check_id)
        needs = spec.fixes if spec is not None else ()
        if missing := [name for name in needs if fixes.get(name) is None]:
            names = ", ".join(f"{m}={m}" for m in missing)
            return self._failed(check_id, "this check needs your functions", f"lab.check({names})")
        try:
            payload: dict[str, Any] = {"check_id": check_id, "answer": encode_answer(answer)}
        except NotPlainData as exc:
            return self._failed(check_id, "this answer cannot be sent to the grader", str(exc))
        if not needs:
            return self._verify(payload)
        try:
            server = self._start_patched(fixes)
        except Exception as exc:  # a learner function may run (and fail) while the app is built
            return self._failed(check_id, "your fix could not be plugged in", str(exc))
        try:
            ca = server.state.ca_file
            return self._verify(
                {
                    **payload,
                    "patched_url": server.url,
                    "patched_urls": server.urls,
                    "patched_ca": Path(ca).read_text("utf-8") if ca else None,
                }
            )
        finally:
            self._patched.remove(server)
            server.close()

    def _verify(self, payload: dict[str, Any]) -> CheckResult:
        response = self._grader.post("/check", json=payload).raise_for_status().json()
        return CheckResult(
            self.id,
            payload["check_id"],
            bool(response["passed"]),
            str(response["summary"]),
            tuple(str(d) for d in response["details"]),
        )

    def _failed(self, check_id: str, summary: str, detail: str) -> CheckResult:
        return CheckResult(self.id, check_id, False, summary, (detail,))

    def _status_html(self) -> str:
        return (
            f"<div class='labkit-lab'><b>🧪 {html.escape(self.definition.title)}</b> — "
            f"graded: the vulnerable app is served by the grader at "
            f"<code>{html.escape(self.url)}</code></div>"
        )

    def __repr__(self) -> str:
        return f"<Lab {self.id} (graded): vulnerable app at {self.url}, {len(self.users)} users>"


def open_graded_lab(lab_id: str) -> GradedLab:
    """Attach to the grader's running target of lab ``lab_id``."""
    return GradedLab(get_lab(lab_id), os.environ[GRADER_URL_ENV], os.environ[GRADER_TOKEN_ENV])
