"""An MLflow user switches by changing two imports (issue: MLflow drop-in).

``tests/seed_workflow.py`` is a sentiment workflow written for MLflow: autolog,
compare with ``search_runs``, register every model, promote the best by stage and
alias, load it back both ways, download an artifact. It runs here twice, in the
same test: unmodified with real MLflow (its own venv, ``benchmarks/.venv-peers``),
and with only ``import mlflow`` and ``from mlflow.tracking import MlflowClient``
changed to nbtrack's. What each printed must agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

SCRIPT = REPO / "tests" / "seed_workflow.py"
IMPORTS = {"import mlflow\n": "import nbtrack as mlflow\n",
           "from mlflow.tracking import MlflowClient\n": "from nbtrack.tracking import MlflowClient\n"}


def run_workflow(python: str, script: Path, uri: str, cwd: Path, extra_env: dict[str, str]) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "MLFLOW_DISABLE_TELEMETRY": "true",
           "DO_NOT_TRACK": "true", **extra_env}
    done = subprocess.run([python, str(script), uri], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_mlflow_workflow_runs_unmodified_but_for_its_imports(mlflow_python: Path, tmp_path: Path) -> None:
    (tmp_path / "mlflow").mkdir()
    (tmp_path / "nbtrack").mkdir()
    source = SCRIPT.read_text()
    for mlflow_line, nbtrack_line in IMPORTS.items():
        assert source.count(mlflow_line) == 1, mlflow_line
        source = source.replace(mlflow_line, nbtrack_line)
    # Both copies sit as the original does, beside a tests/ and nbtrack/ (for its data), and
    # outside any git repository: run from the checkout, MLflow alone would add git tags.
    original, switched = (tmp_path / copy / "tests" / "seed_workflow.py" for copy in ("original", "copy"))
    for script, text in ((original, SCRIPT.read_text()), (switched, source)):
        script.parent.mkdir(parents=True)
        script.write_text(text)
        (script.parent.parent / "nbtrack").symlink_to(REPO / "nbtrack")

    theirs = run_workflow(str(mlflow_python), original, f"sqlite:///{tmp_path}/mlflow/mlflow.db",
                          tmp_path / "mlflow", {})
    ours = run_workflow(sys.executable, switched, str(tmp_path / "nbtrack" / "store"), tmp_path / "nbtrack",
                        {"PYTHONPATH": str(REPO)})

    # Same data, same pipelines: the same comparison, registry and predictions.
    for key in ("run_names", "best", "accuracy", "versions", "champion", "production", "by_alias",
                "by_stage", "downloaded", "source_type", "images"):
        assert ours[key] == theirs[key], (key, ours[key], theirs[key])
    assert ours["active_run"] is theirs["active_run"] is False
    # autolog's images for a binary classifier, as MLflow names them (compared above)
    assert theirs["images"] == ["training_confusion_matrix.png", "training_precision_recall_curve.png",
                                "training_roc_curve.png"]
    # Every column MLflow's search_runs gave (autolog's params and training metrics, the
    # estimator tags, MLflow's system tags) is there; nbtrack may add its own.
    missing = sorted(set(theirs["columns"]) - set(ours["columns"]))
    assert not missing, missing
