"""The shop's leaked repository (``/api/_lab/source``): the code of the parts it really runs.

A reviewer reads source. The slice is built from the functions the running shop uses — the
broken ones in BrokenShop, the references in the secure shop — grouped in files the way the
shop's team would have them, with docstrings removed (they are this package's notes to the
course, not the shop's). A learner's own fix is not in the leaked repository.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

from labkit.sandbox.apps.shop.core import Shop
from labkit.vulnerable import cors as weak_cors

__all__ = ["FILES", "source_files"]

#: File of the leaked repository -> the shop's parts it holds.
FILES: dict[str, tuple[str, ...]] = {
    "shop/auth.py": (
        "hash_password", "verify_password", "needs_rehash", "login", "login_keys", "accept_email"
    ),
    "shop/tokens.py": ("issue_tokens", "verify_token"),
    "shop/orders.py": ("can_read_order",),
    "shop/cards.py": ("encrypt_record", "decrypt_record"),
    "shop/users.py": ("find_users", "public_profile", "database_error"),
    "shop/partners.py": ("authenticate",),
    "shop/web.py": (
        "cors_settings", "effective_scheme", "security_headers", "validate_review",
        "body_too_large", "validation_errors",
    ),
}


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _code(name: str, fn: Callable[..., Any]) -> str:
    """``def <name>(...)`` as the shop's repository would hold it."""
    if getattr(fn, "__name__", "") == "<lambda>":  # the broken CORS policy, as configured
        fn = weak_cors.reflect_any_origin_settings
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(fn))))
    except (OSError, TypeError, SyntaxError):
        return f"# {name}: (not in this repository)"
    tree = _without_docstrings(tree)
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.FunctionDef):
            node.name = name
    return ast.unparse(tree)


def source_files(shop: Shop) -> dict[str, str]:
    """Every file of the slice: path -> Python source."""
    files = {}
    for path, names in FILES.items():
        parts = []
        for name in names:
            if name in shop.fixed:
                parts.append(f"# {name}: rewritten since (the new code is not public)")
            elif name in shop.parts:
                parts.append(_code(name, shop.parts[name]))
        files[path] = f'"""BrokenShop: {path}."""\n\n' + "\n\n\n".join(parts) + "\n"
    return files
