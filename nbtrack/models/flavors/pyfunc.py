"""``nbtrack.pyfunc``: load any model folder as one ``predict`` interface; custom Python models.

``load_model`` reads the MLmodel's ``python_function`` block, as MLflow does.
scikit-learn models (``loader_module: mlflow.sklearn``) and nbtrack's own
``PythonModel`` load without MLflow; any other loader module (MLflow's other
flavors) loads through ``mlflow.pyfunc`` when MLflow is installed, and
otherwise the error names the module to install. ``predict`` checks its input
against the model's signature first and says, in one line, which column or
item does not fit.

``log_model(python_model=...)`` stores the object with cloudpickle: loading it
runs code, so load only models you trust. The MLmodel names
``nbtrack.models.flavors.pyfunc`` as loader, so loading one needs nbtrack.

Example:
    >>> class AddN(PythonModel):
    ...     def __init__(self, n): self.n = n
    ...     def predict(self, context, model_input, params=None):
    ...         return [x + self.n for x in model_input]
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "add")
    >>> _ = save_model(path, python_model=AddN(2), input_example=[1, 2])
    >>> load_model(path).predict([5])
    [7]
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ...errors import InvalidInput, ModelError
from ..locate import ModelInfo, model_directory
from ..mlmodel import (
    new_mlmodel,
    python_function_block,
    read_input_example,
    read_mlmodel,
    write_environment,
)
from ..signature import check_input
from .base import artifact_name, finish, log_saved, new_folder, signature_block

LOADER = "nbtrack.models.flavors.pyfunc"
_SKLEARN_LOADERS = ("mlflow.sklearn", "nbtrack.models.flavors.sklearn")


class PythonModelContext:
    """What ``load_context`` and ``predict`` receive: ``artifacts`` maps each name given at
    log time to the file's local path."""

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any] | None = None) -> None:
        self.artifacts = artifacts
        self.model_config = model_config or {}


class PythonModel:
    """Subclass and implement ``predict(self, context, model_input, params=None)`` (MLflow's
    contract); ``load_context`` runs once at load, e.g. to open the artifacts."""

    def load_context(self, context: PythonModelContext) -> None:
        pass

    def predict(self, context: PythonModelContext, model_input: Any, params: dict | None = None) -> Any:
        raise NotImplementedError("a PythonModel implements predict(self, context, model_input, params=None)")


class PyFuncModel:
    """A loaded model with one interface: ``predict(data, params=None)``."""

    def __init__(self, implementation: Any, mlmodel: dict[str, Any], predict_fn: str = "predict",
                 input_example: Any = None) -> None:
        self._implementation = implementation
        self._predict = getattr(implementation, predict_fn)
        self.metadata = mlmodel
        self.input_example = input_example
        signature = mlmodel.get("signature") or {}
        inputs = signature.get("inputs") or (mlmodel.get("nbtrack") or {}).get("input_schema")
        self._input_schema = json.loads(inputs) if isinstance(inputs, str) else inputs

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if self._input_schema:
            check_input(self._input_schema, data)
        if isinstance(self._implementation, _PythonModelWrapper):
            return self._implementation.predict(data, params)
        return self._predict(data)

    def get_raw_model(self) -> Any:
        """The underlying object (the fitted estimator for a scikit-learn model)."""
        if isinstance(self._implementation, _PythonModelWrapper):
            return self._implementation.python_model
        return self._implementation

    def unwrap_python_model(self) -> Any:
        if not isinstance(self._implementation, _PythonModelWrapper):
            raise ModelError("this model is not a PythonModel; use get_raw_model()")
        return self._implementation.python_model

    def __repr__(self) -> str:
        flavors = ", ".join(f for f in self.metadata.get("flavors", {}) if f != "python_function")
        return f"<PyFuncModel {type(self.get_raw_model()).__name__} ({flavors or 'python_function'})>"


class _PythonModelWrapper:
    def __init__(self, python_model: PythonModel, context: PythonModelContext) -> None:
        self.python_model = python_model
        self.context = context

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.python_model.predict(self.context, data, params=params)


