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

from ..errors import (ForeignStore, NoStore, StoreCorrupt, StoreError, StoreFull, StoreLocked,
                      StoreReadOnly)
from ..paths import StoreLocation
from . import run_columns
from .schema import MIGRATION_NAMES, MIGRATION_SET, build_migrations

BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[sqlite3.Connection]:
    """``begin`` … COMMIT, or ROLLBACK if the block raises.

    Plain ``BEGIN`` suits a connection's private temp tables (read-only stores allow
    those too); writers to the store use ``BEGIN IMMEDIATE`` through ``Store.write``.
    """
    conn.execute(begin)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # SQLite has already rolled back after some errors ("database is locked" inside a
        # statement, a full disk): a second ROLLBACK would raise "no transaction is active"
        # and hide the error that matters, which is retryable.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


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
        self._unchecked = 0  # write transactions since run_columns were last checked

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
        deadlock-prone upgrade from a read lock); rolled back if the block raises. Before
        it commits, ``run_columns.refresh`` brings changed runs' search rows up to date (in
        batches: see ``REFRESH_BATCH``)."""
        if self.readonly:
            raise StoreError(f"{self.location.database} was opened read-only")
        with self._lock, transaction(self.conn, "BEGIN IMMEDIATE") as conn:
            changes = conn.total_changes
            yield conn
            # Every write of nbtrack's passes here: once enough runs' params, tags or metric
            # summaries changed, their search rows are recomputed in the same transaction.
            self._unchecked += 1
            if (self._unchecked >= run_columns.CHECK_EVERY
                    or conn.total_changes - changes >= run_columns.BULK_CHANGES):
                self._unchecked = 0
                run_columns.refresh(conn)

    def write_retrying(self, work: Callable[[sqlite3.Connection], T], attempts: int = 8) -> T:
        """Run ``work`` in a write transaction, retrying while other writers hold the lock.

        The busy timeout already waits; this covers the ``database is locked`` that
        SQLite returns without waiting (a WAL checkpoint or a lock upgrade race). Other
        SQLite failures become the ``StoreError`` that names them (read-only, full, corrupt).
        """
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    return work(conn)
            except sqlite3.OperationalError as exc:
                if not is_locked(exc):
                    raise explain(exc, self.location.database) from exc
                if attempt == attempts - 1:
                    raise locked_error(self.location.database) from exc
                time.sleep(0.01 * (2**attempt) * (0.5 + random.random()))
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError)):
                    raise
                raise explain(exc, self.location.database) from exc
        raise AssertionError("unreachable")

    def execute(self, command: object) -> object:
        """Apply one write command (``store.commands``) now, in its own transaction; returns
        what its handler returns (a new run, an experiment id)."""
        from .commands import apply

        return self.write_retrying(lambda conn: apply(conn, command))  # type: ignore[arg-type]


def open_store(location: StoreLocation, *, readonly: bool = False) -> Store:
    """Open (creating or migrating when writable) the store at ``location``.

    A read-only open of a store that does not exist yet raises ``StoreError``;
    a file that is not SQLite, or that a newer nbtrack wrote, is refused and
    left untouched.
    """
    from .files import ensure_regular_files

    database = location.database
    # A FIFO or a device would block SQLite's open forever; a missing store is NoStore on read.
    ensure_regular_files(location, missing_ok=not readonly)
    # Before anything is created or written: a file nbtrack did not make is never modified.
    refuse_foreign(database)
    if not readonly and database.exists() and not _writable(database):
        raise StoreReadOnly(f"{database} is read-only: reading works; to log runs, point "
                            "NBTRACK_HOME or set_tracking_uri at a writable folder")
    if not readonly:
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
            location.artifacts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store at {database.parent}: {exc.strerror}") from exc
    conn: sqlite3.Connection | None = None
    try:
        # as_uri() percent-encodes, so a folder named "a?b#c%" still opens read-only.
        conn = _connect_readonly(database) if readonly else _connect(str(database))
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
        if "not a database" in str(exc):
            raise StoreError(
                f"{database} is not an SQLite file; nbtrack will not overwrite it: "
                "move it aside or point NBTRACK_HOME elsewhere"
            ) from exc
        raise explain(exc, database) from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return Store(location, conn, readonly=readonly)


def refuse_foreign(database: Path) -> None:
    """Raise ``ForeignStore`` (one line, naming the way in) when ``database`` exists and is not
    an nbtrack store: an MLflow store, another program's SQLite file, or no SQLite at all.

    Only SQLite looks at the file, through an ``immutable`` read-only connection: it takes
    no lock, creates no journal, WAL or shared-memory file, and writes nothing, so the
    file and its folder stay byte-identical. An empty file, or a database with no tables
    but sqlite-utils' migrations table, is a store nbtrack may create (or is creating). A
    store that nbtrack wrote has its migration records.

    Example:
        >>> refuse_foreign(Path("/nonexistent/nbtrack.db"))  # nothing there: nothing to refuse
    """
    try:
        if database.stat().st_size == 0:
            return
    except OSError:  # missing: open_store creates it (or reads say NoStore)
        return
    try:
        conn = sqlite3.connect(f"{database.as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return  # the ordinary open names the problem
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables <= {"_sqlite_migrations"}:
            # Empty, or a store another process is creating: sqlite-utils commits the
            # migrations table before the first migration (read without a lock, the file
            # may show that state).
            return
        ours = "_sqlite_migrations" in tables and conn.execute(
            "SELECT 1 FROM _sqlite_migrations WHERE migration_set = ? LIMIT 1", (MIGRATION_SET,)).fetchone()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise ForeignStore(f"{database} is not an SQLite file; nbtrack will not overwrite it: "
                               "move it aside or point NBTRACK_HOME elsewhere") from exc
        return  # damaged, locked...: the ordinary open names it, before writing anything
    finally:
        conn.close()
    if ours:
        return
    if "alembic_version" in tables and {"experiments", "runs"} <= tables:
        raise ForeignStore(
            f"{database} is an MLflow store; nbtrack leaves it untouched. Bring its runs into an "
            f"nbtrack store with `nbtrack pull --from sqlite:///{database}` (and point "
            "MLFLOW_TRACKING_URI / set_tracking_uri at another file)")
    raise ForeignStore(
        f"{database} is an SQLite database nbtrack did not create ({len(tables)} table(s), e.g. "
        f"{sorted(tables)[0]!r}); nbtrack leaves it untouched: point NBTRACK_HOME or set_tracking_uri elsewhere")


def open_for_reading(location: StoreLocation) -> Store:
    """A read-only connection to an existing store; never creates one (``NoStore``).

    A store an older nbtrack wrote is migrated first: that writes to a file nbtrack made,
    whereas a read that left a new store behind would surprise a user who mistyped a path.
    """
    if not location.database.exists():
        raise NoStore(f"no nbtrack store at {location.database}; log a run first or check the path")
    try:
        return open_store(location, readonly=True)
    except StoreError as exc:
        if "older schema" not in str(exc):
            raise
    open_store(location).close()
    return open_store(location, readonly=True)


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


def _connect_readonly(database: Path) -> sqlite3.Connection:
    # as_uri() percent-encodes, so a folder named "a?b#c%" still opens read-only.
    uri = database.as_uri()
    if not os.access(database.parent, os.W_OK) and not Path(f"{database}-shm").exists():
        # A read-only folder (a mount, a shared archive): WAL readers cannot create the
        # shared-memory file there, and no one can write the store, so read it as immutable.
        return _connect(uri + "?mode=ro&immutable=1", uri=True)
    return _connect(uri + "?mode=ro", uri=True)


def _writable(database: Path) -> bool:
    return os.access(database, os.W_OK) and os.access(database.parent, os.W_OK)


def is_locked(exc: BaseException) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def locked_error(database: Path) -> StoreLocked:
    holder = lock_holder(database)
    who = f"process {holder}" if holder else "another process"
    return StoreLocked(f"{database} is held by {who}; wait for it to finish, or stop it, then retry")


def lock_holder(database: Path) -> int | None:
    """The pid of another process holding a POSIX lock on ``database`` (Linux's /proc/locks)."""
    try:
        inode = database.stat().st_ino
        with open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                # "1: POSIX  ADVISORY  WRITE 12345 fd:01:123456 0 EOF"
                if len(fields) >= 6 and fields[1] == "POSIX" and fields[5].rsplit(":", 1)[-1] == str(inode):
                    pid = int(fields[4])
                    if pid != os.getpid():
                        return pid
    except (OSError, ValueError):
        pass
    return None


def explain(exc: BaseException, database: Path) -> StoreError:
    """The ``StoreError`` that names what an SQLite failure means for the user, in one line."""
    text = str(exc)
    if is_locked(exc):
        return locked_error(database)
    if "readonly" in text or "read-only" in text:
        return StoreReadOnly(f"{database} is read-only: reading works; to log runs, point "
                             "NBTRACK_HOME or set_tracking_uri at a writable folder")
    if "full" in text:
        return StoreFull(f"the disk holding {database} is full; what was logged is kept in memory "
                         "and written when space is freed")
    if "malformed" in text or "not a database" in text or "disk image" in text or "corrupt" in text:
        return StoreCorrupt(f"{database} is damaged ({text}); run `nbtrack doctor` to check it "
                            "and copy what is readable into a new store")
    return StoreError(f"{database}: {text}")


def translating(function: Callable[..., T]) -> Callable[..., T]:
    """Decorate a read so a raw SQLite failure inside it (a damaged page met mid-query, a
    lock held past the timeout) becomes the one-line ``StoreError`` that names it.

    The store named is the one of ``self._handle`` for a method of an object that has one
    (``Client``), else the store in force.
    """
    import functools

    @functools.wraps(function)
    def read(*args: object, **kwargs: object) -> T:
        try:
            return function(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError)):
                raise
            handle = getattr(args[0], "_handle", None) if args else None
            location = getattr(handle, "location", None)
            if location is None:
                from ..paths import current_location

                location = current_location()
            raise explain(exc, location.database) from exc

    return read


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
        raise StoreError(f"{database} uses an older schema; open it once with write access to migrate "
                         "(any nbtrack command that logs does)")
    return pending


def _migrate(conn: sqlite3.Connection, database: Path) -> None:
    """Apply pending migrations under a file lock, so processes opening a new store at
    once do not race to create the same tables."""
    from sqlite_utils import Database

    with _file_lock(database.with_name(database.name + ".migrate.lock")):
        if _check_schema(conn, database, allow_pending=True):
            build_migrations().apply(Database(conn))
            # A migration marks the runs whose run_columns rows it needs filled; fill them now,
            # so the first search after an upgrade is already fast.
            with transaction(conn, "BEGIN IMMEDIATE"):
                run_columns.refresh(conn, at_least=0)


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
