"""Run one registered check against running apps, and never let it crash the caller.

This is the single place a verdict is computed. It takes URLs and plain data only, so the
same function serves a learner's kernel today and a grader's clean process tomorrow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from labkit.exercises.check import CheckContext, CheckResult, Target
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
) -> CheckResult:
    """Run check ``check_id`` of ``lab``; any failure of the check itself is a failed result.

    ``patched_ca`` is the CA certificate (PEM) of a patched app served over HTTPS by another
    process (a submission's kernel, under ``labkit grade``).
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
    )
    try:
        verdict = spec.run(context)
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
    return CheckResult(lab.id, check_id, verdict.passed, verdict.summary, verdict.details)
