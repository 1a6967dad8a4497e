"""Read-only queries over a store: everything the API, CLI, widgets and server read.

Two shapes: ``get_run`` / ``search_runs`` build ``Run`` objects (a page of
runs, a detail view); ``run_table`` fetches columns in bulk for DataFrames,
so 100,000 runs never become 100,000 objects.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store.database import open_store
    >>> store = open_store(resolve_location(tempfile.mkdtemp()))
    >>> search_runs(store)
    []
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..entities import (
    DatasetInput, Experiment, FileInfo, Metric, MetricSummary, Run, RunData, RunError, RunInfo,
    RunInputs, RunStatus, ViewType,
)
from ..errors import ExperimentNotFound, InvalidInput, RunNotFound
from .commands import ArtifactEntry
from ..paths import StoreLocation
from .database import Store, transaction
from .experiments import all_experiment_tags, experiment_tags
from .filters import compile_filter, compile_order_by

RUN_COLUMNS = (
    "runs.id, runs.run_id, runs.experiment_id, runs.run_name, runs.status, runs.start_time, "
    "runs.end_time, runs.lifecycle_stage, runs.user_id, runs.parent_run_id, runs.notebook_path, "
    "runs.cell_id, runs.execution_count, runs.previous_run_id, runs.source, runs.code, "
    "runs.error_type, runs.error_message, runs.error_traceback, runs.host, runs.pid"
)
_DEFAULT_ORDER = "runs.start_time DESC, runs.id DESC"


class RunAttributes(NamedTuple):
    """One ``runs`` row as ``run_table`` reads it (``code`` is None unless asked for)."""

    id: int
    run_id: str
    experiment_id: int
    run_name: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    user_id: str | None
    parent_run_id: str | None
    notebook_path: str | None
    cell_id: str | None
    execution_count: int | None
    previous_run_id: str | None
    source: str | None
    code: str | None
    error_type: str | None
    error_message: str | None
    error_traceback: str | None
    host: str | None
    pid: int | None

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time


class MetricPoint(NamedTuple):
    """One stored point of a series; ``value`` is None where NaN was logged."""

    value: float | None
    step: int
    timestamp: int


class CellRuns(NamedTuple):
    """A cell's active runs: how many, and the row key of the newest."""

    count: int
    newest_pk: int


class ExperimentActivity(NamedTuple):
    active_runs: int
    last_start_time: int | None


def artifact_root(location: StoreLocation) -> str:
    """The folder under which each run's artifacts are laid out as files (``<root>/<run_id>``)
    when asked for: ``get_artifact_uri`` fills it from the content-addressed blobs. A run's
    ``artifact_uri`` is this root + its id."""
    from .artifacts import run_folder

    return str(run_folder(location))


def artifact_uri(location: StoreLocation, run_id: str) -> str:
    """The run's artifact URI: an absolute path, as MLflow's for a local SQLite store.

    Example:
        >>> from nbtrack.paths import resolve_location
        >>> artifact_uri(resolve_location("/tmp/s"), "abc")
        '/tmp/s/artifacts/runs/abc'
    """
    return f"{artifact_root(location)}/{run_id}"


def get_experiment(store: Store, experiment_id: str) -> Experiment:
    row = store.conn.execute(
        "SELECT experiment_id, name, lifecycle_stage, creation_time, last_update_time "
        "FROM experiments WHERE experiment_id = ?",
        (_experiment_int(experiment_id),),
    ).fetchone()
    if row is None:
        raise ExperimentNotFound(f"no experiment with id {experiment_id!r}; see nbtrack.search_experiments()")
    return Experiment(str(row[0]), row[1], row[2], row[3], row[4], experiment_tags(store, row[0]),
                      artifact_root(store.location))


def get_experiment_by_name(store: Store, name: str) -> Experiment | None:
    row = store.conn.execute("SELECT experiment_id FROM experiments WHERE name = ?", (name,)).fetchone()
    return None if row is None else get_experiment(store, str(row[0]))


