"""``labkit edition OUT``: what an instructor hands to a graded class.

``OUT/notebooks/`` holds the release notebooks (built from ``course/``, no solutions) and
``OUT/labkit/`` an installable copy of labkit (``pip install OUT``) from which the graded
answers cannot be read: no ``labkit.course`` or ``labkit.grading`` (instructor tools), and every
definition in :data:`labkit.edition.LEFT_OUT` reduced to its signature and ``raise
ReferenceNotShipped(...)`` (a constant to ``None``). The answers in :data:`labkit.edition.KEPT`
stay, because the lab apps or the checks need them to run.
"""

from __future__ import annotations

import ast
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import labkit
from labkit.course.build import build_course
from labkit.course.cells import BEGIN_SOLUTION
from labkit.edition import INSTRUCTOR_ONLY, LEFT_OUT, Answer

__all__ = ["Edition", "EditionError", "build_edition", "reference_sources"]

MARKER = ".labkit-student-edition"
IMPORT = "from labkit.edition import ReferenceNotShipped"
README = """# Security Patterns Workbook — student edition

Install and open the course (Python 3.11 or newer; Chromium for the browser lessons):

    python -m venv .venv && .venv/bin/pip install .
    .venv/bin/labkit lab

Each notebook attacks a deliberately vulnerable app, then you write the fix and its check
replays the attacks against it. This edition does not ship the reference solutions or the
secure reference apps (`labkit serve LAB --secure`); your instructor grades with the full one.
"""


class EditionError(RuntimeError):
    """The edition cannot be built (a target no longer exists, answer text left over...)."""


@dataclass
class Edition:
    """What :func:`build_edition` wrote."""

    out: Path
    notebooks: list[Path] = field(default_factory=list)
    left_out: list[Answer] = field(default_factory=list)


def _module_path(package: Path, module: str) -> Path:
    parts = module.split(".")[1:]
    path = package.joinpath(*parts)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _find(tree: ast.Module, qualname: str) -> ast.stmt:
    """The top-level function, class or assignment named ``qualname``."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == qualname:
                return node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == qualname for t in targets):
                return node
    raise EditionError(f"no top-level {qualname!r} to leave out")


def _span(node: ast.stmt) -> tuple[int, int]:
    """0-based [start, end) of the lines replaced: a definition's body, or a whole assignment."""
    if isinstance(node, ast.Assign | ast.AnnAssign):
        return node.lineno - 1, node.end_lineno or node.lineno
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    return node.body[0].lineno - 1, node.end_lineno or node.lineno


def _replacement(node: ast.stmt, answer: Answer, lines: list[str]) -> list[str]:
    call = f"ReferenceNotShipped({answer.lab!r}, {answer.target.replace(':', '.')!r})"
    note = f"# not shipped in the student edition: a reference answer of {answer.lab}"
    if isinstance(node, ast.Assign | ast.AnnAssign):
        return [f"{answer.name} = None  {note}"]
    first = lines[node.body[0].lineno - 1]
    indent = first[: len(first) - len(first.lstrip())]
    doc = f'{indent}"""Not shipped in the student edition: a reference answer of {answer.lab}."""'
    if isinstance(node, ast.ClassDef):
        return [
            doc,
            "",
            f"{indent}def __init__(self, *args: object, **kwargs: object) -> None:",
            f"{indent}    raise {call}",
        ]
    return [doc, f"{indent}raise {call}"]


def _import_line(tree: ast.Module) -> int:
    """0-based line after the module docstring and ``from __future__`` imports."""
    after = 0
    for node in tree.body:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (is_doc or is_future):
            break
        after = node.end_lineno or node.lineno
    return after


def _callers(tree: ast.Module, names: set[str]) -> list[str]:
    """Kept definitions of the module whose bodies use a left-out name (they would break)."""
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if node.name in names:
            continue
        if used := _names(node.body) & names:
            found.append(f"{node.name} uses {', '.join(sorted(used))}")
    return found


def _names(statements: list[ast.stmt]) -> set[str]:
    """Names the statements use when they run (a default argument is only a fallback)."""
    used: set[str] = set()
    todo: list[ast.AST] = list(statements)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name):
            used.add(node.id)
        todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.arguments))
    return used


