"""The notebooks are the course's regression tests.

For every lab: the solved build passes ``pytest --nbval-lax``; the learner release, run in
strict mode, fails at every exercise check cell and at nothing else — which proves that every
check can fail and that the rest of the notebook is sound. ``notebooks/`` must be up to date.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labkit.course.build import build_notebook, check_ids, render, stale_notebooks
from labkit.course.cells import CHECK, cell_role

REPO = Path(__file__).resolve().parents[1]
COURSE = REPO / "course"
SOURCES = sorted(COURSE.glob("[0-9][0-9]-*.py"))

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


#: Plugins of the test suite that a notebook run never uses: ~1.5 s of imports per nbval run.
NOT_FOR_NOTEBOOKS = ("-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:anyio")


def _nbval(notebook: Path, tmp_path: Path) -> tuple[int, dict[str, str], str]:
    """Run nbval on one notebook in a subprocess; returns (exit code, {test id: outcome}, log)."""
    report = tmp_path / f"{notebook.stem}.xml"
    env = {**os.environ, "LABKIT_HOME": str(tmp_path / "home"), "LABKIT_STRICT": "1"}
    command = [
        sys.executable, "-m", "pytest", "--nbval-lax", str(notebook), "-p", "no:cacheprovider",
        "-p", "no:xdist", "--nbval-kernel-startup-timeout=120", "--nbval-cell-timeout=300",
        f"--junitxml={report}", "-q", "-o", "addopts=", "--rootdir", str(tmp_path),
        *NOT_FOR_NOTEBOOKS,
    ]  # fmt: skip
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[case.get("name", "")] = "failed" if failed else "passed"
    return run.returncode, outcomes, run.stdout[-4000:] + run.stderr[-2000:]


def _check_cell_numbers(notebook: object) -> set[str]:
    """nbval's ids (``Cell N``, counting code cells from 0) of the check cells."""
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]  # type: ignore[attr-defined]
    return {f"Cell {i}" for i, c in enumerate(code_cells) if (cell_role(c) or ("",))[0] == CHECK}


def test_notebooks_are_up_to_date() -> None:
    stale = stale_notebooks(COURSE, REPO / "notebooks")
    assert not stale, f"run `labkit build`: stale {stale}"


def test_the_labkit_build_check_command_passes() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "labkit", "build", "--check"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_solved_build_passes_nbval(source: Path, tmp_path: Path) -> None:
    solved = tmp_path / "solved" / f"{source.stem}.ipynb"
    solved.parent.mkdir()
    solved.write_text(render(build_notebook(source, solved=True)), encoding="utf-8")
    code, outcomes, log = _nbval(solved, tmp_path)
    assert outcomes, f"nbval ran no cell:\n{log}"
    failed = sorted(k for k, v in outcomes.items() if v == "failed")
    assert code == 0 and not failed, f"cells failed: {failed}\n{log}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_release_fails_exactly_at_its_check_cells(source: Path, tmp_path: Path) -> None:
    notebook = build_notebook(source)
    assert check_ids(notebook)[CHECK], f"{source.name} has no check cells"
    release = tmp_path / "release" / f"{source.stem}.ipynb"  # a run writes beside it
    release.parent.mkdir()
    release.write_bytes((REPO / "notebooks" / f"{source.stem}.ipynb").read_bytes())
    _, outcomes, log = _nbval(release, tmp_path)
    failed = {k for k, v in outcomes.items() if v == "failed"}
    assert failed == _check_cell_numbers(notebook), log
