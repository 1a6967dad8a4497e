"""``nbtrack doctor``: check a store's integrity and copy what is readable into a new store.

The damaged file is only ever opened read-only (``mode=ro``) and never
changed: nbtrack does not modify a file it did not create, and it never
overwrites. :func:`check` runs SQLite's ``PRAGMA integrity_check`` under a
time limit and returns one finding per problem. :func:`recover` writes a
*new* store: an intact database is copied with SQLite's online backup; a
damaged one is read table by table, row by row in key order (the idea of
the ``sqlite3`` shell's ``.recover``, through the public API): forward from
the first row until a damaged page stops the read, then backward from the
last row to the same place, so the rows on either side of the damage are
kept. A metric block (``metric_blocks``) is copied whole or not at all, and one
whose arrays do not match its count is dropped (and reported); a store from before
``m005_metric_blocks`` has its recovered ``metric_history`` rows rewritten as
blocks, as the migration would have. ``run_columns`` is rebuilt from the recovered
params, tags and metric summaries.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store.database import open_store
    >>> location = resolve_location(tempfile.mkdtemp()); open_store(location).close()
    >>> check(location)
    []
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from ..paths import StoreLocation, resolve_location
from . import run_columns
from .files import ensure_regular_files

CHECK_TIME_LIMIT_S = 60.0
MAX_FINDINGS = 100  # integrity_check stops after this many errors
BATCH = 1000  # rows per read while recovering
# Derived tables: recomputed from the recovered rows rather than copied.
_REBUILT = ("run_columns", "run_keysets", "run_columns_dirty")


@dataclass(frozen=True)
class RecoveryReport:
    """What :func:`recover` copied: ``rows`` per table, and one line per loss or repair."""

    database: Path
    method: str  # "backup" (intact) or "row by row"
    rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def check(location: StoreLocation, time_limit: float = CHECK_TIME_LIMIT_S) -> list[str]:
    """Problems found in the store's database, one line each; ``[]`` when it is intact.

    Example:
        >>> check(location)  # doctest: +SKIP
        ['*** in database main ***', 'Page 7: btreeInitPage() returns error code 11']
    """
    conn = _open_readonly(location)
    try:
        deadline = time.monotonic() + time_limit
        conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        rows = conn.execute(f"PRAGMA integrity_check({MAX_FINDINGS})").fetchall()
    except sqlite3.DatabaseError as exc:
        return [_explain(exc, time_limit)]
    finally:
        conn.close()
    findings = [" ".join(str(row[0]).split()) for row in rows]
    return [] if findings == ["ok"] else findings


def recover(location: StoreLocation, target_dir: str | os.PathLike[str]) -> RecoveryReport:
    """Copy what is readable of ``location``'s store into a new store in ``target_dir``.

    ``target_dir`` must not hold a store yet (nothing is overwritten). Artifact
    blobs are not copied; the report says where they are.

    Example:
        >>> report = recover(location, tempfile.mkdtemp())  # doctest: +SKIP
        >>> report.method, report.rows["runs"]  # doctest: +SKIP
        ('backup', 12)
    """
    target = resolve_location(target_dir)
    if os.path.lexists(target.database):
        raise StoreError(f"{target.database} already exists; nbtrack never overwrites: "
                         "name a new directory for --recover")
    if Path(os.path.realpath(target.database)) == Path(os.path.realpath(location.database)):
        raise StoreError("--recover must name a different directory from the damaged store")
    source = _open_readonly(location)
    try:
        if not check(location):
            return _backup(source, location, target)
        return _row_by_row(source, location, target)
    finally:
        source.close()


def _open_readonly(location: StoreLocation) -> sqlite3.Connection:
    """Open the database read-only after checking its files are regular files (a FIFO would block)."""
    ensure_regular_files(location)
    return sqlite3.connect(location.database.as_uri() + "?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False)


def _explain(exc: sqlite3.DatabaseError, time_limit: float) -> str:
    message = " ".join(str(exc).split())
    if "interrupted" in message:
        return f"the integrity check ran past {time_limit:g} s and was stopped; the store is large or slow"
    if "not a database" in message:
        return "the file is not an SQLite database (its header is damaged or it is something else)"
    return f"SQLite cannot read the store: {message}"


def _backup(source: sqlite3.Connection, location: StoreLocation, target: StoreLocation) -> RecoveryReport:
    target.database.parent.mkdir(parents=True, exist_ok=True)
    destination = sqlite3.connect(target.database)
    try:
        source.backup(destination)
        rows = {name: destination.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name in _tables(destination)}
    finally:
        destination.close()
    return RecoveryReport(target.database, "backup", rows, [_blobs_note(location)])


def _row_by_row(source: sqlite3.Connection, location: StoreLocation, target: StoreLocation) -> RecoveryReport:
    from .database import open_store  # creates the new store with the current schema

    notes: list[str] = []
    counts: dict[str, int] = {}
    try:
        source_tables = set(_tables(source))
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read the list of tables of {location.database} ({exc}); "
                         "nothing is recoverable with SQLite") from None
    with open_store(target) as store:
        conn = store.conn
        conn.execute("BEGIN")
        for table in _tables(conn):
            if table.startswith(("_sqlite", "sqlite_")) or table in _REBUILT:
                continue  # migration bookkeeping is the new store's own; the rest is rebuilt below
            if table not in source_tables:
                if not (table == "metric_blocks" and "metric_history" in source_tables):
                    notes.append(f"{table}: missing from the damaged store")
                continue
            counts[table], note = _copy_table(source, conn, table)
            if note:
                notes.append(note)
        if "metric_blocks" in source_tables:
            notes.extend(_drop_torn_blocks(conn))
        elif "metric_history" in source_tables:
            counts["metric_blocks"], note = _blocks_from_old_history(source, conn)
            notes.append(note)
        run_columns.rebuild(conn)
        counts["run_columns"] = conn.execute("SELECT count(*) FROM run_columns").fetchone()[0]
        conn.execute("COMMIT")
    notes.append("run_columns: rebuilt from the recovered params, tags and metric summaries")
    notes.append(_blobs_note(location))
    return RecoveryReport(target.database, "row by row", counts, notes)


def _drop_torn_blocks(conn: sqlite3.Connection) -> list[str]:
    """Drop recovered blocks whose arrays do not hold ``count`` points each."""
    torn = conn.execute(
        'DELETE FROM metric_blocks WHERE length(steps) != 8 * count OR length("values") != 8 * count '
        "OR length(timestamps) != 8 * count").rowcount
    return [f"metric_blocks: {torn} block(s) were damaged and are dropped"] if torn > 0 else []


def _blocks_from_old_history(source: sqlite3.Connection, conn: sqlite3.Connection) -> tuple[int, str]:
    """A store from before m005: its readable metric_history rows become blocks, with its
    push marks (metric_rowid) turned into positions as the migration does."""
    from .metric_blocks import blocks_from_history

    conn.execute("CREATE TEMP TABLE metric_history (run INTEGER, key TEXT, value REAL, step INTEGER, "
                 "timestamp INTEGER)")
    copied, note = _copy_table(source, conn, "metric_history")
    try:
        pushed = source.execute("SELECT remote, run, metric_rowid FROM remote_runs WHERE metric_rowid > 0").fetchall()
    except sqlite3.DatabaseError:
        pushed = []
    positions = blocks_from_history(conn, "metric_history", [(run, mark) for _, run, mark in pushed])
    conn.executemany("UPDATE remote_runs SET metric_position = ? WHERE remote = ? AND run = ?",
                     [(positions.get((run, mark), 0), remote, run) for remote, run, mark in pushed])
    conn.execute("DROP TABLE temp.metric_history")
    blocks = conn.execute("SELECT count(*) FROM metric_blocks").fetchone()[0]
    return blocks, (note or "metric_history") + f": {copied} point(s) rewritten as {blocks} metric block(s)"


def _copy_table(source: sqlite3.Connection, target: sqlite3.Connection, table: str) -> tuple[int, str | None]:
    """Copy ``table``'s readable rows; return (rows copied, a note if some were unreadable)."""
    target_columns = [row[1] for row in target.execute(f'PRAGMA table_info("{table}")')]
    try:
        source_info = source.execute(f'PRAGMA table_xinfo("{table}")').fetchall()
    except sqlite3.DatabaseError as exc:
        return 0, f"{table}: unreadable ({exc})"
    columns = [c for c in target_columns if c in {row[1] for row in source_info}]
    key = [row[1] for row in sorted((r for r in source_info if r[5]), key=lambda r: r[5])]
    if not _without_rowid(source, table) or not key:
        key = ["rowid"]
    selected = ", ".join(f'"{c}"' if c != "rowid" else "rowid" for c in dict.fromkeys([*key, *columns]))
    insert_columns = ", ".join(f'"{c}"' for c in columns) + (", rowid" if key == ["rowid"] else "")
    marks = ", ".join("?" * (len(columns) + (1 if key == ["rowid"] else 0)))
    insert = f'INSERT OR REPLACE INTO "{table}" ({insert_columns}) VALUES ({marks})'
    names = list(dict.fromkeys([*key, *columns]))
    order_asc = ", ".join(f'"{k}"' if k != "rowid" else "rowid" for k in key)

    copied = lost = 0
    forward_end: tuple | None = None
    broke = False

    def write(row: tuple) -> None:
        record = dict(zip(names, row))
        target.execute(insert, [record[c] for c in columns] + ([record["rowid"]] if key == ["rowid"] else []))

    for descending in (False, True):
        last: tuple | None = None
        while True:
            sql, args = _page_query(table, selected, key, order_asc, last, descending, forward_end)
            try:
                rows = source.execute(sql, args).fetchall()
            except sqlite3.DatabaseError:
                # One row at a time from here: a row whose own content (say, a metric block's
                # overflow pages) is damaged is skipped, as long as the tree still gives its key.
                step = _OneByOne(source, table, selected, key, order_asc, last, descending, forward_end)
                progressed = False
                for row, ok in step:
                    progressed = True
                    if ok:
                        write(row)
                        copied += 1
                    else:
                        lost += 1
                    last = tuple(row[: len(key)])
                    if not descending:
                        forward_end = last
                broke = broke or step.broke
                if step.broke or not progressed:
                    break
                continue  # back to batches after the damaged stretch
            if not rows:
                break
            for row in rows:
                write(row)
                copied += 1
            last = tuple(rows[-1][: len(key)])
            if not descending:
                forward_end = last
        if not broke:
            break  # the forward pass read the whole table (skipping unreadable rows, if any)
    note = None
    if broke:
        note = f"{table}: some rows were on damaged pages and are lost; {copied} recovered"
    elif lost:
        note = f"{table}: {lost} row(s) had damaged content and are lost; {copied} recovered"
    return copied, note


