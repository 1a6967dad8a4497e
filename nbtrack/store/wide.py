"""Runs as columns, for ``search_runs``' DataFrame and the compare view.

100,000 runs with 10 params and 5 metrics must become a DataFrame in under a
second, with every value exact. So nothing crosses into Python value by value:

- the selected runs go into a temp table in search order (``pos``), filled by one
  ``INSERT ... SELECT`` when a filter chose them;
- attributes (text and integers, exact in JSON) come back as one JSON array per column,
  built by SQLite and parsed by ``json.loads`` in C;
- params, tags and last metric values come from each run's precomputed ``run_columns``
  row (``store/run_columns.py``): SQLite concatenates the selected rows' texts into one
  string, split once in C, and their doubles into one hex string, read by one
  ``numpy.frombuffer`` (bit-exact: no text rendering of a double). Runs logged alike
  share a keyset, so a column is a slice of the split values; runs with different
  keysets are placed by array operations;
- runs whose row is stale (marked dirty, missing, or unencodable) are computed from the
  normalized tables (params, tags, metric_summaries), so a result is never out of date.

Every query walks the temp table as its outer loop (``CROSS JOIN``, or a ``LEFT JOIN``
from it), so values arrive in ``pos`` order without a sort.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store.database import open_store
    >>> store = open_store(resolve_location(tempfile.mkdtemp()))
    >>> wide_runs(store, ("id", "run_id")).attributes
    {'id': [], 'run_id': []}
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .database import Store, transaction
from .queries import RunQuery, check_selectable, search_sql
from .run_columns import SEPARATOR

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

_SELECTION = "temp.wide_selection"


@dataclass
class WideRuns:
    """Selected runs as columns, all in the same (search) order.

    ``attributes`` maps each requested ``runs`` column to its values; ``params`` and
    ``tags`` map each key to its values (None where a run lacks it); ``metrics`` maps
    each key to the last values as float64 (NaN where a run lacks it or logged NaN).
    """

    attributes: dict[str, list[Any]]
    params: dict[str, list[str | None]]
    tags: dict[str, list[str | None]]
    metrics: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.attributes.values()), []))


def wide_runs(store: Store, columns: Sequence[str], query: RunQuery | None = None, *,
              pks: Sequence[int] | None = None) -> WideRuns:
    """The runs ``query`` matches (or exactly ``pks``, in that order), as ``WideRuns``."""
    check_selectable(columns)
    if pks is not None and not pks:
        return WideRuns({name: [] for name in columns}, {}, {}, {})
    with _selection(store, pks, query or RunQuery()):
        attributes = _attribute_columns(store, columns)
        size = len(attributes[columns[0]]) if columns else 0
        params, tags, metrics = _keyed_columns(store, size)
    return WideRuns(attributes, params, tags, metrics)


@contextmanager
def _selection(store: Store, pks: Sequence[int] | None, query: RunQuery) -> Iterator[None]:
    conn = store.conn
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_SELECTION.split('.')[1]} "
                 "(pos INTEGER PRIMARY KEY, id INTEGER NOT NULL)")
    with transaction(conn):
        conn.execute(f"DELETE FROM {_SELECTION}")
        if pks is None:
            sql, args = search_sql("runs.id", query)
            conn.execute(f"INSERT INTO {_SELECTION} (id) {sql}", args)
        else:
            conn.executemany(f"INSERT INTO {_SELECTION} (id) VALUES (?)", ((pk,) for pk in pks))
    yield


def _attribute_columns(store: Store, columns: Sequence[str]) -> dict[str, list[Any]]:
    arrays = ", ".join(f"json_group_array(r.{name})" for name in columns)
    row = store.conn.execute(
        f"SELECT {arrays} FROM {_SELECTION} AS s CROSS JOIN runs AS r ON r.id = s.id"
    ).fetchone()
    return {name: json.loads(text) for name, text in zip(columns, row)}


# Runs per query of the precomputed rows: keeps each concatenated string far below
# SQLite's 1 GB limit on a value.
_CHUNK = 200_000

# A run's keyset, or NULL when its row cannot be used: dirty, missing, or unencodable.
_KEYSET = "CASE WHEN d.run IS NULL THEN c.keyset END"
_ROWS = (f"FROM {_SELECTION} AS s LEFT JOIN run_columns AS c ON c.run = s.id "
         "LEFT JOIN run_columns_dirty AS d ON d.run = s.id WHERE s.pos BETWEEN ? AND ?")


def _keyed_columns(store: Store, size: int) -> tuple[dict[str, list[Any]], dict[str, list[Any]],
                                                        dict[str, np.ndarray]]:
    """Params, tags and last metric values of the selected runs, from their ``run_columns``
    rows (store/run_columns.py): SQLite concatenates the rows in ``pos`` order into one text
    (split in C) and one hex string of doubles (one ``numpy.frombuffer``); runs logged alike
    share a keyset, so a column is one list slice. Stale runs (row dirty, missing or
    unencodable) are computed from the normalized tables."""
    import numpy as np

    if not size:
        return {}, {}, {}
    conn = store.conn
    lows, highs, stale_parts, text_parts, double_parts = [], [], [], [], []
    for first in range(1, size + 1, _CHUNK):
        low, high, stale, texts, doubles = conn.execute(
            "SELECT min(k), max(k), group_concat(CASE WHEN k IS NULL THEN pos END), "
            "group_concat(CASE WHEN k IS NOT NULL THEN t END, char(31)), "
            "group_concat(CASE WHEN k IS NOT NULL THEN hex(m) END, '') FROM ("
            f"SELECT s.pos AS pos, {_KEYSET} AS k, c.texts AS t, c.metrics AS m {_ROWS})",
            (first, first + _CHUNK - 1)).fetchone()
        lows += [low] if low is not None else []
        highs += [high] if high is not None else []
        stale_parts += [stale] if stale else []
        text_parts += [texts] if texts is not None else []
        double_parts += [doubles] if doubles else []
    flat = SEPARATOR.join(text_parts).split(SEPARATOR) if text_parts else []
    doubles = np.frombuffer(bytes.fromhex("".join(double_parts)), dtype="<f8")
    stale = np.array([int(p) - 1 for p in ",".join(stale_parts).split(",")] if stale_parts else [],
                     dtype=np.int64)  # 0-based positions
    if not lows or min(lows) == max(highs):  # at most one keyset among the usable rows
        keysets = None
        ids = sorted(set(lows))
    else:
        keysets = np.array([int(k) for k in ",".join(
            conn.execute(f"SELECT group_concat(ifnull({_KEYSET}, -1)) {_ROWS}",
                         (first, first + _CHUNK - 1)).fetchone()[0]
            for first in range(1, size + 1, _CHUNK)).split(",")], dtype=np.int64)
        ids = sorted({int(k) for k in np.unique(keysets) if k >= 0})
    keys = {ks: json.loads(text) for ks, text in conn.execute(
        "SELECT id, keys FROM run_keysets WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),))}
    gathered = None
    if len(keys) == len(ids):
        if keysets is None:
            gathered = _one_keyset(keys[ids[0]] if ids else None, stale, flat, doubles, size)
        else:
            gathered = _gather(keysets, ids, keys, flat, doubles, size)
    if gathered is None:
        # A row names a keyset that is gone, or its values do not add up (an edit by hand):
        # read every run from the normalized tables rather than misalign anything.
        gathered = {}, {}, {}
        stale = np.arange(size)
    params, tags, metrics = gathered
    if len(stale):
        _fill_stale(store, stale + 1, size, params, tags, metrics)
    return params, tags, metrics


def _one_keyset(keyset: dict[str, list[str]] | None, stale: np.ndarray, flat: list[str],
                doubles: np.ndarray, size: int):
    """Columns when every usable row has the same keyset: each is a slice of the values
    (the common case), spread over the usable positions when some runs are stale."""
    import numpy as np

    if keyset is None:
        return ({}, {}, {}) if not flat and not len(doubles) else None
    param_keys, tag_keys, metric_keys = keyset["params"], keyset["tags"], keyset["metrics"]
    width, depth = len(param_keys) + len(tag_keys), len(metric_keys)
    usable = size - len(stale)
    if len(flat) != usable * width or len(doubles) != usable * depth:
        return None
    texts = {("p", key): flat[i::width] for i, key in enumerate(param_keys)}
    texts.update((("t", key), flat[len(param_keys) + i::width]) for i, key in enumerate(tag_keys))
    numbers = {key: doubles[i::depth] for i, key in enumerate(metric_keys)}
    if len(stale):
        where = np.ones(size, dtype=bool)
        where[stale] = False
        for name, values in texts.items():
            column = np.full(size, None, dtype=object)
            column[where] = values
            texts[name] = column.tolist()
        for key, values in numbers.items():
            spread = np.full(size, np.nan, dtype=np.float64)
            spread[where] = values
            numbers[key] = spread
    params = {key: values for (kind, key), values in sorted(texts.items()) if kind == "p"}
    tags = {key: values for (kind, key), values in sorted(texts.items()) if kind == "t"}
    metrics = {key: np.array(values, dtype=np.float64) for key, values in sorted(numbers.items())}
    return params, tags, metrics


def _gather(keysets: np.ndarray, ids: list[int], keys: dict[int, dict[str, list[str]]],
            flat: list[str], doubles: np.ndarray, size: int):
    """Columns when the usable rows have several keysets (``keysets``: each run's, -1 when
    stale): each value's run and column come from array operations. None when the counts
    do not add up."""
    import numpy as np

    local = np.full(max(ids, default=0) + 1, -1, dtype=np.int64)
    local[ids] = np.arange(len(ids))
    run_local = np.where(keysets >= 0, local[np.maximum(keysets, 0)], -1)
    text_names = sorted({("p", k) for ks in ids for k in keys[ks]["params"]}
                        | {("t", k) for ks in ids for k in keys[ks]["tags"]})
    metric_names = sorted({k for ks in ids for k in keys[ks]["metrics"]})
    text_index = {name: i for i, name in enumerate(text_names)}
    metric_index = {name: i for i, name in enumerate(metric_names)}
    text_layouts = [[text_index["p", k] for k in keys[ks]["params"]]
                    + [text_index["t", k] for k in keys[ks]["tags"]] for ks in ids]
    metric_layouts = [[metric_index[k] for k in keys[ks]["metrics"]] for ks in ids]
    text_runs, text_columns = _placements(run_local, text_layouts)
    metric_runs, metric_columns = _placements(run_local, metric_layouts)
    if len(text_runs) != len(flat) or len(metric_runs) != len(doubles):
        return None
    values = np.empty(len(flat), dtype=object)
    values[:] = flat
    params: dict[str, list[Any]] = {}
    tags: dict[str, list[Any]] = {}
    for (kind, key), runs, picked in _by_column(text_columns, text_runs, text_names):
        column = np.full(size, None, dtype=object)
        column[runs] = values[picked]
        (params if kind == "p" else tags)[key] = column.tolist()
    metrics: dict[str, np.ndarray] = {}
    for key, runs, picked in _by_column(metric_columns, metric_runs, metric_names):
        column = np.full(size, np.nan, dtype=np.float64)
        column[runs] = doubles[picked]
        metrics[key] = column
    return params, tags, metrics


def _placements(run_local: np.ndarray, layouts: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """For every concatenated value, in order: the run (position - 1) it belongs to and its
    column index, given each run's keyset (-1: stale, no values) and each keyset's layout."""
    import numpy as np

    widths = np.array([len(layout) for layout in layouts] + [0], dtype=np.int64)  # [-1] -> 0
    counts = widths[run_local]
    runs = np.repeat(np.arange(len(run_local)), counts)
    starts = np.cumsum(counts) - counts
    offsets = np.arange(len(runs)) - np.repeat(starts, counts)
    table = np.zeros((len(layouts) + 1, max(widths.max(initial=0), 1)), dtype=np.int64)
    for i, layout in enumerate(layouts):
        table[i, :len(layout)] = layout
    return runs, table[np.repeat(run_local, counts), offsets]


def _by_column(columns: np.ndarray, runs: np.ndarray, names: list[Any]):
    """(name, runs, value indices) for each column, from per-value column indices."""
    import numpy as np

    order = np.argsort(columns, kind="stable")
    bounds = np.searchsorted(columns[order], np.arange(len(names) + 1))
    for i, name in enumerate(names):
        picked = order[bounds[i]:bounds[i + 1]]
        yield name, runs[picked], picked


def _fill_stale(store: Store, positions: np.ndarray, size: int, params: dict[str, list[Any]],
                tags: dict[str, list[Any]], metrics: dict[str, np.ndarray]) -> None:
    """Fill in the runs at ``positions`` from the normalized tables (their precomputed rows
    are dirty, missing or unencodable); keys only they have become new columns."""
    import numpy as np

    chosen = json.dumps(positions.tolist())
    pick = (f"FROM {_SELECTION} AS s CROSS JOIN {{table}} AS t ON t.run = s.id "
            "WHERE s.pos IN (SELECT value FROM json_each(?))")
    for table, target in (("params", params), ("tags", tags)):
        for pos, key, value in store.conn.execute("SELECT s.pos, t.key, t.value " + pick.format(table=table),
                                                  (chosen,)):
            column = target.get(key)
            if column is None:
                column = target[key] = [None] * size
            column[pos - 1] = value
    for pos, key, value in store.conn.execute(
            "SELECT s.pos, t.key, t.last_value " + pick.format(table="metric_summaries"), (chosen,)):
        array = metrics.get(key)
        if array is None:
            array = metrics[key] = np.full(size, np.nan, dtype=np.float64)
        array[pos - 1] = np.nan if value is None else value
    for columns in (params, tags, metrics):
        ordered = sorted(columns.items())
        columns.clear()
        columns.update(ordered)
