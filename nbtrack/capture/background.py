"""One background thread for capture work that must not delay the user's cell.

Git state, package versions and reading the notebook file from disk can take
tens of milliseconds. ``%%track`` queues them here; a job hands its rows to the
run's write queue as typed commands (``ActiveRun.submit``), so they reach the store
in the write queue's transaction, after the cell has returned. ``drain()`` waits for the
queue to empty: ``%nbtrack`` commands, ``%unload_ext`` and interpreter exit call it,
so what a user reads back is complete.

A failing job warns once (``NbtrackWarning``) and the worker goes on.

Example:
    >>> worker = BackgroundWorker()
    >>> worker.submit(lambda: None)
    >>> worker.drain(timeout=5)
    True
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from ..errors import warn_once
from ..state import made_once

Job = Callable[[], None]


class BackgroundWorker:
    """A daemon thread running jobs in order; started on first use."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Job, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, job: Job, topic: str = "background") -> None:
        """Queue ``job``; ``topic`` names it in the one warning a failure produces."""
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="nbtrack-capture",
                                                    daemon=True)
                    self._thread.start()
        self._queue.put((job, topic))

    def drain(self, timeout: float | None = 30.0) -> bool:
        """Wait until every queued job has run; False if ``timeout`` passed first."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put((done.set, "drain"))
        return done.wait(timeout)

    def _run(self) -> None:
        from ..store.write_queue import deferred_work

        # A flush here must not wait for writes announced by jobs queued behind this one
        # (ActiveRun.defer): they cannot run until this one returns.
        with deferred_work():
            self._run_jobs()

    def _run_jobs(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            job, topic = item
            try:
                job()
            except Exception as exc:  # background capture never breaks the session
                try:
                    warn_once(f"capture:{topic}", f"nbtrack could not record the {topic}: {exc}")
                except Exception:  # warnings turned into errors: the worker must live on
                    pass

    def stop(self, timeout: float = 10.0) -> None:
        """Finish queued jobs and end the thread."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self._thread = None


def capture_worker() -> BackgroundWorker:
    """The process's capture worker (kept in ``nbtrack.state``, which stops it at exit after
    running what is queued, before the runs end and the store is flushed)."""
    return made_once("capture_worker", BackgroundWorker)
