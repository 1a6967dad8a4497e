"""Moving runs between stores: read a run whole, write it into another store as it was.

A run travels as a :class:`RunRecord` (its attributes, params, tags, every metric
point, data inputs and artifact entries, with the experiment's *name*, since ids
differ between stores) inside a :class:`RunBundle` that also carries the bytes of
the blobs its artifacts point at, so a bundle can cross a process or a machine
(a sweep's worker sends its runs back this way; an MLflow import can build the
same records).

Writing is idempotent by ``run_id``: a run the target already holds is left as it
is, except a ``SCHEDULED`` placeholder (a sweep's execution that was planned but
not started), which the incoming run fills. Times, statuses and errors are kept.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store.handle import StoreHandle
    >>> source = StoreHandle(resolve_location(tempfile.mkdtemp()))
    >>> bundle = export_bundle(source)  # an empty store: nothing to carry
    >>> bundle.records
    ()
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NamedTuple

from ..entities import DatasetInput, RunStatus
from ..errors import InvalidInput
from . import artifacts as blobs
from . import run_columns
from .commands import ArtifactEntry, WriteCommand, handles
from .database import Store
from .metric_blocks import run_point_records
from .writer import insert_metrics

if TYPE_CHECKING:  # pragma: no cover
    from .handle import StoreHandle


class MetricPointRecord(NamedTuple):
    """One metric point as stored: NaN is None, the timestamp in milliseconds."""

    key: str
    value: float | None
    step: int
    timestamp: int


@dataclass(frozen=True)
class RunRecord:
    """Everything one run holds, independent of the store it came from."""

    run_id: str
    experiment_name: str
    run_name: str
    status: str
    start_time: int
    end_time: int | None = None
    lifecycle_stage: str = "active"
    user_id: str | None = None
    parent_run_id: str | None = None
    source: str | None = None
    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    previous_run_id: str | None = None
    code: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None
    host: str | None = None
    pid: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: tuple[MetricPointRecord, ...] = ()
    inputs: tuple[DatasetInput, ...] = ()
    artifacts: tuple[ArtifactEntry, ...] = ()

    def last_metrics(self) -> dict[str, float | None]:
        """The value at the highest step of each metric (the latest logged among equals)."""
        last: dict[str, MetricPointRecord] = {}
        for point in self.metrics:
            held = last.get(point.key)
            if held is None or point.step >= held.step:
                last[point.key] = point
        return {key: point.value for key, point in last.items()}


@dataclass(frozen=True)
class RunBundle:
    """Runs plus the blob bytes their artifacts need: what a worker sends back."""

    records: tuple[RunRecord, ...] = ()
    blobs: Mapping[str, bytes] = field(default_factory=dict)


class ImportedRun(NamedTuple):
    """What writing one record did: its row key, and whether anything was written."""

    run_id: str
    pk: int
    written: bool


# --- reading ------------------------------------------------------------------------------


def read_runs(store: Store, run_ids: Sequence[str] | None = None, *,
              with_metrics: bool = True) -> list[RunRecord]:
    """The records of ``run_ids`` (every run when None), oldest first so parents precede children;
    ``with_metrics=False`` leaves the points out (a push streams them)."""
    # Imported here: queries imports commands, which imports this module for its handler.
    from .queries import RUN_COLUMNS, RunAttributes, dataset_inputs

    if run_ids is None:
        pks = [r[0] for r in store.conn.execute("SELECT id FROM runs ORDER BY start_time, id")]
    else:
        pks = []
        for run_id in run_ids:
            row = store.conn.execute("SELECT id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise InvalidInput(f"no run {run_id!r} in {store.location.database} to transfer")
            pks.append(row[0])
    inputs = dataset_inputs(store, pks) if pks else {}
    records = []
    for pk in pks:
        row = RunAttributes._make(store.conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE runs.id = ?", (pk,)).fetchone())
        experiment = store.conn.execute(
            "SELECT name FROM experiments WHERE experiment_id = ?", (row.experiment_id,)).fetchone()[0]
        records.append(RunRecord(
            run_id=row.run_id, experiment_name=experiment, run_name=row.run_name, status=row.status,
            start_time=row.start_time, end_time=row.end_time, lifecycle_stage=row.lifecycle_stage,
            user_id=row.user_id, parent_run_id=row.parent_run_id, source=row.source,
            notebook_path=row.notebook_path, cell_id=row.cell_id, execution_count=row.execution_count,
            previous_run_id=row.previous_run_id, code=row.code, error_type=row.error_type,
            error_message=row.error_message, error_traceback=row.error_traceback, host=row.host,
            pid=row.pid,
            params=dict(store.conn.execute("SELECT key, value FROM params WHERE run = ?", (pk,))),
            tags=dict(store.conn.execute("SELECT key, value FROM tags WHERE run = ?", (pk,))),
            metrics=tuple(map(MetricPointRecord._make, run_point_records(store.conn, pk)))
            if with_metrics else (),
            inputs=tuple(inputs.get(pk, ())),
            artifacts=tuple(ArtifactEntry._make(r) for r in store.conn.execute(
                "SELECT path, digest, size FROM artifacts WHERE run = ? ORDER BY path", (pk,))),
        ))
    return records


def export_bundle(handle: StoreHandle, run_ids: Sequence[str] | None = None) -> RunBundle:
    """A bundle of ``run_ids`` (every run when None) from the store behind ``handle``, blobs included.

    An empty or missing store gives an empty bundle.
    """
    if not handle.exists:
        return RunBundle()
    store = handle.read()
    records = read_runs(store, run_ids)
    data: dict[str, bytes] = {}
    for record in records:
        for entry in record.artifacts:
            if entry.digest not in data:
                data[entry.digest] = blobs.blob_path(store, entry.digest).read_bytes()
    return RunBundle(tuple(records), data)


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportRun(WriteCommand):
    """Write one run as recorded elsewhere; the result is an :class:`ImportedRun`.

    Its artifact blobs must already be in the target store (``import_bundle`` puts them
    first). A run the store holds already is left alone unless it is ``SCHEDULED``.
    """

    record: RunRecord

    def describe(self) -> str:
        return f"import of run {self.record.run_id} ({self.record.run_name!r})"


_RUN_FIELDS = ("experiment_id", "run_name", "status", "start_time", "end_time", "lifecycle_stage",
               "user_id", "parent_run_id", "source", "notebook_path", "cell_id", "execution_count",
               "previous_run_id", "code", "error_type", "error_message", "error_traceback", "host",
               "pid", "heartbeat_time")


@handles(ImportRun)
def _import_run(conn: sqlite3.Connection, c: ImportRun) -> ImportedRun:
    r = c.record
    RunStatus(r.status)  # refuse a status nbtrack does not know
    existing = conn.execute("SELECT id, status FROM runs WHERE run_id = ?", (r.run_id,)).fetchone()
    if existing is not None and existing[1] != RunStatus.SCHEDULED.value:
        return ImportedRun(r.run_id, existing[0], False)
    now = r.end_time or r.start_time
    conn.execute(
        "INSERT OR IGNORE INTO experiments (name, creation_time, last_update_time) VALUES (?, ?, ?)",
        (r.experiment_name, now, now))
    experiment = conn.execute(
        "SELECT experiment_id FROM experiments WHERE name = ?", (r.experiment_name,)).fetchone()[0]
    values = (experiment, r.run_name, r.status, r.start_time, r.end_time, r.lifecycle_stage,
              r.user_id, r.parent_run_id, r.source, r.notebook_path, r.cell_id, r.execution_count,
              r.previous_run_id, r.code, r.error_type, r.error_message, r.error_traceback, r.host,
              r.pid, r.end_time or r.start_time)
    if existing is None:
        cursor = conn.execute(
            f"INSERT INTO runs (run_id, {', '.join(_RUN_FIELDS)}) "
            f"VALUES (?, {', '.join('?' * len(_RUN_FIELDS))})", (r.run_id, *values))
        pk = int(cursor.lastrowid or 0)
    else:
        pk = existing[0]
        conn.execute(f"UPDATE runs SET {', '.join(f + ' = ?' for f in _RUN_FIELDS)} WHERE id = ?",
                     (*values, pk))
    conn.executemany("INSERT OR IGNORE INTO params (run, key, value) VALUES (?, ?, ?)",
                     [(pk, k, v) for k, v in r.params.items()])
    conn.executemany("INSERT OR REPLACE INTO tags (run, key, value) VALUES (?, ?, ?)",
                     [(pk, k, v) for k, v in r.tags.items()])
    run_columns.mark(conn, (pk,))
    if r.metrics and conn.execute("SELECT 1 FROM metric_summaries WHERE run = ? LIMIT 1",
                                  (pk,)).fetchone() is None:
        # Milliseconds travel as seconds through the batch insert (its unit), which rounds
        # back to the nearest millisecond.
        insert_metrics(conn, [(pk, p.key, p.value, p.step, p.timestamp / 1000) for p in r.metrics])
    from .commands import RecordArtifacts, RecordInput, apply

    for dataset in r.inputs:
        apply(conn, RecordInput(pk, dataset))
    if r.artifacts:
        apply(conn, RecordArtifacts(pk, tuple(r.artifacts), now))
    return ImportedRun(r.run_id, pk, True)


def import_bundle(handle: StoreHandle, bundle: RunBundle, *,
                  tags: Mapping[str, str] | None = None) -> list[ImportedRun]:
    """Write every run of ``bundle`` into the store behind ``handle`` (a ``StoreHandle``).

    Blobs go first (checked against their digest), then one ``ImportRun`` per record, in
    the bundle's order. ``tags`` are added to every imported run. Running it twice
    writes nothing the second time.

    Example:
        >>> import_bundle(store_handle(), worker_bundle)  # doctest: +SKIP
        [ImportedRun(run_id='3f…', pk=12, written=True)]
    """
    for digest, data in bundle.blobs.items():
        if hashlib.sha256(data).hexdigest() != digest:
            raise InvalidInput(f"blob {digest[:12]}… arrived damaged (its bytes do not match its digest)")
        if not handle.has_blob(digest):
            handle.put_bytes(data)
    handle.flush()  # the store's own queued writes first, so a placeholder is in place
    done = []
    for record in bundle.records:
        if tags:
            record = replace(record, tags={**record.tags, **tags})
        done.append(handle.execute(ImportRun(record)))
    return done


def records_by_parent(records: Iterable[RunRecord], parent_run_id: str) -> list[RunRecord]:
    """The records whose parent is ``parent_run_id``, oldest first."""
    return sorted((r for r in records if r.parent_run_id == parent_run_id), key=lambda r: r.start_time)
