"""The shape of the code, checked so that it cannot decay unnoticed.

Modules stay under 400 lines and function bodies under 80 (docstrings aside). The
layers and the absence of import cycles are import-linter's contracts in pyproject.toml,
checked by `lint-imports` in CI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fetcher

PACKAGE = Path(fetcher.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_BODY_LINES = 80


def test_every_module_is_under_400_lines() -> None:
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in MODULES}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def test_every_function_body_is_under_80_lines() -> None:
    long = [
        f"{path.relative_to(PACKAGE)}: {node.name} ({_body_lines(node)} lines)"
        for path in MODULES
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and _body_lines(node) > MAX_BODY_LINES
    ]
    assert long == []