def leave_out(source: str, answers: list[Answer]) -> str:
    """``source`` with each answer's body (or value) replaced; raises for an unknown name, or
    when a definition that stays calls one that goes."""
    tree = ast.parse(source)
    library = answers[0].module.startswith("labkit.patterns.")  # apps pick them when secure
    if library and (callers := _callers(tree, {answer.name for answer in answers})):
        raise EditionError(f"{answers[0].module}: kept code needs a left-out answer: "
                           + "; ".join(callers))  # fmt: skip
    lines = source.splitlines()
    edits = []
    for answer in answers:
        node = _find(tree, answer.name)
        edits.append((_span(node), _replacement(node, answer, lines)))
    for (start, end), new in sorted(edits, key=lambda e: e[0][0], reverse=True):
        lines[start:end] = new
    at = _import_line(tree)
    lines[at:at] = ["", IMPORT]
    text = "\n".join(lines) + "\n"
    ast.parse(text)  # the edition must still be valid Python
    return text


def reference_sources(package: Path | None = None) -> dict[str, str]:
    """The source text of every LEFT_OUT definition in the full edition (for the scans)."""
    package = package or Path(labkit.__file__).parent
    found = {}
    for answer in LEFT_OUT:
        source = _module_path(package, answer.module).read_text(encoding="utf-8")
        node = _find(ast.parse(source), answer.name)
        start, end = _span(node)
        found[answer.target] = "\n".join(source.splitlines()[start:end])
    return found


def _copy_package(out: Path) -> Path:
    package = Path(labkit.__file__).parent
    target = out / "labkit"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(package, target, ignore=ignore)
    for name in INSTRUCTOR_ONLY:
        shutil.rmtree(target / name)
    return target


def _mark_student(target: Path) -> None:
    path = target / "edition.py"
    text = path.read_text(encoding="utf-8")
    if "\nSTUDENT = False\n" not in text:
        raise EditionError("labkit/edition.py has no 'STUDENT = False' line to switch")
    path.write_text(text.replace("\nSTUDENT = False\n", "\nSTUDENT = True\n"), encoding="utf-8")


def _project_files(out: Path, repo: Path) -> None:
    """pyproject.toml (no course or grading extras needed), README, LICENSE."""
    pyproject = repo / "pyproject.toml"
    if not pyproject.exists():
        raise EditionError(f"no pyproject.toml in {repo}")
    shutil.copy2(pyproject, out / "pyproject.toml")
    (out / "README.md").write_text(README, encoding="utf-8")
    if (repo / "LICENSE").exists():
        shutil.copy2(repo / "LICENSE", out / "LICENSE")
    (out / MARKER).write_text("labkit student edition\n", encoding="utf-8")


def scan(out: Path, references: dict[str, str]) -> list[str]:
    """Answer text found in ``out``: solution markers, reference bodies, instructor code."""
    problems = []
    for sub in ("course", "labkit/course", "labkit/grading"):
        if (out / sub).exists():
            problems.append(f"{sub}/ is in the edition")
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8", errors="replace")
        if BEGIN_SOLUTION in text:
            problems.append(f"{path.relative_to(out)} holds {BEGIN_SOLUTION}")
        for target, body in references.items():
            if body.strip() and body in text:
                problems.append(f"{path.relative_to(out)} holds the reference {target}")
    return problems


def _clear(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise EditionError(f"{out} is not empty and holds no earlier student edition")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def build_edition(course_dir: Path, out: Path, *, repo: Path | None = None) -> Edition:
    """Build the student edition of ``course_dir`` and the installed labkit into ``out``."""
    repo = repo or course_dir.resolve().parent
    references = reference_sources()
    _clear(out)
    edition = Edition(out)
    edition.notebooks = build_course(course_dir, out / "notebooks")
    target = _copy_package(out)
    by_module: dict[str, list[Answer]] = defaultdict(list)
    for answer in LEFT_OUT:
        by_module[answer.module].append(answer)
    for module, answers in by_module.items():
        path = _module_path(target, module)
        path.write_text(leave_out(path.read_text(encoding="utf-8"), answers), encoding="utf-8")
        edition.left_out.extend(answers)
    _mark_student(target)
    _project_files(out, repo)
    if problems := scan(out, references):
        raise EditionError("answer text left in the edition: " + "; ".join(problems))
    return edition
