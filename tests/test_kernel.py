"""``%%track`` in a real kernel: notebooks executed with nbclient as JupyterLab runs them
(``cellId`` with every request, ``JPY_SESSION_NAME`` set), then the store read back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nbformat
import pytest
from kernel_support import REPO, run_notebook
from nbclient.exceptions import CellExecutionError

from nbtrack.entities import RunStatus
from nbtrack.errors import StoreError
from nbtrack.paths import resolve_location
from nbtrack.store import artifacts, queries
from nbtrack.store.database import open_store

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

EXAMPLE = REPO / "notebooks" / "01-track-cells.ipynb"
FIXTURES = REPO / "tests" / "notebooks"


def read(home: Path):
    return open_store(resolve_location(home), readonly=True)


def runs_by_name(store) -> dict[str, list]:
    found: dict[str, list] = {}
    for run in queries.search_runs(store, view_type="ALL"):  # newest first
        found.setdefault(run.info.run_name, []).append(run)
    return found


def artifact_bytes(store, run_id: str, path: str) -> bytes:
    entries = {p: d for p, d, _ in queries.artifact_entries(store, run_id)}
    return artifacts.blob_path(store, entries[path]).read_bytes()


def test_example_notebook_twice_records_runs_lineage_and_snapshots(nbtrack_home):
    executed = run_notebook(EXAMPLE, nbtrack_home)
    run_notebook(EXAMPLE, nbtrack_home)
    store = read(nbtrack_home)
    runs = runs_by_name(store)
    second, first = runs["bow-nb"]
    for run in (first, second):
        assert run.info.status is RunStatus.FINISHED
        assert run.info.cell_id == "01-track-cells-5"  # the cell's nbformat id, sent as cellId
        assert run.info.notebook_path == str(EXAMPLE)
        assert run.info.execution_count == 3
        assert run.data.params == {"alpha": "1.0", "binarize": "None"}
        assert 0.5 < run.data.metrics["accuracy"] <= 1
        assert run.data.tags["developer"] == "me"
        assert {d.name for d in run.inputs.dataset_inputs} == {"X_train", "X_test", "y_train", "y_test"}
    # Lineage: the second execution of the notebook links to the first, cell by cell.
    assert second.info.previous_run_id == first.info.run_id
    assert [r.info.run_id for r in queries.lineage(store, second.info.run_id)] == \
        [second.info.run_id, first.info.run_id]
    assert second.data.metrics == first.data.metrics  # same data, same model
    assert [d.digest for d in second.inputs.dataset_inputs] == [d.digest for d in first.inputs.dataset_inputs]
    logreg = runs["logreg"][0]
    assert logreg.data.params == {"C": "0.5"} and set(logreg.data.metrics) == {"train_acc", "test_acc"}
    cv = runs["cv-folds"][0]
    folds = [runs[f"fold-{i}"][0] for i in range(3)]
    assert all(f.info.parent_run_id == cv.info.run_id for f in folds)
    assert cv.data.metrics["mean_accuracy"] == pytest.approx(
        sum(f.data.metrics["accuracy"] for f in folds) / 3)
    # Snapshots: the history is a valid notebook of what ran, up to this cell; the file on disk too.
    history = nbformat.reads(artifact_bytes(store, second.info.run_id,
                                            "notebook/01-track-cells.history.ipynb").decode(), as_version=4)
    nbformat.validate(history)
    assert [c.execution_count for c in history.cells] == [1, 2, 3]
    assert history.cells[2].source.startswith("%%track bow-nb")
    assert history.cells[2].metadata["nbtrack"]["cell_id"] == "01-track-cells-5"
    assert artifact_bytes(store, second.info.run_id, "notebook/01-track-cells.file.ipynb") == EXAMPLE.read_bytes()
    # Stored by content: both executions point at the same blobs.
    first_entries = {p: d for p, d, _ in queries.artifact_entries(store, first.info.run_id)}
    second_entries = {p: d for p, d, _ in queries.artifact_entries(store, second.info.run_id)}
    assert first_entries["notebook/01-track-cells.history.ipynb"] == \
        second_entries["notebook/01-track-cells.history.ipynb"]
    # Environment, written by the background worker before the kernel exited.
    assert first.data.tags["nbtrack.python_version"].startswith("3.")
    requirements = artifact_bytes(store, first.info.run_id, "environment/requirements.txt").decode()
    assert "scikit-learn==" in requirements and "numpy==" in requirements
    assert len(first.data.tags["mlflow.source.git.commit"]) == 40  # the notebook lives in this repo
    # What the user saw: a summary in text and HTML, no error output anywhere.
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    summary = executed.cells[5].outputs[-1]
    assert "bow-nb" in summary.data["text/plain"] and "<table>" in summary.data["text/html"]
    assert all(r.info.status is not RunStatus.RUNNING for rs in runs.values() for r in rs)


def test_failing_cell_fails_the_notebook_and_the_run(nbtrack_home):
    with pytest.raises(CellExecutionError) as raised:
        run_notebook(FIXTURES / "failing.ipynb", nbtrack_home)
    assert raised.value.ename == "ValueError"  # the user's exception, not nbtrack's
    assert "no scores above threshold 0.5" in str(raised.value)
    store = read(nbtrack_home)
    (run,) = queries.search_runs(store)
    assert run.info.status is RunStatus.FAILED
    assert run.info.error.type == "ValueError"
    assert 'raise ValueError(f"no scores above threshold {threshold}")' in run.info.error.traceback
    assert run.data.params == {"threshold": "0.5", "scores": "[0.1, 0.3]"}


def test_interrupted_cell_is_killed_and_the_kernel_goes_on(nbtrack_home):
    def interrupt_when_running(client) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with read(nbtrack_home) as store:
                    running = queries.search_runs(store, "attributes.status = 'RUNNING'")
                    if running and running[0].info.run_name == "sleepy" and \
                            queries.metric_keys(store, running[0].info.run_id):
                        break  # the loop is running and its points are arriving
            except StoreError:  # the kernel has not created the store yet
                pass
            time.sleep(0.2)
        # What JupyterLab's interrupt button does: the kernel manager signals the kernel.
        asyncio.run(client.km.interrupt_kernel())  # async in nbclient's manager

    executed = run_notebook(FIXTURES / "interrupted.ipynb", nbtrack_home, allow_errors=True,
                            while_running=interrupt_when_running)
    store = read(nbtrack_home)
    runs = runs_by_name(store)
    (sleepy,) = runs["sleepy"]
    assert sleepy.info.status is RunStatus.KILLED and sleepy.info.error.type == "KeyboardInterrupt"
    points = queries.metric_history(store, sleepy.info.run_id, "progress")
    assert 0 < len(points) < 1200
    assert runs["after-interrupt"][0].info.status is RunStatus.FINISHED
    outputs = executed.cells[1].outputs
    assert [o.ename for o in outputs if o.output_type == "error"] == ["KeyboardInterrupt"]
    # The traceback as without the magic, then the run's summary.
    assert [o.output_type for o in outputs][-2:] == ["error", "execute_result"]
    assert "KILLED" in outputs[-1].data["text/plain"]
    assert not queries.search_runs(store, "attributes.status = 'RUNNING'")


def test_cell_logging_100k_points(nbtrack_home):
    started = time.perf_counter()
    run_notebook(FIXTURES / "many_points.ipynb", nbtrack_home)
    elapsed = time.perf_counter() - started
    store = read(nbtrack_home)
    (run,) = queries.search_runs(store)
    assert run.info.status is RunStatus.FINISHED
    summary = run.data.metric_summaries["loss"]
    assert summary.count == 100_000 and summary.last_step == 99_999
    assert len(queries.metric_history(store, run.info.run_id, "loss")) == 100_000
    assert elapsed < 60


def test_frontend_context_gives_the_current_path_and_content(nbtrack_home, tmp_path):
    notebook = tmp_path / "before-rename.ipynb"
    cell = nbformat.v4.new_code_cell("%load_ext nbtrack")
    tracked = nbformat.v4.new_code_cell("%%track renamed\nalpha = 1")
    nb = nbformat.v4.new_notebook(cells=[cell, tracked])
    nbformat.write(nb, notebook)
    content = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%%track renamed\nalpha = 1 # unsaved")])

    def context(executing):
        if executing.id != tracked.id:
            return None
        return {"notebook_path": "work/after-rename.ipynb", "server_root": str(tmp_path),
                "cell_id": tracked.id, "notebook_content": content}

    run_notebook(notebook, nbtrack_home, frontend_context=context)
    store = read(nbtrack_home)
    (run,) = queries.search_runs(store)
    assert run.info.notebook_path == str(tmp_path / "work" / "after-rename.ipynb")
    assert run.info.cell_id == tracked.id
    saved = nbformat.reads(artifact_bytes(store, run.info.run_id, "notebook/after-rename.file.ipynb").decode(),
                           as_version=4)
    assert saved.cells[0].source.endswith("# unsaved")


def test_snapshots_hold_the_runs_own_outputs_and_count(nbtrack_home, tmp_path):
    """The frontend sends the notebook as the cell starts (with its old outputs); the run's
    snapshots carry what this execution showed, under this execution's count."""
    notebook = tmp_path / "outputs.ipynb"
    load = nbformat.v4.new_code_cell("%load_ext nbtrack")
    tracked = nbformat.v4.new_code_cell(
        "%%track shown\nimport sys\nfrom IPython.display import HTML, display\n"
        "print('epoch 1'); print('epoch 2')\nprint('careful', file=sys.stderr)\n"
        "display(HTML('<b>done</b>'))\n6 * 7")
    nbformat.write(nbformat.v4.new_notebook(cells=[load, tracked]), notebook)
    stale = nbformat.v4.new_code_cell(tracked.source, execution_count=None, id=tracked.id,
                                      outputs=[nbformat.v4.new_output("stream", name="stdout", text="old run\n")])

    def context(executing):
        if executing.id != tracked.id:
            return None
        return {"notebook_path": str(notebook), "server_root": str(tmp_path), "cell_id": tracked.id,
                "notebook_content": nbformat.v4.new_notebook(cells=[load, stale])}

    executed = run_notebook(notebook, nbtrack_home, frontend_context=context)
    store = read(nbtrack_home)
    (run,) = queries.search_runs(store)
    shown = [o for o in executed.cells[1].outputs if "nbtrack" not in str(o.get("data", {}).get("text/plain", ""))]
    for name in ("history", "file"):
        saved = nbformat.reads(artifact_bytes(store, run.info.run_id, f"notebook/outputs.{name}.ipynb").decode(),
                               as_version=4)
        nbformat.validate(saved)
        (cell,) = [c for c in saved.cells if "%%track shown" in c.source]
        assert cell.execution_count == 2
        kinds = [(o.output_type, o.get("name")) for o in cell.outputs]
        assert kinds == [("stream", "stdout"), ("stream", "stderr"), ("display_data", None),
                         ("execute_result", None)], (name, cell.outputs)
        assert cell.outputs[0].text == "epoch 1\nepoch 2\n"
        assert cell.outputs[2].data["text/html"] == "<b>done</b>"
        assert cell.outputs[3].data["text/plain"] == "42" and cell.outputs[3].execution_count == 2
        assert "old run" not in str(cell.outputs)
    # What the user saw is unchanged: the same outputs reached the frontend.
    assert [o.output_type for o in shown][:4] == ["stream", "stream", "display_data", "execute_result"]