class _OneByOne:
    """Up to ``BATCH`` rows after ``last`` one at a time: (row, True), or (key, False) for a row
    whose key is readable but whose content is not; stops early at the end or where the tree
    itself is damaged (``broke``)."""

    def __init__(self, source: sqlite3.Connection, table: str, selected: str, key: list[str], order: str,
                 last: tuple | None, descending: bool, stop: tuple | None) -> None:
        self.args = (source, table, selected, key, order, last, descending, stop)
        self.broke = False

    def __iter__(self) -> Iterator[tuple[tuple, bool]]:
        source, table, selected, key, order, last, descending, stop = self.args
        key_columns = order
        for _ in range(BATCH):
            sql, args = _page_query(table, key_columns, key, order, last, descending, stop, limit=1)
            try:
                found = source.execute(sql, args).fetchone()
            except sqlite3.DatabaseError:
                self.broke = True
                return
            if found is None:
                return
            sql, args = _page_query(table, selected, key, order, None, False, None, limit=1, at=tuple(found))
            try:
                row = source.execute(sql, args).fetchone()
            except sqlite3.DatabaseError:
                row = None
            if row is None:
                yield tuple(found), False
            else:
                yield row, True
            last = tuple(found)


def _page_query(table: str, selected: str, key: list[str], order: str, last: tuple | None,
                descending: bool, stop: tuple | None, *, limit: int = BATCH,
                at: tuple | None = None) -> tuple[str, list[object]]:
    """The next batch in key order after ``last``; going backward, only rows after ``stop``;
    with ``at``, the row with that key."""
    columns = "(" + order + ")"
    marks = "(" + ", ".join("?" * len(key)) + ")"
    where, args = [], []
    if at is not None:
        where.append(f"{columns} = {marks}")
        args.extend(at)
    if last is not None:
        where.append(f"{columns} {'<' if descending else '>'} {marks}")
        args.extend(last)
    if descending and stop is not None:
        where.append(f"{columns} > {marks}")
        args.extend(stop)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    direction = " DESC" if descending else ""
    ordering = ", ".join(f"{part}{direction}" for part in order.split(", "))
    return f'SELECT {selected} FROM "{table}"{clause} ORDER BY {ordering} LIMIT {limit}', args


def _without_rowid(conn: sqlite3.Connection, table: str) -> bool:
    try:
        conn.execute(f'SELECT rowid FROM "{table}" LIMIT 0')
        return False
    except sqlite3.OperationalError:
        return True


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def _blobs_note(location: StoreLocation) -> str:
    return (f"artifact files stay in {location.artifacts}; copy that folder beside the new "
            "database to keep them")


__all__ = ["RecoveryReport", "check", "recover"]
