"""``nbtrack.sklearn``: save, log and load scikit-learn models in MLflow's format.

The folder is what ``mlflow.sklearn.save_model`` writes (``loader_module:
mlflow.sklearn``), so MLflow loads it with no nbtrack installed, and nbtrack
loads MLflow's folders with no MLflow installed.

**Loading a pickle runs code.** ``serialization_format="pickle"`` or
``"cloudpickle"`` stores a program that runs when loaded: load only models you
trust. The default is skops (as MLflow's since 3.14), which refuses types it
does not trust; but, as MLflow says, skops is not a safe bypass either: a
trusted-types list that comes with a model file is the model author's word.
nbtrack never takes that list from the MLmodel; pass ``skops_trusted_types=``
yourself after reading what the error lists.

Example:
    >>> from sklearn.linear_model import LogisticRegression  # doctest: +SKIP
    >>> info = log_model(LogisticRegression().fit(X, y), name="model", input_example=X[:3])  # doctest: +SKIP
    >>> load_model(info.model_uri).predict(X[:3])  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from ...errors import InvalidInput, ModelError
from ..locate import ModelInfo, model_directory
from ..mlmodel import new_mlmodel, python_function_block, read_mlmodel, write_environment
from .base import artifact_name, finish, log_saved, new_folder, signature_block

FLAVOR_NAME = "sklearn"
FORMATS = ("skops", "pickle", "cloudpickle")
PICKLE_WARNING = (
    "Saving scikit-learn models in the pickle or cloudpickle format requires exercising caution "
    "because these formats rely on Python's object serialization mechanism, which can execute "
    "arbitrary code during deserialization. The recommended safe alternative is the 'skops' format.")


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    serialization_format: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    metadata: dict[str, Any] | None = None,
    pyfunc_predict_fn: str = "predict",
    skops_trusted_types: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    mlflow_model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Save ``sk_model`` as an MLflow model folder at ``path``; returns the MLmodel written.

    Example:
        >>> save_model(model, "out/model", input_example=X[:3])  # doctest: +SKIP
    """
    fmt = serialization_format or "skops"
    if fmt not in FORMATS:
        raise InvalidInput(f"serialization_format {fmt!r} is not one of {', '.join(FORMATS)}")
    if not hasattr(sk_model, pyfunc_predict_fn):
        raise InvalidInput(f"{type(sk_model).__name__} has no {pyfunc_predict_fn}(); fit a model with "
                           "predict, or pass pyfunc_predict_fn='predict_proba' (or another method)")
    folder = new_folder(path)
    try:
        file_name = _serialize(sk_model, folder, fmt, skops_trusted_types)
        import sklearn

        mlmodel = mlflow_model if mlflow_model is not None else new_mlmodel()
        mlmodel["flavors"]["python_function"] = python_function_block(
            "mlflow.sklearn", model_path=file_name, predict_fn=pyfunc_predict_fn)
        mlmodel["flavors"][FLAVOR_NAME] = {
            "code": None, "pickled_model": file_name, "serialization_format": fmt,
            "sklearn_version": sklearn.__version__,
            "skops_trusted_types": list(skops_trusted_types) if skops_trusted_types else None,
        }
        packages = ["scikit-learn", "numpy", "scipy", "pandas", "skops" if fmt == "skops" else "cloudpickle"]
        write_environment(folder, packages, extra_pip_requirements)
        sig = signature_block(signature, input_example, getattr(sk_model, pyfunc_predict_fn))
        return finish(folder, mlmodel, input_example=input_example, signature=sig, metadata=metadata)
    except BaseException:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)  # nothing half-saved stays behind
        raise


def _serialize(model: Any, folder: Path, fmt: str, trusted: list[str] | None) -> str:
    if fmt == "skops":
        import skops.io

        target = folder / "model.skops"
        try:
            skops.io.dump(model, target)
        except Exception as exc:
            raise ModelError(
                f"skops could not save {type(model).__name__} ({type(exc).__name__}: {exc}); skops does "
                "not support custom functions or classes that are not defined at the top level of an "
                "importable module (a notebook's classes live in __main__): move them to a module, or "
                "pass serialization_format='cloudpickle' (loading a pickle runs code)") from None
        untrusted = [t for t in skops.io.get_untrusted_types(file=target) if t not in (trusted or [])]
        if untrusted:
            raise ModelError(f"The saved sklearn model references untrusted types {untrusted}; if you "
                             f"trust them, set the 'skops_trusted_types' parameter to {untrusted}")
        return target.name
    warnings.warn(PICKLE_WARNING, UserWarning, stacklevel=3)
    target = folder / "model.pkl"
    if fmt == "cloudpickle":
        import cloudpickle as serializer
    else:
        import pickle as serializer  # type: ignore[no-redef]
    with open(target, "wb") as out:
        serializer.dump(model, out)
    return target.name


