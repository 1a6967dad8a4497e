"""Contracts other code and users rely on: the documented schema, import cost and layering."""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

from conftest import REPO, run_python

from nbtrack.paths import resolve_location
from nbtrack.store.database import open_store

HEAVY = ("pandas", "numpy", "plotly", "ipywidgets", "IPython", "jupyter_server", "sqlite_utils")


def documented_columns() -> dict[str, set[str]]:
    tables: dict[str, set[str]] = {}
    current = None
    for line in (REPO / "docs" / "schema.md").read_text().splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
            tables[current] = set()
        elif current and (match := re.match(r"\| (\w+) \| [A-Z]+ \|", line)):
            tables[current].add(match.group(1))
    return tables


def test_docs_schema_lists_every_table_and_column(tmp_path: Path) -> None:
    location = resolve_location(tmp_path)
    open_store(location).close()
    conn = sqlite3.connect(location.database)
    actual = {
        name: {c[1] for c in conn.execute(f"PRAGMA table_info({name})")}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    assert documented_columns() == actual


def test_import_nbtrack_pulls_in_nothing_heavy() -> None:
    result = run_python(
        "import sys, nbtrack\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
        "nbtrack.set_tracking_uri\n"  # a lazy attribute resolves without heavy imports too
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    assert result.stdout.split("\n")[:2] == ["[]", "[]"], result.stderr


def test_logging_path_needs_no_pandas_or_sqlite_utils(tmp_path: Path) -> None:
    # sqlite_utils imports pandas (0.35 s); the write path uses sqlite3 directly.
    open_store(resolve_location(tmp_path)).close()  # migrate first (that does need sqlite_utils)
    result = run_python(
        "import sys, nbtrack\n"
        f"nbtrack.set_tracking_uri({str(tmp_path)!r})\n"
        "with nbtrack.start_run():\n"
        "    nbtrack.log_metric('x', 1.0); nbtrack.log_param('a', 1)\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    assert result.stdout.strip() == "[]", result.stderr


def imported_modules(path: Path) -> set[str]:
    """Absolute names of nbtrack modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("nbtrack")}


def test_store_imports_nothing_above_it() -> None:
    allowed = {"nbtrack.errors", "nbtrack.paths", "nbtrack.entities"}
    for path in (REPO / "nbtrack" / "store").glob("*.py"):
        outside = {m for m in imported_modules(path) if not m.startswith("nbtrack.store")} - allowed
        assert not outside, f"{path.name} imports {sorted(outside)}: store/ must not import above it"


def test_layering_check_catches_a_violation(tmp_path: Path) -> None:
    # The check above must be able to fail: a store module importing the fluent API is caught.
    fake = REPO / "nbtrack" / "store" / "_layering_probe.py"
    fake.write_text("from ..fluent import start_run\n")
    try:
        assert "nbtrack.fluent" in imported_modules(fake)
    finally:
        fake.unlink()


def test_version_is_single_sourced_from_package_json() -> None:
    import json
    from importlib.metadata import version

    import nbtrack

    package = json.loads((REPO / "labextension" / "package.json").read_text())
    assert nbtrack.__version__ == version("nbtrack") == package["version"]


# What only store/ may do: run SQL, hold a connection, write in a transaction, queue a callable.
_STORE_ONLY = ("sqlite3.connect", ".conn.", "write_retrying", "lambda conn", ".write()")


def store_only_uses(path: Path) -> list[str]:
    """The store-only constructs a module outside store/ uses, as ``name:line`` strings."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("#", 1)[0]
        if '"""' in code or code.strip().startswith((">>>", "...")):
            continue  # docstrings and doctest examples may mention them
        found.extend(f"{path.name}:{number}: {token}" for token in _STORE_ONLY if token in code)
    return found


def test_only_store_runs_sql_or_queues_callables() -> None:
    outside = [p for p in (REPO / "nbtrack").rglob("*.py") if "store" not in p.relative_to(REPO / "nbtrack").parts]
    leaks = [use for path in outside for use in store_only_uses(path)]
    assert not leaks, f"only nbtrack/store/ may touch SQLite or queue callables: {leaks}"


def test_store_only_check_catches_a_leak(tmp_path: Path) -> None:
    probe = tmp_path / "leaky.py"
    probe.write_text("run.submit(lambda conn: conn.execute('DELETE FROM runs'))\nstore.conn.execute('x')\n")
    assert len(store_only_uses(probe)) == 2


def test_write_queue_refuses_a_callable(tmp_path: Path) -> None:
    import pytest

    from nbtrack.store.write_queue import WriteQueue

    queue = WriteQueue(resolve_location(tmp_path))
    try:
        with pytest.raises(TypeError, match="store.commands"):
            queue.submit(lambda conn: conn.execute("DELETE FROM runs"))  # type: ignore[arg-type]
    finally:
        queue.close()


def test_every_command_has_its_handler_whichever_module_is_imported_first() -> None:
    """A sweep's pool worker imports ``store.transfer`` first; a cycle through the handler
    modules once left commands without handlers there (KeyError in every execution)."""
    entry_points = sorted(f"nbtrack.store.{p.stem}" for p in (REPO / "nbtrack" / "store").glob("*.py")
                          if p.stem != "__init__") + ["nbtrack.jobs.worker", "nbtrack.interop.pull"]
    code = (
        "import importlib, sys\n"
        "importlib.import_module(sys.argv[1])\n"
        "from nbtrack.store.commands import HANDLERS, WriteCommand\n"
        "def kinds(t): return [t] + [k for s in t.__subclasses__() for k in kinds(s)]\n"
        "print(sorted(k.__name__ for k in kinds(WriteCommand)[1:] if k not in HANDLERS))\n"
    )
    for module in entry_points:
        result = run_python(code, argv=[module])
        assert result.returncode == 0, (module, result.stderr[-2000:])
        assert result.stdout.strip() == "[]", (module, result.stdout)
