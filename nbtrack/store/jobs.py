"""Reads for notebook jobs and sweeps: a run's children, runs by tag.

Example:
    >>> child_runs(store, sweep_run_id)  # doctest: +SKIP
    [<Run 'alpha=0.1' ...>, ...]
"""

from __future__ import annotations

from ..entities import Run
from .database import Store
from .queries import runs_by_pk


def child_runs(store: Store, parent_run_id: str) -> list[Run]:
    """The active runs whose parent is ``parent_run_id``, oldest first."""
    rows = store.conn.execute(
        "SELECT id FROM runs WHERE parent_run_id = ? AND lifecycle_stage = 'active' "
        "ORDER BY start_time, id", (parent_run_id,)).fetchall()
    return runs_by_pk(store, [r[0] for r in rows])


def runs_tagged(store: Store, key: str, value: str) -> list[Run]:
    """The active runs with tag ``key`` set to ``value``, oldest first."""
    rows = store.conn.execute(
        "SELECT runs.id FROM runs JOIN tags ON tags.run = runs.id AND tags.key = ? AND tags.value = ? "
        "WHERE runs.lifecycle_stage = 'active' ORDER BY runs.start_time, runs.id", (key, value)).fetchall()
    return runs_by_pk(store, [r[0] for r in rows])
