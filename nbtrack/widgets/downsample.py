"""Downsampling a metric curve for display while keeping every peak and dip.

The points are cut into buckets of consecutive steps; each bucket keeps its
minimum and its maximum (in step order), and the first and last points are
always kept. A spike of one step therefore survives any reduction, which
averaging or striding would lose. NaN values are never chosen as extremes;
runs of NaN simply thin out, so gaps in a curve stay visible.

This is the numpy twin of ``nbtrack.server.downsample`` (same rule, vectorised)
because the comparison view downsamples up to a million points per refresh.

Example:
    >>> import numpy as np
    >>> steps = np.arange(10_000)
    >>> values = np.sin(steps / 500.0); values[1234] = 50.0
    >>> s, v = minmax_downsample(steps, values, 200)
    >>> len(s) <= 200, float(v.max()), int(s[0]), int(s[-1])
    (True, 50.0, 0, 9999)
"""

from __future__ import annotations

import math

import numpy as np

MIN_POINTS = 4


def minmax_downsample(steps: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points of ``(steps, values)``: first, last, and each bucket's min and max."""
    max_points = max(MIN_POINTS, int(max_points))
    total = len(values)
    if total <= max_points:
        return steps, values
    buckets = (max_points - 2) // 2
    edges = (np.arange(buckets + 1) * total) // buckets
    # Replace NaN by +inf for the min search and -inf for the max search, so NaN never wins
    # unless a whole bucket is NaN (then argmin lands on its first point, which is fine: a gap).
    finite = np.isfinite(values)
    low = np.where(finite, values, np.inf)
    high = np.where(finite, values, -np.inf)
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


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average as TensorBoard's smoothing slider (``weight`` in [0, 1)).

    NaN points stay NaN and do not poison the average after them.

    Example:
        >>> ema(np.array([0.0, 10.0, np.nan, 10.0]), 0.5).round(2).tolist()
        [0.0, 6.67, nan, 8.57]
    """
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
