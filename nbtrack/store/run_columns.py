"""Each run's params, tags and last metric values as one precomputed row, for ``wide.py``.

``search_runs`` turns 100,000 runs into a DataFrame; pivoting ``params``, ``tags`` and
``metric_summaries`` at read time costs seconds. So every run has one ``run_columns``
row, kept current by the writer (docs/schema.md describes the tables):

- ``keyset`` points at a ``run_keysets`` row, the JSON object
  ``{"params": [...], "tags": [...], "metrics": [...]}`` of the run's keys, each list
  sorted. Runs logged alike share one keyset.
- ``texts`` holds the param values then the tag values, in the keyset's order, joined
  by ``SEPARATOR`` (U+001F, the ASCII unit separator); NULL when the run has none.
- ``metrics`` holds the last metric values in the keyset's order, as little-endian
  doubles (8 bytes each, NaN where ``metric_summaries`` has NULL): bit-exact, no text
  rendering. NULL when the run has none.

Triggers (migration ``RUN_COLUMNS_MIGRATION``) add a run to ``run_columns_dirty``
whenever its params, tags or metric summaries change, whoever writes them (nbtrack,
an older tool, raw SQL). ``Store.write`` calls :func:`refresh` before each commit, so
nbtrack's own writes leave nothing dirty; a reader computes any run still dirty from the
normalized tables, so a result is never stale. A run whose values cannot be encoded (a
value holding ``SEPARATOR``, or not text) gets a NULL ``keyset``: readers always compute
it from the normalized tables.

Example:
    >>> encode_texts(["0.1", "adam"]), decode_doubles(encode_doubles([0.5, None]))
    ('0.1\\x1fadam', [0.5, nan])
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Sequence

from ..errors import warn_once

SEPARATOR = "\x1f"
_NAN = float("nan")


def encode_texts(values: Sequence[str]) -> str | None:
    """The ``texts`` column for these values (None when there are none)."""
    return SEPARATOR.join(values) if values else None


def encode_doubles(values: Sequence[float | None]) -> bytes | None:
    """The ``metrics`` column: little-endian doubles, NULL (None) as NaN."""
    if not values:
        return None
    return struct.pack(f"<{len(values)}d", *(_NAN if v is None else v for v in values))


def decode_doubles(blob: bytes | None) -> list[float]:
    return list(struct.unpack(f"<{len(blob) // 8}d", blob)) if blob else []


def keyset_text(params: Sequence[str], tags: Sequence[str], metrics: Sequence[str]) -> str:
    """The ``run_keysets.keys`` text: one canonical spelling per set of keys (UNIQUE)."""
    return json.dumps({"params": list(params), "tags": list(tags), "metrics": list(metrics)},
                      ensure_ascii=False, separators=(",", ":"))


def refresh(conn: sqlite3.Connection) -> None:
    """Bring the ``run_columns`` rows of every dirty run up to date, inside the caller's
    write transaction; nearly free when nothing is dirty (one lookup in an empty table).

    A failure that is not the store's (a bug here) is rolled back to a savepoint and
    warned about: the runs stay dirty, readers compute them from the normalized tables,
    and the write that triggered the refresh still commits.
    """
    if conn.execute("SELECT 1 FROM run_columns_dirty LIMIT 1").fetchone() is None:
        return
    conn.execute("SAVEPOINT run_columns_refresh")
    try:
        _refresh(conn)
    except sqlite3.OperationalError:  # locked, full, read-only, I/O: the store's failure
        conn.execute("ROLLBACK TO run_columns_refresh")
        conn.execute("RELEASE run_columns_refresh")
        raise
    except Exception as exc:
        conn.execute("ROLLBACK TO run_columns_refresh")
        conn.execute("RELEASE run_columns_refresh")
        warn_once("run_columns.refresh", f"nbtrack could not update run_columns ({type(exc).__name__}: "
                  f"{exc}); searches read the changed runs from the params, tags and metric tables")
    else:
        conn.execute("RELEASE run_columns_refresh")


class _Run:
    __slots__ = ("param_keys", "param_values", "tag_keys", "tag_values", "metric_keys", "metric_values")

    def __init__(self) -> None:
        self.param_keys: list[str] = []
        self.param_values: list[str] = []
        self.tag_keys: list[str] = []
        self.tag_values: list[str] = []
        self.metric_keys: list[str] = []
        self.metric_values: list[float | None] = []


def _refresh(conn: sqlite3.Connection) -> None:
    # Rows of runs that are gone (deleted by raw SQL before their params, say).
    conn.execute("DELETE FROM run_columns WHERE run IN (SELECT run FROM run_columns_dirty) "
                 "AND run NOT IN (SELECT id FROM runs)")
    runs = {pk: _Run() for (pk,) in conn.execute(
        "SELECT d.run FROM run_columns_dirty AS d CROSS JOIN runs AS r ON r.id = d.run")}
    # One pass per table over all dirty runs; the primary keys (run, key) give key order.
    for pk, key, value in conn.execute(
            "SELECT d.run, t.key, t.value FROM run_columns_dirty AS d CROSS JOIN params AS t "
            "ON t.run = d.run ORDER BY d.run, t.key"):
        run = runs.get(pk)
        if run is not None:
            run.param_keys.append(key)
            run.param_values.append(value)
    for pk, key, value in conn.execute(
            "SELECT d.run, t.key, t.value FROM run_columns_dirty AS d CROSS JOIN tags AS t "
            "ON t.run = d.run ORDER BY d.run, t.key"):
        run = runs.get(pk)
        if run is not None:
            run.tag_keys.append(key)
            run.tag_values.append(value)
    for pk, key, value in conn.execute(
            "SELECT d.run, t.key, t.last_value FROM run_columns_dirty AS d CROSS JOIN metric_summaries AS t "
            "ON t.run = d.run ORDER BY d.run, t.key"):
        run = runs.get(pk)
        if run is not None:
            run.metric_keys.append(key)
            run.metric_values.append(value)
    keysets: dict[str, int] = {}
    rows = []
    for pk, run in runs.items():
        texts = run.param_values + run.tag_values
        if not all(type(v) is str and SEPARATOR not in v for v in texts) or not all(
                v is None or type(v) is float for v in run.metric_values):
            rows.append((pk, None, None, None))  # readers compute this run from the tables
            continue
        keys = keyset_text(run.param_keys, run.tag_keys, run.metric_keys)
        keyset = keysets.get(keys)
        if keyset is None:
            keyset = keysets[keys] = _keyset_id(conn, keys)
        rows.append((pk, keyset, encode_texts(texts), encode_doubles(run.metric_values)))
    conn.executemany(
        "INSERT INTO run_columns (run, keyset, texts, metrics) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (run) DO UPDATE SET keyset = excluded.keyset, texts = excluded.texts, "
        "metrics = excluded.metrics", rows)
    conn.execute("DELETE FROM run_columns_dirty")


def _keyset_id(conn: sqlite3.Connection, keys: str) -> int:
    row = conn.execute("SELECT id FROM run_keysets WHERE keys = ?", (keys,)).fetchone()
    if row is not None:
        return int(row[0])
    return int(conn.execute("INSERT INTO run_keysets (keys) VALUES (?)", (keys,)).lastrowid or 0)


def rebuild(conn: sqlite3.Connection) -> None:
    """Recompute every run's row (the doctor's repair, and a migrated store's first fill),
    inside the caller's write transaction."""
    conn.execute("INSERT OR IGNORE INTO run_columns_dirty (run) SELECT id FROM runs")
    _refresh(conn)
