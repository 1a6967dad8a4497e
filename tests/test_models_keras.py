"""``nbtrack.keras``: a Keras 3 model saved in MLflow's keras layout, logged, registered and
loaded back (skipped where Keras 3 or a backend is not installed)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.slow
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip(os.environ["KERAS_BACKEND"])

import nbtrack
from nbtrack.errors import InvalidInput


def small_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    X = np.random.default_rng(0).random((32, 4)).astype("float32")
    model.fit(X, X.sum(axis=1), epochs=2, verbose=0)
    return model, X


def test_keras_round_trip_through_the_registry(tmp_path) -> None:
    model, X = small_model()
    with nbtrack.start_run():
        info = nbtrack.keras.log_model(model, name="net", input_example=X[:2],
                                       registered_model_name="regressor")
    nbtrack.Client().set_registered_model_alias("regressor", "champion", info.registered_model_version)
    loaded = nbtrack.keras.load_model("models:/regressor@champion")
    assert np.allclose(loaded.predict(X[:5], verbose=0), model.predict(X[:5], verbose=0), atol=1e-6)
    pyfunc = nbtrack.pyfunc.load_model("models:/regressor@champion")
    assert pyfunc.predict(X[:5]).shape == (5, 1)
    with pytest.raises(InvalidInput, match=r"shape \[5, 3\]; the model's signature expects \[-1, 4\]"):
        pyfunc.predict(X[:5, :3])
    nbtrack.keras.save_model(model, tmp_path / "k")
    mlmodel = yaml.safe_load((tmp_path / "k" / "MLmodel").read_text())
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.keras"
    assert mlmodel["flavors"]["keras"]["data"] == "data"
    assert (tmp_path / "k" / "data" / "model.keras").is_file()
    assert (tmp_path / "k" / "data" / "keras_module.txt").read_text() == "keras"
