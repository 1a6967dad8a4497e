"""What every flavor's ``save_model`` and ``log_model`` share: the target folder, the signature
and example, the MLmodel with its digests, logging into the run and registering.

Example:
    >>> artifact_name(None, None)
    'model'
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import InvalidInput, ModelError
from .. import integrity
from ..locate import ModelInfo, log_model_directory
from ..mlmodel import directory_size, write_input_example, write_mlmodel
from ..signature import infer_signature


def artifact_name(name: str | None, artifact_path: str | None) -> str:
    """MLflow 3's ``name=``, or the older ``artifact_path=`` (with MLflow's deprecation note)."""
    if name and artifact_path:
        raise InvalidInput("pass name= or artifact_path=, not both (name= is MLflow 3's spelling)")
    if artifact_path:
        warnings.warn("`artifact_path` is deprecated. Please use `name` instead.", FutureWarning, stacklevel=3)
        return artifact_path
    return name or "model"


def new_folder(path: str | Path) -> Path:
    """The folder to save into: new, or existing and empty (MLflow refuses to overwrite)."""
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ModelError(f"{folder} already exists and is not empty; save to a new path "
                         "(nbtrack never overwrites a saved model)")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def signature_block(signature: Any, input_example: Any, predict: Callable[[Any], Any] | None) -> dict | None:
    """The MLmodel ``signature``: given (dict or MLflow ``ModelSignature``), inferred from the
    example and the model's prediction on it, or none (``signature=False``)."""
    if signature is False:
        return None
    if signature is not None:
        if hasattr(signature, "to_dict"):
            return signature.to_dict()
        if isinstance(signature, dict) and "inputs" in signature:
            return {"inputs": signature["inputs"], "outputs": signature.get("outputs"),
                    "params": signature.get("params")}
        raise InvalidInput("signature must be a dict with 'inputs' (MLflow's JSON strings), an "
                           "MLflow ModelSignature, or False")
    if input_example is None:
        return None
    output = None
    if predict is not None:
        try:
            output = predict(input_example)
        except Exception as exc:  # the example does not fit the model: say so, keep saving
            warnings.warn(f"could not infer the output signature: predicting on the input example "
                          f"raised {type(exc).__name__}: {exc}", UserWarning, stacklevel=4)
    return infer_signature(input_example, output)


def finish(folder: Path, mlmodel: dict[str, Any], *, input_example: Any, signature: dict | None,
           metadata: dict | None) -> dict[str, Any]:
    """Write the example, the digests and the MLmodel; returns the MLmodel written."""
    if input_example is not None:
        mlmodel["saved_input_example_info"] = write_input_example(folder, input_example)
    extra: dict[str, Any] = {}
    if signature is not None:
        if _unnamed_list(signature):
            # MLflow turns a list input into a one-column DataFrame when a signature names a
            # column, which a text pipeline cannot read; MLflow itself writes no signature for a
            # list example. Keep the schema where only nbtrack looks.
            extra["input_schema"] = signature["inputs"]
        else:
            mlmodel["signature"] = signature
    if metadata:
        mlmodel["metadata"] = dict(metadata)
    from ... import __version__

    mlmodel["model_size_bytes"] = directory_size(folder)
    mlmodel["nbtrack"] = {"version": __version__, **extra, "files": integrity.file_digests(folder)}
    write_mlmodel(folder, mlmodel)
    return mlmodel


def _unnamed_list(signature: dict[str, Any]) -> bool:
    import json

    inputs = signature.get("inputs")
    specs = json.loads(inputs) if isinstance(inputs, str) else inputs
    return bool(specs) and all(s.get("type") != "tensor" and s.get("name") is None for s in specs)


def log_saved(save: Callable[[Path, dict[str, Any]], dict[str, Any]], *, name: str,
              registered_model_name: str | None, await_registration_for: int = 300) -> ModelInfo:
    """Save into a temp folder with ``save(folder, base_mlmodel)``, store it in the active run
    under ``name`` and register it when asked."""
    from ...tracking.fluent import current_run
    from ..mlmodel import new_mlmodel

    run = current_run()
    tmp = Path(tempfile.mkdtemp(prefix="nbtrack-log-model-"))
    try:
        folder = tmp / "model"
        mlmodel = save(folder, new_mlmodel(artifact_path=name, run_id=run.run_id))
        log_model_directory(folder, name, mlmodel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    uri = f"runs:/{run.run_id}/{name}"
    version = None
    if registered_model_name:
        from ..registry import register_model

        version = register_model(uri, registered_model_name).version
    return ModelInfo(
        artifact_path=name, flavors=mlmodel["flavors"], model_uri=uri, model_id=mlmodel["model_id"],
        model_uuid=mlmodel["model_uuid"], run_id=run.run_id, signature=mlmodel.get("signature"),
        saved_input_example_info=mlmodel.get("saved_input_example_info"),
        utc_time_created=mlmodel["utc_time_created"], registered_model_version=version,
    )
