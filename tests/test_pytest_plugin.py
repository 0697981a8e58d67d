"""The ``labkit`` pytest11 plugin: strict checks under pytest (and the kernels nbval starts).

Each inner session runs in a subprocess so the plugin is loaded from its entry point, exactly
as in a learner's or grader's ``pytest --nbval`` run.
"""

from __future__ import annotations

import os
import re

import pytest

pytest_plugins = ["pytester"]

PRINT_STRICT = """
import os

def test_show():
    print("STRICT=" + os.environ["LABKIT_STRICT"])
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner session in a subprocess (nbval is not needed here and costs 1.5 s to load)."""
    return pytester.runpytest_subprocess("-s", "-p", "no:nbval", *args)


def strict_seen(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    found = re.findall(r"STRICT=(\S*)", result.stdout.str())
    assert len(found) == 1, result.stdout.str()
    return found[0]


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # this very session's plugin exported LABKIT_STRICT=1: the inner one must start clean
    monkeypatch.delenv("LABKIT_STRICT", raising=False)
    pytester.makepyfile(test_inner=PRINT_STRICT)
    return pytester


def test_strict_is_on_by_default(inner: pytest.Pytester) -> None:
    result = run(inner)
    assert "labkit-" in result.stdout.str()  # loaded from its pytest11 entry point
    assert strict_seen(result) == "1"


def test_command_line_turns_it_off(inner: pytest.Pytester) -> None:
    result = run(inner, "--no-labkit-strict")
    assert strict_seen(result) == "0"


def test_environment_turns_it_off(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_STRICT", "0")
    assert strict_seen(run(inner)) == "0"


def test_command_line_beats_environment(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_STRICT", "off")
    assert strict_seen(run(inner, "--labkit-strict")) == "1"


def test_ini_option_is_the_fallback(inner: pytest.Pytester) -> None:
    inner.makeini("[pytest]\nlabkit_strict = false\n")
    assert strict_seen(run(inner)) == "0"


def test_bad_environment_value_is_a_usage_error(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_STRICT", "maybe")
    result = run(inner)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = result.stderr.str()
    assert "LABKIT_STRICT" in errors
    assert "'maybe'" in errors


def test_an_in_process_session_restores_the_variable(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_STRICT", "1")
    result = inner.runpytest_inprocess("-s", "-p", "no:nbval", "--no-labkit-strict")
    assert strict_seen(result) == "0"
    assert os.environ["LABKIT_STRICT"] == "1"
    monkeypatch.delenv("LABKIT_STRICT")
    inner.runpytest_inprocess("-p", "no:nbval")
    assert "LABKIT_STRICT" not in os.environ
