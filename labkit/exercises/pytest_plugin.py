"""pytest plugin (``pytest11`` entry point ``labkit``): strict checks under pytest and nbval.

In strict mode a failed check raises :class:`~labkit.exercises.check.CheckFailed` instead of
only showing feedback, so ``pytest --nbval-lax notebook.ipynb`` fails exactly at unsolved
check cells. The setting is exported through the environment, which the Jupyter kernels that
nbval starts inherit.

Precedence, highest first: ``--labkit-strict`` / ``--no-labkit-strict`` on the command line,
the ``LABKIT_STRICT`` environment variable, the ``labkit_strict`` ini option (default on).
"""

from __future__ import annotations

import os

import pytest

from labkit.exercises.check import STRICT_ENV

__all__ = ["pytest_addoption", "pytest_configure", "pytest_unconfigure", "strict_setting"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labkit", "labkit security workbook")
    group.addoption(
        "--labkit-strict",
        dest="labkit_strict",
        action="store_const",
        const=True,
        default=None,
        help="failed labkit checks raise CheckFailed (default: on)",
    )
    group.addoption(
        "--no-labkit-strict",
        dest="labkit_strict",
        action="store_const",
        const=False,
        help="failed labkit checks only show feedback",
    )
    parser.addini(
        "labkit_strict", "failed labkit checks raise CheckFailed", type="bool", default=True
    )


def _parse(value: str, source: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise pytest.UsageError(f"{source}: expected 1/0, true/false, yes/no or on/off, got {value!r}")


def strict_setting(config: pytest.Config) -> bool:
    """Resolve strict mode: command line, then environment, then ini file."""
    option = config.getoption("labkit_strict")
    if option is not None:
        return bool(option)
    if STRICT_ENV in os.environ:
        return _parse(os.environ[STRICT_ENV], f"environment variable {STRICT_ENV}")
    return bool(config.getini("labkit_strict"))


_PREVIOUS = pytest.StashKey[str | None]()


def pytest_configure(config: pytest.Config) -> None:
    strict = strict_setting(config)
    config.stash[_PREVIOUS] = os.environ.get(STRICT_ENV)
    os.environ[STRICT_ENV] = "1" if strict else "0"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the variable back, so an in-process session (pytester) leaves no trace behind."""
    if _PREVIOUS not in config.stash:
        return
    previous = config.stash[_PREVIOUS]
    if previous is None:
        os.environ.pop(STRICT_ENV, None)
    else:
        os.environ[STRICT_ENV] = previous
