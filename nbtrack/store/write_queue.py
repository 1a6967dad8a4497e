"""The write queue: logging appends to memory, a background thread applies batches.

A training loop must not wait on SQLite (MLflow's SQLite backend spends about
3 ms a call), so a metric point is one ``deque.append`` (thread-safe under the
GIL) and every other write is a typed command (``store.commands``) queued
behind the points logged before it. One thread per store drains both every
``FLUSH_INTERVAL`` and applies them in one transaction: 500 short runs cost a
few transactions, not 2,000.

**Durability window.** A point is durable at most ``DURABILITY_WINDOW`` seconds
after it was logged, at any logging rate. The queue measures how fast its
writer commits and keeps the backlog under what it can write in a fraction of
the window (``high_water``). A producer whose backlog passes half of that
wakes the writer early (``wake_water``), so a fast loop rarely waits for the
next tick; one that outruns the writer anyway takes part in the flush
(``relieve``) instead of letting the backlog grow. That is backpressure only
above the writer's speed: at realistic rates ``log_metric`` never waits.

**Immediate writes.** A command that must be applied now (creating a run returns
its key) goes through ``execute``, on this queue's connection, after the
transaction in progress. A second connection would wait for this process's own
writer in SQLite's busy handler, which sleeps in steps of up to 100 ms and so
oversleeps: that cost a third of the time of logging 500 short runs.

**Expected writes.** Work that will submit writes from another thread soon (a run's
deferred work: autolog's images) announces itself with ``expect``; ``flush`` waits
for it (at most ``EXPECTED_WAIT_LIMIT``), so a read in this process sees a complete
run. The thread that runs deferred work never waits for it (``deferred_work``): the
work may be queued behind what that thread is doing.

**Isolation.** A command that cannot be applied (a bug, a value nothing
checked) is split off: the rest of its batch is applied, it is kept and
retried on its own at later flushes, and one warning names the run and keys it
concerns. A failure of the store itself (locked, disk full, read-only) keeps
the whole batch, in order, for the next attempt, in pieces small enough to fit.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> queue = WriteQueue(resolve_location(tempfile.mkdtemp()))
    >>> queue.flush(); queue.close()
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from ..errors import InvalidInput, NbtrackError, StoreError, StoreFull, warn_once
from ..paths import StoreLocation
from .commands import Heartbeat, LogMetrics, MetricRow, WriteCommand, apply
from .database import Store, explain, is_locked, now_ms, open_store

FLUSH_INTERVAL = 0.1  # seconds between drains; another process sees a point within about this
DURABILITY_WINDOW = 0.5  # seconds: a point logged longer ago than this is on disk
BATCH_ROWS = 100_000  # one transaction never holds more points than this
MIN_HIGH_WATER = 2_000  # never throttle below this backlog: tiny batches cost more than they save
HEARTBEAT_INTERVAL = 30.0  # seconds between "still alive" marks on open runs
ISOLATED_RETRY_INTERVAL = 5.0  # seconds between background retries of a command that failed alone
EXPECTED_WAIT_LIMIT = 60.0  # seconds flush() waits for expected writes (see expect) before going on

_deferred = threading.local()  # .active: this thread is running deferred work


@contextlib.contextmanager
def deferred_work() -> Iterator[None]:
    """Mark this thread as running work that others' ``flush`` waits for: its own reads
    and flushes do not wait (they would wait for themselves)."""
    outer = getattr(_deferred, "active", False)
    _deferred.active = True
    try:
        yield
    finally:
        _deferred.active = outer


class WriteQueue:
    """Pending writes of one store and the thread that applies them."""

    def __init__(self, location: StoreLocation, open_connection: Callable[[], Store] | None = None) -> None:
        self.location = location
        self.rows: deque[MetricRow] = deque()
        self.append_point = self.rows.append  # the hot path: one C call
        # The backlog above which a producer helps write, and the one above which it wakes
        # the writer (see relieve()); adapted to the measured commit rate after every batch.
        self.high_water = BATCH_ROWS
        self.wake_water = BATCH_ROWS // 2
        self.open_runs: set[str] = set()  # run ids whose heartbeat this process keeps
        self._commands: deque[WriteCommand] = deque()
        # Batches taken but not yet committed, oldest first: applied before anything newer.
        self._unwritten: deque[list[WriteCommand]] = deque()
        self._isolated: list[WriteCommand] = []  # commands that failed on their own
        self._next_isolated_retry = 0.0
        self._batch_limit = BATCH_ROWS
        self._points_per_second = 0.0
        self._open = open_connection or (lambda: open_store(location))
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._expected = 0  # writes announced by expect() and not yet released
        self._expected_lock = threading.Lock()
        self._nothing_expected = threading.Event()
        self._nothing_expected.set()
        self._stopped = False
        self._store: Store | None = None
        self._thread = threading.Thread(target=self._run, name="nbtrack-writer", daemon=True)
        self._thread.start()

    # --- what producers call ------------------------------------------------------------

    def submit(self, command: WriteCommand) -> None:
        """Queue a command; it is applied after every point logged before it."""
        if not isinstance(command, WriteCommand):
            raise TypeError(f"the write queue takes store.commands, not {type(command).__name__}")
        self._commands.append(command)

    def execute(self, command: WriteCommand) -> object:
        """Apply ``command`` now, in this thread and its own transaction (after the one the
        writer may be in), and return what its handler returns. Commands queued earlier are
        not waited for."""
        with self._write_lock:
            return self._writer_store().execute(command)

    def relieve(self) -> None:
        """Called by a producer whose backlog passed ``wake_water``: wake the writer thread
        (it writes while the producer goes on); past ``high_water`` the writer is behind,
        so write the backlog now, in this thread, so it never outgrows the durability window."""
        backlog = len(self.rows)
        if backlog > self.high_water:
            self._drain(raise_errors=False)
        elif backlog > self.wake_water and not self._wake.is_set():
            self._wake.set()

    def expect(self) -> Callable[[], None]:
        """Announce writes another thread will submit soon; ``flush`` waits for them. Call
        the returned function once they are submitted (or will not be); later calls do
        nothing.

        Example:
            >>> release = queue.expect()  # doctest: +SKIP
            >>> worker.submit(lambda: (queue.submit(command), release()))  # doctest: +SKIP
        """
        with self._expected_lock:
            self._expected += 1
            self._nothing_expected.clear()
        released = threading.Event()

        def release() -> None:
            with self._expected_lock:
                if released.is_set():
                    return
                released.set()
                self._expected -= 1
                if not self._expected:
                    self._nothing_expected.set()

        return release

    def flush(self) -> None:
        """Write everything pending now, after the writes announced by ``expect`` (waited for
        up to ``EXPECTED_WAIT_LIMIT``). Raises the ``StoreError`` that stops the store from
        being written (the data stays queued); a command that failed on its own is reported
        by warning, not raised, so one bad value never makes flush() unusable."""
        if not self._nothing_expected.is_set() and not getattr(_deferred, "active", False):
            if not self._nothing_expected.wait(EXPECTED_WAIT_LIMIT):
                warn_once(f"expected:{self.location.database}",
                          f"nbtrack flushed {self.location.database} without writes still being "
                          f"prepared after {EXPECTED_WAIT_LIMIT:.0f} s (they are written when ready)")
        self._drain(raise_errors=True)

    def close(self) -> None:
        """Flush what can be written, stop the thread, close the connection."""
        self._stopped = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._drain(raise_errors=False)
        with self._write_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    @property
    def pending(self) -> int:
        """Points and commands not yet written (isolated failures included)."""
        return (len(self.rows) + len(self._commands) + len(self._isolated)
                + sum(len(batch) for batch in self._unwritten))

    # --- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        last_beat = time.monotonic()
        while not self._stopped:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            self._drain(raise_errors=False)
            if self.open_runs and time.monotonic() - last_beat >= HEARTBEAT_INTERVAL:
                last_beat = time.monotonic()
                self.submit(Heartbeat(tuple(self.open_runs), now_ms()))

    def _drain(self, *, raise_errors: bool) -> None:
        with self._write_lock:
            # Count commands before rows: every point logged before a queued command is then
            # among the counted rows, so a command (say, a run's end) lands after its points.
            command_count = len(self._commands)
            row_count = len(self.rows)
            if self._isolated and (raise_errors or time.monotonic() >= self._next_isolated_retry):
                self._retry_isolated()
            while self._unwritten or row_count or command_count:
                if not self._unwritten:
                    rows = self._take(min(row_count, self._batch_limit))
                    row_count -= len(rows)
                    batch: list[WriteCommand] = [LogMetrics(rows)] if rows else []
                    if not row_count:
                        batch.extend(self._take_commands(command_count))
                        command_count = 0
                    self._unwritten.append(batch)
                try:
                    self._apply_isolating(self._unwritten[0])
                except Exception as exc:  # the store failed, not a command: keep all, in order
                    error = exc if isinstance(exc, NbtrackError) else explain(exc, self.location.database)
                    if isinstance(error, StoreFull):
                        self._split_unwritten()
                    if raise_errors:
                        raise error from None
                    warn_once(f"flush:{self.location.database}",
                              f"nbtrack could not write to {self.location.database}: {error} "
                              "(the data is kept in memory and retried; nbtrack.flush() shows the error)")
                    return
                self._unwritten.popleft()

    def _apply_isolating(self, batch: list[WriteCommand]) -> None:
        """Apply ``batch`` in one transaction; a command that fails on its own is rolled back
        to its savepoint and set aside, and the rest still commit."""
        store = self._writer_store()
        started = time.perf_counter()
        failed: list[tuple[WriteCommand, BaseException]] = []

        def work(conn: sqlite3.Connection) -> None:
            failed.clear()
            for command in batch:
                conn.execute("SAVEPOINT command")
                try:
                    apply(conn, command)
                except Exception as exc:
                    conn.execute("ROLLBACK TO command")
                    conn.execute("RELEASE command")
                    if _is_store_failure(exc):
                        raise
                    failed.append((command, exc))
                else:
                    conn.execute("RELEASE command")

        store.write_retrying(work)
        points = sum(len(c.rows) for c in batch if isinstance(c, LogMetrics))
        self._measure(points, time.perf_counter() - started)
        self._batch_limit = min(self.high_water, self._batch_limit * 2)  # regrow after a full disk
        for command, exc in failed:
            self._set_aside(command, exc)

    def _set_aside(self, command: WriteCommand, exc: BaseException) -> None:
        if isinstance(command, LogMetrics) and len(command.rows) > 1:
            # Find the bad point: halves go back to be retried on their own.
            middle = len(command.rows) // 2
            self._isolated.extend([LogMetrics(command.rows[:middle]), LogMetrics(command.rows[middle:])])
            return
        self._isolated.append(command)
        reason = str(exc) if isinstance(exc, InvalidInput) else f"{type(exc).__name__}: {exc}"
        warn_once(f"command:{command.describe()}",
                  f"nbtrack could not record {command.describe()}: {reason}; it is kept and retried "
                  "on its own, and every other write goes on")

    def _retry_isolated(self) -> None:
        self._next_isolated_retry = time.monotonic() + ISOLATED_RETRY_INTERVAL
        pending, self._isolated = self._isolated, []
        for index, command in enumerate(pending):
            try:
                self._apply_isolating([command])
            except Exception:  # the store itself failed: keep the rest for later, in order
                self._isolated.extend(pending[index:])
                return

    def _measure(self, points: int, seconds: float) -> None:
        """Track the commit rate; the high-water mark lets the writer catch up within the window."""
        if points < 1000 or seconds <= 0:
            return
        rate = points / seconds
        self._points_per_second = rate if not self._points_per_second else 0.7 * self._points_per_second + 0.3 * rate
        # A point waits for at most the flush interval, the batch in progress and the backlog
        # written after it. Each batch is kept to a fifth of the window's worth of writing, so
        # that sum stays near 0.3 s and a loaded machine (slower, bursty commits) still has room.
        budget = int(self._points_per_second * DURABILITY_WINDOW / 5)
        self.high_water = min(BATCH_ROWS, max(MIN_HIGH_WATER, budget))
        self.wake_water = self.high_water // 2

    def _split_unwritten(self) -> None:
        """A full disk may take a small transaction where a large one never fits: the oldest
        unwritten batch goes back as one transaction per piece of half the size."""
        self._batch_limit = max(100, self._batch_limit // 2)
        pieces: list[list[WriteCommand]] = []
        for command in self._unwritten.popleft():
            if isinstance(command, LogMetrics) and len(command.rows) > self._batch_limit:
                rows, size = command.rows, self._batch_limit
                pieces.extend([LogMetrics(rows[i : i + size])] for i in range(0, len(rows), size))
            else:
                pieces.append([command])
        self._unwritten.extendleft(reversed(pieces))

    def _take_commands(self, count: int) -> list[WriteCommand]:
        popleft = self._commands.popleft
        return [popleft() for _ in range(count)]

    def _take(self, limit: int) -> list[MetricRow]:
        rows = self.rows
        popleft = rows.popleft
        return [popleft() for _ in range(min(len(rows), limit))]

    def _writer_store(self) -> Store:
        if self._store is None:
            self._store = self._open()
        return self._store


def _is_store_failure(exc: BaseException) -> bool:
    """True when the store as a whole cannot be written (retry everything later), False when
    only this command is at fault."""
    if isinstance(exc, StoreError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        return is_locked(exc) or any(word in text for word in ("full", "readonly", "I/O", "disk", "malformed"))
    return False
