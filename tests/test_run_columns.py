"""``run_columns``: the precomputed row per run that ``search_runs`` reads (store/run_columns.py).

Every test compares ``search_runs`` with what the normalized tables (params, tags,
metric_summaries) hold, read here with plain sqlite3. The writer refreshes dirty runs in
batches (``REFRESH_BATCH``); here it refreshes after every write, so the tests can check
that nbtrack's own writes leave no run dirty and that the fast path (not the fallback)
is what was compared. ``test_dirty_runs_are_refreshed_in_batches`` checks the batching.
"""

from __future__ import annotations

import math
import sqlite3
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbtrack
from nbtrack.paths import resolve_location
from nbtrack.store import commands, run_columns, writer
from nbtrack.store.database import open_store
from nbtrack.store.handle import StoreHandle
from nbtrack.store.schema import RUN_COLUMNS_MIGRATION, build_migrations
from nbtrack.store.transfer import export_bundle, import_bundle
from nbtrack.tracking.search import runs_dataframe

NAN = float("nan")


@pytest.fixture(autouse=True)
def refresh_every_write(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_columns, "REFRESH_BATCH", 1)
    monkeypatch.setattr(run_columns, "CHECK_EVERY", 1)


def database(home: Path) -> Path:
    return resolve_location(home).database


def truth(db: Path) -> dict[str, tuple[dict, dict, dict]]:
    """run_id -> (params, tags, last metric values) from the normalized tables."""
    conn = sqlite3.connect(db)
    try:
        runs = {pk: (run_id, {}, {}, {}) for pk, run_id in conn.execute("SELECT id, run_id FROM runs")}
        for table, slot, column in (("params", 1, "value"), ("tags", 2, "value"),
                                    ("metric_summaries", 3, "last_value")):
            for pk, key, value in conn.execute(f"SELECT run, key, {column} FROM {table}"):
                runs[pk][slot][key] = NAN if slot == 3 and value is None else value
        return {run_id: (p, t, m) for run_id, p, t, m in runs.values()}
    finally:
        conn.close()


def dirty(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT run FROM run_columns_dirty")]
    finally:
        conn.close()


def same_double(a: float, b: float) -> bool:
    if math.isnan(a):
        return math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b) or (a == 0.0 and b == 0.0)


def check_frame(frame, expected: dict[str, tuple[dict, dict, dict]]) -> None:
    """Every run row of ``frame`` holds exactly its expected values, None/NaN elsewhere."""
    all_params = sorted({k for p, _, _ in expected.values() for k in p})
    all_tags = sorted({k for _, t, _ in expected.values() for k in t})
    all_metrics = sorted({k for _, _, m in expected.values() for k in m})
    assert sorted(frame["run_id"]) == sorted(expected)
    assert [c for c in frame.columns if c.startswith("metrics.")] == [f"metrics.{k}" for k in all_metrics]
    assert [c for c in frame.columns if c.startswith("params.")] == [f"params.{k}" for k in all_params]
    assert [c for c in frame.columns if c.startswith("tags.")] == [f"tags.{k}" for k in all_tags]
    for i, run_id in enumerate(frame["run_id"]):
        params, tags, metrics = expected[run_id]
        for key in all_params:
            assert frame[f"params.{key}"].iloc[i] == params.get(key), (run_id, key)
        for key in all_tags:
            assert frame[f"tags.{key}"].iloc[i] == tags.get(key), (run_id, key)
        for key in all_metrics:
            assert same_double(metrics.get(key, NAN), frame[f"metrics.{key}"].iloc[i]), (run_id, key)


def check_search(home: Path, intact: bool = True, **search) -> None:
    conn = sqlite3.connect(database(home))
    try:  # no row names a keyset that is gone (readers would fall back to the tables)
        assert not intact or conn.execute("SELECT count(*) FROM run_columns WHERE keyset IS NOT NULL AND keyset "
                            "NOT IN (SELECT id FROM run_keysets)").fetchone()[0] == 0
    finally:
        conn.close()
    frame = nbtrack.search_runs(run_view_type="ALL", **search)
    everything = truth(database(home))
    check_frame(frame, {run_id: everything[run_id] for run_id in frame["run_id"]})


