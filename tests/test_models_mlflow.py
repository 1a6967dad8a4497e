"""A model moves both ways between nbtrack and real MLflow (no mock).

MLflow runs in its own venv, ``benchmarks/.venv-peers`` (mlflow 3.17.2 and
skops, from ``benchmarks/requirements.txt``), created on first use by the
benchmarks' own helper, so CI installs it once for both. That venv has no
nbtrack: a model nbtrack wrote must load in MLflow on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

import nbtrack
from nbtrack.models.locate import model_directory

pytestmark = pytest.mark.slow

REVIEWS = ["love this dress", "terrible fit", "perfect fit, love it", "awful fabric", "great colour",
           "returned it, bad", "so comfortable", "cheap and ugly"] * 4
LABELS = [1, 0, 1, 0, 1, 0, 1, 0] * 4
PROBE = ["love this dress, perfect fit", "awful, cheap"]


def run_mlflow(python: Path, script: str, cwd: Path) -> dict:
    """Run ``script`` with MLflow's interpreter (nbtrack not importable there); its last stdout
    line is JSON."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "MLFLOW_DISABLE_TELEMETRY": "true",
           "DO_NOT_TRACK": "true", "MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/mlflow.db"}
    done = subprocess.run([str(python), "-c", textwrap.dedent(script)], capture_output=True, text=True, check=False,
                          cwd=cwd, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_nbtrack_model_loads_in_mlflow(mlflow_python: Path, tmp_path: Path) -> None:
    pipe = make_pipeline(TfidfVectorizer(max_features=3000), MultinomialNB(alpha=1)).fit(REVIEWS, LABELS)
    frame = pd.DataFrame({"amount": [1.0, 2.5, 3.0, 4.5], "count": [1, 2, 3, 4]})
    tabular = LogisticRegression().fit(frame, [0, 1, 0, 1])
    with nbtrack.start_run():
        text_info = nbtrack.sklearn.log_model(pipe, name="model", input_example=REVIEWS[:3],
                                              registered_model_name="customer-sentiment")
        table_info = nbtrack.sklearn.log_model(tabular, name="tabular", input_example=frame[:2])
    nbtrack.Client().set_registered_model_alias("customer-sentiment", "champion", 1)
    with model_directory("models:/customer-sentiment@champion", dst_path=tmp_path / "text"):
        pass
    with model_directory(table_info.model_uri, dst_path=tmp_path / "tabular"):
        pass
    result = run_mlflow(mlflow_python, f"""
        import json, mlflow, mlflow.pyfunc, mlflow.sklearn, pandas as pd
        text = mlflow.pyfunc.load_model({str(tmp_path / "text")!r})
        raw = mlflow.sklearn.load_model({str(tmp_path / "text")!r})
        tab = mlflow.pyfunc.load_model({str(tmp_path / "tabular")!r})
        frame = pd.DataFrame({{"amount": [1.0, 4.5], "count": [1, 4]}})
        try:
            tab.predict(pd.DataFrame({{"amount": [1.0]}}))
            refused = None
        except Exception as exc:
            refused = type(exc).__name__ + ": " + str(exc)[:200]
        print(json.dumps({{"text": [int(v) for v in text.predict({PROBE!r})],
                          "raw": [int(v) for v in raw.predict({PROBE!r})],
                          "raw_type": type(raw).__name__,
                          "tab": [int(v) for v in tab.predict(frame)],
                          "input_schema": str(tab.metadata.get_input_schema()),
                          "refused": refused}}))
    """, tmp_path)
    expected = [int(v) for v in pipe.predict(PROBE)]
    assert result["text"] == expected and result["raw"] == expected
    assert result["raw_type"] == "Pipeline"
    assert result["tab"] == [int(v) for v in tabular.predict(frame.iloc[[0, 3]])]
    assert "amount" in result["input_schema"] and "count" in result["input_schema"]
    assert result["refused"] and "count" in result["refused"]  # MLflow enforces our signature
    assert text_info.registered_model_version == 1


def test_mlflow_model_loads_in_nbtrack(mlflow_python: Path, tmp_path: Path) -> None:
    result = run_mlflow(mlflow_python, f"""
        import json, mlflow.sklearn, pandas as pd
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.naive_bayes import MultinomialNB
        from sklearn.pipeline import make_pipeline
        pipe = make_pipeline(TfidfVectorizer(max_features=3000), MultinomialNB(alpha=1))
        pipe.fit({REVIEWS!r}, {LABELS!r})
        mlflow.sklearn.save_model(pipe, "skops-model", input_example={REVIEWS[:3]!r})
        mlflow.sklearn.save_model(pipe, "pickled-model", serialization_format="cloudpickle")
        frame = pd.DataFrame({{"amount": [1.0, 2.5, 3.0, 4.5], "count": [1, 2, 3, 4]}})
        tab = LogisticRegression().fit(frame, [0, 1, 0, 1])
        mlflow.sklearn.save_model(tab, "tabular", input_example=frame[:2])
        print(json.dumps({{"text": [int(v) for v in pipe.predict({PROBE!r})],
                          "tab": [int(v) for v in tab.predict(frame)]}}))
    """, tmp_path)
    for folder in ("skops-model", "pickled-model"):
        model = nbtrack.pyfunc.load_model(tmp_path / folder)
        assert [int(v) for v in model.predict(PROBE)] == result["text"]
        assert type(nbtrack.sklearn.load_model(tmp_path / folder)).__name__ == "Pipeline"
    tab = nbtrack.pyfunc.load_model(tmp_path / "tabular")
    frame = pd.DataFrame({"amount": [1.0, 2.5, 3.0, 4.5], "count": [1, 2, 3, 4]})
    assert [int(v) for v in tab.predict(frame)] == result["tab"]
    with pytest.raises(nbtrack.InvalidInput, match="missing column 'count'"):
        tab.predict(frame[["amount"]])
    # and it can be logged into a run and registered like any model nbtrack saved
    with nbtrack.start_run():
        nbtrack.log_artifacts(tmp_path / "skops-model", artifact_path="imported")
        run_id = nbtrack.active_run().info.run_id
    mv = nbtrack.register_model(f"runs:/{run_id}/imported", "imported")
    assert [int(v) for v in nbtrack.pyfunc.load_model(f"models:/imported/{mv.version}").predict(PROBE)] \
        == result["text"]
