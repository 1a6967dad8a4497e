"""Every write nbtrack makes to a store, each one short transaction.

Callers hand in validated values (see ``nbtrack.validation``); this module
turns them into rows. Metric points arrive in batches from the buffer in
``metric_buffer``; their per-run summaries are folded in SQL over the rowid
range the batch just inserted, so the cost is the batch, never the history.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store.database import open_store
    >>> store = open_store(resolve_location(tempfile.mkdtemp()))
    >>> exp = get_or_create_experiment(store, "Default")
    >>> created = create_run(store, exp, run_name="demo")
    >>> end_run(store, created.run_id, "FINISHED")
"""

from __future__ import annotations

import json
import operator
import os
import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..entities import DatasetInput, RunError, RunStatus
from ..errors import InvalidInput, RunNotFound
from .database import Store, now_ms, process_identity

# A run whose heartbeat is older than this (and whose process we cannot see) has crashed.
HEARTBEAT_STALE_MS = 5 * 60 * 1000

MetricRow = tuple[int, str, float, int, float]  # (run pk, key, value, step, time.time() seconds)


@dataclass(frozen=True)
class CreatedRun:
    """What the writer hands back for a new run: its public id and its row key."""

    run_id: str
    pk: int
    experiment_id: str
    run_name: str
    start_time: int


def get_or_create_experiment(store: Store, name: str) -> str:
    """The id (as a string, like MLflow's) of the experiment called ``name``, created if new."""
    row = store.conn.execute("SELECT experiment_id FROM experiments WHERE name = ?", (name,)).fetchone()
    if row:
        return str(row[0])

    def create(conn: sqlite3.Connection) -> str:
        now = now_ms()
        conn.execute(
            "INSERT OR IGNORE INTO experiments (name, creation_time, last_update_time) VALUES (?, ?, ?)",
            (name, now, now),
        )
        return str(conn.execute("SELECT experiment_id FROM experiments WHERE name = ?", (name,)).fetchone()[0])

    return store.write_retrying(create)


