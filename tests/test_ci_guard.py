"""The CI guard (tests/ci_guard.py): under CI=true a browser/redis test may not skip."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER = """
import pytest

@pytest.fixture
def redis_url():
    pytest.skip("redis-server not found")

@pytest.mark.browser
def test_browser_skips_in_body():
    pytest.skip("no Chromium here")

@pytest.mark.redis
@pytest.mark.skipif(True, reason="no redis-server here")
def test_redis_skips_in_setup():
    pass

def test_uses_redis_fixture(redis_url):
    pass

@pytest.mark.browser
@pytest.mark.xfail(reason="known browser bug", run=False)
def test_browser_xfail():
    pass

def test_unmarked_skip():
    pytest.skip("unrelated")

def test_plain():
    pass
"""


def _run(pytester: pytest.Pytester) -> pytest.RunResult:
    pytester.makepyfile(test_inner=INNER)
    # Load only the guard: the outer conftest is not visible to the inner session.
    # (tests.ci_guard is already imported by the outer session, hence the -W.)
    return pytester.runpytest(
        "-p", "tests.ci_guard", "-p", "no:cacheprovider", "-rfEs",
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
    )  # fmt: skip


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_ci_true_turns_guarded_skips_into_failures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CI", value)
    result = _run(pytester)
    # A skip in setup (skipif, or a skipping fixture) becomes a setup error, a skip in
    # the test body a failure: either way the run fails.
    result.assert_outcomes(failed=1, errors=2, skipped=1, xfailed=1, passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*CI=true: tests that need Chromium/Redis must run, not skip: no Chromium here*",
            "*CI=true: tests that need Chromium/Redis must run, not skip: no redis-server here*",
            "*CI=true: tests that need Chromium/Redis must run, not skip: redis-server not found*",
        ],
        consecutive=False,
    )


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_without_ci_they_are_skipped(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    result = _run(pytester)
    result.assert_outcomes(skipped=4, xfailed=1, passed=1)
    assert result.ret == pytest.ExitCode.OK