def experiment_ids(store: Store, names_or_ids: Sequence[str | int]) -> list[str]:
    """The ids of the experiments named (by name, or by id when no experiment has that name):
    the one place a name the user typed becomes an id for reading.

    Example:
        >>> experiment_ids(store, ["customer-sentiment", "1"])  # doctest: +SKIP
        ['2', '1']
    """
    found = []
    for wanted in names_or_ids:
        text = str(wanted)
        experiment = get_experiment_by_name(store, text)
        if experiment is None and text.isdigit():
            row = store.conn.execute("SELECT experiment_id FROM experiments WHERE experiment_id = ?",
                                     (int(text),)).fetchone()
            experiment = None if row is None else get_experiment(store, text)
        if experiment is None:
            raise ExperimentNotFound(f"no experiment named {text!r} in this store; list them with "
                                     "`nbtrack experiments` or nbtrack.search_experiments()")
        found.append(experiment.experiment_id)
    return found


def list_experiments(store: Store) -> list[Experiment]:
    rows = store.conn.execute(
        "SELECT experiment_id, name, lifecycle_stage, creation_time, last_update_time "
        "FROM experiments ORDER BY experiment_id"
    ).fetchall()
    tags = all_experiment_tags(store)
    root = artifact_root(store.location)
    return [Experiment(str(r[0]), r[1], r[2], r[3], r[4], tags.get(str(r[0]), {}), root) for r in rows]


def _experiment_int(experiment_id: str | int) -> int:
    try:
        return int(experiment_id)
    except (TypeError, ValueError):
        raise InvalidInput(f"experiment id {experiment_id!r} is not a number; ids look like '1'") from None


@dataclass(frozen=True)
class RunQuery:
    """What a run search asks for: the one parameter list that every search function shares.

    Example:
        >>> RunQuery("metrics.acc > 0.9", max_results=10).where()[1]  # every user value a parameter
        ['acc', 0.9]
    """

    filter_string: str | None = None
    experiment_ids: Sequence[str] | None = None
    view_type: ViewType | str = ViewType.ACTIVE_ONLY
    order_by: Sequence[str] | None = None
    max_results: int | None = None
    offset: int = 0

    def where(self) -> tuple[str, list[object]]:
        """The WHERE clause (filter, lifecycle view, experiments) and its parameters."""
        sql, args = compile_filter(self.filter_string)
        clauses = [sql]
        view = ViewType(self.view_type)
        if view is ViewType.ACTIVE_ONLY:
            clauses.append("runs.lifecycle_stage = 'active'")
        elif view is ViewType.DELETED_ONLY:
            clauses.append("runs.lifecycle_stage = 'deleted'")
        if self.experiment_ids:
            ids = [_experiment_int(e) for e in self.experiment_ids]
            clauses.append(f"runs.experiment_id IN ({', '.join('?' * len(ids))})")
            args = args + ids
        return " AND ".join(clauses), args


def select_run_pks(store: Store, filter_string: str | RunQuery | None = None,
                   experiment_ids: Sequence[str] | None = None, **options: Any) -> list[int]:
    """Row keys of the runs a search matches, in order: a ``RunQuery``, or its fields.

    Example:
        >>> select_run_pks(store, "params.alpha = '1'", max_results=5)  # doctest: +SKIP
    """
    query = (filter_string if isinstance(filter_string, RunQuery)
             else RunQuery(filter_string, experiment_ids, **options))
    return [row[0] for row in select_runs(store, ("id",), query)]


# Columns select_runs may return; only these names reach SQL (callers pass names, not SQL).
SELECTABLE = frozenset(c.strip().removeprefix("runs.") for c in RUN_COLUMNS.split(","))


def check_selectable(columns: Sequence[str]) -> None:
    unknown = set(columns) - SELECTABLE
    if unknown:
        raise InvalidInput(f"cannot select run columns {sorted(unknown)}")


def select_runs(store: Store, columns: Sequence[str], query: RunQuery) -> list[tuple]:
    """``columns`` of the runs a search matches, in order (inside ``store/``: callers above
    it get named records from ``run_table``, ``runs_by_pk`` or ``wide.wide_runs``)."""
    check_selectable(columns)
    sql, args = search_sql(", ".join(f"runs.{name}" for name in columns), query)
    return store.conn.execute(sql, args).fetchall()