def log_model(
    sk_model: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    serialization_format: str | None = None,
    registered_model_name: str | None = None,
    signature: Any = None,
    input_example: Any = None,
    await_registration_for: int = 300,
    metadata: dict[str, Any] | None = None,
    pyfunc_predict_fn: str = "predict",
    skops_trusted_types: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
) -> ModelInfo:
    """Save ``sk_model`` into the active run (one is started if none is) under ``name``, and
    register it as a new version of ``registered_model_name`` when given.

    Example:
        >>> info = log_model(pipe, name="model", input_example=X[:3],
        ...                  registered_model_name="customer-sentiment")  # doctest: +SKIP
        >>> info.model_uri  # doctest: +SKIP
        'runs:/3f2a.../model'
    """
    target = artifact_name(name, artifact_path)

    def save(folder: Path, mlmodel: dict[str, Any]) -> dict[str, Any]:
        return save_model(sk_model, folder, serialization_format=serialization_format, signature=signature,
                          input_example=input_example, metadata=metadata,
                          pyfunc_predict_fn=pyfunc_predict_fn, skops_trusted_types=skops_trusted_types,
                          extra_pip_requirements=extra_pip_requirements, mlflow_model=mlmodel)

    return log_saved(save, name=target, registered_model_name=registered_model_name,
                     await_registration_for=await_registration_for)


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None,
               skops_trusted_types: list[str] | None = None) -> Any:
    """The scikit-learn model at ``model_uri``: a folder, ``runs:/<run>/<path>``,
    ``models:/<name>/<version|stage|latest>`` or ``models:/<name>@<alias>``.

    Example:
        >>> model = load_model("models:/customer-sentiment/Production")  # doctest: +SKIP
    """
    with model_directory(model_uri, dst_path=dst_path) as folder:
        return load_from_directory(folder, read_mlmodel(folder), skops_trusted_types)


def code_execution_allowed() -> bool:
    """MLflow's switches, honoured here too: either set to false refuses to run model code."""
    for variable in ("NBTRACK_ALLOW_MODEL_CODE_EXECUTION", "MLFLOW_ALLOW_MODEL_CODE_EXECUTION",
                     "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"):
        if os.environ.get(variable, "true").strip().lower() in ("false", "0", "no"):
            return False
    return True


def load_from_directory(folder: Path, mlmodel: dict[str, Any], trusted: list[str] | None = None) -> Any:
    flavor = mlmodel["flavors"].get(FLAVOR_NAME)
    if flavor is None:
        pyfunc = mlmodel["flavors"].get("python_function") or {}
        if pyfunc.get("loader_module") != "mlflow.sklearn":
            raise ModelError(f"the model at {folder} is not a scikit-learn model (flavors: "
                             f"{', '.join(mlmodel['flavors']) or 'none'}); load it with nbtrack.pyfunc.load_model")
        flavor = {"pickled_model": pyfunc.get("model_path", "model.pkl"), "serialization_format": "pickle"}
    file = folder / flavor.get("pickled_model", "model.pkl")
    fmt = flavor.get("serialization_format") or "pickle"
    if not code_execution_allowed():
        raise ModelError("loading models is turned off (NBTRACK_/MLFLOW_ALLOW_MODEL_CODE_EXECUTION=false); "
                         "unset it to load a model you trust")
    if fmt == "skops":
        import skops.io

        untrusted = [t for t in skops.io.get_untrusted_types(file=file) if t not in (trusted or [])]
        if untrusted:
            raise ModelError(f"{file.name} uses types skops does not trust by default: {untrusted}; if you "
                             f"trust where this model came from, pass skops_trusted_types={untrusted}")
        return skops.io.load(file, trusted=list(trusted or []) or None)
    if fmt == "cloudpickle":
        import cloudpickle as serializer
    else:
        import pickle as serializer  # type: ignore[no-redef]
    with open(file, "rb") as handle:
        return serializer.load(handle)
