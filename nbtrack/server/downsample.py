"""Metric history for a chart: at most ``max_points`` points that keep every peak and dip.

The points (ordered by step) are cut into ``(max_points - 2) // 2`` buckets
of consecutive points; each bucket contributes its minimum and its maximum,
and the first and last points are always kept. So a spike never disappears
from a plot, and the line still starts and ends where the data does. NaN
values (``None``) count as neither minimum nor maximum.

Example:
    >>> series = [(float(i % 7), i, 0) for i in range(1000)]  # (value, step, timestamp)
    >>> points = downsample(series, max_points=50)
    >>> len(points) <= 50, max(p[0] for p in points), points[0][1], points[-1][1]
    (True, 6.0, 0, 999)
"""

from __future__ import annotations

from collections.abc import Sequence

# (value, step, timestamp), as nbtrack.store.queries.metric_series returns them
Point = tuple[float | None, int, int]

MIN_POINTS = 4


def downsample(points: Sequence[Point], max_points: int) -> list[Point]:
    """Keep the first, the last, and each bucket's min and max, in their original order."""
    max_points = max(MIN_POINTS, max_points)
    total = len(points)
    if total <= max_points:
        return list(points)
    buckets = (max_points - 2) // 2
    keep = {0, total - 1}
    for bucket in range(buckets):
        start = bucket * total // buckets
        end = (bucket + 1) * total // buckets
        indexed = [(points[i][0], i) for i in range(start, end) if points[i][0] is not None]
        if indexed:
            keep.add(min(indexed)[1])
            keep.add(max(indexed)[1])
    return [points[i] for i in sorted(keep)]
