"""Metric points stored as packed blocks: one ``metric_blocks`` row per flushed batch and series.

A block holds ``count`` points of one (run, key) as three little-endian arrays
(``docs/schema.md`` is the byte-level contract): ``steps`` int64, ``values``
float64 (NaN, ±inf and -0.0 kept bit for bit) and ``timestamps`` int64
milliseconds. A series' logging order is (block id, index in the block).

Writing a batch is a few C-level passes over its rows (no per-point Python
loop, one INSERT per block instead of one per point), which is what keeps a
million points under the durability target. Readers decode blocks with the
``array`` module or numpy; numpy is imported inside functions only, so
``import nbtrack`` stays cheap.

A *position* (``remote_runs.metric_position``, a push's high-water mark) names a
point of a run exactly: ``block_id * 2**32 + n`` means "every point of the run's
blocks below ``block_id``, and the first ``n`` points of block ``block_id``".
0 is "nothing".

Example:
    >>> steps, values, stamps = encode_arrays([0, 2**62], [float("nan"), -0.0], [1, 2])
    >>> len(steps), decode_values(values).tolist()[1]
    (16, -0.0)
    >>> split_position(position(7, 3))
    (7, 3)
"""

from __future__ import annotations

import sqlite3
import struct
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

_RUN, _KEY, _VALUE, _STEP, _SECONDS = (itemgetter(i) for i in range(5))
_RUN_AND_KEY = itemgetter(0, 1)
_THOUSAND, _HALF, _NAN = 1000.0, 0.5, float("nan")
NUMPY_ROWS = 2048  # batches from this size on are packed with numpy...
SMALL_GROUP = 256  # ...unless their series hold fewer points than this on average
BLOCK_POINTS = 100_000  # a block never holds more points than this (a batch's larger group is split)
POSITION_SHIFT = 32
_SWAP = sys.byteorder != "little"  # the file is little-endian on every machine

INSERT_BLOCK = ('INSERT INTO metric_blocks (run, key, count, steps, "values", timestamps) '
                "VALUES (?, ?, ?, ?, ?, ?)")
SERIES_BLOCKS = ('SELECT id, count, steps, "values", timestamps FROM metric_blocks '
                 "WHERE run = ? AND key = ? ORDER BY id")
SERIES_BLOCKS_UP_TO = ('SELECT id, count, steps, "values", timestamps FROM metric_blocks '
                       "WHERE run = ? AND key = ? AND id <= ? ORDER BY id")


def position(block_id: int, sent: int) -> int:
    """The push position after the first ``sent`` points of block ``block_id``."""
    return (block_id << POSITION_SHIFT) + sent


def split_position(value: int) -> tuple[int, int]:
    """``(block_id, points of that block already sent)`` of a position."""
    return value >> POSITION_SHIFT, value & ((1 << POSITION_SHIFT) - 1)


# --- bytes <-> arrays -------------------------------------------------------------------------


def _pack(typecode: str, items: Iterable[Any]) -> bytes:
    packed = array(typecode, items)
    if _SWAP:  # pragma: no cover - big-endian machines
        packed.byteswap()
    return packed.tobytes()


def _unpack(typecode: str, blob: bytes) -> array:
    unpacked = array(typecode)
    unpacked.frombytes(blob)
    if _SWAP:  # pragma: no cover - big-endian machines
        unpacked.byteswap()
    return unpacked


def encode_arrays(steps: Iterable[int], values: Iterable[float], stamps: Iterable[int]) -> tuple[bytes, bytes, bytes]:
    """The three blobs of a block (steps int64, values float64, timestamps int64, little-endian)."""
    return _pack("q", steps), _pack("d", values), _pack("q", stamps)


def decode_steps(blob: bytes) -> array:
    return _unpack("q", blob)


def decode_values(blob: bytes) -> array:
    return _unpack("d", blob)


