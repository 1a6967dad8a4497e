"""Read-only SQL for users (``nbtrack sql``): an authorizer, a row cap and a time limit.

The connection is opened ``mode=ro`` *and* guarded by an authorizer that allows
only reads, so neither a write statement nor ``ATTACH``/``PRAGMA`` tricks get
through; a progress handler aborts queries that run past the time limit.

Functions are an allow-list (:data:`ALLOWED_FUNCTIONS`): SQLite's ordinary
scalar, aggregate, window, date, math and JSON functions. Anything else is
refused, in particular ``load_extension`` and ``fts3_tokenizer`` (which reads
and overwrites native pointers when SQLite is built with it), and any
function a later SQLite adds until it is reviewed and listed here. Strings
and blobs a query builds are capped at :data:`MAX_VALUE_BYTES`.

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
MAX_ROW_CAP = 1_000_000
MAX_TIME_LIMIT = 300.0
MAX_VALUE_BYTES = 10_000_000  # randomblob(1e9) would otherwise allocate a gigabyte

ALLOWED_FUNCTIONS = frozenset(
    # core scalar
    "abs char coalesce concat concat_ws format glob hex ifnull iif if instr length like likelihood "
    "likely lower ltrim max min nullif octet_length printf quote random randomblob replace round "
    "rtrim sign soundex substr substring trim typeof unhex unicode unistr unistr_quote unlikely "
    "upper zeroblob sqlite_version "
    # aggregate
    "avg count group_concat string_agg sum total median percentile percentile_cont percentile_disc "
    # window
    "row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value "
    # date and time
    "date time datetime julianday unixepoch strftime timediff current_date current_time current_timestamp "
    # math
    "acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10 log2 "
    "mod pi pow power radians sin sinh sqrt tan tanh trunc "
    # json (the table-valued json_each / json_tree stay refused: their set-up asks to write the schema)
    "json json_array json_array_length json_error_position json_extract json_insert json_object "
    "json_patch json_pretty json_quote json_remove json_replace json_set json_type json_valid "
    "json_group_array json_group_object jsonb jsonb_array jsonb_extract jsonb_insert jsonb_object "
    "jsonb_patch jsonb_remove jsonb_replace jsonb_set jsonb_group_array jsonb_group_object".split()
)

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}
_SAFE_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "foreign_key_list"}


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows existed than the cap


def _authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:  # arg2 is the function's name, as written
        if (arg2 or "").lower() in ALLOWED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
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
    if isinstance(row_cap, bool) or not isinstance(row_cap, int) or not 1 <= row_cap <= MAX_ROW_CAP:
        raise ReadOnlyQueryError(f"the row cap must be a whole number from 1 to {MAX_ROW_CAP:,}; got {row_cap!r}")
    if not isinstance(time_limit, (int, float)) or not 0 < time_limit <= MAX_TIME_LIMIT:  # NaN fails too
        raise ReadOnlyQueryError(
            f"the time limit must be a number of seconds above 0 and at most {MAX_TIME_LIMIT:g}; got {time_limit!r}"
        )
    store = open_store(location, readonly=True)
    conn = store.conn
    conn.set_authorizer(_authorize)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    store.set_time_limit(time_limit)
    try:
        cursor = conn.execute(sql, params)
        rows = cursor.fetchmany(row_cap + 1)
        columns = [d[0] for d in cursor.description or []]
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "not authorized" in message or "readonly" in message:
            raise ReadOnlyQueryError(
                f"nbtrack sql only reads, with SQLite's ordinary functions; this statement would write, "
                f"attach, or call a function that is not allowed ({message})"
            ) from None
        if "interrupted" in message:
            raise ReadOnlyQueryError(f"query ran past the {time_limit:g} s limit; narrow it (add WHERE or LIMIT)") from None
        raise ReadOnlyQueryError(f"SQL error: {message}") from None
    except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
        raise ReadOnlyQueryError(f"SQL error: {exc}; run one statement at a time") from None
    finally:
        store.close()
    return QueryResult(columns, rows[:row_cap], len(rows) > row_cap)
