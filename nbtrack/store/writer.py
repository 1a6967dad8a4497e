"""The SQL of every write: one handler per command of ``store.commands``.

Handlers run inside a write transaction the caller (the write queue, or
``StoreHandle.execute``) opened; they never commit. Values arrive validated
(see ``nbtrack.validation``). Metric points arrive in batches from the write
queue and are stored as packed blocks (``metric_blocks``); their per-run
summaries are folded from the batch in hand, so the cost is the batch, never
the history.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store.database import open_store
    >>> from nbtrack.store import commands
    >>> store = open_store(resolve_location(tempfile.mkdtemp()))
    >>> exp = store.execute(commands.GetOrCreateExperiment("Default"))
    >>> created = store.execute(new_run_command(exp, run_name="demo"))
    >>> store.execute(commands.EndRun(created.run_id, RunStatus.FINISHED, now_ms()))
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..entities import RunStatus
from ..errors import InvalidInput, RunNotFound
from . import commands as cmd
from . import run_columns
from .commands import handles
from .database import Store, now_ms, process_identity
from .metric_blocks import write_points

# A run whose heartbeat is older than this (and whose process we cannot see) has crashed.
HEARTBEAT_STALE_MS = 5 * 60 * 1000

MetricRow = cmd.MetricRow


@dataclass(frozen=True)
class CreatedRun:
    """What creating a run hands back: its public id and its row key."""

    run_id: str
    pk: int
    experiment_id: str
    run_name: str
    start_time: int


@handles(cmd.GetOrCreateExperiment)
def _get_or_create_experiment(conn: sqlite3.Connection, command: cmd.GetOrCreateExperiment) -> str:
    find = "SELECT experiment_id FROM experiments WHERE name = ?"
    row = conn.execute(find, (command.name,)).fetchone()
    if row is None:  # looked up first: every start_run passes here, and the name is there
        now = now_ms()
        conn.execute("INSERT OR IGNORE INTO experiments (name, creation_time, last_update_time) "
                     "VALUES (?, ?, ?)",
                     (command.name, now, now))
        row = conn.execute(find, (command.name,)).fetchone()
    return str(row[0])


def new_run_command(
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
    experiment_name: str | None = None,
) -> cmd.CreateRun:
    """A ``CreateRun`` with a fresh id, the time now and this process as its owner."""
    run_id = uuid.uuid4().hex
    host, pid = process_identity()
    return cmd.CreateRun(
        experiment_id=str(experiment_id), run_id=run_id, run_name=run_name or _default_run_name(run_id),
        start_time=now_ms(), user_id=user_id or _user_name(), host=host, pid=pid,
        tags=dict(tags or {}), parent_run_id=parent_run_id, source=source,
        notebook_path=notebook_path, cell_id=cell_id, execution_count=execution_count, code=code,
        experiment_name=experiment_name,
    )


def _experiment_number(experiment_id: str) -> int:
    try:
        return int(experiment_id)
    except ValueError:
        raise InvalidInput(f"experiment id {experiment_id!r} is not a number; ids look like '1'") from None


@handles(cmd.CreateRun)
def _create_run(conn: sqlite3.Connection, c: cmd.CreateRun) -> CreatedRun:
    """Insert a RUNNING run and link it to the previous run of the same cell, if any."""
    previous = None
    if c.cell_id:
        # Same cell in the same notebook first; else the same cell id under another path,
        # so renaming a notebook does not cut its cells' lineage.
        row = conn.execute(
            "SELECT run_id FROM runs WHERE cell_id = ? AND lifecycle_stage = 'active' "
            "ORDER BY (notebook_path IS ?) DESC, start_time DESC, id DESC LIMIT 1",
            (c.cell_id, c.notebook_path),
        ).fetchone()
        previous = row[0] if row else None
    if c.experiment_name is not None:
        experiment = int(_get_or_create_experiment(conn, cmd.GetOrCreateExperiment(c.experiment_name)))
    else:
        experiment = _experiment_number(c.experiment_id)
        if conn.execute("SELECT 1 FROM experiments WHERE experiment_id = ?", (experiment,)).fetchone() is None:
            raise InvalidInput(f"no experiment with id {c.experiment_id!r}; see nbtrack.search_experiments()")
    cursor = conn.execute(
        """INSERT INTO runs (run_id, experiment_id, run_name, status, start_time, user_id,
               parent_run_id, source, notebook_path, cell_id, execution_count, previous_run_id,
               code, host, pid, heartbeat_time)
           VALUES (?, ?, ?, 'RUNNING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (c.run_id, experiment, c.run_name, c.start_time, c.user_id, c.parent_run_id, c.source,
         c.notebook_path, c.cell_id, c.execution_count, previous, c.code, c.host, c.pid, c.start_time),
    )
    pk = int(cursor.lastrowid or 0)
    if c.tags:
        conn.executemany("INSERT OR REPLACE INTO tags (run, key, value) VALUES (?, ?, ?)",
                         [(pk, k, v) for k, v in c.tags.items()])
    return CreatedRun(c.run_id, pk, str(experiment), c.run_name, c.start_time)