def millis(seconds: Sequence[float] | np.ndarray) -> np.ndarray:
    """``int(s * 1000 + 0.5)`` of each time in seconds, as the row-per-point INSERT computed it
    (``CAST(? * 1000 + 0.5 AS INTEGER)``: double arithmetic, then truncation)."""
    import numpy as np

    return (np.array(seconds, dtype=np.float64) * 1000.0 + 0.5).astype(np.int64)


# --- writing ----------------------------------------------------------------------------------


def write_points(conn: sqlite3.Connection, rows: Sequence[tuple]) -> list[tuple]:
    """Insert ``rows`` ``(run, key, value, step, seconds)`` as one block per (run, key) (split
    above ``BLOCK_POINTS``), in the caller's transaction; returns each series' summary fold
    ``(run, key, last_value, last_step, last_timestamp, min, max, count)`` for
    ``metric_summaries`` (NaN as None).

    A small batch (the usual one outside a tight loop), or one of many short series, is
    packed with the ``array`` module, so a notebook that logs a few points never loads numpy
    in the writer; a large one with numpy. Both give the same bytes and folds (a test
    checks it).
    """
    if len(rows) < NUMPY_ROWS:
        return _write_small(conn, rows)
    n = len(rows)
    first = rows[0]
    runs, keys = set(map(_RUN, rows)), set(map(_KEY, rows))
    index: dict[tuple[int, str], int] = {}
    if len(runs) > 1 or len(keys) > 1:
        pairs = list(map(_RUN_AND_KEY, rows))
        index = {pair: i for i, pair in enumerate(dict.fromkeys(pairs))}  # first-seen order
        if len(index) * SMALL_GROUP > n:  # many short series (500 runs of 5 metrics): numpy per group costs more
            return _write_small(conn, rows)
    import numpy as np

    # One C-level pass per column (zip(*rows) costs twice as much: it builds 5 tuples of n).
    value_array = np.fromiter(map(_VALUE, rows), np.float64, count=n)
    step_array = np.fromiter(map(_STEP, rows), np.int64, count=n)
    stamp_array = millis(np.fromiter(map(_SECONDS, rows), np.float64, count=n))
    groups: list[tuple[tuple[int, str], Any]]
    if not index:  # the usual training loop: one series
        groups = [((first[0], first[1]), None)]
    else:
        ids = np.fromiter(map(index.__getitem__, pairs), dtype=np.int64, count=n)
        order = np.argsort(ids, kind="stable")  # logging order kept inside each series
        bounds = np.concatenate(([0], np.cumsum(np.bincount(ids, minlength=len(index)))))
        groups = [(pair, order[bounds[i]:bounds[i + 1]]) for pair, i in index.items()]
    blocks, folded = [], []
    for (run, key), picked in groups:
        v = value_array if picked is None else value_array[picked]
        s = step_array if picked is None else step_array[picked]
        t = stamp_array if picked is None else stamp_array[picked]
        for start in range(0, len(v), BLOCK_POINTS):
            end = start + BLOCK_POINTS
            blocks.append((run, key, len(v[start:end]), *_blobs(s[start:end], v[start:end], t[start:end])))
        folded.append((run, key, *_fold(s, v, t)))
    conn.executemany(INSERT_BLOCK, blocks)
    return folded


def _write_small(conn: sqlite3.Connection, rows: Sequence[tuple]) -> list[tuple]:
    groups: dict[tuple[int, str], list[tuple]] = {}
    for row in rows:
        groups.setdefault((row[0], row[1]), []).append(row)
    blocks, folded = [], []
    for (run, key), mine in groups.items():
        if len(mine) == 1:  # one point (log_metrics at the end of a short run): no arrays
            blocks.append(_single_block(mine[0]))
            folded.append(_single_fold(mine[0]))
            continue
        values = [_NAN if v is None else v for v in map(_VALUE, mine)]  # None is NaN, as numpy reads it
        for start in range(0, len(mine), BLOCK_POINTS):
            piece = mine[start:start + BLOCK_POINTS]
            # int(s * 1000 + 0.5), each step a C call: the same doubles as the numpy path
            stamps = map(int, map(_HALF.__add__, map(_THOUSAND.__mul__, map(_SECONDS, piece))))
            blocks.append((run, key, len(piece),
                           *encode_arrays(map(_STEP, piece), values[start:start + BLOCK_POINTS], stamps)))
        steps = list(map(_STEP, mine))
        top = max(steps)
        at = len(steps) - 1 - steps[::-1].index(top)
        last = mine[at]
        numbers = [v for v in values if v == v]
        last_value = float(values[at])
        folded.append((run, key, None if last_value != last_value else last_value, top,
                       int(_HALF + _THOUSAND * last[4]),
                       float(min(numbers)) if numbers else None, float(max(numbers)) if numbers else None,
                       len(mine)))
    conn.executemany(INSERT_BLOCK, blocks)
    return folded


