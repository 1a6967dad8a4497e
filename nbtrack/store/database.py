"""Opening a store: the SQLite file, its pragmas, and its schema version.

Every connection runs in WAL mode with a busy timeout, so a kernel writing
and a server or CLI reading never block each other, and several processes
may write one store (each write is a short ``BEGIN IMMEDIATE`` transaction,
retried when another writer holds the lock).

Example:
    >>> from nbtrack.paths import resolve_location
    >>> import tempfile
    >>> store = open_store(resolve_location(tempfile.mkdtemp()))
    >>> store.close()
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from ..errors import StoreError
from ..paths import StoreLocation
from .schema import MIGRATION_NAMES, MIGRATION_SET, build_migrations

BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")


class Store:
    """An open store: one SQLite connection plus the artifact folder.

    A ``Store`` is used from one thread at a time; the fluent API's background
    flusher owns its own ``Store``. Readers pass ``readonly=True``.
    """

    def __init__(self, location: StoreLocation, conn: sqlite3.Connection, readonly: bool) -> None:
        self.location = location
        self.conn = conn
        self.readonly = readonly
        self._lock = threading.RLock()

    @property
    def blobs_dir(self) -> Path:
        return self.location.artifacts / "blobs"

    def close(self) -> None:
        self.conn.close()

    def set_time_limit(self, seconds: float) -> None:
        """Interrupt any statement still running ``seconds`` from now (``sqlite3.OperationalError:
        interrupted``). SQLite calls the handler every 10,000 VM steps; true aborts."""
        deadline = time.monotonic() + seconds
        self.conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` takes the write lock up front, so no
        deadlock-prone upgrade from a read lock); rolled back if the block raises."""
        if self.readonly:
            raise StoreError(f"{self.location.database} was opened read-only")
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def write_retrying(self, work: Callable[[sqlite3.Connection], T], attempts: int = 8) -> T:
        """Run ``work`` in a write transaction, retrying while other writers hold the lock.

        The busy timeout already waits; this covers the rare ``database is locked``
        that SQLite returns without waiting (a WAL checkpoint or a lock upgrade race).
        """
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    return work(conn)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if attempt == attempts - 1:
                    raise StoreError(
                        f"{self.location.database} stayed locked by another writer; try again"
                    ) from exc
                time.sleep(0.01 * (2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")


def open_store(location: StoreLocation, *, readonly: bool = False) -> Store:
    """Open (creating or migrating when writable) the store at ``location``.

    A read-only open of a store that does not exist yet raises ``StoreError``;
    a file that is not SQLite, or that a newer nbtrack wrote, is refused and
    left untouched.
    """
    database = location.database
    if database.is_dir():
        raise StoreError(f"{database} is a directory, not an nbtrack store")
    if readonly and not database.exists():
        raise StoreError(f"no nbtrack store at {database}; log a run first or check the path")
    if not readonly:
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
            location.artifacts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store at {database.parent}: {exc.strerror}") from exc
    conn: sqlite3.Connection | None = None
    try:
        # as_uri() percent-encodes, so a folder named "a?b#c%" still opens read-only.
        conn = _connect(database.as_uri() + "?mode=ro", uri=True) if readonly else _connect(str(database))
        if readonly:
            _check_schema(conn, database, allow_pending=False)
        else:
            conn.execute("PRAGMA journal_mode=WAL")
            if _check_schema(conn, database, allow_pending=True):
                _migrate(conn, database)
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        # SQLite refuses a foreign file before writing anything to it, so it stays as it was.
        # (We never open() the file ourselves: closing any descriptor on it would drop the
        # POSIX locks SQLite holds for this process's other connections, and another
        # process could then checkpoint and delete the WAL under them.)
        kind = "not an SQLite file (corrupt or something else)" if "not a database" in str(exc) \
            else f"not a usable nbtrack store ({exc})"
        raise StoreError(
            f"{database} is {kind}; nbtrack will not overwrite it: "
            "move it aside or point NBTRACK_HOME elsewhere"
        ) from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return Store(location, conn, readonly=readonly)


def _connect(target: str, uri: bool = False) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves; check_same_thread=False
    # because the flusher thread owns a Store created on the caller's thread.
    conn = sqlite3.connect(
        target, uri=uri, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
    # MLflow's LIKE is case-sensitive (ILIKE is not); SQLite's default LIKE is not.
    conn.execute("PRAGMA case_sensitive_like=ON")
    # Run selections for search live in a temp table: keep it off disk.
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def _check_schema(conn: sqlite3.Connection, database: Path, *, allow_pending: bool) -> bool:
    """Return True when migrations are pending; refuse a store from a newer nbtrack."""
    try:
        applied = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", (MIGRATION_SET,)
            )
        }
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        applied = set()
    unknown = applied - set(MIGRATION_NAMES)
    if unknown:
        raise StoreError(
            f"{database} was written by a newer nbtrack (schema {sorted(unknown)[-1]}); "
            "upgrade nbtrack to read it"
        )
    pending = len(applied) < len(MIGRATION_NAMES)
    if pending and not allow_pending:
        raise StoreError(f"{database} uses an older schema; open it once with write access to migrate")
    return pending


def _migrate(conn: sqlite3.Connection, database: Path) -> None:
    """Apply pending migrations under a file lock, so processes opening a new store at
    once do not race to create the same tables."""
    from sqlite_utils import Database

    with _file_lock(database.with_name(database.name + ".migrate.lock")):
        if _check_schema(conn, database, allow_pending=True):
            build_migrations().apply(Database(conn))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: migrations still run inside a transaction each
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def process_identity() -> tuple[str, int]:
    """(host, pid) recorded on each open run, for crash detection."""
    import socket

    return socket.gethostname(), os.getpid()
