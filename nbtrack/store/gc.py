"""``nbtrack gc``: purge deleted runs and the blobs nothing references any more.

Example:
    >>> from nbtrack.paths import resolve_location
    >>> import tempfile
    >>> collect_garbage(resolve_location(tempfile.mkdtemp())).runs_purged
    0
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from ..errors import NoStore
from ..paths import StoreLocation
from . import artifacts as blobs
from .commands import ForgetBlobs, PurgeRuns
from .database import open_store
from .registry import DELETED_STAGE


@dataclass(frozen=True)
class GcReport:
    runs_purged: int
    blobs_removed: int
    bytes_freed: int


def collect_garbage(location: StoreLocation, *, dry_run: bool = False) -> GcReport:
    """Delete runs marked deleted (with their rows and the files ``get_artifact_uri`` laid out
    for them) and unreferenced blob files."""
    if not location.database.is_file():
        raise NoStore(f"no nbtrack store at {location.database}; nothing to collect")
    store = open_store(location)
    try:
        # A run deleted before registered versions were guarded (or by another tool) keeps its
        # rows and files while a live version still loads from them.
        rows = store.conn.execute(
            "SELECT id, run_id FROM runs WHERE lifecycle_stage = 'deleted' AND run_id NOT IN "
            "(SELECT run_id FROM model_versions WHERE run_id IS NOT NULL AND current_stage != ?)",
            (DELETED_STAGE,)).fetchall()
        deleted = [r[0] for r in rows]
        if not dry_run and deleted:
            store.execute(PurgeRuns(tuple(deleted)))
        freed = 0
        for _, run_id in rows:  # the files get_artifact_uri laid out: copies nbtrack made
            folder = blobs.run_folder(location, run_id)
            if folder.is_dir() and not folder.is_symlink():
                freed += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
                if not dry_run:
                    shutil.rmtree(folder)
        orphans = blobs.unreferenced_blobs(store)
        for digest in orphans:
            path = blobs.blob_path(store, digest)
            if path.exists():
                freed += path.stat().st_size
                if not dry_run:
                    path.unlink()
        if not dry_run and orphans:
            store.execute(ForgetBlobs(tuple(orphans)))
        return GcReport(len(deleted), len(orphans), freed)
    finally:
        store.close()
