"""Run one registered check against running apps, and never let it crash the caller.

This is the single place a verdict is computed. It takes URLs and plain data only, so the
same function serves a learner's kernel today and a grader's clean process tomorrow.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import httpx

from labkit.exercises.check import CheckContext, CheckResult, Target, Verdict, concise, shorten
from labkit.exercises.registry import LabDefinition

__all__ = ["run_check"]


def run_check(
    lab: LabDefinition,
    check_id: str,
    *,
    target_url: str,
    answer: Any = None,
    patched_url: str | None = None,
    target_urls: Mapping[str, str] | None = None,
    patched_urls: Mapping[str, str] | None = None,
    patched_ca: str | None = None,
    seed: int | None = None,
) -> CheckResult:
    """Run check ``check_id`` of ``lab``; any failure of the check itself is a failed result.

    ``patched_ca`` is the CA certificate (PEM) of a patched app served over HTTPS by another
    process (a submission's kernel, under ``labkit grade``). ``seed`` replays the generated
    probe inputs of an earlier run (a fresh one is drawn when it is None). A server error of
    the patched app fails a fix check whatever else the check concluded: a crash is never a
    refusal.
    """
    spec = lab.checks.get(check_id)
    if spec is None:
        return CheckResult(
            lab.id,
            check_id,
            False,
            "no such check",
            (f"checks in {lab.id}: {', '.join(lab.checks)}",),
        )
    context = CheckContext(
        lab_id=lab.id,
        check_id=check_id,
        target=Target(target_url, dict(target_urls or {})),
        patched=Target(patched_url, dict(patched_urls or {}), patched_ca) if patched_url else None,
        answer=answer,
        seed=secrets.randbits(32) if seed is None else int(seed),
    )
    started = time.monotonic()
    try:
        verdict = spec.run(context)
    except httpx.TimeoutException as exc:
        if context.patched is None:
            return CheckResult(
                lab.id, check_id, False, "the app did not answer in time", (str(exc) or "",)
            )
        busy = time.monotonic() - started
        return CheckResult(
            lab.id,
            check_id,
            False,
            "your fix did not answer: the app was busy",
            (
                f"[no-crash] a request to your patched app got no answer; the check waited "
                f"{busy:.0f} s in all. Look for a loop that never ends, or one call that runs "
                "for minutes (Python cannot stop C code such as a huge regex or int)",
            ),
        )
    except httpx.HTTPError as exc:
        return CheckResult(
            lab.id,
            check_id,
            False,
            "the app stopped answering during the check",
            (f"{type(exc).__name__}: {exc}", "re-run the lab's first cell to restart it"),
        )
    except Exception as exc:  # a check's own bug must read as feedback, not a traceback
        return CheckResult(
            lab.id,
            check_id,
            False,
            "the check could not finish",
            (f"{type(exc).__name__}: {exc}",),
        )
    if context.patched is not None and context.patched.crashes:
        verdict = _crashed(verdict, context.patched.crashes)
    if not verdict.passed and context.seeded:
        replay = f"inputs generated with seed {context.seed}: lab.check(..., seed={context.seed})"
        verdict = Verdict(False, verdict.summary, (*concise(verdict.details), replay))
    return CheckResult(lab.id, check_id, verdict.passed, verdict.summary, verdict.details)


#: Crash causes named in full; the rest are counted, so the rules the check found broken
#: still fit in the message.
MAX_CRASH_LINES = 3


def _crashed(verdict: Verdict, crashes: list[str]) -> Verdict:
    """A fix whose app answered 5xx fails, and the crash is named first (once per cause)."""
    causes: dict[str, list[str]] = {}
    for crash in crashes:
        where, _, why = crash.partition(" -> ")
        causes.setdefault(why, []).append(where)
    lines = []
    for why, wheres in list(causes.items())[:MAX_CRASH_LINES]:
        said = why if not why.isdigit() else f"the app answered {why}"
        more = f" (and {len(wheres) - 1} more requests)" if len(wheres) > 1 else ""
        lines.append(
            f"[no-crash] {shorten(said, 200)} — at {wheres[0]}{more}; a crash is not a refusal"
        )
    if len(causes) > MAX_CRASH_LINES:
        lines.append(f"[no-crash] ... and {len(causes) - MAX_CRASH_LINES} more kinds of crash")
    summary = "your code crashed the app" if verdict.passed else verdict.summary
    return Verdict(False, summary, concise([*lines, *verdict.details]))
