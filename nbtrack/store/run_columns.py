"""Each run's params, tags and last metric values as one precomputed row, for ``wide.py``.

``search_runs`` turns 100,000 runs into a DataFrame; pivoting ``params``, ``tags`` and
``metric_summaries`` at read time costs seconds. So every run has one ``run_columns``
row, kept current by the writer (docs/schema.md describes the tables):

- ``keyset`` points at a ``run_keysets`` row, the JSON object
  ``{"params": [...], "tags": [...], "metrics": [...]}`` of the run's keys, each list
  in key order. Runs logged alike share one keyset.
- ``texts`` holds the param values then the tag values, in the keyset's order, joined
  by ``SEPARATOR`` (U+001F, the ASCII unit separator); NULL when the run has none.
- ``metrics`` holds the last metric values in the keyset's order, as little-endian
  doubles (8 bytes each, NaN where ``metric_summaries`` has NULL): bit-exact, no text
  rendering. NULL when the run has none.

A run is added to ``run_columns_dirty`` when it is created and whenever its params,
tags or metric summaries are updated or deleted, by triggers (migration
``RUN_COLUMNS_MIGRATION``), whoever writes; nbtrack's write handlers add the runs they
insert params, tags or metric summaries into (:func:`mark`: once per command, where a
row trigger fired once per inserted row and cost about a tenth of a short run's write).
An insert into those tables by another program is therefore seen only when that run
next changes through nbtrack or ``nbtrack doctor --recover`` rebuilds the rows.
``Store.write`` calls :func:`refresh` before a commit (every ``CHECK_EVERY`` transactions, and after a bulk one), which recomputes the dirty runs'
rows in one batch once ``REFRESH_BATCH`` of them are dirty and not RUNNING (a run being
logged would be dirty again at its next flush): a few tens of microseconds per run,
once, instead of a refresh per transaction. A reader computes any run still dirty from
the normalized tables, so a result is never stale. A
run whose values cannot be encoded (a value holding ``SEPARATOR``, or a last value that
is not a number) gets a NULL ``keyset``: readers always compute it from the tables.

Example:
    >>> encode_texts(["0.1", "adam"]), decode_doubles(encode_doubles([0.5, None]))
    ('0.1\\x1fadam', [0.5, nan])
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Iterable, Sequence

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
    if None in values:
        values = [_NAN if v is None else v for v in values]
    return struct.pack(f"<{len(values)}d", *values)


def decode_doubles(blob: bytes | None) -> list[float]:
    return list(struct.unpack(f"<{len(blob) // 8}d", blob)) if blob else []


def mark(conn: sqlite3.Connection, runs: Iterable[int]) -> None:
    """Mark ``runs`` dirty, inside the caller's write transaction: a handler calls this after
    inserting params, tags or metric summaries (updates and deletes are marked by trigger).

    Example:
        >>> conn = sqlite3.connect(":memory:")
        >>> _ = conn.execute("CREATE TABLE run_columns_dirty (run INTEGER PRIMARY KEY)")
        >>> mark(conn, [3, 3, 1]); conn.execute("SELECT run FROM run_columns_dirty").fetchall()
        [(1,), (3,)]
    """
    conn.executemany("INSERT OR IGNORE INTO run_columns_dirty (run) VALUES (?)",
                     [(run,) for run in sorted(set(runs))])


# Dirty runs are refreshed together once there are this many. Refreshing after every
# transaction cost a quarter of the time of logging 500 short runs (two transactions per
# run); a reader computes up to this many dirty runs from the tables in about a millisecond.
REFRESH_BATCH = 100
# Store.write counts the dirty runs after every this many transactions, or after one that
# changed at least BULK_CHANGES rows (an import): the count itself was a tenth of the cost.
CHECK_EVERY = 16
BULK_CHANGES = 256


# Which dirty runs a batch refresh takes: not the RUNNING ones, which are still being
# logged (each would be refreshed again at its next flush; that doubled the work).
_SETTLED = "NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = d.run AND runs.status = 'RUNNING')"


def refresh(conn: sqlite3.Connection, at_least: int | None = None) -> None:
    """Bring the ``run_columns`` rows of the dirty runs that are not RUNNING up to date,
    inside the caller's write transaction, once there are at least ``at_least`` of them
    (default ``REFRESH_BATCH``); otherwise the cost is one count of at most that many rows.
    ``at_least=0`` refreshes every dirty run, RUNNING or not (after a migration).

    A failure that is not the store's (a bug here) is rolled back to a savepoint and
    warned about: the runs stay dirty, readers compute them from the normalized tables,
    and the write that triggered the refresh still commits.
    """
    at_least = REFRESH_BATCH if at_least is None else at_least
    settled = at_least > 0
    if settled and conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM run_columns_dirty AS d WHERE {_SETTLED} LIMIT ?)",
            (at_least,)).fetchone()[0] < at_least:
        return
    conn.execute("SAVEPOINT run_columns_refresh")
    try:
        _refresh(conn, settled)
    except Exception as exc:
        conn.execute("ROLLBACK TO run_columns_refresh")
        conn.execute("RELEASE run_columns_refresh")
        if isinstance(exc, sqlite3.OperationalError):  # locked, full, read-only, I/O: the store's
            raise
        warn_once("run_columns.refresh", f"nbtrack could not update run_columns ({type(exc).__name__}: "
                  f"{exc}); searches read the changed runs from the params, tags and metric tables")
    else:
        conn.execute("RELEASE run_columns_refresh")


# Dirty runs recomputed per pass, so a migrated store of millions of runs is refreshed in
# bounded memory.
_PASS = 20_000


def _texts(conn: sqlite3.Connection, table: str, where: str, low: int, high: int
           ) -> dict[int, tuple[str, str, bool]]:
    """Per chosen dirty run in [low, high] with rows in ``table`` (params or tags): its
    keys as a JSON array, its values joined by ``SEPARATOR``, and True if they cannot be
    split again (a value holding the separator, or a blob written by hand). SQLite walks
    each run's rows in key order (the primary key), so keys and values line up; one row
    per run crosses into Python."""
    return {run: (keys, values, bool(blobs) or values.count(SEPARATOR) != count - 1)
            for run, keys, values, count, blobs in conn.execute(
                "SELECT d.run, json_group_array(t.key), "
                "group_concat(CASE WHEN typeof(t.value) = 'blob' THEN '' ELSE t.value END, char(31)), "
                "count(*), max(typeof(t.value) = 'blob') "
                f"FROM run_columns_dirty AS d CROSS JOIN {table} AS t ON t.run = d.run "
                f"WHERE {where} GROUP BY d.run", (low, high))}


def _refresh(conn: sqlite3.Connection, settled: bool = False) -> None:
    """Recompute the rows of the dirty runs (only those not RUNNING when ``settled``)."""
    # Rows of runs that are gone (deleted by raw SQL before their params, say).
    conn.execute("DELETE FROM run_columns WHERE run IN (SELECT run FROM run_columns_dirty) "
                 "AND run NOT IN (SELECT id FROM runs)")
    where = "d.run BETWEEN ? AND ?" + (f" AND {_SETTLED}" if settled else "")
    dirty = [pk for (pk,) in conn.execute(
        f"SELECT run FROM run_columns_dirty AS d WHERE {where} ORDER BY run", (-(2**63), 2**63 - 1))]
    keysets: dict[str, int] = {}
    for start in range(0, len(dirty), _PASS):
        low, high = dirty[start], dirty[min(start + _PASS, len(dirty)) - 1]
        _refresh_range(conn, where, low, high, keysets)
        conn.execute(f"DELETE FROM run_columns_dirty AS d WHERE {where}", (low, high))


def _refresh_range(conn: sqlite3.Connection, where: str, low: int, high: int,
                   keysets: dict[str, int]) -> None:
    runs = [pk for (pk,) in conn.execute(
        f"SELECT d.run FROM run_columns_dirty AS d CROSS JOIN runs AS r ON r.id = d.run WHERE {where}",
        (low, high))]
    params = _texts(conn, "params", where, low, high)
    tags = _texts(conn, "tags", where, low, high)
    metrics: dict[int, tuple[list[str], list[float | None]]] = {}
    for pk, key, value in conn.execute(
            "SELECT d.run, t.key, t.last_value FROM run_columns_dirty AS d "
            f"CROSS JOIN metric_summaries AS t ON t.run = d.run WHERE {where}", (low, high)):
        entry = metrics.get(pk)
        if entry is None:
            entry = metrics[pk] = ([], [])
        entry[0].append(key)
        entry[1].append(value)
    previous = [keyset for (keyset,) in conn.execute(
        "SELECT DISTINCT c.keyset FROM run_columns_dirty AS d CROSS JOIN run_columns AS c "
        f"ON c.run = d.run WHERE {where} AND c.keyset IS NOT NULL", (low, high))]
    metric_json: dict[tuple[str, ...], str] = {(): "[]"}
    rows = []
    none: tuple[str, str | None, bool] = ("[]", None, False)
    for pk in runs:
        param_keys, param_values, odd_param = params.get(pk, none)
        tag_keys, tag_values, odd_tag = tags.get(pk, none)
        metric_keys, metric_values = metrics.get(pk, ((), ()))
        try:
            doubles = encode_doubles(metric_values)
        except (struct.error, TypeError):  # a text or blob in last_value, written by hand
            odd_param = True
        if odd_param or odd_tag:
            rows.append((pk, None, None, None))  # readers compute this run from the tables
            continue
        names = tuple(metric_keys)
        metric_text = metric_json.get(names)
        if metric_text is None:
            metric_text = metric_json[names] = json.dumps(metric_keys, ensure_ascii=False,
                                                          separators=(",", ":"))
        keys = f'{{"params":{param_keys},"tags":{tag_keys},"metrics":{metric_text}}}'
        keyset = keysets.get(keys)
        if keyset is None:
            keyset = keysets[keys] = _keyset_id(conn, keys)
        if param_values is None or tag_values is None:
            texts = tag_values if param_values is None else param_values
        else:
            texts = param_values + SEPARATOR + tag_values
        rows.append((pk, keyset, texts, doubles))
    conn.executemany(
        "INSERT INTO run_columns (run, keyset, texts, metrics) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (run) DO UPDATE SET keyset = excluded.keyset, texts = excluded.texts, "
        "metrics = excluded.metrics", rows)
    # Keysets these runs left and no run uses any more. Only now that every row of the batch
    # is written: a keyset one run leaves may be the one another run of the batch takes.
    if previous:
        conn.execute("DELETE FROM run_keysets WHERE id IN (SELECT value FROM json_each(?)) AND NOT "
                     "EXISTS (SELECT 1 FROM run_columns WHERE keyset = run_keysets.id)",
                     (json.dumps(previous),))


def _keyset_id(conn: sqlite3.Connection, keys: str) -> int:
    row = conn.execute("SELECT id FROM run_keysets WHERE keys = ?", (keys,)).fetchone()
    if row is not None:
        return int(row[0])
    return int(conn.execute("INSERT INTO run_keysets (keys) VALUES (?)", (keys,)).lastrowid or 0)


def rebuild(conn: sqlite3.Connection) -> None:
    """Recompute every run's row (the doctor's repair), inside the caller's write transaction."""
    conn.execute("INSERT OR IGNORE INTO run_columns_dirty (run) SELECT id FROM runs")
    _refresh(conn)
