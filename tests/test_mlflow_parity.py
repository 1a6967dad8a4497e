"""One workflow written for MLflow, run twice: by real MLflow (its own venv) and by nbtrack
with only the imports changed. ``search_runs`` must have every column MLflow's has (system
tags included) with the same values where they do not depend on the store, and the client
calls must return the same shapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, peer_python

pytestmark = pytest.mark.slow

WORKFLOW = '''
import json, sys, tempfile, os
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

mlflow.set_experiment("customer-sentiment")
with mlflow.start_run(run_name="tfidf-nb", description="baseline", tags={"developer": "me"}) as parent:
    mlflow.log_params({"alpha": 1, "max_features": 3000}, synchronous=True)
    for epoch in range(3):
        mlflow.log_metric("val_loss", 1 / (epoch + 1), step=epoch, synchronous=False)
    mlflow.log_metrics({"accuracy": 0.91, "f1": 0.9})
    mlflow.set_tag("stage", "baseline")
    mlflow.log_text("a report", "reports/summary.md")
    mlflow.log_dict({"classes": [0, 1]}, "meta.json")
    uri = mlflow.get_artifact_uri()
    with mlflow.start_run(run_name="fold-1", nested=True) as child:
        mlflow.log_metric("accuracy", 0.89)
client = MlflowClient()
experiment = client.get_experiment_by_name("customer-sentiment")
run = client.create_run(experiment.experiment_id, run_name="by-client")
client.log_batch(run.info.run_id, metrics=[Metric("accuracy", 0.8, 0, 0)], params=[Param("alpha", "2")],
                 tags=[RunTag("developer", "you")])
client.set_terminated(run.info.run_id)
runs = mlflow.search_runs(experiment_names=["customer-sentiment"], order_by=["attributes.start_time ASC"])
history = client.get_metric_history(parent.info.run_id, "val_loss")
artifacts = client.list_artifacts(parent.info.run_id)
local = client.download_artifacts(parent.info.run_id, "reports", dst_path=tempfile.mkdtemp())
parent_of_child = mlflow.get_parent_run(child.info.run_id)
found = mlflow.search_experiments(filter_string="name = 'customer-sentiment'")
print(json.dumps({
    "columns": sorted(runs.columns),
    "tags": [{k: v for k, v in row.items() if k.startswith("tags.") and isinstance(v, str)}
             for row in runs.to_dict("records")],
    "params": sorted(runs["params.alpha"].fillna("").tolist()),
    "history": [[type(m).__name__, m.step, m.value] for m in history],
    "artifacts": [[type(f).__name__, f.path, f.is_dir] for f in artifacts],
    "local_is_absolute": os.path.isabs(local),
    "local_files": sorted(os.listdir(local)),
    "uri_is_a_path": os.path.isabs(uri) and "://" not in uri,
    "parent": parent_of_child.info.run_id == parent.info.run_id,
    "statuses": sorted(runs["status"].tolist()),
    "experiments": [type(e).__name__ for e in found] + [e.name for e in found],
    "run_type": type(run).__name__,
    "loaded": mlflow.artifacts.load_dict(f"runs:/{parent.info.run_id}/meta.json"),
    "downloaded": os.path.isabs(mlflow.artifacts.download_artifacts(run_id=parent.info.run_id, artifact_path="meta.json")),
}))
'''


def _git_repo(folder: Path) -> str:
    folder.mkdir()
    run = lambda *a: subprocess.run(["git", "-C", str(folder), *a], check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    run("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x")
    return run("rev-parse", "HEAD").stdout.decode().strip()


def _run(python: str, script: Path, env: dict[str, str]) -> dict:
    done = subprocess.run([python, str(script)], capture_output=True, text=True, cwd=script.parent, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_mlflow_workflow_gives_the_same_columns_and_shapes(tmp_path) -> None:
    mlflow_python = peer_python()
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "USER": "tester",
            "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    results = {}
    for engine in ("mlflow", "nbtrack"):
        folder = tmp_path / engine
        commit = _git_repo(folder)
        script = folder / "train.py"
        text = WORKFLOW
        env = dict(base, MLFLOW_TRACKING_URI=f"sqlite:///{folder}/mlflow.db")
        python = str(mlflow_python)
        if engine == "nbtrack":
            text = (text.replace("import mlflow\n", "import nbtrack as mlflow\n")
                    .replace("from mlflow import MlflowClient", "from nbtrack import MlflowClient")
                    .replace("from mlflow.entities", "from nbtrack.entities"))
            env = dict(base, NBTRACK_HOME=str(folder / ".nbtrack"), PYTHONPATH=str(REPO))
            python = sys.executable
        script.write_text(text)
        results[engine] = (_run(python, script, env), commit, script)
    (theirs, their_commit, their_script), (ours, our_commit, our_script) = results["mlflow"], results["nbtrack"]
    assert set(theirs["columns"]) <= set(ours["columns"]), set(theirs["columns"]) - set(ours["columns"])
    by_name = {row["tags.mlflow.runName"]: row for row in ours["tags"]}
    assert sorted(by_name) == sorted(row["tags.mlflow.runName"] for row in theirs["tags"])
    for their_tags in theirs["tags"]:
        our_tags = by_name[their_tags["tags.mlflow.runName"]]
        assert set(their_tags) <= set(our_tags), set(their_tags) - set(our_tags)
        for key, value in their_tags.items():
            mine = our_tags[key]
            if key == "tags.mlflow.source.git.commit":
                assert (value, mine) == (their_commit, our_commit)
            elif key == "tags.mlflow.source.name":
                assert (value, mine) == (str(their_script), str(our_script))
            elif key != "tags.mlflow.parentRunId":  # run ids differ
                assert value == mine, key
    for key in ("history", "artifacts", "local_is_absolute", "local_files", "uri_is_a_path", "parent",
                "experiments", "run_type", "loaded", "downloaded"):
        assert ours[key] == theirs[key], key
    assert ours["params"] == theirs["params"] and ours["statuses"] == theirs["statuses"]
