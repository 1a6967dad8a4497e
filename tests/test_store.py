"""The store itself: schema migrations, refusal of foreign files, metric batches, failed flushes."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
import warnings
from pathlib import Path

import pytest
import sqlite_utils

import nbtrack
from nbtrack.errors import NbtrackWarning, StoreError
from nbtrack.paths import resolve_location
from nbtrack.store import commands, database, queries, write_queue, writer
from nbtrack.store.database import open_store
from nbtrack.store.schema import MIGRATION_NAMES, build_migrations


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_migration_names_match_the_migrations() -> None:
    assert tuple(m.name for m in build_migrations()._migrations) == MIGRATION_NAMES


def test_store_from_an_older_schema_is_migrated_on_open(tmp_path: Path) -> None:
    location = resolve_location(tmp_path)
    location.database.parent.mkdir(parents=True, exist_ok=True)
    old = sqlite_utils.Database(location.database)
    build_migrations().apply(old, stop_before="m002_cell_lineage")  # a store as release 1 wrote it
    old.execute("INSERT INTO experiments (name, creation_time, last_update_time) VALUES ('old', 1, 1)")
    old.execute("INSERT INTO runs (run_id, experiment_id, run_name, status, start_time) "
                "VALUES ('a' || hex(randomblob(15)), 1, 'legacy', 'FINISHED', 1)")
    old.conn.commit()
    old.close()
    assert "cell_id" not in {c[1] for c in sqlite3.connect(location.database).execute("PRAGMA table_info(runs)")}

    with pytest.raises(StoreError, match="older schema"):
        open_store(location, readonly=True)  # a reader never migrates
    store = open_store(location)
    columns = {c[1] for c in store.conn.execute("PRAGMA table_info(runs)")}
    assert {"cell_id", "execution_count", "previous_run_id"} <= columns
    assert [r.info.run_name for r in queries.search_runs(store)] == ["legacy"]
    store.close()


def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    location = resolve_location(tmp_path)
    open_store(location).close()
    conn = sqlite3.connect(location.database)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('nbtrack', 'm999_future', 'x')")
    conn.commit()
    conn.close()
    before = digest(location.database)
    with pytest.raises(StoreError, match="newer nbtrack.*upgrade nbtrack"):
        open_store(location)
    assert digest(location.database) == before


def test_corrupt_file_is_refused_and_never_overwritten(tmp_path: Path) -> None:
    location = resolve_location(tmp_path)
    location.database.parent.mkdir(parents=True, exist_ok=True)
    location.database.write_bytes(b"this is a spreadsheet, not a database" * 100)
    before = digest(location.database)
    with pytest.raises(StoreError, match="not an SQLite file.*move it aside"):
        open_store(location)
    # A real SQLite header over garbage pages is caught by SQLite itself.
    good = tmp_path / "b"
    open_store(resolve_location(good)).close()
    db = good / "nbtrack.db"
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError):
        open_store(resolve_location(good))
    assert digest(location.database) == before


def test_batches_interleaving_runs_keep_each_series_apart(tmp_path: Path) -> None:
    store = open_store(resolve_location(tmp_path))
    experiment = store.execute(commands.GetOrCreateExperiment("e"))
    a = store.execute(writer.new_run_command(experiment))
    b = store.execute(writer.new_run_command(experiment))
    now = time.time()
    rows = [(run.pk, key, float(step), step, now) for step in range(100) for run in (a, b) for key in ("x", "y")]
    store.execute(commands.LogMetrics(rows[:150]))
    store.execute(commands.LogMetrics(rows[150:]))
    for run in (a, b):
        history = queries.metric_history(store, run.run_id, "x")
        assert [m.step for m in history] == list(range(100))
        assert queries.get_run(store, run.run_id).data.metric_summaries["y"].count == 100
    # A batch with many distinct series takes the GROUP BY path; same answers.
    many = [store.execute(writer.new_run_command(experiment)) for _ in range(10)]
    store.execute(commands.LogMetrics([(run.pk, "z", float(i), i, now) for i in range(5) for run in many]))
    assert all(queries.get_run(store, r.run_id).data.metric_summaries["z"].count == 5 for r in many)
    store.close()


def test_failed_background_flush_warns_once_keeps_rows_and_never_raises(
        nbtrack_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 50)  # so a held lock fails fast
    with nbtrack.start_run() as run:
        nbtrack.log_metric("warmup", 0.0)
        nbtrack.flush()
        blocker = sqlite3.connect(nbtrack_home / "nbtrack.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        with pytest.warns(NbtrackWarning, match="kept in memory and retried") as caught:
            for step in range(500):
                nbtrack.log_metric("loss", float(step), step=step)  # never raises
            deadline = time.time() + 10
            while not caught and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # let the flusher retry a few times: still one warning
        assert len([w for w in caught if issubclass(w.category, NbtrackWarning)]) == 1
        blocker.execute("ROLLBACK")
        blocker.close()
        nbtrack.flush()
    assert nbtrack.get_run(run.run_id).data.metric_summaries["loss"].count == 500


def test_write_retrying_backs_off_instead_of_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 20)
    location = resolve_location(tmp_path)
    store = open_store(location)
    blocker = sqlite3.connect(location.database, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, lambda: blocker.execute("ROLLBACK")).start()
    experiment = store.execute(commands.GetOrCreateExperiment("after-the-lock"))  # waits, then succeeds
    assert experiment == "1"
    store.close()


def test_crashed_run_of_a_dead_process_is_marked_on_next_open(nbtrack_home: Path) -> None:
    from conftest import run_python

    result = run_python(
        "import nbtrack, os\n"
        "run = nbtrack.start_run(run_name='doomed')\n"
        "nbtrack.log_metric('x', 1.0); nbtrack.flush()\n"
        "print(run.run_id, flush=True)\n"
        "os._exit(1)  # dies without atexit: like a SIGKILL or a kernel crash\n",
        env={"NBTRACK_HOME": str(nbtrack_home)},
    )
    run_id = result.stdout.strip()
    stored = nbtrack.get_run(run_id)  # opening the store checks open runs' processes
    assert stored.info.status.value == "CRASHED"
    assert stored.info.error.type == "ProcessDied"
    assert stored.data.metrics == {"x": 1.0}


def test_readonly_open_of_missing_store_is_clear(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no nbtrack store"):
        open_store(resolve_location(tmp_path / "nothing"), readonly=True)


def test_buffer_size_threshold_splits_transactions(nbtrack_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write_queue, "BATCH_ROWS", 1000)
    with nbtrack.start_run() as run:
        for step in range(4500):
            nbtrack.log_metric("x", 1.0, step=step)
        nbtrack.flush()
    conn = sqlite3.connect(nbtrack_home / "nbtrack.db")
    chunk_sizes = [r[0] for r in conn.execute("SELECT count FROM metric_blocks ORDER BY id")]
    assert sum(chunk_sizes) == 4500 and max(chunk_sizes) <= 1000
    assert nbtrack.get_run(run.run_id).data.metric_summaries["x"].count == 4500


def test_readonly_open_of_a_folder_with_uri_characters(tmp_path: Path) -> None:
    location = resolve_location(tmp_path / "odd ?#% name")
    open_store(location).close()
    reader = open_store(location, readonly=True)
    assert reader.conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.conn.execute("DELETE FROM runs")
    reader.close()


@pytest.mark.parametrize("series", [1, 2, 12], ids=["one series (folded in Python)", "two", "many"])
def test_batch_summaries_match_the_history_they_fold(tmp_path: Path, series: int) -> None:
    import math
    import random

    store = open_store(resolve_location(tmp_path))
    experiment = store.execute(commands.GetOrCreateExperiment("e"))
    run = store.execute(writer.new_run_command(experiment))
    rng = random.Random(series)
    rows = []
    for i in range(3000):
        value = rng.choice([float("nan"), rng.uniform(-5, 5), float("inf")]) if i % 97 == 0 else rng.uniform(-1, 1)
        rows.append((run.pk, f"k{i % series}", value, rng.choice([i, i, 5, 2999]), 1_700_000_000.0 + i / 1000))
    for start in range(0, len(rows), 1000):  # three batches fold into one summary each
        store.execute(commands.LogMetrics(rows[start:start + 1000]))
    for key in {r[1] for r in rows}:
        mine = [r for r in rows if r[1] == key]
        finite = [r[2] for r in mine if not math.isnan(r[2])]
        top = max(r[3] for r in mine)
        last = [r for r in mine if r[3] == top][-1]
        summary = queries.get_run(store, run.run_id).data.metric_summaries[key]
        assert (summary.count, summary.last_step, summary.min, summary.max) == (len(mine), top, min(finite), max(finite))
        assert summary.last == last[2] or (math.isnan(summary.last) and math.isnan(last[2]))
        assert summary.last_timestamp == int(last[4] * 1000 + 0.5)
        assert len(queries.metric_history(store, run.run_id, key)) == len(mine)
    store.close()


def test_immediate_write_goes_after_the_writers_transaction_on_its_connection(nbtrack_home: Path) -> None:
    """start_run's write waits for this process's writer on a Python lock (released the moment
    the writer commits), not in SQLite's busy handler on a second connection, which sleeps in
    growing steps and so oversleeps."""
    with nbtrack.start_run():
        nbtrack.log_metric("x", 1.0)
    handle = nbtrack.tracking.fluent.store_handle()
    queue = handle.queue
    queue._write_lock.acquire()  # as a drain in progress holds it
    created: list[str] = []

    def second_run() -> None:
        with nbtrack.start_run(run_name="second") as run:
            created.append(run.info.run_id)

    thread = threading.Thread(target=second_run)
    thread.start()
    thread.join(0.3)
    assert thread.is_alive() and not created  # it waits for the writer...
    queue._write_lock.release()
    thread.join(10)
    assert created  # ...and goes in as soon as the writer is done, on the writer's connection
    assert queue._store is not None
    names = set(nbtrack.search_runs()["tags.mlflow.runName"])
    assert "second" in names and len(names) == 2


def test_runs_started_while_a_loop_logs_flat_out_are_all_recorded(nbtrack_home: Path) -> None:
    stop = threading.Event()
    logged: list[int] = []

    def firehose() -> None:
        with nbtrack.start_run(run_name="firehose", nested=True) as run:
            step = 0
            while not stop.is_set():
                nbtrack.MlflowClient().log_metric(run.info.run_id, "loss", 1.0, step=step)
                step += 1
            logged.append(step)

    thread = threading.Thread(target=firehose)
    thread.start()
    try:
        for i in range(50):
            with nbtrack.start_run(run_name=f"short-{i}"):
                nbtrack.log_params({"i": i})
                nbtrack.log_metric("m", float(i))
    finally:
        stop.set()
        thread.join(30)
    nbtrack.flush()
    runs = nbtrack.search_runs()
    assert len(runs) == 51 and set(runs["status"]) == {"FINISHED"}
    short = runs[runs["tags.mlflow.runName"] != "firehose"]
    assert sorted(short["params.i"].astype(int)) == list(range(50))
    firehose_run = runs[runs["tags.mlflow.runName"] == "firehose"].iloc[0]
    assert nbtrack.get_run(firehose_run["run_id"]).data.metric_summaries["loss"].count == logged[0]


def test_deferred_writes_are_waited_for_by_a_read_but_never_by_the_worker_itself(
        nbtrack_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush waits for work a run deferred (ActiveRun.defer), except on the capture worker
    that runs it: a job there waiting for a job queued behind it would wait for ever."""
    from nbtrack.capture.background import capture_worker

    monkeypatch.setattr(write_queue, "EXPECTED_WAIT_LIMIT", 5.0)
    started, deferred_ran, flushed_before_it = threading.Event(), threading.Event(), []
    run = nbtrack.start_run()

    def job_ahead() -> None:
        started.wait(10)
        nbtrack.flush()  # on the worker: must not wait for the deferred job behind it
        flushed_before_it.append(not deferred_ran.is_set())

    capture_worker().submit(job_ahead, "test")
    run.defer(lambda: (run.record_params({"late": "yes"}), deferred_ran.set()), "test deferred")
    started.set()
    nbtrack.end_run()
    with warnings.catch_warnings():
        warnings.simplefilter("error", NbtrackWarning)  # no "flushed without writes" warning
        params = nbtrack.get_run(run.run_id).data.params  # this thread's read waits for it
    assert flushed_before_it == [True] and deferred_ran.is_set() and params == {"late": "yes"}
    assert nbtrack.get_run(run.run_id).info.status.value == "FINISHED"

