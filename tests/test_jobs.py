"""Notebooks as jobs in real kernels: nbtrack run, sweeps on pools and Dask, Ctrl-C and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

import nbtrack
from nbtrack.cli import main
from nbtrack.entities import RunStatus
from nbtrack.store import queries
from nbtrack.store.jobs import child_runs
from nbtrack.tracking.fluent import read_store

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "notebooks" / "03-parameterized.ipynb"


def children(run_id: str) -> list:
    return child_runs(read_store(), run_id)


def slow_copy(tmp_path: Path, seconds: float) -> Path:
    """The example notebook with a pause before its tracked cell (for Ctrl-C tests)."""
    nb = nbformat.read(str(EXAMPLE), as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell(f"import time\ntime.sleep({seconds})"))
    path = tmp_path / "slow.ipynb"
    nbformat.write(nb, str(path))
    return path


# --- nbtrack run --------------------------------------------------------------------------


def test_run_notebook_is_one_parent_run_with_its_tracked_cells_as_children(tmp_path: Path) -> None:
    output = tmp_path / "out.ipynb"
    result = nbtrack.run_notebook(EXAMPLE, {"alpha": 0.1, "max_features": 1000}, output)
    assert result.status is RunStatus.FINISHED and result.metrics["score"] == pytest.approx(0.76)
    run = nbtrack.get_run(result.run_id)
    assert run.info.source == "notebook-job" and run.info.end_time is not None
    assert dict(run.data.params) == {"alpha": "0.1", "max_features": "1000", "fail": "False"}
    assert json.loads(run.data.tags["nbtrack.job.parameters"]) == {"alpha": 0.1, "max_features": 1000}
    assert run.data.metrics["score"] == pytest.approx(0.76)
    (child,) = children(result.run_id)
    assert child.info.run_name == "score" and child.info.status is RunStatus.FINISHED
    assert child.info.notebook_path == str(EXAMPLE)
    assert [m.value for m in queries.metric_history(read_store(), child.info.run_id, "loss")] == \
        pytest.approx([0.909091, 0.454545, 0.30303])
    executed = nbformat.read(str(output), as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "alpha = 0.1" in injected[0].source
    assert executed.metadata.papermill.parameters == {"alpha": 0.1, "max_features": 1000}
    (artifact,) = queries.artifact_entries(read_store(), result.run_id)
    assert artifact.path == "executed/03-parameterized.ipynb"


def test_a_failing_cell_ends_the_execution_failed_naming_the_cell_and_keeps_children() -> None:
    result = nbtrack.run_notebook(EXAMPLE, {"fail": True})
    assert result.status is RunStatus.FAILED
    assert "cell 5" in result.error and "`if fail:`" in result.error and "RuntimeError" in result.error
    run = nbtrack.get_run(result.run_id)
    assert run.info.status is RunStatus.FAILED and run.info.error.type == "RuntimeError"
    assert [c.info.status for c in children(result.run_id)] == [RunStatus.FINISHED]  # recorded before
    assert queries.artifact_entries(read_store(), result.run_id)  # the executed notebook, error cell included


def test_run_command_and_its_one_line_refusals(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["run", str(EXAMPLE), "-p", "alpha=0.2"])
    assert ok.exit_code == 0 and "FINISHED" in ok.output and "score=0.855257" in ok.output
    for args, message in [
        (["-p", "alpah=1"], "no parameter 'alpah'"),
        (["-p", "alpha=abc"], "does not parse as a number"),
        (["--kernel", "no-such-kernel"], "no Jupyter kernel named 'no-such-kernel'"),
    ]:
        bad = runner.invoke(main, ["run", str(EXAMPLE), *args])
        assert bad.exit_code == 1 and message in bad.output and "Traceback" not in bad.output
    no_cell = runner.invoke(main, ["run", str(REPO / "notebooks" / "01-track-cells.ipynb"), "-p", "a=1"])
    assert no_cell.exit_code == 1 and "no cell tagged 'parameters'" in no_cell.output
    failed = runner.invoke(main, ["run", str(EXAMPLE), "-p", "fail=True"])
    assert failed.exit_code == 1 and "FAILED" in failed.output
    # refused before anything was recorded: two runs (ok, failed), each with its child
    assert len([r for r in nbtrack.search_runs(output_format="list") if r.info.source == "notebook-job"]) == 2


# --- sweeps -------------------------------------------------------------------------------


def _sweep_children(sweep_run_id: str) -> list:
    return [c for c in children(sweep_run_id)]


def test_inline_grid_sweep_in_one_worker_merges_every_execution(capsys: pytest.CaptureFixture) -> None:
    result = nbtrack.sweep(EXAMPLE, {"method": "grid", "metric": {"name": "score", "goal": "maximize"},
                                     "parameters": {"alpha": {"values": [0.1, 1]}}})
    progress = capsys.readouterr().err  # tqdm's text bar: executions done and the best value so far
    assert "2/2" in progress and "best score=1.03" in progress
    assert [o.status for o in result.outcomes] == ["FINISHED", "FINISHED"]
    assert result.best().parameters == {"alpha": 1} and result.best().value == pytest.approx(1.03)
    sweep_run = nbtrack.get_run(result.sweep_run_id)
    assert sweep_run.info.status is RunStatus.FINISHED and sweep_run.data.metrics["score"] == pytest.approx(1.03)
    executions = _sweep_children(result.sweep_run_id)
    assert sorted(e.data.params["alpha"] for e in executions) == ["0.1", "1"]
    for execution in executions:
        assert execution.info.status is RunStatus.FINISHED
        (cell_run,) = children(execution.info.run_id)  # the %%track cell, merged with its parent
        assert cell_run.data.metrics["score"] == execution.data.metrics["score"]
        assert queries.artifact_entries(read_store(), execution.info.run_id)  # blobs came along


@pytest.mark.slow
def test_sweep_on_a_process_pool_with_cli_grid() -> None:
    out = CliRunner().invoke(main, ["sweep", str(EXAMPLE), "-p", "alpha=0.1,1,10", "-p", "max_features=1000,3000",
                                    "--workers", "2", "--no-progress"])
    assert out.exit_code == 0, out.output
    sweep_id = out.output.split()[1].rstrip(":")
    executions = _sweep_children(sweep_id)
    assert len(executions) == 6 and {e.info.status for e in executions} == {RunStatus.FINISHED}
    assert {(e.data.params["alpha"], e.data.params["max_features"]) for e in executions} == \
        {(a, m) for a in ("0.1", "1", "10") for m in ("1000", "3000")}
    assert all(len(children(e.info.run_id)) == 1 for e in executions)


@pytest.mark.slow
def test_sweep_on_a_dask_local_cluster_runs_identical_trials_twice() -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        # Two identical trials: with Dask's default pure=True they would be merged into one.
        result = nbtrack.sweep(EXAMPLE, {"method": "grid", "parameters": {"alpha": {"values": [2, 2]}}},
                               executor=client, progress=False)
        # the command's cluster path: a scheduler address
        out = CliRunner().invoke(main, ["sweep", str(EXAMPLE), "-p", "alpha=3,3", "--no-progress",
                                        "--dask", cluster.scheduler_address])
        assert out.exit_code == 0, out.output
    for sweep_id in (result.sweep_run_id, out.output.split()[1].rstrip(":")):
        executions = _sweep_children(sweep_id)
        assert len(executions) == 2 and len({e.info.run_id for e in executions}) == 2
        assert {e.info.status for e in executions} == {RunStatus.FINISHED}
        assert all(len(children(e.info.run_id)) == 1 for e in executions)


class DyingExecutor(Executor):
    """Runs the first execution, then fails every later one as a dead process pool would."""

    def __init__(self) -> None:
        self.calls = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: Future = Future()
        self.calls += 1
        if self.calls == 1:
            future.set_result(fn(*args, **kwargs))
        else:
            future.set_exception(BrokenProcessPool("a worker process died abruptly"))
        return future


def test_an_executor_that_dies_keeps_finished_executions_and_resume_runs_the_rest() -> None:
    result = nbtrack.sweep(EXAMPLE, parameters={"alpha": [0.1, 1, 10]}, executor=DyingExecutor(), progress=False)
    assert result.lost == 2 and sorted(o.status for o in result.outcomes) == ["FINISHED", "KILLED", "KILLED"]
    killed = [o for o in result.outcomes if o.status == "KILLED"][0]
    assert "BrokenProcessPool" in killed.error and f"--resume {result.sweep_run_id}" in killed.error
    assert nbtrack.get_run(result.sweep_run_id).info.status is RunStatus.FAILED
    resumed = nbtrack.sweep(resume=result.sweep_run_id, progress=False)
    finished = {o.parameters["alpha"] for o in resumed.outcomes if o.status == "FINISHED"}
    assert finished == {0.1, 1, 10} and resumed.lost == 0
    assert nbtrack.get_run(result.sweep_run_id).info.status is RunStatus.FINISHED


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_kills_running_keeps_finished_and_resume_runs_the_rest(
        tmp_path: Path, nbtrack_home: Path, workers: int) -> None:
    # Each execution touches a marker once its tracked cell is recorded, then pauses: Ctrl-C
    # lands while the second one pauses, so it has a finished child run to keep.
    nb = nbformat.read(str(EXAMPLE), as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell(
        "import pathlib, time\npathlib.Path(f'marker-{alpha}').touch()\ntime.sleep(3)"))
    notebook = tmp_path / "slow.ipynb"
    nbformat.write(nb, str(notebook))
    env = {**os.environ, "PYTHONPATH": str(REPO), "NBTRACK_HOME": str(nbtrack_home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "nbtrack", "sweep", str(notebook), "-p", "alpha=" + ",".join(["0.1", "1", "10", "100", "1000"][:workers + 3]),
         "--workers", str(workers), "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # a test runner started in the background ignores SIGINT, and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    started = workers + 1  # the pool's first executions, then one more after the first ended
    while time.monotonic() < deadline and len(list(tmp_path.glob("marker-*"))) < started:
        time.sleep(0.2)
    assert len(list(tmp_path.glob("marker-*"))) >= started, "no execution after the first reached its pause"
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "--resume" in err
    from nbtrack import state

    state.reset()
    sweep_run = [r for r in nbtrack.search_runs(output_format="list") if r.info.source == "sweep"][0]
    assert sweep_run.info.status is RunStatus.KILLED
    statuses = sorted(c.info.status.value for c in children(sweep_run.info.run_id))
    assert statuses.count("FINISHED") >= 1 and "KILLED" in statuses and "SCHEDULED" in statuses, statuses
    # An interrupted execution keeps what its cells recorded before Ctrl-C.
    paused = {m.name.removeprefix("marker-") for m in tmp_path.glob("marker-*")}
    killed = [c for c in children(sweep_run.info.run_id)
              if c.info.status is RunStatus.KILLED and c.data.params["alpha"] in paused]
    assert killed, statuses
    for execution in killed:
        (cell_run,) = children(execution.info.run_id)
        assert (cell_run.info.run_name, cell_run.info.status) == ("score", RunStatus.FINISHED)
        assert "score" in cell_run.data.metrics
    out = CliRunner().invoke(main, ["sweep", "--resume", sweep_run.info.run_id, "--no-progress"])
    assert out.exit_code == 0, out.output
    done = [c for c in children(sweep_run.info.run_id) if c.info.status is RunStatus.FINISHED]
    assert sorted(c.data.params["alpha"] for c in done) == ["0.1", "1", "10", "100", "1000"][:workers + 3]
    assert nbtrack.get_run(sweep_run.info.run_id).info.status is RunStatus.FINISHED


# --- reproduce ----------------------------------------------------------------------------


def _data_notebook(tmp_path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("scale = 1.0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("%load_ext nbtrack\nimport numpy as np\nimport nbtrack\nxs = np.loadtxt('data.txt')"),
        nbformat.v4.new_code_cell("%%track mean -q\nm = float(xs.mean()) * scale\nnbtrack.log_metric('mean', m)"),
    ]
    path = tmp_path / "data.ipynb"
    nbformat.write(nb, str(path))
    (tmp_path / "data.txt").write_text("1\n2\n3\n")
    return path


@pytest.mark.slow
def test_reproduce_a_cell_run_rebuilds_its_state_compares_and_records(tmp_path: Path) -> None:
    notebook = _data_notebook(tmp_path)
    execution = nbtrack.run_notebook(notebook, {"scale": 2.0})
    (cell_run,) = children(execution.run_id)
    assert cell_run.data.metrics["mean"] == 4.0 and cell_run.inputs.dataset_inputs[0].name == "xs"

    result = nbtrack.reproduce(cell_run.info.run_id)
    assert result.verdict == "exact" and [m.verdict for m in result.metrics] == ["exact"]
    assert "mean" in result.table() and "exact" in result.table()
    new = nbtrack.get_run(result.run_id)
    assert new.data.tags["nbtrack.reproduces"] == cell_run.info.run_id
    assert new.data.tags["nbtrack.reproduce.verdict"] == "exact" and new.data.metrics["mean"] == 4.0
    assert new.info.parent_run_id is None  # replayed cells before it added nothing to the store
    assert len(nbtrack.search_runs(output_format="list")) == 3

    (tmp_path / "data.txt").write_text("1\n2\n30\n")
    with pytest.raises(nbtrack.InvalidInput, match="input 'xs' changed.*--force"):
        nbtrack.reproduce(cell_run.info.run_id)
    forced = nbtrack.reproduce(cell_run.info.run_id, force=True)
    assert forced.verdict == "not reproduced" and forced.inputs and forced.metrics[0].difference == 18.0


def test_reproduce_an_execution_reruns_it_and_the_command_prints_the_table() -> None:
    execution = nbtrack.run_notebook(EXAMPLE, {"alpha": 0.3})
    out = CliRunner().invoke(main, ["reproduce", execution.run_id, "--tolerance", "1e-6"])
    assert out.exit_code == 0, out.output
    assert "metric" in out.output and "score" in out.output and "verdict: exact" in out.output
    again = [r for r in nbtrack.search_runs(output_format="list")
             if r.data.tags.get("nbtrack.reproduces") == execution.run_id]
    assert len(again) == 1 and again[0].info.source == "notebook-job"
    assert json.loads(again[0].data.tags["nbtrack.job.parameters"]) == {"alpha": 0.3}


@pytest.mark.slow
def test_bayes_sweep_through_optuna_from_a_yaml_config(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    config = tmp_path / "sweep.yaml"
    config.write_text("method: bayes\nrun_cap: 3\nmetric: {name: score, goal: maximize}\n"
                      "parameters:\n  alpha: {distribution: log_uniform_values, min: 0.1, max: 10}\n"
                      "  max_features: {values: [1000, 3000]}\n")
    out = CliRunner().invoke(main, ["sweep", str(EXAMPLE), "--config", str(config), "--no-progress"])
    assert out.exit_code == 0, out.output
    sweep_id = out.output.split()[1].rstrip(":")
    executions = _sweep_children(sweep_id)
    assert len(executions) == 3 and {e.info.status for e in executions} == {RunStatus.FINISHED}
    best = max(e.data.metrics["score"] for e in executions)
    sweep_run = nbtrack.get_run(sweep_id)
    assert sweep_run.data.metrics["score"] == best and sweep_run.data.tags["nbtrack.sweep.method"] == "bayes"
    assert out.output.splitlines()[3].split()[-1] == f"{best:g}"  # the table leads with the best


@pytest.mark.slow
def test_a_pool_whose_worker_is_killed_mid_sweep_keeps_what_finished(tmp_path: Path) -> None:
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    nb = nbformat.read(str(EXAMPLE), as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell(
        "import time\nopen(f'started-{alpha}', 'w').close()\ntime.sleep(3)"))
    notebook = tmp_path / "marked.ipynb"
    nbformat.write(nb, str(notebook))
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("forkserver"))

    def kill_when_the_second_starts() -> None:
        deadline = time.monotonic() + 120
        while not (tmp_path / "started-1").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        for process in list(pool._processes.values()):  # what an OOM killer does to a worker
            os.kill(process.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_the_second_starts)
    killer.start()
    result = nbtrack.sweep(notebook, parameters={"alpha": [0.1, 1, 10]}, executor=pool, progress=False)
    killer.join()
    pool.shutdown()
    by_alpha = {o.parameters["alpha"]: o for o in result.outcomes}
    assert by_alpha[0.1].status == "FINISHED" and by_alpha[1].status == "KILLED" and result.lost == 2
    assert "BrokenProcessPool" in by_alpha[1].error
    finished = [c for c in _sweep_children(result.sweep_run_id) if c.info.status is RunStatus.FINISHED]
    assert len(finished) == 1 and len(children(finished[0].info.run_id)) == 1  # kept whole


@pytest.mark.slow
def test_a_bayes_sweep_resumes_with_what_finished_told_to_the_study() -> None:
    pytest.importorskip("optuna")
    config = {"method": "bayes", "run_cap": 3, "metric": {"name": "score", "goal": "maximize"},
              "parameters": {"alpha": {"distribution": "log_uniform_values", "min": 0.1, "max": 10}}}
    first = nbtrack.sweep(EXAMPLE, config, executor=DyingExecutor(), progress=False)
    assert sorted(o.status for o in first.outcomes) == ["FINISHED", "KILLED", "KILLED"]
    resumed = nbtrack.sweep(resume=first.sweep_run_id, progress=False)
    finished = [o for o in resumed.outcomes if o.status == "FINISHED"]
    assert len(finished) == 3 and len({o.run_id for o in finished}) == 3
    assert nbtrack.get_run(first.sweep_run_id).data.metrics["score"] == max(o.value for o in finished)


def test_run_notebook_inside_a_run_is_its_child() -> None:
    with nbtrack.start_run(run_name="pipeline") as pipeline:
        result = nbtrack.run_notebook(EXAMPLE, {"alpha": 2})
    assert nbtrack.get_run(result.run_id).info.parent_run_id == pipeline.run_id
    assert [c.info.run_id for c in children(pipeline.run_id)] == [result.run_id]


@pytest.mark.slow
def test_reproduce_a_run_recorded_in_a_lab_like_kernel(nbtrack_home: Path) -> None:
    """notebooks/01: the cell run with -p C=0.5 reads arrays built by earlier cells."""
    from kernel_support import run_notebook

    run_notebook(REPO / "notebooks" / "01-track-cells.ipynb", nbtrack_home)
    from nbtrack import state

    state.reset()
    logreg = next(r for r in nbtrack.search_runs(output_format="list") if r.info.run_name == "logreg")
    result = nbtrack.reproduce(logreg.info.run_id)
    assert result.verdict == "exact", result.table()
    assert {m.metric for m in result.metrics} >= {"train_acc", "test_acc"}
    assert nbtrack.get_run(result.run_id).data.params["C"] == "0.5"


@pytest.mark.slow
def test_a_kernel_that_does_not_start_is_retried_once_then_named(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "jupyter" / "kernels" / "sleepy"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", "import time; time.sleep(30)"], "display_name": "sleepy",
        "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    result = nbtrack.run_notebook(EXAMPLE, {"alpha": 1}, kernel_name="sleepy", start_timeout=1)
    assert result.status is RunStatus.FAILED
    assert "did not start within 1 s, twice" in result.error and "--start-timeout" in result.error
    assert nbtrack.get_run(result.run_id).info.error.type == "KernelStartFailed"


class RefusingExecutor(DyingExecutor):
    """A broken pool: the first execution runs, then submit itself raises."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        if self.calls >= 1:
            raise BrokenProcessPool("A child process terminated abruptly, the process pool is not usable anymore")
        return super().submit(fn, *args, **kwargs)


