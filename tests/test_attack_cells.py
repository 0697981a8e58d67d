"""Learners write their own exploits: no Attack answer cell of a learner release names a
`labkit.attacks` helper in its stub or TODO (those helpers belong in the last hint).

Labs whose attack cells are not rewritten yet are listed in ``NOT_YET``: each is an xfail
that must fail (strict), so a lab that gets fixed must leave the list.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import labkit.attacks
from labkit.course.build import build_notebook
from labkit.course.cells import ANSWER, cell_role
from labkit.exercises.registry import get_lab

COURSE = Path(__file__).resolve().parent.parent / "course"
SOURCES = sorted(COURSE.glob("[0-9][0-9]-*.py"))
#: Labs whose Attack cells still hand the learner our helper (issue: learners perform the
#: attacks themselves). Remove a lab once its cells are the learner's own exploit.
NOT_YET = {
    "13-capstone",
}  # fmt: skip


def attack_helper_names() -> set[str]:
    """Every public name of every ``labkit.attacks`` module."""
    names = set()
    for info in pkgutil.iter_modules(labkit.attacks.__path__):
        module = importlib.import_module(f"labkit.attacks.{info.name}")
        names |= {n for n in getattr(module, "__all__", ()) if not n.startswith("_")}
    return names


def helpers_named(source: str, names: set[str]) -> list[str]:
    """The helpers a release cell names: ``labkit.attacks`` itself or a helper's name."""
    found = ["labkit.attacks"] if "labkit.attacks" in source else []
    found += sorted(n for n in names if re.search(rf"\b{re.escape(n)}\b", source))
    return found


def attack_cells(source: Path) -> list[tuple[str, str]]:
    """(check id, release source) of every answer cell of an attack check."""
    lab = get_lab(source.stem)
    cells = []
    for cell in build_notebook(source).cells:
        role = cell_role(cell)
        if role and role[0] == ANSWER and cell.cell_type == "code":
            spec = lab.checks.get(role[1])
            if spec is not None and spec.kind == "attack":
                cells.append((role[1], cell.source))
    return cells


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason="attack cells not rewritten"))
        if s.stem in NOT_YET
        else s
        for s in SOURCES
    ],
    ids=lambda s: s.stem,
)
def test_attack_stubs_name_no_labkit_helper(source: Path) -> None:
    names = attack_helper_names()
    named = {
        check: found
        for check, text in attack_cells(source)
        if (found := helpers_named(text, names))
    }
    assert not named, f"{source.stem}: attack stubs name our helpers: {named}"


def test_the_helper_finder_finds_a_helper() -> None:
    names = attack_helper_names()
    assert {"crack_unsalted", "forge"} <= names
    assert helpers_named("leak = ...\n# TODO: crack_unsalted(leak)", names) == ["crack_unsalted"]
    assert helpers_named("import labkit.attacks.jwt as j", names)[0] == "labkit.attacks"
    assert helpers_named("hashes = {}  # TODO: try each word of the wordlist", names) == []
