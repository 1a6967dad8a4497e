"""The fluent API against a real temp SQLite store: lifecycle, logging, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import nbtrack
from nbtrack import state
from nbtrack.tracking import fluent
from nbtrack.entities import RunStatus
from nbtrack.errors import ActiveRunError, InvalidInput, RunNotFound


def test_logged_params_metrics_and_tags_read_back() -> None:
    nbtrack.set_experiment("customer-sentiment")
    with nbtrack.start_run(run_name="bow-nb", tags={"developer": "me"}) as run:
        nbtrack.log_params({"alpha": 1, "max_features": 3000})
        for epoch in range(50):
            nbtrack.log_metric("val_loss", 1.0 / (epoch + 1), step=epoch)
        nbtrack.log_metric("accuracy", 0.91)
        nbtrack.set_tag("stage", "baseline")
    stored = nbtrack.get_run(run.run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.info.run_name == "bow-nb"
    assert stored.data.params == {"alpha": "1", "max_features": "3000"}
    user_tags = {k: v for k, v in stored.data.tags.items() if not k.startswith("mlflow.")}
    assert user_tags == {"developer": "me", "stage": "baseline"}
    assert stored.data.tags["mlflow.runName"] == "bow-nb"  # MLflow's system tags come too
    assert stored.data.metrics["accuracy"] == 0.91
    summary = stored.data.metric_summaries["val_loss"]
    assert (summary.last, summary.last_step, summary.min, summary.max, summary.count) == (0.02, 49, 0.02, 1.0, 50)
    history = nbtrack.Client().get_metric_history(run.run_id, "val_loss")
    assert [m.step for m in history] == list(range(50))
    assert all(isinstance(m.timestamp, int) and m.timestamp > 1_600_000_000_000 for m in history)
    experiment = nbtrack.get_experiment_by_name("customer-sentiment")
    assert stored.info.experiment_id == experiment.experiment_id


def test_block_that_raises_is_failed_with_error_kept_and_nothing_left_active() -> None:
    with pytest.raises(ZeroDivisionError):
        with nbtrack.start_run(run_name="boom") as run:
            nbtrack.log_metric("before", 1.0)
            1 / 0  # noqa: B018 - the failure under test
    stored = nbtrack.get_run(run.run_id)
    assert stored.info.status is RunStatus.FAILED
    assert stored.info.error.type == "ZeroDivisionError"
    assert stored.info.error.message == "division by zero"
    assert "1 / 0" in stored.info.error.traceback
    assert stored.data.metrics == {"before": 1.0}  # logged before the error: kept
    assert nbtrack.active_run() is None
    with nbtrack.start_run():  # the next start_run works: nothing stuck
        pass


def test_keyboard_interrupt_gives_killed() -> None:
    with pytest.raises(KeyboardInterrupt):
        with nbtrack.start_run() as run:
            raise KeyboardInterrupt
    assert nbtrack.get_run(run.run_id).info.status is RunStatus.KILLED
    assert nbtrack.active_run() is None


def test_start_run_while_active_says_how_to_fix_it() -> None:
    with nbtrack.start_run() as outer:
        with pytest.raises(ActiveRunError, match=r"nested=True.*end_run\(\)"):
            nbtrack.start_run()
        assert nbtrack.active_run() is outer  # the refusal changed nothing


def test_nested_runs_link_to_parent_and_end_with_it() -> None:
    with nbtrack.start_run(run_name="parent") as parent:
        child = nbtrack.start_run(run_name="child", nested=True)
        nbtrack.log_metric("inner", 2.0)
        # the child is deliberately not ended: leaving the parent's block ends it too
    assert nbtrack.get_run(child.run_id).info.parent_run_id == parent.run_id
    assert nbtrack.get_run(child.run_id).info.status is RunStatus.FINISHED
    assert nbtrack.get_run(child.run_id).data.metrics == {"inner": 2.0}
    assert nbtrack.active_run() is None


def test_logging_without_a_run_starts_one_and_end_run_ends_it() -> None:
    nbtrack.log_metric("auto", 3.0)
    run = nbtrack.active_run()
    assert run is not None
    nbtrack.end_run()
    assert nbtrack.active_run() is None
    assert nbtrack.last_active_run().info.run_id == run.run_id
    assert nbtrack.get_run(run.run_id).info.status is RunStatus.FINISHED


def test_resume_run_by_id_appends_to_it() -> None:
    with nbtrack.start_run() as first:
        nbtrack.log_metric("loss", 1.0, step=0)
    with nbtrack.start_run(run_id=first.run_id):
        nbtrack.log_metric("loss", 0.5, step=1)
    stored = nbtrack.get_run(first.run_id)
    assert stored.data.metric_summaries["loss"].count == 2
    assert stored.data.metrics["loss"] == 0.5
    with pytest.raises(RunNotFound):
        nbtrack.start_run(run_id="0" * 32)


def test_nan_and_infinities_round_trip() -> None:
    with nbtrack.start_run() as run:
        nbtrack.log_metric("nan", float("nan"))
        nbtrack.log_metric("pinf", float("inf"))
        nbtrack.log_metric("ninf", float("-inf"), step=1)
    metrics = nbtrack.get_run(run.run_id).data.metrics
    assert math.isnan(metrics["nan"]) and metrics["pinf"] == math.inf and metrics["ninf"] == -math.inf
    history = nbtrack.Client().get_metric_history(run.run_id, "nan")
    assert math.isnan(history[0].value)


def test_numpy_scalars_and_ints_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    with nbtrack.start_run() as run:
        nbtrack.log_metric("f32", np.float32(0.5))
        nbtrack.log_metric("i64", np.int64(3), step=np.int64(2))
        nbtrack.log_metric("int", 7)
    assert nbtrack.get_run(run.run_id).data.metrics == {"f32": 0.5, "i64": 3.0, "int": 7.0}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: nbtrack.log_metric("acc", "high"), "must be a number"),
        (lambda: nbtrack.log_metric("acc", None), "must be a number"),
        (lambda: nbtrack.log_metric("", 1.0), "non-empty string"),
        (lambda: nbtrack.log_metric(3, 1.0), "non-empty string"),
        (lambda: nbtrack.log_metric(["a"], 1.0), "non-empty string"),
        (lambda: nbtrack.log_metric("acc", 1.0, step=1.5), "step must be an integer"),
        (lambda: nbtrack.log_metric("../x", 1.0), "may only hold"),
        (lambda: nbtrack.log_param("long", "x" * 6001), "the limit is 6000"),
        (lambda: nbtrack.log_param("alpha", 2), "already logged as '1'"),
        (lambda: nbtrack.log_metrics({"ok": 1.0, "bad": "x"}), "must be a number"),
    ],
)
def test_bad_input_is_one_clear_error_and_loses_nothing(call, message: str) -> None:
    with nbtrack.start_run() as run:
        nbtrack.log_param("alpha", 1)
        nbtrack.log_metric("kept", 1.0)
        with pytest.raises(InvalidInput, match=message) as error:
            call()
        assert "\n" not in str(error.value)
        nbtrack.log_metric("after", 2.0)  # the run goes on
    stored = nbtrack.get_run(run.run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.data.params == {"alpha": "1"}
    assert stored.data.metrics == {"kept": 1.0, "after": 2.0}  # log_metrics logged none of its dict


def test_same_param_value_twice_is_fine_and_delete_tag_works() -> None:
    with nbtrack.start_run() as run:
        nbtrack.log_param("alpha", 1)
        nbtrack.log_param("alpha", "1")
        nbtrack.set_tags({"a": 1, "b": 2})
        nbtrack.delete_tag("a")
        with pytest.raises(InvalidInput, match="no tag 'zzz'"):
            nbtrack.delete_tag("zzz")
    tags = nbtrack.get_run(run.run_id).data.tags
    assert {k: v for k, v in tags.items() if not k.startswith("mlflow.")} == {"b": "2"}


def test_store_location_is_resolved_at_use_not_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("NBTRACK_HOME", str(elsewhere))
    with nbtrack.start_run():
        pass
    assert (elsewhere / "nbtrack.db").exists()
    assert nbtrack.get_tracking_uri() == f"sqlite:///{elsewhere / 'nbtrack.db'}"


def test_sqlite_uri_and_default_dot_nbtrack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbtrack.set_tracking_uri(f"sqlite:///{tmp_path / 'mine.db'}")
    with nbtrack.start_run():
        nbtrack.log_text("x", "a.txt")
    assert (tmp_path / "mine.db").exists() and (tmp_path / "mine.db.artifacts" / "blobs").is_dir()
    nbtrack.set_tracking_uri(None)
    monkeypatch.delenv("NBTRACK_HOME")
    monkeypatch.chdir(tmp_path)
    with nbtrack.start_run():
        pass
    assert (tmp_path / ".nbtrack" / "nbtrack.db").exists()
    with pytest.raises(InvalidInput, match="not a local store"):
        nbtrack.set_tracking_uri("http://mlflow.example:5000")


def test_a_relative_store_follows_the_working_directory_and_home(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Locations are cached per (uri, cwd, HOME): moving either moves a relative store."""
    from nbtrack.paths import resolve_location

    for name in ("a", "b", "home"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = resolve_location("runs")
    monkeypatch.chdir(tmp_path / "b")
    assert resolve_location("runs").database == tmp_path / "b" / "runs" / "nbtrack.db" != first.database
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_location("~/s.db").database == tmp_path / "home" / "s.db"
    with pytest.raises(InvalidInput, match="NUL byte"):
        resolve_location("bad\x00")
    with pytest.raises(InvalidInput, match="NUL byte"):  # a refusal is never cached as a result
        resolve_location("bad\x00")


def test_a_bad_key_is_refused_every_time_among_many_good_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    from nbtrack import validation

    monkeypatch.setattr(validation, "_VALID_KEYS", set())
    monkeypatch.setattr(validation, "_VALID_KEYS_LIMIT", 10)
    for i in range(25):  # passes the cache's limit twice: it is cleared, not grown
        assert validation.check_key(f"loss_{i}", "metric") == f"loss_{i}"
    assert len(validation._VALID_KEYS) <= 10
    for _ in range(2):
        with pytest.raises(InvalidInput, match="rename it"):
            validation.check_key("../escape", "param")
        with pytest.raises(InvalidInput, match="non-empty string"):
            validation.check_key(3, "param")


def test_flush_makes_points_visible_to_another_connection(nbtrack_home: Path) -> None:
    import sqlite3

    with nbtrack.start_run():
        for step in range(1000):
            nbtrack.log_metric("x", float(step), step=step)
        nbtrack.flush()
        other = sqlite3.connect(nbtrack_home / "nbtrack.db")
        assert other.execute("SELECT coalesce(sum(count), 0) FROM metric_blocks").fetchone()[0] == 1000
        other.close()


def test_summary_last_is_highest_step_even_when_logged_out_of_order() -> None:
    with nbtrack.start_run() as run:
        nbtrack.log_metric("m", 5.0, step=10)
        nbtrack.flush()
        nbtrack.log_metric("m", 1.0, step=3)  # a late point for an earlier step
        nbtrack.log_metric("m", 9.0, step=7)
    summary = nbtrack.get_run(run.run_id).data.metric_summaries["m"]
    assert (summary.last, summary.last_step, summary.min, summary.max, summary.count) == (5.0, 10, 1.0, 9.0, 3)


def test_reset_state_ends_open_runs() -> None:
    run = nbtrack.start_run()
    state.reset()
    assert nbtrack.active_run() is None
    assert nbtrack.get_run(run.run_id).info.status is RunStatus.KILLED


def test_points_reach_another_connection_without_flush(nbtrack_home: Path) -> None:
    """The background flusher alone makes points visible (every 0.1 s; polled, not timed)."""
    import sqlite3
    import time

    with nbtrack.start_run():
        nbtrack.log_metric("x", 1.0)
        other = sqlite3.connect(nbtrack_home / "nbtrack.db")
        deadline = time.monotonic() + 20
        while other.execute("SELECT coalesce(sum(count), 0) FROM metric_blocks").fetchone()[0] == 0:
            assert time.monotonic() < deadline, "the flusher never wrote the point"
            time.sleep(0.02)
        other.close()


def test_cell_lineage_survives_a_notebook_rename() -> None:
    with nbtrack.start_run(cell_id="c1", notebook_path="/nb/old.ipynb") as first:
        pass
    with nbtrack.start_run(cell_id="c1", notebook_path="/nb/other.ipynb") as unrelated_path:
        pass
    with nbtrack.start_run(cell_id="c1", notebook_path="/nb/old.ipynb") as again:
        pass
    with nbtrack.start_run(cell_id="c1", notebook_path="/nb/renamed.ipynb") as renamed:
        pass
    previous = {r.run_id: nbtrack.get_run(r.run_id).info.previous_run_id for r in (unrelated_path, again, renamed)}
    assert previous[again.run_id] == first.run_id  # same path preferred over a newer other path
    assert previous[unrelated_path.run_id] == first.run_id  # no run under that path yet: same cell id
    assert previous[renamed.run_id] == again.run_id