_INT64, _FLOAT64 = struct.Struct("<q"), struct.Struct("<d")


def _single_block(row: tuple) -> tuple:
    """The block of a series of one point: the bytes ``_write_small``'s arrays would give."""
    run, key, value, step, seconds = row
    value = _NAN if value is None else float(value)
    return (run, key, 1, _INT64.pack(step), _FLOAT64.pack(value),
            _INT64.pack(int(_HALF + _THOUSAND * seconds)))


def _single_fold(row: tuple) -> tuple:
    run, key, value, step, seconds = row
    value = None if value is None or value != value else float(value)
    return (run, key, value, step, int(_HALF + _THOUSAND * seconds), value, value, 1)


def _blobs(steps: np.ndarray, values: np.ndarray, stamps: np.ndarray) -> tuple[bytes, bytes, bytes]:
    return (steps.astype("<i8", copy=False).tobytes(), values.astype("<f8", copy=False).tobytes(),
            stamps.astype("<i8", copy=False).tobytes())


def _fold(steps: np.ndarray, values: np.ndarray, stamps: np.ndarray) -> tuple:
    """(last value, last step, last timestamp, min, max, count) of one series' new points: the
    last point is the latest logged at the highest step; NaN is ignored by min and max and is
    None as the last value (SQLite's NULL)."""
    import numpy as np

    top = int(steps.max())
    at_top = np.flatnonzero(steps == top)
    last = int(at_top[-1])
    last_value = float(values[last])
    numbers = values[~np.isnan(values)]
    low, high = (float(numbers.min()), float(numbers.max())) if len(numbers) else (None, None)
    return (None if last_value != last_value else last_value, top, int(stamps[last]), low, high,
            len(values))


# --- reading ----------------------------------------------------------------------------------


class Chunk:
    """Consecutive points of one series in logging order: ``start`` is the index of the first
    in the whole series; ``steps``, ``values`` and ``stamps`` are numpy arrays."""

    __slots__ = ("start", "steps", "values", "stamps")

    def __init__(self, start: int, steps: np.ndarray, values: np.ndarray, stamps: np.ndarray) -> None:
        self.start, self.steps, self.values, self.stamps = start, steps, values, stamps


def series_chunks(conn: sqlite3.Connection, pk: int, key: str, min_points: int = BLOCK_POINTS,
                  up_to: int | None = None) -> Iterator[Chunk]:
    """A series in logging order (its blocks up to id ``up_to``, all when None), in chunks of at
    least ``min_points`` (the last may be shorter): consecutive blocks are joined, so memory
    holds one chunk, never the series."""
    import numpy as np

    start = 0
    pending: list[tuple[bytes, bytes, bytes]] = []
    held = 0
    limit = (1 << 63) - 1 if up_to is None else up_to
    for _, count, steps, values, stamps in conn.execute(SERIES_BLOCKS_UP_TO, (pk, key, limit)):
        pending.append((steps, values, stamps))
        held += count
        if held >= min_points:
            yield _chunk(np, start, pending)
            start += held
            pending, held = [], 0
    if pending:
        yield _chunk(np, start, pending)


