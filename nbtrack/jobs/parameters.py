"""A notebook's parameters, as papermill sees them, and the values given for them.

papermill's convention: the first cell tagged ``parameters`` holds the defaults;
papermill injects a cell tagged ``injected-parameters`` after it with the values
passed. nbtrack asks papermill (``papermill.inspect_notebook``) which names that
cell assigns and parses command-line values with papermill's own rules
(``True``/``False``/``None``, int, float, else a string), then refuses what
papermill would accept silently:

- a name the parameters cell does not assign (papermill only logs a warning and
  injects it anyway, so a typo runs the defaults);
- a value of the wrong kind (``alpha=abc`` where the default is a number);
- values for a notebook with no ``parameters`` cell (papermill then injects them
  in a new first cell, where the notebook's own assignments overwrite them).

Example:
    >>> parse_assignment("alpha=0.5")
    ('alpha', 0.5)
    >>> parse_assignment("alpha=0.1,1,10", grid=True)
    ('alpha', [0.1, 1, 10])
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInput


class ParameterError(InvalidInput):
    """A parameter the notebook cannot take; the message names the fix."""


@dataclass(frozen=True)
class NotebookParameter:
    """One name the ``parameters`` cell assigns, with its default as source text."""

    name: str
    default: str
    help: str = ""

    @property
    def default_value(self) -> Any:
        """The default as a Python value when it is a literal, else None."""
        try:
            return ast.literal_eval(self.default)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None


def cli_value(text: str) -> Any:
    """A command-line value by papermill's rules (``papermill -p``): True/False/None, int,
    float, else the string itself."""
    from papermill.cli import _resolve_type  # papermill's own parser, not a copy of it

    return _resolve_type(text)


def parse_assignment(text: str, *, grid: bool = False) -> tuple[str, Any]:
    """``NAME=VALUE`` from the command line; with ``grid``, ``NAME=a,b,c`` gives a list."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ParameterError(f"-p takes NAME=VALUE; got {text!r} (for example -p alpha=0.5)")
    if not name.isidentifier():
        raise ParameterError(f"-p {text!r}: {name!r} is not a Python name, so no cell can assign it")
    if grid and "," in value:
        values = [cli_value(part.strip()) for part in value.split(",")]
        if any(part.strip() == "" for part in value.split(",")):
            raise ParameterError(f"-p {text!r} has an empty value between commas; write -p {name}=a,b,c")
        return name, values
    return name, cli_value(value)


def notebook_parameters(path: str | Path) -> dict[str, NotebookParameter] | None:
    """The names the notebook's ``parameters`` cell assigns, or None when it has no such cell."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    if not any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in nb.cells):
        return None
    import logging

    from papermill import inspect_notebook

    logging.getLogger("papermill").setLevel(logging.ERROR)
    found = inspect_notebook(str(path))
    return {name: NotebookParameter(name, str(p.get("default", "")), p.get("help") or "")
            for name, p in found.items()}


def check_parameters(path: str | Path, values: Mapping[str, Any],
                     declared: Mapping[str, NotebookParameter] | None = None) -> dict[str, Any]:
    """``values`` checked against what the notebook's parameters cell assigns; raises a
    ``ParameterError`` naming the fix for the first problem."""
    if not values:
        return {}
    declared = notebook_parameters(path) if declared is None else declared
    if declared is None:
        raise ParameterError(
            f"{Path(path).name} has no cell tagged 'parameters', so papermill would inject "
            f"{', '.join(values)} in a new first cell that the notebook's own assignments overwrite: "
            "tag the cell that sets the defaults 'parameters' (JupyterLab: property inspector, Cell Tags)")
    checked = {}
    for name, value in values.items():
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise ParameterError(
                f"{Path(path).name} has no parameter {name!r} (its parameters cell assigns: {known}); "
                "fix the name or add it to the parameters cell")
        _check_kind(name, value, declared[name])
        checked[name] = value
    return checked


def _check_kind(name: str, value: Any, parameter: NotebookParameter) -> None:
    default = parameter.default_value
    number = (int, float)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ParameterError(f"{name}={value!r} does not parse as a bool (default {parameter.default}); "
                                 f"pass {name}=True or {name}=False")
    elif isinstance(default, number):
        if isinstance(value, bool) or not isinstance(value, number):
            raise ParameterError(f"{name}={value!r} does not parse as a number (default {parameter.default}); "
                                 f"pass a number such as {name}={parameter.default}")
