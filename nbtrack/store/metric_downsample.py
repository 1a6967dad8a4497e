"""A stored metric series thinned in SQL: each bucket's min and max, never the whole series in memory.

The rule is :mod:`nbtrack.render.downsample`'s (first and last point, then
each bucket's min and max); here the buckets are ranges of the series'
rowids, i.e. of logging order, read through ``metric_chunks`` so only the
series' own pages are scanned. Per bucket, aggregate queries over slices find
the min and max values and two ``LIMIT 1`` queries fetch the rows that hold them.
Python only ever holds one bucket's answer, so memory stays flat whatever
the series' length. A series short enough to send whole is read whole.

Example:
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store.database import open_store
    >>> import tempfile
    >>> store = open_store(resolve_location(tempfile.mkdtemp()))
    >>> downsample_series(store, 1, "loss", 500)
    Series(total_points=0, points=[])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from .database import Store
from .queries import metric_series

MIN_POINTS = 4  # as nbtrack.render.downsample.MIN_POINTS (store/ imports nothing above it)

SLICES = 16  # per bucket: the look-up of an extreme reads one slice
SLICE_ROWS = 2048  # below this a slice costs more in queries than it saves in scanning

_RANGE = "FROM metric_history WHERE rowid BETWEEN ? AND ? AND run = ? AND key = ?"
# A span whose chunks count one point per rowid holds nothing but this series (rowids are
# unique and each chunk counts the rows it spans), so its scan can skip comparing run and key.
_PURE_RANGE = "FROM metric_history WHERE rowid BETWEEN ? AND ? AND ?3 IS NOT NULL AND ?4 IS NOT NULL"

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
    ranges = _chunk_ranges(store, pk, key)
    total = sum(count for _, _, count in ranges)
    if total <= max_points:
        return Series(total, metric_series(store, pk, key) if total else [])
    buckets = (max_points - 2) // 2
    kept: dict[int, Point] = {}  # rowid -> point; a rowid kept twice is sent once
    spans = [(first, last) for first, last, _ in ranges]
    pure = [(first, last) for first, last, count in ranges if count == last - first + 1]
    kept.update(_end_point(store, spans, pk, key, "ASC"))
    kept.update(_end_point(store, spans, pk, key, "DESC"))
    for bucket in _buckets(spans, buckets):
        kept.update(_extremes(store, bucket, pk, key, pure))
    # Sent in step order (as a whole series is); ties keep logging order.
    ordered = sorted(kept.items(), key=lambda item: (item[1][1], item[0]))
    return Series(total, [point for _, point in ordered])


def _chunk_ranges(store: Store, pk: int, key: str) -> list[tuple[int, int, int]]:
    """The series' rowid ranges, merged where they touch or overlap, with their point counts."""
    merged: list[list[int]] = []
    for first, last, count in store.conn.execute(
        "SELECT first_rowid, last_rowid, count FROM metric_chunks WHERE run = ? AND key = ?"
        " ORDER BY first_rowid",
        (pk, key),
    ):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
            merged[-1][2] += count
        else:
            merged.append([first, last, count])
    return [(first, last, count) for first, last, count in merged]


def _buckets(spans: list[tuple[int, int]], buckets: int) -> Iterator[list[tuple[int, int]]]:
    """Cut the rowids covered by ``spans`` into ``buckets`` runs of equal length.

    A bucket that crosses a gap between spans is a list of sub-ranges.
    """
    width = sum(last - first + 1 for first, last in spans)
    span_index, offset = 0, 0  # position inside the concatenated spans
    for bucket in range(buckets):
        start, end = bucket * width // buckets, (bucket + 1) * width // buckets
        parts: list[tuple[int, int]] = []
        while start < end:
            first, last = spans[span_index]
            length = last - first + 1
            if start >= offset + length:
                offset += length
                span_index += 1
                continue
            lo = first + (start - offset)
            hi = first + min(end, offset + length) - offset - 1
            parts.append((lo, hi))
            start = offset + (hi - first) + 1
        yield parts


def _extremes(
    store: Store, parts: list[tuple[int, int]], pk: int, key: str, pure: list[tuple[int, int]]
) -> dict[int, Point]:
    # One aggregate per slice finds where the bucket's min and max are; the LIMIT 1 look-ups
    # then scan only the slice that holds each, so the series is read about once, not twice.
    slices = [piece for lo, hi in parts for piece in _slices(lo, hi)]
    low: tuple[float, tuple[int, int]] | None = None
    high: tuple[float, tuple[int, int]] | None = None
    for lo, hi in slices:
        where = _PURE_RANGE if _inside(lo, hi, pure) else _RANGE
        part_low, part_high = store.conn.execute(
            f"SELECT min(value), max(value) {where}", (lo, hi, pk, key)
        ).fetchone()
        if part_low is None:
            continue
        if low is None or part_low < low[0]:
            low = (part_low, (lo, hi))
        if high is None or part_high > high[0]:
            high = (part_high, (lo, hi))
    if low is None or high is None:  # all NaN (stored as NULL): a gap, nothing to keep
        return {}
    found: dict[int, Point] = {}
    for wanted, (lo, hi) in (low, high):
        where = _PURE_RANGE if _inside(lo, hi, pure) else _RANGE
        row = store.conn.execute(
            f"SELECT rowid, value, step, timestamp {where} AND value = ?5 ORDER BY rowid LIMIT 1",
            (lo, hi, pk, key, wanted),
        ).fetchone()
        if row is not None:
            found[row[0]] = (row[1], row[2], row[3])
    return found


def _inside(lo: int, hi: int, spans: list[tuple[int, int]]) -> bool:
    # Few spans per series (one per flushed batch, merged when adjacent): a scan is fine.
    return any(first <= lo and hi <= last for first, last in spans)


def _slices(lo: int, hi: int) -> list[tuple[int, int]]:
    """``[lo, hi]`` in up to ``SLICES`` pieces of at least ``SLICE_ROWS`` rowids."""
    width = hi - lo + 1
    count = max(1, min(SLICES, width // SLICE_ROWS))
    return [(lo + i * width // count, lo + (i + 1) * width // count - 1) for i in range(count)]


def _end_point(
    store: Store, spans: list[tuple[int, int]], pk: int, key: str, direction: str
) -> dict[int, Point]:
    # direction is one of two literals chosen above, never user text.
    row = store.conn.execute(
        f"SELECT rowid, value, step, timestamp {_RANGE} ORDER BY rowid {direction} LIMIT 1",
        (spans[0][0], spans[-1][1], pk, key),
    ).fetchone()
    if row is None:
        return {}
    value = None if row[1] is None or (isinstance(row[1], float) and math.isnan(row[1])) else row[1]
    return {row[0]: (value, row[2], row[3])}


__all__ = ["Series", "downsample_series"]