def save_model(
    path: str | os.PathLike[str],
    python_model: PythonModel | None = None,
    artifacts: dict[str, str] | None = None,
    signature: Any = None,
    input_example: Any = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    extra_pip_requirements: list[str] | None = None,
    mlflow_model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Save a ``PythonModel`` (cloudpickled; loading it runs code) with its ``artifacts``."""
    if python_model is None or not hasattr(python_model, "predict"):
        raise InvalidInput("save_model needs python_model=<a PythonModel instance with predict()>")
    import cloudpickle

    folder = new_folder(path)
    try:
        with open(folder / "python_model.pkl", "wb") as out:
            cloudpickle.dump(python_model, out)
        stored: dict[str, str] = {}
        for key, source in (artifacts or {}).items():
            src = Path(source)
            if not src.exists():
                raise InvalidInput(f"artifact {key!r} points at {source!r}, which does not exist")
            target = folder / "artifacts" / src.name
            target.parent.mkdir(exist_ok=True)
            (shutil.copytree if src.is_dir() else shutil.copyfile)(src, target)
            stored[key] = f"artifacts/{src.name}"
        mlmodel = mlflow_model if mlflow_model is not None else new_mlmodel()
        mlmodel["flavors"]["python_function"] = python_function_block(
            LOADER, python_model="python_model.pkl", cloudpickle_version=cloudpickle.__version__,
            artifacts={k: {"path": v} for k, v in stored.items()}, model_config=model_config or None)
        write_environment(folder, ["cloudpickle", "numpy", "pandas"], extra_pip_requirements)
        context = PythonModelContext({k: str(folder / v) for k, v in stored.items()}, model_config)

        def predict(data: Any) -> Any:
            python_model.load_context(context)
            return python_model.predict(context, data)

        sig = signature_block(signature, input_example, predict)
        return finish(folder, mlmodel, input_example=input_example, signature=sig, metadata=metadata)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def log_model(
    name: str | None = None,
    python_model: PythonModel | None = None,
    *,
    artifact_path: str | None = None,
    artifacts: dict[str, str] | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    metadata: dict[str, Any] | None = None,
    model_config: dict[str, Any] | None = None,
    await_registration_for: int = 300,
    extra_pip_requirements: list[str] | None = None,
) -> ModelInfo:
    """Log a ``PythonModel`` into the active run under ``name``.

    Example:
        >>> log_model(name="model", python_model=AddN(2), input_example=[1, 2])  # doctest: +SKIP
    """
    target = artifact_name(name, artifact_path)

    def save(folder: Path, mlmodel: dict[str, Any]) -> dict[str, Any]:
        return save_model(folder, python_model=python_model, artifacts=artifacts, signature=signature,
                          input_example=input_example, metadata=metadata, model_config=model_config,
                          extra_pip_requirements=extra_pip_requirements, mlflow_model=mlmodel)

    return log_saved(save, name=target, registered_model_name=registered_model_name,
                     await_registration_for=await_registration_for)


def load_model(model_uri: str | os.PathLike[str], suppress_warnings: bool = False,
               dst_path: str | None = None, skops_trusted_types: list[str] | None = None) -> PyFuncModel:
    """Load the model at ``model_uri`` (folder, ``runs:/``, ``models:/name/<version|stage|latest>``,
    ``models:/name@alias``) behind one ``predict``.

    Example:
        >>> model = load_model("models:/customer-sentiment@champion")  # doctest: +SKIP
        >>> model.predict(["love this dress, perfect fit"])  # doctest: +SKIP
    """
    keep = dst_path is not None
    with model_directory(model_uri, dst_path=dst_path) as folder:
        mlmodel = read_mlmodel(folder)
        conf = mlmodel["flavors"].get("python_function")
        if conf is None:
            raise ModelError(f'Model does not have the "python_function" flavor (it has '
                             f"{', '.join(mlmodel['flavors']) or 'none'}); load it with its flavor's load_model")
        loader = conf.get("loader_module", "")
        example = read_input_example(folder, mlmodel)
        if loader in _SKLEARN_LOADERS:
            from .sklearn import load_from_directory

            model = load_from_directory(folder, mlmodel, skops_trusted_types)
            return PyFuncModel(model, mlmodel, conf.get("predict_fn", "predict"), example)
        if loader == LOADER:
            return PyFuncModel(_load_python_model(folder, conf), mlmodel, "predict", example)
        if loader in ("mlflow.keras", "nbtrack.models.flavors.keras") and "keras" in mlmodel["flavors"]:
            from .keras import KerasPredictor
            from .keras import load_from_directory as load_keras

            return PyFuncModel(KerasPredictor(load_keras(folder, mlmodel)), mlmodel, "predict", example)
        if keep or not str(model_uri).startswith(("runs:/", "models:/")):
            return _load_with_module(folder, conf, mlmodel, example)
        # a store URI's temp folder goes away after this block: MLflow flavors may read lazily
        import tempfile

        copy = Path(tempfile.mkdtemp(prefix="nbtrack-model-")) / "model"
        shutil.copytree(folder, copy)
    return _load_with_module(copy, conf, mlmodel, example)


def _load_python_model(folder: Path, conf: dict[str, Any]) -> _PythonModelWrapper:
    from .sklearn import code_execution_allowed

    if not code_execution_allowed():
        raise ModelError("loading models is turned off (NBTRACK_/MLFLOW_ALLOW_MODEL_CODE_EXECUTION=false)")
    import cloudpickle

    with open(folder / conf.get("python_model", "python_model.pkl"), "rb") as handle:
        python_model = cloudpickle.load(handle)
    artifacts = {k: str(folder / v["path"]) for k, v in (conf.get("artifacts") or {}).items()}
    context = PythonModelContext(artifacts, conf.get("model_config"))
    python_model.load_context(context)
    return _PythonModelWrapper(python_model, context)


def _load_with_module(folder: Path, conf: dict[str, Any], mlmodel: dict[str, Any], example: Any) -> Any:
    """Another flavor: MLflow loads it when installed; else the loader module's ``_load_pyfunc``."""
    loader = conf.get("loader_module", "")
    if loader.startswith("mlflow."):
        try:
            import mlflow.pyfunc
        except ImportError:
            raise ModelError(f"this model's loader module {loader!r} is part of MLflow, which is not "
                             "installed; pip install mlflow to load it") from None
        return mlflow.pyfunc.load_model(str(folder))
    try:
        module = importlib.import_module(loader)
    except ImportError:
        package = loader.split(".")[0] or "?"
        raise ModelError(f"this model's loader module {loader!r} cannot be imported; pip install "
                         f"{package} (the package that saved it) and load again") from None
    data = folder / conf["data"] if "data" in conf else folder
    return PyFuncModel(module._load_pyfunc(str(data)), mlmodel, conf.get("predict_fn", "predict"), example)


def _load_pyfunc(path: str) -> _PythonModelWrapper:
    """The loader-module entry point MLflow's contract names (``loader_module: nbtrack...``)."""
    folder = Path(path)
    return _load_python_model(folder, read_mlmodel(folder)["flavors"]["python_function"])
