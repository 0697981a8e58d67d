"""The corpus of learner fixes: for every fix check, wrong fixes that must fail naming the rule
they break, and correct alternatives (written unlike the reference) that must pass.

A file ``tests/fixes/<lab-id>/<anything>.py`` declares its cases with two decorators on
functions that return the keyword arguments of ``lab.check`` (the fix functions, or an
``answer``)::

    @wrong("hashing", breaks="salted")
    def unsalted_sha256() -> Fixes:
        "SHA-256 without a salt: equal passwords, equal hashes."
        return {"hash_password": ..., "verify_password": ..., "needs_rehash": ...}

    @right("hashing")
    def bcrypt_cost_12() -> Fixes: ...

``also=("verify",)`` runs the same fixes through more checks (each must fail, or pass). The
verify check replays every battery and is slow: give it one wrong and one right case per fix
check (the first of each in the file), not every case — the fix check itself runs them all. A
case that needs the running lab (08 commits to the lab's repository) takes it as its one
parameter: ``def case(lab: Lab) -> Fixes``.
Build wrong fixes adversarially: for each rule, how would a hurried developer get it wrong?
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["FixCase", "Fixes", "load_cases", "right", "sibling", "wrong"]

Fixes = dict[str, Any]
CORPUS = Path(__file__).parent


@dataclass(frozen=True)
class FixCase:
    """One learner fix of the corpus and what every check it goes through must conclude."""

    check: str
    name: str
    make: Callable[..., Fixes]
    breaks: str | None = None  # the rule id a wrong fix breaks; None for a correct one
    also: tuple[str, ...] = ()
    lab: str = ""

    @property
    def checks(self) -> tuple[str, ...]:
        return (self.check, *self.also)

    @property
    def wrong(self) -> bool:
        return self.breaks is not None

    @property
    def doc(self) -> str:
        return (self.make.__doc__ or "").strip()

    def fixes(self, lab: Any) -> Fixes:
        """The keyword arguments of ``lab.check``, made for ``lab``."""
        wants_lab = len(inspect.signature(self.make).parameters) == 1
        return self.make(lab) if wants_lab else self.make()


def wrong(
    check: str, *, breaks: str, also: tuple[str, ...] = ()
) -> Callable[[Callable[..., Fixes]], FixCase]:
    """A fix that ``check`` must fail, with ``[breaks]`` (a rule id) in its message."""
    return lambda make: FixCase(check, make.__name__, make, breaks, also)


def right(check: str, *, also: tuple[str, ...] = ()) -> Callable[[Callable[..., Fixes]], FixCase]:
    """A correct fix, unlike the reference, that ``check`` must pass."""
    return lambda make: FixCase(check, make.__name__, make, None, also)


def sibling(file: str, name: str) -> ModuleType:
    """The module ``name``.py beside ``file``, loaded once (a lab folder is not a package):
    ``P = sibling(__file__, "_parts")`` shares a lab's correct parts among its case files."""
    path = Path(file).with_name(f"{name}.py")
    key = f"fix_corpus.{path.parent.name}.{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


def _module_cases(path: Path) -> Iterator[FixCase]:
    lab = path.parent.name
    spec = importlib.util.spec_from_file_location(f"fix_corpus.{lab}.{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves postponed annotations through it
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if isinstance(value, FixCase):
            yield FixCase(value.check, value.name, value.make, value.breaks, value.also, lab)


def load_cases(root: Path = CORPUS) -> list[FixCase]:
    """Every case of the corpus, by lab, file and definition order."""
    cases: list[FixCase] = []
    for path in sorted(root.glob("[0-9][0-9]-*/*.py")):
        if not path.name.startswith("_"):
            cases.extend(_module_cases(path))
    return cases
