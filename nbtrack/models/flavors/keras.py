"""``nbtrack.keras``: Keras 3 models in MLflow's keras flavor layout (the ``.keras`` format).

The folder is what ``mlflow.keras.save_model`` writes with
``save_exported_model=False``: ``data/model.keras``, ``data/keras_module.txt``,
a ``keras`` flavor block (``data``, ``keras_version``, ``keras_backend``) and
``loader_module: mlflow.keras``. Keras needs a backend (torch, jax or
tensorflow) installed; ``KERAS_BACKEND`` chooses it.

A ``.keras`` file holds the architecture as JSON and the weights; Keras loads
it with ``safe_mode=True`` (no lambda-layer code) unless told otherwise.

Example:
    >>> info = log_model(model, name="model", input_example=X[:2])  # doctest: +SKIP
    >>> load_model(info.model_uri).predict(X[:2])  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import ModelError
from ..locate import ModelInfo, model_directory
from ..mlmodel import new_mlmodel, python_function_block, read_mlmodel, write_environment
from .base import artifact_name, finish, log_saved, new_folder, signature_block

FLAVOR_NAME = "keras"
DATA = "data"


def _keras() -> Any:
    try:
        import keras
    except ImportError:
        raise ModelError("nbtrack.keras needs Keras 3 and a backend: pip install keras torch "
                         "(or jax, or tensorflow)") from None
    if not str(keras.__version__).startswith("3"):
        raise ModelError(f"nbtrack.keras supports Keras 3 (the .keras format); found {keras.__version__}")
    return keras


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    signature: Any = None,
    input_example: Any = None,
    metadata: dict[str, Any] | None = None,
    extra_pip_requirements: list[str] | None = None,
    mlflow_model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Save a Keras 3 model as an MLflow model folder at ``path``; returns the MLmodel."""
    keras = _keras()
    folder = new_folder(path)
    try:
        data = folder / DATA
        data.mkdir()
        (data / "keras_module.txt").write_text("keras")
        model.save(data / "model.keras")
        mlmodel = mlflow_model if mlflow_model is not None else new_mlmodel()
        mlmodel["flavors"][FLAVOR_NAME] = {"data": DATA, "keras_version": keras.__version__,
                                           "keras_backend": keras.backend.backend(),
                                           "save_exported_model": False}
        mlmodel["flavors"]["python_function"] = python_function_block("mlflow.keras")
        write_environment(folder, ["keras", keras.backend.backend(), "numpy"], extra_pip_requirements)

        def predict(x: Any) -> Any:
            import numpy as np

            return np.asarray(model.predict(np.asarray(x), verbose=0))

        sig = signature_block(signature, input_example, predict)
        return finish(folder, mlmodel, input_example=input_example, signature=sig, metadata=metadata)
    except BaseException:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise


def log_model(
    model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    metadata: dict[str, Any] | None = None,
    extra_pip_requirements: list[str] | None = None,
) -> ModelInfo:
    """Log a Keras 3 model into the active run under ``name`` (registering it when asked)."""
    target = artifact_name(name, artifact_path)

    def save(folder: Path, mlmodel: dict[str, Any]) -> dict[str, Any]:
        return save_model(model, folder, signature=signature, input_example=input_example,
                          metadata=metadata, extra_pip_requirements=extra_pip_requirements,
                          mlflow_model=mlmodel)

    return log_saved(save, name=target, registered_model_name=registered_model_name,
                     await_registration_for=await_registration_for)


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None,
               custom_objects: dict[str, Any] | None = None) -> Any:
    """The Keras model at ``model_uri`` (folder, ``runs:/``, ``models:/``)."""
    with model_directory(model_uri, dst_path=dst_path) as folder:
        return load_from_directory(folder, read_mlmodel(folder), custom_objects)


def load_from_directory(folder: Path, mlmodel: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    keras = _keras()
    flavor = mlmodel["flavors"].get(FLAVOR_NAME)
    if flavor is None:
        raise ModelError(f"the model at {folder} is not a Keras model (flavors: "
                         f"{', '.join(mlmodel['flavors']) or 'none'}); load it with nbtrack.pyfunc.load_model")
    if flavor.get("save_exported_model"):
        raise ModelError("this Keras model was saved as a TensorFlow export (save_exported_model=True); "
                         "load it with mlflow.keras and tensorflow")
    target = folder / flavor.get("data", DATA)
    if target.is_dir():
        target = target / "model"
    return keras.saving.load_model(f"{target}.keras", custom_objects=custom_objects)


class KerasPredictor:
    """What ``nbtrack.pyfunc.load_model`` wraps a Keras model in: ``predict`` returns numpy."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any) -> Any:
        import numpy as np

        if type(data).__name__ == "DataFrame":
            import pandas as pd

            return pd.DataFrame(np.asarray(self.model.predict(data.values, verbose=0)), index=data.index)
        return np.asarray(self.model.predict(np.asarray(data), verbose=0))
