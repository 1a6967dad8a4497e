"""Read-only SQL for users (``nbtrack sql``): an authorizer, a row cap and a time limit.

The connection is opened ``mode=ro`` *and* guarded by an authorizer that allows
only reads, so neither a write statement nor ``ATTACH``/``PRAGMA`` tricks get
through; a progress handler aborts queries that run past the time limit.

Example:
    >>> from nbtrack.paths import resolve_location
    >>> import tempfile
    >>> from nbtrack.store.database import open_store
    >>> location = resolve_location(tempfile.mkdtemp()); open_store(location).close()
    >>> run_readonly_sql(location, "SELECT count(*) FROM runs").rows
    [(0,)]
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..errors import ReadOnlyQueryError
from ..paths import StoreLocation
from .database import open_store

DEFAULT_ROW_CAP = 10_000
DEFAULT_TIME_LIMIT = 5.0

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_SAFE_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "foreign_key_list"}


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows existed than the cap


def _authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in _SAFE_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def run_readonly_sql(
    location: StoreLocation,
    sql: str,
    params: tuple | dict = (),
    *,
    row_cap: int = DEFAULT_ROW_CAP,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> QueryResult:
    """Run one read-only statement; refuse writes; stop at ``row_cap`` rows or ``time_limit`` s."""
    store = open_store(location, readonly=True)
    conn = store.conn
    conn.set_authorizer(_authorize)
    store.set_time_limit(time_limit)
    try:
        cursor = conn.execute(sql, params)
        rows = cursor.fetchmany(row_cap + 1)
        columns = [d[0] for d in cursor.description or []]
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "not authorized" in message or "readonly" in message:
            raise ReadOnlyQueryError(f"nbtrack sql only reads; this statement would write or attach ({message})") from None
        if "interrupted" in message:
            raise ReadOnlyQueryError(f"query ran past the {time_limit:g} s limit; narrow it (add WHERE or LIMIT)") from None
        raise ReadOnlyQueryError(f"SQL error: {message}") from None
    except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
        raise ReadOnlyQueryError(f"SQL error: {exc}; run one statement at a time") from None
    finally:
        store.close()
    return QueryResult(columns, rows[:row_cap], len(rows) > row_cap)