@handles(cmd.EndRun)
def _end_run(conn: sqlite3.Connection, c: cmd.EndRun) -> None:
    error = c.error
    conn.execute(
        """UPDATE runs SET status = ?, end_time = ?, error_type = ?, error_message = ?,
               error_traceback = ? WHERE run_id = ?""",
        (RunStatus(c.status).value, c.end_time, error and error.type, error and error.message,
         error and error.traceback, c.run_id),
    )


@handles(cmd.ReopenRun)
def _reopen_run(conn: sqlite3.Connection, c: cmd.ReopenRun) -> None:
    if conn.execute(
        "UPDATE runs SET status = 'RUNNING', end_time = NULL, host = ?, pid = ?, heartbeat_time = ? "
        "WHERE run_id = ?",
        (c.host, c.pid, c.time, c.run_id),
    ).rowcount == 0:
        raise RunNotFound(f"no run {c.run_id!r} to resume")


@handles(cmd.SetParams)
def _set_params(conn: sqlite3.Connection, c: cmd.SetParams) -> None:
    """Re-logging the same value is a no-op, a different value is refused (MLflow's rule: a
    param describes how the run was configured, it does not change)."""
    conflict = param_conflict(existing_params(conn, c.run, list(c.params)), c.params)
    if conflict:
        raise InvalidInput(conflict)
    conn.executemany("INSERT OR IGNORE INTO params (run, key, value) VALUES (?, ?, ?)",
                     [(c.run, k, v) for k, v in c.params.items()])
    run_columns.mark(conn, (c.run,))


def existing_params(conn: sqlite3.Connection, pk: int, keys: Sequence[str]) -> dict[str, str]:
    """A run's stored values of the params ``keys``."""
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


@handles(cmd.SetTags)
def _set_tags(conn: sqlite3.Connection, c: cmd.SetTags) -> None:
    conn.executemany("INSERT OR REPLACE INTO tags (run, key, value) VALUES (?, ?, ?)",
                     [(c.run, k, v) for k, v in c.tags.items()])
    run_columns.mark(conn, (c.run,))


@handles(cmd.DeleteTag)
def _delete_tag(conn: sqlite3.Connection, c: cmd.DeleteTag) -> None:
    conn.execute("DELETE FROM tags WHERE run = ? AND key = ?", (c.run, c.key))


@handles(cmd.LogMetrics)
def _log_metrics(conn: sqlite3.Connection, c: cmd.LogMetrics) -> None:
    insert_metrics(conn, c.rows)


def insert_metrics(conn: sqlite3.Connection, rows: Sequence[MetricRow]) -> None:
    """The SQL of a metric batch, inside the caller's write transaction.

    ``rows`` are ``(run_pk, key, value, step, seconds)`` as the queue holds them. Each
    (run, key) of the batch becomes one packed block (``metric_blocks``; seconds become
    MLflow's integer milliseconds, to the nearest) and its summary is folded from the rows
    in hand, with C-level passes (numpy), never by reading the history back.
    """
    if not rows:
        return
    folded = write_points(conn, rows)
    conn.executemany(_UPSERT_SUMMARY, folded)
    run_columns.mark(conn, (fold[0] for fold in folded))


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


