"""Runs as columns, for ``search_runs``' DataFrame and the compare view.

100,000 runs with 10 params and 5 metrics must become a DataFrame in under a
second, with every value exact. So nothing crosses into Python row by row:

- the selected runs go into a temp table in search order (``pos``), filled by one
  ``INSERT ... SELECT`` when a filter chose them;
- attributes, params and tags (text and integers, exact in JSON) come back as one
  JSON array per column, built by SQLite and parsed by ``json.loads`` in C;
- metric values come back as doubles straight from SQLite, one column per key (a JSON
  rendering would round them to 15 digits), gathered into one numpy array per key.

Every per-column query walks the temp table as its outer loop (``CROSS JOIN``), so
values arrive in ``pos`` order without a sort.

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

from ..entities import ViewType
from ..errors import InvalidInput
from .database import Store, transaction
from .queries import RunQuery, check_selectable, search_sql

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
        params = _side_columns(store, "params", size)
        tags = _side_columns(store, "tags", size)
        metrics = _metric_columns(store, size)
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


_TEXT_SIDES = ("params", "tags")


def _side_columns(store: Store, table: str, size: int) -> dict[str, list[Any]]:
    """One pass over ``table`` (params or tags: text, exact in JSON) for the selected runs:
    SQLite writes one JSON object per run that has any key and Python parses them all in one
    ``json.loads``; then one list per key, aligned to ``pos`` (None where a run lacks it)."""
    if table not in _TEXT_SIDES:
        raise InvalidInput(f"cannot pivot {table!r} as text")
    positions_text, objects_text = store.conn.execute(
        "SELECT json_group_array(pos), group_concat(object, ',') FROM ("
        f"SELECT s.pos AS pos, '{{' || group_concat(json_quote(t.key) || ':' || json_quote(t.value), ',') "
        f"|| '}}' AS object FROM {_SELECTION} AS s CROSS JOIN {table} AS t ON t.run = s.id GROUP BY s.pos)"
    ).fetchone()
    if not objects_text:
        return {}
    objects: list[dict[str, Any]] = json.loads("[" + objects_text + "]")
    positions: list[int] = json.loads(positions_text)
    keys = sorted(set().union(*objects))
    if len(positions) == size:  # every run has some key: positions are 1..size in order
        return {key: [obj.get(key) for obj in objects] for key in keys}
    columns = {}
    for key in keys:
        column: list[Any] = [None] * size
        for position, obj in zip(positions, objects):
            column[position - 1] = obj.get(key)
        columns[key] = column
    return columns


def _metric_columns(store: Store, size: int) -> dict[str, np.ndarray]:
    """Last metric values per key as float64 (NaN where a run lacks the key or logged NaN).

    Doubles cross as doubles: one pass over the selection in ``pos`` order with one output
    column per key (the keys are bound as parameters, never spliced into the SQL); cheaper
    than printing and parsing 18-digit text.
    """
    import numpy as np

    keys = [row[0] for row in store.conn.execute(
        f"SELECT DISTINCT t.key FROM {_SELECTION} AS s CROSS JOIN metric_summaries AS t "
        "ON t.run = s.id ORDER BY 1")]
    if not keys:
        return {}
    picks = ", ".join(f"max(CASE WHEN t.key = ?{i + 1} THEN t.last_value END)" for i in range(len(keys)))
    rows = store.conn.execute(
        f"SELECT {picks} FROM {_SELECTION} AS s LEFT JOIN metric_summaries AS t ON t.run = s.id "
        "GROUP BY s.pos ORDER BY s.pos", keys).fetchall()
    values = np.array(rows, dtype="float64").reshape(len(rows), len(keys))  # None -> NaN
    return {key: np.ascontiguousarray(values[:, i]) for i, key in enumerate(keys)}
