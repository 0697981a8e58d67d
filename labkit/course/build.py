"""``labkit build``: turn ``course/NN-name.py`` into ``notebooks/NN-name.ipynb``.

The learner release has every solution region replaced by its stub (or by a ``# TODO`` and
``raise NotImplementedError``), no outputs, and deterministic cell ids, so rebuilding an
unchanged source gives byte-identical notebooks and ``labkit build --check`` can tell when
``notebooks/`` is stale. The solved build keeps the solutions (for nbval and the grader).
Answer and check cells keep their ``labkit`` metadata in both builds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jupytext
import nbformat

from labkit.course.cells import (
    ANSWER,
    BEGIN_SOLUTION,
    CHECK,
    END_SOLUTION,
    METADATA_KEY,
    STUB,
    cell_role,
)

__all__ = ["BuildError", "build_course", "build_notebook", "render", "stale_notebooks"]

SOURCE_GLOB = "[0-9][0-9]-*.py"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class BuildError(ValueError):
    """A course source is malformed (unbalanced markers, solution outside an answer cell...)."""


def _replace_solutions(source: str, *, solved: bool, where: str) -> str:
    """Keep (solved) or stub out (release) every solution region of one cell."""
    out: list[str] = []
    region: list[str] | None = None
    stub: list[str] | None = None
    indent = ""
    for line in source.splitlines():
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if region is not None:
                raise BuildError(f"{where}: nested {BEGIN_SOLUTION}")
            region, stub, indent = [], None, line[: len(line) - len(line.lstrip())]
        elif marker == STUB:
            if region is None or stub is not None:
                raise BuildError(f"{where}: {STUB} outside a solution region")
            stub = []
        elif marker == END_SOLUTION:
            if region is None:
                raise BuildError(f"{where}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            if solved:
                out.extend(region)
            elif stub is not None:
                out.extend(stub)
            else:
                out.extend(
                    [f"{indent}# TODO: your code here", f"{indent}raise NotImplementedError"]
                )
            region = stub = None
        elif stub is not None:
            stub.append(line)
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None:
        raise BuildError(f"{where}: {BEGIN_SOLUTION} without {END_SOLUTION}")
    return "\n".join(out)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "cell"


def _check_points(lab_id: str) -> dict[str, int]:
    """Points per check from the registry (empty for a lab not registered yet)."""
    from labkit.exercises.registry import LABS, get_lab

    if lab_id not in LABS:
        return {}
    return {check_id: spec.points for check_id, spec in get_lab(lab_id).checks.items()}


def _expand_rules(source: str, lab_id: str, where: str) -> str:
    """Replace each ``<!-- labkit:rules ID ... -->`` with the rules those checks enforce."""
    from labkit.exercises.registry import LABS, get_lab
    from labkit.exercises.rules import RULES_MARKER, merge_rules, render_rules

    def rules_of(match: re.Match[str]) -> str:
        checks = get_lab(lab_id).checks if lab_id in LABS else {}
        groups = []
        for check_id in match.group(1).split():
            if check_id not in checks or not checks[check_id].rules:
                raise BuildError(f"{where}: no rules registered for check {check_id!r}")
            groups.append(checks[check_id].rules)
        return render_rules(merge_rules(*groups))

    return RULES_MARKER.sub(rules_of, source)


def build_notebook(source: Path, *, solved: bool = False) -> Any:
    """Read one course source and return the release (or solved) notebook."""
    lab_id = source.stem
    notebook = jupytext.read(source, fmt="py:percent")
    points = _check_points(lab_id)
    seen: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        where = f"{source.name} cell {index}"
        role = cell_role(cell)
        has_solution = BEGIN_SOLUTION in cell.source
        if has_solution and (role is None or role[0] != ANSWER):
            raise BuildError(f'{where}: solutions belong in cells tagged labkit={{"answer": ...}}')
        if cell.cell_type == "markdown":
            cell.source = _expand_rules(cell.source, lab_id, where)
        if cell.cell_type == "code":
            cell.source = _replace_solutions(cell.source, solved=solved, where=where)
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("lines_to_next_cell", None)
        if role is not None:
            cell.metadata["tags"] = sorted({*cell.metadata.get("tags", []), role[0]})
        if role is not None and role[0] == CHECK and role[1] in points:
            cell.metadata[METADATA_KEY]["points"] = points[role[1]]  # the grader's max points
        base = _slug(f"{role[0]}-{role[1]}") if role else f"c{index:02d}"
        cell_id = base if base not in seen else f"{base}-{index:02d}"
        seen.add(cell_id)
        cell["id"] = cell_id
    notebook.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        METADATA_KEY: {"lab": lab_id, "build": "solved" if solved else "release"},
    }
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    return notebook


def render(notebook: Any) -> str:
    """Serialize a notebook exactly as it is written to disk."""
    return nbformat.writes(notebook) + "\n"


def check_ids(notebook: Any) -> dict[str, list[str]]:
    """The answer and check ids of a built notebook, in order."""
    found: dict[str, list[str]] = {ANSWER: [], CHECK: []}
    for cell in notebook.cells:
        role = cell_role(cell)
        if role:
            found[role[0]].append(role[1])
    return found


def validate_against_registry(lab_id: str, notebook: Any) -> None:
    """Every check cell names a registered check, and every registered check has a cell."""
    from labkit.exercises.registry import LABS, get_lab

    if lab_id not in LABS:
        raise BuildError(
            f"{lab_id}: no module in labkit/exercises/labs defines "
            f"LAB = LabDefinition({lab_id!r}, ...)"
        )
    registered = set(get_lab(lab_id).checks)
    in_cells = set(check_ids(notebook)[CHECK])
    if unknown := sorted(in_cells - registered):
        raise BuildError(f"{lab_id}: check cells name unregistered checks: {', '.join(unknown)}")
    if missing := sorted(registered - in_cells):
        raise BuildError(f"{lab_id}: registered checks without a check cell: {', '.join(missing)}")


def _sources(course_dir: Path) -> list[Path]:
    sources = sorted(course_dir.glob(SOURCE_GLOB))
    if not sources:
        raise BuildError(f"no course sources ({SOURCE_GLOB}) in {course_dir}")
    return sources


def build_course(course_dir: Path, out_dir: Path, *, solved: bool = False) -> list[Path]:
    """Build every source in ``course_dir`` into ``out_dir``; returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in _sources(course_dir):
        target = out_dir / f"{source.stem}.ipynb"
        notebook = build_notebook(source, solved=solved)
        validate_against_registry(source.stem, notebook)
        text = render(notebook)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def stale_notebooks(course_dir: Path, notebooks_dir: Path) -> list[str]:
    """Names of release notebooks that are missing or differ from a fresh build."""
    stale = []
    for source in _sources(course_dir):
        target = notebooks_dir / f"{source.stem}.ipynb"
        fresh = render(build_notebook(source))
        if not target.exists() or target.read_text(encoding="utf-8") != fresh:
            stale.append(target.name)
    return stale