def search_sql(selected: str, query: RunQuery) -> tuple[str, list[object]]:
    """The one place a search becomes SQL: ``SELECT <selected> FROM runs WHERE ... ORDER BY ...
    LIMIT ? OFFSET ?`` with every user value a parameter. ``selected`` is nbtrack's own text."""
    where, args = query.where()
    order_sql, order_args = compile_order_by(list(query.order_by) if query.order_by else None)
    order = f"{order_sql}, {_DEFAULT_ORDER}" if order_sql else _DEFAULT_ORDER
    limit = -1 if query.max_results is None else int(query.max_results)
    return (f"SELECT {selected} FROM runs WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*args, *order_args, limit, int(query.offset)])


def count_runs(store: Store, filter_string: str | None = None,
               experiment_ids: Sequence[str] | None = None, **options: Any) -> int:
    """How many runs match (order, limit and offset do not count)."""
    where, args = RunQuery(filter_string, experiment_ids, **options).where()
    return int(store.conn.execute(f"SELECT count(*) FROM runs WHERE {where}", args).fetchone()[0])


def search_runs(store: Store, filter_string: str | None = None, **options) -> list[Run]:
    """Matching runs as ``Run`` objects, newest first unless ``order_by`` says otherwise."""
    return runs_by_pk(store, select_run_pks(store, filter_string, **options))


def get_run(store: Store, run_id: str) -> Run:
    """One run, with params, last metrics and summaries, tags and data inputs."""
    row = store.conn.execute("SELECT id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise RunNotFound(f"no run {run_id!r} in {store.location.database}")
    return runs_by_pk(store, [row[0]])[0]


def runs_by_pk(store: Store, pks: Sequence[int]) -> list[Run]:
    if not pks:
        return []
    table = run_table(store, pks, include_code=True)
    inputs = dataset_inputs(store, pks)
    runs = []
    for index, pk in enumerate(table.pks):
        params = {k: col[index] for k, col in table.params.items() if col[index] is not None}
        tags = {k: col[index] for k, col in table.tags.items() if col[index] is not None}
        summaries = {k: col[index] for k, col in table.summaries.items() if col[index] is not None}
        data = RunData(params, {k: s.last for k, s in summaries.items()}, tags, summaries)
        runs.append(Run(_info(table.attributes[index], store.location), data, RunInputs(tuple(inputs.get(pk, ())))))
    return runs


def _info(row: RunAttributes, location: StoreLocation) -> RunInfo:
    (_, run_id, experiment_id, name, status, start, end, stage, user, parent, notebook, cell,
     count, previous, source, code, error_type, error_message, error_traceback, host, pid) = row
    error = RunError(error_type, error_message or "", error_traceback) if error_type else None
    return RunInfo(
        run_id=run_id, experiment_id=str(experiment_id), run_name=name, status=RunStatus(status),
        start_time=start, end_time=end, lifecycle_stage=stage, artifact_uri=artifact_uri(location, run_id),
        user_id=user, parent_run_id=parent, notebook_path=notebook, cell_id=cell,
        execution_count=count, previous_run_id=previous, source=source, code=code, error=error,
        host=host, pid=pid,
    )


@dataclass
class RunTable:
    """Runs as columns: ``attributes`` rows in ``pks`` order, and one list per key for
    params, tags and metric summaries (None where a run lacks the key)."""

    pks: list[int]
    attributes: list[RunAttributes]
    params: dict[str, list] = field(default_factory=dict)
    tags: dict[str, list] = field(default_factory=dict)
    summaries: dict[str, list] = field(default_factory=dict)


_CHUNK = 900  # stay under SQLite's default limit of host parameters per statement


def run_table(store: Store, pks: Sequence[int], *, include_code: bool = False) -> RunTable:
    """Fetch the given runs' attributes, params, tags and metric summaries column-wise."""
    pks = list(pks)
    position = {pk: i for i, pk in enumerate(pks)}
    columns = RUN_COLUMNS if include_code else RUN_COLUMNS.replace("runs.code", "NULL")
    attributes: list[RunAttributes] = [None] * len(pks)  # type: ignore[list-item]
    table = RunTable(pks, attributes)
    size = len(pks)
    for query, target in (
        (f"SELECT {columns} FROM runs WHERE runs.id IN ({{marks}})", None),
        ("SELECT run, key, value FROM params WHERE run IN ({marks})", table.params),
        ("SELECT run, key, value FROM tags WHERE run IN ({marks})", table.tags),
        ("SELECT run, key, last_value, last_step, last_timestamp, min_value, max_value, count "
         "FROM metric_summaries WHERE run IN ({marks})", table.summaries),
    ):
        for rows in _chunked_rows(store, query, pks):
            if target is None:
                for row in rows:
                    attributes[position[row[0]]] = RunAttributes._make(row)
            elif target is table.summaries:
                for run, key, last, step, ts, lo, hi, n in rows:
                    column = target.get(key)
                    if column is None:
                        column = target[key] = [None] * size
                    column[position[run]] = MetricSummary(key, _nan(last), step, ts, _nan(lo), _nan(hi), n)
            else:
                for run, key, value in rows:
                    column = target.get(key)
                    if column is None:
                        column = target[key] = [None] * size
                    column[position[run]] = value
    return table


def _chunked_rows(store: Store, query: str, pks: list[int]) -> Iterable[list[tuple]]:
    if len(pks) > _CHUNK * 4:
        with selected_runs(store, pks) as selection:
            yield store.conn.execute(query.format(marks=selection)).fetchall()
        return
    for start in range(0, len(pks), _CHUNK):
        chunk = pks[start : start + _CHUNK]
        yield store.conn.execute(query.format(marks=", ".join("?" * len(chunk))), chunk).fetchall()


@contextlib.contextmanager
def selected_runs(store: Store, pks: Sequence[int]) -> Iterator[str]:
    """A temp table holding ``pks``; yields SQL selecting them (``run IN (<that>)``).

    Filled in one transaction: row by row in autocommit mode, 100,000 ids took seconds.
    The temp database is private to this connection, so read-only stores allow it too.
    """
    conn = store.conn
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS selected_runs (id INTEGER PRIMARY KEY)")
    with transaction(conn):
        conn.execute("DELETE FROM temp.selected_runs")
        conn.executemany("INSERT OR IGNORE INTO temp.selected_runs VALUES (?)", ((pk,) for pk in pks))
    yield "SELECT id FROM temp.selected_runs"


def _nan(value: float | None) -> float:
    """SQLite stores NaN as NULL; every metric value read goes back through here."""
    return math.nan if value is None else value


def dataset_inputs(store: Store, pks: Sequence[int]) -> dict[int, list[DatasetInput]]:
    """The data inputs of each run in ``pks`` (by row key), by name."""
    found: dict[int, list[DatasetInput]] = {}
    query = ("SELECT run, name, context, digest, source, source_type, shape, schema, profile "
             "FROM inputs WHERE run IN ({marks}) ORDER BY name")
    for rows in _chunked_rows(store, query, list(pks)):
        for run, name, context, digest, source, source_type, shape, schema, profile in rows:
            found.setdefault(run, []).append(DatasetInput(
                name=name, digest=digest, source=source, source_type=source_type,
                context=context or None,
                shape=None if shape is None else tuple(json.loads(shape)),
                schema=None if schema is None else json.loads(schema),
                profile=None if profile is None else json.loads(profile),
            ))
    return found


def run_pk(store: Store, run_id: str) -> int:
    row = store.conn.execute("SELECT id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise RunNotFound(f"no run {run_id!r} in {store.location.database}")
    return int(row[0])


def run_ids_starting_with(store: Store, prefix: str, limit: int = 2) -> list[str]:
    """Run ids that start with ``prefix`` (at most ``limit``), for commands that take a short id."""
    return [row[0] for row in store.conn.execute(
        "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? LIMIT ?", (len(prefix), prefix, limit))]


def metric_keys(store: Store, run_id: str) -> list[str]:
    return [r[0] for r in store.conn.execute(
        "SELECT key FROM metric_summaries WHERE run = ? ORDER BY key", (run_pk(store, run_id),))]


def metric_history(store: Store, run_id: str, key: str) -> list[Metric]:
    """Every point of one metric of one run, by step then logging order (NaN as NaN).

    Reads only this (run, key)'s blocks (``metric_blocks``).
    """
    values, steps, stamps, _ = _series_lists(store, run_pk(store, run_id), key)
    return list(map(Metric, [key] * len(values), values, stamps, steps))


def metric_series(store: Store, pk: int, key: str) -> list[MetricPoint]:
    """The points of one series (NaN as None), ordered by step then logging order."""
    values, steps, stamps, has_nan = _series_lists(store, pk, key)
    if has_nan:
        values = [None if v != v else v for v in values]
    return list(map(MetricPoint, values, steps, stamps))


def _series_lists(store: Store, pk: int, key: str) -> tuple[list, list[int], list[int], bool]:
    """(values, steps, timestamps) of a series as Python lists, ordered by step then logging
    order, and whether a value is NaN."""
    from .metric_blocks import series_arrays

    steps, values, stamps = series_arrays(store.conn, pk, key)
    if len(steps) > 1 and (steps[1:] < steps[:-1]).any():
        order = steps.argsort(kind="stable")
        steps, values, stamps = steps[order], values[order], stamps[order]
    return values.tolist(), steps.tolist(), stamps.tolist(), bool((values != values).any())


def list_artifacts(store: Store, run_id: str, path: str | None = None) -> list[FileInfo]:
    """Direct children of ``path`` in a run's artifacts (MLflow's listing shape)."""
    prefix = "" if not path else path.strip("/") + "/"
    rows = store.conn.execute(
        "SELECT path, size, digest FROM artifacts WHERE run = ? AND substr(path, 1, ?) = ? ORDER BY path",
        (run_pk(store, run_id), len(prefix), prefix),
    ).fetchall()
    entries: dict[str, FileInfo] = {}
    for full, size, digest in rows:
        rest = full[len(prefix):]
        head, _, tail = rest.partition("/")
        if tail:
            entries.setdefault(prefix + head, FileInfo(prefix + head, True))
        else:
            entries[full] = FileInfo(full, False, size, digest)
    return list(entries.values())


def artifact_entries(store: Store, run_id: str, path: str | None = None) -> list[ArtifactEntry]:
    """Every ``(path, digest, size)`` at or under ``path`` (recursive), for downloads."""
    prefix = "" if not path else path.strip("/")
    rows = store.conn.execute(
        "SELECT path, digest, size FROM artifacts WHERE run = ? ORDER BY path", (run_pk(store, run_id),)
    ).fetchall()
    return [ArtifactEntry._make(r) for r in rows
            if not prefix or r[0] == prefix or r[0].startswith(prefix + "/")]


def cell_history(store: Store, cell_id: str, notebook_path: str | None = None) -> list[Run]:
    """The runs of one cell, newest first (lineage by cell id; path narrows when given)."""
    rows = store.conn.execute(
        "SELECT id FROM runs WHERE cell_id = ? AND (? IS NULL OR notebook_path = ?) "
        "AND lifecycle_stage = 'active' ORDER BY start_time DESC, id DESC",
        (cell_id, notebook_path, notebook_path),
    ).fetchall()
    return runs_by_pk(store, [r[0] for r in rows])


def lineage(store: Store, run_id: str) -> list[Run]:
    """A run and the runs before it of the same cell, following ``previous_run_id``."""
    chain: list[str] = []
    current: str | None = run_id
    while current and current not in chain and len(chain) < 10_000:
        chain.append(current)
        row = store.conn.execute("SELECT previous_run_id FROM runs WHERE run_id = ?", (current,)).fetchone()
        if row is None:
            if current == run_id:
                raise RunNotFound(f"no run {run_id!r} in {store.location.database}")
            break
        current = row[0]
    pks = [run_pk(store, r) for r in chain]
    return runs_by_pk(store, pks)


def experiment_run_counts(store: Store) -> dict[str, ExperimentActivity]:
    """Per experiment id: active runs, and the start time of the newest."""
    return {
        str(eid): ExperimentActivity(count, last)
        for eid, count, last in store.conn.execute(
            "SELECT experiment_id, count(*), max(start_time) FROM runs "
            "WHERE lifecycle_stage = 'active' GROUP BY experiment_id")
    }


def latest_run_per_cell(store: Store, cell_ids: Sequence[str]) -> dict[str, CellRuns]:
    """Per cell id: (number of active runs, row key of the newest), in one statement per 900 ids.

    The ``runs_by_cell`` index (cell_id, start_time) serves both the count and the newest row.
    """
    found: dict[str, tuple[int, int]] = {}
    ids = list(cell_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for cell, count, pk in store.conn.execute(
            f"""SELECT cell_id, count(*),
                       (SELECT x.id FROM runs x WHERE x.cell_id = runs.cell_id
                        AND x.lifecycle_stage = 'active' ORDER BY x.start_time DESC, x.id DESC LIMIT 1)
                FROM runs WHERE cell_id IN ({marks}) AND lifecycle_stage = 'active'
                GROUP BY cell_id""",
            chunk,
        ):
            found[cell] = CellRuns(count, pk)
    return found
