"""Learners write their own exploits: no Attack answer cell of a learner release names a
`labkit.attacks` helper in its stub or TODO (those helpers belong in the last hint).
"""

from __future__ import annotations

import importlib
import io
import pkgutil
import re
import tokenize
from pathlib import Path

import pytest

import labkit.attacks
from labkit.course.build import build_notebook
from labkit.course.cells import ANSWER, cell_role
from labkit.exercises.registry import get_lab

COURSE = Path(__file__).resolve().parent.parent / "course"
SOURCES = sorted(COURSE.glob("[0-9][0-9]-*.py"))


def attack_helper_names() -> set[str]:
    """Every public name of every ``labkit.attacks`` module."""
    names = set()
    for info in pkgutil.iter_modules(labkit.attacks.__path__):
        module = importlib.import_module(f"labkit.attacks.{info.name}")
        names |= {n for n in getattr(module, "__all__", ()) if not n.startswith("_")}
    return names


def helpers_named(source: str, names: set[str]) -> list[str]:
    """The helpers a release cell names in code or in a comment (a TODO): ``labkit.attacks``
    itself, or a helper's name used as a name. Text inside string literals is data (a header
    named ``Cookie`` is not the helper of that name)."""
    words: list[str] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.NAME:
                words.append(token.string)
            elif token.type == tokenize.COMMENT:
                words += re.findall(r"[A-Za-z_][\w.]*(?=\s*\()|labkit\.attacks", token.string)
    except (tokenize.TokenError, SyntaxError):  # a stub may be unfinished code: read it all
        words = re.findall(r"[A-Za-z_]\w*", source)
    found = ["labkit.attacks"] if "labkit.attacks" in source.replace(" ", "") else []
    return found + sorted({w for w in words if w in names})


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


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.stem)
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
    assert helpers_named("headers = {'Cookie': 'sid=1'}", names | {"Cookie"}) == []
    assert helpers_named("x = 1  # TODO: call forge(token)", names) == ["forge"]
