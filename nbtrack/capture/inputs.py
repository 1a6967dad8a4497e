"""Fingerprints of the data a cell reads, cheap enough to take on every execution.

``%%track`` fingerprints the pandas DataFrames/Series and numpy arrays that the cell
reads (by name, from its source) and that existed before it ran. What is hashed:

- **small data** (at most ``full_max_bytes``, 1 MiB by default): everything, with
  the core's :func:`nbtrack.tracking.inputs.fingerprint`, so the digest equals what
  ``nbtrack.log_input(df)`` records;
- **large data**: shape, dtypes, column names and a bounded sample of
  ``SAMPLE_ROWS`` evenly spaced rows (first and last included), marked
  ``profile["fingerprint"] = "sampled"``. The cost is constant (well under a
  millisecond per frame), whatever the size. An in-place edit of a large object
  that touches no sampled row is not detected; a reassignment, a new shape or
  dtype, or a change in a sampled row is.

Full hashes are cached by ``id()`` while the object lives (a weak reference
checks it is the same object), and reused while the object's *signature* (the
sampled digest, the cheap version check) is unchanged.

Example:
    >>> import numpy as np
    >>> cache = FingerprintCache()
    >>> digest = cache.describe(np.arange(10), "xs").digest
    >>> digest == cache.describe(np.arange(10), "xs").digest
    True
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from ..entities import DatasetInput

FULL_MAX_BYTES = 1 << 20
SAMPLE_ROWS = 256
MAX_INPUTS_PER_CELL = 32


def is_data(obj: Any) -> bool:
    """True for a pandas DataFrame/Series or a numpy ndarray (checked without importing them).

    Example:
        >>> is_data([1, 2])
        False
    """
    cls = type(obj)
    module = cls.__module__
    if module.startswith("pandas"):
        return cls.__name__ in ("DataFrame", "Series")
    return module == "numpy" and cls.__name__ == "ndarray"


def data_names(reads: Iterable[str], namespace: Mapping[str, Any]) -> list[str]:
    """The names among ``reads`` bound to data in ``namespace`` (sorted; at most 32)."""
    found = [n for n in reads if not n.startswith("_") and n in namespace and is_data(namespace[n])]
    return sorted(found)[:MAX_INPUTS_PER_CELL]


def _nbytes(obj: Any) -> int:
    """Size in memory, estimated for pandas (8 bytes a cell): it only picks full vs sampled,
    and ``memory_usage`` costs a millisecond on a wide frame."""
    if type(obj).__name__ == "ndarray":
        return int(obj.nbytes)
    rows = int(obj.shape[0])
    return rows * 8 * (int(obj.shape[1]) if len(obj.shape) > 1 else 1)


def _positions(length: int) -> list[int]:
    if length <= SAMPLE_ROWS:
        return list(range(length))
    step = (length - 1) / (SAMPLE_ROWS - 1)
    return sorted({round(i * step) for i in range(SAMPLE_ROWS)})


def _hash_values(hasher: Any, values: Any) -> None:
    import numpy as np

    array = np.asarray(values)
    if array.dtype.hasobject:
        hasher.update("\x1f".join(map(repr, array.tolist())).encode("utf-8", "replace"))
    else:
        hasher.update(np.ascontiguousarray(array).tobytes())


def signature(obj: Any) -> tuple[str, tuple[int, ...], dict[str, str]]:
    """``(sampled digest, shape, schema)``: the cheap description of ``obj``.

    The digest covers type, shape, dtypes, column names and ``SAMPLE_ROWS`` rows.
    """
    hasher = hashlib.sha256(type(obj).__name__.encode())
    shape = tuple(int(n) for n in obj.shape)
    hasher.update(repr(shape).encode())
    if type(obj).__name__ == "ndarray":
        schema = {"dtype": str(obj.dtype)}
        hasher.update(obj.dtype.str.encode())
        if obj.ndim:
            _hash_values(hasher, obj[_positions(shape[0])])
        else:
            _hash_values(hasher, obj)
        return hasher.hexdigest(), shape, schema
    positions = _positions(shape[0])
    sample = obj.iloc[positions]  # one take of <= SAMPLE_ROWS rows, then work on the small copy
    if type(obj).__name__ == "Series":
        schema = {str(obj.name): str(obj.dtype)}
        hasher.update(repr(sorted(schema.items())).encode())
        _hash_values(hasher, sample.index)
        _hash_values(hasher, sample.to_numpy())
        return hasher.hexdigest(), shape, schema
    schema = {str(c): str(t) for c, t in obj.dtypes.items()}
    hasher.update(repr(list(schema.items())).encode())
    _hash_values(hasher, sample.index)
    # Numeric columns hash as one block of raw bytes; only the others need repr().
    numeric = sample.select_dtypes(include="number")
    _hash_values(hasher, numeric.to_numpy())
    if numeric.shape[1] < shape[1]:
        _hash_values(hasher, sample.select_dtypes(exclude="number").to_numpy().ravel())
    return hasher.hexdigest(), shape, schema


class FingerprintCache:
    """Digests of live objects, keyed by ``id()`` and checked by weak reference and signature."""

    def __init__(self, full_max_bytes: int = FULL_MAX_BYTES) -> None:
        self.full_max_bytes = full_max_bytes
        self._entries: dict[int, tuple[Any, str, DatasetInput]] = {}

    def describe(self, obj: Any, name: str) -> DatasetInput:
        """A :class:`DatasetInput` for ``obj`` named ``name`` (exact when small, sampled when large)."""
        sampled_digest, shape, schema = signature(obj)
        nbytes = _nbytes(obj)
        source_type = "numpy" if type(obj).__name__ == "ndarray" else "pandas"
        if nbytes > self.full_max_bytes:
            profile = {"fingerprint": "sampled", "sample_rows": min(SAMPLE_ROWS, shape[0] if shape else 1),
                       "memory_bytes": nbytes}
            return DatasetInput(name, sampled_digest, "memory", source_type, "cell", shape, schema,
                                profile)
        key = id(obj)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is obj and entry[1] == sampled_digest:
            return _renamed(entry[2], name)
        from ..tracking.inputs import fingerprint

        described = fingerprint(obj, name=name, context="cell")
        described = DatasetInput(described.name, described.digest, described.source,
                                 described.source_type, described.context, described.shape,
                                 described.schema, {**(described.profile or {}), "fingerprint": "full"})
        def forget(_ref: Any, key: int = key) -> None:  # the object died: its id may be reused
            self._entries.pop(key, None)

        try:
            ref = weakref.ref(obj, forget)
        except TypeError:  # not weak-referenceable: no cache, hashed again next time
            return described
        self._entries[key] = (ref, sampled_digest, described)
        return described


def _renamed(described: DatasetInput, name: str) -> DatasetInput:
    if described.name == name:
        return described
    return DatasetInput(name, described.digest, described.source, described.source_type,
                        described.context, described.shape, described.schema, described.profile)
