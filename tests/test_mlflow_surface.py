"""MLflow's surface on nbtrack: ``MlflowClient`` and the fluent names, with MLflow's arguments
and return types, against a real temp store; MLflow's system tags as ``search_runs`` columns.

System metrics are in tests/test_system_metrics.py, foreign stores in
tests/test_foreign_store.py, the name-by-name table in tests/test_mlflow_compat.py.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_python
from kernel_support import tracking_shell

import nbtrack
from nbtrack.entities import (Experiment, FileInfo, Metric, PagedList, Param, Run, RunInfo, RunStatus,
                              RunTag)
from nbtrack.errors import ExperimentNotFound, InvalidInput, RunNotFound


@pytest.fixture
def client() -> nbtrack.MlflowClient:
    return nbtrack.MlflowClient()


def test_the_client_is_reachable_under_mlflows_names() -> None:
    from nbtrack.tracking import MlflowClient

    assert MlflowClient is nbtrack.MlflowClient is nbtrack.Client
    assert nbtrack.MlflowException is nbtrack.NbtrackError
    from nbtrack.entities import ModelVersion, RegisteredModel  # as mlflow.entities.model_registry's
    from nbtrack.store import registry_queries

    assert (ModelVersion, RegisteredModel) == (registry_queries.ModelVersion, registry_queries.RegisteredModel)


# --- experiments ---------------------------------------------------------------------------


def test_client_experiments_create_get_tag_rename_delete_restore(client) -> None:
    experiment_id = client.create_experiment("churn", tags={"team": "ml"})
    assert isinstance(experiment_id, str)
    experiment = client.get_experiment(experiment_id)
    assert isinstance(experiment, Experiment) and experiment.name == "churn" and experiment.tags == {"team": "ml"}
    assert os.path.isabs(experiment.artifact_location)
    with pytest.raises(InvalidInput, match="already exists"):
        client.create_experiment("churn")
    client.set_experiment_tag(experiment_id, "stage", "dev")
    client.delete_experiment_tag(experiment_id, "team")
    client.rename_experiment(experiment_id, "churn-v2")
    assert client.get_experiment_by_name("churn-v2").tags == {"stage": "dev"}
    assert client.get_experiment_by_name("churn") is None
    run = client.create_run(experiment_id)
    client.set_terminated(run.info.run_id)
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert client.search_runs([experiment_id]) == []  # its runs went with it, as in MLflow
    client.restore_experiment(experiment_id)
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run.info.run_id]
    with pytest.raises(ExperimentNotFound):
        client.get_experiment("999")
    with pytest.raises(nbtrack.MlflowException) as caught:
        client.get_experiment("999")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_search_experiments_takes_mlflows_arguments(client) -> None:
    for name, team in (("a-churn", "ml"), ("b-fraud", "risk"), ("c-churn", "ml")):
        client.create_experiment(name, tags={"team": team})
        time.sleep(0.002)  # distinct creation times
    client.delete_experiment(client.get_experiment_by_name("c-churn").experiment_id)
    names = lambda found: [e.name for e in found]  # noqa: E731
    assert names(nbtrack.search_experiments()) == ["b-fraud", "a-churn"]  # newest first, active only
    assert names(nbtrack.search_experiments(view_type="DELETED_ONLY")) == ["c-churn"]
    assert names(nbtrack.search_experiments(view_type=nbtrack.ViewType.ALL, filter_string="tags.team = 'ml'",
                                            order_by=["name ASC"])) == ["a-churn", "c-churn"]
    assert names(nbtrack.search_experiments(filter_string="name LIKE '%churn' AND tags.team != 'risk'")) == ["a-churn"]
    assert names(nbtrack.search_experiments(filter_string="name ILIKE 'B-%'")) == ["b-fraud"]
    assert names(nbtrack.search_experiments(max_results=1, order_by=["name DESC"])) == ["b-fraud"]
    page = client.search_experiments(max_results=1, order_by=["name ASC"])
    assert isinstance(page, PagedList) and names(page) == ["a-churn"] and page.token is not None
    assert names(client.search_experiments(max_results=1, order_by=["name ASC"], page_token=page.token)) == ["b-fraud"]
    with pytest.raises(InvalidInput, match="experiment filter"):
        nbtrack.search_experiments(filter_string="metrics.x > 1")
    with pytest.raises(InvalidInput, match="cannot order"):
        nbtrack.search_experiments(order_by=["status"])


def test_fluent_experiment_names() -> None:
    experiment_id = nbtrack.create_experiment("sentiment", tags={"a": "1"})
    assert nbtrack.get_experiment(experiment_id).name == "sentiment"
    nbtrack.set_experiment("sentiment")
    nbtrack.set_experiment_tag("b", "2")
    nbtrack.set_experiment_tags({"c": "3"})
    nbtrack.delete_experiment_tag("a")
    assert nbtrack.get_experiment_by_name("sentiment").tags == {"b": "2", "c": "3"}
    nbtrack.delete_experiment(experiment_id)
    assert nbtrack.get_experiment(experiment_id).lifecycle_stage == "deleted"
    nbtrack.restore_experiment(experiment_id)
    assert nbtrack.get_experiment(experiment_id).lifecycle_stage == "active"


# --- runs through the client ------------------------------------------------------------------


def test_client_creates_logs_and_ends_a_run(client, tmp_path) -> None:
    experiment_id = client.create_experiment("demo")
    run = client.create_run(experiment_id, tags={"developer": "me"}, run_name="r1", start_time=1_700_000_000_000)
    assert isinstance(run, Run) and isinstance(run.info, RunInfo)
    assert run.info.status is RunStatus.RUNNING and run.info.start_time == 1_700_000_000_000
    run_id = run.info.run_id
    assert client.log_param(run_id, "alpha", 0.5) == 0.5
    client.log_metric(run_id, "loss", 0.4, step=1)
    client.log_metric(run_id, "loss", 0.3, step=2, timestamp=1_700_000_001_000)
    client.set_tag(run_id, "temp", "x")
    client.delete_tag(run_id, "temp")
    client.log_batch(run_id, metrics=[Metric("acc", 0.9, 1_700_000_002_000, 3)], params=[Param("beta", "2")],
                     tags=[RunTag("stage", "baseline")])
    source = tmp_path / "notes.txt"
    source.write_text("hello")
    client.log_artifact(run_id, source, "docs")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.txt").write_text("a")
    client.log_artifacts(run_id, tmp_path / "folder", "folder")
    client.log_text(run_id, "text", "t.txt")
    client.log_dict(run_id, {"x": 1}, "d.json")
    client.log_image(run_id, np.zeros((4, 4, 3), dtype=np.uint8), "img.png")
    client.log_table(run_id, {"q": ["a", "b"], "score": [0.1, 0.2]}, "eval.json")
    client.set_terminated(run_id, "FAILED", end_time=1_700_000_009_000)

    stored = client.get_run(run_id)
    assert stored.info.status is RunStatus.FAILED and stored.info.end_time == 1_700_000_009_000
    assert stored.data.params == {"alpha": "0.5", "beta": "2"}
    assert stored.data.metrics == {"loss": 0.3, "acc": 0.9}
    assert "temp" not in stored.data.tags and stored.data.tags["stage"] == "baseline"
    assert stored.data.tags["developer"] == "me" and stored.data.tags["mlflow.runName"] == "r1"
    history = client.get_metric_history(run_id, "loss")
    assert all(isinstance(m, Metric) for m in history) and [(m.step, m.value) for m in history] == [(1, 0.4), (2, 0.3)]
    assert history[1].timestamp == 1_700_000_001_000
    listing = client.list_artifacts(run_id)
    assert all(isinstance(f, FileInfo) for f in listing)
    assert [(f.path, f.is_dir) for f in listing] == [("d.json", False), ("docs", True), ("eval.json", False),
                                                     ("folder", True), ("img.png", False), ("t.txt", False)]
    assert client.load_table(experiment_id, "eval.json", extra_columns=["run_id"])["run_id"].tolist() == [run_id] * 2


def test_client_refuses_a_changed_param_and_writes_to_ended_runs(client) -> None:
    with nbtrack.start_run() as run:
        nbtrack.log_param("alpha", 1)
        with pytest.raises(InvalidInput, match="cannot change"):  # the fluent and client views agree
            client.log_param(run.info.run_id, "alpha", 2)
    client.log_metric(run.info.run_id, "late", 1.0)  # MLflow allows logging to an ended run
    client.log_param(run.info.run_id, "beta", 3)
    with pytest.raises(InvalidInput, match="cannot change"):
        client.log_param(run.info.run_id, "alpha", 2)
    stored = client.get_run(run.info.run_id)
    assert stored.data.metrics == {"late": 1.0} and stored.data.params == {"alpha": "1", "beta": "3"}
    with pytest.raises(RunNotFound):
        client.log_metric("0" * 32, "x", 1.0)


def test_update_run_parent_run_delete_restore_and_paging(client) -> None:
    with nbtrack.start_run(run_name="parent") as parent:
        with nbtrack.start_run(run_name="child", nested=True) as child:
            pass
    assert client.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert nbtrack.get_parent_run(child.info.run_id).info.run_id == parent.info.run_id
    assert nbtrack.get_parent_run(parent.info.run_id) is None
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    client.update_run(child.info.run_id, name="renamed")
    renamed = client.get_run(child.info.run_id)
    assert renamed.info.run_name == "renamed" and renamed.data.tags["mlflow.runName"] == "renamed"
    page = client.search_runs(max_results=1)
    assert isinstance(page, PagedList) and len(page) == 1 and page.token
    assert len(client.search_runs(max_results=1, page_token=page.token)) == 1
    assert client.search_runs(max_results=2).token is None
    nbtrack.delete_run(child.info.run_id)
    assert len(nbtrack.search_runs()) == 1
    nbtrack.restore_run(child.info.run_id)
    assert len(nbtrack.search_runs()) == 2


def test_a_run_the_client_created_and_left_open_ends_at_exit(nbtrack_home) -> None:
    done = run_python("import nbtrack\nc = nbtrack.MlflowClient()\n"
                      "r = c.create_run(c.create_experiment('e'))\nc.log_metric(r.info.run_id, 'm', 1.0)\n"
                      "print(r.info.run_id)\n", env={"NBTRACK_HOME": str(nbtrack_home)})
    assert done.returncode == 0, done.stderr
    stored = nbtrack.MlflowClient().get_run(done.stdout.strip())
    assert stored.info.status is RunStatus.FINISHED and stored.data.metrics == {"m": 1.0}


# --- fluent keywords and names ---------------------------------------------------------------------


def test_run_id_and_synchronous_keywords(tmp_path) -> None:
    with nbtrack.start_run() as finished:
        pass
    run_id = finished.info.run_id
    source = tmp_path / "f.txt"
    source.write_text("f")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "g.txt").write_text("g")
    nbtrack.log_params({"a": 1}, synchronous=True, run_id=run_id)
    nbtrack.log_artifact(source, run_id=run_id)
    nbtrack.log_artifacts(tmp_path / "d", "d", run_id=run_id)
    nbtrack.log_text("t", "t.txt", run_id=run_id)
    nbtrack.log_dict({"k": 1}, "k.json", run_id=run_id)
    nbtrack.log_metric("m", 1.0, run_id=run_id, synchronous=True)
    stored = nbtrack.get_run(run_id)
    assert stored.data.params == {"a": "1"} and stored.data.metrics == {"m": 1.0}
    assert {f.path for f in nbtrack.MlflowClient().list_artifacts(run_id)} == {"f.txt", "d", "t.txt", "k.json"}
    with nbtrack.start_run() as run:
        nbtrack.log_param("p", 1, synchronous=True)
        nbtrack.set_tag("t", 1, synchronous=True)
        nbtrack.set_tags({"u": 2}, synchronous=False)
        nbtrack.log_metrics({"x": 1.0}, synchronous=True)
        # synchronous=True: durable on return, so another process sees it before the run ends
        seen = run_python("import nbtrack; r = nbtrack.get_run(%r); print(r.data.params, r.data.metrics)"
                          % run.info.run_id, env={"NBTRACK_HOME": os.environ["NBTRACK_HOME"]})
    assert seen.stdout.strip() == "{'p': '1'} {'x': 1.0}", seen.stderr


def test_artifact_uri_is_absolute_and_download_artifacts_returns_absolute_paths(tmp_path, monkeypatch) -> None:
    with nbtrack.start_run() as run:
        nbtrack.log_text("hello", "notes/readme.txt")
        uri = nbtrack.get_artifact_uri()
        file_uri = nbtrack.get_artifact_uri("notes/readme.txt")
    assert uri == run.info.artifact_uri and os.path.isabs(uri)  # as MLflow's for a local store
    assert Path(file_uri).read_text() == "hello"
    frame = nbtrack.search_runs()
    assert frame["artifact_uri"].tolist() == [uri]
    monkeypatch.chdir(tmp_path)
    client = nbtrack.MlflowClient()
    local = client.download_artifacts(run.info.run_id, "notes", dst_path="out")
    assert os.path.isabs(local) and Path(local, "readme.txt").read_text() == "hello"
    assert local == str(tmp_path / "out" / "notes")
    default = client.download_artifacts(run.info.run_id, "notes/readme.txt")
    assert os.path.isabs(default) and Path(default).read_text() == "hello"
    with pytest.raises(nbtrack.NbtrackError, match="needs an active run"):
        nbtrack.get_artifact_uri()


def test_log_image_table_and_inputs() -> None:
    pil = pytest.importorskip("PIL.Image")
    with nbtrack.start_run() as first:
        nbtrack.log_image(np.zeros((8, 8), dtype=np.uint8), "gray.png")
        nbtrack.log_image(np.full((2, 2, 3), 0.5), key="sample", step=3)
        nbtrack.log_image(pil.new("RGB", (3, 3)), "pil.png")
        nbtrack.log_table({"text": ["a", "b"], "score": [0.1, 0.9]}, "eval.json")
        nbtrack.log_inputs([np.arange(3), np.arange(4)], contexts=["train", "test"])
        with pytest.raises(InvalidInput, match="either artifact_file or key"):
            nbtrack.log_image(np.zeros((2, 2)))
        with pytest.raises(InvalidInput, match=r"\*\.json"):
            nbtrack.log_table({"a": [1]}, "eval.csv")
    with nbtrack.start_run() as second:
        nbtrack.log_table({"text": ["c"], "score": [0.5]}, "eval.json")
    paths = {f.path for f in nbtrack.MlflowClient().list_artifacts(first.info.run_id, "images/sample")}
    assert paths == {"images/sample/step_3.png"}
    table = nbtrack.load_table("eval.json", extra_columns=["run_id"])
    assert sorted(table["score"]) == [0.1, 0.5, 0.9]
    assert set(table["run_id"]) == {first.info.run_id, second.info.run_id}
    assert nbtrack.load_table("eval.json", run_ids=[second.info.run_id])["text"].tolist() == ["c"]
    stored = nbtrack.get_run(first.info.run_id)
    assert json.loads(stored.data.tags["mlflow.loggedArtifacts"]) == [{"path": "eval.json", "type": "table"}]
    assert sorted(d.context for d in stored.inputs.dataset_inputs) == ["test", "train"]


def test_search_runs_takes_mlflows_positional_order_too() -> None:
    experiment_id = nbtrack.create_experiment("positional")
    with nbtrack.start_run(experiment_id=experiment_id):
        nbtrack.log_metric("x", 1.0)
    with nbtrack.start_run():
        nbtrack.log_metric("x", 2.0)
    assert len(nbtrack.search_runs([experiment_id])) == 1  # MLflow: experiment_ids first
    assert nbtrack.search_runs([experiment_id], "metrics.x > 0")["metrics.x"].tolist() == [1.0]
    assert nbtrack.search_runs("metrics.x > 1.5")["metrics.x"].tolist() == [2.0]  # nbtrack: the filter first


def test_is_tracking_uri_set(monkeypatch) -> None:
    assert nbtrack.is_tracking_uri_set()  # NBTRACK_HOME, set by the fixture
    monkeypatch.delenv("NBTRACK_HOME")
    assert not nbtrack.is_tracking_uri_set()
    nbtrack.set_tracking_uri(os.fspath(Path.cwd()))
    assert nbtrack.is_tracking_uri_set()
    nbtrack.set_tracking_uri(None)


# --- system tags -----------------------------------------------------------------------------------


def test_system_tags_are_search_runs_columns(tmp_path) -> None:
    with nbtrack.start_run(run_name="outer", description="a note") as outer:
        with nbtrack.start_run(run_name="inner", nested=True) as inner:
            pass
    frame = nbtrack.search_runs(order_by=["attributes.run_name ASC"])
    assert frame["tags.mlflow.runName"].tolist() == ["inner", "outer"]
    assert frame["tags.mlflow.parentRunId"].tolist() == [outer.info.run_id, None]
    assert frame["tags.mlflow.note.content"].tolist() == [None, "a note"]
    assert set(frame["tags.mlflow.source.type"]) == {"LOCAL"}
    assert set(frame["tags.mlflow.user"]) == {inner.info.user_id}
    # a script: its absolute path, and the commit of its repository
    repo = tmp_path / "repo"
    repo.mkdir()
    script = repo / "train.py"
    script.write_text("import nbtrack\nwith nbtrack.start_run() as run:\n    print(run.info.run_id)\n")
    git = lambda *args: __import__("subprocess").run(["git", "-C", str(repo), *args], check=True,  # noqa: E731
                                                     capture_output=True)
    git("init", "-q")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x")
    head = git("rev-parse", "HEAD").stdout.decode().strip()
    done = __import__("subprocess").run([__import__("sys").executable, str(script)], capture_output=True, text=True,
                                        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert done.returncode == 0, done.stderr
    tags = nbtrack.get_run(done.stdout.strip()).data.tags
    assert tags["mlflow.source.name"] == str(script) and tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.git.commit"] == head


def test_a_tracked_cell_is_a_notebook_source(monkeypatch, tmp_path) -> None:
    notebook = tmp_path / "analysis.ipynb"
    ip = tracking_shell()
    ip.user_ns["__session__"] = str(notebook)  # as Jupyter sets it in a kernel
    summary = ip.run_cell("%%track first -q\nx = 1").result
    ip.run_cell("%%track second\nx = 2")
    frame = nbtrack.search_runs(order_by=["attributes.run_name ASC"])
    assert frame["tags.mlflow.source.type"].tolist() == ["NOTEBOOK", "NOTEBOOK"]
    assert frame["tags.mlflow.source.name"].tolist() == [str(notebook)] * 2
    assert frame["tags.mlflow.runName"].tolist() == ["first", "second"]
    assert summary is None


@pytest.mark.slow
def test_in_a_real_kernel_api_runs_and_cells_are_notebook_sources(tmp_path, nbtrack_home) -> None:
    import nbformat
    from kernel_support import run_notebook

    notebook = tmp_path / "sentiment.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import nbtrack\nwith nbtrack.start_run(run_name='api'):\n    pass"),
                nbformat.v4.new_code_cell("%load_ext nbtrack"),
                nbformat.v4.new_code_cell("%%track cell -q\nx = 1")]
    nbformat.write(nb, notebook)
    run_notebook(notebook, nbtrack_home)
    frame = nbtrack.search_runs(order_by=["attributes.run_name ASC"])
    assert frame["tags.mlflow.runName"].tolist() == ["api", "cell"]
    assert frame["tags.mlflow.source.type"].tolist() == ["NOTEBOOK", "NOTEBOOK"]
    assert frame["tags.mlflow.source.name"].tolist() == [str(notebook)] * 2


def test_the_artifacts_module_as_mlflow_artifacts(tmp_path) -> None:
    pil = pytest.importorskip("PIL.Image")
    with nbtrack.start_run() as run:
        nbtrack.log_text("a report", "reports/summary.md")
        nbtrack.log_dict({"classes": [0, 1]}, "meta.json")
        nbtrack.log_image(np.zeros((2, 3, 3), dtype=np.uint8), "img.png")
        uri = nbtrack.get_artifact_uri("reports/summary.md")
    run_id = run.info.run_id
    artifacts = nbtrack.artifacts
    assert artifacts.load_text(f"runs:/{run_id}/reports/summary.md") == "a report"
    assert artifacts.load_text(uri) == "a report"  # a path under the run's artifact_uri
    assert artifacts.load_dict(f"runs:/{run_id}/meta.json") == {"classes": [0, 1]}
    assert isinstance(artifacts.load_image(f"runs:/{run_id}/img.png"), pil.Image)
    assert artifacts.load_image(f"runs:/{run_id}/img.png").size == (3, 2)
    local = artifacts.download_artifacts(run_id=run_id, artifact_path="reports", dst_path=str(tmp_path / "d"))
    assert local == str(tmp_path / "d" / "reports") and os.listdir(local) == ["summary.md"]
    assert os.path.isabs(artifacts.download_artifacts(f"runs:/{run_id}/meta.json"))
    assert [f.path for f in artifacts.list_artifacts(run_id=run_id)] == ["img.png", "meta.json", "reports"]
    assert [f.path for f in artifacts.list_artifacts(f"runs:/{run_id}/reports")] == ["reports/summary.md"]
    with pytest.raises(InvalidInput, match="not both"):
        artifacts.download_artifacts(f"runs:/{run_id}/meta.json", run_id=run_id)
    with pytest.raises(InvalidInput, match="not an artifact of this store"):
        artifacts.load_text(str(tmp_path / "elsewhere.txt"))
    with pytest.raises(InvalidInput, match="a folder"):
        artifacts.load_text(f"runs:/{run_id}/reports")


def test_mlflow_data_datasets_go_to_log_input() -> None:
    import pandas as pd

    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": [1, 0, 1]})
    with nbtrack.start_run() as run:
        dataset = nbtrack.data.from_pandas(frame, source="reviews.csv", name="reviews", targets="label")
        nbtrack.log_input(dataset, context="train")  # MLflow's order: dataset, context
        nbtrack.log_input(nbtrack.data.from_numpy(np.arange(6).reshape(3, 2), name="xs"), "test")
    inputs = {d.name: d for d in nbtrack.get_run(run.info.run_id).inputs.dataset_inputs}
    assert inputs["reviews"].context == "train" and inputs["reviews"].source == "reviews.csv"
    assert inputs["reviews"].shape == (3, 2) and inputs["reviews"].profile["targets"] == "label"
    assert inputs["reviews"].digest == nbtrack.tracking.inputs.fingerprint(frame).digest
    assert inputs["xs"].context == "test" and inputs["xs"].shape == (3, 2)


def test_gc_removes_the_files_get_artifact_uri_laid_out_for_a_purged_run() -> None:
    from nbtrack.paths import current_location
    from nbtrack.store.gc import collect_garbage

    with nbtrack.start_run() as gone:
        nbtrack.log_text("x" * 100, "notes.txt")
        gone_folder = Path(nbtrack.get_artifact_uri())
    with nbtrack.start_run() as kept:
        nbtrack.log_text("y", "notes.txt")
        kept_folder = Path(nbtrack.get_artifact_uri())
    nbtrack.delete_run(gone.info.run_id)
    report = collect_garbage(current_location())
    assert report.runs_purged == 1 and report.bytes_freed >= 200  # the copy and the blob
    assert not gone_folder.exists() and (kept_folder / "notes.txt").read_text() == "y"