def test_every_write_keeps_the_rows_current(nbtrack_home: Path) -> None:
    db = database(nbtrack_home)
    with nbtrack.start_run() as a:
        nbtrack.log_params({"alpha": "0.1", "depth": "3"})
        nbtrack.log_metric("loss", 0.5, step=0)
        nbtrack.log_metric("loss", 0.25, step=1)
        nbtrack.set_tag("team", "x")
    with nbtrack.start_run() as b:
        nbtrack.log_param("alpha", "0.2")
        nbtrack.log_metric("acc", 0.8716666666666667)
        nbtrack.log_metric("loss", NAN)
    nbtrack.flush()
    assert dirty(db) == []
    check_search(nbtrack_home)

    client = nbtrack.MlflowClient()
    client.set_tag(a.info.run_id, "team", "y")  # a changed value
    client.delete_tag(b.info.run_id, "mlflow.user")  # a removed key
    client.log_param(b.info.run_id, "depth", "4")  # a new key
    client.log_metric(a.info.run_id, "loss", 0.125, step=5)  # a newer last value
    client.log_metric(a.info.run_id, "loss", 9.0, step=2)  # an older step: last stays
    nbtrack.flush()
    assert dirty(db) == []
    check_search(nbtrack_home)
    frame = nbtrack.search_runs()
    row = frame[frame["run_id"] == a.info.run_id].iloc[0]
    assert row["tags.team"] == "y" and row["metrics.loss"] == 0.125

    client.update_run(b.info.run_id, name="renamed")
    nbtrack.delete_run(a.info.run_id)
    nbtrack.flush()
    assert dirty(db) == []
    check_search(nbtrack_home)
    assert list(nbtrack.search_runs()["run_id"]) == [b.info.run_id]
    assert nbtrack.search_runs()["tags.mlflow.runName"][0] == "renamed"

    from nbtrack.store.gc import collect_garbage

    assert collect_garbage(resolve_location(nbtrack_home)).runs_purged == 1
    conn = sqlite3.connect(db)
    assert [r[0] for r in conn.execute("SELECT run_id FROM runs JOIN run_columns ON run = id")] == \
        [b.info.run_id]
    # Keysets nobody uses any more are gone: one left, b's.
    assert conn.execute("SELECT count(*) FROM run_keysets").fetchone()[0] == 1
    conn.close()
    check_search(nbtrack_home)


def test_runs_with_different_keys_come_out_aligned(nbtrack_home: Path) -> None:
    db = database(nbtrack_home)
    ids = []
    for params, metrics in (({"a": "1"}, {"x": 1.0}), ({"b": "2"}, {"y": 2.0}), ({}, {}),
                            ({"a": "3", "b": "4"}, {"x": 3.0, "y": -math.inf}), ({"a": "5"}, {"x": 5.0})):
        with nbtrack.start_run() as run:
            if params:
                nbtrack.log_params(params)
            if metrics:
                nbtrack.log_metrics(metrics)
        ids.append(run.info.run_id)
    nbtrack.flush()
    assert dirty(db) == []
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(DISTINCT keyset) FROM run_columns").fetchone()[0] == 4
    conn.close()
    check_search(nbtrack_home)
    check_search(nbtrack_home, order_by=["params.a DESC"])
    check_search(nbtrack_home, filter_string="params.a != '3'")
    frame = nbtrack.search_runs().set_index("run_id").loc[ids]
    assert list(frame["params.a"]) == ["1", None, None, "3", "5"]
    assert list(frame["params.b"]) == [None, "2", None, "4", None]
    assert frame["metrics.y"].tolist()[1] == 2.0 and math.isnan(frame["metrics.y"].iloc[0])
    assert frame["metrics.y"].tolist()[3] == -math.inf


