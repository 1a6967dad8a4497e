"""Notebook jobs without a kernel: parameter parsing and checks, sweep configs, store transfer."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import nbtrack
from nbtrack.entities import RunStatus
from nbtrack.jobs.config import ConfigError, grid_from_values, parse_config, plan_trials
from nbtrack.jobs.parameters import ParameterError, check_parameters, parse_assignment
from nbtrack.paths import resolve_location
from nbtrack.store import queries
from nbtrack.store.handle import StoreHandle
from nbtrack.store.transfer import ImportRun, RunRecord, export_bundle, import_bundle

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "notebooks" / "03-parameterized.ipynb"


# --- parameters ---------------------------------------------------------------------------


def test_cli_values_follow_papermill() -> None:
    assert parse_assignment("alpha=0.5") == ("alpha", 0.5)
    assert parse_assignment("n=3") == ("n", 3)
    assert parse_assignment("flag=True") == ("flag", True)
    assert parse_assignment("model=nb") == ("model", "nb")
    assert parse_assignment("alpha=0.1,1,10", grid=True) == ("alpha", [0.1, 1, 10])
    assert parse_assignment("tag=a,b") == ("tag", "a,b")  # no grid in `nbtrack run`


@pytest.mark.parametrize("text, fix", [
    ("alpha", "NAME=VALUE"),
    ("=1", "NAME=VALUE"),
    ("2x=1", "not a Python name"),
])
def test_bad_assignments_name_the_fix(text: str, fix: str) -> None:
    with pytest.raises(ParameterError, match=fix):
        parse_assignment(text)


def test_values_checked_against_the_parameters_cell() -> None:
    assert check_parameters(EXAMPLE, {"alpha": 2, "fail": True}) == {"alpha": 2, "fail": True}
    with pytest.raises(ParameterError, match="no parameter 'alpah'.*assigns: alpha, max_features, fail"):
        check_parameters(EXAMPLE, {"alpah": 1})
    with pytest.raises(ParameterError, match="does not parse as a number"):
        check_parameters(EXAMPLE, {"alpha": "abc"})
    with pytest.raises(ParameterError, match="does not parse as a bool"):
        check_parameters(EXAMPLE, {"fail": "yes"})


def test_a_notebook_without_parameters_cell_says_what_papermill_would_do() -> None:
    with pytest.raises(ParameterError, match="no cell tagged 'parameters'.*new first cell"):
        check_parameters(REPO / "notebooks" / "01-track-cells.ipynb", {"a": 1})
    assert check_parameters(REPO / "notebooks" / "01-track-cells.ipynb", {}) == {}


# --- sweep configs ------------------------------------------------------------------------


def test_grid_plans_the_product_and_run_cap_cuts_it() -> None:
    config = grid_from_values({"alpha": [0.1, 1], "max_features": [1000, 3000], "fail": False})
    assert plan_trials(config) == [
        {"alpha": 0.1, "max_features": 1000, "fail": False}, {"alpha": 0.1, "max_features": 3000, "fail": False},
        {"alpha": 1, "max_features": 1000, "fail": False}, {"alpha": 1, "max_features": 3000, "fail": False}]
    capped = parse_config({"method": "grid", "run_cap": 3, "parameters": {"a": {"values": [1, 2, 3, 4]}}})
    assert len(plan_trials(capped)) == 3


def test_random_draws_run_cap_trials_reproducibly_within_bounds() -> None:
    raw = {"method": "random", "run_cap": 20, "metric": {"name": "score", "goal": "maximize"},
           "parameters": {"alpha": {"distribution": "log_uniform_values", "min": 0.01, "max": 10},
                          "max_features": {"min": 1000, "max": 5000},
                          "kind": {"values": ["a", "b"]}}}
    trials = plan_trials(parse_config(raw))
    assert trials == plan_trials(parse_config(raw)) and len(trials) == 20
    assert all(0.01 <= t["alpha"] <= 10 and isinstance(t["max_features"], int)
               and 1000 <= t["max_features"] <= 5000 and t["kind"] in ("a", "b") for t in trials)
    assert parse_config(raw).maximize


@pytest.mark.parametrize("raw, fix", [
    ({"method": "hyperband", "parameters": {"a": {"values": [1]}}}, "method must be one of"),
    ({"method": "grid"}, "needs `parameters:`"),
    ({"method": "grid", "parameters": {"a": {"min": 0.0, "max": 1.0}}}, "has no grid"),
    ({"method": "random", "parameters": {"a": {"values": [1]}}}, "add `run_cap: N`"),
    ({"method": "bayes", "run_cap": 4, "parameters": {"a": {"min": 0.0, "max": 1.0}}}, "needs `metric"),
    ({"method": "random", "run_cap": 2, "parameters": {"a": {"distribution": "beta", "min": 0, "max": 1}}},
     "not supported"),
    ({"method": "grid", "metric": {"name": "x", "goal": "up"}, "parameters": {"a": {"values": [1]}}},
     "minimize or maximize"),
])
def test_bad_configs_name_the_fix(raw: dict, fix: str) -> None:
    with pytest.raises(ConfigError, match=fix):
        parse_config(raw)


# --- store transfer -----------------------------------------------------------------------


def _other_store(tmp_path: Path) -> StoreHandle:
    return StoreHandle(resolve_location(tmp_path / "other-store"))


def test_transfer_copies_a_run_whole_and_is_idempotent(tmp_path: Path) -> None:
    import numpy as np

    nbtrack.set_experiment("transfer-src")
    with nbtrack.start_run(run_name="parent") as parent:
        nbtrack.log_param("alpha", 0.5)
        nbtrack.set_tag("team", "nlp")
        for step in range(5):
            nbtrack.log_metric("loss", 1 / (step + 1), step=step)
        nbtrack.log_metric("odd", float("nan"))
        nbtrack.log_text("hello", "notes/hello.txt")
        nbtrack.log_input(np.arange(10), name="xs", context="train")
        with nbtrack.start_run(run_name="child", nested=True) as child:
            nbtrack.log_metric("acc", 0.9)
    source = nbtrack.tracking.fluent.store_handle()
    bundle = export_bundle(source)
    assert [r.run_name for r in bundle.records] == ["parent", "child"] and len(bundle.blobs) == 1

    target = _other_store(tmp_path)
    first = import_bundle(target, bundle)
    again = import_bundle(target, bundle)
    assert [i.written for i in first] == [True, True] and [i.written for i in again] == [False, False]

    store, original = target.read(), source.read()
    copied = queries.get_run(store, parent.run_id)
    before = queries.get_run(original, parent.run_id)
    assert copied.info.start_time == before.info.start_time and copied.info.end_time == before.info.end_time
    assert copied.info.status is RunStatus.FINISHED and dict(copied.data.params) == {"alpha": "0.5"}
    assert copied.data.tags["team"] == "nlp"
    assert [(m.step, m.value, m.timestamp) for m in queries.metric_history(store, parent.run_id, "loss")] == \
        [(m.step, m.value, m.timestamp) for m in queries.metric_history(original, parent.run_id, "loss")]
    assert math.isnan(copied.data.metrics["odd"])
    assert copied.inputs.dataset_inputs == before.inputs.dataset_inputs
    entry = queries.artifact_entries(store, parent.run_id)[0]
    from nbtrack.store.artifacts import blob_path

    assert blob_path(store, entry.digest).read_text() == "hello"
    assert queries.get_run(store, child.run_id).info.parent_run_id == parent.run_id
    assert queries.get_experiment(store, copied.info.experiment_id).name == "transfer-src"
    target.close()


def test_an_import_fills_a_scheduled_placeholder(tmp_path: Path) -> None:
    target = _other_store(tmp_path)
    target.execute(ImportRun(RunRecord(run_id="a" * 32, experiment_name="e", run_name="planned",
                                       status="SCHEDULED", start_time=1000, tags={"trial": "0"})))
    done = RunRecord(run_id="a" * 32, experiment_name="e", run_name="ran", status="FINISHED",
                     start_time=2000, end_time=3000, params={"alpha": "1"})
    assert target.execute(ImportRun(done)).written
    run = queries.get_run(target.read(), "a" * 32)
    assert (run.info.run_name, run.info.status, run.info.end_time) == ("ran", RunStatus.FINISHED, 3000)
    assert run.data.tags["trial"] == "0" and run.data.params["alpha"] == "1"
    assert not target.execute(ImportRun(done)).written
    target.close()


def test_compare_sweep_shows_its_executions_led_by_its_metric() -> None:
    with nbtrack.start_run(run_name="sweep nb", source="sweep",
                           tags={"nbtrack.sweep.metric": "loss", "nbtrack.sweep.goal": "maximize"}) as sweep:
        pass
    for alpha, score in [(1, 0.5), (2, 0.9), (3, 0.7)]:
        with nbtrack.start_run(run_name=f"nb alpha={alpha}", parent_run_id=sweep.run_id):
            nbtrack.log_metric("loss", score)  # a "loss" to maximize: the goal wins over the name
    with nbtrack.start_run(run_name="unrelated"):
        nbtrack.log_metric("loss", 1.0)
    view = nbtrack.compare(sweep=sweep.run_id, display=False, live=False)
    assert sorted(view.df["run_name"]) == ["nb alpha=1", "nb alpha=2", "nb alpha=3"]
    assert view.metric == "loss" and view.options.descending is True
    assert [view.runs.names[i] for i in view.view.order.tolist()] == ["nb alpha=2", "nb alpha=3", "nb alpha=1"]
    from nbtrack.jobs.view import sweep_view

    assert sweep_view(sweep.run_id, "metrics.loss > 0.6") == (
        f"(metrics.loss > 0.6) and attributes.parent_run_id = '{sweep.run_id}'", "loss", True)
    assert sweep_view(sweep.run_id, metric="other").descending is None
    with pytest.raises(nbtrack.InvalidInput, match="not a sweep"):
        sweep_view(view.df["run_id"].iloc[0])


def test_bayes_without_a_metric_or_cap_is_refused_and_with_optuna_it_proposes() -> None:
    optuna = pytest.importorskip("optuna")
    from nbtrack.jobs.config import optuna_distribution, optuna_suggest

    config = parse_config({"method": "bayes", "run_cap": 3, "metric": {"name": "score", "goal": "maximize"},
                           "parameters": {"alpha": {"distribution": "log_uniform_values", "min": 0.01, "max": 10},
                                          "n": {"values": [1, 2]}, "fixed": {"value": 3}}})
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    values = {n: optuna_suggest(trial, n, s) for n, s in config.parameters.items()}
    assert 0.01 <= values["alpha"] <= 10 and values["n"] in (1, 2) and values["fixed"] == 3
    assert optuna_distribution(config.parameters["alpha"]).log


# --- reproduce: comparing ---------------------------------------------------------------------


def test_metrics_compare_exactly_then_within_tolerance() -> None:
    from nbtrack.jobs.reproduce import compare_metrics

    rows = {r.metric: r for r in compare_metrics(
        {"a": 1.0, "b": 1.0, "c": 1.0, "d": float("nan"), "gone": 2.0},
        {"a": 1.0, "b": 1.0 + 1e-12, "c": 1.1, "d": float("nan"), "extra": 3.0}, 1e-9)}
    assert {k: r.verdict for k, r in rows.items()} == {
        "a": "exact", "b": "within tolerance", "c": "differs", "d": "exact", "gone": "missing", "extra": "new"}
    assert rows["c"].difference == pytest.approx(0.1) and rows["gone"].reproduced is None


def test_environment_differences_name_python_and_packages() -> None:
    from nbtrack.jobs.reproduce import environment_differences
    from nbtrack.tracking.fluent import read_store

    with nbtrack.start_run(tags={"nbtrack.python_version": "3.0.1"}) as run:
        nbtrack.log_text("numpy==0.0.1\nno-such-dist-nbtrack==1.0\npytest==" + pytest.__version__ + "\n",
                         "environment/requirements.txt")
    notes = environment_differences(nbtrack.get_run(run.run_id), read_store())
    assert notes[0].startswith("Python 3.0.1 then, ")
    assert any(n.startswith("numpy 0.0.1 then, ") for n in notes)
    assert "no-such-dist-nbtrack 1.0 then, not installed now" in notes
    assert not any(n.startswith("pytest") for n in notes)


def test_job_kernels_talk_over_ipc_sockets_in_their_own_folder(tmp_path: Path) -> None:
    from nbtrack.jobs.kernel import job_kernel_manager

    km = job_kernel_manager("python3", {"NBTRACK_PARENT_RUN_ID": "x"}, str(tmp_path / "k"))
    assert km.transport == "ipc" and km.ip.startswith(str(tmp_path / "k"))  # no TCP port to race for
    assert km.job_env == {"NBTRACK_PARENT_RUN_ID": "x"}


def test_import_nbtrack_and_its_cli_load_no_job_dependency() -> None:
    from conftest import run_python

    done = run_python("import sys, nbtrack, nbtrack.cli\n"
                      "heavy = [m for m in ('papermill', 'tqdm', 'distributed', 'optuna', 'nbclient', "
                      "'jupyter_client', 'yaml') if m in sys.modules]\n"
                      "print(heavy)")
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_curve_that_differs_before_its_last_point_is_named() -> None:
    from nbtrack.jobs.reproduce import compare_metrics

    same_end = {"loss": ([(0, 1.0), (1, 0.5)], [(0, 0.9), (1, 0.5)]),
                "acc": ([(0, 0.1), (1, 0.2)], [(0, 0.1), (1, 0.2 + 1e-12)]),
                "f1": ([(0, 0.1)], [(0, 0.1), (1, 0.1)])}
    rows = {r.metric: r.verdict for r in compare_metrics(
        {"loss": 0.5, "acc": 0.2, "f1": 0.1}, {"loss": 0.5, "acc": 0.2 + 1e-12, "f1": 0.1}, 1e-9, same_end)}
    assert rows == {"loss": "history differs", "acc": "within tolerance", "f1": "history differs"}


def test_reproduce_refuses_a_run_without_a_snapshot() -> None:
    with nbtrack.start_run(run_name="api run") as run:
        nbtrack.log_metric("m", 1.0)
    with pytest.raises(nbtrack.InvalidInput, match="no kernel-history snapshot"):
        nbtrack.reproduce(run.run_id)
