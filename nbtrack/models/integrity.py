"""Model files are checked against the sha256 recorded when they were saved or logged.

Two records: a model logged to a run is a set of content-addressed artifact
blobs (the digest is the blob's name and the ``artifacts`` row), and every
model directory nbtrack saves lists its files' digests in the MLmodel
(``nbtrack.files``). Loading recomputes each digest and refuses a file whose
bytes changed: a swapped pickle is code that would run.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "model.pkl").write_bytes(b"weights")
    >>> digests = file_digests(folder)
    >>> verify_files(folder, digests)
    >>> _ = (folder / "model.pkl").write_bytes(b"tampered")
    >>> verify_files(folder, digests)
    Traceback (most recent call last):
    ...
    nbtrack.errors.ModelIntegrityError: model file 'model.pkl' changed since it was saved (sha256 ...
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import ModelIntegrityError
from ..store import artifacts as blobs
from ..store.commands import ArtifactEntry
from ..store.database import Store
from .mlmodel import MLMODEL

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def file_digests(folder: Path) -> dict[str, str]:
    """Relative POSIX path -> sha256 of every file but the MLmodel (which holds this list)."""
    return {f.relative_to(folder).as_posix(): sha256_file(f)
            for f in sorted(folder.rglob("*")) if f.is_file() and f.name != MLMODEL}


def _changed(name: str, recorded: str, actual: str) -> ModelIntegrityError:
    return ModelIntegrityError(
        f"model file {name!r} changed since it was saved (sha256 {actual[:12]}..., recorded "
        f"{recorded[:12]}...); refusing to load it: restore the file or log the model again")


def verify_files(folder: Path, digests: Mapping[str, str]) -> None:
    """Raise ``ModelIntegrityError`` for the first file whose bytes differ from its digest."""
    for name, recorded in digests.items():
        file = folder / name
        if not file.is_file():
            raise ModelIntegrityError(f"model file {name!r} is missing from {folder}; restore it or "
                                      "log the model again")
        actual = sha256_file(file)
        if actual != recorded:
            raise _changed(name, recorded, actual)


def materialize(store: Store, entries: Iterable[ArtifactEntry], prefix: str, destination: Path) -> None:
    """Copy a logged model's blobs into ``destination``, hashing each on the way: a blob whose
    bytes no longer match its recorded digest is refused (one read per file)."""
    cut = len(prefix) + 1 if prefix else 0
    for entry in entries:
        relative = blobs.normalize_artifact_path(None, entry.path[cut:])
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        with open(blobs.blob_path(store, entry.digest), "rb") as src, open(target, "wb") as out:
            while chunk := src.read(CHUNK):
                hasher.update(chunk)
                out.write(chunk)
        if hasher.hexdigest() != entry.digest:
            raise _changed(entry.path, entry.digest, hasher.hexdigest())
