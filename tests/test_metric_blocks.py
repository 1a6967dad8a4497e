"""Metric points as packed blocks (migration m005_metric_blocks, store/metric_blocks.py)."""

from __future__ import annotations

import math
import sqlite3
import struct
from pathlib import Path

import sqlite_utils

import nbtrack
from nbtrack.paths import resolve_location
from nbtrack.store import metric_blocks, queries, sync, transfer
from nbtrack.store.database import open_store
from nbtrack.store.metric_downsample import downsample_series
from nbtrack.store.schema import build_migrations
from nbtrack.store.writer import insert_metrics

NAN, INF = float("nan"), float("inf")


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def _old_store(path: Path) -> Path:
    """A store as m004 wrote it: two runs, interleaved series with NaN (NULL), ±inf, huge
    steps and millisecond timestamps in metric_history, one run partly pushed."""
    location = resolve_location(path)
    location.database.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(location.database)
    build_migrations().apply(sqlite_utils.Database(conn), stop_before="m005_metric_blocks")
    conn.execute("INSERT INTO experiments VALUES (1, 'Default', 'active', 0, 0)")
    for pk in (1, 2):
        conn.execute("INSERT INTO runs (id, run_id, experiment_id, run_name, status, start_time) "
                     "VALUES (?, ?, 1, ?, 'FINISHED', 0)", (pk, f"{pk:032x}", f"r{pk}"))
    rows = []
    for i in range(300):
        rows.append((1, "a", [1.5, None, INF, -INF, 2.0 ** -1074][i % 5], 2 ** 62 - i, 1_700_000_000_000 + i))
        rows.append((1, "b", float(i), i, 1_700_000_000_000 + 7 * i))
        if i % 3 == 0:
            rows.append((2, "a", -float(i) - 0.5, i // 2, 5))
    conn.executemany("INSERT INTO metric_history (run, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)", rows)
    # the chunks as the old writer recorded them (one per series over the whole range)
    conn.execute("INSERT INTO metric_chunks SELECT run, key, min(rowid), max(rowid), count(*) "
                 "FROM metric_history GROUP BY run, key")
    conn.execute("INSERT INTO metric_summaries VALUES (1, 'a', 1.5, 0, 0, -1, 1, 300)")
    # a push of run 1 that stopped at rowid 250, and one of run 2 that sent everything
    conn.execute("INSERT INTO remote_runs VALUES ('http://x', 1, 'r1', 'push', 250, NULL, 0)")
    conn.execute("INSERT INTO remote_runs VALUES ('http://x', 2, 'r2', 'push', 100000, 'm', 0)")
    conn.commit()
    conn.close()
    return location.database, rows


def test_an_m004_store_upgrades_with_every_point_in_order(tmp_path: Path) -> None:
    database, rows = _old_store(tmp_path / "old")
    store = open_store(resolve_location(tmp_path / "old"))
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "metric_blocks" in tables and not {"metric_history", "metric_chunks"} & tables
    for pk, key in ((1, "a"), (1, "b"), (2, "a")):
        logged = [r for r in rows if r[0] == pk and r[1] == key]
        steps, values, stamps = metric_blocks.series_arrays(store.conn, pk, key)
        assert steps.tolist() == [r[3] for r in logged]
        assert stamps.tolist() == [r[4] for r in logged]
        for read, (_, _, value, _, _) in zip(values.tolist(), logged):
            assert math.isnan(read) if value is None else bits(read) == bits(value)
    history = queries.metric_history(store, f"{1:032x}", "a")
    assert [m.step for m in history] == sorted(r[3] for r in rows if r[:2] == (1, "a"))  # by step
    assert math.isnan(history[-2].value)  # NULL came back NaN (i = 1 holds step 2**62 - 1)
    assert store.conn.execute("SELECT count(*) FROM metric_summaries").fetchone()[0] == 1  # kept as is
    store.close()


def test_an_old_push_mark_still_names_exactly_the_points_sent(tmp_path: Path) -> None:
    _, rows = _old_store(tmp_path / "old")
    store = open_store(resolve_location(tmp_path / "old"))
    state = sync.push_state(store, "http://x")
    numbered = [(rowid, *row) for rowid, row in enumerate(rows, start=1)]
    for pk, mark in ((1, 250), (2, 10 ** 9)):
        after = list(sync.metric_points_after(store, pk, state[pk].metric_position))
        expected = [(key, step) for rowid, run, key, _, step, _ in numbered if run == pk and rowid > mark]
        assert sorted((key, step) for _, key, _, step, _ in after) == sorted(expected)
        everything = list(sync.metric_points_after(store, pk, 0))
        assert len(everything) == sum(1 for r in rows if r[0] == pk)
        # and each series keeps its logging order across the cut
        for key in ("a", "b"):
            assert [s for _, k, _, s, _ in everything if k == key] == [r[3] for r in rows if r[:2] == (pk, key)]
    store.close()


def test_blocks_round_trip_nan_infinities_negative_zero_and_huge_steps(nbtrack_home: Path) -> None:
    values = [NAN, INF, -INF, -0.0, 0.0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2]
    steps = [-(2 ** 63), 2 ** 63 - 1, 0, -1, 1, 2 ** 53 + 1, 7, 7]
    with nbtrack.start_run() as run:
        for value, step in zip(values, steps):
            nbtrack.log_metric("x", value, step=step, timestamp=1_700_000_000_123)
    nbtrack.flush()
    store = open_store(resolve_location(nbtrack_home), readonly=True)
    pk = queries.run_pk(store, run.info.run_id)
    got_steps, got_values, got_stamps = metric_blocks.series_arrays(store.conn, pk, "x")
    assert got_steps.tolist() == steps and set(got_stamps.tolist()) == {1_700_000_000_123}
    assert [bits(v) for v in got_values.tolist()[1:]] == [bits(v) for v in values[1:]]
    assert math.isnan(got_values[0])
    history = nbtrack.Client().get_metric_history(run.info.run_id, "x")
    assert [m.step for m in history] == sorted(steps)
    assert bits(next(m.value for m in history if m.step == -1)) == bits(-0.0)  # the sign survives
    series = queries.metric_series(store, pk, "x")
    assert series[0].value is None and series[-1].value == INF  # NaN is None in a series
    summary = nbtrack.get_run(run.info.run_id).data.metric_summaries["x"]
    assert (summary.count, summary.min, summary.max, summary.last_step) == (8, -INF, INF, 2 ** 63 - 1)
    store.close()


def test_the_blob_layout_is_the_documented_one(nbtrack_home: Path) -> None:
    with nbtrack.start_run():
        for step in range(3):
            nbtrack.log_metric("loss", step / 4, step=10 * step, timestamp=1000 + step)
    nbtrack.flush()
    conn = sqlite3.connect(nbtrack_home / "nbtrack.db")
    count, steps, values, stamps = conn.execute(
        'SELECT count, steps, "values", timestamps FROM metric_blocks').fetchone()
    assert count == 3
    assert struct.unpack("<3q", steps) == (0, 10, 20)
    assert struct.unpack("<3d", values) == (0.0, 0.25, 0.5)
    assert struct.unpack("<3q", stamps) == (1000, 1001, 1002)


def test_a_batch_of_many_keys_and_runs_keeps_each_series_and_its_order(tmp_path: Path) -> None:
    location = resolve_location(tmp_path)
    store = open_store(location)
    rows = [(1 + i % 3, f"k{i % 37}", float(i), 1000 - i // 111, 1.0 + i / 1000) for i in range(5000)]
    with store.conn:
        store.conn.execute("BEGIN")
        insert_metrics(store.conn, rows)
    for pk in (1, 2, 3):
        for k in range(37):
            mine = [r for r in rows if r[0] == pk and r[1] == f"k{k}"]
            steps, values, stamps = metric_blocks.series_arrays(store.conn, pk, f"k{k}")
            assert values.tolist() == [r[2] for r in mine]
            assert stamps.tolist() == [int(r[4] * 1000 + 0.5) for r in mine]
            last = max(mine, key=lambda r: (r[3], r[2]))  # highest step, latest logged among equals
            summary = store.conn.execute(
                "SELECT last_value, last_step, min_value, max_value, count FROM metric_summaries "
                "WHERE run = ? AND key = ?", (pk, f"k{k}")).fetchone()
            assert summary == (last[2], last[3], mine[0][2], mine[-1][2], len(mine))
    assert store.conn.execute("SELECT count(*) FROM metric_blocks").fetchone()[0] == 3 * 37
    store.close()


def test_a_group_larger_than_a_block_is_split_and_read_back_whole(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(metric_blocks, "BLOCK_POINTS", 1000)
    store = open_store(resolve_location(tmp_path))
    rows = [(1, "x", float(i % 97), i, 2.0) for i in range(4500)]
    store.conn.execute("BEGIN")
    insert_metrics(store.conn, rows)
    store.conn.execute("COMMIT")
    counts = [r[0] for r in store.conn.execute("SELECT count FROM metric_blocks ORDER BY id")]
    assert counts == [1000, 1000, 1000, 1000, 500]
    assert metric_blocks.series_arrays(store.conn, 1, "x")[1].tolist() == [r[2] for r in rows]
    series = downsample_series(store, 1, "x", 100)
    assert series.total_points == 4500 and series.points[0][1] == 0 and series.points[-1][1] == 4499
    assert len(series.points) <= 100
    store.close()


def test_positions_resume_inside_a_block_without_a_gap_or_a_repeat(tmp_path: Path) -> None:
    store = open_store(resolve_location(tmp_path))
    store.conn.execute("BEGIN")
    for batch in range(4):  # four flushes: two series each, so blocks of both keys interleave
        insert_metrics(store.conn, [(1, key, float(batch * 100 + i), batch * 100 + i, 1.0)
                                    for i in range(100) for key in ("a", "b")])
    store.conn.execute("COMMIT")
    everything = list(metric_blocks.run_points(store.conn, 1))
    assert len(everything) == 800
    for cut in (1, 99, 100, 101, 250, 799, 800):
        mark = everything[cut - 1][0]
        rest = list(metric_blocks.run_points(store.conn, 1, mark))
        assert everything[:cut] + rest == everything, cut
    store.close()


def test_a_run_moves_between_stores_with_its_points(tmp_path: Path) -> None:
    store = open_store(resolve_location(tmp_path / "a"))
    store.conn.execute("BEGIN")
    store.conn.execute("INSERT INTO experiments VALUES (1, 'Default', 'active', 0, 0)")
    store.conn.execute("INSERT INTO runs (id, run_id, experiment_id, run_name, status, start_time) "
                       "VALUES (1, 'ab', 1, 'r', 'FINISHED', 0)")
    insert_metrics(store.conn, [(1, "x", v, i, 1.0005) for i, v in enumerate([1.0, NAN, -0.0])])
    store.conn.execute("COMMIT")
    [record] = transfer.read_runs(store)
    assert [(p.key, p.value, p.step, p.timestamp) for p in record.metrics] == [
        ("x", 1.0, 0, 1001), ("x", None, 1, 1001), ("x", -0.0, 2, 1001)]
    other = open_store(resolve_location(tmp_path / "b"))
    other.execute(transfer.ImportRun(record))
    moved = queries.metric_history(other, "ab", "x")
    assert [(m.step, m.timestamp) for m in moved] == [(0, 1001), (1, 1001), (2, 1001)]
    assert math.isnan(moved[1].value) and bits(moved[2].value) == bits(-0.0)
    store.close()
    other.close()


def test_small_and_large_batches_pack_the_same_bytes_and_folds(tmp_path: Path, monkeypatch) -> None:
    rows = [(1 + i % 2, f"k{i % 3}", [0.25, NAN, INF, -INF, -0.0, None, 1e300][i % 7], (i * 7919) % 50 - 20,
             1_700_000_000.0 + i * 0.0007) for i in range(700)]
    found = []
    for numpy_rows in (10 ** 9, 1):  # the array-module path, then numpy for every batch
        monkeypatch.setattr(metric_blocks, "NUMPY_ROWS", numpy_rows)
        monkeypatch.setattr(metric_blocks, "SMALL_GROUP", 0 if numpy_rows == 1 else 256)
        store = open_store(resolve_location(tmp_path / str(numpy_rows)))
        store.conn.execute("BEGIN")
        folds = metric_blocks.write_points(store.conn, rows)
        store.conn.execute("COMMIT")
        blocks = store.conn.execute('SELECT run, key, count, steps, "values", timestamps FROM metric_blocks '
                                    "ORDER BY id").fetchall()
        found.append((blocks, repr(folds)))
        store.close()
    assert found[0] == found[1]


def test_doctor_rewrites_the_points_of_a_damaged_pre_m005_store_as_blocks(tmp_path: Path) -> None:
    from nbtrack.store import doctor

    database, rows = _old_store(tmp_path / "old")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)
    report = doctor._row_by_row(source, resolve_location(tmp_path / "old"), resolve_location(tmp_path / "new"))
    source.close()
    assert any("rewritten as" in note for note in report.notes), report.notes
    store = open_store(resolve_location(tmp_path / "new"))
    steps, values, _ = metric_blocks.series_arrays(store.conn, 1, "b")
    assert steps.tolist() == [r[3] for r in rows if r[:2] == (1, "b")]
    state = sync.push_state(store, "http://x")
    after = list(sync.metric_points_after(store, 1, state[1].metric_position))
    assert len(after) == sum(1 for rowid, r in enumerate(rows, start=1) if r[0] == 1 and rowid > 250)
    store.close()