@handles(cmd.RecordInput)
def _record_input(conn: sqlite3.Connection, c: cmd.RecordInput) -> None:
    dataset = c.dataset
    conn.execute(
        """INSERT OR REPLACE INTO inputs
               (run, name, context, digest, source, source_type, shape, schema, profile)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (c.run, dataset.name, dataset.context or "", dataset.digest, dataset.source,
         dataset.source_type,
         None if dataset.shape is None else json.dumps(list(dataset.shape)),
         None if dataset.schema is None else json.dumps(dict(dataset.schema)),
         None if dataset.profile is None else json.dumps(dict(dataset.profile), default=str)),
    )


@handles(cmd.RecordArtifacts)
def _record_artifacts(conn: sqlite3.Connection, c: cmd.RecordArtifacts) -> None:
    conn.executemany("INSERT OR IGNORE INTO blobs (digest, size, created) VALUES (?, ?, ?)",
                     [(e.digest, e.size, c.time) for e in c.entries])
    conn.executemany("INSERT OR REPLACE INTO artifacts (run, path, digest, size) VALUES (?, ?, ?, ?)",
                     [(c.run, e.path, e.digest, e.size) for e in c.entries])


@handles(cmd.Heartbeat)
def _heartbeat(conn: sqlite3.Connection, c: cmd.Heartbeat) -> None:
    conn.executemany("UPDATE runs SET heartbeat_time = ? WHERE run_id = ? AND status = 'RUNNING'",
                     [(c.time, run_id) for run_id in c.run_ids])


def crashed_runs(store: Store) -> tuple[str, ...]:
    """RUNNING runs whose process is gone.

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
    return tuple(dead)


@handles(cmd.MarkCrashed)
def _mark_crashed(conn: sqlite3.Connection, c: cmd.MarkCrashed) -> None:
    conn.executemany(
        """UPDATE runs SET status = 'CRASHED', end_time = coalesce(heartbeat_time, start_time),
               error_type = 'ProcessDied',
               error_message = 'the process that owned this run ended without closing it'
           WHERE run_id = ? AND status = 'RUNNING'""",
        [(run_id,) for run_id in c.run_ids],
    )


def mark_crashed_runs(store: Store) -> list[str]:
    """Close RUNNING runs whose process is gone; returns their ids."""
    dead = crashed_runs(store)
    if dead:
        store.execute(cmd.MarkCrashed(dead))
    return list(dead)


@handles(cmd.SetLifecycle)
def _set_lifecycle(conn: sqlite3.Connection, c: cmd.SetLifecycle) -> None:
    deleted_time = c.time if c.stage == "deleted" else None
    if c.stage == "deleted":
        _refuse_if_registered(conn, c.run_id)
    if conn.execute(
        "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_id = ?",
        (c.stage, deleted_time, c.run_id),
    ).rowcount == 0:
        raise RunNotFound(f"no run {c.run_id!r} to {'delete' if c.stage == 'deleted' else 'restore'}")


def _refuse_if_registered(conn: sqlite3.Connection, run_id: str) -> None:
    """A run whose model is a live registered version stays: deleting it would let ``gc``
    remove the files the version loads from (MLflow allows it, mlflow#3160)."""
    from .registry import DELETED_STAGE  # registry registers its handlers after this module

    versions = conn.execute(
        "SELECT name, version FROM model_versions WHERE run_id = ? AND current_stage != ? "
        "ORDER BY name, version", (run_id, DELETED_STAGE)).fetchall()
    if versions:
        named = ", ".join(f"{name} v{version}" for name, version in versions)
        raise InvalidInput(
            f"run {run_id} is the source of registered model version(s) {named}; delete those versions "
            f"first (MlflowClient().delete_model_version(name, version)), then the run")


@handles(cmd.RenameRun)
def _rename_run(conn: sqlite3.Connection, c: cmd.RenameRun) -> None:
    row = conn.execute("SELECT id FROM runs WHERE run_id = ?", (c.run_id,)).fetchone()
    if row is None:
        raise RunNotFound(f"no run {c.run_id!r} to rename")
    conn.execute("UPDATE runs SET run_name = ? WHERE id = ?", (c.name, row[0]))
    conn.execute("INSERT OR REPLACE INTO tags (run, key, value) VALUES (?, 'mlflow.runName', ?)", (row[0], c.name))
    run_columns.mark(conn, (row[0],))


@handles(cmd.PurgeRuns)
def _purge_runs(conn: sqlite3.Connection, c: cmd.PurgeRuns) -> None:
    pks = [(pk,) for pk in c.runs]
    for table in ("params", "tags", "metric_blocks", "metric_summaries", "inputs", "artifacts", "logged_models",
                  "remote_runs", "remote_artifacts"):
        conn.executemany(f"DELETE FROM {table} WHERE run = ?", pks)
    conn.executemany("DELETE FROM runs WHERE id = ?", pks)


@handles(cmd.ForgetBlobs)
def _forget_blobs(conn: sqlite3.Connection, c: cmd.ForgetBlobs) -> None:
    conn.executemany("DELETE FROM blobs WHERE digest = ?", [(d,) for d in c.digests])


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
    """``getpass.getuser()``: the environment's name, else the passwd entry (looked up once:
    it cost more than the rest of a run's tags)."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        name = os.environ.get(variable)
        if name:
            return name
    return _passwd_user_name()


@functools.lru_cache(maxsize=1)
def _passwd_user_name() -> str | None:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return None
