"""``nbtrack gc``: purge deleted runs and the blobs nothing references any more.

Example:
    >>> from nbtrack.paths import resolve_location
    >>> import tempfile
    >>> collect_garbage(resolve_location(tempfile.mkdtemp())).runs_purged
    0
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .paths import StoreLocation
from .store import artifacts as blobs
from .store.database import open_store


@dataclass(frozen=True)
class GcReport:
    runs_purged: int
    blobs_removed: int
    bytes_freed: int


def collect_garbage(location: StoreLocation, *, dry_run: bool = False) -> GcReport:
    """Delete runs marked deleted (with their rows) and unreferenced blob files."""
    store = open_store(location)
    try:
        deleted = [r[0] for r in store.conn.execute("SELECT id FROM runs WHERE lifecycle_stage = 'deleted'")]
        if not dry_run and deleted:

            def purge(conn: sqlite3.Connection) -> None:
                # metric_history has no index on run: reach a run's points through its chunks.
                conn.executemany(
                    "DELETE FROM metric_history WHERE rowid IN (SELECT m.rowid FROM metric_chunks AS c "
                    "JOIN metric_history AS m ON m.rowid BETWEEN c.first_rowid AND c.last_rowid "
                    "AND m.run = c.run WHERE c.run = ?)",
                    [(pk,) for pk in deleted],
                )
                for table in ("params", "tags", "metric_chunks", "metric_summaries", "inputs", "artifacts"):
                    conn.executemany(f"DELETE FROM {table} WHERE run = ?", [(pk,) for pk in deleted])
                conn.executemany("DELETE FROM runs WHERE id = ?", [(pk,) for pk in deleted])

            store.write_retrying(purge)
        orphans = blobs.unreferenced_blobs(store)
        freed = 0
        for digest in orphans:
            path = blobs.blob_path(store, digest)
            if path.exists():
                freed += path.stat().st_size
                if not dry_run:
                    path.unlink()
        if not dry_run and orphans:
            store.write_retrying(
                lambda conn: conn.executemany("DELETE FROM blobs WHERE digest = ?", [(d,) for d in orphans])
            )
        return GcReport(len(deleted), len(orphans), freed)
    finally:
        store.close()