def create_run(
    store: Store,
    experiment_id: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    source: str = "api",
    notebook_path: str | None = None,
    cell_id: str | None = None,
    execution_count: int | None = None,
    code: str | None = None,
    user_id: str | None = None,
) -> CreatedRun:
    """Insert a RUNNING run and link it to the previous run of the same cell, if any."""
    run_id = uuid.uuid4().hex
    start = now_ms()
    name = run_name or _default_run_name(run_id)
    host, pid = process_identity()
    user = user_id or _user_name()

    def insert(conn: sqlite3.Connection) -> CreatedRun:
        previous = None
        if cell_id:
            # Same cell in the same notebook first; else the same cell id under another path,
            # so renaming a notebook does not cut its cells' lineage.
            row = conn.execute(
                "SELECT run_id FROM runs WHERE cell_id = ? AND lifecycle_stage = 'active' "
                "ORDER BY (notebook_path IS ?) DESC, start_time DESC, id DESC LIMIT 1",
                (cell_id, notebook_path),
            ).fetchone()
            previous = row[0] if row else None
        cursor = conn.execute(
            """INSERT INTO runs (run_id, experiment_id, run_name, status, start_time, user_id,
                   parent_run_id, source, notebook_path, cell_id, execution_count, previous_run_id,
                   code, host, pid, heartbeat_time)
               VALUES (?, ?, ?, 'RUNNING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (run_id, int(experiment_id), name, start, user, parent_run_id, source, notebook_path,
             cell_id, execution_count, previous, code, host, pid, start),
        )
        pk = int(cursor.lastrowid or 0)
        if tags:
            conn.executemany(
                "INSERT OR REPLACE INTO tags (run, key, value) VALUES (?, ?, ?)",
                [(pk, k, v) for k, v in tags.items()],
            )
        return CreatedRun(run_id, pk, str(experiment_id), name, start)

    return store.write_retrying(insert)


def end_run(store: Store, run_id: str, status: str | RunStatus, error: RunError | None = None) -> None:
    """Close a run with a terminal status (and the error that ended it, if any)."""
    end_time = now_ms()
    store.write_retrying(lambda conn: finish_run(conn, run_id, status, error, end_time))


def finish_run(conn: sqlite3.Connection, run_id: str, status: str | RunStatus,
               error: RunError | None, end_time: int) -> None:
    """The SQL of ending a run, inside the caller's transaction."""
    conn.execute(
        """UPDATE runs SET status = ?, end_time = ?, error_type = ?, error_message = ?,
               error_traceback = ? WHERE run_id = ?""",
        (RunStatus(status).value, end_time, error and error.type, error and error.message,
         error and error.traceback, run_id),
    )


def reopen_run(store: Store, run_id: str) -> None:
    """Mark a finished run RUNNING again (``start_run(run_id=...)`` resumes it)."""
    host, pid = process_identity()
    store.write_retrying(
        lambda conn: conn.execute(
            "UPDATE runs SET status = 'RUNNING', end_time = NULL, host = ?, pid = ?, heartbeat_time = ? "
            "WHERE run_id = ?",
            (host, pid, now_ms(), run_id),
        )
    )


def log_params(store: Store, pk: int, params: Mapping[str, str]) -> None:
    """Record params; re-logging the same value is a no-op, a different value is refused
    (MLflow's rule: a param describes how the run was configured, it does not change)."""

    def insert(conn: sqlite3.Connection) -> None:
        conflict = param_conflict(existing_params(conn, pk, list(params)), params)
        if conflict:
            raise InvalidInput(conflict)
        insert_params(conn, pk, params)

    store.write_retrying(insert)


def existing_params(conn: sqlite3.Connection, pk: int, keys: Sequence[str] | None = None) -> dict[str, str]:
    """A run's stored params (only ``keys`` when given)."""
    if keys is None:
        return dict(conn.execute("SELECT key, value FROM params WHERE run = ?", (pk,)).fetchall())
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(conn.execute(
            f"SELECT key, value FROM params WHERE run = ? AND key IN ({marks})", (pk, *chunk)).fetchall())
    return found


def param_conflict(existing: Mapping[str, str], params: Mapping[str, str]) -> str | None:
    """The one-line refusal for a param whose value would change, or None."""
    for key, value in params.items():
        if key in existing and existing[key] != value:
            return (f"param {key!r} was already logged as {existing[key]!r}; a param cannot change "
                    f"(new value {value!r}): log it under another key or start a new run")
    return None


def insert_params(conn: sqlite3.Connection, pk: int, params: Mapping[str, str]) -> None:
    conn.executemany("INSERT OR IGNORE INTO params (run, key, value) VALUES (?, ?, ?)",
                     [(pk, k, v) for k, v in params.items()])


def set_tags(store: Store, pk: int, tags: Mapping[str, str]) -> None:
    store.write_retrying(lambda conn: upsert_tags(conn, pk, tags))


def upsert_tags(conn: sqlite3.Connection, pk: int, tags: Mapping[str, str]) -> None:
    conn.executemany("INSERT OR REPLACE INTO tags (run, key, value) VALUES (?, ?, ?)",
                     [(pk, k, v) for k, v in tags.items()])


def existing_tags(conn: sqlite3.Connection, pk: int) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM tags WHERE run = ?", (pk,)).fetchall())


def remove_tag(conn: sqlite3.Connection, pk: int, key: str) -> None:
    conn.execute("DELETE FROM tags WHERE run = ? AND key = ?", (pk, key))


def write_metrics(store: Store, rows: Sequence[MetricRow]) -> None:
    """Insert a batch of points and fold it into ``metric_summaries`` (one transaction)."""
    if rows:
        store.write_retrying(lambda conn: insert_metrics(conn, rows))


def insert_metrics(conn: sqlite3.Connection, rows: Sequence[MetricRow]) -> None:
    """The SQL of a metric batch, inside the caller's write transaction.

    ``rows`` are ``(run_pk, key, value, step, seconds)`` as the buffer holds them;
    seconds become MLflow's integer milliseconds in SQL, not in a Python loop.
    NaN binds as NULL (SQLite's rule), which readers map back to NaN.
    """
    if not rows:
        return
    # Inside BEGIN IMMEDIATE no other writer can interleave, so the batch owns every
    # rowid above the current maximum.
    low = conn.execute("SELECT coalesce(max(rowid), 0) FROM metric_history").fetchone()[0]
    conn.executemany(
        "INSERT INTO metric_history (run, key, value, step, timestamp) "
        "VALUES (?1, ?2, ?3, ?4, CAST(?5 * 1000 AS INTEGER))",
        rows,
    )
    _fold_summaries(conn, rows, low)


_SCAN_PER_PAIR_LIMIT = 8
_RUN_AND_KEY = operator.itemgetter(0, 1)
_AGGREGATES = "min(rowid), max(rowid), count(*), min(value), max(value), max(step)"
_AGGREGATE_RANGE = "SELECT " + _AGGREGATES + " FROM metric_history NOT INDEXED WHERE rowid > ?"


def _fold_summaries(conn: sqlite3.Connection, rows: Sequence[MetricRow], low: int) -> None:
    """Fold the batch (every rowid above ``low``) into metric_chunks and metric_summaries.

    One pass groups the batch by (run, key); it never reads older history. The last
    point of a key is the one at the highest step, the latest logged among equals;
    steps usually only grow, so the group's final row is checked first and the range
    is searched only when it is not at the top step.
    """
    pairs = set(map(_RUN_AND_KEY, rows))  # C-level: no per-row slice in Python
    if len(pairs) <= _SCAN_PER_PAIR_LIMIT:
        # A few series per batch (the usual training loop): one ordered range scan each
        # beats sorting the whole batch for a GROUP BY.
        groups = [
            (run, key, *conn.execute(_AGGREGATE_RANGE + " AND run = ? AND key = ?", (low, run, key)).fetchone())
            for run, key in pairs
        ]
    else:
        groups = conn.execute(
            "SELECT run, key, " + _AGGREGATES + " FROM metric_history NOT INDEXED WHERE rowid > ? "
            "GROUP BY run, key",
            (low,),
        ).fetchall()
    chunks, folded = [], []
    for run, key, first, final, n, lo, hi, top_step in groups:
        last = conn.execute(
            "SELECT value, step, timestamp FROM metric_history WHERE rowid = ?", (final,)
        ).fetchone()
        if last[1] != top_step:
            last = conn.execute(
                "SELECT value, step, timestamp FROM metric_history WHERE rowid BETWEEN ? AND ? "
                "AND run = ? AND key = ? AND step = ? ORDER BY rowid DESC LIMIT 1",
                (first, final, run, key, top_step),
            ).fetchone()
        chunks.append((run, key, first, final, n))
        folded.append((run, key, last[0], last[1], last[2], lo, hi, n))
    conn.executemany(
        "INSERT INTO metric_chunks (run, key, first_rowid, last_rowid, count) VALUES (?, ?, ?, ?, ?)",
        chunks,
    )
    conn.executemany(_UPSERT_SUMMARY, folded)


_UPSERT_SUMMARY = """
INSERT INTO metric_summaries
    (run, key, last_value, last_step, last_timestamp, min_value, max_value, count)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run, key) DO UPDATE SET
    last_value = CASE WHEN excluded.last_step >= last_step THEN excluded.last_value ELSE last_value END,
    last_timestamp = CASE WHEN excluded.last_step >= last_step
                          THEN excluded.last_timestamp ELSE last_timestamp END,
    last_step = max(last_step, excluded.last_step),
    min_value = CASE WHEN min_value IS NULL THEN excluded.min_value
                     WHEN excluded.min_value IS NULL THEN min_value
                     ELSE min(min_value, excluded.min_value) END,
    max_value = CASE WHEN max_value IS NULL THEN excluded.max_value
                     WHEN excluded.max_value IS NULL THEN max_value
                     ELSE max(max_value, excluded.max_value) END,
    count = count + excluded.count
"""


def insert_input(conn: sqlite3.Connection, pk: int, dataset: DatasetInput) -> None:
    conn.execute(
        """INSERT OR REPLACE INTO inputs
               (run, name, context, digest, source, source_type, shape, schema, profile)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (pk, dataset.name, dataset.context or "", dataset.digest, dataset.source,
         dataset.source_type,
         None if dataset.shape is None else json.dumps(list(dataset.shape)),
         None if dataset.schema is None else json.dumps(dict(dataset.schema)),
         None if dataset.profile is None else json.dumps(dict(dataset.profile), default=str)),
    )


def insert_artifacts(conn: sqlite3.Connection, pk: int, entries: Sequence[tuple[str, str, int]]) -> None:
    now = now_ms()
    conn.executemany("INSERT OR IGNORE INTO blobs (digest, size, created) VALUES (?, ?, ?)",
                     [(digest, size, now) for _, digest, size in entries])
    conn.executemany("INSERT OR REPLACE INTO artifacts (run, path, digest, size) VALUES (?, ?, ?, ?)",
                     [(pk, path, digest, size) for path, digest, size in entries])


def heartbeat(store: Store, run_ids: Iterable[str]) -> None:
    """Mark runs as still owned by a live process (the flusher calls this periodically)."""
    ids = list(run_ids)
    if ids:
        now = now_ms()
        store.write_retrying(
            lambda conn: conn.executemany(
                "UPDATE runs SET heartbeat_time = ? WHERE run_id = ? AND status = 'RUNNING'",
                [(now, run_id) for run_id in ids],
            )
        )


def mark_crashed_runs(store: Store) -> list[str]:
    """Close RUNNING runs whose process is gone.

    Same host: the recorded pid is checked directly (``os.kill(pid, 0)``), which
    finds a dead kernel at once. Another host (a store on a shared disk): a
    heartbeat older than ``HEARTBEAT_STALE_MS`` counts as dead. A live pid with a
    heartbeat that old is a reused pid, so it counts as dead too.
    """
    host, _ = process_identity()
    now = now_ms()
    open_runs = store.conn.execute(
        "SELECT run_id, host, pid, heartbeat_time FROM runs WHERE status = 'RUNNING'"
    ).fetchall()
    dead = []
    for run_id, run_host, pid, beat in open_runs:
        stale = beat is None or now - beat > HEARTBEAT_STALE_MS
        if run_host == host and pid is not None:
            if not _pid_alive(pid) or stale:
                dead.append(run_id)
        elif stale:
            dead.append(run_id)
    if dead:
        store.write_retrying(
            lambda conn: conn.executemany(
                """UPDATE runs SET status = 'CRASHED', end_time = coalesce(heartbeat_time, start_time),
                       error_type = 'ProcessDied',
                       error_message = 'the process that owned this run ended without closing it'
                   WHERE run_id = ? AND status = 'RUNNING'""",
                [(run_id,) for run_id in dead],
            )
        )
    return dead


def delete_run(store: Store, run_id: str) -> None:
    def mark(conn: sqlite3.Connection) -> None:
        if conn.execute(
            "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ? WHERE run_id = ?",
            (now_ms(), run_id),
        ).rowcount == 0:
            raise RunNotFound(f"no run {run_id!r} to delete")

    store.write_retrying(mark)


def restore_run(store: Store, run_id: str) -> None:
    def mark(conn: sqlite3.Connection) -> None:
        if conn.execute(
            "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE run_id = ?",
            (run_id,),
        ).rowcount == 0:
            raise RunNotFound(f"no run {run_id!r} to restore")

    store.write_retrying(mark)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


_ADJECTIVES = ("amber", "bold", "calm", "deft", "eager", "fond", "glad", "keen", "lucid", "merry",
               "noble", "quiet", "rapid", "sharp", "tidy", "vivid", "wise", "young", "zesty", "brisk")
_NOUNS = ("otter", "heron", "maple", "comet", "ember", "fjord", "grove", "lynx", "mesa", "nova",
          "orca", "pine", "quartz", "raven", "sage", "tern", "umber", "vale", "wren", "yak")


def _default_run_name(run_id: str) -> str:
    """A readable default name derived from the id (stable, no randomness of its own)."""
    number = int(run_id[:8], 16)
    return f"{_ADJECTIVES[number % 20]}-{_NOUNS[(number // 20) % 20]}-{number % 1000}"


def _user_name() -> str | None:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return os.environ.get("USER")
