"""``nbtrack.data``: MLflow's ``mlflow.data.from_pandas`` / ``from_numpy`` for ``log_input``.

They fingerprint the data (digest, shape, schema, profile) as ``log_input`` does and return
the ``DatasetInput`` it records, so ``mlflow.log_input(mlflow.data.from_pandas(df,
name="reviews"), context="train")`` works after ``import nbtrack as mlflow``.
``targets`` and ``predictions`` name columns, as in MLflow; they are kept in the profile.

Example:
    >>> import numpy as np
    >>> from_numpy(np.arange(6).reshape(3, 2), name="xs").shape
    (3, 2)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .entities import DatasetInput
from .tracking.inputs import fingerprint


def _described(data: Any, source: Any, name: str | None, digest: str | None, **columns: Any) -> DatasetInput:
    described = fingerprint(data, name=name, source=None if source is None else str(source))
    profile = {**(described.profile or {}), **{k: v for k, v in columns.items() if v is not None}}
    return replace(described, digest=digest or described.digest, profile=profile)


def from_pandas(df: Any, source: Any = None, targets: str | None = None, name: str | None = None,
                digest: str | None = None, predictions: str | None = None) -> DatasetInput:
    """A pandas DataFrame as a dataset to ``log_input``.

    Example:
        >>> nbtrack.log_input(from_pandas(train_df, name="reviews", targets="label"), context="train")  # doctest: +SKIP
    """
    return _described(df, source, name, digest, targets=targets, predictions=predictions)


def from_numpy(features: Any, source: Any = None, targets: Any = None, name: str | None = None,
               digest: str | None = None) -> DatasetInput:
    """A numpy array as a dataset to ``log_input`` (``targets``, an array, is not stored)."""
    return _described(features, source, name, digest)


__all__ = ["from_numpy", "from_pandas"]