def test_a_run_changed_behind_nbtracks_back_is_read_fresh(nbtrack_home: Path) -> None:
    db = database(nbtrack_home)
    ids = []
    for i in range(4):
        with nbtrack.start_run() as run:
            nbtrack.log_params({"p": str(i)})
            nbtrack.log_metric("m", float(i))
        ids.append(run.info.run_id)
    nbtrack.flush()
    assert dirty(db) == []
    conn = sqlite3.connect(db, isolation_level=None)
    pk = conn.execute("SELECT id FROM runs WHERE run_id = ?", (ids[1],)).fetchone()[0]
    # Raw SQL: the triggers mark the run dirty; nothing refreshes its row.
    conn.execute("UPDATE params SET value = 'edited' WHERE run = ?", (pk,))
    conn.execute("INSERT INTO tags (run, key, value) VALUES (?, 'only_here', 'v')", (pk,))
    conn.execute("UPDATE metric_summaries SET last_value = NULL WHERE run = ?", (pk,))
    assert dirty(db) == [pk]
    check_search(nbtrack_home)
    frame = nbtrack.search_runs()
    row = frame[frame["run_id"] == ids[1]].iloc[0]
    assert row["params.p"] == "edited" and row["tags.only_here"] == "v" and math.isnan(row["metrics.m"])
    assert frame["tags.only_here"].isna().sum() == 3

    # A run marked dirty by hand, with a row that lies: the tables win.
    other = conn.execute("SELECT id FROM runs WHERE run_id = ?", (ids[2],)).fetchone()[0]
    conn.execute("UPDATE run_columns SET texts = 'stale' WHERE run = ?", (other,))
    conn.execute("INSERT INTO run_columns_dirty (run) VALUES (?)", (other,))
    check_search(nbtrack_home)
    # A row edited by hand whose values do not match its keyset (not marked dirty): every
    # run is read from the tables rather than misaligned.
    conn.execute("UPDATE run_columns SET texts = 'a' || char(31) || 'b' WHERE run = "
                 "(SELECT id FROM runs WHERE run_id = ?)", (ids[3],))
    check_search(nbtrack_home)
    conn.execute("UPDATE run_columns SET keyset = 999 WHERE run = "
                 "(SELECT id FROM runs WHERE run_id = ?)", (ids[3],))
    check_search(nbtrack_home, intact=False)
    conn.close()

    # The next write of nbtrack's refreshes whatever is dirty.
    nbtrack.MlflowClient().set_tag(ids[0], "t", "1")
    nbtrack.flush()
    assert dirty(db) == []


def test_a_value_holding_the_separator_is_read_from_the_tables(nbtrack_home: Path) -> None:
    with nbtrack.start_run() as run:
        nbtrack.set_tag("odd", "a\x1fb")
        nbtrack.log_param("p", "x")
    with nbtrack.start_run():
        nbtrack.log_param("p", "y")
    nbtrack.flush()
    conn = sqlite3.connect(database(nbtrack_home))
    assert conn.execute("SELECT count(*) FROM run_columns WHERE keyset IS NULL").fetchone()[0] == 1
    conn.close()
    check_search(nbtrack_home)
    frame = nbtrack.search_runs()
    assert frame[frame["run_id"] == run.info.run_id]["tags.odd"].iloc[0] == "a\x1fb"


def test_transferred_runs_get_their_rows(tmp_path: Path, nbtrack_home: Path) -> None:
    with nbtrack.start_run():
        nbtrack.log_params({"a": "1"})
        nbtrack.log_metric("m", 0.1 + 0.2)
    nbtrack.flush()
    target_home = tmp_path / "target"
    target = StoreHandle(resolve_location(target_home))
    import_bundle(target, export_bundle(StoreHandle(resolve_location(nbtrack_home))), tags={"from": "x"})
    target.flush()
    assert dirty(database(target_home)) == []
    nbtrack.set_tracking_uri(str(target_home))
    check_search(target_home)
    assert nbtrack.search_runs()["metrics.m"][0] == 0.1 + 0.2


