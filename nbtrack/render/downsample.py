"""The one rule for thinning a metric curve: keep each bucket's min and max, and both ends.

A series of points is cut into ``(max_points - 2) // 2`` buckets of
consecutive points; each bucket keeps its minimum and its maximum (in their
original order), and the first and last points are always kept. A one-step
spike therefore survives any reduction, which averaging or striding would
lose. NaN is never chosen as an extreme; a bucket that is all NaN keeps
nothing, so a gap stays a gap.

Three forms of the same rule:

- :func:`downsample` for in-memory ``(value, step, timestamp)`` tuples (pure Python);
- :func:`minmax_downsample` for numpy arrays (the comparison widgets, up to a
  million points per refresh);
- ``nbtrack.store.metric_downsample.downsample_series`` for a stored series,
  computed in SQL bucket by bucket so a server never holds a long series in
  memory (it lives under ``store/`` because only ``store/`` runs SQL; it uses
  :func:`bucket_count` and :func:`bucket_bounds` semantics restated there).

Example:
    >>> series = [(float(i % 7), i, 0) for i in range(1000)]  # (value, step, timestamp)
    >>> points = downsample(series, max_points=50)
    >>> len(points) <= 50, max(p[0] for p in points), points[0][1], points[-1][1]
    (True, 6.0, 0, 999)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads on first use: the server and the CLI never need it
    import numpy as np

# (value, step, timestamp), as nbtrack.store.queries.metric_series returns them
Point = tuple[float | None, int, int]

MIN_POINTS = 4


def bucket_count(max_points: int) -> int:
    """How many min/max buckets fit in ``max_points`` beside the two end points.

    Example:
        >>> bucket_count(500), bucket_count(1)
        (249, 1)
    """
    return (max(MIN_POINTS, int(max_points)) - 2) // 2


def bucket_bounds(total: int, buckets: int, bucket: int) -> tuple[int, int]:
    """The half-open index range ``[start, end)`` of ``bucket`` among ``total`` points.

    Example:
        >>> [bucket_bounds(10, 3, b) for b in range(3)]
        [(0, 3), (3, 6), (6, 10)]
    """
    return bucket * total // buckets, (bucket + 1) * total // buckets


def downsample(points: Sequence[Point], max_points: int) -> list[Point]:
    """Keep the first, the last, and each bucket's min and max, in their original order.

    Example:
        >>> downsample([(1.0, 0, 0), (9.0, 1, 0), (None, 2, 0), (2.0, 3, 0), (0.0, 4, 0)], 4)
        [(1.0, 0, 0), (9.0, 1, 0), (0.0, 4, 0)]
    """
    total = len(points)
    if total <= max(MIN_POINTS, max_points):
        return list(points)
    buckets = bucket_count(max_points)
    keep = {0, total - 1}
    for bucket in range(buckets):
        start, end = bucket_bounds(total, buckets, bucket)
        indexed = [(points[i][0], i) for i in range(start, end) if _is_number(points[i][0])]
        if indexed:
            # Ties go to the first point, for the max as for the min (as numpy's argmax and
            # the SQL form do), so all three forms keep the same points.
            keep.add(min(indexed)[1])
            keep.add(max(indexed, key=lambda pair: (pair[0], -pair[1]))[1])
    return [points[i] for i in sorted(keep)]


def minmax_downsample(
    steps: "np.ndarray", values: "np.ndarray", max_points: int
) -> tuple["np.ndarray", "np.ndarray"]:
    """:func:`downsample` for numpy arrays: at most ``max_points`` of ``(steps, values)``.

    Example:
        >>> import numpy as np
        >>> steps = np.arange(10_000)
        >>> values = np.sin(steps / 500.0); values[1234] = 50.0
        >>> s, v = minmax_downsample(steps, values, 200)
        >>> len(s) <= 200, float(v.max()), int(s[0]), int(s[-1])
        (True, 50.0, 0, 9999)
    """
    import numpy as np

    max_points = max(MIN_POINTS, int(max_points))
    total = len(values)
    if total <= max_points:
        return steps, values
    buckets = bucket_count(max_points)
    edges = (np.arange(buckets + 1) * total) // buckets
    # NaN becomes +inf for the min search and -inf for the max search, so NaN never wins
    # unless a whole bucket is NaN (then argmin lands on its first point, which is fine: a gap).
    # Infinities are values like any other (a loss that diverged), as in the other two forms.
    number = ~np.isnan(values)
    low = np.where(number, values, np.inf)
    high = np.where(number, values, -np.inf)
    starts = edges[:-1]
    lengths = np.diff(edges)
    width = int(lengths.max())
    # A (buckets x width) index grid, clipped at each bucket's end: reduceat cannot give arg-extremes.
    grid = starts[:, None] + np.minimum(np.arange(width)[None, :], (lengths - 1)[:, None])
    keep = np.concatenate((
        [0, total - 1],
        grid[np.arange(buckets), low[grid].argmin(axis=1)],
        grid[np.arange(buckets), high[grid].argmax(axis=1)],
    ))
    keep = np.unique(keep)
    return steps[keep], values[keep]


def ema(values: "np.ndarray", weight: float) -> "np.ndarray":
    """Exponential moving average as TensorBoard's smoothing slider (``weight`` in [0, 1)).

    NaN points stay NaN and do not poison the average after them.

    Example:
        >>> import numpy as np
        >>> ema(np.array([0.0, 10.0, np.nan, 10.0]), 0.5).round(2).tolist()
        [0.0, 6.67, nan, 8.57]
    """
    import numpy as np

    if weight <= 0 or len(values) == 0:
        return values
    weight = min(float(weight), 0.999)
    out = np.empty_like(values, dtype=float)
    last, debias = 0.0, 0.0
    for i, value in enumerate(values.tolist()):
        if math.isnan(value):
            out[i] = np.nan
            continue
        last = last * weight + (1 - weight) * value
        debias = debias * weight + (1 - weight)
        out[i] = last / debias
    return out


def _is_number(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


__all__ = ["Point", "bucket_bounds", "bucket_count", "downsample", "ema", "minmax_downsample"]
