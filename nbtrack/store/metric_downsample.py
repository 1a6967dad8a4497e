"""A stored metric series thinned block by block: each bucket's min and max, never the whole series in memory.

The rule is :mod:`nbtrack.render.downsample`'s (first and last point, then
each bucket's min and max, ties to the first logged); here the buckets are
equal runs of the series' points in logging order (block id, then index in
the block). The series' blocks (``metric_blocks``) are decoded with numpy a
chunk of about ``metric_blocks.BLOCK_POINTS`` points at a time, and each
bucket keeps only its running min and max, so memory stays flat whatever the
series' length. A series short enough to send whole is read whole.

Example:
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store.database import open_store
    >>> import tempfile
    >>> store = open_store(resolve_location(tempfile.mkdtemp()))
    >>> downsample_series(store, 1, "loss", 500)
    Series(total_points=0, points=[])
"""

from __future__ import annotations

from dataclasses import dataclass

from .database import Store
from .metric_blocks import Chunk, series_chunks
from .queries import metric_series

MIN_POINTS = 4  # as nbtrack.render.downsample.MIN_POINTS (store/ imports nothing above it)

Point = tuple[float | None, int, int]  # (value or None for NaN, step, timestamp)


@dataclass(frozen=True)
class Series:
    """``points`` (ordered by step) of a series of ``total_points`` points."""

    total_points: int
    points: list[Point]

    @property
    def downsampled(self) -> bool:
        return len(self.points) < self.total_points


def downsample_series(store: Store, pk: int, key: str, max_points: int) -> Series:
    """At most ``max_points`` points of run ``pk``'s metric ``key``, extremes kept.

    Example:
        >>> downsample_series(store, pk, "loss", 500).points[:1]  # doctest: +SKIP
        [(1.0, 0, 1795494428480)]
    """
    max_points = max(MIN_POINTS, int(max_points))
    blocks = store.conn.execute(
        "SELECT id, count FROM metric_blocks WHERE run = ? AND key = ? ORDER BY id", (pk, key)).fetchall()
    total = sum(count for _, count in blocks)
    if total <= max_points:
        return Series(total, metric_series(store, pk, key) if total else [])
    buckets = (max_points - 2) // 2
    lows: list[tuple[float, int] | None] = [None] * buckets  # (value, index) of each bucket's min
    highs: list[tuple[float, int] | None] = [None] * buckets
    kept: dict[int, Point] = {}  # index in logging order -> point; an index kept twice is sent once
    # Blocks written after the count was taken are left out, so the buckets match it.
    for chunk in series_chunks(store.conn, pk, key, up_to=blocks[-1][0]):
        end = chunk.start + len(chunk.values)
        if chunk.start == 0:
            kept[0] = _point(chunk, 0)
        if end == total:
            kept[total - 1] = _point(chunk, total - 1)
        _fold_buckets(chunk, total, buckets, lows, highs)
        # The points of this chunk's winning indices are taken before the chunk is dropped.
        for best in (lows, highs):
            for found in best:
                if found is not None and chunk.start <= found[1] < end:
                    kept.setdefault(found[1], _point(chunk, found[1]))
    winners = {found[1] for best in (lows, highs) for found in best if found is not None}
    ends = {0, total - 1}
    # Sent in step order (as a whole series is); ties keep logging order.
    ordered = sorted(((index, point) for index, point in kept.items() if index in winners or index in ends),
                     key=lambda item: (item[1][1], item[0]))
    return Series(total, [point for _, point in ordered])


def _point(chunk: Chunk, index: int) -> Point:
    at = index - chunk.start
    value = float(chunk.values[at])
    return (None if value != value else value, int(chunk.steps[at]), int(chunk.stamps[at]))


def _fold_buckets(chunk: Chunk, total: int, buckets: int, lows: list, highs: list) -> None:
    """Fold ``chunk`` into the running (value, index) min and max of each bucket it overlaps;
    NaN is skipped, and a tie keeps the earlier point."""
    start, end = chunk.start, chunk.start + len(chunk.values)
    bucket = min(buckets - 1, start * buckets // total)
    while bucket > 0 and bucket * total // buckets > start:
        bucket -= 1
    while bucket + 1 < buckets and (bucket + 1) * total // buckets <= start:
        bucket += 1
    while bucket < buckets and bucket * total // buckets < end:
        lo = max(bucket * total // buckets, start)
        hi = min((bucket + 1) * total // buckets, end)
        if lo < hi:
            segment = chunk.values[lo - start:hi - start]
            numbers = segment == segment  # NaN is a gap, never an extreme
            if numbers.all():
                i_low, i_high = int(segment.argmin()), int(segment.argmax())
            elif numbers.any():
                where = numbers.nonzero()[0]
                i_low, i_high = int(where[segment[where].argmin()]), int(where[segment[where].argmax()])
            else:
                bucket += 1
                continue
            low, high = float(segment[i_low]), float(segment[i_high])
            if lows[bucket] is None or low < lows[bucket][0]:
                lows[bucket] = (low, lo + i_low)
            if highs[bucket] is None or high > highs[bucket][0]:
                highs[bucket] = (high, lo + i_high)
        bucket += 1


__all__ = ["Series", "downsample_series"]