def test_compare_reads_runs_in_the_order_given(nbtrack_home: Path) -> None:
    runs = []
    for i in range(3):
        with nbtrack.start_run() as run:
            nbtrack.log_param("i", str(i))
        runs.append(run.info.run_id)
    nbtrack.flush()
    store = open_store(resolve_location(nbtrack_home), readonly=True)
    pks = dict(store.conn.execute("SELECT run_id, id FROM runs"))
    frame = runs_dataframe(store, [pks[runs[2]], pks[runs[0]]])
    store.close()
    assert list(frame["run_id"]) == [runs[2], runs[0]]
    assert list(frame["params.i"]) == ["2", "0"]


def test_a_store_from_before_run_columns_is_filled_when_migrated(tmp_path: Path) -> None:
    from sqlite_utils import Database

    location = resolve_location(tmp_path / "old")
    location.database.parent.mkdir(parents=True)
    conn = sqlite3.connect(location.database, isolation_level=None)
    build_migrations().apply(Database(conn), stop_before=RUN_COLUMNS_MIGRATION)
    # As the code of that time wrote it (today's handlers expect today's schema).
    conn.execute("BEGIN")
    conn.execute("INSERT INTO experiments (name, creation_time, last_update_time) VALUES ('e', 0, 0)")
    for i in range(3):
        pk = conn.execute("INSERT INTO runs (run_id, experiment_id, run_name, status, start_time) "
                          "VALUES (?, 1, ?, 'FINISHED', 0)", (f"{i:032x}", f"r{i}")).lastrowid
        conn.execute("INSERT INTO tags (run, key, value) VALUES (?, 't', ?)", (pk, f"v{i}"))
        conn.execute("INSERT INTO params (run, key, value) VALUES (?, ?, ?)",
                     (pk, *(("p", str(i)) if i else ("q", "z"))))
        conn.execute("INSERT INTO metric_summaries (run, key, last_value, last_step, last_timestamp, "
                     "min_value, max_value, count) VALUES (?, 'm', ?, 0, 1000, ?, ?, 1)",
                     (pk, i / 3, i / 3, i / 3))
    conn.execute("COMMIT")
    conn.close()

    open_store(location).close()  # migrates, then fills the rows
    db = location.database
    assert dirty(db) == []
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM run_columns WHERE keyset IS NOT NULL").fetchone()[0] == 3
    conn.close()
    nbtrack.set_tracking_uri(str(tmp_path / "old"))
    check_search(tmp_path / "old")


def test_the_doctor_rebuilds_the_rows_of_a_recovered_store(tmp_path: Path, nbtrack_home: Path) -> None:
    from nbtrack.store import doctor

    with nbtrack.start_run():
        nbtrack.log_params({"a": "1", "b": "2"})
        nbtrack.log_metric("m", 1 / 3)
    nbtrack.flush()
    source = doctor._open_readonly(resolve_location(nbtrack_home))
    try:
        report = doctor._row_by_row(source, resolve_location(nbtrack_home), resolve_location(tmp_path / "new"))
    finally:
        source.close()
    assert report.rows["run_columns"] == 1
    assert dirty(database(tmp_path / "new")) == []
    nbtrack.set_tracking_uri(str(tmp_path / "new"))
    check_search(tmp_path / "new")


def test_refresh_failing_on_its_own_leaves_runs_dirty_and_the_write_committed(
        nbtrack_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(conn: sqlite3.Connection, settled: bool = False) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(run_columns, "_refresh", broken)
    with pytest.warns(nbtrack.errors.NbtrackWarning, match="could not update run_columns"):
        with nbtrack.start_run():
            nbtrack.log_param("p", "1")
        nbtrack.flush()
    assert dirty(database(nbtrack_home))
    check_search(nbtrack_home)
    assert nbtrack.search_runs()["params.p"][0] == "1"


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)
keys = st.sampled_from(["a", "b", "c", "é", "a.b"])
run_strategy = st.tuples(st.dictionaries(keys, texts, max_size=3), st.dictionaries(keys, texts, max_size=3),
                         st.dictionaries(keys, st.floats(width=64), max_size=3))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=st.lists(run_strategy, min_size=1, max_size=5), stale=st.sets(st.integers(0, 4)))