def test_a_pool_that_refuses_work_loses_only_the_rest() -> None:
    result = nbtrack.sweep(EXAMPLE, parameters={"alpha": [0.1, 1, 10]}, executor=RefusingExecutor(),
                           progress=False)
    assert sorted(o.status for o in result.outcomes) == ["FINISHED", "KILLED", "KILLED"] and result.lost == 2
    sweep_run = nbtrack.get_run(result.sweep_run_id)
    assert sweep_run.info.status is RunStatus.FAILED and "--resume" in sweep_run.info.error.message


@pytest.mark.slow
def test_run_and_sweep_from_inside_a_notebook_kernel(tmp_path: Path, nbtrack_home: Path) -> None:
    """The Jupyter-native path: a notebook cell drives papermill (nested event loops, kernel in kernel)."""
    from kernel_support import run_notebook

    driver = tmp_path / "driver.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import nbtrack\n"
        f"r = nbtrack.run_notebook({str(EXAMPLE)!r}, {{'alpha': 2}})\n"
        f"s = nbtrack.sweep({str(EXAMPLE)!r}, parameters={{'alpha': [1, 2]}}, progress=False)\n"
        "print(r.status.value, sorted(o.status for o in s.outcomes))")]), str(driver))
    executed = run_notebook(driver, nbtrack_home, timeout=300)
    text = "".join(o.get("text", "") for o in executed.cells[0].outputs)
    assert "FINISHED ['FINISHED', 'FINISHED']" in text


def test_the_output_path_is_formatted_with_the_parameters_as_papermill_does(tmp_path: Path) -> None:
    result = nbtrack.run_notebook(EXAMPLE, {"alpha": 0.2}, tmp_path / "out-{alpha}.ipynb")
    assert result.output_path == str(tmp_path / "out-0.2.ipynb") and Path(result.output_path).is_file()
    with pytest.raises(nbtrack.InvalidInput, match="'beta' is not a parameter given"):
        nbtrack.run_notebook(EXAMPLE, {"alpha": 0.2}, tmp_path / "out-{beta}.ipynb")
