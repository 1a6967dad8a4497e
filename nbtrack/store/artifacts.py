"""Content-addressed artifact blobs: the same bytes are stored once, whatever run logs them.

A blob lives at ``<artifacts>/blobs/<first two hex>/<sha256>``; the ``artifacts``
table maps a run's artifact path to a digest. Blobs are written to a temporary
name and renamed, so a reader never sees half a file.

Example:
    >>> normalize_artifact_path("plots", "loss.png")
    'plots/loss.png'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from ..errors import InvalidInput
from ..paths import StoreLocation
from .database import Store

CHUNK = 1 << 20


def normalize_artifact_path(artifact_path: str | None, name: str) -> str:
    """Join ``artifact_path`` and ``name`` into a relative POSIX path inside the run.

    Refuses what would escape the run: ``..`` parts, absolute paths, drive letters,
    NUL bytes, and backslashes (which mean a separator on Windows).
    """
    joined = name if not artifact_path else f"{artifact_path.rstrip('/')}/{name}"
    if "\x00" in joined:
        raise InvalidInput(f"artifact path {joined!r} contains a NUL byte")
    if "\\" in joined:
        raise InvalidInput(f"artifact path {joined!r} uses '\\'; use '/' between folders")
    if joined.startswith("/") or (len(joined) > 1 and joined[1] == ":"):
        raise InvalidInput(f"artifact path {joined!r} is absolute; give a path relative to the run")
    parts = [part for part in PurePosixPath(joined).parts if part not in ("", ".")]
    if not parts or ".." in parts:
        raise InvalidInput(f"artifact path {joined!r} leaves the run's artifact folder; drop the '..'")
    return "/".join(parts)


def blob_location(location: StoreLocation, digest: str) -> Path:
    """Where the content-addressed blob ``digest`` lives in the store at ``location`` (the one
    place that layout is spelled out); a digest that is not sha256 hex is refused."""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InvalidInput(f"{digest[:70]!r} is not a sha256 digest; the store may be damaged")
    return location.artifacts / "blobs" / digest[:2] / digest


def run_folder(location: StoreLocation, run_id: str = "") -> Path:
    """Where ``run_id``'s artifacts are laid out as files when asked for (``get_artifact_uri``):
    copies of its blobs, which ``nbtrack gc`` removes with the run (the one place that layout
    is spelled out). Without ``run_id``, the folder holding every run's."""
    return location.artifacts / "runs" / run_id if run_id else location.artifacts / "runs"


def blob_path(store: Store, digest: str) -> Path:
    return blob_location(store.location, digest)


def put_file(store: Store, source: Path) -> tuple[str, int]:
    """Store a file's bytes; returns ``(sha256, size)``. Hashes while copying: one read."""
    store.blobs_dir.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=store.blobs_dir, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            while chunk := src.read(CHUNK):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return _commit_blob(store, Path(tmp_name), hasher.hexdigest()), size
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def put_bytes(store: Store, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    target = blob_path(store, digest)
    if not target.exists():
        store.blobs_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=store.blobs_dir, prefix=".incoming-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        _commit_blob(store, Path(tmp_name), digest)
    return digest, len(data)


def _commit_blob(store: Store, tmp: Path, digest: str) -> str:
    target = blob_path(store, digest)
    if target.exists():
        tmp.unlink()  # same bytes already stored: that is the point of content addressing
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
    return digest


def copy_blob(store: Store, digest: str, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(blob_path(store, digest), destination)
    return destination


def unreferenced_blobs(store: Store) -> list[str]:
    """Digests on disk or in ``blobs`` that no artifact row points at (for ``nbtrack gc``)."""
    referenced = {row[0] for row in store.conn.execute("SELECT DISTINCT digest FROM artifacts")}
    on_disk = {p.name for p in store.blobs_dir.glob("??/*") if not p.name.startswith(".")}
    in_table = {row[0] for row in store.conn.execute("SELECT digest FROM blobs")}
    return sorted((on_disk | in_table) - referenced)
