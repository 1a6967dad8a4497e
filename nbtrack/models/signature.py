"""Model signatures in MLflow's JSON form: inferred from an input example, enforced at predict.

A column spec is ``{"type": "double", "name": "amount", "required": true}``
(``name`` absent for a plain list of strings); a tensor spec is
``{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}``.
The MLmodel stores each side as a JSON string, so MLflow enforces the same
signature when it loads a model nbtrack wrote.

A mismatch at predict is one line that names the column (or item) and the type
expected, e.g. ``input column 'amount' holds string values; the model's
signature expects double``.

Example:
    >>> infer_schema(["good", "bad"])
    [{'type': 'string', 'required': True}]
    >>> check_input([{'type': 'string', 'required': True}], ["fine"])
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidInput

# numpy dtype kind/size -> MLflow column type
_NUMERIC = {("i", 8): "long", ("i", 4): "integer", ("i", 2): "integer", ("i", 1): "integer",
            ("u", 4): "long", ("u", 2): "integer", ("u", 1): "integer",
            ("f", 8): "double", ("f", 4): "float", ("f", 2): "float"}
# MLflow column type -> numpy kinds it accepts without losing information
_ACCEPTS = {"double": "iuf", "float": "iuf", "long": "iu", "integer": "iu", "boolean": "b",
            "string": "OUS", "binary": "OS", "datetime": "M"}


def _column_type(dtype: Any, values: Any = None) -> str:
    kind = dtype.kind
    if kind in "iuf":
        return _NUMERIC.get((kind, dtype.itemsize), "double" if kind == "f" else "long")
    if kind == "b":
        return "boolean"
    if kind == "M":
        return "datetime"
    if kind == "S":
        return "binary"
    if kind in "OU" and values is not None:
        sample = next((v for v in values if v is not None), "")
        if isinstance(sample, bytes):
            return "binary"
        if isinstance(sample, bool):
            return "boolean"
    return "string"


def infer_schema(data: Any) -> list[dict[str, Any]]:
    """MLflow's schema for ``data``: columns for a DataFrame, dict or list of strings; a tensor
    spec for an array."""
    import numpy as np

    if type(data).__name__ == "DataFrame":
        return [{"type": _column_type(data[c].dtype, data[c].tolist()), "name": str(c), "required": True}
                for c in data.columns]
    if type(data).__name__ == "Series":
        return [{"type": _column_type(data.dtype, data.tolist()), "required": True}]
    if isinstance(data, dict):
        return [{"type": _column_type(np.asarray(v).dtype, np.asarray(v).ravel().tolist()), "name": str(k),
                 "required": True} for k, v in data.items()]
    if isinstance(data, (list, tuple)) and data and all(isinstance(v, str) for v in data):
        return [{"type": "string", "required": True}]
    array = np.asarray(data)
    if array.dtype.kind in "OU" and array.ndim == 1:
        return [{"type": "string", "required": True}]
    return [{"type": "tensor", "tensor-spec": {"dtype": str(array.dtype), "shape": [-1, *array.shape[1:]]}}]


def infer_signature(model_input: Any, model_output: Any = None) -> dict[str, str | None]:
    """The MLmodel ``signature`` block: JSON strings, as MLflow writes them."""
    inputs = infer_schema(model_input)
    outputs = None if model_output is None else infer_schema(model_output)
    if outputs and inputs[0].get("type") != "tensor" and outputs[0].get("type") == "tensor" \
            and len(outputs[0]["tensor-spec"]["shape"]) == 1:
        # column-based input, one prediction per row: MLflow writes an unnamed column
        import numpy as np

        outputs = [{"type": _column_type(np.dtype(outputs[0]["tensor-spec"]["dtype"])), "required": True}]
    return {"inputs": json.dumps(inputs), "outputs": None if outputs is None else json.dumps(outputs),
            "params": None}


def check_input(schema: list[dict[str, Any]], data: Any) -> None:
    """Raise ``InvalidInput`` (one line) when ``data`` does not fit ``schema``."""
    import numpy as np

    if not schema:
        return
    if schema[0].get("type") == "tensor":
        spec = schema[0]["tensor-spec"]
        try:
            array = np.asarray(data)
        except Exception:
            raise InvalidInput(f"input of type {type(data).__name__} is not an array; the model's "
                               f"signature expects a {spec['dtype']} array of shape {spec['shape']}") from None
        want = np.dtype(spec["dtype"])
        if array.dtype.kind not in _ACCEPTS.get(_column_type(want), want.kind) and array.dtype != want:
            raise InvalidInput(f"input array has dtype {array.dtype}; the model's signature expects "
                               f"{spec['dtype']} (shape {spec['shape']})")
        shape = spec["shape"]
        if array.ndim != len(shape) or any(w not in (-1, g) for w, g in zip(shape, array.shape)):
            raise InvalidInput(f"input array has shape {list(array.shape)}; the model's signature "
                               f"expects {shape} (-1 means any size)")
        return
    named = [spec for spec in schema if spec.get("name") is not None]
    if not named:  # one unnamed column: a list of values
        want = schema[0]["type"]
        values = data.iloc[:, 0].tolist() if type(data).__name__ == "DataFrame" else (
            data.tolist() if hasattr(data, "tolist") else data)
        if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
            raise InvalidInput(f"input is a {type(data).__name__}; the model's signature expects a "
                               f"list of {want} values, e.g. [\"...\"]")
        for index, value in enumerate(values):
            if not _fits(want, value):
                raise InvalidInput(f"input item {index} is {type(value).__name__} ({value!r:.40}); "
                                   f"the model's signature expects {want}")
        return
    if isinstance(data, dict):
        columns = {str(k): np.asarray(v) for k, v in data.items()}
    elif type(data).__name__ == "DataFrame":
        columns = {str(c): data[c].to_numpy() for c in data.columns}
    else:
        raise InvalidInput(f"input is a {type(data).__name__}; the model's signature expects a DataFrame "
                           f"with columns {', '.join(s['name'] for s in named)}")
    for spec in named:
        name, want = spec["name"], spec["type"]
        if name not in columns:
            if spec.get("required", True):
                raise InvalidInput(f"input is missing column {name!r} ({want}); the model's signature "
                                   f"expects {', '.join(s['name'] for s in named)}")
            continue
        column = columns[name]
        if column.dtype.kind == "O":
            bad = next((v for v in column.ravel().tolist() if v is not None and not _fits(want, v)), None)
            if bad is not None:
                raise InvalidInput(f"input column {name!r} holds {type(bad).__name__} values ({bad!r:.40}); "
                                   f"the model's signature expects {want}")
        elif column.dtype.kind not in _ACCEPTS.get(want, ""):
            raise InvalidInput(f"input column {name!r} has type {column.dtype}; the model's signature "
                               f"expects {want}")


def _fits(want: str, value: Any) -> bool:
    if want == "string":
        return isinstance(value, str)
    if want == "binary":
        return isinstance(value, (bytes, bytearray))
    if want == "boolean":
        return isinstance(value, bool) or type(value).__name__ == "bool_"
    if want in ("long", "integer"):
        return isinstance(value, int) and not isinstance(value, bool) or type(value).__name__.startswith("int")
    if want in ("double", "float"):
        return isinstance(value, (int, float)) and not isinstance(value, bool) or \
            type(value).__name__.startswith(("float", "int"))
    return True