def test_any_mix_of_runs_reads_back_exactly(tmp_path_factory, runs, stale) -> None:
    home = tmp_path_factory.mktemp("store")
    location = resolve_location(home)
    store = open_store(location)
    experiment = store.execute(commands.GetOrCreateExperiment("e"))
    pks = []
    for params, tags, metrics in runs:
        created = store.execute(writer.new_run_command(experiment))
        pks.append(created.pk)
        if params:
            store.execute(commands.SetParams(created.pk, params))
        if tags:
            store.execute(commands.SetTags(created.pk, tags))
        if metrics:
            store.execute(commands.LogMetrics([(created.pk, k, v, 0, 1.0) for k, v in metrics.items()]))
    store.close()
    conn = sqlite3.connect(location.database, isolation_level=None)
    conn.executemany("INSERT OR IGNORE INTO run_columns_dirty (run) VALUES (?)",
                     [(pks[i],) for i in stale if i < len(pks)])
    conn.close()
    nbtrack.set_tracking_uri(str(home))
    check_search(home)
    check_search(home, order_by=["params.a DESC"])


def test_dirty_runs_are_refreshed_in_batches(nbtrack_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_columns, "REFRESH_BATCH", 5)
    db = database(nbtrack_home)
    for i in range(4):
        with nbtrack.start_run():
            nbtrack.log_params({"p": str(i), f"only{i % 2}": "x"})
            nbtrack.log_metric("m", i / 7)
    nbtrack.flush()
    assert len(dirty(db)) == 4  # below the batch: read from the tables
    check_search(nbtrack_home)
    with nbtrack.start_run():
        nbtrack.log_param("p", "4")
    nbtrack.flush()
    # The fifth run's end made five dirty runs that are not RUNNING: all were refreshed.
    assert dirty(db) == []
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM run_columns WHERE keyset IS NOT NULL").fetchone()[0] == 5
    conn.close()
    with nbtrack.start_run():
        nbtrack.log_param("p", "5")
    nbtrack.flush()
    assert len(dirty(db)) == 1  # usable rows with several keysets, one stale run among them
    check_search(nbtrack_home)
    check_search(nbtrack_home, order_by=["metrics.m DESC"])


def test_a_keyset_one_run_leaves_and_another_takes_in_one_batch_stays(
        nbtrack_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = nbtrack.MlflowClient()
    a = client.create_run(nbtrack.create_experiment("e"), tags={"t": "1"})
    client.set_terminated(a.info.run_id)
    nbtrack.flush()
    assert dirty(database(nbtrack_home)) == []  # a's row: keyset {tags: [t]}
    monkeypatch.setattr(run_columns, "REFRESH_BATCH", 2)
    client.log_param(a.info.run_id, "p", "1")  # a leaves {tags: [t]}...
    b = client.create_run(a.info.experiment_id, tags={"t": "2"})  # ...which b takes, same batch
    client.set_terminated(b.info.run_id)
    nbtrack.flush()
    assert dirty(database(nbtrack_home)) == []
    check_search(nbtrack_home)
    conn = sqlite3.connect(database(nbtrack_home))
    assert conn.execute("SELECT count(*) FROM run_keysets").fetchone()[0] == 2
    conn.close()


def test_running_runs_wait_for_their_end(nbtrack_home: Path) -> None:
    db = database(nbtrack_home)
    run = nbtrack.start_run()
    nbtrack.log_param("p", "1")
    nbtrack.log_metric("m", 0.5)
    nbtrack.flush()
    assert len(dirty(db)) == 1  # still being logged: read from the tables
    check_search(nbtrack_home)
    nbtrack.end_run()
    nbtrack.flush()
    assert dirty(db) == []
    check_search(nbtrack_home)
    assert nbtrack.search_runs()["params.p"][0] == "1" and run.info.run_id
