"""labkit — the Security Patterns Workbook's toolkit.

Learner API::

    import labkit
    lab = labkit.open_lab("01-passwords")   # the vulnerable app, live on 127.0.0.1
    lab.client.post("/api/auth/login", json={...})
    lab.check("crack-leak", cracked)        # an attack result, judged by behaviour
    lab.check("hashing", hash_password=hash_password, verify_password=verify_password)
    lab.hint("hashing"); lab.traffic(); labkit.progress(); labkit.course_summary()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "CheckFailed",
    "CheckResult",
    "Lab",
    "__version__",
    "audit_checklist",
    "course_summary",
    "open_lab",
    "progress",
]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from labkit.exercises.check import CheckFailed, CheckResult
    from labkit.exercises.checklist import audit_checklist
    from labkit.exercises.completion import course_summary
    from labkit.exercises.dashboard import progress
    from labkit.exercises.lab import Lab, open_lab

_LAZY = {
    "CheckFailed": "labkit.exercises.check",
    "CheckResult": "labkit.exercises.check",
    "Lab": "labkit.exercises.lab",
    "audit_checklist": "labkit.exercises.checklist",
    "course_summary": "labkit.exercises.completion",
    "open_lab": "labkit.exercises.lab",
    "progress": "labkit.exercises.dashboard",
}


def __getattr__(name: str) -> Any:
    """Import the learner API on first use, so ``import labkit`` stays fast."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
