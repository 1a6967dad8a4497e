"""MLflow's on-disk model format: the ``MLmodel`` YAML file and the files beside it.

A model directory holds ``MLmodel`` (flavors, signature, example info), the
model file, ``requirements.txt``, ``python_env.yaml``, ``conda.yaml`` and,
when given, ``input_example.json`` and ``serving_input_example.json``, as
MLflow 3 writes them. nbtrack adds one top-level key MLflow keeps and ignores:
``nbtrack: {files: {<name>: <sha256>}, run_id: ...}``, the digests the loader
checks (see ``integrity``).

PyYAML is imported on first use, never by ``import nbtrack``.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_mlmodel(folder, {"flavors": {"python_function": {"loader_module": "mlflow.sklearn"}}})
    >>> read_mlmodel(folder)["flavors"]["python_function"]["loader_module"]
    'mlflow.sklearn'
"""

from __future__ import annotations

import datetime
import json
import platform
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import ModelError

MLMODEL = "MLmodel"
INPUT_EXAMPLE = "input_example.json"
SERVING_EXAMPLE = "serving_input_example.json"


def read_mlmodel(path: str | Path) -> dict[str, Any]:
    """The parsed MLmodel of a model directory; a clear error when there is none."""
    import yaml

    file = Path(path) / MLMODEL
    if not file.is_file():
        raise ModelError(f"{path} holds no model (no MLmodel file); save one with "
                         "nbtrack.sklearn.save_model or log it with nbtrack.sklearn.log_model")
    try:
        # libyaml's loader when PyYAML has it: ten times faster than the pure-Python one
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(file.read_text(), Loader=loader) or {}
    except yaml.YAMLError as exc:
        raise ModelError(f"{file} is not valid YAML ({str(exc).splitlines()[0]}); re-save the model") from None
    if not isinstance(data, dict):
        raise ModelError(f"{file} is not an MLmodel mapping; re-save the model")
    data.setdefault("flavors", {})
    return data


def write_mlmodel(path: str | Path, data: dict[str, Any]) -> None:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    Path(path, MLMODEL).write_text(yaml.dump(data, Dumper=dumper, default_flow_style=False, sort_keys=True))


def new_mlmodel(*, artifact_path: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """The fields every MLmodel starts with (MLflow 3's names; ``model_id`` is ``m-<hex>``)."""
    model_id = f"m-{uuid.uuid4().hex}"
    data: dict[str, Any] = {
        "flavors": {},
        "model_id": model_id,
        "model_uuid": model_id,
        "utc_time_created": str(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)),
    }
    if artifact_path:
        data["artifact_path"] = artifact_path
    if run_id:
        data["run_id"] = run_id
    return data


def python_function_block(loader_module: str, **extra: Any) -> dict[str, Any]:
    """``flavors.python_function`` as MLflow's ``pyfunc.add_to_model`` writes it."""
    return {"loader_module": loader_module, "python_version": platform.python_version(),
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}, **extra}


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def write_environment(path: str | Path, packages: list[str], extra: list[str] | None = None) -> None:
    """``requirements.txt``, ``python_env.yaml`` and ``conda.yaml`` pinning the installed versions
    of ``packages`` (MLflow warns at load when the loading side differs)."""
    pins = [f"{name}=={version}" for name in packages if (version := _installed(name))]
    pins += list(extra or [])
    folder = Path(path)
    (folder / "requirements.txt").write_text("".join(f"{pin}\n" for pin in pins))
    python = platform.python_version()
    (folder / "python_env.yaml").write_text(
        f"python: {python}\nbuild_dependencies:\n- pip\n- setuptools\n- wheel\n"
        "dependencies:\n- -r requirements.txt\n")
    (folder / "conda.yaml").write_text(
        f"channels:\n- conda-forge\ndependencies:\n- python={python}\n- pip\n- pip:\n"
        + "".join(f"  - {pin}\n" for pin in pins) + "name: mlflow-env\n")


def write_input_example(path: str | Path, example: Any) -> dict[str, Any]:
    """Save ``example`` as MLflow does and return the MLmodel's ``saved_input_example_info``."""
    import numpy as np

    folder = Path(path)
    if type(example).__name__ == "DataFrame":
        split = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
        body: Any = {"columns": split["columns"], "data": split["data"]}
        info = {"type": "dataframe", "pandas_orient": "split"}
        serving: Any = {"dataframe_split": body}
    elif isinstance(example, np.ndarray):
        body = example.tolist()
        info = {"type": "ndarray"}
        serving = {"inputs": body}
    else:
        body = example.tolist() if hasattr(example, "tolist") else example
        if isinstance(body, tuple):
            body = list(body)
        info = {"type": "json_object"}
        serving = {"inputs": body}
    try:
        (folder / INPUT_EXAMPLE).write_text(json.dumps(body, default=str))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"the input example could not be saved as JSON ({exc}); pass a DataFrame, "
                         "an array, a list or a dict") from None
    (folder / SERVING_EXAMPLE).write_text(json.dumps(serving, indent=2, default=str))
    return {"artifact_path": INPUT_EXAMPLE, "serving_input_path": SERVING_EXAMPLE, **info}


def read_input_example(path: str | Path, mlmodel: dict[str, Any]) -> Any:
    """The saved input example (a DataFrame for ``dataframe``), or None."""
    info = mlmodel.get("saved_input_example_info") or {}
    file = Path(path) / info.get("artifact_path", INPUT_EXAMPLE)
    if not info or not file.is_file():
        return None
    body = json.loads(file.read_text())
    if info.get("type") == "dataframe":
        import pandas as pd

        return pd.DataFrame(body["data"], columns=body["columns"])
    if info.get("type") == "ndarray":
        import numpy as np

        return np.asarray(body.get("inputs", body) if isinstance(body, dict) else body)
    return body


def directory_size(path: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
