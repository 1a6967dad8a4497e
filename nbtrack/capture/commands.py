"""What ``%nbtrack status``, ``%nbtrack runs`` and ``%nbtrack history`` show.

Kept apart from ``magic.py`` so the magic stays about parsing and running cells;
these functions only read the store.

Example:
    >>> recent_runs(5)  # doctest: +SKIP
    run       name    status    start                duration  exec  params   metrics
    3f2a9c1e  bow-nb  FINISHED  2026-11-24 10:02:11  1.20 s    4     alpha=1  accuracy=0.91
"""

from __future__ import annotations

from typing import Any

from ..tracking import fluent
from ..display import RunTable
from ..errors import InvalidInput, RunNotFound
from ..paths import current_location
from ..store import queries
from .session import TrackingSession


def status_text(magics: Any) -> str:
    """A few lines: the store, the experiment, auto mode, the active and the last run."""
    session: TrackingSession = magics.session
    lines = [
        f"store       {current_location().database}",
        f"experiment  {fluent.current_experiment_name()}",
        f"auto        {'on (every cell is a run)' if magics.auto else 'off (only %%track cells)'}",
    ]
    active = fluent.active_run()
    lines.append(f"active run  {active.run_id if active else '-'}")
    last = session.last_summary
    if last is not None:
        info = last.run.info
        lines.append(f"last run    {info.run_id[:8]} {info.run_name} {info.status.value} "
                     f"(cell {info.cell_id or '-'})")
    return "\n".join(lines)


def recent_runs(limit: int = 20, experiment: str | None = None) -> RunTable:
    """The ``limit`` most recent runs (of ``experiment`` when given), newest first."""
    if limit < 1:
        raise InvalidInput("-n must be at least 1")
    store = fluent.read_store()
    experiment_ids = None if experiment is None else queries.experiment_ids(store, [experiment])
    runs = queries.search_runs(store, experiment_ids=experiment_ids, max_results=limit)
    title = f"{len(runs)} most recent run{'s' if len(runs) != 1 else ''}"
    return RunTable(runs, title=title + (f" of {experiment}" if experiment else ""))


def history(session: TrackingSession, run: str | None = None, limit: int = 20) -> RunTable:
    """The lineage of ``run`` (an id, an id prefix of 6+ characters, or a run name), newest first.

    Without ``run``: the cell being tracked now, else the last tracked cell.
    """
    store = fluent.read_store()
    if run is None:
        current = session.current
        if current is not None and current.run is not None:
            run_id = current.run.run_id
        elif session.last_summary is not None:
            run_id = session.last_summary.run_id
        else:
            raise InvalidInput("no tracked cell yet: run a %%track cell, or name a run: %nbtrack history RUN")
    else:
        run_id = _find_run(store, run)
    runs = queries.lineage(store, run_id)[:limit]
    title = f"history of cell {runs[0].info.cell_id}" if runs and runs[0].info.cell_id else "history"
    return RunTable(runs, title=f"{title}: {len(runs)} run{'s' if len(runs) != 1 else ''}")


def _find_run(store: Any, text: str) -> str:
    try:
        return queries.get_run(store, text).info.run_id
    except RunNotFound:
        pass
    quoted = text.replace("'", "''")
    by_name = queries.search_runs(store, f"attributes.run_name = '{quoted}'", max_results=1)
    if by_name:
        return by_name[0].info.run_id
    if len(text) >= 6:
        found = queries.run_ids_starting_with(store, text, limit=1)
        if found:
            return found[0]
    raise InvalidInput(f"no run with id or name {text!r}; see %nbtrack runs")
