"""What a cell's source says before it runs: literal params, names it reads and binds.

Only the AST is read; nothing is executed. Rules (documented in ``docs/magic.md``):

- A **param** is a top-level assignment of a literal: a number, string, boolean,
  None, or a list, tuple or dict of those (``alpha = 1``, ``layers = [64, 32]``,
  ``a, b = 1, 2``, ``lr: float = 0.1``). A later binding of the same name at module
  scope (``alpha += 1``, ``alpha = f()``, a ``for alpha in ...``) drops it: the
  literal would no longer describe the value the cell used. So does mutating a list
  or dict literal (``scores = []`` then ``scores.append(...)``): an accumulator.
- **Reads** are names loaded anywhere in the cell (functions and comprehensions
  included), used to find the data a cell reads.
- **Binds** are names bound at module scope.

Example:
    >>> info = analyze_cell("alpha = 1\\nlayers = [64, 32]\\nclf = fit(X, alpha)")
    >>> info.params
    {'alpha': 1, 'layers': [64, 32]}
    >>> sorted(info.reads)
    ['X', 'alpha', 'fit']
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class CellAnalysis:
    """The facts ``%%track`` needs from a cell's source; ``parsed`` is False on a SyntaxError."""

    params: dict[str, Any] = field(default_factory=dict)
    param_lines: dict[str, int] = field(default_factory=dict)  # name -> line of its literal
    reads: frozenset[str] = frozenset()
    binds: frozenset[str] = frozenset()
    parsed: bool = True


def is_literal_value(value: Any, depth: int = 0) -> bool:
    """True for the values recorded as params: scalars, and lists/tuples/dicts of them.

    Example:
        >>> is_literal_value([64, 32]), is_literal_value({1, 2})
        (True, False)
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if depth > 8:
        return False
    if isinstance(value, (list, tuple)):
        return all(is_literal_value(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(is_literal_value(k, depth + 1) and is_literal_value(v, depth + 1)
                   for k, v in value.items())
    return False


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    return is_literal_value(value), value


def _module_scope_stores(node: ast.AST) -> Iterator[str]:
    """Names a statement binds in the module's scope (skipping function and class bodies)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield current.name  # the def binds its name; its body is another scope
            stack.extend(current.decorator_list)
            continue
        if isinstance(current, ast.Lambda):
            continue
        if isinstance(current, _COMPREHENSIONS):
            # Only a walrus inside a comprehension leaks into module scope.
            yield from (n.target.id for n in ast.walk(current)
                        if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name))
            continue
        if isinstance(current, ast.Name) and isinstance(current.ctx, (ast.Store, ast.Del)):
            yield current.id
        elif isinstance(current, (ast.Import, ast.ImportFrom)):
            for alias in current.names:
                yield (alias.asname or alias.name).split(".")[0]
        elif isinstance(current, ast.ExceptHandler) and current.name:
            yield current.name
        stack.extend(ast.iter_child_nodes(current))


def _literal_assignments(stmt: ast.stmt) -> dict[str, tuple[Any, int]] | None:
    """``{name: (value, line)}`` when ``stmt`` is a literal assignment, else None."""
    if isinstance(stmt, ast.AnnAssign):
        if stmt.value is None or not isinstance(stmt.target, ast.Name):
            return None
        ok, value = _literal(stmt.value)
        return {stmt.target.id: (value, stmt.lineno)} if ok else None
    if not isinstance(stmt, ast.Assign):
        return None
    ok, value = _literal(stmt.value)
    if not ok:
        return None
    found: dict[str, tuple[Any, int]] = {}
    for target in stmt.targets:
        if isinstance(target, ast.Name):
            found[target.id] = (value, stmt.lineno)
        elif (isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (tuple, list))
              and len(target.elts) == len(value)
              and all(isinstance(e, ast.Name) for e in target.elts)):
            for element, item in zip(target.elts, value):
                found[element.id] = (item, stmt.lineno)  # type: ignore[attr-defined]
        else:
            return None
    return found


def _mutated(tree: ast.AST) -> set[str]:
    """Names the cell changes in place: ``x.append(...)``, ``x[k] = ...``, ``x.attr = ...``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name):
            found.add(node.func.value.id)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)) \
                and isinstance(node.value, ast.Name):
            found.add(node.value.id)
    return found


@lru_cache(maxsize=512)
def analyze_cell(source: str) -> CellAnalysis:
    """Parse ``source`` (IPython-transformed Python) once; cached, since cells are re-run.

    Example:
        >>> analyze_cell("x = 1\\nx += 1").params
        {}
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return CellAnalysis(parsed=False)
    params: dict[str, Any] = {}
    lines: dict[str, int] = {}
    binds: set[str] = set()
    for stmt in tree.body:
        literal = _literal_assignments(stmt)
        if literal is not None:
            for name, (value, line) in literal.items():
                params[name], lines[name] = value, line
            binds.update(literal)
            continue
        for name in _module_scope_stores(stmt):
            binds.add(name)
            params.pop(name, None)
            lines.pop(name, None)
    reads = frozenset(node.id for node in ast.walk(tree)
                      if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load))
    for name in _mutated(tree) & {n for n, v in params.items() if isinstance(v, (list, dict))}:
        del params[name], lines[name]
    return CellAnalysis(params, lines, reads, frozenset(binds))
