"""Flag answer cells that reach for the reference solutions or tamper with ``labkit``.

A static scan (AST) of each spliced answer cell: importing ``labkit.patterns``, building
the secure reference app (``secure=True``), or assigning into ``labkit`` (attributes of the
package or of anything imported from it, ``setattr``). Flagged cells are still graded — the
verdicts come from the grader either way — and the flag goes into the gradebook message.
"""

from __future__ import annotations

import ast
import contextlib

__all__ = ["scan_answer"]

PATTERNS = "labkit.patterns"


def _python(source: str) -> ast.Module | None:
    with contextlib.suppress(Exception):  # IPython missing or confused: plain Python
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)  # %magics and !shell lines
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def scan_answer(source: str) -> list[str]:
    """Human-readable flags for one answer cell (empty when nothing is suspicious)."""
    tree = _python(source)
    if tree is None:
        return []
    flags: set[str] = set()
    aliases = {"labkit"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PATTERNS or alias.name.startswith(PATTERNS + "."):
                    flags.add("imports labkit.patterns (the reference solutions)")
                if alias.name.split(".")[0] == "labkit":
                    aliases.add(alias.asname or "labkit")
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            names = {f"{module}.{a.name}" for a in node.names}
            if module == PATTERNS or module.startswith(PATTERNS + ".") or PATTERNS in names:
                flags.add("imports labkit.patterns (the reference solutions)")
            if module.split(".")[0] == "labkit":
                aliases.update(a.asname or a.name for a in node.names)
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            root = _root(target)
            if target is not root and isinstance(root, ast.Name) and root.id in aliases:
                flags.add(f"assigns into labkit ({_dotted(target) or root.id + '...'})")
            elif isinstance(target, ast.Attribute) and _dotted(target.value) == "lab":
                flags.add(f"replaces lab.{target.attr}")
        if isinstance(node, ast.Attribute) and _dotted(node).startswith(PATTERNS):
            flags.add("imports labkit.patterns (the reference solutions)")
        if isinstance(node, ast.Call):
            func = _dotted(node.func)
            first = _root(node.args[0]) if node.args else None
            if func == "setattr" and isinstance(first, ast.Name) and first.id in aliases:
                flags.add("assigns into labkit (setattr)")
            for keyword in node.keywords:
                if keyword.arg == "secure" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    flags.add("builds the secure reference app (secure=...)")
            if func.endswith("import_module") and any(
                isinstance(a, ast.Constant) and str(a.value).startswith(PATTERNS) for a in node.args
            ):
                flags.add("imports labkit.patterns (the reference solutions)")
    return sorted(flags)
