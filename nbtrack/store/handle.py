"""One process's access to one store: its write queue, a connection for immediate writes,
and a read-only connection for reads.

Everything above ``store/`` reaches a store through a ``StoreHandle`` (kept per
database in ``nbtrack.state``): it queues or executes typed commands, reads
after flushing what this process queued, and writes artifact bytes. Nothing
outside ``store/`` holds an SQLite connection.

Opening is lazy and one-way: ``read()`` never creates a store (a missing one
raises ``NoStore``); the first write creates and migrates it, and closes runs
whose process died (crash detection).

Example:
    >>> import tempfile
    >>> from nbtrack.paths import resolve_location
    >>> from nbtrack.store import commands
    >>> handle = StoreHandle(resolve_location(tempfile.mkdtemp()))
    >>> handle.execute(commands.GetOrCreateExperiment("Default"))
    '1'
    >>> handle.close()
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..errors import StoreReadOnly
from ..paths import StoreLocation
from . import artifacts as blobs
from .commands import WriteCommand
from .database import Store, open_for_reading, open_store
from .write_queue import WriteQueue
from .writer import mark_crashed_runs


class StoreHandle:
    """This process's connections to the store at ``location``; thread-safe."""

    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self._lock = threading.Lock()
        self._direct: Store | None = None
        # One read-only connection per thread: a search fills a temp table in a transaction
        # of its own, which two threads must not share.
        self._local = threading.local()
        self._readers: list[Store] = []
        self._queue: WriteQueue | None = None

    # --- writing ----------------------------------------------------------------------------

    @property
    def queue(self) -> WriteQueue:
        """The write queue (its thread starts on first use; the store is created then too)."""
        if self._queue is None:
            self._writer()  # create, migrate and check for crashed runs before any queued write
            with self._lock:
                if self._queue is None:
                    self._queue = WriteQueue(self.location)
        return self._queue

    def submit(self, command: WriteCommand) -> None:
        """Queue ``command`` behind every point and command queued before it."""
        self.queue.submit(command)

    def execute(self, command: WriteCommand) -> Any:
        """Apply ``command`` now in its own transaction and return its result. Commands queued
        earlier are not waited for (flush first when the order matters). Once the queue runs,
        its connection applies it, after the writer's transaction in progress, not a second
        connection that would wait in SQLite's busy handler for this process's own batch."""
        queue = self._queue
        if queue is not None:
            return queue.execute(command)
        return self._writer().execute(command)

    def flush(self) -> None:
        """Make everything this process queued for the store durable now."""
        if self._queue is not None:
            self._queue.flush()

    def put_file(self, source: Path) -> tuple[str, int]:
        """Store a file's bytes as a blob; ``(sha256, size)``."""
        return blobs.put_file(self._writer(), source)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        return blobs.put_bytes(self._writer(), data)

    def has_blob(self, digest: str) -> bool:
        return blobs.blob_path(self._writer(), digest).exists()

    def _writer(self) -> Store:
        store = self._direct
        if store is None:
            with self._lock:
                store = self._direct
                if store is None:
                    store = open_store(self.location)
                    mark_crashed_runs(store)
                    self._direct = store
        return store

    # --- reading ----------------------------------------------------------------------------

    def read(self) -> Store:
        """The read-only connection, after flushing this process's queued writes. Raises
        ``NoStore`` where there is none (and creates nothing)."""
        self.flush()
        store: Store | None = getattr(self._local, "reader", None)
        if store is None:
            if self._direct is None and self.exists:
                # The first look at a store in this process closes runs whose process died,
                # as the first write does (the file exists: nothing is created).
                try:
                    self._writer()
                except StoreReadOnly:
                    pass  # nobody can write it, so nobody can fix the statuses either
            store = self._local.reader = open_for_reading(self.location)
            with self._lock:
                self._readers.append(store)
        return store

    @property
    def exists(self) -> bool:
        return self.location.database.is_file()

    def close(self) -> None:
        """Flush and stop the queue, close both connections; the handle can be used again."""
        with self._lock:
            queue, self._queue = self._queue, None
        if queue is not None:
            queue.close()
        with self._lock:
            for store in (self._direct, *self._readers):
                if store is not None:
                    store.close()
            self._direct = None
            self._readers = []
            self._local = threading.local()
