"""The write buffer: logging appends to memory, a background thread writes batches.

A training loop must not wait on SQLite (MLflow's SQLite backend spends about
3 ms a call). So ``log_metric`` is one ``deque.append`` (thread-safe under the
GIL), and one flusher thread per store drains the deque every ``FLUSH_INTERVAL``
seconds, writing at most ``BATCH_ROWS`` points per transaction. Params, tags,
inputs, artifact records and the end of a run go through ``ops`` (functions of
a connection), applied after the points logged before them, in the same
transaction: 500 short runs cost a few transactions, not 2,000. ``flush()``
drains synchronously; every read in this process and interpreter exit flush too.

A failed write warns once (``NbtrackWarning``) and keeps the rows for the next
attempt: it never raises into the user's loop.

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> buffer = buffer_for(resolve_location(tempfile.mkdtemp()))
    >>> buffer.flush()
"""

from __future__ import annotations

import atexit
import threading
import sqlite3
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..errors import warn_once
from ..paths import StoreLocation
from .database import Store, open_store
from .writer import MetricRow, heartbeat, insert_metrics

PendingWrite = Callable[[sqlite3.Connection], object]

FLUSH_INTERVAL = 0.1  # seconds; another process sees a point within about this long
BATCH_ROWS = 100_000  # the size threshold: one transaction never holds more
HEARTBEAT_INTERVAL = 30.0  # seconds between "still alive" marks on open runs


class MetricBuffer:
    """Pending metric points of one store and the thread that writes them."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self.rows: deque[MetricRow] = deque()
        self.ops: deque[PendingWrite] = deque()
        self.open_runs: set[str] = set()  # run ids whose heartbeat this process keeps
        # A failed batch, written before anything newer.
        self._retry: tuple[list[MetricRow], list[PendingWrite]] | None = None
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._store: Store | None = None
        self._thread = threading.Thread(target=self._run, name="nbtrack-flusher", daemon=True)
        self._thread.start()

    def submit(self, write: PendingWrite) -> None:
        """Queue a write; it runs after every point logged before it, in the flusher's transaction."""
        self.ops.append(write)

    def flush(self) -> None:
        """Write every pending point now; raises only if the store cannot be written at all."""
        self._drain(raise_errors=True)

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=5)
        self._drain(raise_errors=False)
        with self._write_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _run(self) -> None:
        since_heartbeat = 0.0
        while not self._stopped:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            self._drain(raise_errors=False)
            since_heartbeat += FLUSH_INTERVAL
            if since_heartbeat >= HEARTBEAT_INTERVAL and self.open_runs:
                since_heartbeat = 0.0
                self._beat()

    def _drain(self, *, raise_errors: bool) -> None:
        with self._write_lock:
            # Count ops before rows: every point logged before a queued op is then among
            # the counted rows, so an op (say, a run's end) lands after its points.
            op_count = len(self.ops)
            row_count = len(self.rows)
            while self._retry or row_count or op_count:
                if self._retry:
                    rows, ops = self._retry
                else:
                    rows = self._take(min(row_count, BATCH_ROWS))
                    row_count -= len(rows)
                    ops = self._take_ops(op_count) if not row_count else []
                    op_count -= len(ops)
                self._retry = None
                try:
                    self._writer_store().write_retrying(lambda conn, rows=rows, ops=ops: self._apply(conn, rows, ops))
                except Exception as exc:
                    self._retry = (rows, ops)  # keep them: nothing logged is dropped on a failed write
                    if raise_errors:
                        raise
                    warn_once(
                        f"flush:{self.location.database}",
                        f"nbtrack could not write to {self.location.database} ({exc}); the data is "
                        "kept in memory and retried; call nbtrack.flush() to see the error",
                    )
                    return

    @staticmethod
    def _apply(conn: sqlite3.Connection, rows: list[MetricRow], ops: list[PendingWrite]) -> None:
        insert_metrics(conn, rows)
        for op in ops:
            op(conn)

    def _take_ops(self, count: int) -> list[PendingWrite]:
        popleft = self.ops.popleft
        return [popleft() for _ in range(count)]

    def _take(self, limit: int) -> list[MetricRow]:
        rows = self.rows
        count = min(len(rows), limit)
        popleft = rows.popleft
        return [popleft() for _ in range(count)]

    def _beat(self) -> None:
        try:
            with self._write_lock:
                heartbeat(self._writer_store(), list(self.open_runs))
        except Exception as exc:  # a missed heartbeat only delays crash detection elsewhere
            warn_once(f"heartbeat:{self.location.database}", f"nbtrack heartbeat failed: {exc}")

    def _writer_store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.location)
        return self._store


_buffers: dict[Path, MetricBuffer] = {}
_buffers_lock = threading.Lock()


def buffer_for(location: StoreLocation) -> MetricBuffer:
    """The process's buffer for ``location``, started on first use."""
    buffer = _buffers.get(location.database)
    if buffer is None:
        with _buffers_lock:
            buffer = _buffers.get(location.database)
            if buffer is None:
                buffer = _buffers[location.database] = MetricBuffer(location)
    return buffer


def flush_all() -> None:
    """Make every pending point of every store durable (``nbtrack.flush()``)."""
    for buffer in list(_buffers.values()):
        buffer.flush()


@atexit.register
def _flush_at_exit() -> None:
    for buffer in list(_buffers.values()):
        buffer.close()
