"""Pytest plugin: under CI, tests that need Chromium or Redis must run, never skip.

Loaded by tests/conftest.py for the whole suite, and with ``-p tests.ci_guard`` in
the inner sessions of tests/test_ci_guard.py.

A test needs Chromium/Redis when it is marked ``browser`` / ``redis``, or when it
uses the ``chromium_path`` / ``redis_url`` fixtures (it is then marked here), so a
skip inside those fixtures is caught too.
"""

from __future__ import annotations

import os

import pytest

GUARDED_MARKERS = ("browser", "redis")
FIXTURE_MARKERS = {"chromium_path": "browser", "redis_url": "redis"}
MESSAGE = "CI=true: tests that need Chromium/Redis must run, not skip: {reason}"


def ci_enabled() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()) and not item.get_closest_marker(marker):
                item.add_marker(marker)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report: pytest.TestReport = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")  # an xfail is a verdict, not a missing tool
        and ci_enabled()
        and any(item.get_closest_marker(m) for m in GUARDED_MARKERS)
    ):
        report.outcome = "failed"
        report.longrepr = MESSAGE.format(reason=_skip_reason(report))
    return report
