"""What ``%%track`` keeps between cells of one kernel: caches, the worker, the last summary.

One :class:`TrackingSession` lives per shell while the extension is loaded. Every
cache here is keyed so that its cost per cell stays flat as the session grows:
history fragments by execution count, fingerprints by object, the notebook file
by ``(path, mtime, size)``.

Example:
    >>> session = TrackingSession()
    >>> session.static_tags()["nbtrack.python_version"].count(".")
    2
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .background import capture_worker
from .environment import GitProbe, PackageVersions, python_facts
from .inputs import FULL_MAX_BYTES, FingerprintCache
from .snapshot import HistorySnapshot

if TYPE_CHECKING:  # pragma: no cover
    from ..display import RunSummary
    from .recorder import CellRecording


class TrackingSession:
    """Per-kernel state of nbtrack's cell tracking."""

    def __init__(self, full_max_bytes: int = FULL_MAX_BYTES) -> None:
        self.history = HistorySnapshot()
        self.fingerprints = FingerprintCache(full_max_bytes)
        self.packages = PackageVersions()
        self.git = GitProbe()
        self.worker = capture_worker()
        self.cell_ids: dict[int, str] = {}  # execution count -> frontend cell id
        self.current: CellRecording | None = None  # the tracked cell running now
        self.last_summary: RunSummary | None = None
        # (ExecutionInfo of the enclosing cell, the body's exception), set by a failed %%track
        self.pending_error: tuple[Any, BaseException] | None = None
        self._disk: dict[str, tuple[int, int, str, int]] = {}  # path -> (mtime_ns, size, digest, size)
        self._blobs: dict[tuple[int, int], tuple[bytes, tuple[str, int]]] = {}

    def static_tags(self) -> dict[str, str]:
        return python_facts()

    def warm_up(self) -> None:
        """Read package metadata on the worker now (a few hundred ms, once) rather than
        while the first tracked cells run."""
        def read_packages() -> None:
            self.packages.requirements()

        self.worker.submit(read_packages, "package versions")

    def blob(self, store: Any, data: bytes) -> tuple[str, int]:
        """``(digest, size)`` of ``data`` in the blob store; the same bytes as last time are
        neither hashed nor checked again (most runs repeat the last requirements and diff)."""
        key = (id(data), len(data))
        cached = self._blobs.get(key)
        if cached is not None and cached[0] is data:
            return cached[1]
        stored = store.put_bytes(data)
        self._blobs = {key: (data, stored)} if len(self._blobs) > 64 else {**self._blobs, key: (data, stored)}
        return stored

    def disk_snapshot(self, store: Any, path: str, max_bytes: int) -> tuple[str, int] | None:
        """``(digest, size)`` of the ``.ipynb`` at ``path``, stored once per version of the file.

        Runs on the background worker. An unchanged file (same mtime and size) is not
        read again; the blob store keeps one copy of identical bytes anyway.
        """
        from ..errors import warn_once

        try:
            stat = os.stat(path)
        except OSError:
            return None  # not saved yet, or the path went stale after a rename
        cached = self._disk.get(path)
        if cached and cached[:2] == (stat.st_mtime_ns, stat.st_size) and \
                store.has_blob(cached[2]):
            return cached[2], cached[3]
        if stat.st_size > max_bytes:
            warn_once("snapshot-size", f"nbtrack skipped the snapshot of {path}: "
                                       f"{stat.st_size >> 20} MiB is over the {max_bytes >> 20} MiB limit")
            return None
        with open(path, "rb") as handle:
            data = handle.read()
        digest, size = store.put_bytes(data)
        self._disk[path] = (stat.st_mtime_ns, stat.st_size, digest, size)
        return digest, size
