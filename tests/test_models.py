"""Model format and flavors: MLmodel files, sklearn/pyfunc save, log and load, signatures,
integrity, and the one-line errors of bad input. Real scikit-learn models, real stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

import nbtrack
from nbtrack.errors import InvalidInput, ModelError, ModelIntegrityError
from nbtrack.store import artifacts as blobs
from nbtrack.store import queries
from nbtrack.tracking.fluent import store_handle

REVIEWS = ["love this dress", "terrible fit", "perfect fit, love it", "awful fabric", "great colour",
           "returned it, bad", "so comfortable", "cheap and ugly"] * 4
LABELS = [1, 0, 1, 0, 1, 0, 1, 0] * 4


@pytest.fixture
def text_pipe():
    return make_pipeline(TfidfVectorizer(max_features=3000), MultinomialNB(alpha=1)).fit(REVIEWS, LABELS)


@pytest.fixture
def frame_model():
    frame = pd.DataFrame({"amount": [1.0, 2.5, 3.0, 4.5, 0.5, 7.0], "count": [1, 2, 3, 4, 5, 6]})
    return LogisticRegression().fit(frame, [0, 1, 0, 1, 0, 1]), frame


def test_save_model_writes_mlflow_format(tmp_path: Path, text_pipe) -> None:
    nbtrack.sklearn.save_model(text_pipe, tmp_path / "m", input_example=REVIEWS[:3])
    folder = tmp_path / "m"
    assert sorted(p.name for p in folder.iterdir()) == [
        "MLmodel", "conda.yaml", "input_example.json", "model.skops", "python_env.yaml",
        "requirements.txt", "serving_input_example.json"]
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn" and pyfunc["model_path"] == "model.skops"
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "skops"
    assert mlmodel["model_id"].startswith("m-") and len(mlmodel["model_id"]) == 34
    # a list example: no MLflow signature (MLflow writes none either), nbtrack keeps the schema
    assert "signature" not in mlmodel
    assert json.loads(mlmodel["nbtrack"]["input_schema"]) == [{"type": "string", "required": True}]
    assert mlmodel["saved_input_example_info"]["type"] == "json_object"
    assert json.loads((folder / "input_example.json").read_text()) == REVIEWS[:3]
    assert set(mlmodel["nbtrack"]["files"]) == {p.name for p in folder.iterdir()} - {"MLmodel"}
    assert "scikit-learn==" in (folder / "requirements.txt").read_text()
    loaded = nbtrack.sklearn.load_model(folder)
    assert list(loaded.predict(REVIEWS[:4])) == list(text_pipe.predict(REVIEWS[:4]))
    with pytest.raises(InvalidInput, match=r"^input item 1 is int \(3\); the model's signature expects string$"):
        nbtrack.pyfunc.load_model(folder).predict(["fine", 3])


def test_dataframe_signature_and_example(tmp_path: Path, frame_model) -> None:
    model, frame = frame_model
    nbtrack.sklearn.save_model(model, tmp_path / "m", input_example=frame[:2])
    mlmodel = yaml.safe_load((tmp_path / "m" / "MLmodel").read_text())
    assert json.loads(mlmodel["signature"]["inputs"]) == [
        {"type": "double", "name": "amount", "required": True},
        {"type": "long", "name": "count", "required": True}]
    assert json.loads(mlmodel["signature"]["outputs"]) == [{"type": "long", "required": True}]
    assert mlmodel["saved_input_example_info"]["pandas_orient"] == "split"
    pyfunc = nbtrack.pyfunc.load_model(tmp_path / "m")
    assert pyfunc.input_example.equals(frame[:2])
    assert list(pyfunc.predict(frame)) == list(model.predict(frame))
    with pytest.raises(InvalidInput, match=r"^input is missing column 'count' \(long\)"):
        pyfunc.predict(frame[["amount"]])
    with pytest.raises(InvalidInput, match=r"^input column 'amount' holds str values"):
        pyfunc.predict(pd.DataFrame({"amount": ["a"] * 2, "count": [1, 2]}))


def test_ndarray_signature(tmp_path: Path) -> None:
    X = np.random.default_rng(0).random((20, 3))
    model = LogisticRegression().fit(X, [0, 1] * 10)
    nbtrack.sklearn.save_model(model, tmp_path / "m", input_example=X[:2])
    pyfunc = nbtrack.pyfunc.load_model(tmp_path / "m")
    with pytest.raises(InvalidInput, match=r"shape \[5, 2\].*expects \[-1, 3\]"):
        pyfunc.predict(X[:5, :2])
    assert len(pyfunc.predict(X[:5])) == 5


def test_log_model_registers_and_loads_by_every_uri(text_pipe) -> None:
    with nbtrack.start_run(run_name="tfidf-nb") as run:
        nbtrack.log_metric("accuracy", 0.9)
        info = nbtrack.sklearn.log_model(text_pipe, name="model", input_example=REVIEWS[:3],
                                         registered_model_name="customer-sentiment")
    assert info.model_uri == f"runs:/{run.info.run_id}/model" and info.registered_model_version == 1
    client = nbtrack.Client()
    paths = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert "model/MLmodel" in paths and "model/model.skops" in paths
    client.set_registered_model_alias("customer-sentiment", "champion", 1)
    with pytest.warns(FutureWarning, match="deprecated since 2.9.0"):
        client.transition_model_version_stage("customer-sentiment", 1, "Production")
    expected = list(text_pipe.predict(["love this dress, perfect fit"]))
    for uri in (info.model_uri, f"models:/{info.model_id}", "models:/customer-sentiment/1", "models:/customer-sentiment/latest",
                "models:/customer-sentiment/Production", "models:/customer-sentiment/production",
                "models:/customer-sentiment@champion"):
        assert list(nbtrack.pyfunc.load_model(uri).predict(["love this dress, perfect fit"])) == expected
        assert type(nbtrack.sklearn.load_model(uri)).__name__ == "Pipeline"


def test_artifact_path_is_still_accepted(text_pipe) -> None:
    with nbtrack.start_run():
        with pytest.warns(FutureWarning, match="artifact_path` is deprecated"):
            info = nbtrack.sklearn.log_model(text_pipe, artifact_path="clf")
        with pytest.raises(InvalidInput, match="not both"):
            nbtrack.sklearn.log_model(text_pipe, name="a", artifact_path="b")
    assert info.model_uri.endswith("/clf")


def test_changed_blob_is_refused(text_pipe) -> None:
    with nbtrack.start_run() as run:
        info = nbtrack.sklearn.log_model(text_pipe, name="model")
    store = store_handle().read()
    entry = next(e for e in queries.artifact_entries(store, run.info.run_id, "model")
                 if e.path == "model/model.skops")
    blob = blobs.blob_path(store, entry.digest)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelIntegrityError, match=r"^model file 'model/model.skops' changed since it was saved"):
        nbtrack.pyfunc.load_model(info.model_uri)


def test_changed_file_in_saved_folder_is_refused(tmp_path: Path, text_pipe) -> None:
    with pytest.warns(UserWarning, match="arbitrary code"):
        nbtrack.sklearn.save_model(text_pipe, tmp_path / "m", serialization_format="cloudpickle")
    (tmp_path / "m" / "model.pkl").write_bytes(b"not the model")
    with pytest.raises(ModelIntegrityError, match="'model.pkl' changed since it was saved"):
        nbtrack.sklearn.load_model(tmp_path / "m")


def test_pickle_formats_warn_and_round_trip(tmp_path: Path, frame_model) -> None:
    model, frame = frame_model
    for fmt in ("pickle", "cloudpickle"):
        with pytest.warns(UserWarning, match="can execute arbitrary code"):
            nbtrack.sklearn.save_model(model, tmp_path / fmt, serialization_format=fmt)
        assert (tmp_path / fmt / "model.pkl").exists()
        assert list(nbtrack.sklearn.load_model(tmp_path / fmt).predict(frame)) == list(model.predict(frame))


def test_model_code_execution_switch(tmp_path: Path, frame_model, monkeypatch) -> None:
    nbtrack.sklearn.save_model(frame_model[0], tmp_path / "m")
    monkeypatch.setenv("MLFLOW_ALLOW_MODEL_CODE_EXECUTION", "false")
    with pytest.raises(ModelError, match="turned off"):
        nbtrack.sklearn.load_model(tmp_path / "m")


class Doubler(nbtrack.pyfunc.PythonModel):
    def load_context(self, context):
        self.offset = float(Path(context.artifacts["offset"]).read_text())

    def predict(self, context, model_input, params=None):
        return [2 * x + self.offset for x in model_input]


def test_python_model_with_artifacts(tmp_path: Path) -> None:
    (tmp_path / "offset.txt").write_text("0.5")
    with nbtrack.start_run():
        info = nbtrack.pyfunc.log_model(name="doubler", python_model=Doubler(),
                                        artifacts={"offset": str(tmp_path / "offset.txt")},
                                        input_example=[1.0, 2.0], registered_model_name="doubler")
    model = nbtrack.pyfunc.load_model("models:/doubler/1")
    assert model.predict([1.0, 3.0]) == [2.5, 6.5]
    assert isinstance(model.unwrap_python_model(), Doubler)
    assert info.flavors["python_function"]["loader_module"] == "nbtrack.models.flavors.pyfunc"


def test_bad_input_one_line_each(tmp_path: Path, text_pipe) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"holds no model \(no MLmodel file\); save one with"):
        nbtrack.pyfunc.load_model(tmp_path / "empty")
    # an MLmodel whose loader module is not installed
    (tmp_path / "alien").mkdir()
    (tmp_path / "alien" / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: nosuchpkg.flavor\n")
    with pytest.raises(ModelError, match=r"loader module 'nosuchpkg.flavor' cannot be imported; pip install nosuchpkg"):
        nbtrack.pyfunc.load_model(tmp_path / "alien")
    (tmp_path / "nopy").mkdir()
    (tmp_path / "nopy" / "MLmodel").write_text("flavors:\n  keras: {}\n")
    with pytest.raises(ModelError, match='does not have the "python_function" flavor'):
        nbtrack.pyfunc.load_model(tmp_path / "nopy")
    nbtrack.sklearn.save_model(text_pipe, tmp_path / "taken")
    with pytest.raises(ModelError, match="already exists and is not empty"):
        nbtrack.sklearn.save_model(text_pipe, tmp_path / "taken")
    with pytest.raises(InvalidInput, match="serialization_format 'joblib'"):
        nbtrack.sklearn.save_model(text_pipe, tmp_path / "x", serialization_format="joblib")


class NotebookScaler:  # a class skops refuses: it lives in a test module, like a notebook's __main__
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X

    def predict(self, X):
        return [0] * len(X)


def test_skops_refusal_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"(untrusted types|skops could not save).*"):
        nbtrack.sklearn.save_model(NotebookScaler(), tmp_path / "m")
    assert not (tmp_path / "m").exists()  # nothing half-saved is left


def test_import_nbtrack_stays_cheap() -> None:
    from conftest import run_python

    result = run_python("import sys, nbtrack\nnbtrack.sklearn; nbtrack.pyfunc; nbtrack.register_model\n"
                        "print([m for m in ('sklearn', 'yaml', 'skops', 'numpy', 'pandas') if m in sys.modules])")
    assert result.stdout.strip() == "[]", result.stderr
    result = run_python("import nbtrack\nprint(callable(nbtrack.models), nbtrack.sklearn.FLAVOR_NAME)")
    assert result.stdout.strip() == "True sklearn", result.stderr