def _chunk(np: Any, start: int, blobs: list[tuple[bytes, bytes, bytes]]) -> Chunk:
    def join(i: int, dtype: str) -> np.ndarray:
        return np.frombuffer(b"".join(b[i] for b in blobs) if len(blobs) > 1 else blobs[0][i], dtype=dtype)

    return Chunk(start, join(0, "<i8"), join(1, "<f8"), join(2, "<i8"))


def series_arrays(conn: sqlite3.Connection, pk: int, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, values, timestamps) of a whole series in logging order, as numpy arrays."""
    import numpy as np

    rows = conn.execute(SERIES_BLOCKS, (pk, key)).fetchall()
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.int64)
    chunk = _chunk(np, 0, [(r[2], r[3], r[4]) for r in rows])
    return chunk.steps, chunk.values, chunk.stamps


def run_points(conn: sqlite3.Connection, pk: int, after: int = 0) -> Iterator[tuple[int, str, float, int, int]]:
    """``(position, key, value, step, timestamp)`` of run ``pk``'s points after ``after`` (a
    position), in (block id, index) order; ``position`` is the one that includes the point.
    NaN stays NaN."""
    block, sent = split_position(after)
    for block_id, key, count, steps, values, stamps in conn.execute(
        'SELECT id, key, count, steps, "values", timestamps FROM metric_blocks '
        "WHERE run = ? AND id >= ? ORDER BY id", (pk, block)):
        skip = sent if block_id == block else 0
        if skip >= count:
            continue
        base = block_id << POSITION_SHIFT
        yield from zip(range(base + skip + 1, base + count + 1), [key] * (count - skip),
                       decode_values(values)[skip:], decode_steps(steps)[skip:], decode_steps(stamps)[skip:])


def run_point_records(conn: sqlite3.Connection, pk: int) -> Iterator[tuple[str, float | None, int, int]]:
    """``(key, value or None for NaN, step, timestamp)`` of every point of run ``pk`` in
    logging order (a run moved to another store)."""
    for _, key, value, step, stamp in run_points(conn, pk):
        yield key, None if value != value else value, step, stamp


# --- converting the row-per-point table of stores before m005 --------------------------------


def blocks_from_history(conn: sqlite3.Connection, table: str = "metric_history",
                        marks: Iterable[tuple[int, int]] = ()) -> dict[tuple[int, int], int]:
    """Rewrite every row of ``table`` (``run, key, value, step, timestamp``, NaN as NULL, in
    rowid order) as blocks: one per (run, key), split above ``BLOCK_POINTS``.

    ``marks`` are ``(run, rowid)`` high-water marks of old pushes ("the run's rows up to this
    rowid are on the server"). A run's series are cut at its marks and written segment by
    segment, so the points at or below a mark sit in blocks below every block above it;
    the result maps each ``(run, rowid)`` to the position that names exactly those points.
    """
    cuts: dict[int, set[int]] = {}
    for run, mark in marks:
        if mark > 0:
            cuts.setdefault(run, set()).add(mark)
    conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_by_series ON {table}(run, key)")
    keys_of: dict[int, list[str]] = {}
    for run, key in conn.execute(f"SELECT DISTINCT run, key FROM {table} ORDER BY run, key"):
        keys_of.setdefault(run, []).append(key)
    positions: dict[tuple[int, int], int] = {}
    read = (f"SELECT value, step, timestamp FROM {table} "
            "WHERE run = ? AND key = ? AND rowid > ? AND rowid <= ? ORDER BY rowid")
    for run, keys in keys_of.items():
        bounds = [0, *sorted(cuts.get(run, ())), (1 << 63) - 1]
        reached = 0
        for low, high in zip(bounds, bounds[1:]):
            for key in keys:
                cursor = conn.execute(read, (run, key, low, high))
                while piece := cursor.fetchmany(BLOCK_POINTS):
                    values, steps, stamps = zip(*piece)
                    blobs = encode_arrays(steps, [float("nan") if v is None else v for v in values], stamps)
                    block_id = conn.execute(INSERT_BLOCK, (run, key, len(piece), *blobs)).lastrowid
                    reached = position(int(block_id or 0), len(piece))
            positions[(run, high)] = reached
    return positions
